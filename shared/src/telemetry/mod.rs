//! Observability every function gets from `serve`/`app` with no code of its own:
//! JSON log lines ([`logs`]), traces continued from the CloudEvent and exported
//! over OTLP when configured ([`trace`]), errors and panics to Sentry when
//! configured ([`sentry`]), and `/metrics` ([`metrics`]).
//!
//! The request middleware ([`request_scope`]) is where an event's identity is
//! attached once — function, CloudEvent id and type, trace id — to the span every
//! log line of the request inherits, to the Sentry scope, and to the metrics.
//! Handlers add only what they learn later: the package and PR ([`annotate_pr`]).

pub mod logs;
pub mod metrics;
pub mod sentry;
pub mod trace;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing::Instrument;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::TelemetryConfig;
use crate::error::OutcomeStatus;
use crate::secret::Secret;

/// The function a request is for, put in the request's extensions by
/// [`request_scope`] so the intake can label what it counts.
#[derive(Debug, Clone, Copy)]
pub struct Function(pub &'static str);

/// Log target of the line that reports a caught panic. Sentry skips it: the
/// panic integration has already sent that panic as its event.
const PANIC_TARGET: &str = "fedora_ci::panic";

/// Keeps the exporters alive; dropping it flushes Sentry and the span batch.
/// Drop it after serving ends and while the async runtime still runs.
pub struct Guard {
    provider: SdkTracerProvider,
    _sentry: Option<::sentry::ClientInitGuard>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the process-wide subscriber: JSON lines filtered by `RUST_LOG`
/// (default [`logs::DEFAULT_FILTER`]), spans for the tracer, and — with a DSN —
/// Sentry. Call it inside the runtime (the OTLP exporter runs on it). A second
/// call (tests running several functions in one process) keeps the first setup.
pub fn init(function: &'static str, config: &TelemetryConfig, secrets: &[Secret]) -> Result<Guard, String> {
    logs::set_function(function);
    let provider = trace::provider(function, config.otlp_endpoint.is_some())?;
    let sentry = match &config.sentry_dsn {
        Some(dsn) => Some(sentry::init(function, dsn, secrets)?),
        None => None,
    };
    install(&provider, sentry.is_some());
    Ok(Guard { provider, _sentry: sentry })
}

/// Logs and trace ids without any exporter: for tests and tools that run
/// functions in-process.
pub fn init_logging() {
    if let Ok(provider) = trace::provider("fedora-ci", false) {
        install(&provider, false);
    }
}

fn install(provider: &SdkTracerProvider, with_sentry: bool) {
    // Unset or empty: the quiet default. A broken value falls back to it too
    // rather than silencing the function.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(logs::DEFAULT_FILTER));
    // Spans reach the tracer whatever RUST_LOG says: a quiet log level must not
    // break the trace across functions.
    let spans = tracing_opentelemetry::layer().with_tracer(trace::tracer(provider)).with_filter(LevelFilter::INFO);
    let sentry_layers = with_sentry.then(|| {
        let errors = ::sentry::integrations::tracing::ErrorLayer::new().with_filter(filter_fn(|m| {
            m.is_event() && *m.level() == tracing::Level::ERROR && m.target() != PANIC_TARGET
        }));
        let breadcrumbs = ::sentry::integrations::tracing::BreadcrumbLayer::new()
            .with_filter(LevelFilter::INFO.and(filter_fn(|m| m.is_event())));
        errors.and_then(breadcrumbs)
    });
    let _ = Registry::default().with(logs::JsonLines.with_filter(filter)).with(spans).with(sentry_layers).try_init();
}

/// Records the package (`rpms/foo`) and PR number an event turned out to be about
/// on the current request's span (so on its later log lines and trace) and on
/// its Sentry scope.
pub fn annotate_pr(package: &str, pr: u64) {
    let span = tracing::Span::current();
    span.record("package", package);
    span.record("pr", pr);
    sentry::tag("package", package);
    sentry::tag("pr", &pr.to_string());
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
        Some(len) if structured && len <= crate::intake::MAX_BODY_BYTES => {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, crate::intake::MAX_BODY_BYTES)
                .await
                .map_err(|e| crate::intake::IntakeError::Body(e.to_string()).into_response())?;
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
    let handled = AssertUnwindSafe(next.run(req).instrument(span.clone())).catch_unwind();
    let handled = match hub {
        Some(hub) => ::sentry::SentryFutureExt::bind_hub(handled, hub).await,
        None => handled.await,
    };
    let response = handled.unwrap_or_else(|panic| {
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
    });
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
