//! Log Detective for failed scratch builds: the trigger (packit-service's
//! `LogDetectiveKojiTriggerHelper`, `worker/helpers/logdetective.py`), the result
//! (`DownstreamLogDetectiveResultsHandler`, `worker/handlers/logdetective.py`) and
//! what the poller does when either goes wrong.
//!
//! Same pattern as builds: a run per failed architecture is recorded in the
//! transaction that moves the build to `failure` (keyed `ld:<build>:<subtask>`, so
//! duplicate or concurrent deliveries record it once), with a pending flag; the
//! request to the interface server is made after the commit by whoever recorded
//! it, or later by the poller (retry with the submission backoff, or a submitter
//! that died). A result moves a `running` run forward only. The interface server
//! cannot be asked for a result, so a run without one after
//! `FEDORA_CI_LOG_DETECTIVE_TIMEOUT_SECONDS` ends `unknown` with a neutral flag.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::clients::forge::FlagStatus;
use crate::clients::log_detective::truncate;
use crate::context::Context;
use crate::dispatch::log_detective::{RUN_COLUMNS, RunRow, finish_unrequested, pr_of, run_flag, run_url};
use crate::dispatch::submit::{minutes, whole_minutes};
use crate::dispatch::{Recorded, dispatch, reporting};
use crate::messages::KojiTaskState;
use crate::messages::log_detective::{AnalysisResult, Explanation};
use crate::store::builds::{self, BuildRow};
use crate::telemetry;
use crate::workflows::WorkflowError;
use crate::workflows::task_update::ChildTask;

/// Whether a failed build goes to Log Detective: the service switch, the deny
/// list, and the package's `log_detective: false`.
pub fn wanted(ctx: &Context, build: &BuildRow, settings: &crate::rules::package_settings::PackageSettings) -> bool {
    let project = format!("{}/{}", build.data.pr.namespace, build.data.pr.repo);
    let ld = &ctx.config.log_detective;
    ld.enabled && !ld.deny.contains(&project) && settings.log_detective
}

/// Records the group of a failed build and one run per failed `buildArch`
/// subtask, each with a pending flag; in the caller's transaction. Returns the
/// runs recorded now (none for a duplicate) and their flags.
pub async fn record_runs(
    conn: &mut PgConnection,
    ctx: &Context,
    build: &BuildRow,
    children: &[ChildTask],
) -> Result<(Vec<i32>, Vec<String>), sqlx::Error> {
    let failed: Vec<(&ChildTask, &str)> = children
        .iter()
        .filter(|c| c.method == "buildArch" && c.state == Some(KojiTaskState::Failed))
        .filter_map(|c| Some((c, c.arch.as_deref()?)))
        .collect();
    if failed.is_empty() {
        // An SRPM failure: no buildArch logs to explain (packit-service does the same).
        return Ok((Vec::new(), Vec::new()));
    }
    let group: i32 = sqlx::query_scalar(
        "INSERT INTO log_detective_run_groups (koji_build_target_id) VALUES ($1) \
         ON CONFLICT (koji_build_target_id) DO UPDATE SET koji_build_target_id = EXCLUDED.koji_build_target_id \
         RETURNING id",
    )
    .bind(build.id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE pipelines SET log_detective_run_group_id = $1 \
         WHERE koji_build_group_id = $2 AND log_detective_run_group_id IS NULL",
    )
    .bind(group)
    .bind(build.koji_build_group_id)
    .execute(&mut *conn)
    .await?;
    let mut runs = Vec::new();
    let mut flags = Vec::new();
    for (child, arch) in failed {
        let key = run_flag(ctx, build, arch);
        let id: Option<i32> = sqlx::query_scalar(
            "INSERT INTO log_detective_run (status, target_build, target, build_system, koji_build_target_id, \
               log_detective_run_group_id, idempotency_key, arch, flag_uid) \
             VALUES ('running', $1, $2, 'koji', $3, $4, $5, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(child.id.to_string())
        .bind(format!("{}-{arch}", build.target))
        .bind(build.id)
        .bind(group)
        .bind(format!("ld:{}:{}", build.id, child.id))
        .bind(arch)
        .bind(&key.uid)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = id else { continue };
        let url = run_url(ctx, build, id);
        reporting::set_flag(
            conn,
            &pr_of(build),
            &key,
            FlagStatus::Pending,
            &format!("Sending the {arch} build logs to Log Detective…"),
            &url,
        )
        .await?;
        runs.push(id);
        flags.push(key.uid);
    }
    Ok((runs, flags))
}

/// What a result message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// No run of ours has this analysis id (another service's analysis).
    NotOurs,
    /// `running`, or a result for a run already finished (a duplicate).
    Unchanged,
    Updated {
        status: String,
    },
}

/// Applies a `logdetective.analysis` message: stores the explanation or the
/// error and sets the run's flag. Moves a run forward only.
pub async fn apply_result(ctx: &Context, msg: &AnalysisResult) -> Result<Applied, WorkflowError> {
    if msg.build_system != "koji" {
        return Ok(Applied::NotOurs);
    }
    let mut tx = ctx.pool.begin().await?;
    let run = run_answered(&mut tx, msg).await?;
    let Some(run) = run else { return Ok(Applied::NotOurs) };
    if run.analysis_id.as_deref() != Some(msg.log_detective_analysis_id.as_str()) {
        // Our request for this subtask is not recorded yet: 503, redelivered.
        return Err(WorkflowError::Upstream {
            service: "Log Detective",
            reason: format!("result for task {} arrived before its request was recorded", msg.target_build),
        });
    }
    let status = msg.result();
    if status == "running" || run.status != "running" {
        return Ok(Applied::Unchanged);
    }
    let Some(build) = builds::get(&mut tx, run.koji_build_target_id.unwrap_or_default()).await? else {
        return Ok(Applied::NotOurs);
    };
    crate::telemetry::annotate_pr(
        &format!("{}/{}", build.data.pr.namespace, build.data.pr.repo),
        build.data.pr.pr_id as u64,
    );
    let (response, error) = match (&msg.log_detective_response, status) {
        (Some(response), _) if !response.is_null() => (Some(response.clone()), None),
        (_, "error") => (None, Some(msg.error_msg.clone().unwrap_or_else(|| "Unknown error".to_owned()))),
        _ => (None, Some("Unknown status received for this job".to_owned())),
    };
    // packit-service records `unknown` as it came and reports it as an error.
    let stored = if status == "complete" && response.is_none() { "error" } else { status };
    sqlx::query(
        "UPDATE log_detective_run SET status = $2, log_detective_response = $3, error_msg = $4, \
           finished_time = now() WHERE id = $1",
    )
    .bind(run.id)
    .bind(stored)
    .bind(&response)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    let arch = run.arch.clone().unwrap_or_default();
    let key = run_flag(ctx, &build, &arch);
    let (flag, comment) = result_flag(&arch, stored, response.as_ref(), error.as_deref());
    reporting::set_flag(&mut tx, &pr_of(&build), &key, flag, &comment, &run_url(ctx, &build, run.id)).await?;
    tx.commit().await?;
    let took = run.requested_time.and_then(|t| (Utc::now() - t).to_std().ok());
    telemetry::metrics::log_detective_finished(stored, took);
    dispatch(ctx, Recorded { flags: vec![key.uid], ..Recorded::default() }).await?;
    Ok(Applied::Updated { status: stored.to_owned() })
}

/// The run an answer is for, locked. The answer can overtake our record of the
/// request (the interface server publishes as soon as Log Detective answers).
/// One statement finds the run by its analysis id or, while the request's answer
/// is not recorded yet, by its subtask; FOR UPDATE waits for a recording
/// transaction in flight and then sees the recorded id, so there is no window
/// between two lookups.
async fn run_answered(tx: &mut PgConnection, msg: &AnalysisResult) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM log_detective_run WHERE build_system = 'koji' \
           AND (analysis_id = $1 OR (target_build = $2 AND status = 'running' AND analysis_id IS NULL)) \
         ORDER BY analysis_id IS NULL, id LIMIT 1 FOR UPDATE"
    ))
    .bind(&msg.log_detective_analysis_id)
    .bind(&msg.target_build)
    .fetch_optional(tx)
    .await
}

/// What the PR shows for an answer: success with what Log Detective found, or
/// an error with its reason.
fn result_flag(
    arch: &str,
    stored: &str,
    response: Option<&serde_json::Value>,
    error: Option<&str>,
) -> (FlagStatus, String) {
    match response {
        Some(response) if stored == "complete" => {
            if Explanation::from_response(response).no_issue_found {
                (FlagStatus::Success, format!("Log Detective found no clear cause in the {arch} logs."))
            } else {
                (FlagStatus::Success, format!("Log Detective explained the {arch} failure."))
            }
        }
        _ => (
            FlagStatus::Error,
            truncate(&format!("Log Detective analysis failed: {}", error.unwrap_or("unknown error")), 140),
        ),
    }
}

/// Runs requested longer ago than the result timeout without a result: `unknown`,
/// neutral flag. Returns how many, in the caller's transaction.
pub async fn time_out(conn: &mut PgConnection, ctx: &Context) -> Result<Vec<String>, sqlx::Error> {
    let limit = ctx.config.log_detective.result_timeout;
    let stuck: Vec<RunRow> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM log_detective_run WHERE status = 'running' AND analysis_id IS NOT NULL \
           AND requested_time < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED"
    ))
    .bind(limit.as_secs_f64())
    .fetch_all(&mut *conn)
    .await?;
    let waited = whole_minutes(limit);
    let mut flags = Vec::new();
    for run in stuck {
        let reason = format!("no result from Log Detective within {}", minutes(waited));
        finish_unrequested(conn, run.id, "unknown", &reason).await?;
        let Some(build) = builds::get(conn, run.koji_build_target_id.unwrap_or_default()).await? else { continue };
        let key = run_flag(ctx, &build, run.arch.as_deref().unwrap_or_default());
        reporting::set_flag(
            conn,
            &pr_of(&build),
            &key,
            reporting::NEUTRAL,
            &format!("Log Detective sent no result within {}.", minutes(waited)),
            &run_url(ctx, &build, run.id),
        )
        .await?;
        telemetry::metrics::log_detective_finished("unknown", None);
        flags.push(key.uid);
    }
    Ok(flags)
}

/// Runs whose request is due: a retry whose time has come, or one whose
/// submitter died (no answer recorded, older than `grace_secs`). Claimed with a
/// lease so two passes never request one run.
pub async fn claim_due(
    ctx: &Context,
    start: DateTime<Utc>,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<i32>, sqlx::Error> {
    let mut tx = ctx.pool.begin().await?;
    let ids: Vec<i32> = sqlx::query_scalar(
        "SELECT id FROM log_detective_run WHERE status = 'running' AND analysis_id IS NULL \
           AND COALESCE(next_attempt_at, submitted_time + make_interval(secs => $1)) <= $2 \
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(ctx.config.retry.poll_grace.as_secs_f64())
    .bind(start)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("UPDATE log_detective_run SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY($1)")
        .bind(&ids)
        .bind(lease_secs)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids)
}
