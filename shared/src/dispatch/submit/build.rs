//! Koji builds.

use std::sync::Arc;

use chrono::Utc;
use sqlx::PgConnection;

use crate::clients::forge::{FlagStatus, PrId};
use crate::clients::koji::{KojiClient, KojiError};
use crate::context::Context;
use crate::dispatch::reporting::{self, FlagKey};
use crate::store::builds::{self, BuildRow};
use crate::store::status::BuildStatus;
use crate::telemetry;

use super::waiting;
use super::{minutes, whole_minutes};

/// What happened to one submission attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Task(i64),
    /// Will be tried again by the poller.
    Retry {
        minutes: u64,
    },
    Failed(String),
}

pub fn build_pr(build: &BuildRow) -> PrId {
    build.data.pr.pr()
}

/// The one place a build's flag identity comes from: stored data only.
pub fn build_flag(ctx: &Context, build: &BuildRow) -> FlagKey {
    match &build.data.flag_label {
        Some(label) => FlagKey::instance_build(
            ctx.config.deployment,
            &build_pr(build),
            label,
            &build.target,
            &build.data.pr.commit_sha,
        ),
        None => FlagKey::build(ctx.config.deployment, &build_pr(build), &build.target, &build.data.pr.commit_sha),
    }
}

/// A build stored for a Koji hub that is no longer in the configuration
/// (`KOJI_INSTANCES` changed): it can be neither submitted nor asked about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Koji instance '{0}' is not configured")]
pub struct UnconfiguredInstance(pub String);

/// The Koji client of the hub a build belongs to.
pub fn build_koji(ctx: &Context, build: &BuildRow) -> Result<Arc<KojiClient>, UnconfiguredInstance> {
    ctx.clients.koji_for(&build.koji_instance).cloned().ok_or_else(|| UnconfiguredInstance(build.koji_instance.clone()))
}

/// Calls Koji `build` for a recorded build and stores the result with its flag in
/// one transaction. Transient failures (Koji unreachable, Kerberos trouble) become
/// `retry` with the next backoff step; after the last step, or on a permanent
/// fault, the build ends in `error` and the flag says so — it never stays pending.
/// Returns the flags it changed: the build's, and those of tests that waited for it.
pub async fn submit_build(ctx: &Context, build: &BuildRow) -> Result<(Submitted, Vec<String>), sqlx::Error> {
    let key = build_flag(ctx, build);
    let pr = build_pr(build);
    let koji = match build_koji(ctx, build) {
        Ok(koji) => koji,
        Err(unconfigured) => return unconfigured_hub(ctx, build, &key, unconfigured).await,
    };
    let result = koji.build(&build.data.src, &build.target, true, None).await;
    let mut flags = vec![key.uid.clone()];
    let outcome = match result {
        Ok(task_id) => {
            // The task id and the flag in one statement: atomic without a
            // transaction around it (one round trip, not four).
            let url = koji.task_url(task_id);
            let sql = format!("WITH submitted AS ({}) {}", builds::MARK_SUBMITTED, reporting::set_flag_sql(5));
            let query = builds::bind_mark_submitted(sqlx::query(&sql), build.id, task_id, &url, &key.uid);
            let comment = "RPM build was submitted to Koji.";
            reporting::bind_set_flag(query, &pr, &key, FlagStatus::Pending, comment, &url).execute(&ctx.pool).await?;
            Submitted::Task(task_id)
        }
        Err(e) => {
            let mut tx = ctx.pool.begin().await?;
            let outcome = not_submitted(&mut tx, ctx, build, &key, e, &mut flags).await?;
            tx.commit().await?;
            outcome
        }
    };
    match &outcome {
        Submitted::Task(_) => telemetry::metrics::build_submitted(&build.target),
        Submitted::Retry { .. } => telemetry::metrics::submission_retry("build"),
        Submitted::Failed(_) => telemetry::metrics::build_finished("error"),
    }
    Ok((outcome, flags))
}

/// A build of a hub no longer configured ends in error at once.
async fn unconfigured_hub(
    ctx: &Context,
    build: &BuildRow,
    key: &FlagKey,
    unconfigured: UnconfiguredInstance,
) -> Result<(Submitted, Vec<String>), sqlx::Error> {
    let reason = unconfigured.to_string();
    let pr = build_pr(build);
    let mut tx = ctx.pool.begin().await?;
    builds::mark_final(&mut tx, build.id, BuildStatus::Error, &reason, &key.uid).await?;
    let abandoned = waiting::abandon(&mut tx, ctx, build, BuildStatus::Error).await?;
    let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
    reporting::set_flag(&mut tx, &pr, key, FlagStatus::Error, &format!("{reason}."), &url).await?;
    tx.commit().await?;
    telemetry::metrics::build_finished("error");
    Ok((Submitted::Failed(reason), [vec![key.uid.clone()], abandoned].concat()))
}

/// Koji did not take the build: a retry with the next backoff step while one
/// is left (outages, Kerberos blips), else an error flag with the hub's reason.
async fn not_submitted(
    tx: &mut PgConnection,
    ctx: &Context,
    build: &BuildRow,
    key: &FlagKey,
    e: KojiError,
    flags: &mut Vec<String>,
) -> Result<Submitted, sqlx::Error> {
    let attempt = build.retry_count as usize;
    let pr = build_pr(build);
    let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
    // A Kerberos failure may be a KDC blip or a keytab being rotated: retry it too.
    let retryable = e.is_transient() || matches!(e, KojiError::Auth(_));
    if let Some(delay) = ctx.config.retry.backoff.get(attempt).filter(|_| retryable) {
        let minutes_left = whole_minutes(*delay);
        let at = Utc::now() + chrono::Duration::from_std(*delay).unwrap_or_default();
        let (status, comment) = match &e {
            KojiError::Auth(reason) => {
                (FlagStatus::Error, format!("{reason}. The task will be retried in {}.", minutes(minutes_left)))
            }
            _ => (
                FlagStatus::Pending,
                format!("Failed to submit the build. The task will be retried in {}.", minutes(minutes_left)),
            ),
        };
        builds::mark_retry(tx, build.id, at, &e.to_string(), &key.uid).await?;
        reporting::set_flag(tx, &pr, key, status, &comment, &url).await?;
        return Ok(Submitted::Retry { minutes: minutes_left });
    }
    // The hub's reason in a few words (README: an error flag says why). A
    // refused login is ours to fix, and says so.
    let comment = match &e {
        KojiError::Auth(reason) => format!("{reason}."),
        e if e.is_credential_refusal() => {
            format!("Koji refused the CI service's login (not a problem of the package): {}.", e.reason())
        }
        e if retryable => format!("Koji did not take the build after {} attempts: {}.", attempt + 1, e.reason()),
        e => format!("Koji refused the build: {}.", e.reason()),
    };
    builds::mark_final(tx, build.id, BuildStatus::Error, &e.to_string(), &key.uid).await?;
    flags.extend(waiting::abandon(tx, ctx, build, BuildStatus::Error).await?);
    reporting::set_flag(tx, &pr, key, FlagStatus::Error, &comment, &url).await?;
    Ok(Submitted::Failed(e.to_string()))
}

/// Cancels a build's Koji task because of `reason` ("superseded by b2b2b2b", "the
/// pull request was merged"); the build and its waiting tests end neutral.
/// Returns the flags it changed, or `None` when the task could not be canceled.
pub async fn cancel_build(ctx: &Context, build: &BuildRow, reason: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
    let Some(task_id) = build.task_id.as_deref().and_then(|t| t.parse::<i64>().ok()) else { return Ok(None) };
    let Ok(koji) = build_koji(ctx, build) else { return Ok(None) };
    if let Err(e) = koji.cancel_task(task_id).await {
        tracing::warn!(task_id, error = %e, "could not cancel a superseded build");
        return Ok(None);
    }
    let key = build_flag(ctx, build);
    let mut tx = ctx.pool.begin().await?;
    builds::mark_final(&mut tx, build.id, BuildStatus::Canceled, reason, &key.uid).await?;
    let abandoned = waiting::abandon(&mut tx, ctx, build, BuildStatus::Canceled).await?;
    let url = koji.task_url(task_id);
    reporting::set_flag(
        &mut tx,
        &build_pr(build),
        &key,
        FlagStatus::Canceled,
        &format!("Build canceled: {reason}."),
        &url,
    )
    .await?;
    tx.commit().await?;
    Ok(Some([vec![key.uid], abandoned].concat()))
}
