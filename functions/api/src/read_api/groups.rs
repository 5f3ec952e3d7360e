//! Build and test groups (`/api/koji-builds/groups/<id>`,
//! `/api/testing-farm/groups/<id>`): the same answer over two pairs of tables.

use axum::Json;
use chrono::{DateTime, Utc};
use fedora_ci::Context;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::path_id;
use super::project::{ORIGIN_COLUMNS, Origin, origin_join, timestamp};

/// Which tables a group kind lives in.
pub struct GroupKind {
    table: &'static str,
    /// The column of `pipelines` pointing at the group.
    pipeline_column: &'static str,
    targets: &'static str,
    /// The column of `targets` pointing at the group.
    target_column: &'static str,
    /// The answer's key for the target ids.
    ids_key: &'static str,
}

pub const KOJI: GroupKind = GroupKind {
    table: "koji_build_groups",
    pipeline_column: "koji_build_group_id",
    targets: "koji_build_targets",
    target_column: "koji_build_group_id",
    ids_key: "build_target_ids",
};

pub const TESTS: GroupKind = GroupKind {
    table: "tft_test_run_groups",
    pipeline_column: "test_run_group_id",
    targets: "tft_test_run_targets",
    target_column: "tft_test_run_group_id",
    ids_key: "test_target_ids",
};

/// The pipelines (runs) a group belongs to, by id.
pub async fn run_ids(ctx: &Context, kind: &GroupKind, group: Option<i32>) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT id FROM pipelines WHERE {} = $1 ORDER BY id", kind.pipeline_column))
        .bind(group)
        .fetch_all(&ctx.pool)
        .await
}

/// A group row with its origin: what every `/api/…/groups/<id>` answer is made of.
#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    pub(super) id: i32,
    pub(super) submitted_time: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub(super) origin: Origin,
}

/// `{submitted_time, run_ids, <ids_key>}` plus the project info when known.
pub async fn answer(ctx: &Context, kind: &GroupKind, raw_id: &str) -> Result<Json<Value>, ApiError> {
    const NOT_FOUND: &str = "No info about group stored in DB";
    let id = path_id(raw_id, NOT_FOUND)?;
    let group: GroupRow = sqlx::query_as(&format!(
        "SELECT grp.id, grp.submitted_time, {ORIGIN_COLUMNS} FROM {} grp {} WHERE grp.id = $1",
        kind.table,
        origin_join(kind.pipeline_column, "grp.id")
    ))
    .bind(id)
    .fetch_optional(&ctx.pool)
    .await?
    .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let target_ids: Vec<i32> =
        sqlx::query_scalar(&format!("SELECT id FROM {} WHERE {} = $1 ORDER BY id", kind.targets, kind.target_column))
            .bind(group.id)
            .fetch_all(&ctx.pool)
            .await?;
    let mut body = Map::new();
    body.insert("submitted_time".into(), json!(timestamp(group.submitted_time)));
    body.insert("run_ids".into(), json!(run_ids(ctx, kind, Some(group.id)).await?));
    body.insert(kind.ids_key.into(), json!(target_ids));
    if let Some(Value::Object(project)) = group.origin.project_info().map(|p| json!(p)) {
        body.extend(project);
    }
    Ok(Json(Value::Object(body)))
}
