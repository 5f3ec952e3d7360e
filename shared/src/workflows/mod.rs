//! What an event does, shared by the functions and the poller so a lost message
//! is repaired by the same code that handles it.

pub mod build_state;
pub mod log_analysis;
pub mod supersede;
pub mod task_update;
pub mod test_state;

/// Why a workflow step could not finish; the runtime turns it into the HTTP
/// answer (5xx: the Broker redelivers) or the poller logs it and tries again.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// One failed query shared by several events (a batched lookup).
    #[error("database error: {0}")]
    SharedDatabase(#[from] std::sync::Arc<sqlx::Error>),
    #[error(transparent)]
    Lookup(#[from] crate::lookups::LookupError),
    #[error("{service} is unavailable: {reason}")]
    Upstream { service: &'static str, reason: String },
    /// A stored build of a hub no longer configured.
    #[error(transparent)]
    UnconfiguredInstance(#[from] crate::dispatch::submit::build::UnconfiguredInstance),
}
