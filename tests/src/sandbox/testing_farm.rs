//! Testing Farm sandbox: API v0.1 as Testing Farm's API server (nucleus, the
//! `tft-api` package on PyPI: `tft/nucleus/api/schemes/test_request.py`,
//! `routers/test_request.py`, `errors.py`) and its own CLI (`tft-cli`:
//! `src/tft/cli/commands.py`, `src/tft/cli/command/listing.py`) define it:
//!
//! - `POST /requests` validated against the request schema (`RequestCreateIn`):
//!   401 `{"message"}` on a missing or wrong key, 400 `{"message", "errors"}` with
//!   the field errors nested as Testing Farm nests them (packit-service reads
//!   `errors.environments.0.arch`, `packit_service/worker/helpers/testing_farm.py`
//!   `_handle_tf_submit_failure`; tft-cli prints `message` on a 400), 422
//!   `{"message"}` when the `test` section has not exactly one type
//!   (`Request.test_one_of`);
//! - `GET /requests/{id}` in TF's response shape (`RequestGetUpdateOut` and the
//!   recorded tests/fixtures/testing-farm/results.json): `test` with its `fmf`,
//!   `sti`, `script` keys, `created`/`updated`, `queued_time`/`run_time` in seconds,
//!   and never the webhook token nor the API key;
//! - `GET /requests?…` (the CLI's `list`), `GET /whoami` (its token check) and
//!   `DELETE /requests/{id}` (its `cancel`, with the statuses it expects);
//! - `GET /composes`, and the webhook call TF makes when a request changes state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::faults::{self, Faults};

/// What the public ranch lists by default (`GET /composes`); [`TestingFarmSandbox::set_composes`]
/// changes it.
pub const COMPOSES: [&str; 6] =
    ["Fedora-Rawhide", "Fedora-ELN", "Fedora-43", "Fedora-42", "CentOS-Stream-9", "CentOS-Stream-10"];

/// The architectures a requested environment may name (`Architectures`).
pub const ARCHITECTURES: [&str; 4] = ["x86_64", "s390x", "aarch64", "ppc64le"];

/// The artifact types Testing Farm installs (`ArtifactTypes`, and the types the
/// public ranch added since: `redhat-brew-build`, `fedora-module-build`,
/// `repository-file`, which tft-cli's `--redhat-brew-build` and packit-service send).
pub const ARTIFACT_TYPES: [&str; 8] = [
    "fedora-koji-build",
    "bodhi-update",
    "fedora-copr-build",
    "package",
    "repository",
    "redhat-brew-build",
    "fedora-module-build",
    "repository-file",
];

/// The request states (tft-cli's `PipelineState`, plus `cancel-requested`).
const STATES: [&str; 7] = ["new", "queued", "running", "complete", "error", "canceled", "cancel-requested"];

/// The ids the sandbox's only token and user have (`GET /whoami`).
pub const TOKEN_ID: &str = "5f0b3c2e-7d1a-4c8e-9b6f-2a4d8e1c3b70";
pub const USER_ID: &str = "0cfc00a8-94d7-4408-babc-4d0bc43821ea";

#[derive(Debug, Clone)]
pub struct TfRequest {
    pub id: String,
    /// The body we were sent, verbatim.
    pub payload: Value,
    pub state: String,
    pub overall: Option<String>,
    pub summary: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// When a worker picked it up (`running`); `queued_time` is the wait before.
    pub started: Option<DateTime<Utc>>,
    /// When it ended (`complete`, `error`, `canceled`); `run_time` runs to here.
    pub finished: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Data {
    /// Answers served verbatim for `GET /requests/{id}` (recorded TF responses).
    raw: BTreeMap<String, Value>,
    requests: BTreeMap<String, TfRequest>,
    order: Vec<String>,
    next: u64,
    /// `None`: [`COMPOSES`].
    composes: Option<Vec<String>>,
    /// `None`: [`ARCHITECTURES`].
    architectures: Option<Vec<String>>,
}

/// The API key the sandbox accepts (a known value, so logs can be checked for it).
pub const API_KEY: &str = "sandbox-tf-api-key";

#[derive(Clone)]
struct AppState {
    key: String,
    artifacts: String,
    data: Arc<Mutex<Data>>,
}

pub struct TestingFarmSandbox {
    pub url: String,
    pub key: String,
    pub artifacts_url: String,
    pub faults: Arc<Faults>,
    data: Arc<Mutex<Data>>,
}

impl TestingFarmSandbox {
    pub async fn start() -> TestingFarmSandbox {
        let key = API_KEY.to_owned();
        let artifacts_url = "https://artifacts.sandbox.testing-farm.example".to_owned();
        let data: Arc<Mutex<Data>> = Arc::default();
        let faults = Arc::new(Faults::default());
        let state = AppState { key: key.clone(), artifacts: artifacts_url.clone(), data: data.clone() };
        let router = Router::new()
            .route("/v0.1/requests", post(submit).get(list))
            .route("/v0.1/requests/{id}", get(request).delete(cancel))
            .route("/v0.1/whoami", get(whoami))
            .route("/v0.1/composes", get(composes))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let base = super::spawn(router).await;
        TestingFarmSandbox { url: format!("{base}/v0.1"), key, artifacts_url, faults, data }
    }

    /// Every accepted request, in submission order.
    pub fn requests(&self) -> Vec<TfRequest> {
        let data = self.data.lock().unwrap();
        data.order.iter().map(|id| data.requests[id].clone()).collect()
    }

    /// Moves a request on (`queued`, `running`, `complete` + `passed`/`failed`,
    /// `error` + summary, `canceled`), keeping its times as TF does: the run starts
    /// when it first leaves `new`/`queued`, ends when it reaches a final state.
    pub fn set_state(&self, id: &str, state: &str, overall: Option<&str>, summary: Option<&str>) {
        let mut data = self.data.lock().unwrap();
        let r = data.requests.get_mut(id).unwrap_or_else(|| panic!("no TF request {id}"));
        let now = Utc::now();
        r.state = state.to_owned();
        r.overall = overall.map(str::to_owned);
        r.summary = summary.map(str::to_owned);
        r.updated = now;
        if !matches!(state, "new" | "queued") {
            r.started.get_or_insert(now);
        }
        if finished(state) {
            r.finished = Some(now);
        }
    }

    /// Serves a recorded TF response (e.g. `results.json`) for its `id`.
    pub fn put_raw(&self, response: Value) {
        let id = response["id"].as_str().expect("response has an id").to_owned();
        self.data.lock().unwrap().raw.insert(id, response);
    }

    /// The composes `GET /composes` lists from now on.
    pub fn set_composes(&self, composes: &[&str]) {
        self.data.lock().unwrap().composes = Some(composes.iter().map(|c| c.to_string()).collect());
    }

    /// The architectures the ranch provisions from now on; a request for another
    /// is refused with `errors.environments.<i>.arch`, the refusal packit-service
    /// handles by name (an unsupported architecture).
    pub fn set_architectures(&self, arches: &[&str]) {
        self.data.lock().unwrap().architectures = Some(arches.iter().map(|a| a.to_string()).collect());
    }

    /// Calls the request's webhook like TF does: `POST {request_id, token}`.
    pub async fn notify(&self, id: &str) -> reqwest::Response {
        let payload = self.data.lock().unwrap().requests[id].payload.clone();
        let hook = &payload["notification"]["webhook"];
        reqwest::Client::new()
            .post(hook["url"].as_str().expect("request has a webhook"))
            .json(&json!({ "request_id": id, "token": hook["token"], "source": "testing-farm" }))
            .send()
            .await
            .expect("webhook call")
    }
}

fn finished(state: &str) -> bool {
    matches!(state, "complete" | "error" | "canceled")
}

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// `NotAuthorizedError` (`errors.py`): what TF answers a missing or unknown key.
fn unauthorized() -> Response {
    message(StatusCode::UNAUTHORIZED, "Not authorized to perform this action")
}

/// `NoSuchEntityError` (`errors.py`): its body carries the code too.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "code": 404, "message": "No such entity" }))).into_response()
}

/// The key of a request: the `Authorization: Bearer` header tft-cli and our
/// client send (`authorization_headers`), or the deprecated `api_key` field of the
/// body (`RequestCreateIn.api_key`).
fn authorized(state: &AppState, headers: &HeaderMap, body: Option<&Value>) -> bool {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    match header {
        Some(h) => h == format!("Bearer {}", state.key),
        None => body.and_then(|b| b["api_key"].as_str()) == Some(state.key.as_str()),
    }
}

/// Field errors, nested by path as Testing Farm returns them
/// (`{"environments": {"0": {"arch": "…"}}}`).
#[derive(Default)]
struct Problems(Map<String, Value>);

impl Problems {
    fn add(&mut self, path: &[&str], problem: &str) {
        let mut at = &mut self.0;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at.insert((*key).to_owned(), json!(problem));
                return;
            }
            let next = at.entry((*key).to_owned()).or_insert_with(|| json!({}));
            if !next.is_object() {
                *next = json!({});
            }
            at = next.as_object_mut().expect("made an object above");
        }
    }

    /// `environments.0.arch: field required`, … for the `message`.
    fn flat(&self) -> Vec<String> {
        fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                        walk(&path, v, out);
                    }
                }
                other => out.push(format!("{prefix}: {}", other.as_str().unwrap_or_default())),
            }
        }
        let mut out = Vec::new();
        walk("", &Value::Object(self.0.clone()), &mut out);
        out
    }
}

/// pydantic's `HttpUrl`: an absolute http(s) URL with a host.
fn http_url(value: &Value) -> Result<(), &'static str> {
    let Some(s) = value.as_str() else {
        return Err(if value.is_null() { "none is not an allowed value" } else { "str type expected" });
    };
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err("URL scheme not permitted"),
        Err(_) => Err("invalid or missing URL scheme"),
    }
}

/// A required field of `path` in `obj`, checked by `check`.
fn required(p: &mut Problems, obj: &Value, path: &[&str], check: fn(&Value) -> Result<(), &'static str>) {
    let field = path.last().expect("a field path");
    match obj.get(*field) {
        None => p.add(path, "field required"),
        Some(v) => {
            if let Err(e) = check(v) {
                p.add(path, e)
            }
        }
    }
}

/// An `Optional[...]` field: absent and `null` are fine.
fn optional(p: &mut Problems, obj: &Value, path: &[&str], check: fn(&Value) -> Result<(), &'static str>) {
    let field = path.last().expect("a field path");
    if let Some(v) = obj.get(*field).filter(|v| !v.is_null())
        && let Err(e) = check(v)
    {
        p.add(path, e)
    }
}

fn string(v: &Value) -> Result<(), &'static str> {
    if v.is_string() { Ok(()) } else { Err("str type expected") }
}

fn object(v: &Value) -> Result<(), &'static str> {
    if v.is_object() { Ok(()) } else { Err("value is not a valid dict") }
}

fn strings(v: &Value) -> Result<(), &'static str> {
    match v.as_array() {
        Some(items) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err("str type expected"),
        None => Err("value is not a valid list"),
    }
}

/// Environment variables and secrets: names to string values (TF exports them).
fn string_map(v: &Value) -> Result<(), &'static str> {
    match v.as_object() {
        Some(m) if m.values().all(Value::is_string) => Ok(()),
        Some(_) => Err("str type expected"),
        None => Err("value is not a valid dict"),
    }
}

/// The test types of `Test`; `tmt` is the newer name of `fmf`.
const TEST_TYPES: [&str; 4] = ["fmf", "tmt", "sti", "script"];

/// `RequestCreateIn`, field by field (`schemes/test_request.py`). `Err` carries the
/// answer: 400 with the nested field errors, or 422 from `test_one_of`.
fn validate(body: &Value, arches: &[String]) -> Result<(), (StatusCode, Value)> {
    let mut p = Problems::default();
    if !body.is_object() {
        return Err((StatusCode::BAD_REQUEST, json!({ "message": "Request body must be a JSON object" })));
    }
    match body.get("test") {
        None => p.add(&["test"], "field required"),
        Some(test) if !test.is_object() => p.add(&["test"], "value is not a valid dict"),
        Some(test) => {
            let given: Vec<&str> =
                TEST_TYPES.iter().copied().filter(|t| test.get(*t).is_some_and(|v| !v.is_null())).collect();
            // `test_one_of`: raised as UnprocessableEntityError, a 422 with a message.
            match given.len() {
                0 => {
                    return Err((
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({ "message": "Test section is empty or test type is wrong." }),
                    ));
                }
                1 => {}
                _ => {
                    return Err((
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({ "message": "Test section has more than one type." }),
                    ));
                }
            }
            let kind = given[0];
            let section = &test[kind];
            if !section.is_object() {
                p.add(&["test", kind], "value is not a valid dict");
            } else {
                // TestFMF: url required; ref, path, name optional. TestSTI: url and
                // ref required. TestScript: url, ref and script required.
                required(&mut p, section, &["test", kind, "url"], http_url);
                match kind {
                    "fmf" | "tmt" => {
                        for f in ["ref", "path", "name"] {
                            optional(&mut p, section, &["test", kind, f], string);
                        }
                    }
                    "sti" => {
                        required(&mut p, section, &["test", kind, "ref"], string);
                        optional(&mut p, section, &["test", kind, "playbooks"], strings);
                    }
                    _ => {
                        required(&mut p, section, &["test", kind, "ref"], string);
                        required(&mut p, section, &["test", kind, "script"], strings);
                    }
                }
            }
        }
    }
    if let Some(envs) = body.get("environments").filter(|v| !v.is_null()) {
        match envs.as_array() {
            None => p.add(&["environments"], "value is not a valid list"),
            Some(envs) => {
                for (i, env) in envs.iter().enumerate() {
                    validate_environment(&mut p, &i.to_string(), env, arches);
                }
            }
        }
    }
    if let Some(notification) = body.get("notification").filter(|v| !v.is_null()) {
        if !notification.is_object() {
            p.add(&["notification"], "value is not a valid dict");
        } else if let Some(hook) = notification.get("webhook").filter(|v| !v.is_null()) {
            if hook.is_object() {
                required(&mut p, hook, &["notification", "webhook", "url"], http_url);
                optional(&mut p, hook, &["notification", "webhook", "token"], string);
            } else {
                p.add(&["notification", "webhook"], "value is not a valid dict");
            }
        }
    }
    optional(&mut p, body, &["settings"], object);
    if p.0.is_empty() {
        Ok(())
    } else {
        let summary = p.flat().join("; ");
        Err((StatusCode::BAD_REQUEST, json!({ "message": summary, "errors": p.0 })))
    }
}

/// `EnvironmentRequested`: `arch` required and one TF knows, the rest optional.
fn validate_environment(p: &mut Problems, i: &str, env: &Value, arches: &[String]) {
    if !env.is_object() {
        return p.add(&["environments", i], "value is not a valid dict");
    }
    match env.get("arch") {
        None => p.add(&["environments", i, "arch"], "field required"),
        Some(a) if a.as_str().is_some_and(|a| arches.iter().any(|x| x == a)) => {}
        Some(_) => {
            let permitted: Vec<String> = arches.iter().map(|a| format!("'{a}'")).collect();
            let problem = format!("value is not a valid enumeration member; permitted: {}", permitted.join(", "));
            p.add(&["environments", i, "arch"], &problem)
        }
    }
    if let Some(os) = env.get("os").filter(|v| !v.is_null()) {
        if os.is_object() {
            required(p, os, &["environments", i, "os", "compose"], string);
        } else {
            p.add(&["environments", i, "os"], "value is not a valid dict");
        }
    }
    optional(p, env, &["environments", i, "pool"], string);
    optional(p, env, &["environments", i, "variables"], string_map);
    optional(p, env, &["environments", i, "secrets"], string_map);
    optional(p, env, &["environments", i, "settings"], object);
    if let Some(tmt) = env.get("tmt").filter(|v| !v.is_null()) {
        if tmt.is_object() {
            optional(p, tmt, &["environments", i, "tmt", "context"], string_map);
            optional(p, tmt, &["environments", i, "tmt", "environment"], string_map);
        } else {
            p.add(&["environments", i, "tmt"], "value is not a valid dict");
        }
    }
    if let Some(artifacts) = env.get("artifacts").filter(|v| !v.is_null()) {
        let Some(artifacts) = artifacts.as_array() else {
            return p.add(&["environments", i, "artifacts"], "value is not a valid list");
        };
        for (j, a) in artifacts.iter().enumerate() {
            let j = j.to_string();
            if !a.is_object() {
                p.add(&["environments", i, "artifacts", &j], "value is not a valid dict");
                continue;
            }
            required(p, a, &["environments", i, "artifacts", &j, "id"], string);
            match a.get("type") {
                None => p.add(&["environments", i, "artifacts", &j, "type"], "field required"),
                Some(t) if t.as_str().is_some_and(|t| ARTIFACT_TYPES.contains(&t)) => {}
                Some(_) => {
                    p.add(&["environments", i, "artifacts", &j, "type"], "value is not a valid enumeration member")
                }
            }
            optional(p, a, &["environments", i, "artifacts", &j, "packages"], strings);
        }
    }
}

async fn submit(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let payload = serde_json::from_slice::<Value>(&body).ok();
    if !authorized(&state, &headers, payload.as_ref()) {
        return unauthorized();
    }
    let Some(payload) = payload else {
        return message(StatusCode::BAD_REQUEST, "Request body is not valid JSON");
    };
    let mut data = state.data.lock().unwrap();
    let arches = data.architectures.clone().unwrap_or_else(|| ARCHITECTURES.iter().map(|a| a.to_string()).collect());
    if let Err((status, body)) = validate(&payload, &arches) {
        return (status, Json(body)).into_response();
    }
    data.next += 1;
    let id = format!("00000000-0000-4000-8000-{:012x}", data.next);
    data.order.push(id.clone());
    let now = Utc::now();
    let r = TfRequest {
        id: id.clone(),
        payload: payload.clone(),
        state: "new".into(),
        overall: None,
        summary: None,
        created: now,
        updated: now,
        started: None,
        finished: None,
    };
    // `RequestCreateOut`: what was asked, without the key.
    let out = json!({
        "id": id,
        "test": test_out(&payload["test"]),
        "state": "new",
        "environments": payload.get("environments").cloned().unwrap_or(Value::Null),
        "notification": notification_out(&payload),
        "created": timestamp(r.created),
        "updated": timestamp(r.updated),
    });
    data.requests.insert(id, r);
    Json(out).into_response()
}

/// TF's timestamps: UTC without a zone, microseconds (results.json's `created`).
fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// `test` as TF answers it: every type key, the unused ones `null`, and a `tmt`
/// test under `fmf` (the recorded results.json; tft-cli's `list` reads
/// `test.fmf` or `test.sti`).
fn test_out(test: &Value) -> Value {
    let fmf = test.get("tmt").filter(|v| !v.is_null()).or_else(|| test.get("fmf")).cloned();
    json!({
        "fmf": fmf.unwrap_or(Value::Null),
        "sti": test.get("sti").cloned().unwrap_or(Value::Null),
        "script": test.get("script").cloned().unwrap_or(Value::Null),
    })
}

/// The webhook as TF shows it back: the URL only; its token is a secret of the
/// requester and never leaves TF again.
fn notification_out(payload: &Value) -> Value {
    match payload["notification"]["webhook"]["url"].as_str() {
        Some(url) => json!({ "webhook": { "url": url } }),
        None => Value::Null,
    }
}

/// The requested environments as the public API shows them: secrets hidden
/// (tft-cli's `list --show-secrets` needs the internal API for them).
fn environments_out(payload: &Value) -> Value {
    let mut envs = payload.get("environments").cloned().unwrap_or(Value::Null);
    if let Some(list) = envs.as_array_mut() {
        for env in list {
            if let Some(secrets) = env.get_mut("secrets").and_then(Value::as_object_mut) {
                for v in secrets.values_mut() {
                    *v = json!("*****");
                }
            }
        }
    }
    envs
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!((to - from).num_microseconds().unwrap_or(0) as f64 / 1e6)
}

/// `GET /requests/{id}` (`RequestGetUpdateOut`): `queued_time` is the wait from
/// `created` to the start of the run, `run_time` the run so far or in all (tft-cli's
/// `list` computes started = created + queued_time, finished = started + run_time).
fn request_out(state: &AppState, r: &TfRequest) -> Value {
    let now = Utc::now();
    let result = r.overall.as_ref().map(|o| json!({ "overall": o, "summary": r.summary, "xunit": "<testsuites/>" }));
    // A request in `error` says why under `result` (overall `error`, the reason in
    // `summary`), as the recorded tests/fixtures/testing-farm/results_error.json.
    let result = result
        .or_else(|| (r.state == "error").then(|| json!({ "overall": "error", "summary": r.summary, "xunit": null })));
    let run = r.started.map(|_| json!({ "artifacts": format!("{}/{}", state.artifacts, r.id) }));
    // Both `null` until the run starts: the CLI then shows no start time.
    let queued_time = r.started.map(|s| seconds(r.created, s)).unwrap_or(Value::Null);
    let run_time = r.started.map(|s| seconds(s, r.finished.unwrap_or(now))).unwrap_or(Value::Null);
    json!({
        "id": r.id,
        "user_id": USER_ID,
        "token_id": TOKEN_ID,
        "state": r.state,
        "test": test_out(&r.payload["test"]),
        "environments_requested": environments_out(&r.payload),
        "settings": r.payload.get("settings").cloned().unwrap_or(Value::Null),
        "notification": notification_out(&r.payload),
        "notes": [],
        "result": result,
        "run": run,
        "queued_time": queued_time,
        "run_time": run_time,
        "created": timestamp(r.created),
        "updated": timestamp(r.updated),
    })
}

async fn request(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let data = state.data.lock().unwrap();
    if let Some(raw) = data.raw.get(&id) {
        return Json(raw.clone()).into_response();
    }
    match data.requests.get(&id) {
        Some(r) => Json(request_out(&state, r)).into_response(),
        None => not_found(),
    }
}

/// `GET /requests?…`, what tft-cli's `list` asks: `created_after`/`created_before`
/// (`%Y-%m-%dT%H:%M:%S`, UTC), `state`, `token_id`, `ranch`. With a key, only that
/// token's requests ("mine"); without one, every public request.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if headers.contains_key("authorization") && !authorized(&state, &headers, None) {
        return unauthorized();
    }
    let mut bounds = [None, None];
    for (i, name) in ["created_after", "created_before"].iter().enumerate() {
        if let Some(v) = query.get(*name) {
            match NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f"))
            {
                Ok(t) => bounds[i] = Some(t.and_utc()),
                Err(_) => return message(StatusCode::BAD_REQUEST, &format!("Invalid {name}: {v}")),
            }
        }
    }
    if let Some(s) = query.get("state")
        && !STATES.contains(&s.as_str())
    {
        return message(StatusCode::BAD_REQUEST, &format!("Invalid state: {s}"));
    }
    if let Some(r) = query.get("ranch")
        && !matches!(r.as_str(), "public" | "redhat")
    {
        return message(StatusCode::BAD_REQUEST, &format!("Invalid ranch: {r}"));
    }
    let data = state.data.lock().unwrap();
    let token_matches = query.get("token_id").is_none_or(|t| t == TOKEN_ID);
    let ranch_matches = query.get("ranch").is_none_or(|r| r == "public");
    let items: Vec<Value> = data
        .order
        .iter()
        .map(|id| &data.requests[id])
        .filter(|_| token_matches && ranch_matches)
        .filter(|r| query.get("state").is_none_or(|s| *s == r.state))
        .filter(|r| bounds[0].is_none_or(|after| r.created >= after))
        .filter(|r| bounds[1].is_none_or(|before| r.created <= before))
        .map(|r| request_out(&state, r))
        .collect();
    Json(items).into_response()
}

/// `GET /whoami`: the token and its user (the shape tft-cli's `composes` reads
/// `token.ranch` from); 401 without a valid key, which `list` reports as an
/// invalid token.
async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers, None) {
        return unauthorized();
    }
    let created = "2026-01-05T09:00:00.000000";
    Json(json!({
        "token": {
            "id": TOKEN_ID, "name": "fedora-ci", "ranch": "public", "role": "user", "enabled": true,
            "user_id": USER_ID, "created": created, "updated": created,
        },
        "user": {
            "id": USER_ID, "auth_id": "fedora-ci", "auth_method": "fedora", "auth_name": "fedora-ci",
            "enabled": true, "created": created, "updated": created,
        },
    }))
    .into_response()
}

/// `DELETE /requests/{id}`, with the answers tft-cli's `cancel` tells apart:
/// 401 bad key, 404 unknown, 204 already canceled, 409 already finished, 200
/// `cancel-requested` (the sandbox's worker then cancels it at once).
async fn cancel(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&state, &headers, None) {
        return unauthorized();
    }
    let mut data = state.data.lock().unwrap();
    let Some(r) = data.requests.get_mut(&id) else {
        return not_found();
    };
    match r.state.as_str() {
        "canceled" | "cancel-requested" => return StatusCode::NO_CONTENT.into_response(),
        "complete" | "error" => return message(StatusCode::CONFLICT, "Request is already finished"),
        _ => {}
    }
    let now = Utc::now();
    r.state = "cancel-requested".into();
    r.updated = now;
    let mut answer = request_out(&state, r);
    r.state = "canceled".into();
    r.started.get_or_insert(now);
    r.finished = Some(now);
    answer["state"] = json!("cancel-requested");
    Json(answer).into_response()
}

async fn composes(State(state): State<AppState>) -> Json<Value> {
    let data = state.data.lock().unwrap();
    let names: Vec<String> = data.composes.clone().unwrap_or_else(|| COMPOSES.iter().map(|c| c.to_string()).collect());
    Json(json!({ "composes": names.iter().map(|c| json!({ "name": c })).collect::<Vec<_>>() }))
}
