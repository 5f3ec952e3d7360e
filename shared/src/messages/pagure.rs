//! Pagure (dist-git) pull-request messages: `pagure.pull-request.{new,updated,rebased}`,
//! `pagure.pull-request.comment.added` and `pagure.pull-request.{closed,reopened}`.
//! All carry the whole PR (a closed one also `merged`); a comment
//! message's new comment is the last one in `pullrequest.comments`.

use serde::Deserialize;

use super::{ParseError, PullRequestAction, Topic};

#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub name: String,
}

/// A Pagure project as it appears in `project`, `repo_from` and `parent`.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoRef {
    pub name: String,
    /// `None` for top-level projects (e.g. on pagure.io), which are never ours.
    pub namespace: Option<String>,
    /// `rpms/foo`, or `forks/<user>/rpms/foo` for a fork.
    pub fullname: String,
    pub full_url: Option<String>,
    pub user: Option<UserRef>,
}

impl RepoRef {
    pub fn is_fork(&self) -> bool {
        self.fullname.starts_with("forks/")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub comment: String,
    pub user: UserRef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub id: u64,
    /// Pagure's own 32-hex id of the PR; Fedora CI messages carry it as `artifact.uid`.
    pub uid: String,
    #[serde(default)]
    pub title: String,
    /// Target branch (`rawhide`, `f43`, `epel10`, …).
    pub branch: String,
    pub branch_from: Option<String>,
    pub commit_start: Option<String>,
    /// Head commit of the PR: what we build.
    pub commit_stop: String,
    pub full_url: Option<String>,
    #[serde(default)]
    pub status: String,
    pub initial_comment: Option<String>,
    pub user: UserRef,
    pub project: RepoRef,
    /// `None` when the source fork was deleted.
    pub repo_from: Option<RepoRef>,
    #[serde(default)]
    pub comments: Vec<Comment>,
}

impl PullRequest {
    /// `rpms/foo`: the project the PR targets.
    pub fn project_path(&self) -> String {
        match &self.project.namespace {
            Some(ns) => format!("{ns}/{}", self.project.name),
            None => self.project.name.clone(),
        }
    }

    /// The fork the PR comes from, if it comes from one (Koji must build the fork's git).
    pub fn fork(&self) -> Option<&RepoRef> {
        self.repo_from.as_ref().filter(|r| r.is_fork())
    }

    /// Where Pagure serves the PR head's files: `rpms/foo`, or `fork/<user>/rpms/foo`
    /// (Pagure's web routes say `fork/` for a project named `forks/<user>/…`).
    pub fn source_repo_path(&self) -> String {
        match self.fork() {
            Some(fork) => fork.fullname.replacen("forks/", "fork/", 1),
            None => self.project_path(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestMessage {
    #[serde(skip, default = "default_action")]
    pub action: PullRequestAction,
    /// Who caused the message: the PR author, a pusher, or the commenter.
    pub agent: Option<String>,
    pub pullrequest: PullRequest,
    /// `pull-request.closed` only: merged (`true`) or closed unmerged.
    #[serde(default)]
    pub merged: Option<bool>,
}

fn default_action() -> PullRequestAction {
    PullRequestAction::New
}

impl PullRequestMessage {
    pub fn parse(topic: Topic, data: &[u8]) -> Result<Self, ParseError> {
        let action = match topic {
            Topic::PullRequestNew => PullRequestAction::New,
            Topic::PullRequestUpdated => PullRequestAction::Updated,
            Topic::PullRequestRebased => PullRequestAction::Rebased,
            Topic::PullRequestCommentAdded => PullRequestAction::CommentAdded,
            Topic::PullRequestClosed => PullRequestAction::Closed,
            Topic::PullRequestReopened => PullRequestAction::Reopened,
            Topic::KojiTaskStateChange
            | Topic::LogDetectiveAnalysis
            | Topic::ForgejoPullRequest
            | Topic::ForgejoIssueComment => {
                return Err(ParseError { topic: topic.suffix(), reason: "not a pull-request topic".into() });
            }
        };
        let mut msg: Self = serde_json::from_slice(data).map_err(|e| ParseError::from_json(topic, e))?;
        msg.action = action;
        if action == PullRequestAction::CommentAdded && msg.pullrequest.comments.is_empty() {
            return Err(ParseError { topic: topic.suffix(), reason: "comment.added message without comments".into() });
        }
        msg.check_limits().map_err(|reason| ParseError { topic: topic.suffix(), reason })?;
        Ok(msg)
    }

    /// Every value we store or key on, against what Pagure itself can hold, so an
    /// impossible message is refused whole before anything is written (never
    /// wrapped into a column or cut by an index). Pagure's own limits, from
    /// pagure/lib/model.py: `PullRequest.id` and `PullRequestComment.id` are
    /// `Integer`; `Project.name` and `Project.namespace` `String(255)`;
    /// `User.user` `String(255)`; `PullRequest.uid` `String(32)`. Branch names are
    /// git refs, kept to 255 bytes as filesystems do; a head commit is a SHA-1 or
    /// SHA-256 in hex (at most 64 characters).
    fn check_limits(&self) -> Result<(), String> {
        let pr = &self.pullrequest;
        check_id("pullrequest.id", pr.id)?;
        if let Some(comment) = self.new_comment() {
            check_id("the new comment's id", comment.id)?;
        }
        let names = [
            ("pullrequest.project.name", Some(pr.project.name.as_str())),
            ("pullrequest.project.namespace", pr.project.namespace.as_deref()),
            ("pullrequest.user.name", Some(pr.user.name.as_str())),
            ("pullrequest.branch", Some(pr.branch.as_str())),
            ("agent", self.agent.as_deref()),
            ("the new comment's user.name", self.new_comment().map(|c| c.user.name.as_str())),
        ];
        // `forks/<user>/<ns>/<name>`: up to four names.
        let paths = [
            ("pullrequest.repo_from.fullname", pr.repo_from.as_ref().map(|r| r.fullname.as_str())),
            ("pullrequest.project.fullname", Some(pr.project.fullname.as_str())),
        ];
        let too_long = names
            .iter()
            .map(|(field, value)| (field, value, MAX_NAME_BYTES))
            .chain(paths.iter().map(|(field, value)| (field, value, 4 * MAX_NAME_BYTES + 3)))
            .find(|(_, value, max)| value.is_some_and(|v| v.len() > *max));
        if let Some((field, _, max)) = too_long {
            return Err(format!("{field} is longer than {max} bytes"));
        }
        if pr.uid.len() > 64 {
            return Err("pullrequest.uid is longer than 64 bytes".into());
        }
        if pr.commit_stop.len() > 64 {
            return Err("pullrequest.commit_stop is longer than a commit hash".into());
        }
        Ok(())
    }

    /// The identifiers we build into URLs and paths (a Koji `src`, a tmt URL, a
    /// Pagure API path, a raw-file path), against what Pagure can hold. A message
    /// that fails this is well-formed JSON about something that cannot be a
    /// dist-git PR: the handler answers it 2xx, logs why and ignores it (a 400
    /// would make the Broker dead-letter a message that is merely not ours).
    ///
    /// Pagure's rules (github.com/Pagure/pagure): a project name matches
    /// `PROJECT_NAME_REGEX` `^[a-zA-z0-9_][a-zA-Z0-9-_.+]*$` (pagure/forms.py,
    /// `ProjectFormSimplified`; we read its `A-z` as `A-Z`, stricter); a namespace
    /// is a group name, `STRICT_REGEX` `^[a-zA-Z0-9-_]+$`; a fork is
    /// `forks/<user>/[<namespace>/]<name>`, the user a FAS name (letters, digits,
    /// `_`, `.`, `-`, not starting with `.` or `-`); the head commit is a git object
    /// id, 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. No name may hold `..`
    /// (a path step), and the branch must be a git ref name (`git check-ref-format`).
    pub fn check_identifiers(&self) -> Result<(), String> {
        let pr = &self.pullrequest;
        check_commit("pullrequest.commit_stop", &pr.commit_stop)?;
        check_project_name("pullrequest.project.name", &pr.project.name)?;
        if let Some(ns) = &pr.project.namespace {
            check_namespace("pullrequest.project.namespace", ns)?;
        }
        if pr.project.fullname != self.pullrequest.project_path() {
            return Err("pullrequest.project.fullname is not its namespace and name".into());
        }
        if let Some(from) = &pr.repo_from {
            check_fullname("pullrequest.repo_from.fullname", &from.fullname)?;
        }
        check_branch("pullrequest.branch", &pr.branch)?;
        Ok(())
    }

    /// The comment a `comment.added` message announces.
    pub fn new_comment(&self) -> Option<&Comment> {
        match self.action {
            PullRequestAction::CommentAdded => self.pullrequest.comments.last(),
            _ => None,
        }
    }
}

/// Largest PR or comment id Pagure can give: its ids are SQL `Integer`s.
pub const MAX_PAGURE_ID: u64 = i32::MAX as u64;

/// Longest name (project, namespace, user, branch) we accept, in bytes: Pagure's
/// `String(255)`.
pub const MAX_NAME_BYTES: usize = 255;

fn check_id(field: &str, id: u64) -> Result<(), String> {
    if (1..=MAX_PAGURE_ID).contains(&id) {
        Ok(())
    } else {
        Err(format!("{field} {id} is out of range (Pagure ids are 1 to {MAX_PAGURE_ID})"))
    }
}

/// A git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub(super) fn check_commit(field: &str, sha: &str) -> Result<(), String> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(format!("{field} is not a commit hash (40 or 64 hex digits)"))
    }
}

/// Pagure's `PROJECT_NAME_REGEX`, without `..`.
fn check_project_name(field: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if first_ok && rest_ok && !name.contains("..") {
        Ok(())
    } else {
        Err(format!("{field} is not a Pagure project name"))
    }
}

/// Pagure's `STRICT_REGEX` (group names, hence namespaces).
fn check_namespace(field: &str, ns: &str) -> Result<(), String> {
    if !ns.is_empty() && ns.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!("{field} is not a Pagure namespace"))
    }
}

/// A FAS (and so Pagure) user name.
fn check_user(field: &str, user: &str) -> Result<(), String> {
    let ok = user.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && user.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !user.contains("..");
    if ok { Ok(()) } else { Err(format!("{field} is not a Pagure user name")) }
}

/// `[<namespace>/]<name>` or `forks/<user>/[<namespace>/]<name>`.
fn check_fullname(field: &str, fullname: &str) -> Result<(), String> {
    let parts: Vec<&str> = fullname.split('/').collect();
    let project = match parts.as_slice() {
        ["forks", user, rest @ ..] => {
            check_user(field, user)?;
            rest
        }
        all => all,
    };
    match project {
        [name] => check_project_name(field, name),
        [ns, name] => check_namespace(field, ns).and_then(|()| check_project_name(field, name)),
        _ => Err(format!("{field} is not a Pagure project path")),
    }
}

/// `git check-ref-format` for a branch: no control characters, space, `~^:?*[\`,
/// no `..`, `@{`, `//`, no part starting with `.` or ending with `.lock`, not
/// starting with `-` or `/`, not ending with `/` or `.`; and no `#` (it would end
/// a Koji `src` URL).
pub(super) fn check_branch(field: &str, branch: &str) -> Result<(), String> {
    let bad_char = |c: char| c.is_control() || " ~^:?*[\\#".contains(c);
    let ok = !branch.is_empty()
        && !branch.chars().any(bad_char)
        && !branch.contains("..")
        && !branch.contains("@{")
        && !branch.contains("//")
        && branch != "@"
        && !branch.starts_with(['-', '/'])
        && !branch.ends_with(['/', '.'])
        && branch.split('/').all(|part| !part.starts_with('.') && !part.ends_with(".lock"));
    if ok { Ok(()) } else { Err(format!("{field} is not a git branch name")) }
}

#[cfg(test)]
mod identifier_tests {
    use super::*;

    #[test]
    fn pagure_identifiers_are_checked_as_pagure_and_git_allow_them() {
        assert!(check_commit("c", &"a".repeat(40)).is_ok());
        assert!(check_commit("c", &"0".repeat(64)).is_ok());
        for bad in [
            "",
            "889f07a",
            &"a".repeat(41),
            &"g".repeat(40),
            &"A".repeat(40),
            "../../etc/passwd#aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(check_commit("c", bad).is_err(), "{bad}");
        }
        for ok in ["optee_os", "python-teamcity-messages", "gcc", "perl-Foo-Bar", "libstdc++", "_x", "a.b"] {
            assert!(check_project_name("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a..b", ".hidden", "-x", "a/b", "a#b", "a?b", "a b", "x';DROP", "a%2Fb", "é"] {
            assert!(check_project_name("n", bad).is_err(), "{bad}");
        }
        assert!(check_namespace("ns", "rpms").is_ok());
        for bad in ["", "..", "rpms/x", "a.b", "r#", "r?"] {
            assert!(check_namespace("ns", bad).is_err(), "{bad}");
        }
        for ok in ["forks/zwhite/rpms/optee_os", "rpms/optee_os", "forks/a.b/rpms/x", "forks/u/x", "x"] {
            assert!(check_fullname("f", ok).is_ok(), "{ok}");
        }
        for bad in ["forks/../rpms/x", "forks/u/rpms/x/y", "rpms/../x", "forks//rpms/x", "rpms/x#y", "forks/-u/rpms/x"]
        {
            assert!(check_fullname("f", bad).is_err(), "{bad}");
        }
        for ok in ["rawhide", "f43", "epel10", "epel10.1", "feature/x", "private-foo"] {
            assert!(check_branch("b", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "a b", "a#b", "a?b", "-x", "x/", "x.", ".x", "x.lock", "a//b", "a@{b", "a:b", "a\\b"] {
            assert!(check_branch("b", bad).is_err(), "{bad}");
        }
    }
}
