//! Work a PR no longer wants: everything unfinished of its older heads once it
//! moves to a new head (superseded), and everything unfinished once it is closed
//! or merged. Nothing ended here is ever submitted later.
//!
//! What the PR shows: each ended check gets a neutral (`canceled`) flag saying why
//! ("Build canceled: superseded by b2b2b2b.", "Not run: the pull request was
//! merged."), under the uid of the commit the work was for. Pagure stores a flag on
//! the commit that is the PR's head when it is posted, so on a superseded commit
//! this line shows on the new head beside the new head's own checks (another uid):
//! neutral, naming the commit that replaced it, it claims neither success nor
//! failure for the new head, and the old commit's pending flag never hangs.

use sqlx::PgConnection;

use crate::clients::forge::FlagStatus;
use crate::context::Context;
use crate::dispatch::cancel::{Cancel, end_test};
use crate::dispatch::reporting;
use crate::dispatch::submit::build::{build_flag, build_pr};
use crate::dispatch::submit::waiting;
use crate::store::builds::{self, BuildRow};
use crate::store::status::BuildStatus;
use crate::store::test_runs::TestRunRow;

/// Why a PR's work ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The PR moved to this head commit.
    Superseded { new_sha: String },
    /// The PR was closed (merged or not).
    Closed { merged: bool },
}

impl Why {
    pub fn reason(&self) -> String {
        match self {
            Why::Superseded { new_sha } => format!("superseded by {}", new_sha.chars().take(7).collect::<String>()),
            Why::Closed { merged: true } => "the pull request was merged".into(),
            Why::Closed { merged: false } => "the pull request was closed".into(),
        }
    }

    /// The head commit whose work goes on (`None`: nothing goes on).
    fn keep(&self) -> Option<&str> {
        match self {
            Why::Superseded { new_sha } => Some(new_sha),
            Why::Closed { .. } => None,
        }
    }
}

/// The row a `BuildRow` / `TestRunRow` is read from.
const BUILDS: &str =
    "SELECT id, task_id, status, target, retry_count, koji_build_group_id, koji_instance, data FROM koji_build_targets";
const TESTS: &str =
    "SELECT id, pipeline_id, status, target, test_name, retry_count, web_url, data FROM tft_test_run_targets";

/// The PR's rows (`select`: [`BUILDS`] or [`TESTS`]) of any head but the one
/// `why` keeps, that also match `state` (a condition, its order and lock).
async fn ended_work<T>(
    conn: &mut PgConnection,
    select: &str,
    pull_request_id: i32,
    why: &Why,
    state: &str,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(&format!(
        "{select} WHERE pull_request_id = $1 AND ($2::text IS NULL OR data ->> 'commit_sha' <> $2) AND {state}"
    ))
    .bind(pull_request_id)
    .bind(why.keep())
    .fetch_all(conn)
    .await
}

/// Ends, in the caller's transaction, the PR's work that never reached Koji or
/// Testing Farm: builds waiting for a retry (or never submitted), tests not yet
/// submitted, waiting for a retry, or waiting for a build. Locked, so a poller pass
/// that claimed one of them first is waited for and then sees it ended. Returns
/// the flags changed.
pub async fn end_unsubmitted(
    tx: &mut PgConnection,
    ctx: &Context,
    pull_request_id: i32,
    why: &Why,
) -> Result<Vec<String>, sqlx::Error> {
    let reason = why.reason();
    let mut flags = Vec::new();
    let unsubmitted = "(status = 'retry' OR (status = 'pending' AND task_id IS NULL)) ORDER BY id FOR UPDATE";
    let stale: Vec<BuildRow> = ended_work(tx, BUILDS, pull_request_id, why, unsubmitted).await?;
    for build in &stale {
        let key = build_flag(ctx, build);
        builds::mark_final(tx, build.id, BuildStatus::Canceled, &reason, &key.uid).await?;
        flags.extend(waiting::abandon(tx, ctx, build, BuildStatus::Canceled).await?);
        let pr = build_pr(build);
        let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
        let comment = format!("Build canceled: {reason}.");
        reporting::set_flag(tx, &pr, &key, FlagStatus::Canceled, &comment, &url).await?;
        flags.push(key.uid);
    }
    let unsubmitted = "status IN ('new', 'retry', 'pending') ORDER BY id FOR UPDATE";
    let tests: Vec<TestRunRow> = ended_work(tx, TESTS, pull_request_id, why, unsubmitted).await?;
    for run in &tests {
        flags.extend(end_test(tx, ctx, run, &format!("Not run: {reason}."), None).await?);
    }
    Ok(flags)
}

/// The PR's work running in Koji and Testing Farm, to cancel after the commit
/// (the dispatcher does, with `why` on each ended check's flag).
pub async fn running(conn: &mut PgConnection, pull_request_id: i32, why: &Why) -> Result<Cancel, sqlx::Error> {
    let running = "status IN ('pending', 'running') AND task_id IS NOT NULL ORDER BY id";
    let builds = ended_work(conn, BUILDS, pull_request_id, why, running).await?;
    let running = "status IN ('queued', 'running') AND pipeline_id IS NOT NULL ORDER BY id";
    let tests = ended_work(conn, TESTS, pull_request_id, why, running).await?;
    Ok(Cancel { builds, tests, reason: why.reason() })
}
