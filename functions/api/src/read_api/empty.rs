//! The rest of packit-service's `/api` (packit_service/service/api/*.py), for the
//! dashboard pages Fedora CI has nothing for: Copr and SRPM builds, sync releases,
//! Bodhi updates, OpenScanHub scans, Koji tag requests, projects and usage. Each
//! answers as packit-service answers an empty database (its status, body and
//! `Content-Range`), and every other `/api` path a JSON 404 — all behind the same
//! CORS layer as the real endpoints, so the dashboard's pages render "nothing
//! here" instead of failing in the browser on a missing CORS header.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::paging::{Page, PagingQuery};

/// List endpoints with their `Content-Range` unit and the 404 messages of their
/// item and group endpoints (`copr_builds.py`, `srpm_builds.py`,
/// `propose_downstream.py`, `pull_from_upstream.py`, `bodhi_updates.py`,
/// `osh_scans.py`, `koji_tag_requests.py`).
const LISTS: [(&str, &str, &str, Option<&str>); 7] = [
    ("copr-builds", "copr-builds", "No info about build stored in DB", Some("No info about group stored in DB")),
    ("srpm-builds", "srpm-builds", "No info about build stored in DB", None),
    ("propose-downstream", "propose-downstreams", "No info about propose downstream target stored in DB", None),
    ("pull-from-upstream", "pull-from-upstreams", "No info about pull from upstream target stored in DB", None),
    ("bodhi-updates", "bodhi-updates", "No info about update stored in DB", Some("No info about group stored in DB")),
    ("openscanhub-scans", "openscanhub-scans", "No info about scan stored in DB", None),
    (
        "koji-tag-requests",
        "koji-tag-requests",
        "No info about tagging request stored in DB",
        Some("No info about group stored in DB"),
    ),
];

/// `get_usage_data`'s job tables (packit_service/models.py).
const JOB_TABLES: [&str; 7] = [
    "srpm_builds",
    "copr_build_groups",
    "koji_build_groups",
    "vm_image_build_targets",
    "tft_test_run_groups",
    "sync_release_runs",
    "log_detective_run_groups",
];

/// `ProjectEventModelType` (packit_service/models.py).
const EVENT_TYPES: [&str; 7] =
    ["pull_request", "branch_push", "release", "issue", "koji_build_tag", "anitya_version", "anitya_multiple_versions"];

/// Flask's answer for a path no route matches, as flask-restx words it.
const NO_ROUTE: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";

pub async fn answer(
    Path(rest): Path<String>,
    Query(paging): Query<PagingQuery>,
    Query(args): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((_, unit, item, group)) = LISTS.iter().find(|(name, ..)| *name == segments[0]) {
        return match segments[1..] {
            [] => Ok(Page::from_query(&paging)?.partial(unit, Vec::<Value>::new())),
            [n] if id(n) => Err(ApiError::NotFound(item)),
            ["groups", n] if id(n) && group.is_some() => Err(ApiError::NotFound(group.unwrap_or(item))),
            _ => Ok(no_route()),
        };
    }
    match segments.as_slice() {
        // projects.py: the lists answer 200 (not 206) when empty.
        ["projects"] | ["projects", _] => empty_list(&paging, "git-projects"),
        ["projects", _, .., "prs"] if segments.len() >= 5 => empty_list(&paging, "git-project-prs"),
        ["projects", _, .., "issues"] if segments.len() >= 5 => empty_list(&paging, "git-project-issues"),
        ["projects", _, .., "releases"] if segments.len() >= 5 => empty_list(&paging, "git-project-releases"),
        ["projects", _, .., "branches"] if segments.len() >= 5 => empty_list(&paging, "git-project-branches"),
        ["projects", _, _, _, ..] => Err(ApiError::NotFound("No info about project stored in DB")),
        ["projects", _, _] => empty_list(&paging, "git-projects"),
        ["installations"] | ["allowlist"] => Ok(Json(json!([])).into_response()),
        ["usage"] => Ok(usage(&args)),
        ["usage", "onboarded-projects"] => Ok(Json(json!({ "onboarded": {}, "almost_onboarded": {} })).into_response()),
        // packit-service redirects these to a Celery result (`past-week/<task id>`);
        // with nothing to compute, the result is answered at once.
        ["usage", "past-day" | "past-week" | "past-month" | "past-year" | "total"]
        | ["usage", "past-day" | "past-week" | "past-month" | "past-year" | "total", _] => {
            Ok(Json(past_usage()).into_response())
        }
        ["usage", "intervals"] | ["usage", "intervals", _] => Ok(intervals(&args)),
        _ => Ok(no_route()),
    }
}

fn no_route() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "message": NO_ROUTE }))).into_response()
}

fn empty_list(paging: &PagingQuery, unit: &str) -> Result<Response, ApiError> {
    let page = Page::from_query(paging)?;
    let mut response = Json(json!([])).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{unit} {}-{}/*", page.first + 1, page.last)) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

fn zero_jobs(extra: Option<&str>) -> Value {
    let mut jobs = Map::new();
    for table in JOB_TABLES {
        let mut job = json!({ "job_runs": 0, "top_projects_by_job_runs": {} });
        if let Some(key) = extra {
            job[key] = json!(0);
        }
        jobs.insert(table.into(), job);
    }
    Value::Object(jobs)
}

/// `usage.py` `__parse_timestamp`: `datetime.fromisoformat`, or absent.
fn valid_timestamp(raw: Option<&String>) -> bool {
    raw.is_none_or(|s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
            || chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

/// `GET /usage`: `get_usage_data` over no projects, or 400 with
/// `process_timestamps`' errors.
fn usage(args: &BTreeMap<String, String>) -> Response {
    let mut errors = Vec::new();
    if !valid_timestamp(args.get("from")) {
        errors.push("From timestamp: invalid format");
    }
    if !valid_timestamp(args.get("to")) {
        errors.push("To timestamp: invalid format");
    }
    if !errors.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({ "errors": errors }))).into_response();
    }
    let events: Map<String, Value> =
        EVENT_TYPES.iter().map(|e| (e.to_string(), json!({ "events_handled": 0, "top_projects": {} }))).collect();
    Json(json!({
        "all_projects": { "project_count": 0, "instances": {} },
        "active_projects": { "project_count": 0, "top_projects_by_events_handled": {}, "instances": {} },
        "events": events,
        "jobs": zero_jobs(None),
    }))
    .into_response()
}

/// `get_past_usage_data` (packit_service/service/tasks.py) over no projects.
fn past_usage() -> Value {
    json!({
        "active_projects": { "project_count": 0, "top_projects_by_events_handled": {}, "instances": {} },
        "jobs": zero_jobs(Some("active_projects")),
        "onboarded_projects_q1_2024": 0,
    })
}

/// `get_usage_interval_data` (tasks.py) over no projects: `count` intervals of
/// `days`/`hours` back from the current hour, every count 0.
fn intervals(args: &BTreeMap<String, String>) -> Response {
    let int = |name: &str, default: i64| args.get(name).map(|v| v.parse::<i64>()).unwrap_or(Ok(default));
    let (Ok(count), Ok(hours), Ok(days)) = (int("count", 10), int("hours", 0), int("days", 0)) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "message": "Internal Server Error" })))
            .into_response();
    };
    let count = count.clamp(0, 1000);
    let delta = Duration::days(days.clamp(0, 3660)) + Duration::hours(hours.clamp(0, 87840));
    let now = Utc::now().naive_utc();
    let current = now.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(now);
    let legend: Vec<NaiveDateTime> = (0..count).map(|i| current - delta * i as i32).collect();
    let label = |t: &NaiveDateTime| t.format(if hours != 0 && days == 0 { "%H:%M" } else { "%Y-%m-%d" }).to_string();
    let zeros: Vec<Value> = legend.iter().rev().map(|t| json!({ "x": label(t), "y": 0 })).collect();
    let per_job: Map<String, Value> = JOB_TABLES.iter().map(|j| (j.to_string(), json!(zeros))).collect();
    let per_event: Map<String, Value> = EVENT_TYPES.iter().map(|e| (e.to_string(), json!(zeros))).collect();
    let onboarded: Map<String, Value> = JOB_TABLES.iter().map(|j| (j.to_string(), json!([]))).collect();
    let iso = |t: Option<&NaiveDateTime>| t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
    Json(json!({
        "jobs": per_job,
        "jobs_project_count": per_job,
        "jobs_project_cumulative_count": per_job,
        "events": per_event,
        "from": iso(legend.first()),
        "to": iso(legend.last()),
        "active_projects": zeros,
        "active_projects_cumulative": zeros,
        "onboarded_projects": [],
        "onboarded_projects_per_job": onboarded,
    }))
    .into_response()
}
