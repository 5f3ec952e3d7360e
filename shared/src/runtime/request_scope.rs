//! The scope of one event delivery, as an axum middleware: an event's identity
//! is attached once — function, CloudEvent id and type, trace id — to the span
//! every log line of the request inherits, to the Sentry scope, and to the
//! metrics. Here, not in `telemetry`, because it reads the HTTP request and the
//! handler's answer; telemetry stays below every layer that logs.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use serde::Deserialize;
use tracing::Instrument;

use crate::runtime::error::OutcomeStatus;
use crate::telemetry::{Function, PANIC_TARGET, metrics, sentry, trace};

/// Runs the handler in the request's Sentry hub; a panic becomes a 500 (the
/// Broker redelivers) and one log line, never a dead process.
async fn run_caught(
    handler: impl std::future::Future<Output = Response>,
    hub: Option<std::sync::Arc<::sentry::Hub>>,
    span: &tracing::Span,
) -> Response {
    let handled = AssertUnwindSafe(handler).catch_unwind();
    let handled = match hub {
        Some(hub) => ::sentry::SentryFutureExt::bind_hub(handled, hub).await,
        None => handled.await,
    };
    handled.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        span.in_scope(
            || tracing::error!(target: PANIC_TARGET, panic = %reason, "handler panicked; asking for redelivery"),
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({ "error": "internal", "reason": "internal error" })),
        )
            .into_response()
    })
}

/// The CloudEvent attributes the middleware needs before the handler runs.
#[derive(Debug, Default, Deserialize)]
struct Attributes {
    id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Binary mode: the `ce-*` headers. Structured mode: the JSON envelope, read here
/// (when it declares a length within the intake's limit) and handed on unchanged,
/// because the span must know its parent before the handler starts. A plain
/// `traceparent` header (e.g. from Knative's own tracing) is the fallback parent.
async fn attributes(req: Request) -> Result<(Request, Attributes), Response> {
    let headers = req.headers();
    let structured = header(headers, "content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/cloudevents+json"));
    let declared = header(headers, "content-length").and_then(|l| l.parse::<usize>().ok());
    let mut attrs = Attributes {
        id: header(headers, "ce-id"),
        event_type: header(headers, "ce-type"),
        traceparent: header(headers, "ce-traceparent"),
        tracestate: header(headers, "ce-tracestate"),
    };
    let req = match declared {
        Some(len) if structured && len <= crate::runtime::intake::MAX_BODY_BYTES => {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, crate::runtime::intake::MAX_BODY_BYTES)
                .await
                .map_err(|e| crate::runtime::intake::IntakeError::Body(e.to_string()).into_response())?;
            attrs = serde_json::from_slice(&bytes).unwrap_or_default();
            Request::from_parts(parts, Body::from(bytes))
        }
        _ => req,
    };
    if attrs.traceparent.is_none() {
        attrs.traceparent = header(req.headers(), trace::TRACEPARENT);
        attrs.tracestate = header(req.headers(), trace::TRACESTATE);
    }
    Ok((req, attrs))
}

/// The scope of one event delivery: span, trace, Sentry hub, panic guard, and
/// the latency/outcome metrics. Probes and scrapes pass straight through.
pub async fn request_scope(State(function): State<&'static str>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let (mut req, attrs) = match attributes(req).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let span = tracing::info_span!(
        "request",
        function,
        method = %req.method(),
        path = %req.uri().path(),
        ce_id = attrs.id.as_deref(),
        ce_type = attrs.event_type.as_deref(),
        trace_id = tracing::field::Empty,
        package = tracing::field::Empty,
        pr = tracing::field::Empty,
        otel.kind = "server",
    );
    trace::continue_trace(&span, attrs.traceparent.as_deref(), attrs.tracestate.as_deref());
    if let Some(destination) = header(req.headers(), "ce-knativeerrordest") {
        metrics::dead_letter(function);
        let code = header(req.headers(), "ce-knativeerrorcode").unwrap_or_default();
        span.in_scope(|| tracing::warn!(%destination, %code, "dead-lettered event: the Broker gave up delivering it"));
    }
    req.extensions_mut().insert(Function(function));
    let hub = sentry::request_hub();
    if let Some(hub) = &hub {
        let trace_id = trace::trace_id(&span);
        hub.configure_scope(|scope| {
            for (key, value) in [("ce_id", &attrs.id), ("ce_type", &attrs.event_type), ("trace_id", &trace_id)] {
                if let Some(value) = value {
                    scope.set_tag(key, value);
                }
            }
        });
    }

    let started = Instant::now();
    let response = run_caught(next.run(req).instrument(span.clone()), hub, &span).await;
    let status = response.status().as_u16();
    metrics::handler_finished(function, status, started.elapsed());
    match response.extensions().get::<OutcomeStatus>() {
        Some(OutcomeStatus::Ignored) => metrics::event_ignored(function, "not_acted_on"),
        Some(OutcomeStatus::Duplicate) => metrics::event_ignored(function, "duplicate"),
        _ => {}
    }
    span.in_scope(|| {
        tracing::debug!(status, latency_ms = started.elapsed().as_millis() as u64, "request");
    });
    response
}
