//! A Koji task's state, wherever we learned it from: the
//! `buildsys.task.state.change` message or the poller's `getTaskInfo` answer.

use crate::clients::koji::client::TaskInfo;
use crate::messages::{KojiTaskState, KojiTaskStateChange};

#[derive(Debug, Clone, PartialEq)]
pub struct ChildTask {
    pub id: i64,
    pub method: String,
    pub arch: Option<String>,
    pub state: Option<KojiTaskState>,
}

/// A task's state, wherever we learned it from.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub task_id: i64,
    pub state: KojiTaskState,
    pub start_time: Option<f64>,
    pub completion_time: Option<f64>,
    pub children: Vec<ChildTask>,
}

impl TaskUpdate {
    /// `None` for a state name Koji may add later: ignored rather than refused.
    pub fn from_message(msg: &KojiTaskStateChange) -> Option<Self> {
        Some(Self {
            task_id: msg.id,
            state: msg.new.state()?,
            start_time: msg.info.start_time,
            completion_time: msg.info.completion_time,
            children: msg
                .info
                .children
                .iter()
                .map(|c| ChildTask {
                    id: c.id,
                    method: c.method.clone(),
                    arch: c.arch.clone(),
                    state: c.state.and_then(KojiTaskState::from_number),
                })
                .collect(),
        })
    }

    pub fn from_task_info(info: &TaskInfo, children: &[TaskInfo]) -> Self {
        Self {
            task_id: info.id,
            state: info.state,
            start_time: info.start_time,
            completion_time: info.completion_time,
            children: children
                .iter()
                .map(|c| ChildTask { id: c.id, method: c.method.clone(), arch: c.arch.clone(), state: Some(c.state) })
                .collect(),
        }
    }

    /// The per-architecture subtasks: what failed, and where the logs are.
    pub fn build_arches(&self) -> impl Iterator<Item = &ChildTask> {
        self.children.iter().filter(|c| c.method == "buildArch")
    }
}
