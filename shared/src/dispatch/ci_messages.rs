//! Fedora CI result messages (`org.centos.<deployment>.ci.dist-git-pr.test.*`,
//! message version 0.2.1), which ResultsDB and ciboard consume. The legacy Fedora
//! CI published them; packit-service never did.
//!
//! Messages are queued in `ci_messages` in the same transaction as the state
//! change they announce, then published with publisher confirms; a failed publish
//! stays queued for the poller and never holds up the flag.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::config::Deployment;
use crate::store::test_runs::TestRunRow;

/// The four message kinds of the dist-git-pr test namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Queued,
    Running,
    Complete,
    Error,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Running => "running",
            Stage::Complete => "complete",
            Stage::Error => "error",
        }
    }
}

pub fn topic(deployment: Deployment, stage: Stage) -> String {
    format!("org.centos.{}.ci.dist-git-pr.test.{}", deployment.as_str(), stage.as_str())
}

fn category(test: &str) -> &'static str {
    match test {
        "rpminspect" | "rpmlint" | "rmdepcheck" => "static-analysis",
        "license-validate" => "validation",
        _ => "functional",
    }
}

/// What a message says beyond the run's identity.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// `passed`, `failed`, `info`, `needs_inspection`, `not_applicable` (complete).
    pub result: Option<&'a str>,
    pub xunit: Option<&'a str>,
    /// Why it errored (error).
    pub error_reason: Option<&'a str>,
}

/// The message body for a test run at a stage.
pub fn body(
    // The PR's forge (`Config::forge_url`): the artifact's repository is on it.
    forge_url: &str,
    docs_url: &str,
    run: &TestRunRow,
    run_url: &str,
    stage: Stage,
    outcome: &Outcome<'_>,
) -> Value {
    let d = &run.data.pr;
    let repository = format!("{}/{}/{}", forge_url.trim_end_matches('/'), d.namespace, d.repo);
    // Stable for one test of one PR commit on one distro, queued → complete.
    let pipeline_id = {
        let digest =
            Sha256::digest(format!("{repository}#{}@{}:{}:{}", d.pr_id, d.commit_sha, run.test_name, run.target));
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let mut artifact = json!({
        "type": "pull-request",
        "repository": repository,
        "id": d.pr_id,
        "commit_hash": d.commit_sha,
        "issuer": d.pr_author.clone().unwrap_or_default(),
    });
    if let Some(uid) = &d.pr_uid {
        artifact["uid"] = uid.clone().into();
    }
    let mut run_info = json!({ "url": run_url, "log": run_url });
    if matches!(stage, Stage::Complete | Stage::Error) {
        run_info["rebuild"] = run_url.into();
        run_info["debug"] = run_url.into();
    }
    let mut test = json!({
        "type": run.test_name,
        "category": category(&run.test_name),
        "namespace": "fedora-ci.dist-git-pr",
        "docs": docs_url,
        "scenario": run.target,
    });
    let mut msg = json!({
        "contact": {
            "name": "Fedora CI",
            "team": "Fedora CI",
            "url": docs_url,
            "docs": docs_url,
            "irc": "#fedora-ci",
            "email": "ci@lists.fedoraproject.org",
        },
        "run": run_info,
        "artifact": artifact,
        "pipeline": { "id": pipeline_id, "name": format!("fedora-ci.dist-git-pr.{}", run.test_name) },
        "generated_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "version": "0.2.1",
    });
    if stage == Stage::Complete {
        test["result"] = outcome.result.unwrap_or("needs_inspection").into();
        test["xunit"] = outcome.xunit.unwrap_or("").into();
        msg["system"] = json!([]);
    }
    if stage == Stage::Error {
        msg["error"] = json!({ "reason": outcome.error_reason.unwrap_or("Infrastructure Failure"), "url": run_url });
    }
    msg["test"] = test;
    msg
}

/// Queues a message; `dedup_key` (run + stage) makes a repeat a no-op.
pub async fn queue(conn: &mut PgConnection, dedup_key: &str, topic: &str, body: &Value) -> Result<(), sqlx::Error> {
    sqlx::query(&queue_sql(1)).bind(dedup_key).bind(topic).bind(body).execute(conn).await?;
    Ok(())
}

/// [`queue`]'s insert with its three parameters (dedup key, topic, body) from
/// `$first` on, for a caller that makes it a CTE of its own statement.
pub fn queue_sql(first: usize) -> String {
    message_sql(&format!("VALUES ({})", message_params(first)))
}

/// [`queue_sql`] inserting only when `guard` (a condition over the caller's
/// CTEs, never input) holds.
pub fn queue_sql_if(first: usize, guard: &str) -> String {
    message_sql(&format!("SELECT {} WHERE {guard}", message_params(first)))
}

fn message_params(first: usize) -> String {
    format!("${first}, ${}, ${}", first + 1, first + 2)
}

/// The message insert; `rows` is its `VALUES (…)` or `SELECT … WHERE …`.
fn message_sql(rows: &str) -> String {
    format!("INSERT INTO ci_messages (dedup_key, topic, body) {rows} ON CONFLICT (dedup_key) DO NOTHING")
}

/// Publishes queued messages when a bus is configured; leaves them queued (for the
/// poller) on any failure. Never fails the caller: the flag matters more.
pub async fn flush(ctx: &crate::context::Context) {
    let Some(bus) = ctx.bus.as_ref() else { return };
    if let Err(e) = bus.flush(&ctx.pool).await {
        tracing::warn!(error = %e, "Fedora CI messages not published yet");
    }
}
