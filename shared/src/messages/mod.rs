//! Fedora Messaging bodies we act on, typed.
//!
//! A CloudEvent's `type` is the Fedora Messaging topic; [`Topics`] knows the
//! deployment's prefix and maps a type to the [`Topic`] it names. Parsers keep only
//! the fields we use and tolerate everything else, because Pagure and Koji add fields
//! over time and a new field must never turn into a 400.

pub mod event;
pub mod forgejo;
pub mod json_input;
pub mod koji;
pub mod log_detective;
pub mod pagure;
pub mod pull_request;

pub use event::EventMeta;
pub use koji::{KojiTaskState, KojiTaskStateChange, TaskStateName};
pub use pagure::{Comment, PullRequest, PullRequestMessage, RepoRef, UserRef};
pub use pull_request::{Forge, NewComment, PrState, PullRequestEvent, PullRequestInfo};

/// What a pull-request event says happened, on either forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestAction {
    New,
    /// A new head, or (Forgejo `edited`) a new title or description.
    Updated,
    Rebased,
    CommentAdded,
    /// Closed or merged ([`PullRequestEvent::merged`]): its unfinished work ends.
    Closed,
    /// Opened again: CI runs for its head again.
    Reopened,
}

/// The topics any of our functions handles, without the deployment prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    PullRequestNew,
    PullRequestUpdated,
    PullRequestRebased,
    PullRequestCommentAdded,
    /// Closed, merged or not (`merged` in the body).
    PullRequestClosed,
    PullRequestReopened,
    KojiTaskStateChange,
    /// Log Detective's result for an analysis we asked for (logdetective-packit).
    LogDetectiveAnalysis,
    /// Forgejo dist-git: a PR opened, reopened, synchronized (new head), edited
    /// or closed (`action` in the body).
    ForgejoPullRequest,
    /// Forgejo: a comment, on a PR when `is_pull`.
    ForgejoIssueComment,
}

impl Topic {
    pub const ALL: [Topic; 10] = [
        Topic::PullRequestNew,
        Topic::PullRequestUpdated,
        Topic::PullRequestRebased,
        Topic::PullRequestCommentAdded,
        Topic::PullRequestClosed,
        Topic::PullRequestReopened,
        Topic::KojiTaskStateChange,
        Topic::LogDetectiveAnalysis,
        Topic::ForgejoPullRequest,
        Topic::ForgejoIssueComment,
    ];

    /// The topic after the `org.fedoraproject.<env>.` prefix.
    pub fn suffix(self) -> &'static str {
        match self {
            Topic::PullRequestNew => "pagure.pull-request.new",
            Topic::PullRequestUpdated => "pagure.pull-request.updated",
            Topic::PullRequestRebased => "pagure.pull-request.rebased",
            Topic::PullRequestCommentAdded => "pagure.pull-request.comment.added",
            Topic::PullRequestClosed => "pagure.pull-request.closed",
            Topic::PullRequestReopened => "pagure.pull-request.reopened",
            Topic::KojiTaskStateChange => "buildsys.task.state.change",
            Topic::LogDetectiveAnalysis => "logdetective.analysis",
            Topic::ForgejoPullRequest => "forgejo.pull_request",
            Topic::ForgejoIssueComment => "forgejo.issue_comment",
        }
    }

    pub fn is_pull_request(self) -> bool {
        !matches!(self, Topic::KojiTaskStateChange | Topic::LogDetectiveAnalysis)
    }
}

/// Maps CloudEvent types to topics for one deployment (prod or stg prefix).
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `None` for anything that is not one of our topics under our prefix,
    /// including the same topic from the other deployment.
    pub fn classify(&self, event_type: &str) -> Option<Topic> {
        let suffix = event_type.strip_prefix(&self.prefix)?;
        Topic::ALL.into_iter().find(|t| t.suffix() == suffix)
    }

    pub fn full(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.suffix())
    }
}

/// A body that does not have the shape its topic promises.
#[derive(Debug, thiserror::Error)]
#[error("{topic} body is not valid: {reason}")]
pub struct ParseError {
    pub topic: &'static str,
    pub reason: String,
}

impl ParseError {
    pub(crate) fn from_json(topic: Topic, e: serde_json::Error) -> Self {
        Self { topic: topic.suffix(), reason: crate::messages::json_input::describe(&e) }
    }
}

/// A parsed message of one of our topics.
// One per request, built once and matched once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FedoraMessage {
    PullRequest(PullRequestEvent),
    KojiTask(KojiTaskStateChange),
    LogDetective(log_detective::AnalysisResult),
}

impl FedoraMessage {
    pub fn parse(topic: Topic, data: &[u8]) -> Result<Self, ParseError> {
        match topic {
            Topic::KojiTaskStateChange => KojiTaskStateChange::parse(data).map(Self::KojiTask),
            Topic::LogDetectiveAnalysis => log_detective::AnalysisResult::parse(data).map(Self::LogDetective),
            _ => PullRequestEvent::parse(topic, data).map(Self::PullRequest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_respects_the_deployment_prefix() {
        let prod = Topics::new("org.fedoraproject.prod.");
        assert_eq!(prod.classify("org.fedoraproject.prod.pagure.pull-request.new"), Some(Topic::PullRequestNew));
        assert_eq!(
            prod.classify("org.fedoraproject.prod.buildsys.task.state.change"),
            Some(Topic::KojiTaskStateChange)
        );
        assert_eq!(prod.classify("org.fedoraproject.stg.pagure.pull-request.new"), None);
        assert_eq!(prod.classify("org.fedoraproject.prod.buildsys.build.state.change"), None);
        assert_eq!(prod.classify(""), None);
        let stg = Topics::new("org.fedoraproject.stg.");
        assert_eq!(stg.full(Topic::PullRequestCommentAdded), "org.fedoraproject.stg.pagure.pull-request.comment.added");
    }
}
