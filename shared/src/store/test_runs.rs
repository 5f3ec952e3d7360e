//! `tft_test_run_groups` / `tft_test_run_targets`: Testing Farm requests.
//!
//! A row is recorded (status `new`) under an idempotency key before Testing Farm
//! is called, like builds, so a duplicate trigger never submits twice and a crash
//! in between leaves a row the poller submits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::pipelines::PrSource;
use super::status::TestStatus;

/// What a test request needs to be submitted and reported, kept in `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRequestData {
    pub base_project_url: String,
    pub fedora_ci_test: String,
    #[serde(flatten)]
    pub pr: PrSource,
    /// The Koji task the test installs; `None` for `tests/` PRs (nothing is built).
    pub koji_task_id: Option<i64>,
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestRunRow {
    pub id: i32,
    /// The Testing Farm request id, once submitted.
    pub pipeline_id: Option<String>,
    pub status: TestStatus,
    /// TF distro (`fedora-rawhide`).
    pub target: String,
    pub test_name: String,
    pub retry_count: i32,
    pub web_url: Option<String>,
    #[sqlx(json)]
    pub data: TestRequestData,
}

const COLUMNS: &str = "id, pipeline_id, status, target, test_name, retry_count, web_url, data";

/// One test to record: its distro, idempotency key and data.
pub struct NewTest<'a> {
    pub distro: &'a str,
    pub key: String,
    pub data: TestRequestData,
}

/// Records test requests (status `new`) as one group and pipeline; returns the rows
/// that were new (duplicates by key are skipped).
pub async fn record(
    conn: &mut PgConnection,
    project_event_id: i32,
    koji_build_group_id: Option<i32>,
    tests: &[NewTest<'_>],
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    record_as(conn, TestStatus::New, project_event_id, koji_build_group_id, tests).await
}

/// Records tests asked for while their build is still running (status `pending`,
/// which neither the submitter nor the poller picks up): the build's end either
/// releases them ([`release_waiting`]) or ends them ([`end_waiting`]). Keyed like
/// the tests a successful build records, so a name asked for twice, or also in
/// the build's suite, is one request.
pub async fn record_waiting(
    conn: &mut PgConnection,
    project_event_id: i32,
    koji_build_group_id: i32,
    tests: &[NewTest<'_>],
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    record_as(conn, TestStatus::Pending, project_event_id, Some(koji_build_group_id), tests).await
}

/// The flag a waiting test shows, so the flag is known to be backed by its build.
pub async fn set_flag_uid(conn: &mut PgConnection, id: i32, flag_uid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tft_test_run_targets SET flag_uid = $2 WHERE id = $1")
        .bind(id)
        .bind(flag_uid)
        .execute(conn)
        .await?;
    Ok(())
}

/// The idempotency key of a test that follows build `build_id`.
pub fn after_build_key(build_id: i32, test: &str, distro: &str) -> String {
    format!("build:{build_id}/{test}/{distro}")
}

/// Records the tests that are new (by idempotency key), their group and its
/// pipeline, in one statement; returns the rows created, in the order given.
///
/// The group's id is drawn first, so each test row carries it from its insert;
/// the group and the pipeline are written only when a test was (the foreign keys
/// are checked at the end of the statement). The tests join their build's
/// pipeline row, as packit-service's `TFTTestRunGroupModel.create` does
/// (packit_service/models.py): the row is taken only while it has no tests
/// (`test_run_group_id IS NULL`, checked again under the row lock, so of two
/// concurrent groups one wins) and only for the same event (a command's tests
/// keep their own event for the status page); otherwise, and for tests without
/// a build, a new row. One row per build and its tests is what the dashboard
/// lists as one pipeline.
async fn record_as(
    conn: &mut PgConnection,
    status: TestStatus,
    project_event_id: i32,
    koji_build_group_id: Option<i32>,
    tests: &[NewTest<'_>],
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    let Some(first) = tests.first() else { return Ok(Vec::new()) };
    sqlx::query_as(&format!(
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[]) \
           WITH ORDINALITY AS i(target, data, test_name, idempotency_key, n)), \
         grp AS (SELECT nextval(pg_get_serial_sequence('tft_test_run_groups', 'id'))::int AS id), \
         test AS (INSERT INTO tft_test_run_targets (status, target, data, test_name, idempotency_key, \
           pull_request_id, tft_test_run_group_id) \
         SELECT $5, i.target, i.data, i.test_name, i.idempotency_key, \
           (SELECT event_id FROM project_events WHERE id = $6 AND type = 'pull_request'), (SELECT id FROM grp) \
         FROM input i ORDER BY n \
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING {COLUMNS}), \
         new_group AS (INSERT INTO tft_test_run_groups (id) SELECT id FROM grp WHERE EXISTS (SELECT 1 FROM test)), \
         joined AS (UPDATE pipelines SET test_run_group_id = (SELECT id FROM grp) \
           WHERE EXISTS (SELECT 1 FROM test) AND koji_build_group_id = $7 AND project_event_id = $6 \
             AND test_run_group_id IS NULL AND id = \
             (SELECT min(id) FROM pipelines \
              WHERE koji_build_group_id = $7 AND project_event_id = $6 AND test_run_group_id IS NULL) \
           RETURNING id), \
         own AS (INSERT INTO pipelines (project_event_id, package_name, koji_build_group_id, test_run_group_id) \
           SELECT $6, $8, $7, id FROM grp WHERE EXISTS (SELECT 1 FROM test) AND NOT EXISTS (SELECT 1 FROM joined)) \
         SELECT {COLUMNS} FROM test ORDER BY id"
    ))
    .bind(tests.iter().map(|t| t.distro).collect::<Vec<_>>())
    .bind(tests.iter().map(|t| sqlx::types::Json(&t.data)).collect::<Vec<_>>())
    .bind(tests.iter().map(|t| t.data.fedora_ci_test.as_str()).collect::<Vec<_>>())
    .bind(tests.iter().map(|t| t.key.as_str()).collect::<Vec<_>>())
    .bind(status)
    .bind(project_event_id)
    .bind(koji_build_group_id)
    .bind(&first.data.pr.repo)
    .fetch_all(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: i32) -> Result<Option<TestRunRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tft_test_run_targets WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The rows of `ids` that exist, in id order: one query for a batch.
pub async fn get_many(conn: &mut PgConnection, ids: &[i32]) -> Result<Vec<TestRunRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tft_test_run_targets WHERE id = ANY($1) ORDER BY id"))
        .bind(ids)
        .fetch_all(conn)
        .await
}

pub async fn by_request_id(conn: &mut PgConnection, request_id: &str) -> Result<Option<TestRunRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tft_test_run_targets WHERE pipeline_id = $1"))
        .bind(request_id)
        .fetch_optional(conn)
        .await
}

/// Testing Farm accepted the request: `$1` the row id, `$2` the request id,
/// `$3` its artifacts URL, `$4` the flag uid; see [`bind_mark_queued`]. A
/// statement for a caller that writes the flag and message in the same one.
pub const MARK_QUEUED: &str = "UPDATE tft_test_run_targets SET pipeline_id = $2, web_url = $3, flag_uid = $4, \
     status = 'queued', submitted_time = now(), next_attempt_at = NULL, status_reason = NULL, \
     retry_count = retry_count + 1 WHERE id = $1";

/// Binds [`MARK_QUEUED`]'s four parameters.
pub fn bind_mark_queued<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    id: i32,
    request_id: &'q str,
    web_url: &'q str,
    flag_uid: &'q str,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query.bind(id).bind(request_id).bind(web_url).bind(flag_uid)
}

pub async fn mark_retry(
    conn: &mut PgConnection,
    id: i32,
    at: DateTime<Utc>,
    reason: &str,
    flag_uid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tft_test_run_targets SET status = 'retry', retry_count = retry_count + 1, next_attempt_at = $2, \
         status_reason = $3, flag_uid = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(reason)
    .bind(flag_uid)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a run to `status` unless it is already final or already there; `false`
/// when nothing changed (a duplicate or late notification). A final status stamps
/// `finished_time` (the status page's duration).
pub async fn transition(
    conn: &mut PgConnection,
    id: i32,
    status: TestStatus,
    reason: Option<&str>,
    web_url: Option<&str>,
    flag_uid: &str,
) -> Result<bool, sqlx::Error> {
    let changed = bind_transition(sqlx::query(TRANSITION), id, status, reason, web_url, flag_uid)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(changed == 1)
}

/// [`transition`]'s statement (`$1`–`$5`, bound by [`bind_transition`]), for a
/// caller that makes it a CTE of its own statement (`RETURNING id` added there).
pub const TRANSITION: &str = "UPDATE tft_test_run_targets SET status = $2, status_reason = COALESCE($3, status_reason), \
     web_url = COALESCE($4, web_url), flag_uid = $5, next_attempt_at = NULL, \
     finished_time = CASE WHEN $2 IN ('passed', 'failed', 'error', 'canceled', 'skipped', 'needs_inspection') \
                          THEN now() END \
     WHERE id = $1 AND status <> $2 \
       AND status NOT IN ('passed', 'failed', 'error', 'canceled', 'skipped', 'needs_inspection')";

/// Binds [`TRANSITION`]'s five parameters.
pub fn bind_transition<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    id: i32,
    status: TestStatus,
    reason: Option<&'q str>,
    web_url: Option<&'q str>,
    flag_uid: &'q str,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query.bind(id).bind(status).bind(reason).bind(web_url).bind(flag_uid)
}

/// Whether a newer run of the same test (same PR, commit and Testing Farm target)
/// was recorded after `run_id`: that run owns the flag then, so a late result of
/// this older one must not overwrite it (the newest run the packager asked for wins).
pub async fn has_newer_run(conn: &mut PgConnection, run_id: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT {}", newer_run_sql(1))).bind(run_id).fetch_one(conn).await
}

/// [`has_newer_run`]'s condition for the run `$<param>`, for a caller's own statement.
pub fn newer_run_sql(param: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM tft_test_run_targets o JOIN tft_test_run_targets n \
           ON n.pull_request_id = o.pull_request_id AND n.test_name = o.test_name AND n.target = o.target \
          AND n.data ->> 'commit_sha' = o.data ->> 'commit_sha' AND n.id > o.id \
         WHERE o.id = ${param})"
    )
}

/// The waiting tests of a build's group, given the Koji task they install and made
/// `new` for submission. The build row is locked by the caller's status change, so
/// a test attached concurrently is either seen here or sees the finished build.
pub async fn release_waiting(
    conn: &mut PgConnection,
    koji_build_group_id: i32,
    task_id: i64,
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE tft_test_run_targets t SET status = 'new', \
           data = jsonb_set(t.data, '{{koji_task_id}}', to_jsonb($2::bigint)), submitted_time = now() \
         FROM pipelines p WHERE p.test_run_group_id = t.tft_test_run_group_id AND p.koji_build_group_id = $1 \
           AND t.status = 'pending' RETURNING {}",
        super::prefixed(COLUMNS, "t")
    ))
    .bind(koji_build_group_id)
    .bind(task_id)
    .fetch_all(conn)
    .await
}

/// Ends the waiting tests of a build that did not succeed in `status` with `reason`.
pub async fn end_waiting(
    conn: &mut PgConnection,
    koji_build_group_id: i32,
    status: TestStatus,
    reason: &str,
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE tft_test_run_targets t SET status = $2, status_reason = $3, finished_time = now(), \
           next_attempt_at = NULL \
         FROM pipelines p WHERE p.test_run_group_id = t.tft_test_run_group_id AND p.koji_build_group_id = $1 \
           AND t.status = 'pending' RETURNING {}",
        super::prefixed(COLUMNS, "t")
    ))
    .bind(koji_build_group_id)
    .bind(status)
    .bind(reason)
    .fetch_all(conn)
    .await
}
