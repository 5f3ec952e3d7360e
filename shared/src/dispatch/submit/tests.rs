//! Testing Farm requests for the Fedora CI tests.

use chrono::Utc;
use sqlx::{PgConnection, Row};

use crate::clients::forge::{FlagStatus, PrId};
use crate::clients::testing_farm::TestingFarmError;
use crate::context::Context;
use crate::dispatch::ci_messages::{self, Stage};
use crate::dispatch::reporting::{self, FlagKey};
use crate::lookups;
use crate::rules::suite::{self, RequestContext};
use crate::store::status::TestStatus;
use crate::store::test_runs::{self, TestRunRow};
use crate::telemetry;

use super::{minutes, whole_minutes};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmittedTest {
    Request(String),
    Retry {
        minutes: u64,
    },
    Failed(String),
    /// No Testing Farm environment for the branch: ended neutral, never submitted.
    NotAvailable,
}

pub fn test_pr(row: &TestRunRow) -> PrId {
    row.data.pr.pr()
}

/// The flag of a test run, from stored data only.
pub fn test_flag(ctx: &Context, row: &TestRunRow) -> FlagKey {
    FlagKey::test(ctx.config.deployment, &test_pr(row), &row.test_name, &row.target, &row.data.pr.commit_sha)
}

/// The artifacts page of a request: what the flag and the status page link to.
pub fn artifacts_url(ctx: &Context, request_id: &str) -> String {
    format!("{}/{request_id}", ctx.config.testing_farm.artifacts_url.as_str().trim_end_matches('/'))
}

/// A test run's move to a new state and, when it moved and no newer run of the
/// same test owns the flag, the flag's new state, as one statement (atomic
/// without a transaction around it). `$1`–`$5` are [`test_runs::TRANSITION`]'s;
/// with `message`, `$6`–`$8` queue a Fedora CI message ([`ci_messages::queue_sql_if`])
/// when the run moved; then the flag's ten ([`reporting::bind_set_flag`]). The
/// statement answers (moved, owns the flag).
pub fn transition_with_flag_sql(message: bool) -> String {
    let moved = "EXISTS (SELECT 1 FROM moved)";
    let (message, flag_first) = match message {
        true => (format!("message AS ({}), ", ci_messages::queue_sql_if(6, moved)), 9),
        false => (String::new(), 6),
    };
    format!(
        "WITH moved AS ({} RETURNING id), owns AS (SELECT NOT {} AS flag), {message}flag AS ({}) \
         SELECT {moved}, (SELECT flag FROM owns)",
        test_runs::TRANSITION,
        test_runs::newer_run_sql(1),
        reporting::set_flag_sql_if(flag_first, &format!("{moved} AND (SELECT flag FROM owns)")),
    )
}

/// Runs a [`transition_with_flag_sql`] statement: (moved, owns the flag).
pub async fn transition_with_flag<'e>(
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    executor: impl sqlx::PgExecutor<'e>,
) -> Result<(bool, bool), sqlx::Error> {
    let row = query.fetch_one(executor).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Builds the request for a recorded test run and submits it; stores the outcome
/// and the flag in one transaction. Unreachable TF → `retry` with backoff; TF
/// refusing the request → `error` with its message on a failure flag.
pub async fn submit_test(ctx: &Context, row: &TestRunRow) -> Result<(SubmittedTest, FlagKey), sqlx::Error> {
    let key = test_flag(ctx, row);
    let outcome = match request(ctx, row).await {
        Ok(request_id) => queued(ctx, row, &key, request_id).await?,
        Err(e) => {
            let mut tx = ctx.pool.begin().await?;
            let outcome = match e {
                TestingFarmError::NoEnvironment(distro) => {
                    // Not the package's fault: a neutral flag, never a red one.
                    let pr = test_pr(row);
                    let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
                    let reason =
                        format!("not available for {} (Testing Farm has no {distro} environment)", row.data.pr.branch);
                    test_runs::transition(&mut tx, row.id, TestStatus::Skipped, Some(&reason), None, &key.uid).await?;
                    let comment = format!("Not run: {reason}.");
                    reporting::set_flag(&mut tx, &pr, &key, reporting::NEUTRAL, &comment, &url).await?;
                    SubmittedTest::NotAvailable
                }
                e => not_submitted(&mut tx, ctx, row, &key, e).await?,
            };
            tx.commit().await?;
            outcome
        }
    };
    match &outcome {
        SubmittedTest::Request(_) => telemetry::metrics::test_submitted(&row.test_name),
        SubmittedTest::Retry { .. } => telemetry::metrics::submission_retry("test"),
        SubmittedTest::Failed(_) => telemetry::metrics::test_finished(&row.test_name, "error"),
        SubmittedTest::NotAvailable => telemetry::metrics::test_finished(&row.test_name, "skipped"),
    }
    ci_messages::flush(ctx).await;
    Ok((outcome, key))
}

/// Testing Farm took the request: queued, with its flag and the `queued`
/// message, in one statement (atomic without a transaction around it).
async fn queued(
    ctx: &Context,
    row: &TestRunRow,
    key: &FlagKey,
    request_id: String,
) -> Result<SubmittedTest, sqlx::Error> {
    let url = artifacts_url(ctx, &request_id);
    let comment = "Tests have been submitted to Testing Farm.";
    let body = ci_messages::body(
        ctx.config.forge_url(row.data.pr.forge).as_str(),
        ctx.config.docs_url.as_str(),
        row,
        &url,
        Stage::Queued,
        &ci_messages::Outcome::default(),
    );
    let topic = ci_messages::topic(ctx.config.deployment, Stage::Queued);
    let dedup_key = format!("tf:{}:queued", row.id);
    let sql = format!(
        "WITH queued AS ({}), message AS ({}) {}",
        test_runs::MARK_QUEUED,
        ci_messages::queue_sql(5),
        reporting::set_flag_sql(8)
    );
    let query = test_runs::bind_mark_queued(sqlx::query(&sql), row.id, &request_id, &url, &key.uid)
        .bind(&dedup_key)
        .bind(&topic)
        .bind(&body);
    let pr = test_pr(row);
    reporting::bind_set_flag(query, &pr, key, FlagStatus::Pending, comment, &url).execute(&ctx.pool).await?;
    Ok(SubmittedTest::Request(request_id))
}

/// Testing Farm did not take the request: a retry with the next backoff step
/// while one is left (outages), else the last word: an error flag (never a red
/// failure: nothing says the package is at fault) with the upstream's reason.
async fn not_submitted(
    tx: &mut PgConnection,
    ctx: &Context,
    row: &TestRunRow,
    key: &FlagKey,
    e: TestingFarmError,
) -> Result<SubmittedTest, sqlx::Error> {
    let pr = test_pr(row);
    let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
    if let Some(delay) = ctx.config.retry.backoff.get(row.retry_count as usize).filter(|_| e.is_transient()) {
        let m = whole_minutes(*delay);
        let at = Utc::now() + chrono::Duration::from_std(*delay).unwrap_or_default();
        test_runs::mark_retry(tx, row.id, at, &e.to_string(), &key.uid).await?;
        let comment = format!("Failed to submit tests. They will be retried in {}.", minutes(m));
        reporting::set_flag(tx, &pr, key, FlagStatus::Pending, &comment, &url).await?;
        return Ok(SubmittedTest::Retry { minutes: m });
    }
    let comment = final_comment(ctx, &e);
    test_runs::transition(tx, row.id, TestStatus::Error, Some(&e.to_string()), None, &key.uid).await?;
    reporting::set_flag(tx, &pr, key, FlagStatus::Error, &comment, &url).await?;
    Ok(SubmittedTest::Failed(e.to_string()))
}

/// How long the upstream's reason may be on a flag: a few words, not a dump.
const REASON_CHARS: usize = 120;

/// The flag comment when tests could not be submitted for good: what happened
/// in a few words, with Testing Farm's own message (trimmed to one line of
/// [`REASON_CHARS`], our API key and webhook tokens blanked out should TF echo them).
pub fn final_comment(ctx: &Context, e: &TestingFarmError) -> String {
    let tf = &ctx.config.testing_farm;
    let secrets: Vec<&str> = tf.api_key.iter().chain(&tf.webhook_secrets).map(|s| s.expose()).collect();
    failure_comment(e, &secrets)
}

/// [`final_comment`] with the secrets to blank out given.
fn failure_comment(e: &TestingFarmError, secrets: &[&str]) -> String {
    let reason = |text: &str| {
        let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret, "<secret>");
        }
        let text = text.trim_end_matches(['.', ' ']);
        crate::clients::log_detective::truncate(text, REASON_CHARS)
    };
    match e {
        TestingFarmError::Refused(message) => format!("Testing Farm refused the tests: {}.", reason(message)),
        TestingFarmError::Unauthorized(message) => format!(
            "Not submitted: Testing Farm rejected Fedora CI's API key ({}). An infrastructure problem, not the package's.",
            reason(message)
        ),
        TestingFarmError::Unreachable(why) => {
            format!("Testing Farm was unreachable on every try ({}). Tests were not run.", reason(why))
        }
        other => format!("Tests could not be submitted: {}.", reason(&other.to_string())),
    }
}

async fn request(ctx: &Context, row: &TestRunRow) -> Result<String, TestingFarmError> {
    let Some(test) = suite::definition(ctx.config.deployment, &row.test_name) else {
        return Err(TestingFarmError::Refused(format!("unknown test '{}'", row.test_name)));
    };
    let compose = if test.compose {
        match lookups::tf_compose(&ctx.pool, &ctx.clients.testing_farm, &row.target).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => return Err(TestingFarmError::NoEnvironment(row.target.clone())),
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let webhook_url = ctx.config.testing_farm.webhook_url.to_string();
    let token = ctx.config.testing_farm.webhook_secrets.first();
    let git_url = row.data.pr.git_url(ctx.config.forge_git_url(row.data.pr.forge).as_str());
    let payload = suite::payload(
        &test,
        &RequestContext {
            deployment: ctx.config.deployment,
            distro: &row.target,
            compose: compose.as_deref(),
            koji_task_id: row.data.koji_task_id,
            git_url: &git_url,
            commit_sha: &row.data.pr.commit_sha,
            branch: &row.data.pr.branch,
            webhook: token.map(|t| (webhook_url.as_str(), t.expose())),
        },
    );
    ctx.clients.testing_farm.submit(&payload).await
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    #[test]
    fn the_reason_is_one_short_line_without_our_secrets() {
        let echoed = TestingFarmError::Refused("token 'hook-secret' is\n  not valid for key tf-key.".into());
        assert_eq!(
            failure_comment(&echoed, &["tf-key", "hook-secret"]),
            "Testing Farm refused the tests: token '<secret>' is not valid for key <secret>."
        );
        let long = TestingFarmError::Refused("x".repeat(500));
        let comment = failure_comment(&long, &[]);
        assert!(comment.chars().count() < REASON_CHARS + 40, "{comment}");
        assert!(comment.ends_with("…."), "{comment}");
        let key = TestingFarmError::Unauthorized("Token has expired".into());
        assert!(failure_comment(&key, &[]).contains("rejected Fedora CI's API key (Token has expired)"));
        assert!(failure_comment(&key, &[]).contains("not the package's"));
    }
}
