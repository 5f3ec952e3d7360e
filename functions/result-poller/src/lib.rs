//! result-poller: one reconciliation pass per tick — finishes work whose message
//! was lost, retries failed submissions with backoff, times out stuck jobs.
//!
//! A pass runs on any `POST /` (the Knative PingSource's `dev.knative.sources.ping`
//! CloudEvent, or a plain POST locally), and on a cron schedule when the binary
//! runs with `--schedule "<cron>"`.

pub mod pass;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fedora_ci::runtime::app::ScheduleError;
use fedora_ci::{Context, HandlerError};

pub fn routes(ctx: Context) -> Router {
    Router::new().route("/", post(tick)).with_state(ctx)
}

/// Whatever the body says, a delivery is a tick; 2xx only after the pass committed.
async fn tick(State(ctx): State<Context>) -> Result<Json<pass::Summary>, HandlerError> {
    pass::run(&ctx).await.map(Json)
}

/// Runs passes on `schedule` (six-field cron, seconds first) until the process ends.
pub async fn schedule(ctx: Context, schedule: String) -> Result<(), ScheduleError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let failed = |e: tokio_cron_scheduler::JobSchedulerError| ScheduleError(e.to_string());
    let scheduler = JobScheduler::new().await.map_err(failed)?;
    let job = Job::new_async(schedule.as_str(), move |_, _| {
        let ctx = ctx.clone();
        Box::pin(async move {
            if let Err(e) = pass::run(&ctx).await {
                tracing::error!(error = %e, "scheduled reconciliation pass failed");
            }
        })
    })
    .map_err(|e| ScheduleError(format!("invalid --schedule '{schedule}': {e}")))?;
    scheduler.add(job).await.map_err(failed)?;
    scheduler.start().await.map_err(failed)?;
    std::future::pending::<()>().await;
    Ok(())
}
