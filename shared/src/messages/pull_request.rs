//! A dist-git pull-request event, whichever forge sent it.
//!
//! Pagure's and Forgejo's messages differ in every field name, but what Fedora CI
//! does with a PR does not: pr-opened plans, records and reports from this one
//! type, and only the parsers (`pagure.rs`, `forgejo.rs`) know each forge's shape
//! and naming rules.

use super::forgejo::{self, IssueCommentPayload, PullRequestPayload};
use super::pagure::{self, PullRequestMessage};
use super::{ParseError, PullRequestAction, Topic};
pub use crate::config::Forge;

/// Where the PR stands, as the event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Closed,
    Merged,
}

/// The comment a comment event announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    /// Unique on its forge instance: what makes a command one request.
    pub id: i64,
    pub body: String,
    pub author: String,
}

/// The PR, in the terms both forges share.
#[derive(Debug, Clone)]
pub struct PullRequestInfo {
    /// The PR's number in its repository (Pagure `id`, Forgejo `number`).
    pub id: u64,
    /// The forge's own id of the PR (Pagure's 32-hex `uid`, Forgejo's global
    /// `id`): Fedora CI messages carry it as `artifact.uid`.
    pub uid: String,
    pub title: String,
    pub description: Option<String>,
    /// Target branch (`rawhide`, `f43`, `epel10`, …).
    pub branch: String,
    /// The PR's head commit: what we build.
    pub head_sha: String,
    pub state: PrState,
    pub author: String,
    /// `rpms` or `tests` (Pagure's namespace, Forgejo's owner organisation).
    pub namespace: Option<String>,
    pub repo: String,
    /// Where the forge serves the head's files: Pagure `rpms/foo` or
    /// `fork/<user>/rpms/foo`; Forgejo the head repository's `owner/name`.
    pub source_repo_path: String,
    /// The git repository holding the head, under the forge's git base URL:
    /// Pagure `rpms/foo` or `forks/<user>/rpms/foo`; Forgejo `owner/name`.
    pub git_path: String,
}

impl PullRequestInfo {
    /// `rpms/foo`: the project the PR targets.
    pub fn project_path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.repo),
            None => self.repo.clone(),
        }
    }

    /// `git+<base>/<git_path>.git#<sha>`: what Koji builds.
    pub fn koji_source(&self, git_base: &str) -> String {
        format!("git+{}/{}.git#{}", git_base.trim_end_matches('/'), self.git_path, self.head_sha)
    }

    pub fn is_open(&self) -> bool {
        self.state == PrState::Open
    }
}

/// A pull-request event of either forge.
#[derive(Debug, Clone)]
pub struct PullRequestEvent {
    pub forge: Forge,
    pub action: PullRequestAction,
    /// Who caused the event: the PR author, a pusher, or the commenter.
    pub agent: Option<String>,
    pub pr: PullRequestInfo,
    /// The new comment of a comment event.
    pub comment: Option<NewComment>,
    /// A closed PR was merged.
    pub merged: bool,
    /// The repository's page as the event names it (Forgejo `repository.html_url`),
    /// which tells the instance: events of another instance are not ours.
    pub repository_url: Option<String>,
    /// Why the event, though well-formed, cannot be acted on (identifiers a
    /// dist-git PR cannot have, an action or comment we do not act on): the
    /// handler answers 2xx and ignores it, since a 400 would dead-letter a
    /// message that is merely not ours.
    ignored: Option<String>,
}

impl PullRequestEvent {
    /// Parses a pull-request topic of either forge. `Err`: the body does not have
    /// its topic's shape (400).
    pub fn parse(topic: Topic, data: &[u8]) -> Result<Self, ParseError> {
        match topic {
            Topic::ForgejoPullRequest => Self::from_forgejo_pull_request(topic, data),
            Topic::ForgejoIssueComment => Self::from_forgejo_comment(topic, data),
            _ => PullRequestMessage::parse(topic, data).map(Self::from),
        }
    }

    /// `Some(why)`: well-formed, but nothing Fedora CI acts on.
    pub fn ignored_because(&self) -> Option<&str> {
        self.ignored.as_deref()
    }

    fn from_forgejo_pull_request(topic: Topic, data: &[u8]) -> Result<Self, ParseError> {
        let payload: PullRequestPayload = serde_json::from_slice(data).map_err(|e| ParseError::from_json(topic, e))?;
        forgejo::check_limits(topic, &payload.pull_request, &payload.repository)?;
        let action = match payload.action.as_str() {
            "opened" => Some(PullRequestAction::New),
            "reopened" => Some(PullRequestAction::Reopened),
            "synchronized" | "edited" => Some(PullRequestAction::Updated),
            "closed" => Some(PullRequestAction::Closed),
            _ => None,
        };
        let mut event = Self::forgejo(
            action.unwrap_or(PullRequestAction::Updated),
            &payload.sender,
            &payload.pull_request,
            &payload.repository,
            None,
        );
        if action.is_none() {
            event.ignored = Some(format!("pull_request action '{}' is not one Fedora CI acts on", payload.action));
        }
        Ok(event)
    }

    fn from_forgejo_comment(topic: Topic, data: &[u8]) -> Result<Self, ParseError> {
        let payload: IssueCommentPayload = serde_json::from_slice(data).map_err(|e| ParseError::from_json(topic, e))?;
        let Some(pr) = payload.pull_request.as_ref().filter(|_| payload.is_pull) else {
            if payload.is_pull {
                return Err(forgejo::parse_error(topic, "a pull request comment without its pull_request"));
            }
            // A comment on an issue: parsed no further, ignored.
            return Ok(Self::not_a_pull_request(&payload));
        };
        forgejo::check_limits(topic, pr, &payload.repository)?;
        if payload.comment.id < 1 {
            return Err(forgejo::parse_error(topic, format!("comment.id {} is out of range", payload.comment.id)));
        }
        if payload.comment.user.login.len() > forgejo::MAX_OWNER_BYTES {
            return Err(forgejo::parse_error(topic, "comment.user.login is longer than 40 bytes"));
        }
        let comment = NewComment {
            id: payload.comment.id,
            body: payload.comment.body.clone(),
            author: payload.comment.user.login.clone(),
        };
        let mut event =
            Self::forgejo(PullRequestAction::CommentAdded, &payload.sender, pr, &payload.repository, Some(comment));
        if payload.action != "created" {
            event.ignored = Some(format!("issue_comment action '{}' is not a new command", payload.action));
        }
        Ok(event)
    }

    /// A comment on an issue (not a PR): nothing to act on.
    fn not_a_pull_request(payload: &IssueCommentPayload) -> Self {
        let info = PullRequestInfo {
            id: 0,
            uid: String::new(),
            title: String::new(),
            description: None,
            branch: String::new(),
            head_sha: String::new(),
            state: PrState::Open,
            author: String::new(),
            namespace: Some(payload.repository.owner.login.clone()),
            repo: payload.repository.name.clone(),
            source_repo_path: String::new(),
            git_path: String::new(),
        };
        Self {
            forge: Forge::Forgejo,
            action: PullRequestAction::CommentAdded,
            agent: Some(payload.sender.login.clone()),
            pr: info,
            comment: None,
            merged: false,
            repository_url: Some(payload.repository.html_url.clone()),
            ignored: Some("a comment on an issue, not on a pull request".into()),
        }
    }

    fn forgejo(
        action: PullRequestAction,
        sender: &forgejo::User,
        pr: &forgejo::PullRequest,
        repo: &forgejo::Repository,
        comment: Option<NewComment>,
    ) -> Self {
        // A deleted fork leaves no repository with the head; the base repository
        // is the best place to look (its `refs/pull/<n>/head` keeps the commit).
        let head_repo = pr.head.repo.as_ref().map(|r| r.full_name.clone()).unwrap_or_else(|| repo.full_name.clone());
        let state = match (pr.state.as_str(), pr.merged) {
            (_, true) => PrState::Merged,
            ("open", false) => PrState::Open,
            _ => PrState::Closed,
        };
        let info = PullRequestInfo {
            id: pr.number as u64,
            uid: pr.id.to_string(),
            title: pr.title.clone(),
            description: Some(pr.body.clone()).filter(|b| !b.is_empty()),
            branch: pr.base.git_ref.clone(),
            head_sha: pr.head.sha.clone(),
            state,
            author: pr.user.login.clone(),
            namespace: Some(repo.owner.login.clone()),
            repo: repo.name.clone(),
            source_repo_path: head_repo.clone(),
            git_path: head_repo,
        };
        let ignored = forgejo_identifiers(&info, repo).err();
        Self {
            forge: Forge::Forgejo,
            action,
            agent: Some(sender.login.clone()),
            pr: info,
            comment,
            merged: pr.merged,
            repository_url: Some(repo.html_url.clone()),
            ignored,
        }
    }
}

/// The identifiers we build into URLs and paths, against Forgejo's naming rules
/// and git's (see [`forgejo::check_owner`], [`pagure::check_branch`]).
fn forgejo_identifiers(info: &PullRequestInfo, repo: &forgejo::Repository) -> Result<(), String> {
    pagure::check_commit("pull_request.head.sha", &info.head_sha)?;
    forgejo::check_owner("repository.owner.login", &repo.owner.login)?;
    forgejo::check_repo_name("repository.name", &repo.name)?;
    if repo.full_name != format!("{}/{}", repo.owner.login, repo.name) {
        return Err("repository.full_name is not its owner and name".into());
    }
    forgejo::check_full_name("pull_request.head.repo.full_name", &info.git_path)?;
    pagure::check_branch("pull_request.base.ref", &info.branch)?;
    Ok(())
}

impl From<PullRequestMessage> for PullRequestEvent {
    fn from(msg: PullRequestMessage) -> Self {
        let ignored = msg.check_identifiers().err();
        let comment = msg.new_comment().map(|c| NewComment {
            id: c.id as i64,
            body: c.comment.clone(),
            author: c.user.name.clone(),
        });
        let pr = &msg.pullrequest;
        let state = if pr.status.eq_ignore_ascii_case("open") {
            PrState::Open
        } else if pr.status.eq_ignore_ascii_case("merged") {
            PrState::Merged
        } else {
            PrState::Closed
        };
        let merged = msg.merged.unwrap_or(state == PrState::Merged);
        let git_path = match pr.fork() {
            Some(fork) => fork.fullname.clone(),
            None => pr.project_path(),
        };
        let info = PullRequestInfo {
            id: pr.id,
            uid: pr.uid.clone(),
            title: pr.title.clone(),
            description: pr.initial_comment.clone(),
            branch: pr.branch.clone(),
            head_sha: pr.commit_stop.clone(),
            state,
            author: pr.user.name.clone(),
            namespace: pr.project.namespace.clone(),
            repo: pr.project.name.clone(),
            source_repo_path: pr.source_repo_path(),
            git_path,
        };
        Self {
            forge: Forge::Pagure,
            action: msg.action,
            agent: msg.agent.clone(),
            pr: info,
            comment,
            merged,
            repository_url: None,
            ignored,
        }
    }
}
