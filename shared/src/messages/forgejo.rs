//! Forgejo (forge.fedoraproject.org) messages: `forgejo.pull_request` and
//! `forgejo.issue_comment`. Fedora's webhook-to-fedora-messaging bridge puts
//! Forgejo's webhook payload in the body unchanged, so the shapes are Forgejo's
//! own (`modules/structs/hook.go`: `PullRequestPayload`, `IssueCommentPayload`;
//! `modules/structs/pull.go`: `PullRequest`, `PRBranchInfo`). Only the fields we
//! use are read; Forgejo adds fields over time and a new one must never be a 400.

use serde::Deserialize;

use super::{ParseError, Topic};

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
}

/// `structs.Repository` (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    pub owner: User,
    /// `https://forge.fedoraproject.org/rpms/foo`: names the instance.
    pub html_url: String,
}

/// `structs.PRBranchInfo`: one side of a PR.
#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    /// The branch name (`rawhide`, `f43`, or the fork's branch).
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    /// `None` when the head's fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

/// `structs.PullRequest` (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    /// Forgejo's global id of the PR (Fedora CI messages carry it as `artifact.uid`).
    pub id: i64,
    /// The PR's number in its repository (`/pulls/<number>`).
    pub number: i64,
    pub user: User,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    pub base: Branch,
    pub head: Branch,
}

/// `structs.Comment` (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub body: String,
    pub user: User,
}

/// `forgejo.pull_request`: `PullRequestPayload`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestPayload {
    /// `opened`, `reopened`, `synchronized`, `edited`, `closed`, and others we ignore.
    pub action: String,
    pub pull_request: PullRequest,
    pub repository: Repository,
    pub sender: User,
}

/// `forgejo.issue_comment`: `IssueCommentPayload`. For a comment on a PR,
/// `is_pull` is true and `pull_request` is the PR.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueCommentPayload {
    /// `created`, `edited`, `deleted`.
    pub action: String,
    pub comment: Comment,
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
    pub repository: Repository,
    pub sender: User,
    #[serde(default)]
    pub is_pull: bool,
}

/// Longest owner (organisation or user) name Forgejo allows: `User.Name` is
/// validated `MaxSize(40)` (`services/forms/user_form.go`, `AlphaDashDot`).
pub const MAX_OWNER_BYTES: usize = 40;
/// Longest repository name: `CreateRepoOption.Name` is `MaxSize(100)`
/// (`modules/structs/repo.go`).
pub const MAX_REPO_BYTES: usize = 100;
/// Forgejo's ids are `int64`.
pub const MAX_FORGEJO_ID: i64 = i64::MAX;

pub(super) fn parse_error(topic: Topic, reason: impl Into<String>) -> ParseError {
    ParseError { topic: topic.suffix(), reason: reason.into() }
}

/// What we store or key on, against what Forgejo itself can hold, so an
/// impossible message is refused whole (400) before anything is written.
pub(super) fn check_limits(topic: Topic, pr: &PullRequest, repo: &Repository) -> Result<(), ParseError> {
    let positive = [("pull_request.id", pr.id), ("pull_request.number", pr.number), ("repository.id", repo.id)];
    if let Some((field, id)) = positive.iter().find(|(_, id)| *id < 1) {
        return Err(parse_error(
            topic,
            format!("{field} {id} is out of range (Forgejo ids are 1 to {MAX_FORGEJO_ID})"),
        ));
    }
    let names = [
        ("repository.owner.login", repo.owner.login.as_str(), MAX_OWNER_BYTES),
        ("repository.name", repo.name.as_str(), MAX_REPO_BYTES),
        ("pull_request.user.login", pr.user.login.as_str(), MAX_OWNER_BYTES),
        ("pull_request.base.ref", pr.base.git_ref.as_str(), 255),
        ("pull_request.head.ref", pr.head.git_ref.as_str(), 255),
        ("pull_request.head.sha", pr.head.sha.as_str(), 64),
        ("repository.full_name", repo.full_name.as_str(), MAX_OWNER_BYTES + 1 + MAX_REPO_BYTES),
        ("repository.html_url", repo.html_url.as_str(), 2048),
    ];
    if let Some((field, _, max)) = names.iter().find(|(_, value, max)| value.len() > *max) {
        return Err(parse_error(topic, format!("{field} is longer than {max} bytes")));
    }
    Ok(())
}

/// Forgejo's rules for the names we build into URLs and paths: an owner is
/// `AlphaDashDot` (`[A-Za-z0-9_.-]`, `modules/validation/binding.go`) and may not
/// start or end with `-` or `.`, nor hold `..` (`models/user.IsUsableUsername`,
/// `validation.IsValidUsername`); a repository name is `AlphaDashDot` and not
/// `.` or `..` (`models/repo.IsUsableRepoName`). Stricter: no `..` anywhere.
pub(super) fn check_owner(field: &str, owner: &str) -> Result<(), String> {
    let ok = !owner.is_empty()
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !owner.starts_with(['-', '.'])
        && !owner.ends_with(['-', '.'])
        && !owner.contains("..");
    if ok { Ok(()) } else { Err(format!("{field} is not a Forgejo owner name")) }
}

pub(super) fn check_repo_name(field: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !name.starts_with('.')
        && !name.contains("..");
    if ok { Ok(()) } else { Err(format!("{field} is not a Forgejo repository name")) }
}

/// `owner/name` of a repository, each part checked.
pub(super) fn check_full_name(field: &str, full_name: &str) -> Result<(), String> {
    match full_name.split_once('/') {
        Some((owner, name)) => check_owner(field, owner).and_then(|()| check_repo_name(field, name)),
        None => Err(format!("{field} is not owner/name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgejo_names_are_checked_as_forgejo_allows_them() {
        for ok in ["rpms", "tests", "alice", "a.b", "a_b", "a-b", "R2"] {
            assert!(check_owner("o", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "-a", "a-", "a..b", "a/b", "a#b", "a?b", "a b", "é", "a%2F"] {
            assert!(check_owner("o", bad).is_err(), "{bad}");
        }
        for ok in ["python-requests", "libstdc_x", "gcc", "a.b", "x-"] {
            assert!(check_repo_name("r", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", ".git", "a..b", "a/b", "a#b", "a?b", "a+b", "a b"] {
            assert!(check_repo_name("r", bad).is_err(), "{bad}");
        }
        assert!(check_full_name("f", "alice/python-requests").is_ok());
        for bad in ["alice", "alice/../x", "../x", "alice/x/y", "a/"] {
            assert!(check_full_name("f", bad).is_err(), "{bad}");
        }
    }
}
