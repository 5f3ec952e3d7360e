//! One reconciliation pass: repairs whatever a lost message, an outage or a crash
//! left unfinished. Rows are claimed in batches with `FOR UPDATE SKIP LOCKED` and a
//! lease (`last_checked_at` / `next_attempt_at` moved forward in the same commit),
//! so two passes at once never handle one row, and each batch commits on its own.
//!
//! A batch costs the same few queries whatever its size (claim, read the rows,
//! stamp the answered ones), and the checks walk the unfinished rows in id order
//! from where the last batch ended, on an index of exactly those rows: a pass over
//! n rows costs n/batch times the same, not n²/batch.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fedora_ci::clients::forge::FlagStatus;
use fedora_ci::dispatch::submit::build::{build_flag, build_pr};
use fedora_ci::dispatch::submit::tests::{test_flag, test_pr};
use fedora_ci::dispatch::{self, Recorded, dispatch, reporting, submit};
use fedora_ci::store::builds::{self, BuildRow};
use fedora_ci::store::status::{BuildStatus, TestStatus};
use fedora_ci::store::test_runs::{self, TestRunRow};
use fedora_ci::workflows::build_state;
use fedora_ci::workflows::task_update::TaskUpdate;
use fedora_ci::workflows::test_state;
use fedora_ci::{Context, HandlerError};
use serde::Serialize;

const BATCH: i64 = 100;
/// How long a claimed retry is leased to this pass before another may take it.
const LEASE: Duration = Duration::from_secs(600);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub koji_checked: u32,
    pub tf_checked: u32,
    pub retried: u32,
    pub timed_out: u32,
    pub errors: u32,
}

pub async fn run(ctx: &Context) -> Result<Summary, HandlerError> {
    let result = pass(ctx).await;
    fedora_ci::telemetry::metrics::poller_pass(result.is_ok(), result.as_ref().map_or(0, |s| s.errors));
    result
}

async fn pass(ctx: &Context) -> Result<Summary, HandlerError> {
    let mut s = Summary::default();
    // Rows are compared with the pass's start, not `now()`: whatever this pass
    // touches (checked, or retried with a zero backoff) is then due again only in
    // the next pass, and the pass always ends.
    let start = Utc::now();
    timeouts(ctx, &mut s).await?;
    koji(ctx, start, &mut s).await?;
    testing_farm(ctx, start, &mut s).await?;
    retries(ctx, start, &mut s).await?;
    log_detective(ctx, start, &mut s).await?;
    dispatch::flush_unsent(ctx).await?;
    tracing::info!(?s, "reconciliation pass");
    Ok(s)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Builds Koji should have told us about by now: asked with one `multiCall`.
async fn koji(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    let mut after = 0;
    loop {
        let claimed = claim_unchecked(
            ctx,
            "koji_build_targets",
            "status IN ('pending', 'running') AND task_id IS NOT NULL",
            "build_submitted_time",
            start,
            after,
        )
        .await?;
        let Some(&(last, _)) = claimed.last() else { return Ok(()) };
        after = last;
        let ids: Vec<i32> = claimed.iter().map(|c| c.0).collect();
        let rows: Vec<BuildRow> = builds::get_many(&mut *ctx.pool.acquire().await?, &ids).await?;
        // One multiCall per hub: each row is asked of the Koji instance it was
        // submitted to, and a hub that is down leaves only its own rows for later.
        let mut instances: Vec<&str> = rows.iter().map(|r| r.koji_instance.as_str()).collect();
        instances.sort_unstable();
        instances.dedup();
        let mut unreachable = false;
        for instance in instances {
            let group: Vec<&BuildRow> = rows.iter().filter(|r| r.koji_instance == instance).collect();
            if !check_builds(ctx, &group, s).await? {
                let ids: Vec<(i32, Option<DateTime<Utc>>)> =
                    claimed.iter().filter(|(id, _)| group.iter().any(|r| r.id == *id)).copied().collect();
                restore_checked(ctx, "koji_build_targets", &ids).await?;
                unreachable = true;
            }
        }
        if unreachable {
            // Leave the restored rows for the next tick rather than claiming them again.
            return Ok(());
        }
    }
}

/// Asks one Koji hub about its builds and applies the answers; `false` when the
/// hub could not be reached (the rows are left as they were).
async fn check_builds(ctx: &Context, rows: &[&BuildRow], s: &mut Summary) -> Result<bool, HandlerError> {
    let Some(first) = rows.first() else { return Ok(true) };
    let koji = match submit::build::build_koji(ctx, first) {
        Ok(koji) => koji,
        Err(reason) => {
            // A hub removed from the configuration: its builds time out like lost ones.
            tracing::warn!(%reason, "builds of an unconfigured Koji instance");
            return Ok(true);
        }
    };
    // Pair each row with its task id, so the multiCall answers line up with
    // the rows they belong to.
    let tasks: Vec<(&BuildRow, i64)> =
        rows.iter().filter_map(|r| Some((*r, r.task_id.as_deref()?.parse().ok()?))).collect();
    let task_ids: Vec<i64> = tasks.iter().map(|(_, id)| *id).collect();
    let infos = match koji.get_task_info(&task_ids).await {
        Ok(infos) => infos,
        Err(e) => {
            tracing::warn!(error = %e, "Koji unreachable during reconciliation");
            s.errors += 1;
            return Ok(false);
        }
    };
    let asked: Vec<i32> = tasks.iter().map(|(row, _)| row.id).collect();
    record_answered(ctx, "koji_build_targets", &asked).await?;
    for ((row, _), info) in tasks.iter().zip(infos) {
        s.koji_checked += 1;
        let Some(info) = info else { continue };
        let children =
            if info.state.is_done() { koji.get_task_children(info.id).await.unwrap_or_default() } else { Vec::new() };
        if let Err(e) = build_state::apply_to(ctx, row, &TaskUpdate::from_task_info(&info, &children)).await {
            tracing::warn!(build = row.id, error = %e, "could not apply the Koji task state");
            s.errors += 1;
        }
    }
    Ok(true)
}

/// Testing Farm requests whose webhook never came.
async fn testing_farm(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    let mut after = 0;
    loop {
        let claimed = claim_unchecked(
            ctx,
            "tft_test_run_targets",
            "status IN ('queued', 'running') AND pipeline_id IS NOT NULL",
            "submitted_time",
            start,
            after,
        )
        .await?;
        let Some(&(last, _)) = claimed.last() else { return Ok(()) };
        after = last;
        let ids: Vec<i32> = claimed.iter().map(|c| c.0).collect();
        let rows = test_runs::get_many(&mut *ctx.pool.acquire().await?, &ids).await?;
        for (i, row) in rows.iter().enumerate() {
            let Some(request_id) = row.pipeline_id.as_deref() else { continue };
            match ctx.clients.testing_farm.request(request_id).await {
                Ok(info) => {
                    s.tf_checked += 1;
                    record_answered(ctx, "tft_test_run_targets", &[row.id]).await?;
                    test_state::apply(ctx, row, &info).await?;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "Testing Farm unreachable during reconciliation");
                    restore_checked(ctx, "tft_test_run_targets", &claimed[i..]).await?;
                    s.errors += 1;
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(run = row.id, error = %e, "could not read a Testing Farm request");
                    s.errors += 1;
                }
            }
        }
    }
}

/// Claims a batch of unfinished rows of `table` with ids above `after`, not
/// checked since the pass began (less the grace period), and marks them checked
/// now, in one statement: the claim another pass sees and skips. Returns each row
/// with its previous check time, in id order, so an upstream outage can put it
/// back. `unfinished` is the predicate of the table's partial index on `id`
/// (migration 0010), so a batch reads its own rows only, not the ones before it.
///
/// The pass moves `after` to the last id of each batch: a row skipped because
/// another transaction held it is that transaction's (another pass's claim, or a
/// message's update, which checks the row too), and the next tick sees it again.
async fn claim_unchecked(
    ctx: &Context,
    table: &str,
    unfinished: &str,
    submitted_column: &str,
    start: DateTime<Utc>,
    after: i32,
) -> Result<Vec<(i32, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH claimed AS (\
           SELECT id, last_checked_at FROM {table} WHERE {unfinished} AND id > $4 \
             AND COALESCE(last_checked_at, {submitted_column}) < $3 - make_interval(secs => $1) \
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED), \
         marked AS (UPDATE {table} t SET last_checked_at = now() FROM claimed WHERE t.id = claimed.id) \
         SELECT id, last_checked_at FROM claimed ORDER BY id"
    ))
    .bind(secs(ctx.config.retry.poll_grace))
    .bind(BATCH)
    .bind(start)
    .bind(after)
    .fetch_all(&ctx.pool)
    .await
}

async fn restore_checked(
    ctx: &Context,
    table: &str,
    claimed: &[(i32, Option<DateTime<Utc>>)],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i32> = claimed.iter().map(|c| c.0).collect();
    let times: Vec<Option<DateTime<Utc>>> = claimed.iter().map(|c| c.1).collect();
    sqlx::query(&format!(
        "UPDATE {table} t SET last_checked_at = v.checked FROM UNNEST($1::int[], $2::timestamptz[]) AS v(id, checked) \
         WHERE t.id = v.id"
    ))
    .bind(&ids)
    .bind(&times)
    .execute(&ctx.pool)
    .await?;
    Ok(())
}

/// Stamps `upstream_checked_at` on rows Koji / Testing Farm answered about: the
/// status page's "last checked" for pending work. Not the claim's `last_checked_at`,
/// which an outage puts back.
async fn record_answered(ctx: &Context, table: &str, ids: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE {table} SET upstream_checked_at = now() WHERE id = ANY($1)"))
        .bind(ids)
        .execute(&ctx.pool)
        .await?;
    Ok(())
}

/// Submissions waiting for their next attempt, and rows whose submitter died
/// between recording and calling upstream (no task / request id, older than the
/// grace period).
async fn retries(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    retry_builds(ctx, start, s).await?;
    retry_tests(ctx, start, s).await
}

/// Builds due for their next submission, in leased batches.
async fn retry_builds(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    loop {
        let mut tx = ctx.pool.begin().await?;
        let ids: Vec<i32> = sqlx::query_scalar(
            "SELECT id FROM koji_build_targets \
             WHERE (status = 'retry' AND next_attempt_at <= $3) \
                OR (status = 'pending' AND task_id IS NULL \
                    AND COALESCE(next_attempt_at, build_submitted_time) < $3 - make_interval(secs => $1)) \
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(secs(ctx.config.retry.poll_grace))
        .bind(BATCH)
        .bind(start)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(());
        }
        lease(&mut tx, "koji_build_targets", &ids).await?;
        let rows = builds::get_many(&mut tx, &ids).await?;
        tx.commit().await?;
        for row in &rows {
            // Ended meanwhile (its PR moved on or was closed): never submitted.
            if !still_due(ctx, "koji_build_targets", row.id, &["retry", "pending"]).await? {
                continue;
            }
            s.retried += 1;
            dispatch(ctx, Recorded { builds: vec![row.clone()], ..Recorded::default() }).await?;
        }
    }
}

/// Test runs due for their next submission, in leased batches.
async fn retry_tests(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    loop {
        let mut tx = ctx.pool.begin().await?;
        let ids: Vec<i32> = sqlx::query_scalar(
            "SELECT id FROM tft_test_run_targets \
             WHERE (status = 'retry' AND next_attempt_at <= $3) \
                OR (status = 'new' AND COALESCE(next_attempt_at, submitted_time) < $3 - make_interval(secs => $1)) \
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(secs(ctx.config.retry.poll_grace))
        .bind(BATCH)
        .bind(start)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(());
        }
        lease(&mut tx, "tft_test_run_targets", &ids).await?;
        let rows: Vec<TestRunRow> = test_runs::get_many(&mut tx, &ids).await?;
        tx.commit().await?;
        for row in &rows {
            if !still_due(ctx, "tft_test_run_targets", row.id, &["retry", "new"]).await? {
                continue;
            }
            s.retried += 1;
            dispatch(ctx, Recorded { tests: vec![row.clone()], ..Recorded::default() }).await?;
        }
    }
}

/// Log Detective: results that never came end neutral after the result timeout
/// (the interface server has no endpoint to ask for one), and requests that
/// failed during an outage, or whose sender died, are made again.
async fn log_detective(ctx: &Context, start: DateTime<Utc>, s: &mut Summary) -> Result<(), HandlerError> {
    let mut tx = ctx.pool.begin().await?;
    let timed_out = fedora_ci::workflows::log_analysis::time_out(&mut tx, ctx).await?;
    tx.commit().await?;
    s.timed_out += timed_out.len() as u32;
    loop {
        let due = fedora_ci::workflows::log_analysis::claim_due(ctx, start, secs(LEASE), BATCH).await?;
        if due.is_empty() {
            return Ok(());
        }
        for run in due {
            s.retried += 1;
            dispatch(ctx, Recorded { analyses: vec![run], ..Recorded::default() }).await?;
        }
    }
}

/// Whether a claimed row is still waiting to be submitted.
async fn still_due(ctx: &Context, table: &str, id: i32, statuses: &[&str]) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1 AND status = ANY($2))"))
        .bind(id)
        .bind(statuses)
        .fetch_one(&ctx.pool)
        .await
}

/// Moves `next_attempt_at` past the lease so no other pass takes the rows while
/// this one submits them (the submission sets it again, or clears it).
async fn lease(tx: &mut sqlx::PgConnection, table: &str, ids: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE {table} SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY($1)"))
        .bind(ids)
        .bind(secs(LEASE))
        .execute(tx)
        .await?;
    Ok(())
}

/// Work unfinished after the job timeout (7 days by default) ends in `error` with a
/// flag saying so, instead of hanging forever.
async fn timeouts(ctx: &Context, s: &mut Summary) -> Result<(), HandlerError> {
    let timeout = secs(ctx.config.retry.job_timeout);
    // What timed out (a build, or a test by name), counted once committed.
    let mut finished: Vec<Option<String>> = Vec::new();
    let mut tx = ctx.pool.begin().await?;
    let stuck_builds: Vec<i32> = sqlx::query_scalar(
        "SELECT id FROM koji_build_targets WHERE status IN ('pending', 'running', 'retry') \
           AND build_submitted_time < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED",
    )
    .bind(timeout)
    .fetch_all(&mut *tx)
    .await?;
    for row in builds::get_many(&mut tx, &stuck_builds).await? {
        let id = row.id;
        let key = build_flag(ctx, &row);
        builds::mark_final(&mut tx, id, BuildStatus::Error, "timed out", &key.uid).await?;
        fedora_ci::dispatch::submit::waiting::abandon(&mut tx, ctx, &row, BuildStatus::Error).await?;
        let url = reporting::pr_page_url(&ctx.config.public_url, &build_pr(&row));
        reporting::set_flag(
            &mut tx,
            &build_pr(&row),
            &key,
            FlagStatus::Error,
            "Timed out waiting for the build.",
            &url,
        )
        .await?;
        s.timed_out += 1;
        finished.push(None);
    }
    let stuck_runs: Vec<i32> = sqlx::query_scalar(
        "SELECT id FROM tft_test_run_targets WHERE status IN ('new', 'queued', 'running', 'retry') \
           AND submitted_time < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED",
    )
    .bind(timeout)
    .fetch_all(&mut *tx)
    .await?;
    for row in test_runs::get_many(&mut tx, &stuck_runs).await? {
        let id = row.id;
        let key = test_flag(ctx, &row);
        test_runs::transition(&mut tx, id, TestStatus::Error, Some("timed out"), None, &key.uid).await?;
        let url = row.web_url.clone().unwrap_or_else(|| reporting::pr_page_url(&ctx.config.public_url, &test_pr(&row)));
        if !test_runs::has_newer_run(&mut tx, id).await? {
            let comment = "Timed out waiting for the tests.";
            reporting::set_flag(&mut tx, &test_pr(&row), &key, FlagStatus::Error, comment, &url).await?;
        }
        s.timed_out += 1;
        finished.push(Some(row.test_name));
    }
    tx.commit().await?;
    for test in finished {
        match test {
            Some(test) => fedora_ci::telemetry::metrics::test_finished(&test, "error"),
            None => fedora_ci::telemetry::metrics::build_finished("error"),
        }
    }
    Ok(())
}
