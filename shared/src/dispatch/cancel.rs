//! Canceling work that runs upstream (Koji tasks, Testing Farm requests) because
//! the PR no longer wants it; each canceled item ends with a neutral flag.

use sqlx::PgConnection;

use crate::clients::forge::FlagStatus;
use crate::context::Context;
use crate::dispatch::reporting;
use crate::dispatch::submit::tests::{
    artifacts_url, test_flag, test_pr, transition_with_flag, transition_with_flag_sql,
};
use crate::store::builds::BuildRow;
use crate::store::status::TestStatus;
use crate::store::test_runs::{self, TestRunRow};

/// Running work to cancel after the commit, and why (the flags say it:
/// "superseded by b2b2b2b", "the pull request was merged").
#[derive(Debug, Default)]
pub struct Cancel {
    pub builds: Vec<BuildRow>,
    pub tests: Vec<TestRunRow>,
    pub reason: String,
}

/// Cancels running Koji tasks and Testing Farm requests; each one canceled ends
/// with a neutral flag. One that cannot be canceled (upstream down) is left to
/// report its own result. Returns the flags changed and a summary per item.
pub async fn cancel_running(ctx: &Context, running: &Cancel) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let reason = &running.reason;
    let (mut flags, mut done) = (Vec::new(), Vec::new());
    for build in &running.builds {
        if let Some(changed) = crate::dispatch::submit::build::cancel_build(ctx, build, reason).await? {
            done.push(format!("canceled task {}", build.task_id.as_deref().unwrap_or("?")));
            flags.extend(changed);
        }
    }
    // Every request canceled at once (the handler's time stays that of one),
    // then every canceled run ended in one transaction.
    let requests = running.tests.iter().filter_map(|run| Some((run, run.pipeline_id.as_deref()?)));
    let canceled = futures_util::future::join_all(requests.map(|(run, request)| async move {
        match ctx.clients.testing_farm.cancel(request).await {
            Ok(()) => Some((run, request)),
            Err(e) => {
                tracing::warn!(request, error = %e, "could not cancel a Testing Farm request");
                None
            }
        }
    }))
    .await;
    let canceled: Vec<(&TestRunRow, &str)> = canceled.into_iter().flatten().collect();
    if !canceled.is_empty() {
        let mut tx = ctx.pool.begin().await?;
        let comment = format!("Tests canceled: {reason}.");
        for (run, request) in &canceled {
            let url = artifacts_url(ctx, request);
            flags.extend(end_test(&mut tx, ctx, run, &comment, Some(&url)).await?);
        }
        tx.commit().await?;
        done.extend(canceled.iter().map(|(_, request)| format!("canceled request {request}")));
    }
    Ok((flags, done))
}

/// Ends one test run as `canceled`; its flag only when no newer run of the same
/// test owns it. One statement, in the caller's transaction: also used for tests
/// that never reached Testing Farm (`workflows::supersede`).
pub async fn end_test(
    tx: &mut PgConnection,
    ctx: &Context,
    run: &TestRunRow,
    comment: &str,
    url: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let key = test_flag(ctx, run);
    let reason = comment.trim_end_matches('.');
    let pr = test_pr(run);
    let url = url.map(str::to_owned).unwrap_or_else(|| reporting::pr_page_url(&ctx.config.public_url, &pr));
    let sql = transition_with_flag_sql(false);
    let query =
        test_runs::bind_transition(sqlx::query(&sql), run.id, TestStatus::Canceled, Some(reason), None, &key.uid);
    let query = reporting::bind_set_flag(query, &pr, &key, FlagStatus::Canceled, comment, &url);
    let (moved, owns_flag) = transition_with_flag(query, tx).await?;
    Ok((moved && owns_flag).then_some(key.uid))
}
