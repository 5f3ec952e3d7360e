//! Forgejo (forge.fedoraproject.org) sandbox: API v1 repositories, branches,
//! pull requests, commit statuses (with their read-back), issue comments, raw
//! files, `GET /user` and `GET /version`, with Forgejo's token and scope checks,
//! validation and error bodies.
//!
//! Every behaviour follows Forgejo's own source (codeberg.org/forgejo/forgejo) and
//! its OpenAPI document (`templates/swagger/v1_json.tmpl`); each handler names the
//! route handler it follows. Where unsure, the sandbox is stricter.
//!
//! Like the Pagure sandbox, it learns PRs (and each new head) from the Forgejo
//! messages a test sends ([`fedora_ci::dev::testing::observe_sends`]) or from
//! [`ForgejoSandbox::open_pr`] and [`ForgejoSandbox::push`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::{self, Faults};

/// The access token the sandbox accepts for the product (a known value, so logs
/// can be checked for it).
pub const TOKEN: &str = "sandbox-forgejo-token";
/// The user the token belongs to (what `GET /user` answers).
pub const TOKEN_USER: &str = "packit-ci";
/// The scopes of the product's token: exactly what it needs (statuses, comments).
pub const TOKEN_SCOPES: [&str; 2] = ["write:repository", "write:issue"];

/// One commit status as Forgejo stores it (`models/git/commit_status.go`
/// `CommitStatus`) and serves it (`convert.ToCommitStatus`: the state is under
/// `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub id: i64,
    /// `owner/name` the status was posted on.
    pub repo: String,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: String,
    pub target_url: String,
    pub creator: String,
}

/// A comment posted on a PR (its issue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentPost {
    /// `owner/name#number`.
    pub pr: String,
    pub body: String,
    pub user: String,
}

#[derive(Debug, Clone)]
struct Token {
    user: String,
    scopes: Vec<String>,
    valid: bool,
}

#[derive(Debug, Clone)]
struct Pr {
    json: Value,
    /// Every head the PR has had: Forgejo keeps them under `refs/pull/<n>/head`
    /// history, so statuses may still be posted on them.
    heads: Vec<String>,
}

impl Pr {
    fn head(&self) -> String {
        self.json["head"]["sha"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct Data {
    repos: HashMap<String, Vec<String>>,
    prs: HashMap<(String, u64), Pr>,
    statuses: Vec<CommitStatus>,
    comments: Vec<CommentPost>,
    files: HashMap<String, String>,
    tokens: HashMap<String, Token>,
    next_id: i64,
}

impl Data {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers the PR a `pull_request` or `issue_comment` payload describes:
    /// its repository, target branch and head; a `closed` one closes it.
    fn learn(&mut self, body: &Value) {
        let pr = &body["pull_request"];
        let (Some(number), Some(repo)) = (pr["number"].as_u64(), body["repository"]["full_name"].as_str()) else {
            return;
        };
        let Some(head) = pr["head"]["sha"].as_str() else { return };
        let branches = self.repos.entry(repo.to_owned()).or_default();
        if let Some(base) = pr["base"]["ref"].as_str()
            && !branches.iter().any(|b| b == base)
        {
            branches.push(base.to_owned());
        }
        let mut json = pr.clone();
        if body["action"] == "closed" {
            json["state"] = "closed".into();
        } else if body["action"] == "reopened" {
            json["state"] = "open".into();
        }
        let entry =
            self.prs.entry((repo.to_owned(), number)).or_insert_with(|| Pr { json: json.clone(), heads: vec![] });
        entry.json = json;
        if !entry.heads.iter().any(|h| h == head) {
            entry.heads.push(head.to_owned());
        }
    }

    /// Is `sha` a commit of `repo`? (A head, current or former, of one of its PRs.)
    fn has_commit(&self, repo: &str, sha: &str) -> bool {
        self.prs.iter().any(|((r, _), pr)| r == repo && pr.heads.iter().any(|h| h == sha))
    }
}

pub struct ForgejoSandbox {
    pub url: String,
    pub token: String,
    pub faults: Arc<Faults>,
    data: Arc<Mutex<Data>>,
    observer: crate::broker::EventObserver,
}

#[derive(Clone)]
struct AppState {
    data: Arc<Mutex<Data>>,
    url: Arc<Mutex<String>>,
}

impl ForgejoSandbox {
    /// Starts the sandbox and subscribes it to the Forgejo messages this thread
    /// (the test's) sends.
    pub async fn start() -> ForgejoSandbox {
        let mut data = Data::default();
        data.tokens.insert(
            TOKEN.to_owned(),
            Token {
                user: TOKEN_USER.into(),
                scopes: TOKEN_SCOPES.iter().map(|s| s.to_string()).collect(),
                valid: true,
            },
        );
        let data = Arc::new(Mutex::new(data));
        let faults = Arc::new(Faults::default());
        let own_url = Arc::new(Mutex::new(String::new()));
        let state = AppState { data: data.clone(), url: own_url.clone() };
        let router = Router::new()
            .route("/api/v1/version", get(version))
            .route("/api/v1/user", get(user))
            .route("/api/v1/repos/{owner}/{repo}", get(repository))
            .route("/api/v1/repos/{owner}/{repo}/branches/{branch}", get(branch))
            .route("/api/v1/repos/{owner}/{repo}/pulls/{index}", get(pull_request))
            .route("/api/v1/repos/{owner}/{repo}/statuses/{sha}", post(create_status).get(list_statuses))
            .route("/api/v1/repos/{owner}/{repo}/commits/{git_ref}/statuses", get(list_statuses))
            .route("/api/v1/repos/{owner}/{repo}/commits/{git_ref}/status", get(combined_status))
            .route("/api/v1/repos/{owner}/{repo}/issues/{index}/comments", post(create_comment))
            .route("/api/v1/repos/{owner}/{repo}/raw/{*path}", get(raw_file))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        *own_url.lock().unwrap() = url.clone();
        let observer = super::learn_from_messages(&data, ".forgejo.", |data: &mut Data, _, body| data.learn(body));
        ForgejoSandbox { url, token: TOKEN.to_owned(), faults, data, observer }
    }

    /// Learns PRs from the events it is given (type, data), on any thread: for a
    /// broker that sees the messages (`make run`'s local broker).
    pub fn event_observer(&self) -> crate::broker::EventObserver {
        self.observer.clone()
    }

    /// Declares the branches of `owner/name` (the repository then exists).
    pub fn set_branches(&self, repo: &str, branches: &[&str]) {
        self.data.lock().unwrap().repos.insert(repo.to_owned(), branches.iter().map(|b| b.to_string()).collect());
    }

    /// A push to the PR's branch: `sha` becomes its head.
    pub fn push(&self, repo: &str, number: u64, sha: &str) {
        let mut data = self.data.lock().unwrap();
        let pr = data.prs.get_mut(&(repo.to_owned(), number)).expect("push to a PR the sandbox knows");
        pr.json["head"]["sha"] = sha.into();
        pr.heads.push(sha.to_owned());
    }

    /// The PR's head commit.
    pub fn head(&self, repo: &str, number: u64) -> Option<String> {
        self.data.lock().unwrap().prs.get(&(repo.to_owned(), number)).map(Pr::head)
    }

    /// Adds a file at a commit of `owner/name`.
    pub fn add_file(&self, repo: &str, commit: &str, file: &str, content: &str) {
        self.data.lock().unwrap().files.insert(format!("{repo}@{commit}:{file}"), content.to_owned());
    }

    /// Makes the product's token invalid (Forgejo then answers 401).
    pub fn revoke_token(&self) {
        self.data.lock().unwrap().tokens.get_mut(TOKEN).expect("the token").valid = false;
    }

    /// The product's token works again.
    pub fn renew_token(&self) {
        self.data.lock().unwrap().tokens.get_mut(TOKEN).expect("the token").valid = true;
    }

    /// Adds another token of `user` with `scopes`.
    pub fn add_token(&self, value: &str, user: &str, scopes: &[&str]) {
        let token = Token { user: user.into(), scopes: scopes.iter().map(|s| s.to_string()).collect(), valid: true };
        self.data.lock().unwrap().tokens.insert(value.to_owned(), token);
    }

    /// Every status posted, oldest first (what we sent).
    pub fn statuses(&self) -> Vec<CommitStatus> {
        self.data.lock().unwrap().statuses.clone()
    }

    /// What the PR `owner/name#number` shows: the newest status of each context
    /// on its current head, as `GET …/commits/{head}/status` answers them.
    pub fn shown(&self, repo: &str, number: u64) -> Vec<CommitStatus> {
        let data = self.data.lock().unwrap();
        let Some(pr) = data.prs.get(&(repo.to_owned(), number)) else { return vec![] };
        latest_per_context(&data.statuses, repo, &pr.head())
    }

    /// The newest status of each context on `sha` of `repo`.
    pub fn shown_on(&self, repo: &str, sha: &str) -> Vec<CommitStatus> {
        latest_per_context(&self.data.lock().unwrap().statuses, repo, sha)
    }

    pub fn comments(&self) -> Vec<CommentPost> {
        self.data.lock().unwrap().comments.clone()
    }
}

/// `git_model.GetLatestCommitStatus`: per context, the status with the highest
/// index; ordered by context as the combined status lists them.
fn latest_per_context(statuses: &[CommitStatus], repo: &str, sha: &str) -> Vec<CommitStatus> {
    let mut latest: Vec<CommitStatus> = Vec::new();
    for s in statuses.iter().filter(|s| s.repo == repo && s.sha == sha) {
        match latest.iter_mut().find(|l| l.context == s.context) {
            Some(l) => *l = s.clone(),
            None => latest.push(s.clone()),
        }
    }
    latest.sort_by(|a, b| a.context.cmp(&b.context));
    latest
}

/// `context.APIContext.Error` / `NotFound`: `{"message", "url"}` (and `errors`
/// for a not-found), `url` pointing at the instance's API docs.
fn api_error(state: &AppState, status: StatusCode, message: &str) -> Response {
    let url = format!("{}/api/swagger", state.url.lock().unwrap());
    let body = if status == StatusCode::NOT_FOUND {
        json!({ "message": message, "url": url, "errors": [] })
    } else {
        json!({ "message": message, "url": url })
    };
    (status, Json(body)).into_response()
}

fn not_found(state: &AppState) -> Response {
    api_error(state, StatusCode::NOT_FOUND, "The target couldn't be found.")
}

/// `Authorization: token <value>` (also `Bearer`), as `services/auth/oauth2.go`
/// `parseToken` reads it.
fn token_str(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, value) = auth.trim().split_once(' ')?;
    matches!(scheme.to_ascii_lowercase().as_str(), "token" | "bearer").then(|| value.trim().to_owned())
}

/// `reqToken()` and `tokenRequiresScopes(scope)` (`routers/api/v1/api.go`): no
/// valid token is 401 "token is required"; a token without the scope (or a
/// `write:` scope's `read:` form only) is 403 naming the scope. The token's user.
fn require_token(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<String, Box<Response>> {
    let data = state.data.lock().unwrap();
    let Some(token) = token_str(headers).and_then(|t| data.tokens.get(&t).cloned()).filter(|t| t.valid) else {
        return Err(Box::new(api_error(state, StatusCode::UNAUTHORIZED, "token is required")));
    };
    let (level, category) = scope.split_once(':').unwrap_or(("read", scope));
    let has =
        token.scopes.iter().any(|s| s == "all" || s == scope || (level == "read" && s == &format!("write:{category}")));
    if !has {
        let message = format!("token does not have at least one of required scope(s): [{scope}]");
        return Err(Box::new(api_error(state, StatusCode::FORBIDDEN, &message)));
    }
    Ok(token.user)
}

/// `GET /version` (`misc.Version`).
async fn version() -> Json<Value> {
    Json(json!({ "version": "11.0.0+gitea-1.22.0" }))
}

/// `GET /user` (`user.GetAuthenticatedUser`): needs a token (`read:user`; any
/// valid token here, stricter on nothing we send).
async fn user(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let data = state.data.lock().unwrap();
    match token_str(&headers).and_then(|t| data.tokens.get(&t).cloned()).filter(|t| t.valid) {
        Some(t) => Json(json!({ "id": 1, "login": t.user, "username": t.user })).into_response(),
        None => {
            drop(data);
            api_error(&state, StatusCode::UNAUTHORIZED, "token is required")
        }
    }
}

fn repo_json(full_name: &str, base_url: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or(("", full_name));
    json!({
        "id": 1, "name": name, "full_name": full_name, "owner": { "login": owner, "username": owner },
        "html_url": format!("{base_url}/{full_name}"), "clone_url": format!("{base_url}/{full_name}.git"),
        "default_branch": "rawhide", "private": false, "fork": false, "empty": false,
    })
}

/// `GET /repos/{owner}/{repo}` (`repo.Get`): 404 for an unknown repository.
async fn repository(State(state): State<AppState>, Path((owner, repo)): Path<(String, String)>) -> Response {
    let full = format!("{owner}/{repo}");
    if !state.data.lock().unwrap().repos.contains_key(&full) {
        return not_found(&state);
    }
    let url = state.url.lock().unwrap().clone();
    Json(repo_json(&full, &url)).into_response()
}

/// `GET /repos/{owner}/{repo}/branches/{branch}` (`repo.GetBranch`): 404 for an
/// unknown repository or branch.
async fn branch(
    State(state): State<AppState>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> Response {
    let known = state
        .data
        .lock()
        .unwrap()
        .repos
        .get(&format!("{owner}/{repo}"))
        .is_some_and(|branches| branches.iter().any(|b| b == &branch));
    if !known {
        return not_found(&state);
    }
    Json(json!({ "name": branch, "commit": { "id": "0".repeat(40) }, "protected": false })).into_response()
}

/// `GET /repos/{owner}/{repo}/pulls/{index}` (`repo.GetPullRequest`).
async fn pull_request(
    State(state): State<AppState>,
    Path((owner, repo, index)): Path<(String, String, String)>,
) -> Response {
    let Ok(index) = index.parse::<u64>() else { return not_found(&state) };
    let pr = state.data.lock().unwrap().prs.get(&(format!("{owner}/{repo}"), index)).cloned();
    match pr {
        Some(pr) => Json(pr.json).into_response(),
        None => not_found(&state),
    }
}

fn status_json(s: &CommitStatus, base_url: &str) -> Value {
    json!({
        "id": s.id, "status": s.state, "target_url": s.target_url, "description": s.description,
        "url": format!("{base_url}/api/v1/repos/{}/statuses/{}", s.repo, s.sha), "context": s.context,
        "creator": { "login": s.creator, "username": s.creator },
        "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z",
    })
}

/// `POST /repos/{owner}/{repo}/statuses/{sha}` (`repo.NewCommitStatus`, scope
/// `write:repository`): the form is `CreateStatusOption`; `state` must be one of
/// Forgejo's five (`CommitStatusState`; Forgejo's column is `VARCHAR(7)`, so
/// e.g. `canceled` can never be stored: refused here with 422, stricter); an empty
/// `context` is `default` (`NewCommitStatus`). An unknown repository is 404; a sha
/// the repository does not have fails `gitRepo.GetCommit` inside
/// `CreateCommitStatus`, which the handler answers 500.
async fn create_status(
    State(state): State<AppState>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match require_token(&state, &headers, "write:repository") {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let full = format!("{owner}/{repo}");
    if !state.data.lock().unwrap().repos.contains_key(&full) {
        return not_found(&state);
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or_default().trim() == "application/json");
    let form: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) if is_json => v,
        _ => return api_error(&state, StatusCode::UNPROCESSABLE_ENTITY, "[]: Invalid JSON body"),
    };
    let field = |name: &str| form[name].as_str().unwrap_or_default().to_owned();
    let state_value = field("state");
    if !["pending", "success", "error", "failure", "warning"].contains(&state_value.as_str()) {
        let message = format!("[State]: '{state_value}' is not a commit status state");
        return api_error(&state, StatusCode::UNPROCESSABLE_ENTITY, &message);
    }
    let mut data = state.data.lock().unwrap();
    if !data.has_commit(&full, &sha) {
        drop(data);
        let message = format!("GetCommit[{sha}]: object does not exist [id: {sha}, rel_path: ]");
        return api_error(&state, StatusCode::INTERNAL_SERVER_ERROR, &message);
    }
    let context = Some(field("context")).filter(|c| !c.is_empty()).unwrap_or_else(|| "default".to_owned());
    let status = CommitStatus {
        id: data.next_id(),
        repo: full,
        sha,
        state: state_value,
        context,
        description: field("description"),
        target_url: field("target_url"),
        creator: user,
    };
    data.statuses.push(status.clone());
    drop(data);
    let url = state.url.lock().unwrap().clone();
    (StatusCode::CREATED, Json(status_json(&status, &url))).into_response()
}

#[derive(serde::Deserialize)]
struct ListQuery {
    sort: Option<String>,
}

/// Every status of `git_ref` in `owner/repo`, oldest first, and the sandbox's
/// URL; 404 for an unknown repository.
fn statuses_of(
    state: &AppState,
    owner: &str,
    repo: &str,
    git_ref: &str,
) -> Result<(Vec<CommitStatus>, String), Box<Response>> {
    let full = format!("{owner}/{repo}");
    let data = state.data.lock().unwrap();
    if !data.repos.contains_key(&full) {
        drop(data);
        return Err(Box::new(not_found(state)));
    }
    let statuses = data.statuses.iter().filter(|s| s.repo == full && s.sha == git_ref).cloned().collect();
    Ok((statuses, state.url.lock().unwrap().clone()))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/statuses` (and the older
/// `…/statuses/{sha}`): every status of the commit, newest first (the default
/// sort, `created_unix DESC`), or oldest first with `sort=oldest`.
async fn list_statuses(
    State(state): State<AppState>,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    let (statuses, url) = match statuses_of(&state, &owner, &repo, &git_ref) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let mut list: Vec<Value> = statuses.iter().map(|s| status_json(s, &url)).collect();
    if q.sort.as_deref() != Some("oldest") {
        list.reverse();
    }
    Json(list).into_response()
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/status` (`repo.GetCombinedCommitStatusByRef`):
/// the newest status per context and the worst state of them
/// (`CalcCommitStatus`: error < failure < warning < pending < success).
async fn combined_status(
    State(state): State<AppState>,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
) -> Response {
    let (statuses, url) = match statuses_of(&state, &owner, &repo, &git_ref) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let latest = latest_per_context(&statuses, &format!("{owner}/{repo}"), &git_ref);
    let rank = |s: &str| ["error", "failure", "warning", "pending", "success"].iter().position(|x| *x == s);
    let worst = latest.iter().min_by_key(|s| rank(&s.state)).map(|s| s.state.clone()).unwrap_or_default();
    let statuses: Vec<Value> = latest.iter().map(|s| status_json(s, &url)).collect();
    Json(json!({ "state": worst, "sha": git_ref, "total_count": statuses.len(), "statuses": statuses })).into_response()
}

/// `POST /repos/{owner}/{repo}/issues/{index}/comments` (`repo.CreateIssueComment`,
/// scope `write:issue`): `CreateIssueCommentOption.body` is `binding:"Required"`
/// (422 when missing or empty); an unknown issue is 404.
async fn create_comment(
    State(state): State<AppState>,
    Path((owner, repo, index)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match require_token(&state, &headers, "write:issue") {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let full = format!("{owner}/{repo}");
    let Ok(index) = index.parse::<u64>() else { return not_found(&state) };
    if !state.data.lock().unwrap().prs.contains_key(&(full.clone(), index)) {
        return not_found(&state);
    }
    let form: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(text) = form["body"].as_str().filter(|b| !b.trim().is_empty()) else {
        return api_error(&state, StatusCode::UNPROCESSABLE_ENTITY, "[Body]: Required");
    };
    let mut data = state.data.lock().unwrap();
    let id = data.next_id();
    data.comments.push(CommentPost { pr: format!("{full}#{index}"), body: text.to_owned(), user: user.clone() });
    drop(data);
    let url = state.url.lock().unwrap().clone();
    let reply = json!({
        "id": id, "body": text, "user": { "login": user, "username": user },
        "html_url": format!("{url}/{full}/pulls/{index}#issuecomment-{id}"),
        "issue_url": format!("{url}/{full}/issues/{index}"),
        "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z",
    });
    (StatusCode::CREATED, Json(reply)).into_response()
}

#[derive(serde::Deserialize)]
struct RawQuery {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// `GET /repos/{owner}/{repo}/raw/{filepath}?ref=` (`repo.GetRawFile`): the file
/// at the ref, 404 when the repository, ref or file does not exist. A public
/// repository needs no token.
async fn raw_file(
    State(state): State<AppState>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(q): Query<RawQuery>,
) -> Response {
    let full = format!("{owner}/{repo}");
    let data = state.data.lock().unwrap();
    let Some(git_ref) = q.git_ref else {
        drop(data);
        // The default branch's files: none are ever added there in tests.
        return not_found(&state);
    };
    match data.files.get(&format!("{full}@{git_ref}:{path}")) {
        Some(text) => text.clone().into_response(),
        None => {
            drop(data);
            not_found(&state)
        }
    }
}
