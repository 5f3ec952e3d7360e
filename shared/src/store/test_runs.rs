//! `tft_test_run_groups` / `tft_test_run_targets`: Testing Farm requests.
//!
//! pr-opened only records requests (status `new`) — for `/packit-ci test` and for
//! `tests/` PRs — and koji-finished submits them; the DB is the hand-over.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// What a test request needs to be submitted later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRequestData {
    pub base_project_url: String,
    pub fedora_ci_test: String,
    pub namespace: String,
    pub repo: String,
    pub pr_id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub source_repo_path: String,
    /// The Koji task the test installs; `None` for `tests/` PRs (nothing is built).
    pub koji_task_id: Option<i64>,
    pub requested_by: Option<String>,
}

/// Records one test request (status `new`); `None` for a duplicate key.
pub async fn request(
    conn: &mut PgConnection,
    project_event_id: i32,
    koji_build_group_id: Option<i32>,
    distro: &str,
    idempotency_key: &str,
    data: &TestRequestData,
) -> Result<Option<i32>, sqlx::Error> {
    let id: Option<i32> = sqlx::query_scalar(
        "INSERT INTO tft_test_run_targets (status, target, data, test_name, idempotency_key) \
         VALUES ('new', $1, $2, $3, $4) ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING id",
    )
    .bind(distro)
    .bind(sqlx::types::Json(data))
    .bind(&data.fedora_ci_test)
    .bind(idempotency_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else { return Ok(None) };
    let group: i32 =
        sqlx::query_scalar("INSERT INTO tft_test_run_groups DEFAULT VALUES RETURNING id").fetch_one(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO pipelines (project_event_id, package_name, koji_build_group_id, test_run_group_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(project_event_id)
    .bind(&data.repo)
    .bind(koji_build_group_id)
    .bind(group)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tft_test_run_targets SET tft_test_run_group_id = $1 WHERE id = $2")
        .bind(group)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(Some(id))
}
