//! Koji `buildsys.task.state.change` messages.
//!
//! Koji publishes one for every state change of every task of every user, so most
//! are not ours. [`TaskHeader`] reads only the routing fields so a function can drop
//! a foreign task without building the full message.

use serde::Deserialize;

use super::{ParseError, Topic};

/// Task states as Koji numbers them (`info.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KojiTaskState {
    Free = 0,
    Open = 1,
    Closed = 2,
    Canceled = 3,
    Assigned = 4,
    Failed = 5,
}

impl KojiTaskState {
    pub fn from_number(n: i64) -> Option<Self> {
        Some(match n {
            0 => Self::Free,
            1 => Self::Open,
            2 => Self::Closed,
            3 => Self::Canceled,
            4 => Self::Assigned,
            5 => Self::Failed,
            _ => return None,
        })
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "FREE" => Self::Free,
            "OPEN" => Self::Open,
            "CLOSED" => Self::Closed,
            "CANCELED" => Self::Canceled,
            "ASSIGNED" => Self::Assigned,
            "FAILED" => Self::Failed,
            _ => return None,
        })
    }

    pub fn is_done(self) -> bool {
        matches!(self, Self::Closed | Self::Canceled | Self::Failed)
    }
}

/// A state as named in a message (`"OPEN"`); unknown names are kept, not rejected,
/// so a future Koji state is ignored rather than answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TaskStateName(pub String);

impl TaskStateName {
    pub fn state(&self) -> Option<KojiTaskState> {
        KojiTaskState::from_name(&self.0)
    }
}

/// The fields needed to decide whether a task message concerns us.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskHeader {
    /// Task id.
    pub id: i64,
    /// Koji user name of the task owner.
    pub owner: String,
    pub method: Option<String>,
}

impl TaskHeader {
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(data).map_err(|e| ParseError::from_json(Topic::KojiTaskStateChange, e))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskChild {
    pub id: i64,
    pub method: String,
    pub arch: Option<String>,
    pub state: Option<i64>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskInfo {
    pub id: i64,
    pub state: Option<i64>,
    pub start_time: Option<f64>,
    pub completion_time: Option<f64>,
    pub create_time: Option<f64>,
    pub parent: Option<i64>,
    pub method: Option<String>,
    pub arch: Option<String>,
    #[serde(default)]
    pub children: Vec<TaskChild>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KojiTaskStateChange {
    pub id: i64,
    pub owner: String,
    pub method: Option<String>,
    pub attribute: Option<String>,
    pub old: Option<TaskStateName>,
    pub new: TaskStateName,
    /// Which Koji instance (`primary` for Fedora's main hub).
    pub instance: Option<String>,
    pub srpm: Option<String>,
    pub info: TaskInfo,
}

impl KojiTaskStateChange {
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(data).map_err(|e| ParseError::from_json(Topic::KojiTaskStateChange, e))
    }

    /// The `buildArch` subtasks, which hold the per-arch logs.
    pub fn build_arch_children(&self) -> impl Iterator<Item = &TaskChild> {
        self.info.children.iter().filter(|c| c.method == "buildArch")
    }
}
