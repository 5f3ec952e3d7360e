//! Errors of the read API, answered as JSON in packit-service's shapes so the
//! dashboard shows them the way it already does.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `{"error": "<message>"}` with 404, packit-service's answer for an unknown id.
    #[error("{0}")]
    NotFound(&'static str),
    /// A query parameter flask-restx's reqparse would reject: 400 with
    /// `{"errors": {<param>: <why>}, "message": "Input payload validation failed"}`.
    #[error("{param}: {reason}")]
    BadParameter { param: &'static str, reason: String },
    /// Postgres unavailable or failing: 503 so a caller retries later.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response(),
            ApiError::BadParameter { param, reason } => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "errors": { param: reason }, "message": "Input payload validation failed" })),
            )
                .into_response(),
            ApiError::Database(e) => {
                tracing::warn!(error = %e, "read API: database unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "Database unavailable, try again later" })))
                    .into_response()
            }
        }
    }
}
