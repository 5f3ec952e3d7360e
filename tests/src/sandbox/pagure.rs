//! Pagure (src.fedoraproject.org) sandbox: API 0 flags, comments, branches, and raw
//! files, with Pagure's token check and response shapes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::faults::{self, Faults};

/// One `POST …/flag` as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagPost {
    pub pr: String,
    pub username: String,
    pub comment: String,
    pub url: String,
    pub status: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentPost {
    pub pr: String,
    pub body: String,
}

/// The API token the sandbox accepts (a known value, so logs can be checked for it).
pub const TOKEN: &str = "sandbox-pagure-token";

#[derive(Default)]
struct Data {
    flag_posts: Vec<FlagPost>,
    comments: Vec<CommentPost>,
    branches: HashMap<String, Vec<String>>,
    files: HashMap<String, String>,
}

pub struct PagureSandbox {
    pub url: String,
    pub token: String,
    pub faults: Arc<Faults>,
    data: Arc<Mutex<Data>>,
}

#[derive(Clone)]
struct AppState {
    token: String,
    data: Arc<Mutex<Data>>,
}

impl PagureSandbox {
    pub async fn start() -> PagureSandbox {
        let token = TOKEN.to_owned();
        let data = Arc::new(Mutex::new(Data::default()));
        let faults = Arc::new(Faults::default());
        let state = AppState { token: token.clone(), data: data.clone() };
        let router = Router::new()
            .route("/api/0/{ns}/{repo}/pull-request/{id}/flag", post(add_flag))
            .route("/api/0/{ns}/{repo}/pull-request/{id}/comment", post(add_comment))
            .route("/api/0/{ns}/{repo}/git/branches", get(branches))
            .route("/{ns}/{repo}/raw/{commit}/f/{*file}", get(raw_file))
            .route("/fork/{user}/{ns}/{repo}/raw/{commit}/f/{*file}", get(raw_fork_file))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        PagureSandbox { url, token, faults, data }
    }

    /// Declares the branches of `ns/repo` (the project then exists).
    pub fn set_branches(&self, project: &str, branches: &[&str]) {
        self.data.lock().unwrap().branches.insert(project.to_owned(), branches.iter().map(|b| b.to_string()).collect());
    }

    /// Adds a file at a commit; `repo_path` is `rpms/foo` or `fork/<user>/rpms/foo`.
    pub fn add_file(&self, repo_path: &str, commit: &str, file: &str, content: &str) {
        self.data.lock().unwrap().files.insert(format!("{repo_path}@{commit}:{file}"), content.to_owned());
    }

    pub fn flag_posts(&self) -> Vec<FlagPost> {
        self.data.lock().unwrap().flag_posts.clone()
    }

    /// The current state of each flag (last post per uid), as Pagure shows them.
    pub fn flags(&self) -> Vec<FlagPost> {
        let posts = self.flag_posts();
        let mut latest: Vec<FlagPost> = Vec::new();
        for p in posts {
            match latest.iter_mut().find(|l| l.uid == p.uid && l.pr == p.pr) {
                Some(l) => *l = p,
                None => latest.push(p),
            }
        }
        latest
    }

    pub fn comments(&self) -> Vec<CommentPost> {
        self.data.lock().unwrap().comments.clone()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message, "error_code": code }))).into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let expected = format!("token {}", state.token);
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == expected => Ok(()),
        _ => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "EINVALIDTOK",
            "Invalid or expired token. Please visit https://src.fedoraproject.org/settings#nav-api-tab to get or renew your API token.",
        ))),
    }
}

#[derive(Deserialize)]
struct FlagForm {
    username: Option<String>,
    comment: Option<String>,
    url: Option<String>,
    status: Option<String>,
    uid: Option<String>,
}

async fn add_flag(
    State(state): State<AppState>,
    Path((ns, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Form(form): Form<FlagForm>,
) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return *r;
    }
    let (Some(username), Some(comment), Some(url)) = (form.username, form.comment, form.url) else {
        return error(StatusCode::BAD_REQUEST, "EINVALIDREQ", "Invalid or incomplete input submitted");
    };
    let status = form.status.unwrap_or_else(|| "pending".into());
    if !["success", "failure", "error", "pending", "canceled"].contains(&status.as_str()) {
        return error(StatusCode::BAD_REQUEST, "EINVALIDREQ", "Invalid or incomplete input submitted");
    }
    let uid = form.uid.unwrap_or_else(|| uuid_like(&username));
    if uid.len() > 32 {
        return error(StatusCode::BAD_REQUEST, "EINVALIDREQ", "Invalid or incomplete input submitted");
    }
    let pr = format!("{ns}/{repo}#{id}");
    let mut data = state.data.lock().unwrap();
    let existed = data.flag_posts.iter().any(|p| p.pr == pr && p.uid == uid);
    data.flag_posts.push(FlagPost {
        pr,
        username: username.clone(),
        comment: comment.clone(),
        url: url.clone(),
        status: status.clone(),
        uid: uid.clone(),
    });
    Json(json!({
        "flag": { "comment": comment, "percent": null, "status": status, "url": url, "username": username },
        "message": if existed { "Flag updated" } else { "Flag added" },
        "uid": uid,
    }))
    .into_response()
}

fn uuid_like(seed: &str) -> String {
    format!("{:0>32}", seed.len())
}

#[derive(Deserialize)]
struct CommentForm {
    comment: Option<String>,
}

async fn add_comment(
    State(state): State<AppState>,
    Path((ns, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Form(form): Form<CommentForm>,
) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return *r;
    }
    let Some(body) = form.comment.filter(|c| !c.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "EINVALIDREQ", "Invalid or incomplete input submitted");
    };
    state.data.lock().unwrap().comments.push(CommentPost { pr: format!("{ns}/{repo}#{id}"), body });
    Json(json!({ "message": "Comment added" })).into_response()
}

async fn branches(State(state): State<AppState>, Path((ns, repo)): Path<(String, String)>) -> Response {
    match state.data.lock().unwrap().branches.get(&format!("{ns}/{repo}")) {
        Some(b) => Json(json!({ "branches": b, "total_branches": b.len() })).into_response(),
        None => error(StatusCode::NOT_FOUND, "ENOPROJECT", "Project not found"),
    }
}

fn file(state: &AppState, repo_path: String, commit: &str, file: &str) -> Response {
    match state.data.lock().unwrap().files.get(&format!("{repo_path}@{commit}:{file}")) {
        Some(content) => content.clone().into_response(),
        None => (StatusCode::NOT_FOUND, "Page not found").into_response(),
    }
}

async fn raw_file(
    State(state): State<AppState>,
    Path((ns, repo, commit, f)): Path<(String, String, String, String)>,
) -> Response {
    file(&state, format!("{ns}/{repo}"), &commit, &f)
}

async fn raw_fork_file(
    State(state): State<AppState>,
    Path((user, ns, repo, commit, f)): Path<(String, String, String, String, String)>,
) -> Response {
    file(&state, format!("fork/{user}/{ns}/{repo}"), &commit, &f)
}
