//! Testing Farm sandbox: API v0.1 `POST /requests` (validated the way TF does:
//! 401 on a bad key, 400 with `errors` on a malformed request), `GET /requests/{id}`
//! in TF's response shape, `GET /composes`, and the webhook call TF makes when a
//! request changes state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::{self, Faults};

/// What the public ranch lists by default (`GET /composes`); [`TestingFarmSandbox::set_composes`]
/// changes it.
pub const COMPOSES: [&str; 6] =
    ["Fedora-Rawhide", "Fedora-ELN", "Fedora-43", "Fedora-42", "CentOS-Stream-9", "CentOS-Stream-10"];

#[derive(Debug, Clone)]
pub struct TfRequest {
    pub id: String,
    /// The body we were sent, verbatim.
    pub payload: Value,
    pub state: String,
    pub overall: Option<String>,
    pub summary: Option<String>,
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
            .route("/v0.1/requests", post(submit))
            .route("/v0.1/requests/{id}", get(request).delete(cancel))
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
    /// `error` + summary, `canceled`).
    pub fn set_state(&self, id: &str, state: &str, overall: Option<&str>, summary: Option<&str>) {
        let mut data = self.data.lock().unwrap();
        let r = data.requests.get_mut(id).unwrap_or_else(|| panic!("no TF request {id}"));
        r.state = state.to_owned();
        r.overall = overall.map(str::to_owned);
        r.summary = summary.map(str::to_owned);
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

fn errors(status: StatusCode, errors: Value) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(format!("Bearer {}", state.key).as_str())
}

/// The checks TF's request schema makes that our payloads could get wrong.
fn validate(body: &Value) -> Result<(), Value> {
    let mut problems = serde_json::Map::new();
    let tmt = &body["test"]["tmt"];
    if !tmt["url"].is_string() {
        problems.insert("test.tmt.url".into(), json!("is required"));
    }
    match body["environments"].as_array() {
        Some(envs) if !envs.is_empty() => {
            for (i, env) in envs.iter().enumerate() {
                if !env["arch"].is_string() {
                    problems.insert(format!("environments.{i}.arch"), json!("is required"));
                }
                if let Some(artifacts) = env.get("artifacts") {
                    let ok = artifacts
                        .as_array()
                        .is_some_and(|a| a.iter().all(|x| x["id"].is_string() && x["type"].is_string()));
                    if !ok {
                        problems.insert(format!("environments.{i}.artifacts"), json!("each needs id and type"));
                    }
                }
                if let Some(vars) = env.get("variables")
                    && !vars.as_object().is_some_and(|m| m.values().all(Value::is_string))
                {
                    problems.insert(format!("environments.{i}.variables"), json!("values must be strings"));
                }
            }
        }
        _ => {
            problems.insert("environments".into(), json!("at least one environment is required"));
        }
    }
    if let Some(hook) = body.get("notification").and_then(|n| n.get("webhook"))
        && !hook["url"].is_string()
    {
        problems.insert("notification.webhook.url".into(), json!("is required"));
    }
    if problems.is_empty() { Ok(()) } else { Err(Value::Object(problems)) }
}

async fn submit(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "message": "Not authorized to perform this action" })))
            .into_response();
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, json!("request body is not JSON"));
    };
    if let Err(problems) = validate(&payload) {
        return errors(StatusCode::BAD_REQUEST, problems);
    }
    let mut data = state.data.lock().unwrap();
    data.next += 1;
    let id = format!("00000000-0000-4000-8000-{:012x}", data.next);
    data.order.push(id.clone());
    data.requests.insert(
        id.clone(),
        TfRequest { id: id.clone(), payload: payload.clone(), state: "new".into(), overall: None, summary: None },
    );
    Json(json!({ "id": id, "test": payload["test"], "state": "new", "environments": payload["environments"] }))
        .into_response()
}

async fn request(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let data = state.data.lock().unwrap();
    if let Some(raw) = data.raw.get(&id) {
        return Json(raw.clone()).into_response();
    }
    let Some(r) = data.requests.get(&id) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "message": "No such entity" }))).into_response();
    };
    let result = r.overall.as_ref().map(|o| json!({ "overall": o, "summary": r.summary, "xunit": "<testsuites/>" }));
    let run = (r.state != "new").then(|| json!({ "artifacts": format!("{}/{}", state.artifacts, r.id) }));
    Json(json!({
        "id": r.id,
        "state": r.state,
        "test": r.payload["test"],
        "environments_requested": r.payload["environments"],
        "notification": r.payload.get("notification"),
        "result": result,
        "run": run,
        "created": "2026-11-25 10:00:00.000000",
        "updated": "2026-11-25 10:05:00.000000",
    }))
    .into_response()
}

/// `DELETE /requests/{id}`: TF cancels a request not yet finished
/// (`cancel-requested`, then `canceled`; the sandbox goes straight to `canceled`).
async fn cancel(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "message": "Not authorized to perform this action" })))
            .into_response();
    }
    let mut data = state.data.lock().unwrap();
    let Some(r) = data.requests.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "message": "No such entity" }))).into_response();
    };
    if matches!(r.state.as_str(), "complete" | "error" | "canceled") {
        return (StatusCode::CONFLICT, Json(json!({ "message": "Request is already finished" }))).into_response();
    }
    r.state = "canceled".into();
    Json(json!({ "id": id, "state": "cancel-requested" })).into_response()
}

async fn composes(State(state): State<AppState>) -> Json<Value> {
    let data = state.data.lock().unwrap();
    let names: Vec<String> = data.composes.clone().unwrap_or_else(|| COMPOSES.iter().map(|c| c.to_string()).collect());
    Json(json!({ "composes": names.iter().map(|c| json!({ "name": c })).collect::<Vec<_>>() }))
}
