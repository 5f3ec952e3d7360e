//! The HTTP entry point every function shares: health and metrics routes, telemetry,
//! graceful shutdown, and the Lambda branch.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sqlx::PgPool;

use crate::config::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("lambda runtime failed: {0}")]
    Lambda(String),
}

/// JSON lines on stdout and trace ids, without exporters: for tests and tools
/// that run functions in-process. Binaries call [`crate::telemetry::init`]
/// (via `app::main`), which adds Sentry and OTLP when configured.
pub fn init_logging() {
    crate::telemetry::init_logging();
}

/// What `/readyz` checks: a function with a database is ready only when Postgres
/// answers, so Knative does not route events to a replica that would 503 them all.
/// A long-running consumer (the bridge) is only useful while its connection is up,
/// so for it both `/healthz` and `/readyz` follow that connection.
#[derive(Clone)]
pub struct Readiness {
    check: Check,
}

#[derive(Clone)]
enum Check {
    Always,
    Database(PgPool),
    /// Set by the owner of the connection; `name` labels it in the JSON answer.
    Connection {
        name: &'static str,
        up: Arc<AtomicBool>,
    },
}

impl Readiness {
    pub fn database(pool: PgPool) -> Self {
        Self { check: Check::Database(pool) }
    }

    pub fn always() -> Self {
        Self { check: Check::Always }
    }

    /// Ready and healthy exactly while `up` is true. A database outage must not get
    /// a function restarted, but a consumer whose connection stays down is better
    /// restarted by the liveness probe than left idle, hence healthz too.
    pub fn connection(name: &'static str, up: Arc<AtomicBool>) -> Self {
        Self { check: Check::Connection { name, up } }
    }

    /// `Some(answer)` when this check decides liveness as well.
    fn connection_state(&self) -> Option<(&'static str, bool)> {
        match &self.check {
            Check::Connection { name, up } => Some((name, up.load(Ordering::Acquire))),
            _ => None,
        }
    }
}

fn connection_answer(status: &str, name: &str, up: bool) -> Response {
    let state = if up { "connected" } else { "disconnected" };
    let body = axum::Json(json!({ "status": if up { status } else { "not ready" }, name: state }));
    if up { body.into_response() } else { (StatusCode::SERVICE_UNAVAILABLE, body).into_response() }
}

async fn healthz(State(readiness): State<Readiness>) -> Response {
    match readiness.connection_state() {
        Some((name, up)) => connection_answer("ok", name, up),
        None => axum::Json(json!({ "status": "ok" })).into_response(),
    }
}

async fn readyz(State(readiness): State<Readiness>) -> Response {
    let pool = match &readiness.check {
        Check::Always => return axum::Json(json!({ "status": "ready" })).into_response(),
        Check::Connection { name, up } => return connection_answer("ready", name, up.load(Ordering::Acquire)),
        Check::Database(pool) => pool,
    };
    match tokio::time::timeout(Duration::from_secs(2), crate::store::ping(pool)).await {
        Ok(Ok(())) => axum::Json(json!({ "status": "ready", "database": "ok" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: database");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "not ready", "database": "unavailable" })))
                .into_response()
        }
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "not ready", "database": "timeout" })))
                .into_response()
        }
    }
}

/// Adds `/healthz`, `/readyz`, `/metrics` and the telemetry scope of each request
/// (span, trace, Sentry hub, metrics) to a function's router.
pub fn with_health(function: &'static str, router: Router, readiness: Readiness) -> Router {
    router
        .merge(Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(readiness))
        .route("/metrics", get(crate::telemetry::metrics::serve))
        .layer(middleware::from_fn_with_state(function, crate::runtime::request_scope::request_scope))
}

/// Runs the router until SIGTERM/SIGINT, finishing in-flight requests first
/// (Knative sends SIGTERM when it scales a replica down). When
/// `AWS_LAMBDA_RUNTIME_API` is set the same router runs under `lambda_http`.
pub async fn serve(server: &ServerConfig, router: Router) -> Result<(), ServeError> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_http::run(router).await.map_err(|e| ServeError::Lambda(e.to_string()));
    }
    serve_until(server, router, shutdown_signal()).await
}

/// [`serve`] on a plain listener, stopping when `shutdown` resolves: for a process
/// that has other work to stop on the same signal (the bridge's consumer), and for
/// tests that run it in-process.
pub async fn serve_until(
    server: &ServerConfig,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = SocketAddr::from(([0, 0, 0, 0], server.port));
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { port: server.port, source })?;
    tracing::info!(port = listener.local_addr()?.port(), "listening");
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}
