//! `/api/testing-farm/…` (packit-service testing_farm.py). The webhook
//! (`POST …/results`) is tf-finished's; this is the read side.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fedora_ci::Context;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::groups;
use super::paging::{Page, PagingQuery};
use super::path_id;
use super::project::{ORIGIN_COLUMNS, Origin, ProjectInfo, origin_join, timestamp};

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i32,
    pipeline_id: Option<String>,
    status: Option<String>,
    target: Option<String>,
    web_url: Option<String>,
    submitted_time: Option<DateTime<Utc>>,
    tft_test_run_group_id: Option<i32>,
    #[sqlx(flatten)]
    origin: Origin,
}

/// Runs from `source` (a table expression named `t`), then `rest`; a page is cut
/// in `source`, so the origin is looked up for the page's rows only.
fn select_runs(source: &str, rest: &str) -> String {
    format!(
        "SELECT t.id, t.pipeline_id, t.status, t.target, t.web_url, t.submitted_time, t.tft_test_run_group_id, \
           {ORIGIN_COLUMNS} \
         FROM {source} {} {rest}",
        origin_join("test_run_group_id", "t.tft_test_run_group_id")
    )
}

/// A list entry; the project keys are always present (null without a project).
#[derive(Serialize)]
struct ListItem {
    packit_id: i32,
    pipeline_id: Option<String>,
    #[serde(rename = "ref")]
    commit: Option<String>,
    status: Option<String>,
    target: Option<String>,
    web_url: Option<String>,
    pr_id: Option<i64>,
    submitted_time: Option<i64>,
    repo_namespace: Option<String>,
    repo_name: Option<String>,
    project_url: Option<String>,
}

pub async fn list(State(ctx): State<Context>, Query(q): Query<PagingQuery>) -> Result<Response, ApiError> {
    let page = Page::from_query(&q)?;
    let rows: Vec<RunRow> = sqlx::query_as(&select_runs(
        "(SELECT * FROM tft_test_run_targets ORDER BY id DESC OFFSET $1 LIMIT $2) t",
        "ORDER BY t.id DESC",
    ))
    .bind(page.offset())
    .bind(page.limit())
    .fetch_all(&ctx.pool)
    .await?;
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|t| {
            let project = t.origin.project_info();
            ListItem {
                packit_id: t.id,
                pipeline_id: t.pipeline_id,
                commit: t.origin.commit_sha.clone(),
                status: t.status,
                target: t.target,
                web_url: t.web_url,
                pr_id: project.as_ref().and_then(|p| p.pr_id),
                submitted_time: timestamp(t.submitted_time),
                repo_namespace: project.as_ref().and_then(|p| p.repo_namespace.clone()),
                repo_name: project.as_ref().and_then(|p| p.repo_name.clone()),
                project_url: project.and_then(|p| p.project_url),
            }
        })
        .collect();
    Ok(page.partial("test-results", items))
}

/// One test run. `copr_build_ids` is always empty: Fedora CI tests Koji builds.
/// `koji_build_ids` are the builds the run tests: packit-service reads them from
/// `tf_koji_build_association_table`; here they are the builds of the pipeline
/// the run's group belongs to (a test group joins its build's pipeline, see
/// `store::test_runs::record`), which is the same set: one build per group.
#[derive(Serialize)]
struct Item {
    pipeline_id: Option<String>,
    status: Option<String>,
    chroot: Option<String>,
    commit_sha: Option<String>,
    web_url: Option<String>,
    copr_build_ids: Vec<i32>,
    koji_build_ids: Vec<i32>,
    run_ids: Vec<i32>,
    submitted_time: Option<i64>,
    #[serde(flatten)]
    project: Option<ProjectInfo>,
}

pub async fn item(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    // packit-service's wording, "build" included.
    const NOT_FOUND: &str = "No info about build stored in DB";
    let id = path_id(&id, NOT_FOUND)?;
    let run: RunRow = sqlx::query_as(&select_runs("tft_test_run_targets t", "WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(&ctx.pool)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let item = Item {
        pipeline_id: run.pipeline_id,
        status: run.status,
        chroot: run.target,
        commit_sha: run.origin.commit_sha.clone(),
        web_url: run.web_url,
        copr_build_ids: Vec::new(),
        koji_build_ids: koji_build_ids(&ctx, run.tft_test_run_group_id).await?,
        run_ids: groups::run_ids(&ctx, &groups::TESTS, run.tft_test_run_group_id).await?,
        submitted_time: timestamp(run.submitted_time),
        project: run.origin.project_info(),
    };
    Ok(Json(serde_json::to_value(item).unwrap_or_default()))
}

async fn koji_build_ids(ctx: &Context, test_group: Option<i32>) -> Result<Vec<i32>, sqlx::Error> {
    let Some(group) = test_group else { return Ok(Vec::new()) };
    sqlx::query_scalar(
        "SELECT DISTINCT k.id FROM pipelines p \
         JOIN koji_build_targets k ON k.koji_build_group_id = p.koji_build_group_id \
         WHERE p.test_run_group_id = $1 ORDER BY k.id",
    )
    .bind(group)
    .fetch_all(&ctx.pool)
    .await
}

pub async fn group(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    groups::answer(&ctx, &groups::TESTS, &id).await
}
