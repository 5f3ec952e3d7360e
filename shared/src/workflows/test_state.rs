//! What a Testing Farm request's state does to our test run: the one code path for
//! the webhook (tf-finished) and the poller's `GET /requests/{id}`.

use crate::clients::forge::FlagStatus;
use crate::clients::testing_farm::RequestInfo;
use crate::context::Context;
use crate::dispatch::ci_messages::{self, Stage};
use crate::dispatch::submit::tests::{
    artifacts_url, test_flag, test_pr, transition_with_flag, transition_with_flag_sql,
};
use crate::dispatch::{Recorded, dispatch, reporting};
use crate::store::status::TestStatus;
use crate::store::test_runs::{self, TestRunRow};

/// Our run status, the flag, and the Fedora CI message for a TF state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub status: TestStatus,
    pub flag: FlagStatus,
    pub comment: String,
    pub stage: Stage,
    /// `result` of a complete message.
    pub result: Option<&'static str>,
}

/// `queued`/`running` → running; `complete` → by the overall result; `error` →
/// error with TF's summary; `canceled` → canceled. `None` for `new` (nothing yet).
pub fn map(info: &RequestInfo) -> Option<Mapped> {
    let summary = info.result.as_ref().and_then(|r| r.summary.clone()).filter(|s| !s.trim().is_empty());
    let overall = info.result.as_ref().and_then(|r| r.overall.as_deref()).unwrap_or("unknown");
    let m = |status, flag, comment: String, stage, result| Mapped { status, flag, comment, stage, result };
    // A request in `error`, or complete with an `error` result: the same to a packager.
    let tf_error = || {
        let comment = format!("Testing Farm error: {}.", summary.as_deref().unwrap_or("no summary"));
        m(TestStatus::Error, FlagStatus::Error, comment, Stage::Error, None)
    };
    Some(match info.state.as_str() {
        "queued" => m(TestStatus::Queued, FlagStatus::Pending, "Tests are queued…".into(), Stage::Queued, None),
        "running" => m(TestStatus::Running, FlagStatus::Pending, "Tests are running…".into(), Stage::Running, None),
        "complete" => match overall {
            "passed" => {
                m(TestStatus::Passed, FlagStatus::Success, "Tests passed.".into(), Stage::Complete, Some("passed"))
            }
            "failed" => {
                m(TestStatus::Failed, FlagStatus::Failure, "Tests failed.".into(), Stage::Complete, Some("failed"))
            }
            "skipped" => m(
                TestStatus::Skipped,
                FlagStatus::Success,
                "Tests were skipped.".into(),
                Stage::Complete,
                Some("not_applicable"),
            ),
            "error" => tf_error(),
            _ => m(
                TestStatus::NeedsInspection,
                FlagStatus::Error,
                format!("Tests ended with result '{overall}'."),
                Stage::Complete,
                Some("needs_inspection"),
            ),
        },
        "error" => tf_error(),
        "canceled" | "cancel-requested" => {
            m(TestStatus::Canceled, FlagStatus::Canceled, "Tests were canceled.".into(), Stage::Error, None)
        }
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Already in that state, or already final: a duplicate or late notification.
    Unchanged,
    Updated {
        status: TestStatus,
    },
}

/// Applies a request's state to its run: status, flag and message in one
/// statement (atomic without a transaction around it), then sends the flag and
/// publishes the message.
pub async fn apply(ctx: &Context, run: &TestRunRow, info: &RequestInfo) -> Result<Applied, sqlx::Error> {
    let Some(m) = map(info) else { return Ok(Applied::Unchanged) };
    let url = info.run.as_ref().and_then(|r| r.artifacts.clone()).unwrap_or_else(|| artifacts_url(ctx, &info.id));
    let key = test_flag(ctx, run);
    let summary = info.result.as_ref().and_then(|r| r.summary.clone());
    let reason = match m.status {
        TestStatus::Canceled => Some("Canceled"),
        _ => summary.as_deref().or(Some("Infrastructure Failure")),
    };
    let xunit = info.result.as_ref().and_then(|r| r.xunit.as_deref());
    let body = ci_messages::body(
        ctx.config.forge_url(run.data.pr.forge).as_str(),
        ctx.config.docs_url.as_str(),
        run,
        &url,
        m.stage,
        &ci_messages::Outcome { result: m.result, xunit, error_reason: reason },
    );
    let topic = ci_messages::topic(ctx.config.deployment, m.stage);
    let dedup_key = format!("tf:{}:{}", run.id, m.status);
    // Nothing when the run was already there or final (a duplicate or late
    // notification). The run's own state is kept either way; the flag shows the
    // newest run only.
    let sql = transition_with_flag_sql(true);
    let pr = test_pr(run);
    let query =
        test_runs::bind_transition(sqlx::query(&sql), run.id, m.status, summary.as_deref(), Some(&url), &key.uid)
            .bind(&dedup_key)
            .bind(&topic)
            .bind(&body);
    let query = reporting::bind_set_flag(query, &pr, &key, m.flag, &m.comment, &url);
    let (moved, owns_flag) = transition_with_flag(query, &ctx.pool).await?;
    if !moved {
        return Ok(Applied::Unchanged);
    }
    if m.status.is_final() {
        crate::telemetry::metrics::test_finished(&run.test_name, m.status.as_str());
    }
    let flags = if owns_flag { vec![key.uid] } else { Vec::new() };
    dispatch(ctx, Recorded { flags, messages: true, ..Recorded::default() }).await?;
    Ok(Applied::Updated { status: m.status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> RequestInfo {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/testing-farm");
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn fixtures_map_to_success_and_error() {
        let passed = map(&fixture("results.json")).unwrap();
        assert_eq!(
            (passed.status, passed.flag, passed.stage),
            (TestStatus::Passed, FlagStatus::Success, Stage::Complete)
        );
        let error = map(&fixture("results_error.json")).unwrap();
        assert_eq!((error.status, error.flag), (TestStatus::Error, FlagStatus::Error));
        assert_eq!(error.comment, "Testing Farm error: something went wrong.");
    }
}
