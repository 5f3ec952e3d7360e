//! What the status page reads: PR heads (commits) with an overall state, and the
//! builds and tests of each.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// How a build's or test's status counts for a packager, worst first after
/// `running`: the one table both the per-row badges ([`category`]) and a commit's
/// overall state (the SQL of [`event_state`]) are made from.
const CATEGORIES: [(&str, &[&str]); 5] = [
    ("running", &["new", "queued", "pending", "running", "retry"]),
    ("failure", &["failure", "failed"]),
    ("error", &["error", "needs_inspection"]),
    ("success", &["success", "passed", "skipped"]),
    ("canceled", &["canceled", "cancel_requested", "cancel-requested"]),
];

/// The states the index filter offers.
pub fn states() -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().map(|(c, _)| *c)
}

/// The category of one status (`unknown` for anything unexpected).
pub fn category(status: &str) -> &'static str {
    CATEGORIES.iter().find(|(_, members)| members.contains(&status)).map_or("unknown", |(c, _)| c)
}

/// SQL for the overall state of project event `e`: the first category (in
/// [`CATEGORIES`] order) any of its builds or tests is in — running while anything
/// is unfinished, then a failure of the package before an infrastructure error.
fn event_state() -> String {
    let cases: String = CATEGORIES
        .iter()
        .map(|(c, members)| {
            let list = members.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ");
            format!("WHEN bool_or(s IN ({list})) THEN '{c}' ")
        })
        .collect();
    format!(
        "(SELECT CASE {cases}ELSE 'unknown' END \
         FROM (SELECT k.status AS s FROM koji_build_targets k \
                 JOIN pipelines p ON p.koji_build_group_id = k.koji_build_group_id WHERE p.project_event_id = e.id \
               UNION ALL \
               SELECT t.status FROM tft_test_run_targets t \
                 JOIN pipelines p ON p.test_run_group_id = t.tft_test_run_group_id WHERE p.project_event_id = e.id) st)"
    )
}

/// One PR head commit with its overall state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Head {
    pub event_id: i32,
    pub commit_sha: Option<String>,
    pub pr_id: Option<i64>,
    pub namespace: Option<String>,
    pub repo_name: Option<String>,
    /// `https://src.fedoraproject.org/rpms/foo`
    pub project_url: Option<String>,
    /// The forge's base URL (`https://src.fedoraproject.org`, `https://forge.fedoraproject.org`).
    pub instance_url: Option<String>,
    /// Which forge, told by `instance_url` (set by the caller, which knows the config).
    #[sqlx(skip)]
    pub forge: fedora_ci::config::Forge,
    pub state: String,
    /// When CI last started something for it.
    pub updated: Option<DateTime<Utc>>,
}

/// How many of the newest pipelines the index looks at without a package filter:
/// its "recent", which keeps the state filter from computing the state of every
/// commit ever built.
pub const RECENT_PIPELINES: i64 = 2000;

/// Heads of the project events `candidates` yields (`event_id`, `updated`), with
/// their state, newest first. Each head is looked up on its own (`LATERAL … LIMIT
/// 1`: index lookups by primary key), which the planner cannot turn into a hash
/// join over all of `project_events`: it did at 200,000 pipelines, and the index
/// page's median doubled from 20,000 (`make bench`, cost curves).
fn heads_of(candidates: &str, filter: &str) -> String {
    format!(
        "SELECT * FROM (\
           SELECT e.id AS event_id, e.commit_sha, e.pr_id, e.namespace, e.repo_name, e.project_url, \
                  e.instance_url, c.updated, \
                  {} AS state \
           FROM ({candidates}) c CROSS JOIN LATERAL (\
             SELECT pe.id, pe.commit_sha, pr.pr_id, g.namespace, g.repo_name, g.project_url, g.instance_url \
             FROM project_events pe \
             JOIN pull_requests pr ON pr.id = pe.event_id \
             JOIN git_projects g ON g.id = pr.project_id \
             WHERE pe.id = c.event_id AND pe.type = 'pull_request' LIMIT 1) e) heads \
         {filter} ORDER BY updated DESC, event_id DESC",
        event_state()
    )
}

/// The newest PR heads: among the [`RECENT_PIPELINES`] newest pipelines, or all of
/// one package's; optionally only those in one state.
pub async fn recent_heads(
    pool: &PgPool,
    package: Option<&str>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<Head>, sqlx::Error> {
    let candidates = match package {
        Some(_) => {
            "SELECT p.project_event_id AS event_id, max(p.datetime) AS updated FROM pipelines p \
             JOIN project_events e ON e.id = p.project_event_id \
             JOIN pull_requests pr ON e.type = 'pull_request' AND pr.id = e.event_id \
             JOIN git_projects g ON g.id = pr.project_id \
             WHERE g.repo_name = $1 AND p.datetime IS NOT NULL GROUP BY p.project_event_id"
        }
        None => {
            "SELECT project_event_id AS event_id, max(datetime) AS updated FROM (\
               SELECT project_event_id, datetime FROM pipelines WHERE datetime IS NOT NULL AND $1::text IS NULL \
               ORDER BY datetime DESC LIMIT $4) newest GROUP BY project_event_id"
        }
    };
    sqlx::query_as(&format!("{} LIMIT $3", heads_of(candidates, "WHERE ($2::text IS NULL OR state = $2)")))
        .bind(package)
        .bind(state)
        .bind(limit)
        .bind(RECENT_PIPELINES)
        .fetch_all(pool)
        .await
}

/// Every commit CI saw on one PR, newest first: of the Forgejo instance at
/// `forgejo_url` when `on_forgejo`, else of Pagure (every other instance: rows
/// keep the dist-git URL they were written under).
pub async fn pr_heads(
    pool: &PgPool,
    forgejo_url: &str,
    on_forgejo: bool,
    namespace: &str,
    repo: &str,
    pr_id: i64,
) -> Result<Vec<Head>, sqlx::Error> {
    let candidates = "SELECT p.project_event_id AS event_id, max(p.datetime) AS updated FROM pipelines p \
         JOIN project_events e ON e.id = p.project_event_id \
         JOIN pull_requests pr ON e.type = 'pull_request' AND pr.id = e.event_id \
         JOIN git_projects g ON g.id = pr.project_id \
         WHERE g.namespace = $1 AND g.repo_name = $2 AND pr.pr_id = $3 \
           AND (g.instance_url IS NOT DISTINCT FROM $4) = $5 \
         GROUP BY p.project_event_id";
    sqlx::query_as(&heads_of(candidates, ""))
        .bind(namespace)
        .bind(repo)
        .bind(pr_id)
        .bind(forgejo_url)
        .bind(on_forgejo)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Build {
    pub event_id: i32,
    pub task_id: Option<String>,
    pub status: Option<String>,
    pub target: Option<String>,
    pub web_url: Option<String>,
    /// `{arch: url}` once Koji finished.
    pub build_logs_urls: Option<Value>,
    pub build_submitted_time: Option<DateTime<Utc>>,
    pub build_start_time: Option<DateTime<Utc>>,
    pub build_finished_time: Option<DateTime<Utc>>,
    pub retry_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status_reason: Option<String>,
    pub upstream_checked_at: Option<DateTime<Utc>>,
    /// `primary` or the extra Koji hub the build ran on.
    pub koji_instance: String,
    /// The label the build's flag carries on an extra hub (`riscv64`).
    pub flag_label: Option<String>,
}

pub async fn builds(pool: &PgPool, events: &[i32]) -> Result<Vec<Build>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (k.id) p.project_event_id AS event_id, k.task_id, k.status, k.target, k.web_url, \
           k.build_logs_urls, k.build_submitted_time, k.build_start_time, k.build_finished_time, k.retry_count, \
           k.next_attempt_at, k.status_reason, k.upstream_checked_at, k.koji_instance, \
           k.data->>'flag_label' AS flag_label \
         FROM koji_build_targets k JOIN pipelines p ON p.koji_build_group_id = k.koji_build_group_id \
         WHERE p.project_event_id = ANY($1) ORDER BY k.id",
    )
    .bind(events)
    .fetch_all(pool)
    .await
}

/// A Log Detective analysis of a failed build's architecture.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Analysis {
    pub event_id: i32,
    pub id: i32,
    /// `<koji target>-<arch>`.
    pub target: Option<String>,
    pub status: String,
    pub log_detective_response: Option<Value>,
    pub error_msg: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub analysis_id: Option<String>,
}

pub async fn analyses(pool: &PgPool, events: &[i32]) -> Result<Vec<Analysis>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (r.id) p.project_event_id AS event_id, r.id, r.target, r.status, \
           r.log_detective_response, r.error_msg, r.next_attempt_at, r.analysis_id \
         FROM log_detective_run r JOIN koji_build_targets k ON k.id = r.koji_build_target_id \
         JOIN pipelines p ON p.koji_build_group_id = k.koji_build_group_id \
         WHERE p.project_event_id = ANY($1) ORDER BY r.id",
    )
    .bind(events)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Test {
    pub event_id: i32,
    pub test_name: Option<String>,
    pub status: Option<String>,
    /// Testing Farm distro (`fedora-rawhide`).
    pub target: Option<String>,
    /// The artifacts page: results and logs.
    pub web_url: Option<String>,
    pub submitted_time: Option<DateTime<Utc>>,
    pub finished_time: Option<DateTime<Utc>>,
    pub retry_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status_reason: Option<String>,
    pub upstream_checked_at: Option<DateTime<Utc>>,
}

pub async fn tests(pool: &PgPool, events: &[i32]) -> Result<Vec<Test>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (t.id) p.project_event_id AS event_id, t.test_name, t.status, t.target, t.web_url, \
           t.submitted_time, t.finished_time, t.retry_count, t.next_attempt_at, t.status_reason, \
           t.upstream_checked_at \
         FROM tft_test_run_targets t JOIN pipelines p ON p.test_run_group_id = t.tft_test_run_group_id \
         WHERE p.project_event_id = ANY($1) ORDER BY t.id",
    )
    .bind(events)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_schema_allows_has_a_category() {
        for s in [
            "new",
            "queued",
            "pending",
            "running",
            "retry",
            "success",
            "failure",
            "error",
            "canceled",
            "passed",
            "failed",
            "skipped",
            "needs_inspection",
            "cancel_requested",
            "cancel-requested",
        ] {
            assert_ne!(category(s), "unknown", "{s}");
        }
        assert_eq!(category("complete"), "unknown");
    }
}
