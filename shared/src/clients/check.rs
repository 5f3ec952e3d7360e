//! What the forges' clients and everything above them share: which PR
//! ([`PrId`]) and the state of a check on it ([`FlagStatus`]).

use serde::{Deserialize, Serialize};

use super::forgejo::CommitStatusState;
use crate::config::Forge;

/// A PR on one forge: `(forge, namespace, repo, id)` is the scope of everything
/// we store about it, so two PRs never share a flag, a comment or a build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrId {
    #[serde(default)]
    pub forge: Forge,
    pub namespace: String,
    pub repo: String,
    pub id: u64,
}

impl PrId {
    /// A Pagure PR (the forge of every row written before Forgejo).
    pub fn pagure(namespace: impl Into<String>, repo: impl Into<String>, id: u64) -> Self {
        Self { forge: Forge::Pagure, namespace: namespace.into(), repo: repo.into(), id }
    }

    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.repo)
    }
}

/// The state of a check. Pagure's flag states (`FLAG_STATUSES`); on Forgejo see
/// [`FlagStatus::forgejo_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagStatus {
    Pending,
    Success,
    Failure,
    Error,
    Canceled,
}

impl FlagStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagStatus::Pending => "pending",
            FlagStatus::Success => "success",
            FlagStatus::Failure => "failure",
            FlagStatus::Error => "error",
            FlagStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => FlagStatus::Pending,
            "success" => FlagStatus::Success,
            "failure" => FlagStatus::Failure,
            "error" => FlagStatus::Error,
            "canceled" => FlagStatus::Canceled,
            _ => return None,
        })
    }

    /// A state after which nothing more will happen to the work it reports.
    pub fn is_terminal(self) -> bool {
        !matches!(self, FlagStatus::Pending)
    }

    /// Forgejo has no `canceled`. Our neutral state (skipped, ended by a new
    /// head or a closed PR, a config error) is `warning`: Forgejo ranks it
    /// between failure and pending (`CommitStatusState.NoBetterThan`), shows it
    /// in yellow, and it is neither a pass nor a failure blamed on the package.
    /// (packit-service's Forgejo reporter sends `error` for its neutral, which
    /// reads as an infrastructure failure; we do not.)
    pub fn forgejo_state(self) -> CommitStatusState {
        match self {
            FlagStatus::Pending => CommitStatusState::Pending,
            FlagStatus::Success => CommitStatusState::Success,
            FlagStatus::Failure => CommitStatusState::Failure,
            FlagStatus::Error => CommitStatusState::Error,
            FlagStatus::Canceled => CommitStatusState::Warning,
        }
    }
}
