//! `/api/runs…` (packit-service runs.py): pipelines. packit-service merges the
//! pipelines that share an SRPM build into one "merged run"; Fedora CI has no
//! SRPM builds, so every pipeline is a merged run of its own, as packit-service's
//! `GROUP BY srpm_build_id, CASE WHEN srpm_build_id IS NOT NULL THEN 0 ELSE id END`
//! makes it for such rows.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fedora_ci::Context;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::paging::{Page, PagingQuery};
use super::path_id;
use super::project::{ORIGIN_COLUMNS, Origin, origin_join, timestamp};

const NOT_FOUND: &str = "No run has been found in DB";

#[derive(sqlx::FromRow)]
struct PipelineRow {
    id: i32,
    koji_build_group_id: Option<i32>,
    test_run_group_id: Option<i32>,
    srpm_build_id: Option<i32>,
    copr_build_group_id: Option<i32>,
    bodhi_update_group_id: Option<i32>,
}

const PIPELINE_COLUMNS: &str =
    "id, koji_build_group_id, test_run_group_id, srpm_build_id, copr_build_group_id, bodhi_update_group_id";

/// A build or test of a run, with where it came from.
#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i32,
    target: Option<String>,
    status: Option<String>,
    submitted_time: Option<DateTime<Utc>>,
    group_id: Option<i32>,
    #[sqlx(flatten)]
    origin: Origin,
}

async fn targets(ctx: &Context, koji: bool, groups: &[i32]) -> Result<Vec<TargetRow>, sqlx::Error> {
    let sql = if koji {
        format!(
            "SELECT k.id, k.target, k.status, k.build_submitted_time AS submitted_time, \
               k.koji_build_group_id AS group_id, {ORIGIN_COLUMNS} \
             FROM koji_build_targets k {} WHERE k.koji_build_group_id = ANY($1) ORDER BY k.id",
            origin_join("koji_build_group_id", "k.koji_build_group_id")
        )
    } else {
        format!(
            "SELECT t.id, t.target, t.status, t.submitted_time, t.tft_test_run_group_id AS group_id, {ORIGIN_COLUMNS} \
             FROM tft_test_run_targets t {} WHERE t.tft_test_run_group_id = ANY($1) ORDER BY t.id",
            origin_join("test_run_group_id", "t.tft_test_run_group_id")
        )
    };
    sqlx::query_as(&sql).bind(groups).fetch_all(&ctx.pool).await
}

/// packit-service's `process_runs`: one object per merged run. Copr, SRPM,
/// propose-downstream, pull-from-upstream, Bodhi and VM image entries are always
/// empty (Fedora CI runs none of them); `time_submitted` and `trigger` come from
/// the first build or test and are absent when the run has none, as upstream.
async fn merged_runs(ctx: &Context, pipelines: &[PipelineRow]) -> Result<Vec<Value>, sqlx::Error> {
    let koji_groups: Vec<i32> = pipelines.iter().filter_map(|p| p.koji_build_group_id).collect();
    let test_groups: Vec<i32> = pipelines.iter().filter_map(|p| p.test_run_group_id).collect();
    let builds = targets(ctx, true, &koji_groups).await?;
    let tests = targets(ctx, false, &test_groups).await?;
    Ok(pipelines
        .iter()
        .map(|p| {
            let mut run = Map::new();
            run.insert("merged_run_id".into(), json!(p.id));
            run.insert("srpm".into(), Value::Null);
            for empty in ["copr", "propose_downstream", "pull_from_upstream", "bodhi_update", "vm_image_build"] {
                run.insert(empty.into(), json!([]));
            }
            for (key, rows, group) in
                [("koji", &builds, p.koji_build_group_id), ("test_run", &tests, p.test_run_group_id)]
            {
                let mine: Vec<&TargetRow> = rows.iter().filter(|r| group.is_some() && r.group_id == group).collect();
                if let Some(first) = mine.first().filter(|_| !run.contains_key("trigger")) {
                    run.insert("time_submitted".into(), json!(timestamp(first.submitted_time)));
                    run.insert("trigger".into(), first.origin.trigger());
                }
                let entries: Vec<Value> =
                    mine.iter().map(|r| json!({"packit_id": r.id, "target": r.target, "status": r.status})).collect();
                run.insert(key.into(), Value::Array(entries));
            }
            Value::Object(run)
        })
        .collect())
}

pub async fn list(State(ctx): State<Context>, Query(q): Query<PagingQuery>) -> Result<Response, ApiError> {
    let page = Page::from_query(&q)?;
    let pipelines: Vec<PipelineRow> =
        sqlx::query_as(&format!("SELECT {PIPELINE_COLUMNS} FROM pipelines ORDER BY id DESC OFFSET $1 LIMIT $2"))
            .bind(page.offset())
            .bind(page.limit())
            .fetch_all(&ctx.pool)
            .await?;
    Ok(page.partial("runs", merged_runs(&ctx, &pipelines).await?))
}

/// packit-service's `get_merged_run(id)`: the first merged run whose id is in
/// `id..=id+100`, so an id between runs finds the next one.
pub async fn merged(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, NOT_FOUND)?;
    let pipeline: Vec<PipelineRow> = sqlx::query_as(&format!(
        "SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id >= $1 AND id <= $1::bigint + 100 ORDER BY id LIMIT 1"
    ))
    .bind(id)
    .fetch_all(&ctx.pool)
    .await?;
    let run = merged_runs(&ctx, &pipeline).await?.into_iter().next().ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(run))
}

/// One pipeline. packit-service takes `trigger` from the SRPM build, sync-release
/// run or Bodhi group, which a Fedora CI pipeline never has (and then fails); we
/// give the pipeline's own project info instead, in the same shape.
pub async fn item(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, NOT_FOUND)?;
    let p: PipelineRow = sqlx::query_as(&format!("SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id = $1"))
        .bind(id)
        .fetch_optional(&ctx.pool)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let origin: Origin = sqlx::query_as(&format!(
        "SELECT {ORIGIN_COLUMNS} FROM (SELECT $1::int AS id) me {}",
        origin_join("id", "me.id")
    ))
    .bind(p.id)
    .fetch_one(&ctx.pool)
    .await?;
    Ok(Json(json!({
        "run_id": p.id,
        "trigger": origin.trigger(),
        "srpm_build_id": p.srpm_build_id,
        "copr_build_group_id": p.copr_build_group_id,
        "koji_build_group_id": p.koji_build_group_id,
        "test_run_group_id": p.test_run_group_id,
        "bodhi_update_group_id": p.bodhi_update_group_id,
    })))
}
