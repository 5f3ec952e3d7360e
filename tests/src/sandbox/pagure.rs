//! Pagure (src.fedoraproject.org) sandbox: API 0 projects, branches, pull requests,
//! PR flags (stored on commits) and comments, `whoami`, and raw files, with
//! Pagure's token and ACL checks, validation and error bodies.
//!
//! Every behaviour follows Pagure's own source (github.com/Pagure/pagure, read at
//! bee16830); each handler names the function it follows. Where Pagure's answer
//! depends on its database (Postgres in Fedora), the sandbox answers as it does on
//! Postgres.
//!
//! Pagure has a PR before it announces it, so the sandbox learns PRs (and each new
//! head commit) from the pull-request messages a test sends
//! ([`fedora_ci::dev::testing::observe_sends`]), or from [`PagureSandbox::open_pr`] and
//! [`PagureSandbox::push`]. A flag or comment for a PR it does not know is
//! answered 404, as Pagure answers it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::{self, Faults};

/// One `POST …/flag` as received (and accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagPost {
    pub pr: String,
    pub username: String,
    pub comment: String,
    pub url: String,
    pub status: String,
    pub uid: String,
    /// The PR's head when the flag was posted: the commit Pagure stored it on.
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentPost {
    pub pr: String,
    pub body: String,
}

/// The API token the sandbox accepts (a known value, so logs can be checked for it).
pub const TOKEN: &str = "sandbox-pagure-token";
/// The user the token belongs to (what `whoami` answers).
pub const TOKEN_USER: &str = "packit-ci";
/// The ACLs of the product's token: exactly what it needs.
pub const TOKEN_ACLS: [&str; 2] = ["pull_request_flag", "pull_request_comment"];

/// `pagure.api.APIERROR.EINVALIDTOK` with src.fedoraproject.org's `APP_URL`.
pub const EINVALIDTOK: &str = "Invalid or expired token. Please visit https://src.fedoraproject.org/settings#nav-api-tab to get or renew your API token.";

/// An API token (`pagure.lib.model.Token`): its user, ACLs and whether it expired.
#[derive(Debug, Clone)]
struct Token {
    user: String,
    acls: Vec<String>,
    expired: bool,
    /// A project token works on that project only (`_check_token`).
    project: Option<String>,
}

/// A project: its JSON (`Project.to_json`) and git branches.
#[derive(Debug, Clone)]
struct Project {
    json: Value,
    branches: Vec<String>,
}

/// A PR: Pagure's own JSON of it (`PullRequest.to_json`, as its messages carry
/// it) with `commit_stop` the current head.
#[derive(Debug, Clone)]
struct Pr {
    json: Value,
}

impl Pr {
    fn head(&self) -> String {
        self.json["commit_stop"].as_str().unwrap_or_default().to_owned()
    }
}

/// A flag on a commit (`pagure.lib.model.CommitFlag`; unique on commit and uid).
#[derive(Debug, Clone)]
struct CommitFlag {
    project: String,
    commit: String,
    uid: String,
    username: String,
    percent: Option<i64>,
    comment: String,
    status: String,
    url: String,
    date_created: i64,
    date_updated: i64,
}

impl CommitFlag {
    /// `CommitFlag.to_json(public=True)`.
    fn to_json(&self, user: &str) -> Value {
        json!({
            "commit_hash": self.commit,
            "username": self.username,
            "percent": self.percent,
            "comment": self.comment,
            "status": self.status,
            "url": self.url,
            "date_created": self.date_created.to_string(),
            "date_updated": self.date_updated.to_string(),
            "user": { "name": user, "fullname": user, "url_path": format!("user/{user}") },
        })
    }
}

#[derive(Default)]
struct Data {
    flag_posts: Vec<FlagPost>,
    comments: Vec<CommentPost>,
    projects: HashMap<String, Project>,
    prs: HashMap<(String, u64), Pr>,
    commit_flags: Vec<CommitFlag>,
    files: HashMap<String, String>,
    tokens: HashMap<String, Token>,
    /// (project, user) pairs of `Project.block_users`.
    blocked: Vec<(String, String)>,
    /// A stand-in clock for `date_created`/`date_updated`, always increasing.
    clock: i64,
}

impl Data {
    fn tick(&mut self) -> i64 {
        self.clock = self.clock.max(chrono::Utc::now().timestamp()) + 1;
        self.clock
    }

    /// Registers the PR a pull-request message (`pullrequest`, Pagure's JSON of
    /// the PR) describes: its project, its target branch, and its head. A
    /// `closed` message also closes it.
    fn learn_pr(&mut self, topic: &str, body: &Value) {
        let pr = &body["pullrequest"];
        let (Some(id), Some(project)) = (pr["id"].as_u64(), project_path(&pr["project"])) else { return };
        if pr["commit_stop"].as_str().is_none() {
            return;
        }
        let branch = pr["branch"].as_str().unwrap_or("rawhide").to_owned();
        let entry = self
            .projects
            .entry(project.clone())
            .or_insert_with(|| Project { json: pr["project"].clone(), branches: vec![] });
        if !entry.branches.contains(&branch) {
            entry.branches.push(branch);
        }
        let mut json = pr.clone();
        if topic.ends_with("pull-request.closed") {
            let merged = body["merged"].as_bool().unwrap_or(false);
            json["status"] = if merged { "Merged" } else { "Closed" }.into();
        } else if json["status"].as_str().is_none() || topic.ends_with("pull-request.reopened") {
            json["status"] = "Open".into();
        }
        self.prs.insert((project, id), Pr { json });
    }
}

/// `rpms/foo` from a project's JSON (`fullname`, else `namespace/name`).
fn project_path(project: &Value) -> Option<String> {
    if let Some(full) = project["fullname"].as_str() {
        return Some(full.to_owned());
    }
    let name = project["name"].as_str()?;
    Some(match project["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    })
}

pub struct PagureSandbox {
    pub url: String,
    pub token: String,
    pub faults: Arc<Faults>,
    data: Arc<Mutex<Data>>,
    observer: crate::broker::EventObserver,
}

#[derive(Clone)]
struct AppState {
    data: Arc<Mutex<Data>>,
}

impl PagureSandbox {
    /// Starts the sandbox and subscribes it to the pull-request messages this
    /// thread (the test's) sends, so each PR a test announces exists here with its
    /// current head.
    pub async fn start() -> PagureSandbox {
        let mut data = Data::default();
        data.tokens.insert(
            TOKEN.to_owned(),
            Token {
                user: TOKEN_USER.into(),
                acls: TOKEN_ACLS.iter().map(|a| a.to_string()).collect(),
                expired: false,
                project: None,
            },
        );
        let data = Arc::new(Mutex::new(data));
        let faults = Arc::new(Faults::default());
        let state = AppState { data: data.clone() };
        let router = Router::new()
            .route("/api/0/-/whoami", post(whoami))
            .route("/api/0/{ns}/{repo}", get(project))
            .route("/api/0/{ns}/{repo}/git/branches", get(branches))
            .route("/api/0/{ns}/{repo}/c/{commit}/flag", get(commit_flags))
            .route("/api/0/{ns}/{repo}/pull-request/{id}", get(pull_request))
            .route("/api/0/{ns}/{repo}/pull-request/{id}/flag", post(add_flag).get(get_flags))
            .route("/api/0/{ns}/{repo}/pull-request/{id}/comment", post(add_comment))
            .route("/{ns}/{repo}/raw/{commit}/f/{*file}", get(raw_file))
            .route("/fork/{user}/{ns}/{repo}/raw/{commit}/f/{*file}", get(raw_fork_file))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        let observer = super::learn_from_messages(&data, ".pagure.pull-request.", Data::learn_pr);
        PagureSandbox { url, token: TOKEN.to_owned(), faults, data, observer }
    }

    /// Learns PRs from the events it is given (type, data), on any thread: for a
    /// broker that sees the messages (`make run`'s local broker).
    pub fn event_observer(&self) -> crate::broker::EventObserver {
        self.observer.clone()
    }

    /// Declares the branches of `ns/repo` (the project then exists).
    pub fn set_branches(&self, project: &str, branches: &[&str]) {
        let mut data = self.data.lock().unwrap();
        let branches = branches.iter().map(|b| b.to_string()).collect();
        match data.projects.get_mut(project) {
            Some(p) => p.branches = branches,
            None => {
                let (ns, name) = project.split_once('/').unwrap_or(("", project));
                let json = json!({
                    "name": name, "namespace": if ns.is_empty() { Value::Null } else { ns.into() },
                    "fullname": project, "url_path": project, "description": name, "parent": null,
                    "user": { "name": "releng", "fullname": "releng" }, "id": 1, "tags": [],
                    "priorities": {}, "milestones": {}, "close_status": [], "custom_keys": [],
                    "date_created": "1431414800", "date_modified": "1431414800",
                    "full_url": format!("https://src.fedoraproject.org/{project}"),
                    "access_groups": {}, "access_users": {},
                });
                data.projects.insert(project.to_owned(), Project { json, branches });
            }
        }
    }

    /// Opens a PR from Pagure's JSON of it (a pull-request message's
    /// `pullrequest`), as the messages a test sends do.
    pub fn open_pr(&self, pullrequest: &Value) {
        self.data.lock().unwrap().learn_pr("pull-request.new", &json!({ "pullrequest": pullrequest }));
    }

    /// A push to the PR's branch: `sha` becomes its head; flags of the older head
    /// no longer show on the PR.
    pub fn push(&self, project: &str, id: u64, sha: &str) {
        let mut data = self.data.lock().unwrap();
        let pr = data.prs.get_mut(&(project.to_owned(), id)).expect("push to a PR the sandbox knows");
        pr.json["commit_stop"] = sha.into();
    }

    /// The PR disappears (its project retired or renamed): Pagure answers 404
    /// ENOREQ for it from now on.
    pub fn forget_pr(&self, project: &str, id: u64) {
        self.data.lock().unwrap().prs.remove(&(project.to_owned(), id));
    }

    /// The PR's head commit, `None` for a PR the sandbox does not know.
    pub fn head(&self, project: &str, id: u64) -> Option<String> {
        self.data.lock().unwrap().prs.get(&(project.to_owned(), id)).map(Pr::head)
    }

    /// Expires the product's token (Pagure then answers 401 "Expired token").
    pub fn expire_token(&self) {
        self.data.lock().unwrap().tokens.get_mut(TOKEN).expect("the token").expired = true;
    }

    /// Renews the product's token (same value, valid again).
    pub fn renew_token(&self) {
        self.data.lock().unwrap().tokens.get_mut(TOKEN).expect("the token").expired = false;
    }

    /// Adds another token of `user` with `acls`.
    pub fn add_token(&self, value: &str, user: &str, acls: &[&str]) {
        let token = Token {
            user: user.into(),
            acls: acls.iter().map(|a| a.to_string()).collect(),
            expired: false,
            project: None,
        };
        self.data.lock().unwrap().tokens.insert(value.to_owned(), token);
    }

    /// Adds a project token (`ns/repo`): valid on that project only.
    pub fn add_project_token(&self, value: &str, user: &str, project: &str, acls: &[&str]) {
        let token = Token {
            user: user.into(),
            acls: acls.iter().map(|a| a.to_string()).collect(),
            expired: false,
            project: Some(project.to_owned()),
        };
        self.data.lock().unwrap().tokens.insert(value.to_owned(), token);
    }

    /// Blocks `user` on `project` (`Project.block_users`): its POSTs there are 403.
    pub fn block_user(&self, project: &str, user: &str) {
        self.data.lock().unwrap().blocked.push((project.to_owned(), user.to_owned()));
    }

    /// Adds a file at a commit; `repo_path` is `rpms/foo` or `fork/<user>/rpms/foo`.
    pub fn add_file(&self, repo_path: &str, commit: &str, file: &str, content: &str) {
        self.data.lock().unwrap().files.insert(format!("{repo_path}@{commit}:{file}"), content.to_owned());
    }

    /// Every accepted flag POST, in order (what we sent).
    pub fn flag_posts(&self) -> Vec<FlagPost> {
        self.data.lock().unwrap().flag_posts.clone()
    }

    /// The last state sent of each flag (last post per PR and uid), whichever
    /// commit it went to: what we sent, not what the PR shows (see [`Self::shown`]).
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

    /// What the PR `project#id` shows: the flags of its current head, as
    /// `GET …/pull-request/<id>/flag` answers them (`pr` field `project#id`).
    pub fn shown(&self, project: &str, id: u64) -> Vec<FlagPost> {
        let data = self.data.lock().unwrap();
        let Some(pr) = data.prs.get(&(project.to_owned(), id)) else { return vec![] };
        let head = pr.head();
        let mut flags: Vec<&CommitFlag> =
            data.commit_flags.iter().filter(|f| f.project == project && f.commit == head).collect();
        flags.sort_by_key(|f| f.date_updated);
        flags
            .into_iter()
            .map(|f| FlagPost {
                pr: format!("{project}#{id}"),
                username: f.username.clone(),
                comment: f.comment.clone(),
                url: f.url.clone(),
                status: f.status.clone(),
                uid: f.uid.clone(),
                commit: f.commit.clone(),
            })
            .collect()
    }

    pub fn comments(&self) -> Vec<CommentPost> {
        self.data.lock().unwrap().comments.clone()
    }
}

/// An `APIError` as `pagure.api.api_method` renders it.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message, "error_code": code }))).into_response()
}

fn error_with(status: StatusCode, code: &str, message: &str, errors: Value) -> Response {
    (status, Json(json!({ "error": message, "error_code": code, "errors": errors }))).into_response()
}

fn not_found_project() -> Response {
    error(StatusCode::NOT_FOUND, "ENOPROJECT", "Project not found")
}

fn not_found_pr() -> Response {
    error(StatusCode::NOT_FOUND, "ENOREQ", "Pull-Request not found")
}

/// The token of `Authorization: token <value>`, as `pagure.utils.check_api_acls`
/// reads it (whatever follows the first "token", stripped).
fn token_str(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (_, rest) = auth.split_once("token")?;
    Some(rest.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `pagure.utils.check_api_acls(acls)` (behind `api_login_required`): 401
/// EINVALIDTOK with `errors` "Invalid token", "Expired token" or "Missing ACLs:
/// …" (Pagure answers a missing ACL 401 too, never 403). The token's user.
fn check_api_acls(data: &Data, headers: &HeaderMap, acls: &[&str]) -> Result<String, Box<Response>> {
    let refuse = |why: String| error_with(StatusCode::UNAUTHORIZED, "EINVALIDTOK", EINVALIDTOK, why.into());
    let Some(token) = token_str(headers).and_then(|t| data.tokens.get(&t).cloned()) else {
        return Err(Box::new(refuse("Invalid token".into())));
    };
    if token.expired {
        return Err(Box::new(refuse("Expired token".into())));
    }
    if !acls.iter().any(|a| token.acls.iter().any(|t| t == a)) {
        let mut missing: Vec<&str> = acls.iter().copied().filter(|a| !token.acls.iter().any(|t| t == a)).collect();
        missing.sort();
        return Err(Box::new(refuse(format!("Missing ACLs: {}", missing.join(", ")))));
    }
    Ok(token.user)
}

/// The rest of `api_login_required` for a POST on `project`: a user the project
/// blocked is 403 EUBLOCKED; then, once the project is found, `_check_token`:
/// a project token used on another project is 401 EINVALIDTOK.
fn check_blocked(data: &Data, project: &str, user: &str) -> Result<(), Box<Response>> {
    if data.blocked.iter().any(|(p, u)| p == project && u == user) {
        return Err(Box::new(error(StatusCode::FORBIDDEN, "EUBLOCKED", "You have been blocked from this project")));
    }
    Ok(())
}

fn check_token_project(data: &Data, headers: &HeaderMap, project: &str) -> Result<(), Box<Response>> {
    let token = token_str(headers).and_then(|t| data.tokens.get(&t));
    match token.and_then(|t| t.project.as_deref()) {
        Some(p) if p != project => Err(Box::new(error(StatusCode::UNAUTHORIZED, "EINVALIDTOK", EINVALIDTOK))),
        _ => Ok(()),
    }
}

/// What a POST on a PR checks before it reads the form, in Pagure's order
/// (`api_login_required(acls=[acl])`, then the project, `_check_token`, the
/// `<int:requestid>` route and the PR): the project and the PR id, or the
/// answer that refuses it. Ok: the token's user, the project, the PR id.
fn authorized_pr_post(
    data: &Data,
    headers: &HeaderMap,
    ns: &str,
    repo: &str,
    id: &str,
    acl: &str,
) -> Result<(String, String, u64), Box<Response>> {
    let user = check_api_acls(data, headers, &[acl])?;
    let project = format!("{ns}/{repo}");
    check_blocked(data, &project, &user)?;
    if !data.projects.contains_key(&project) {
        return Err(Box::new(not_found_project()));
    }
    check_token_project(data, headers, &project)?;
    // `<int:requestid>`: anything else is no route at all.
    let Ok(id) = id.parse::<u64>() else { return Err(Box::new((StatusCode::NOT_FOUND, "Not Found").into_response())) };
    if !data.prs.contains_key(&(project.clone(), id)) {
        return Err(Box::new(not_found_pr()));
    }
    Ok((user, project, id))
}

/// `pagure.api.get_request_data` and Flask-WTF's form data: a JSON object when
/// the Content-Type is exactly `application/json` (invalid JSON is no data), the
/// form when it is urlencoded (`request.form`), else JSON only for a `+json`
/// type (`request.get_json()`), else nothing. Values as strings (a JSON number
/// as its text).
fn request_data(headers: &HeaderMap, body: &Bytes) -> BTreeMap<String, String> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if mime == "application/x-www-form-urlencoded" {
        return url::form_urlencoded::parse(body).into_owned().collect();
    }
    if content_type != "application/json" && !mime.ends_with("+json") {
        return BTreeMap::new();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// wtforms' `DataRequired`: present and not only whitespace.
fn required<'a>(data: &'a BTreeMap<String, String>, field: &str, errors: &mut BTreeMap<String, Value>) -> &'a str {
    match data.get(field).map(|v| v.as_str()) {
        Some(v) if !v.trim().is_empty() => v,
        _ => {
            errors.insert(field.to_owned(), json!(["This field is required."]));
            ""
        }
    }
}

/// `pagure.utils.urlregex` (the flag form's `url` validator), in code: scheme
/// `http`, `https`, `ftp` or `git`; optional `user:pass@`; host `localhost`, a
/// dotted IPv4 address (no 0.x, no >= 224.x, no .0/.255 last octet) or a DNS name
/// with a TLD of two or more letters; optional port of 2 to 5 digits; then a path,
/// query and fragment without whitespace. Bracketed IPv6 hosts, which Pagure also
/// takes, are refused here (stricter).
pub fn pagure_url_ok(url: &str) -> bool {
    let lower = url.to_lowercase();
    let Some(rest) = ["http://", "https://", "ftp://", "git://"].iter().find_map(|s| lower.strip_prefix(s)) else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo_char = |c: char| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=:".contains(c) || c >= '\u{a1}';
    let hostport = match authority.rsplit_once('@') {
        Some((user, host)) if !user.is_empty() && user.chars().all(userinfo_char) => host,
        Some(_) => return false,
        None => authority,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if let Some(p) = port
        && (!(2..=5).contains(&p.len()) || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if !(host == "localhost" || ipv4_ok(host) || dns_name_ok(host)) {
        return false;
    }
    let path_char = |c: char| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=:@/".contains(c) || c >= '\u{a1}';
    let (before_fragment, fragment) = tail.split_once('#').map_or((tail, None), |(a, b)| (a, Some(b)));
    let (path, query) = before_fragment.split_once('?').map_or((before_fragment, None), |(a, b)| (a, Some(b)));
    (path.is_empty() || path.starts_with('/') && path.chars().all(path_char))
        && query.is_none_or(|q| !q.chars().any(char::is_whitespace))
        && fragment.is_none_or(|f| !f.chars().any(char::is_whitespace))
}

/// The regex's `private_ip` and `public_ip` alternatives.
fn ipv4_ok(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    if octets.len() != 4 || octets.iter().any(|o| o.is_empty() || o.len() > 3 || !o.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let n: Vec<u32> = octets.iter().map(|o| o.parse().unwrap_or(999)).collect();
    if n.iter().any(|&o| o > 255) {
        return false;
    }
    let private = n[0] == 10
        || n[0] == 127
        || (n[0] == 169 && n[1] == 254)
        || (n[0] == 192 && n[1] == 168)
        || (n[0] == 172 && (16..=31).contains(&n[1]));
    let last_ok = (1..=254).contains(&n[3]);
    last_ok && (private || (1..=223).contains(&n[0]))
}

/// `(?:[a-z0-9]-?)*[a-z0-9]+` labels joined by dots, the last (TLD) two or more
/// letters.
fn dns_name_ok(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let word = |c: char| c.is_ascii_alphanumeric() || c >= '\u{a1}';
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && !l.contains("--")
            && l.chars().all(|c| word(c) || c == '-')
    };
    labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|t| t.chars().count() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic() || c >= '\u{a1}'))
}

/// `FLAG_STATUSES_LABELS` of pagure/default_config.py (also Fedora's).
const FLAG_STATUSES: [&str; 5] = ["success", "failure", "error", "pending", "canceled"];

/// `api_pull_request_add_flag` (pagure/api/fork.py): login with the
/// `pull_request_flag` ACL, then the project (404 ENOPROJECT), the PR (404
/// ENOREQ), then `AddPullRequestFlagForm` (with `status`) or
/// `AddPullRequestFlagFormV1` (status from `percent`), then
/// `pagure.lib.query.add_commit_flag` on the PR's `commit_stop`: same commit and
/// uid updates comment, percent, status and url ("Flag updated"), else a new flag.
async fn add_flag(
    State(state): State<AppState>,
    Path((ns, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut data = state.data.lock().unwrap();
    let (user, project, id) = match authorized_pr_post(&data, &headers, &ns, &repo, &id, "pull_request_flag") {
        Ok(pr) => pr,
        Err(r) => return *r,
    };
    let pr = &data.prs[&(project.clone(), id)];
    let head = pr.head();
    let pr_uid = pr.json["uid"].as_str().unwrap_or_default().to_owned();

    let form = request_data(&headers, &body);
    let mut errors = BTreeMap::new();
    let username = required(&form, "username", &mut errors).to_owned();
    let comment = required(&form, "comment", &mut errors).trim().to_owned();
    let url = required(&form, "url", &mut errors).trim().to_owned();
    if !url.is_empty() && !pagure_url_ok(form.get("url").map(String::as_str).unwrap_or_default()) {
        errors.insert("url".into(), json!(["Invalid input."]));
    }
    let percent = form.get("percent").map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    let status = if form.contains_key("status") {
        let s = required(&form, "status", &mut errors).trim().to_owned();
        if !s.is_empty() && !FLAG_STATUSES.contains(&s.as_str()) {
            errors.insert("status".into(), json!(["Not a valid choice."]));
        }
        s
    } else {
        match percent.as_deref() {
            None => "pending".to_owned(),
            Some("0") => "failure".to_owned(),
            Some(_) => "success".to_owned(),
        }
    };
    if !errors.is_empty() {
        return error_with(
            StatusCode::BAD_REQUEST,
            "EINVALIDREQ",
            "Invalid or incomplete input submitted",
            json!(errors),
        );
    }
    // `CommitFlag.percent` is an Integer and `uid` a String(32): on Postgres
    // anything else fails the flush, which the endpoint answers 400 EDBERROR.
    let percent = match percent.map(|p| p.parse::<i32>()) {
        None => None,
        Some(Ok(p)) => Some(i64::from(p)),
        Some(Err(_)) => return db_error(),
    };
    let uid = match form.get("uid").map(|u| u.trim()).filter(|u| !u.is_empty()) {
        Some(u) if u.chars().count() > 32 => return db_error(),
        Some(u) => u.to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let now = data.tick();
    let existing = data.commit_flags.iter_mut().find(|f| f.commit == head && f.uid == uid);
    let (message, flag) = match existing {
        Some(f) => {
            f.comment = comment.clone();
            f.percent = percent;
            f.status = status.clone();
            f.url = url.clone();
            f.date_updated = now;
            ("Flag updated", f.clone())
        }
        None => {
            let f = CommitFlag {
                project: project.clone(),
                commit: head.clone(),
                uid: uid.clone(),
                username: username.clone(),
                percent,
                comment: comment.clone(),
                status: status.clone(),
                url: url.clone(),
                date_created: now,
                date_updated: now,
            };
            data.commit_flags.push(f.clone());
            ("Flag added", f)
        }
    };
    data.flag_posts.push(FlagPost {
        pr: format!("{project}#{id}"),
        username: flag.username.clone(),
        comment,
        url,
        status,
        uid: uid.clone(),
        commit: head,
    });
    let mut flag_json = flag.to_json(&user);
    flag_json["pull_request_uid"] = pr_uid.into();
    Json(json!({
        "flag": flag_json,
        "message": message,
        "uid": uid,
        "avatar_url": "https://seccdn.libravatar.org/avatar/0?s=30&d=retro",
        "user": user,
    }))
    .into_response()
}

fn db_error() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "EDBERROR",
        "An error occurred at the database level and prevent the action from reaching completion",
    )
}

/// `api_pull_request_get_flag` (pagure/api/fork.py): no login; the flags of the
/// PR's current `commit_stop` (`get_commit_flag(project, commit_stop)`), so
/// flags posted before a push no longer show.
async fn get_flags(State(state): State<AppState>, Path((ns, repo, id)): Path<(String, String, String)>) -> Response {
    let data = state.data.lock().unwrap();
    let project = format!("{ns}/{repo}");
    if !data.projects.contains_key(&project) {
        return not_found_project();
    }
    let Ok(id) = id.parse::<u64>() else { return (StatusCode::NOT_FOUND, "Not Found").into_response() };
    let Some(pr) = data.prs.get(&(project.clone(), id)) else { return not_found_pr() };
    let head = pr.head();
    let flags: Vec<Value> = commit_flags_of(&data, &project, &head).iter().map(|f| f.to_json(TOKEN_USER)).collect();
    Json(json!({ "flags": flags })).into_response()
}

/// `pagure.lib.query.get_commit_flag(project, commit)`: the commit's flags in
/// the project, oldest update first.
fn commit_flags_of<'a>(data: &'a Data, project: &str, commit: &str) -> Vec<&'a CommitFlag> {
    let mut flags: Vec<&CommitFlag> =
        data.commit_flags.iter().filter(|f| f.project == project && f.commit == commit).collect();
    flags.sort_by_key(|f| f.date_updated);
    flags
}

/// `api_commit_flags` (pagure/api/project.py): the flags of one commit of the
/// project, with `total_flags` (what ogr's `get_statuses` reads).
async fn commit_flags(
    State(state): State<AppState>,
    Path((ns, repo, commit)): Path<(String, String, String)>,
) -> Response {
    let data = state.data.lock().unwrap();
    let project = format!("{ns}/{repo}");
    if !data.projects.contains_key(&project) {
        return not_found_project();
    }
    let flags: Vec<Value> = commit_flags_of(&data, &project, &commit).iter().map(|f| f.to_json(TOKEN_USER)).collect();
    Json(json!({ "total_flags": flags.len(), "flags": flags })).into_response()
}

/// `api_pull_request_view` (pagure/api/fork.py): `PullRequest.to_json` (the
/// shape Pagure's own messages carry), 404 ENOPROJECT / ENOREQ.
async fn pull_request(State(state): State<AppState>, Path((ns, repo, id)): Path<(String, String, String)>) -> Response {
    let data = state.data.lock().unwrap();
    let project = format!("{ns}/{repo}");
    if !data.projects.contains_key(&project) {
        return not_found_project();
    }
    let Ok(id) = id.parse::<u64>() else { return (StatusCode::NOT_FOUND, "Not Found").into_response() };
    match data.prs.get(&(project, id)) {
        Some(pr) => Json(pr.json.clone()).into_response(),
        None => not_found_pr(),
    }
}

/// `api_pull_request_add_comment` (pagure/api/fork.py): login with the
/// `pull_request_comment` ACL, project and PR 404s, `AddPullRequestCommentForm`
/// (`comment` required), "Comment added".
async fn add_comment(
    State(state): State<AppState>,
    Path((ns, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut data = state.data.lock().unwrap();
    let (_, project, id) = match authorized_pr_post(&data, &headers, &ns, &repo, &id, "pull_request_comment") {
        Ok(pr) => pr,
        Err(r) => return *r,
    };
    let form = request_data(&headers, &body);
    let mut errors = BTreeMap::new();
    let comment = required(&form, "comment", &mut errors).to_owned();
    if !errors.is_empty() {
        return error_with(
            StatusCode::BAD_REQUEST,
            "EINVALIDREQ",
            "Invalid or incomplete input submitted",
            json!(errors),
        );
    }
    data.comments.push(CommentPost { pr: format!("{project}#{id}"), body: comment });
    Json(json!({ "message": "Comment added" })).into_response()
}

/// `api_whoami` (pagure/api/__init__.py, `api_login_optional`): the token's user;
/// 401 EINVALIDTOK without a valid token (with `errors` when one was given).
async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let data = state.data.lock().unwrap();
    if headers.get("authorization").is_none() {
        return error(StatusCode::UNAUTHORIZED, "EINVALIDTOK", EINVALIDTOK);
    }
    // `check_api_acls(None, optional=True)`: a valid token passes without ACLs.
    let refuse = |why: &str| error_with(StatusCode::UNAUTHORIZED, "EINVALIDTOK", EINVALIDTOK, why.into());
    match token_str(&headers).and_then(|t| data.tokens.get(&t)) {
        None => refuse("Invalid token"),
        Some(t) if t.expired => refuse("Expired token"),
        Some(t) => Json(json!({ "username": t.user })).into_response(),
    }
}

/// `api_project` (pagure/api/project.py): `Project.to_json`, 404 ENOPROJECT.
async fn project(State(state): State<AppState>, Path((ns, repo)): Path<(String, String)>) -> Response {
    match state.data.lock().unwrap().projects.get(&format!("{ns}/{repo}")) {
        Some(p) => Json(p.json.clone()).into_response(),
        None => not_found_project(),
    }
}

/// `api_git_branches` (pagure/api/project.py): `branches`, `total_branches` and
/// `default` (dist-git's default branch is `rawhide`).
async fn branches(State(state): State<AppState>, Path((ns, repo)): Path<(String, String)>) -> Response {
    match state.data.lock().unwrap().projects.get(&format!("{ns}/{repo}")) {
        Some(p) => {
            let default = if p.branches.iter().any(|b| b == "rawhide") {
                Some("rawhide".to_owned())
            } else {
                p.branches.first().cloned()
            };
            Json(json!({ "branches": p.branches, "total_branches": p.branches.len(), "default": default }))
                .into_response()
        }
        None => not_found_project(),
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

#[cfg(test)]
mod tests {
    use super::pagure_url_ok;

    #[test]
    fn urls_as_pagure_urlregex_takes_them() {
        for ok in [
            "https://fedora-ci.sandbox.example/pr/rpms/foo/2",
            "http://127.0.0.1:39999/koji/taskinfo?taskID=1",
            "http://localhost:8080/x#y",
            "https://koji.fedoraproject.org/koji/taskinfo?taskID=12345",
            "git://user:pw@example.org",
        ] {
            assert!(pagure_url_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "/relative/path",
            "javascript:alert(1)",
            "https://nodot/x",
            "https://example.org:1/x",
            "https://example.org/a b",
            "https://0.1.2.3/",
            "https://example.org/x?a b",
            "file:///etc/passwd",
        ] {
            assert!(!pagure_url_ok(bad), "{bad}");
        }
    }
}
