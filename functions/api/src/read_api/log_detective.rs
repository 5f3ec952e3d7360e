//! `/api/log-detective…` (packit-service `packit_service/service/api/logdetective.py`):
//! the same paths, field names and paging, so the dashboard's Log Detective pages
//! work against us unchanged.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fedora_ci::Context;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::groups::GroupRow;
use super::paging::{Page, PagingQuery};
use super::path_id;
use super::project::{ORIGIN_COLUMNS, Origin, origin_join, timestamp};

/// The pipelines column pointing at a Log Detective group.
const GROUP_COLUMN: &str = "log_detective_run_group_id";

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i32,
    analysis_id: Option<String>,
    status: String,
    target: Option<String>,
    log_detective_response: Option<Value>,
    error_msg: Option<String>,
    target_build: Option<String>,
    submitted_time: Option<DateTime<Utc>>,
    log_detective_run_group_id: Option<i32>,
    #[sqlx(flatten)]
    origin: Origin,
}

fn select_runs(source: &str, rest: &str) -> String {
    format!(
        "SELECT r.id, r.analysis_id, r.status, r.target, r.log_detective_response, r.error_msg, r.target_build, \
           r.submitted_time, r.log_detective_run_group_id, {ORIGIN_COLUMNS} \
         FROM {source} {} {rest}",
        origin_join(GROUP_COLUMN, "r.log_detective_run_group_id")
    )
}

/// packit-service's `log_detective_result_dict`, plus the project info.
#[derive(Serialize)]
struct Item {
    packit_id: i32,
    analysis_id: Option<String>,
    status: String,
    chroot: Option<String>,
    commit_sha: Option<String>,
    log_detective_response: Option<Value>,
    error_msg: Option<String>,
    target_build: Option<String>,
    run_ids: Vec<i32>,
    submitted_time: Option<i64>,
    #[serde(flatten)]
    project: Option<super::project::ProjectInfo>,
}

async fn run_ids(ctx: &Context, group: Option<i32>) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT id FROM pipelines WHERE {GROUP_COLUMN} = $1 ORDER BY id"))
        .bind(group)
        .fetch_all(&ctx.pool)
        .await
}

async fn item_of(ctx: &Context, r: RunRow) -> Result<Item, sqlx::Error> {
    let run_ids = run_ids(ctx, r.log_detective_run_group_id).await?;
    Ok(Item {
        packit_id: r.id,
        analysis_id: r.analysis_id,
        status: r.status,
        chroot: r.target,
        commit_sha: r.origin.commit_sha.clone(),
        log_detective_response: r.log_detective_response,
        error_msg: r.error_msg,
        target_build: r.target_build,
        run_ids,
        submitted_time: timestamp(r.submitted_time),
        project: r.origin.project_info(),
    })
}

/// `GET /api/log-detective`: newest first, 206 with
/// `Content-Range: log-detective-results <first>-<last>/*`.
pub async fn list(State(ctx): State<Context>, Query(q): Query<PagingQuery>) -> Result<Response, ApiError> {
    let page = Page::from_query(&q)?;
    let rows: Vec<RunRow> = sqlx::query_as(&select_runs(
        "(SELECT * FROM log_detective_run ORDER BY id DESC OFFSET $1 LIMIT $2) r",
        "ORDER BY r.id DESC",
    ))
    .bind(page.offset())
    .bind(page.limit())
    .fetch_all(&ctx.pool)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(item_of(&ctx, r).await?);
    }
    Ok(page.partial("log-detective-results", items))
}

/// `GET /api/log-detective/<id>`.
pub async fn item(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    const NOT_FOUND: &str = "No info about Log Detective run stored in DB";
    let id = path_id(&id, NOT_FOUND)?;
    let row: RunRow = sqlx::query_as(&select_runs("log_detective_run r", "WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&ctx.pool)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(serde_json::to_value(item_of(&ctx, row).await?).unwrap_or_default()))
}

/// `GET /api/log-detective/groups/<id>`: `packit_id`, `submitted_time`,
/// `run_ids`, `log_detective_target_ids`, plus the project info.
pub async fn group(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    const NOT_FOUND: &str = "No info about group stored in DB";
    let id = path_id(&id, NOT_FOUND)?;
    let group: GroupRow = sqlx::query_as(&format!(
        "SELECT grp.id, grp.submitted_time, {ORIGIN_COLUMNS} FROM log_detective_run_groups grp {} WHERE grp.id = $1",
        origin_join(GROUP_COLUMN, "grp.id")
    ))
    .bind(id)
    .fetch_optional(&ctx.pool)
    .await?
    .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let targets: Vec<i32> =
        sqlx::query_scalar("SELECT id FROM log_detective_run WHERE log_detective_run_group_id = $1 ORDER BY id")
            .bind(group.id)
            .fetch_all(&ctx.pool)
            .await?;
    let mut body = Map::new();
    body.insert("packit_id".into(), json!(group.id));
    body.insert("submitted_time".into(), json!(timestamp(group.submitted_time)));
    body.insert("run_ids".into(), json!(run_ids(&ctx, Some(group.id)).await?));
    body.insert("log_detective_target_ids".into(), json!(targets));
    if let Some(Value::Object(project)) = group.origin.project_info().map(|p| json!(p)) {
        body.extend(project);
    }
    Ok(Json(Value::Object(body)))
}
