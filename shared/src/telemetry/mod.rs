//! Observability every function gets from `serve`/`app` with no code of its own:
//! JSON log lines ([`logs`]), traces continued from the CloudEvent and exported
//! over OTLP when configured ([`trace`]), errors and panics to Sentry when
//! configured ([`sentry`]), and `/metrics` ([`metrics`]).
//!
//! The request middleware (`runtime::request_scope`) attaches an event's identity
//! to the span, the Sentry scope and the metrics; handlers add only what they
//! learn later: the package and PR ([`annotate_pr`]).

pub mod logs;
pub mod metrics;
pub mod sentry;
pub mod trace;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::TelemetryConfig;
use crate::config::secret::Secret;

/// The function a request is for, put in the request's extensions by
/// `runtime::request_scope` so the intake can label what it counts.
#[derive(Debug, Clone, Copy)]
pub struct Function(pub &'static str);

/// Log target of the line that reports a caught panic. Sentry skips it: the
/// panic integration has already sent that panic as its event.
pub const PANIC_TARGET: &str = "fedora_ci::panic";

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
/// Why telemetry could not start: a broken setting or exporter (the function
/// exits with the reason rather than run blind).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("traces: {0}")]
    Traces(String),
    #[error("Sentry: {0}")]
    Sentry(String),
}

pub fn init(function: &'static str, config: &TelemetryConfig, secrets: &[Secret]) -> Result<Guard, TelemetryError> {
    logs::set_function(function);
    let provider = trace::provider(function, config.otlp_endpoint.is_some()).map_err(TelemetryError::Traces)?;
    let sentry = match &config.sentry_dsn {
        Some(dsn) => Some(sentry::init(function, dsn, secrets).map_err(TelemetryError::Sentry)?),
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
