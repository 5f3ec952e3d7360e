//! What every database-backed function binary does before its handler runs:
//! parse flags, load and validate config, open the pool, optionally migrate, serve.
//! A function's `main.rs` is one call to [`main`].

use std::process::ExitCode;

use axum::Router;

use crate::config::Config;
use crate::context::Context;
use crate::runtime::serve::{self, Readiness};
use crate::telemetry;

/// Builds the complete app (function routes + health) for a context; the local
/// runner and the tests use this too, so they serve exactly what production serves.
pub fn app(ctx: Context, routes: fn(Context) -> Router) -> Router {
    let readiness = Readiness::database(ctx.pool.clone());
    serve::with_health(ctx.function, routes(ctx), readiness)
}

const USAGE: &str = "usage: <function> [--migrate] [--schedule <cron>]

  --migrate           apply database migrations and exit (run once per release, e.g. as a Job)
  --schedule <cron>   (result-poller) also run on this six-field cron schedule, seconds first

Configuration comes from environment variables (see README.md); set
FEDORA_CI_MIGRATE_ON_START=true to migrate before serving instead.";

enum Mode {
    Serve { schedule: Option<String> },
    MigrateOnly,
}

/// A background job started next to the server (the poller's cron schedule).
pub type Scheduled =
    fn(Context, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ScheduleError>> + Send>>;

/// A schedule that cannot run: a bad cron expression, or the scheduler failing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// Why a function stopped or could not start. Exit code 2 for what the operator
/// must fix in the configuration or flags, 1 for the rest.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// A variable read by `Config` (its message names the variable).
    #[error(transparent)]
    Settings(#[from] crate::config::ConfigError),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("migration failed: {0}")]
    Migration(sqlx::migrate::MigrateError),
    #[error("cannot build HTTP clients: {0}")]
    Clients(reqwest::Error),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

impl RunError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Settings(_) | RunError::Config(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// The whole `main` of a function binary. Exit codes: 0 clean shutdown,
/// 2 bad flags or configuration, 1 runtime failure.
pub fn main(function: &'static str, routes: fn(Context) -> Router) -> ExitCode {
    run(function, routes, None)
}

/// `main` for a function that can also run on its own schedule (`--schedule`).
pub fn main_with_schedule(function: &'static str, routes: fn(Context) -> Router, scheduled: Scheduled) -> ExitCode {
    run(function, routes, Some(scheduled))
}

fn run(function: &'static str, routes: fn(Context) -> Router, scheduled: Option<Scheduled>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.as_slice() {
        [] => Mode::Serve { schedule: None },
        [flag] if flag == "--migrate" => Mode::MigrateOnly,
        [flag, cron] if flag == "--schedule" && scheduled.is_some() => Mode::Serve { schedule: Some(cron.clone()) },
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("{function}: unknown arguments {other:?}; try --help");
            return ExitCode::from(2);
        }
    };
    match start(function, routes, scheduled, mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("{function}: {e}");
            e.exit_code()
        }
    }
}

/// Configuration, runtime and telemetry, then the function until it stops.
fn start(
    function: &'static str,
    routes: fn(Context) -> Router,
    scheduled: Option<Scheduled>,
    mode: Mode,
) -> Result<(), RunError> {
    let config = Config::from_env()?;
    let migrate_on_start = match std::env::var("FEDORA_CI_MIGRATE_ON_START").as_deref() {
        Ok("true" | "1" | "yes") => true,
        Ok("" | "false" | "0" | "no") | Err(_) => false,
        Ok(other) => {
            return Err(RunError::Config(format!("FEDORA_CI_MIGRATE_ON_START: '{other}' is not a boolean")));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(RunError::Runtime)?;
    let telemetry = runtime
        .block_on(async { telemetry::init(function, &config.telemetry, &config.secrets()) })
        .map_err(|e| RunError::Config(e.to_string()))?;
    let result = runtime.block_on(serve_function(function, routes, scheduled, mode, config, migrate_on_start));
    // Flushes queued Sentry events and spans while the runtime can still send them.
    drop(telemetry);
    result
}

async fn serve_function(
    function: &'static str,
    routes: fn(Context) -> Router,
    scheduled: Option<Scheduled>,
    mode: Mode,
    config: Config,
    migrate_on_start: bool,
) -> Result<(), RunError> {
    let pool = crate::store::connect_lazy(&config.database_url, config.database_max_connections)
        .map_err(|e| RunError::Config(format!("DATABASE_URL: {e}")))?;
    if matches!(mode, Mode::MigrateOnly) || migrate_on_start {
        crate::store::migrate(&pool).await.map_err(RunError::Migration)?;
        tracing::info!("database migrated");
        if matches!(mode, Mode::MigrateOnly) {
            return Ok(());
        }
    }
    let server = config.server.clone();
    let ctx = Context::new(function, config, pool).map_err(RunError::Clients)?;
    let app = app(ctx.clone(), routes);
    match (mode, scheduled) {
        (Mode::Serve { schedule: Some(cron) }, Some(job)) => {
            tokio::select! {
                served = serve::serve(&server, app) => Ok(served?),
                scheduled = job(ctx, cron) => Ok(scheduled?),
            }
        }
        _ => Ok(serve::serve(&server, app).await?),
    }
}
