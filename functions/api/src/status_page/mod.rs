//! The status page: what a packager wants after clicking a PR flag. `/` lists the
//! newest pipelines (filter by package and state), `/pr/<ns>/<repo>/<id>` shows
//! each commit of a PR with its Koji builds and tests. Server-rendered HTML, no
//! front-end build.

mod query;
mod view;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use fedora_ci::Context;
use fedora_ci::config::Forge;
use fedora_ci::config::koji::PRIMARY;
use maud::Markup;
use serde::Deserialize;

use query::{Build, Test, category};
use view::{Commit, Line, human, utc};

/// How many pipelines the index shows.
const INDEX_LIMIT: i64 = 50;

pub fn routes() -> Router<Context> {
    Router::new()
        .route("/", get(index))
        .route("/pr/{namespace}/{repo}/{id}", get(pagure_pr))
        .route("/forgejo/pr/{namespace}/{repo}/{id}", get(forgejo_pr))
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    package: Option<String>,
    state: Option<String>,
}

async fn index(State(ctx): State<Context>, Query(f): Query<Filters>) -> Response {
    let package = f.package.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let state = f.state.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = state.filter(|s| !query::states().any(|known| known == *s)) {
        let known = query::states().collect::<Vec<_>>().join(", ");
        return html(StatusCode::BAD_REQUEST, view::message("Unknown state", &format!("'{s}' is not one of {known}.")));
    }
    match query::recent_heads(&ctx.pool, package, state, INDEX_LIMIT).await {
        Ok(heads) => html(StatusCode::OK, view::index(&with_forge(&ctx, heads), package, state)),
        Err(e) => unavailable(e),
    }
}

/// Marks each head with its forge, told by the instance its project is on.
fn with_forge(ctx: &Context, heads: Vec<query::Head>) -> Vec<query::Head> {
    let forgejo = ctx.config.forge_url(Forge::Forgejo).as_str().trim_end_matches('/');
    heads
        .into_iter()
        .map(|mut h| {
            if h.instance_url.as_deref().map(|u| u.trim_end_matches('/')) == Some(forgejo) {
                h.forge = Forge::Forgejo;
            }
            h
        })
        .collect()
}

async fn pagure_pr(State(ctx): State<Context>, path: Path<(String, String, String)>) -> Response {
    pr(ctx, Forge::Pagure, path).await
}

async fn forgejo_pr(State(ctx): State<Context>, path: Path<(String, String, String)>) -> Response {
    pr(ctx, Forge::Forgejo, path).await
}

/// One PR's page: `/pr/<ns>/<repo>/<id>` on Pagure, `/forgejo/pr/…` on Forgejo,
/// so a package with PRs on both forges never mixes them.
async fn pr(ctx: Context, forge: Forge, Path((namespace, repo, id)): Path<(String, String, String)>) -> Response {
    let Ok(pr_id) = id.parse::<i64>() else {
        return html(
            StatusCode::NOT_FOUND,
            view::message("No such pull request", &format!("'{id}' is not a PR number.")),
        );
    };
    match commits(&ctx, forge, &namespace, &repo, pr_id).await {
        Ok(commits) => {
            let status = if commits.is_empty() { StatusCode::NOT_FOUND } else { StatusCode::OK };
            let project = project_url(&ctx, forge, commits.first().map(|c| &c.head), &namespace, &repo);
            let pr_url = match forge {
                Forge::Pagure => format!("{project}/pull-request/{pr_id}"),
                Forge::Forgejo => format!("{project}/pulls/{pr_id}"),
            };
            html(status, view::pr_page(&namespace, &repo, pr_id, &pr_url, &commits))
        }
        Err(e) => unavailable(e),
    }
}

async fn commits(
    ctx: &Context,
    forge: Forge,
    namespace: &str,
    repo: &str,
    pr_id: i64,
) -> Result<Vec<Commit>, sqlx::Error> {
    let forgejo = ctx.config.forge_url(Forge::Forgejo).as_str().trim_end_matches('/');
    let on_forgejo = forge == Forge::Forgejo;
    let heads = with_forge(ctx, query::pr_heads(&ctx.pool, forgejo, on_forgejo, namespace, repo, pr_id).await?);
    let events: Vec<i32> = heads.iter().map(|h| h.event_id).collect();
    let builds = query::builds(&ctx.pool, &events).await?;
    let tests = query::tests(&ctx.pool, &events).await?;
    let analyses = query::analyses(&ctx.pool, &events).await?;
    Ok(heads
        .into_iter()
        .map(|head| Commit {
            commit_url: head
                .commit_sha
                .as_ref()
                .map(|sha| commit_url(&project_url(ctx, forge, Some(&head), namespace, repo), forge, sha)),
            builds: builds.iter().filter(|b| b.event_id == head.event_id).map(|b| build_line(ctx, b)).collect(),
            tests: tests.iter().filter(|t| t.event_id == head.event_id).map(test_line).collect(),
            analyses: analyses.iter().filter(|a| a.event_id == head.event_id).map(analysis_view).collect(),
            head,
        })
        .collect())
}

/// The project's dist-git page as stored with it, else built from the forge's URL.
fn project_url(ctx: &Context, forge: Forge, head: Option<&query::Head>, namespace: &str, repo: &str) -> String {
    match head.and_then(|h| h.project_url.as_deref()) {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("{}/{namespace}/{repo}", ctx.config.forge_url(forge).as_str().trim_end_matches('/')),
    }
}

/// A commit's page: Pagure `<project>/c/<sha>`, Forgejo `<project>/commit/<sha>`.
fn commit_url(project: &str, forge: Forge, sha: &str) -> String {
    match forge {
        Forge::Pagure => format!("{project}/c/{sha}"),
        Forge::Forgejo => format!("{project}/commit/{sha}"),
    }
}

fn build_line(ctx: &Context, b: &Build) -> Line {
    let status = b.status.clone().unwrap_or_else(|| "unknown".to_owned());
    let now = Utc::now();
    let duration = match (b.build_start_time, b.build_finished_time) {
        (Some(start), Some(end)) => Some(human(end - start)),
        (Some(start), None) if category(&status) == "running" => Some(format!("running for {}", human(now - start))),
        (None, _) if category(&status) == "running" => {
            b.build_submitted_time.map(|t| format!("waiting for {}", human(now - t)))
        }
        _ => None,
    };
    let mut links = Vec::new();
    let task_url = ctx.clients.koji_task_url(&b.koji_instance, b.task_id.as_deref(), b.web_url.as_deref());
    if let (Some(url), Some(task)) = (task_url, &b.task_id) {
        links.push((format!("Koji task {task}"), url));
    }
    if let Some(logs) = b.build_logs_urls.as_ref().and_then(|l| l.as_object()) {
        for (arch, url) in logs {
            if let Some(url) = url.as_str() {
                links.push((format!("{arch} log"), url.to_owned()));
            }
        }
    }
    Line {
        name: "Scratch build".to_owned(),
        target: build_target(ctx, b),
        notes: notes(&status, b.retry_count, b.next_attempt_at, b.status_reason.as_deref(), b.upstream_checked_at),
        status,
        duration,
        links,
    }
}

/// The Koji target, and for an extra hub the label its flag carries
/// (`f44-riscv (riscv64)`), so the hub is visible next to the primary build.
fn build_target(ctx: &Context, b: &Build) -> String {
    let target = b.target.clone().unwrap_or_default();
    if b.koji_instance == PRIMARY {
        return target;
    }
    let label = b.flag_label.clone().unwrap_or_else(|| {
        ctx.config
            .koji_instances
            .iter()
            .find(|i| i.name == b.koji_instance)
            .map_or_else(|| b.koji_instance.clone(), |i| i.flag_label.clone())
    });
    format!("{target} ({label})")
}

fn analysis_view(a: &query::Analysis) -> view::Analysis {
    let explanation =
        a.log_detective_response.as_ref().map(fedora_ci::messages::log_detective::Explanation::from_response);
    let note = match a.status.as_str() {
        "running" => Some(match (a.analysis_id.as_ref(), a.next_attempt_at) {
            (None, Some(at)) => format!("Log Detective is unavailable; the request is retried at {}.", utc(at)),
            (None, None) => "Sending the build logs to Log Detective…".to_owned(),
            (Some(_), _) => "Log Detective is analysing the build logs…".to_owned(),
        }),
        _ => a.error_msg.clone(),
    };
    view::Analysis {
        id: a.id,
        target: a.target.clone().unwrap_or_default(),
        status: a.status.clone(),
        explanation,
        note,
    }
}

fn test_line(t: &Test) -> Line {
    let status = t.status.clone().unwrap_or_else(|| "unknown".to_owned());
    let duration = match (t.submitted_time, t.finished_time) {
        (Some(start), Some(end)) => Some(human(end - start)),
        (Some(start), None) if category(&status) == "running" => {
            Some(format!("running for {}", human(Utc::now() - start)))
        }
        _ => None,
    };
    let links = t.web_url.iter().map(|u| ("Results and logs".to_owned(), u.clone())).collect();
    Line {
        name: t.test_name.clone().unwrap_or_default(),
        target: t.target.clone().unwrap_or_default(),
        notes: notes(&status, t.retry_count, t.next_attempt_at, t.status_reason.as_deref(), t.upstream_checked_at),
        status,
        duration,
        links,
    }
}

/// What a packager should know beyond the state: a scheduled retry, why it ended
/// the way it did (timed out, superseded, an upstream error), retries it took, and
/// for unfinished work when the poller last asked Koji / Testing Farm about it.
fn notes(
    status: &str,
    retry_count: i32,
    next_attempt_at: Option<chrono::DateTime<Utc>>,
    reason: Option<&str>,
    checked: Option<chrono::DateTime<Utc>>,
) -> Vec<String> {
    let mut notes = Vec::new();
    match (status, next_attempt_at) {
        ("retry", Some(at)) => notes.push(format!("Submission failed; retry {retry_count} scheduled at {}", utc(at))),
        (_, _) if retry_count == 2 => notes.push("Submitted after 1 retry".to_owned()),
        (_, _) if retry_count > 2 => notes.push(format!("Submitted after {} retries", retry_count - 1)),
        _ => {}
    }
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        notes.push(reason.to_owned());
    }
    if category(status) == "running"
        && let Some(t) = checked
    {
        notes.push(format!("last checked {}", utc(t)));
    }
    notes
}

fn html(status: StatusCode, body: Markup) -> Response {
    (status, body).into_response()
}

fn unavailable(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "status page: database unavailable");
    html(StatusCode::SERVICE_UNAVAILABLE, view::message("Try again soon", "The database is not answering right now."))
}
