//! Testing Farm notifications in → run state, flag, Fedora CI message out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fedora_ci::config::secret::Secret;
use fedora_ci::messages::json_input::describe;
use fedora_ci::runtime::intake::CloudEventRequest;
use fedora_ci::store::test_runs;
use fedora_ci::workflows::test_state::{self, Applied};
use fedora_ci::{Context, HandlerError, Outcome};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

/// The CloudEvent type of a Testing Farm notification; `data` is the webhook body.
pub const EVENT_TYPE: &str = "dev.testing-farm.request.state-changed";

#[derive(Deserialize)]
struct Notification {
    request_id: String,
    token: Option<String>,
}

/// Why a notification was refused, answered in one place.
enum Refusal {
    BadRequest(String),
    Unauthorized(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, reason) = match self {
            Refusal::BadRequest(r) => (StatusCode::BAD_REQUEST, r),
            Refusal::Unauthorized(r) => (StatusCode::UNAUTHORIZED, r.to_owned()),
        };
        tracing::warn!(status = status.as_u16(), %reason, "refused a Testing Farm notification");
        (status, Json(json!({ "error": status.canonical_reason(), "reason": reason }))).into_response()
    }
}

/// Compares against every configured secret without stopping at the first match,
/// in constant time per comparison, so the answer time says nothing about the token.
fn token_matches(token: &str, secrets: &[Secret]) -> bool {
    secrets.iter().fold(false, |found, secret| found | bool::from(secret.expose().as_bytes().ct_eq(token.as_bytes())))
}

fn check(body: &[u8], secrets: &[Secret]) -> Result<String, Refusal> {
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| Refusal::BadRequest(format!("not a notification: {}", describe(&e))))?;
    let Some(token) = n.token.filter(|t| !t.is_empty()) else {
        return Err(Refusal::Unauthorized("missing token"));
    };
    if secrets.is_empty() || !token_matches(&token, secrets) {
        return Err(Refusal::Unauthorized("wrong token"));
    }
    Ok(n.request_id)
}

pub async fn webhook(State(ctx): State<Context>, body: Bytes) -> Response {
    fedora_ci::telemetry::metrics::event_received(ctx.function, EVENT_TYPE);
    match check(&body, &ctx.config.testing_farm.webhook_secrets) {
        Ok(request_id) => into_response(process(&ctx, &request_id).await),
        Err(refusal) => refusal.into_response(),
    }
}

pub async fn cloud_event(State(ctx): State<Context>, event: CloudEventRequest) -> Response {
    if event.meta.event_type != EVENT_TYPE {
        return Outcome::ignored(format!("event type '{}' is not handled here", event.meta.event_type)).into_response();
    }
    let data = match event.require_data() {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match check(data, &ctx.config.testing_farm.webhook_secrets) {
        Ok(request_id) => into_response(process(&ctx, &request_id).await),
        Err(refusal) => refusal.into_response(),
    }
}

fn into_response(result: Result<Outcome, HandlerError>) -> Response {
    match result {
        Ok(outcome) => outcome.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn process(ctx: &Context, request_id: &str) -> Result<Outcome, HandlerError> {
    // Testing Farm names requests by UUID, and we store only ids it gave us: any
    // other text (a NUL, a megabyte, a token pasted in) cannot be ours, is never
    // looked up, written or quoted back.
    if uuid::Uuid::try_parse(request_id).is_err() {
        return Ok(Outcome::ignored("request_id is not a Testing Farm request id (a UUID), so not one of ours"));
    }
    let run = {
        let mut conn = ctx.pool.acquire().await?;
        test_runs::by_request_id(&mut conn, request_id).await?
    };
    let Some(run) = run else {
        return Ok(Outcome::ignored(format!("request {request_id} is not one of ours")));
    };
    fedora_ci::telemetry::annotate_pr(
        &format!("{}/{}", run.data.pr.namespace, run.data.pr.repo),
        run.data.pr.pr_id as u64,
    );
    let info = ctx
        .clients
        .testing_farm
        .request(request_id)
        .await
        .map_err(|e| HandlerError::Upstream { service: "Testing Farm", reason: e.to_string() })?;
    Ok(match test_state::apply(ctx, &run, &info).await? {
        Applied::Unchanged => Outcome::duplicate(format!("request {request_id} is already {}", run.status)),
        Applied::Updated { status } => Outcome::done(format!("{} on {}: {status}", run.test_name, run.target)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_against_every_secret() {
        let secrets = [Secret::new("current"), Secret::new("previous")];
        assert!(token_matches("current", &secrets));
        assert!(token_matches("previous", &secrets));
        assert!(!token_matches("curren", &secrets));
        assert!(!token_matches("", &secrets));
        assert!(!token_matches("current", &[]));
    }

    #[test]
    fn refusals() {
        let secrets = [Secret::new("s")];
        assert!(matches!(check(b"not json", &secrets), Err(Refusal::BadRequest(_))));
        assert!(matches!(check(br#"{"request_id":"x"}"#, &secrets), Err(Refusal::Unauthorized("missing token"))));
        assert!(matches!(
            check(br#"{"request_id":"x","token":"t"}"#, &secrets),
            Err(Refusal::Unauthorized("wrong token"))
        ));
        assert_eq!(check(br#"{"request_id":"x","token":"s"}"#, &secrets).ok().as_deref(), Some("x"));
    }
}
