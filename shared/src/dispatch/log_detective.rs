//! Sending a recorded Log Detective run: which logs exist on the build's own
//! Koji log server, the `analyze` request, and the answer recorded with the
//! run's flag. The run rows and their flags are shared with the workflow that
//! records them and applies the result (`workflows::log_analysis`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::clients::forge::{FlagStatus, PrId};
use crate::clients::log_detective::{
    Accepted, AnalyzeRequest, BuildMetadata, KOJI_ARTIFACTS, KOJI_COMMENTARY, LogDetectiveError, koji_log_url, truncate,
};
use crate::context::Context;
use crate::dispatch::reporting::{self, FlagKey};
use crate::dispatch::submit::{minutes, whole_minutes};
use crate::store::builds::{self, BuildRow};
use crate::telemetry;

/// One `log_detective_run` row, as the trigger and the result need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i32,
    pub status: String,
    pub target_build: Option<String>,
    pub arch: Option<String>,
    pub analysis_id: Option<String>,
    pub retry_count: i32,
    pub koji_build_target_id: Option<i32>,
    pub requested_time: Option<DateTime<Utc>>,
}

pub const RUN_COLUMNS: &str =
    "id, status, target_build, arch, analysis_id, retry_count, koji_build_target_id, requested_time";

pub async fn get_run(conn: &mut PgConnection, id: i32) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM log_detective_run WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The flag of one run: the build's target (or its extra hub's label) and the arch.
pub fn run_flag(ctx: &Context, build: &BuildRow, arch: &str) -> FlagKey {
    let target = build.data.flag_label.as_deref().unwrap_or(&build.target);
    FlagKey::log_detective(ctx.config.deployment, &pr_of(build), target, arch, &build.data.pr.commit_sha)
}

/// Where a run's flag links: the run on the PR's status page.
pub fn run_url(ctx: &Context, build: &BuildRow, run_id: i32) -> String {
    let pr = pr_of(build);
    format!("{}#log-detective-{run_id}", reporting::pr_page_url(&ctx.config.public_url, &pr))
}

pub fn pr_of(build: &BuildRow) -> PrId {
    build.data.pr.pr()
}

/// What one request attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Accepted(String),
    Retry {
        minutes: u64,
    },
    Failed(String),
    /// Not a run waiting for its request (already requested, or finished).
    NotDue,
}

/// Asks the interface server to analyse one recorded run: checks which logs exist
/// on the build's own Koji log server, POSTs them, and records the answer with
/// the flag. An outage is retried with the submission backoff; it never leaves
/// the flag pending for good. Returns the outcome and the flags it changed.
pub async fn request_run(ctx: &Context, run_id: i32) -> Result<(Requested, Vec<String>), sqlx::Error> {
    let Some((run, build)) = due(ctx, run_id).await? else { return Ok((Requested::NotDue, Vec::new())) };
    let task: i64 = run.target_build.as_deref().and_then(|t| t.parse().ok()).unwrap_or_default();
    let sent = send(ctx, &build, task).await;
    let flag = RunFlag {
        pr: pr_of(&build),
        key: run_flag(ctx, &build, run.arch.as_deref().unwrap_or_default()),
        url: run_url(ctx, &build, run.id),
        arch: run.arch.clone().unwrap_or_default(),
    };
    let mut tx = ctx.pool.begin().await?;
    let outcome = match sent {
        Ok((artifacts, Some(accepted))) => accepted_run(&mut tx, &run, &flag, artifacts, accepted).await?,
        Ok((_, None)) => no_logs(&mut tx, &run, &flag, task).await?,
        Err(e) => failed_attempt(&mut tx, ctx, &run, &flag, e).await?,
    };
    tx.commit().await?;
    match &outcome {
        Requested::Accepted(_) => telemetry::metrics::log_detective_started(),
        Requested::Retry { .. } => telemetry::metrics::submission_retry("log-detective"),
        Requested::Failed(_) => telemetry::metrics::log_detective_finished("error", None),
        Requested::NotDue => {}
    }
    Ok((outcome, vec![flag.key.uid]))
}

/// The run and its build, when the run still waits for its request.
async fn due(ctx: &Context, run_id: i32) -> Result<Option<(RunRow, BuildRow)>, sqlx::Error> {
    let mut conn = ctx.pool.acquire().await?;
    let Some(run) = get_run(&mut conn, run_id).await? else { return Ok(None) };
    if run.status != "running" || run.analysis_id.is_some() {
        return Ok(None);
    }
    let build = builds::get(&mut conn, run.koji_build_target_id.unwrap_or_default()).await?;
    Ok(build.map(|build| (run, build)))
}

/// The logs Koji has for `task` on the build's own log server, sent for analysis
/// (`None` when there are none to send).
async fn send(
    ctx: &Context,
    build: &BuildRow,
    task: i64,
) -> Result<(BTreeMap<String, String>, Option<Accepted>), LogDetectiveError> {
    let pkgs = match ctx.config.koji_instance(&build.koji_instance) {
        Some(instance) => &instance.koji.pkgs_url,
        None => &ctx.config.koji.pkgs_url,
    };
    let mut artifacts = BTreeMap::new();
    for name in KOJI_ARTIFACTS {
        let log = koji_log_url(pkgs, task, name);
        if ctx.clients.log_detective.log_exists(&log).await? {
            artifacts.insert(name.to_owned(), log);
        }
    }
    if artifacts.is_empty() {
        return Ok((artifacts, None));
    }
    let request = AnalyzeRequest {
        artifacts: artifacts.clone(),
        build_metadata: BuildMetadata { commentary: KOJI_COMMENTARY.to_owned() },
        target_build: task.to_string(),
        build_system: "koji".to_owned(),
        commit_sha: build.data.pr.commit_sha.clone(),
        project_url: format!(
            "{}/{}/{}",
            ctx.config.forge_url(build.data.pr.forge).as_str().trim_end_matches('/'),
            build.data.pr.namespace,
            build.data.pr.repo
        ),
        pr_id: build.data.pr.pr_id,
    };
    let accepted = ctx.clients.log_detective.analyze(&request).await?;
    Ok((artifacts, Some(accepted)))
}

/// Where a run's state shows: its flag on the PR.
struct RunFlag {
    pr: PrId,
    key: FlagKey,
    url: String,
    arch: String,
}

impl RunFlag {
    async fn set(&self, tx: &mut PgConnection, status: FlagStatus, comment: &str) -> Result<(), sqlx::Error> {
        reporting::set_flag(tx, &self.pr, &self.key, status, comment, &self.url).await
    }
}

async fn accepted_run(
    tx: &mut PgConnection,
    run: &RunRow,
    flag: &RunFlag,
    artifacts: BTreeMap<String, String>,
    accepted: Accepted,
) -> Result<Requested, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE log_detective_run SET analysis_id = $2, artifacts = $3, requested_time = now(), \
           next_attempt_at = NULL WHERE id = $1 AND analysis_id IS NULL AND status = 'running'",
    )
    .bind(run.id)
    .bind(&accepted.log_detective_analysis_id)
    .bind(serde_json::json!(artifacts))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        let comment = format!("Log Detective is analysing the {} build logs…", flag.arch);
        flag.set(tx, FlagStatus::Pending, &comment).await?;
    }
    Ok(Requested::Accepted(accepted.log_detective_analysis_id))
}

async fn no_logs(tx: &mut PgConnection, run: &RunRow, flag: &RunFlag, task: i64) -> Result<Requested, sqlx::Error> {
    let reason = format!("no build logs ({}) found for Koji task {task}", KOJI_ARTIFACTS.join(", "));
    finish_unrequested(tx, run.id, "error", &reason).await?;
    flag.set(tx, reporting::NEUTRAL, &format!("Not analysed: no build logs of {} to send.", flag.arch)).await?;
    Ok(Requested::Failed(reason))
}

/// An outage is retried with the submission backoff; after the last try, or on
/// a refusal, the run ends in error with Log Detective's reason on the flag.
async fn failed_attempt(
    tx: &mut PgConnection,
    ctx: &Context,
    run: &RunRow,
    flag: &RunFlag,
    e: LogDetectiveError,
) -> Result<Requested, sqlx::Error> {
    let delay = ctx.config.retry.backoff.get(run.retry_count as usize).filter(|_| e.is_transient());
    let Some(delay) = delay else {
        finish_unrequested(tx, run.id, "error", &e.to_string()).await?;
        let comment = match &e {
            LogDetectiveError::Unavailable(_) => "Log Detective could not be reached.".to_owned(),
            e => {
                let text = e.to_string();
                let end = if text.ends_with('.') { "" } else { "." };
                truncate(&format!("{text}{end}"), 140)
            }
        };
        flag.set(tx, FlagStatus::Error, &comment).await?;
        return Ok(Requested::Failed(e.to_string()));
    };
    let minutes_left = whole_minutes(*delay);
    let at = Utc::now() + chrono::Duration::from_std(*delay).unwrap_or_default();
    sqlx::query(
        "UPDATE log_detective_run SET retry_count = retry_count + 1, next_attempt_at = $2, \
           error_msg = $3 WHERE id = $1 AND analysis_id IS NULL AND status = 'running'",
    )
    .bind(run.id)
    .bind(at)
    .bind(e.to_string())
    .execute(&mut *tx)
    .await?;
    let comment = format!("Log Detective is unavailable. The analysis will be retried in {}.", minutes(minutes_left));
    flag.set(tx, FlagStatus::Pending, &comment).await?;
    Ok(Requested::Retry { minutes: minutes_left })
}

pub async fn finish_unrequested(tx: &mut PgConnection, id: i32, status: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE log_detective_run SET status = $2, error_msg = $3, finished_time = now(), next_attempt_at = NULL \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(())
}
