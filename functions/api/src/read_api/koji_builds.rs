//! `/api/koji-builds/…` (packit-service koji_builds.py).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fedora_ci::Context;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::groups;
use super::paging::{Page, PagingQuery, scratch_filter};
use super::path_id;
use super::project::{ORIGIN_COLUMNS, Origin, ProjectInfo, origin_join, timestamp};

#[derive(sqlx::FromRow)]
struct BuildRow {
    id: i32,
    task_id: Option<String>,
    scratch: Option<bool>,
    status: Option<String>,
    target: Option<String>,
    web_url: Option<String>,
    build_logs_urls: Option<Value>,
    build_submitted_time: Option<DateTime<Utc>>,
    build_start_time: Option<DateTime<Utc>>,
    build_finished_time: Option<DateTime<Utc>>,
    build_submission_stdout: Option<String>,
    status_reason: Option<String>,
    koji_build_group_id: Option<i32>,
    koji_instance: String,
    #[sqlx(flatten)]
    origin: Origin,
}

/// Builds from `source` (a table expression named `k`), then `rest`. A page is cut
/// in `source`, so the origin is looked up for the page's rows only.
fn select_builds(source: &str, rest: &str) -> String {
    format!(
        "SELECT k.id, k.task_id, k.scratch, k.status, k.target, k.web_url, k.build_logs_urls, \
           k.build_submitted_time, k.build_start_time, k.build_finished_time, k.build_submission_stdout, \
           k.status_reason, k.koji_build_group_id, k.koji_instance, {ORIGIN_COLUMNS} \
         FROM {source} {} {rest}",
        origin_join("koji_build_group_id", "k.koji_build_group_id")
    )
}

/// A list entry. `branch_name` and `release` are always null: Fedora CI builds
/// pull requests only. The project keys are present only when a project is known.
#[derive(Serialize)]
struct ListItem {
    packit_id: i32,
    task_id: Option<String>,
    scratch: Option<bool>,
    status: Option<String>,
    build_submitted_time: Option<i64>,
    chroot: Option<String>,
    web_url: Option<String>,
    build_logs_urls: Option<Value>,
    pr_id: Option<i64>,
    branch_name: Option<String>,
    release: Option<String>,
    #[serde(flatten)]
    project: Option<ListProject>,
}

#[derive(Serialize)]
struct ListProject {
    project_url: Option<String>,
    repo_namespace: Option<String>,
    repo_name: Option<String>,
}

pub async fn list(State(ctx): State<Context>, Query(q): Query<PagingQuery>) -> Result<Response, ApiError> {
    let page = Page::from_query(&q)?;
    let rows: Vec<BuildRow> = sqlx::query_as(&select_builds(
        "(SELECT * FROM koji_build_targets WHERE ($3::boolean IS NULL OR scratch = $3) \
          ORDER BY id DESC OFFSET $1 LIMIT $2) k",
        "ORDER BY k.id DESC",
    ))
    .bind(page.offset())
    .bind(page.limit())
    .bind(scratch_filter(&q))
    .fetch_all(&ctx.pool)
    .await?;
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|b| {
            let web_url = ctx.clients.koji_task_url(&b.koji_instance, b.task_id.as_deref(), b.web_url.as_deref());
            ListItem {
                packit_id: b.id,
                task_id: b.task_id,
                scratch: b.scratch,
                status: b.status,
                build_submitted_time: timestamp(b.build_submitted_time),
                chroot: b.target,
                web_url,
                build_logs_urls: b.build_logs_urls,
                pr_id: b.origin.project_info().and_then(|p| p.pr_id),
                branch_name: None,
                release: None,
                project: b.origin.project_info().map(|p| ListProject {
                    project_url: p.project_url,
                    repo_namespace: p.repo_namespace,
                    repo_name: p.repo_name,
                }),
            }
        })
        .collect();
    Ok(page.partial("koji-builds", items))
}

/// One build. `srpm_build_id` is always null (Koji builds dist-git directly, no
/// SRPM step); `error_message` is our `status_reason` (why a build errored, was
/// retried or canceled), where packit-service keeps `data["error"]`.
#[derive(Serialize)]
struct Item {
    task_id: Option<String>,
    status: Option<String>,
    chroot: Option<String>,
    scratch: Option<bool>,
    build_start_time: Option<i64>,
    build_finished_time: Option<i64>,
    build_submitted_time: Option<i64>,
    commit_sha: Option<String>,
    web_url: Option<String>,
    build_logs_urls: Option<Value>,
    srpm_build_id: Option<i32>,
    run_ids: Vec<i32>,
    build_submission_stdout: Option<String>,
    error_message: Option<String>,
    #[serde(flatten)]
    project: Option<ProjectInfo>,
}

pub async fn item(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    const NOT_FOUND: &str = "No info about build stored in DB";
    let id = path_id(&id, NOT_FOUND)?;
    let build: BuildRow = sqlx::query_as(&select_builds("koji_build_targets k", "WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(&ctx.pool)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let run_ids = groups::run_ids(&ctx, &groups::KOJI, build.koji_build_group_id).await?;
    let web_url = ctx.clients.koji_task_url(&build.koji_instance, build.task_id.as_deref(), build.web_url.as_deref());
    let item = Item {
        task_id: build.task_id,
        status: build.status,
        chroot: build.target,
        scratch: build.scratch,
        build_start_time: timestamp(build.build_start_time),
        build_finished_time: timestamp(build.build_finished_time),
        build_submitted_time: timestamp(build.build_submitted_time),
        commit_sha: build.origin.commit_sha.clone(),
        web_url,
        build_logs_urls: build.build_logs_urls,
        srpm_build_id: None,
        run_ids,
        build_submission_stdout: build.build_submission_stdout,
        error_message: build.status_reason,
        project: build.origin.project_info(),
    };
    Ok(Json(serde_json::to_value(item).unwrap_or_default()))
}

pub async fn group(State(ctx): State<Context>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    groups::answer(&ctx, &groups::KOJI, &id).await
}
