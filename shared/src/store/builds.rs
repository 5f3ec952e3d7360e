//! `koji_build_groups` / `koji_build_targets`: our scratch builds.
//!
//! A row is created (status `pending`, no task id) before Koji is called, under an
//! idempotency key, so duplicate deliveries cannot submit twice and a crash between
//! the insert and the call leaves a row the poller can finish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::pipelines::PrSource;
use super::status::BuildStatus;

/// Everything needed to (re)submit a build and report on it, kept in the row's
/// `data` so retries and the Koji message handler need nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildData {
    /// What Koji builds: `git+https://…#sha`.
    pub src: String,
    #[serde(flatten)]
    pub pr: PrSource,
    /// What started it: `pull-request.new`, `comment`, …
    pub trigger: String,
    /// For a build on an extra Koji instance: the label its flag shows instead of
    /// the target ("scratch build (riscv64)"), kept with the build so every state
    /// of the flag gets the same name even if the configuration changes.
    #[serde(default)]
    pub flag_label: Option<String>,
    /// Started by `/packit-ci test …` with nothing built yet: success runs only the
    /// tests asked for (recorded as waiting), not the whole suite.
    #[serde(default)]
    pub requested_tests_only: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildRow {
    pub id: i32,
    pub task_id: Option<String>,
    pub status: BuildStatus,
    pub target: String,
    pub retry_count: i32,
    pub koji_build_group_id: Option<i32>,
    /// `primary`, or the extra Koji instance the build runs on.
    pub koji_instance: String,
    #[sqlx(json)]
    pub data: BuildData,
}

impl BuildRow {
    pub fn is_task(&self, instance: &str, task_id: i64) -> bool {
        self.koji_instance == instance && self.task_id.as_deref().and_then(|t| t.parse().ok()) == Some(task_id)
    }
}

const COLUMNS: &str = "id, task_id, status, target, retry_count, koji_build_group_id, koji_instance, data";

/// [`COLUMNS`] for queries joining `koji_build_targets k`.
fn k_columns() -> String {
    super::prefixed(COLUMNS, "k")
}

/// One build to create: its Koji hub, target, idempotency key and data.
#[derive(Debug, Clone, Copy)]
pub struct NewBuild<'a> {
    pub instance: &'a str,
    pub target: &'a str,
    pub idempotency_key: &'a str,
    pub data: &'a BuildData,
}

/// Creates the build row, its group and pipeline; `None` when a build with this
/// idempotency key exists already (a duplicate delivery).
pub async fn create(
    conn: &mut PgConnection,
    project_event_id: i32,
    instance: &str,
    target: &str,
    idempotency_key: &str,
    data: &BuildData,
) -> Result<Option<BuildRow>, sqlx::Error> {
    let new = NewBuild { instance, target, idempotency_key, data };
    Ok(create_many(conn, project_event_id, &[new]).await?.pop())
}

/// Creates each build's row, group and pipeline, in one statement; returns the
/// rows created, in the order given (a build whose idempotency key exists
/// already, a duplicate delivery, is left out). Each group's id is drawn first,
/// so the build row carries it from its insert; the group and pipeline are
/// inserted only for a build that was (the foreign keys are checked at the end
/// of the statement). All builds are of one PR: the pipelines' package is the
/// first one's.
pub async fn create_many(
    conn: &mut PgConnection,
    project_event_id: i32,
    builds: &[NewBuild<'_>],
) -> Result<Vec<BuildRow>, sqlx::Error> {
    let Some(first) = builds.first() else { return Ok(Vec::new()) };
    sqlx::query_as(&format!(
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) \
           WITH ORDINALITY AS i(instance, target, idempotency_key, data, n)), \
         grp AS (SELECT n, nextval(pg_get_serial_sequence('koji_build_groups', 'id'))::int AS id FROM input), \
         build AS (INSERT INTO koji_build_targets (status, target, scratch, data, idempotency_key, koji_instance, \
           pull_request_id, koji_build_group_id) \
         SELECT 'pending', i.target, true, i.data, i.idempotency_key, i.instance, \
           (SELECT event_id FROM project_events WHERE id = $5 AND type = 'pull_request'), grp.id \
         FROM input i JOIN grp USING (n) ORDER BY n \
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING {COLUMNS}), \
         new_group AS (INSERT INTO koji_build_groups (id) SELECT koji_build_group_id FROM build), \
         pipeline AS (INSERT INTO pipelines (project_event_id, package_name, koji_build_group_id) \
           SELECT $5, $6, koji_build_group_id FROM build ORDER BY id) \
         SELECT {COLUMNS} FROM build ORDER BY id"
    ))
    .bind(builds.iter().map(|b| b.instance).collect::<Vec<_>>())
    .bind(builds.iter().map(|b| b.target).collect::<Vec<_>>())
    .bind(builds.iter().map(|b| b.idempotency_key).collect::<Vec<_>>())
    .bind(builds.iter().map(|b| sqlx::types::Json(b.data)).collect::<Vec<_>>())
    .bind(project_event_id)
    .bind(&first.data.pr.repo)
    .fetch_all(&mut *conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: i32) -> Result<Option<BuildRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM koji_build_targets WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The rows of `ids` that exist, in id order: one query for a batch.
pub async fn get_many(conn: &mut PgConnection, ids: &[i32]) -> Result<Vec<BuildRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM koji_build_targets WHERE id = ANY($1) ORDER BY id"))
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Koji accepted the build: the statement, `$1` the build id, `$2` the task id
/// (text), `$3` its web URL, `$4` the flag uid; see [`bind_mark_submitted`].
/// Public so a sender can make it a CTE of its own statement (one round trip).
pub const MARK_SUBMITTED: &str = "UPDATE koji_build_targets SET task_id = $2, web_url = $3, flag_uid = $4, \
     status = 'pending', build_submitted_time = now(), next_attempt_at = NULL, status_reason = NULL, \
     retry_count = retry_count + 1 WHERE id = $1";

/// Binds [`MARK_SUBMITTED`]'s `$1`..`$4`.
pub fn bind_mark_submitted<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    id: i32,
    task_id: i64,
    web_url: &'q str,
    flag_uid: &'q str,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query.bind(id).bind(task_id.to_string()).bind(web_url).bind(flag_uid)
}

/// Koji accepted the build.
pub async fn mark_submitted(
    conn: &mut PgConnection,
    id: i32,
    task_id: i64,
    web_url: &str,
    flag_uid: &str,
) -> Result<(), sqlx::Error> {
    bind_mark_submitted(sqlx::query(MARK_SUBMITTED), id, task_id, web_url, flag_uid).execute(conn).await?;
    Ok(())
}

/// The submission failed in a way that may pass; the poller tries again at `at`.
pub async fn mark_retry(
    conn: &mut PgConnection,
    id: i32,
    at: DateTime<Utc>,
    reason: &str,
    flag_uid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE koji_build_targets SET status = 'retry', retry_count = retry_count + 1, next_attempt_at = $2, \
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

/// A final state with its reason (`error` after the last retry, `canceled`, …).
pub async fn mark_final(
    conn: &mut PgConnection,
    id: i32,
    status: BuildStatus,
    reason: &str,
    flag_uid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE koji_build_targets SET status = $2, status_reason = $3, flag_uid = $4, next_attempt_at = NULL, \
         build_finished_time = COALESCE(build_finished_time, now()) WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(flag_uid)
    .execute(conn)
    .await?;
    Ok(())
}

/// The build `/packit-ci test` uses for a PR head and target: the newest successful
/// one, else the newest still under way (queued, running or waiting for a retry).
/// Locked, so a concurrent status change waits for the caller's transaction: tests
/// attached to a running build are then seen by whoever finishes it.
pub async fn for_test_request(
    conn: &mut PgConnection,
    project_event_id: i32,
    target: &str,
) -> Result<Option<BuildRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM koji_build_targets k JOIN pipelines p ON p.koji_build_group_id = k.koji_build_group_id \
         WHERE p.project_event_id = $1 AND k.target = $2 AND k.koji_instance = 'primary' \
           AND k.status IN ('success', 'pending', 'running', 'retry') \
         ORDER BY k.status = 'success' DESC, k.id DESC LIMIT 1 FOR UPDATE OF k",
        k_columns()
    ))
    .bind(project_event_id)
    .bind(target)
    .fetch_optional(conn)
    .await
}

/// Task ids are per hub, so the instance is part of the key.
pub async fn by_task_id(
    conn: &mut PgConnection,
    instance: &str,
    task_id: i64,
) -> Result<Option<BuildRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM koji_build_targets WHERE koji_instance = $1 AND task_id = $2"))
        .bind(instance)
        .bind(task_id.to_string())
        .fetch_optional(conn)
        .await
}

/// The builds among `(instance, task id)` pairs, in one statement (see
/// `store::build_lookup`). The two arrays select a superset when several hubs
/// are asked at once; the caller matches each pair with [`BuildRow::is_task`].
pub async fn by_task_ids(pool: &PgPool, keys: &[(&str, i64)]) -> Result<Vec<BuildRow>, sqlx::Error> {
    let mut instances: Vec<&str> = keys.iter().map(|(i, _)| *i).collect();
    instances.sort_unstable();
    instances.dedup();
    let task_ids: Vec<String> = keys.iter().map(|(_, t)| t.to_string()).collect();
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM koji_build_targets WHERE koji_instance = ANY($1) AND task_id = ANY($2)"
    ))
    .bind(instances)
    .bind(task_ids)
    .fetch_all(pool)
    .await
}

/// Moves a build forward to `status` if it is in one of `from`; `false` when not
/// (duplicate, late or out-of-order message). Times are Koji's epoch seconds.
pub async fn transition(
    conn: &mut PgConnection,
    id: i32,
    status: BuildStatus,
    from: &[BuildStatus],
    start_time: Option<f64>,
    completion_time: Option<f64>,
    logs: Option<&serde_json::Value>,
) -> Result<bool, sqlx::Error> {
    let done = status.is_final();
    let changed = sqlx::query(
        "UPDATE koji_build_targets SET status = $2, \
           build_start_time = COALESCE(build_start_time, to_timestamp($4), now()), \
           build_finished_time = CASE WHEN $6 THEN COALESCE(to_timestamp($5), now()) ELSE build_finished_time END, \
           build_logs_urls = COALESCE($7, build_logs_urls), last_checked_at = now() \
         WHERE id = $1 AND status = ANY($3)",
    )
    .bind(id)
    .bind(status)
    .bind(from)
    .bind(start_time)
    .bind(completion_time)
    .bind(done)
    .bind(logs)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}
