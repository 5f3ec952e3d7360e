//! Sending a recorded Log Detective run: which logs exist on the build's own
//! Koji log server, the `analyze` request, and the answer recorded with the
//! run's flag. The run rows and their flags are shared with the workflow that
//! records them and applies the result (`workflows::log_analysis`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::clients::log_detective::{
    AnalyzeRequest, BuildMetadata, KOJI_ARTIFACTS, KOJI_COMMENTARY, LogDetectiveError, koji_log_url, truncate,
};
use crate::clients::pagure::{FlagStatus, PrId};
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
    FlagKey::log_detective(ctx.config.deployment, &pr_of(build), target, arch, &build.data.commit_sha)
}

/// Where a run's flag links: the run on the PR's status page.
pub fn run_url(ctx: &Context, build: &BuildRow, run_id: i32) -> String {
    let pr = pr_of(build);
    format!("{}#log-detective-{run_id}", reporting::pr_page_url(&ctx.config.public_url, &pr))
}

pub fn pr_of(build: &BuildRow) -> PrId {
    PrId { namespace: build.data.namespace.clone(), repo: build.data.repo.clone(), id: build.data.pr_id as u64 }
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
    let mut conn = ctx.pool.acquire().await?;
    let Some(run) = get_run(&mut conn, run_id).await? else { return Ok((Requested::NotDue, Vec::new())) };
    if run.status != "running" || run.analysis_id.is_some() {
        return Ok((Requested::NotDue, Vec::new()));
    }
    let Some(build) = builds::get(&mut conn, run.koji_build_target_id.unwrap_or_default()).await? else {
        return Ok((Requested::NotDue, Vec::new()));
    };
    drop(conn);
    let arch = run.arch.clone().unwrap_or_default();
    let task: i64 = run.target_build.as_deref().and_then(|t| t.parse().ok()).unwrap_or_default();
    let key = run_flag(ctx, &build, &arch);
    let url = run_url(ctx, &build, run.id);
    let pr = pr_of(&build);

    let attempt = async {
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
            commit_sha: build.data.commit_sha.clone(),
            project_url: format!(
                "{}/{}/{}",
                ctx.config.distgit_url.as_str().trim_end_matches('/'),
                build.data.namespace,
                build.data.repo
            ),
            pr_id: build.data.pr_id,
        };
        let accepted = ctx.clients.log_detective.analyze(&request).await?;
        Ok::<_, LogDetectiveError>((artifacts, Some(accepted)))
    };
    let result = attempt.await;

    let mut tx = ctx.pool.begin().await?;
    let outcome = match result {
        Ok((artifacts, Some(accepted))) => {
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
                reporting::set_flag(
                    &mut tx,
                    &pr,
                    &key,
                    FlagStatus::Pending,
                    &format!("Log Detective is analysing the {arch} build logs…"),
                    &url,
                )
                .await?;
            }
            Requested::Accepted(accepted.log_detective_analysis_id)
        }
        Ok((_, None)) => {
            let reason = format!("no build logs ({}) found for Koji task {task}", KOJI_ARTIFACTS.join(", "));
            finish_unrequested(&mut tx, run.id, "error", &reason).await?;
            reporting::set_flag(
                &mut tx,
                &pr,
                &key,
                reporting::NEUTRAL,
                &format!("Not analysed: no build logs of {arch} to send."),
                &url,
            )
            .await?;
            Requested::Failed(reason)
        }
        Err(e) => {
            let delay = ctx.config.retry.backoff.get(run.retry_count as usize).filter(|_| e.is_transient());
            match delay {
                Some(delay) => {
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
                    reporting::set_flag(
                        &mut tx,
                        &pr,
                        &key,
                        FlagStatus::Pending,
                        &format!(
                            "Log Detective is unavailable. The analysis will be retried in {}.",
                            minutes(minutes_left)
                        ),
                        &url,
                    )
                    .await?;
                    Requested::Retry { minutes: minutes_left }
                }
                None => {
                    finish_unrequested(&mut tx, run.id, "error", &e.to_string()).await?;
                    let comment = match &e {
                        LogDetectiveError::Unavailable(_) => "Log Detective could not be reached.".to_owned(),
                        e => {
                            let text = e.to_string();
                            let end = if text.ends_with('.') { "" } else { "." };
                            truncate(&format!("{text}{end}"), 140)
                        }
                    };
                    reporting::set_flag(&mut tx, &pr, &key, FlagStatus::Error, &comment, &url).await?;
                    Requested::Failed(e.to_string())
                }
            }
        }
    };
    tx.commit().await?;
    match &outcome {
        Requested::Accepted(_) => telemetry::metrics::log_detective_started(),
        Requested::Retry { .. } => telemetry::metrics::submission_retry("log-detective"),
        Requested::Failed(_) => telemetry::metrics::log_detective_finished("error", None),
        Requested::NotDue => {}
    }
    Ok((outcome, vec![key.uid]))
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
