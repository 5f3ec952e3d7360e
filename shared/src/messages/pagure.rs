//! Pagure (dist-git) pull-request messages: `pagure.pull-request.{new,updated,rebased}`,
//! `pagure.pull-request.comment.added` and `pagure.pull-request.{closed,reopened}`.
//! All carry the whole PR (a closed one also `merged`); a comment
//! message's new comment is the last one in `pullrequest.comments`.

use serde::Deserialize;

use super::{ParseError, Topic};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestAction {
    New,
    Updated,
    Rebased,
    CommentAdded,
    /// Closed or merged (`merged`): its unfinished work ends.
    Closed,
    /// Opened again: CI runs for its head again.
    Reopened,
}

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

    /// `git+https://…/<ns>/<repo>.git#<sha>` or the fork's URL: what Koji builds.
    pub fn koji_source(&self, distgit_url: &str) -> String {
        format!("git+{}#{}", self.git_url(distgit_url), self.commit_stop)
    }

    /// The git URL holding the PR's head commit.
    pub fn git_url(&self, distgit_url: &str) -> String {
        let base = distgit_url.trim_end_matches('/');
        let path = match self.fork() {
            Some(fork) => fork.fullname.clone(),
            None => self.project_path(),
        };
        format!("{base}/{path}.git")
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
            Topic::KojiTaskStateChange | Topic::LogDetectiveAnalysis => {
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
