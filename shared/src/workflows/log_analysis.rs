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
use crate::messages::KojiTaskState;
use crate::messages::log_detective::{AnalysisResult, Explanation};
use crate::store::builds::{self, BuildRow};
use crate::telemetry;
use crate::workflows::WorkflowError;
use crate::workflows::task_update::ChildTask;

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

const RUN_COLUMNS: &str =
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

fn pr_of(build: &BuildRow) -> PrId {
    PrId { namespace: build.data.namespace.clone(), repo: build.data.repo.clone(), id: build.data.pr_id as u64 }
}

/// Whether a failed build goes to Log Detective: the service switch, the deny
/// list, and the package's `log_detective: false`.
pub fn wanted(ctx: &Context, build: &BuildRow, settings: &crate::rules::package_settings::PackageSettings) -> bool {
    let project = format!("{}/{}", build.data.namespace, build.data.repo);
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

async fn finish_unrequested(tx: &mut PgConnection, id: i32, status: &str, reason: &str) -> Result<(), sqlx::Error> {
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
    // The answer can overtake our record of the request (the interface server
    // publishes as soon as Log Detective answers). One statement finds the run by
    // its analysis id or, while the request's answer is not recorded yet, by its
    // subtask; FOR UPDATE waits for a recording transaction in flight and then
    // sees the recorded id, so there is no window between two lookups.
    let run: Option<RunRow> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM log_detective_run WHERE build_system = 'koji' \
           AND (analysis_id = $1 OR (target_build = $2 AND status = 'running' AND analysis_id IS NULL)) \
         ORDER BY analysis_id IS NULL, id LIMIT 1 FOR UPDATE"
    ))
    .bind(&msg.log_detective_analysis_id)
    .bind(&msg.target_build)
    .fetch_optional(&mut *tx)
    .await?;
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
    crate::telemetry::annotate_pr(&format!("{}/{}", build.data.namespace, build.data.repo), build.data.pr_id as u64);
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
    let (flag, comment) = match &response {
        Some(response) if stored == "complete" => {
            let e = Explanation::from_response(response);
            if e.no_issue_found {
                (FlagStatus::Success, format!("Log Detective found no clear cause in the {arch} logs."))
            } else {
                (FlagStatus::Success, format!("Log Detective explained the {arch} failure."))
            }
        }
        _ => (
            FlagStatus::Error,
            truncate(&format!("Log Detective analysis failed: {}", error.as_deref().unwrap_or("unknown error")), 140),
        ),
    };
    reporting::set_flag(&mut tx, &pr_of(&build), &key, flag, &comment, &run_url(ctx, &build, run.id)).await?;
    tx.commit().await?;
    let took = run.requested_time.and_then(|t| (Utc::now() - t).to_std().ok());
    telemetry::metrics::log_detective_finished(stored, took);
    reporting::flush_flags(&ctx.pool, &ctx.clients.pagure, Some(&[key.uid])).await?;
    Ok(Applied::Updated { status: stored.to_owned() })
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
