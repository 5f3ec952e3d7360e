//! How a handler's failure becomes an HTTP status, decided in one place.
//!
//! The status matters to Knative: any non-2xx makes the Broker redeliver with
//! backoff, so everything transient (database, upstream outage) must be 5xx, and
//! only input that can never succeed is 4xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::runtime::intake::IntakeError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// One failed query shared by several events (a batched lookup).
    #[error("database error: {0}")]
    SharedDatabase(#[from] std::sync::Arc<sqlx::Error>),
    #[error("{service} is unavailable: {reason}")]
    Upstream { service: &'static str, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::lookups::LookupError> for HandlerError {
    fn from(e: crate::lookups::LookupError) -> Self {
        match e {
            crate::lookups::LookupError::Database(e) => HandlerError::Database(e),
            crate::lookups::LookupError::Upstream { service, reason } => HandlerError::Upstream { service, reason },
        }
    }
}

impl From<crate::workflows::WorkflowError> for HandlerError {
    fn from(e: crate::workflows::WorkflowError) -> Self {
        use crate::workflows::WorkflowError as W;
        match e {
            W::Database(e) => HandlerError::Database(e),
            W::SharedDatabase(e) => HandlerError::SharedDatabase(e),
            W::Lookup(e) => e.into(),
            W::Upstream { service, reason } => HandlerError::Upstream { service, reason },
            W::UnconfiguredInstance(e) => HandlerError::Internal(e.to_string()),
        }
    }
}

impl From<crate::messages::ParseError> for HandlerError {
    fn from(e: crate::messages::ParseError) -> Self {
        HandlerError::Intake(IntakeError::Message(e))
    }
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        match self {
            HandlerError::Intake(e) => e.into_response(),
            HandlerError::Database(ref e) if refused_value(e).is_some() => {
                let code = refused_value(e).unwrap_or_default();
                // The code only: Postgres' message may quote the value (`invalid
                // input syntax for type …: "…"`), and a value may be a secret.
                tracing::warn!(sqlstate = %code, "the database cannot store a value of this event; refused");
                error_body(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("the database cannot store a value of this event (SQLSTATE {code})"),
                )
            }
            HandlerError::Database(_) | HandlerError::SharedDatabase(_) => {
                tracing::error!(error = %self, "database error; asking for redelivery");
                error_body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "database unavailable, retry later")
            }
            HandlerError::Upstream { service, reason } => {
                tracing::error!(service, %reason, "upstream error; asking for redelivery");
                error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    &format!("{service} unavailable, retry later"),
                )
            }
            HandlerError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                error_body(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

/// The SQLSTATE of an error that is about a value, never about the database's
/// health: class 22 (data exception: NUL, bad encoding, out of range, too long),
/// a CHECK or NOT NULL violation, and 54000 (an index entry too large). The same
/// value fails the same way on every redelivery, so it is bad input (400), not an
/// outage (503); Postgres' list: Appendix A, "PostgreSQL Error Codes".
fn refused_value(e: &sqlx::Error) -> Option<String> {
    let code = e.as_database_error()?.code()?;
    (code.starts_with("22") || matches!(&*code, "23502" | "23514" | "54000")).then(|| code.into_owned())
}

fn error_body(status: StatusCode, error: &str, reason: &str) -> Response {
    (status, axum::Json(json!({ "error": error, "reason": reason }))).into_response()
}

/// A handler's successful answer. Returned only after its effects are committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub status: OutcomeStatus,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Did its work: 200.
    Done,
    /// Not an event this function acts on: 202, nothing changed.
    Ignored,
    /// Seen before; nothing changed: 202.
    Duplicate,
}

impl Outcome {
    pub fn done(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Done, detail: detail.into() }
    }

    pub fn ignored(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Ignored, detail: detail.into() }
    }

    pub fn duplicate(detail: impl Into<String>) -> Self {
        Self { status: OutcomeStatus::Duplicate, detail: detail.into() }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let status = match self.status {
            OutcomeStatus::Done => StatusCode::OK,
            OutcomeStatus::Ignored | OutcomeStatus::Duplicate => StatusCode::ACCEPTED,
        };
        tracing::debug!(outcome = ?self.status, detail = %self.detail, "handled");
        let outcome = self.status;
        let mut response = (status, axum::Json(self)).into_response();
        // For the request middleware's `fedora_ci_events_ignored_total`.
        response.extensions_mut().insert(outcome);
        response
    }
}

/// The answer of a function to an event it does not act on (yet): 202, no effect.
pub async fn ignore_event(event: crate::runtime::intake::CloudEventRequest) -> Outcome {
    Outcome::ignored(format!("event type '{}' is not handled here", event.meta.event_type))
}
