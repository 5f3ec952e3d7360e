//! Log Detective interface server sandbox: GitHub `fedora-copr/logdetective-packit`
//! at commit 36ac68f (2026-04-20), the server packit-service and we call.
//!
//! - `POST /analyze` follows `analyze_build` in `src/logdetective_packit/main.py`:
//!   the `HTTPBearer` dependency first (FastAPI 0.121, the version in its
//!   `uv.lock`: no or a malformed `Authorization` → 403 `Not authenticated`, a
//!   scheme other than Bearer → 403 `Invalid authentication credentials`), then
//!   the body against the `BuildInfo` pydantic model of `models.py` (422 with
//!   FastAPI's `{"detail": [{type, loc, msg, input}]}`), then the token compared
//!   with `LD_PACKIT_TOKEN` (401 `Invalid or missing token.` with
//!   `WWW-Authenticate: Bearer`); answers `Response`
//!   `{log_detective_analysis_id, creation_time}` at once.
//! - The outcome follows `call_log_detective`: a `complete` message with Log
//!   Detective's answer as `log_detective_response`, or `build_error_message`'s
//!   `error` message with `error_msg`; the body is the `LogDetectiveMessage` schema
//!   of `schema/src/logdetective_packit_message/models.py`, topic
//!   `<prefix>.logdetective.analysis`, `log_detective_analysis_start` as Python's
//!   `str(datetime)`.
//!
//! Published results go to a [`Sink`]: the local broker over AMQP (as
//! fedora-messaging does; `make run` with `AMQP_URL`), CloudEvents POSTed where
//! the bridge would deliver them (`make run` without a broker), or held until a
//! test releases them ([`LogDetectiveSandbox::release`]), so tests decide when a
//! result arrives — or that it never does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::faults::{self, Faults};

/// The token the sandbox accepts (`LD_PACKIT_TOKEN`); a known value so logs can
/// be checked for it.
pub const TOKEN: &str = "sandbox-log-detective-token";

/// One accepted `/analyze` request.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub id: String,
    /// The body we were sent, verbatim.
    pub body: Value,
}

/// What Log Detective makes of the next analyses.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A `complete` message explaining the failure from the logs sent.
    Explain,
    /// An `error` message, as `call_log_detective` publishes when Log Detective
    /// itself fails.
    Error(String),
}

/// Where published results go.
#[derive(Clone)]
pub enum Sink {
    /// Kept until [`LogDetectiveSandbox::release`] (tests).
    Held,
    /// Published at once on `amq.topic` of this broker, as fedora-messaging does.
    Amqp(Arc<fedora_ci::clients::bus::Bus>),
    /// POSTed at once as a binary CloudEvent, as the bridge would deliver it
    /// (again, with backoff, until it is answered 2xx).
    CloudEvents(String),
}

/// A result message: topic, message id, body.
#[derive(Debug, Clone)]
pub struct Published {
    pub topic: String,
    pub id: String,
    pub body: Value,
}

struct Data {
    outcome: Outcome,
    sink: Sink,
    analyses: Vec<Analysis>,
    held: Vec<Published>,
    published: Vec<Published>,
    /// Status codes of refused requests, for tests of our client.
    refused: Vec<u16>,
}

#[derive(Clone)]
struct AppState {
    token: String,
    topic: String,
    data: Arc<Mutex<Data>>,
}

pub struct LogDetectiveSandbox {
    pub url: String,
    pub token: String,
    pub faults: Arc<Faults>,
    state: AppState,
}

impl LogDetectiveSandbox {
    /// A server publishing under `topic_prefix` (`org.fedoraproject.prod.`).
    pub async fn start(topic_prefix: &str) -> LogDetectiveSandbox {
        let data = Arc::new(Mutex::new(Data {
            outcome: Outcome::Explain,
            sink: Sink::Held,
            analyses: Vec::new(),
            held: Vec::new(),
            published: Vec::new(),
            refused: Vec::new(),
        }));
        let state = AppState { token: TOKEN.to_owned(), topic: format!("{topic_prefix}logdetective.analysis"), data };
        let faults = Arc::new(Faults::default());
        let router = Router::new()
            .route("/analyze", post(analyze))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        LogDetectiveSandbox { url, token: TOKEN.to_owned(), faults, state }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.state.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_outcome(&self, outcome: Outcome) {
        self.data().outcome = outcome;
    }

    pub fn set_sink(&self, sink: Sink) {
        self.data().sink = sink;
    }

    /// Every accepted request, in order.
    pub fn analyses(&self) -> Vec<Analysis> {
        self.data().analyses.clone()
    }

    /// HTTP statuses of the requests refused (403, 401, 422).
    pub fn refused(&self) -> Vec<u16> {
        self.data().refused.clone()
    }

    /// Results not released yet.
    pub fn held(&self) -> Vec<Published> {
        self.data().held.clone()
    }

    /// Every result sent to a sink.
    pub fn published(&self) -> Vec<Published> {
        self.data().published.clone()
    }

    /// Forgets the held results: lost messages.
    pub fn lose_held(&self) -> usize {
        std::mem::take(&mut self.data().held).len()
    }

    /// Delivers the held results as binary CloudEvents to `url` (as bridge and
    /// Broker would) and returns each answer's status.
    pub async fn release(&self, url: &str) -> Vec<StatusCode> {
        let held = std::mem::take(&mut self.data().held);
        let mut statuses = Vec::new();
        for message in held {
            statuses.push(post_cloudevent(url, &message).await);
            self.data().published.push(message);
        }
        statuses
    }
}

async fn post_cloudevent(url: &str, message: &Published) -> StatusCode {
    let request = fedora_ci::dev::testing::binary_headers(&message.topic, &message.id)
        .into_iter()
        .fold(reqwest::Client::new().post(url), |r, (name, value)| r.header(name, value))
        // The extension the bridge promotes (its default FEDMSG_BRIDGE_PROMOTE),
        // which the Trigger filters on.
        .header("ce-ldbuildsystem", message.body["build_system"].as_str().unwrap_or_default());
    match request.body(serde_json::to_vec(&message.body).unwrap_or_default()).send().await {
        Ok(r) => r.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// FastAPI's 422 body for pydantic errors.
fn unprocessable(errors: Vec<Value>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "detail": errors }))).into_response()
}

fn error(kind: &str, loc: &[&str], msg: &str, input: &Value) -> Value {
    let mut l = vec![json!("body")];
    l.extend(loc.iter().map(|s| json!(s)));
    json!({ "type": kind, "loc": l, "msg": msg, "input": input })
}

/// `BuildInfo` (`models.py`) as pydantic v2 validates it: `artifacts` a non-empty
/// `dict[str, str]`, `target_build` and `build_system` required strings (an int
/// is not a string in pydantic v2), `project_url` / `commit_sha` optional strings,
/// `pr_id` an optional int, `build_metadata` an optional `BuildMetadata` of
/// optional strings. Unknown fields are ignored, as pydantic does by default.
fn validate(body: &Value) -> Vec<Value> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return vec![error("model_attributes_type", &[], "Input should be a valid dictionary or object", body)];
    };
    match obj.get("artifacts") {
        None => errors.push(error("missing", &["artifacts"], "Field required", body)),
        Some(Value::Object(map)) => {
            if map.is_empty() {
                errors.push(error(
                    "too_short",
                    &["artifacts"],
                    "Dictionary should have at least 1 item after validation, not 0",
                    &obj["artifacts"],
                ));
            }
            for (k, v) in map {
                if !v.is_string() {
                    errors.push(error("string_type", &["artifacts", k], "Input should be a valid string", v));
                }
            }
        }
        Some(other) => errors.push(error("dict_type", &["artifacts"], "Input should be a valid dictionary", other)),
    }
    for field in ["target_build", "build_system"] {
        match obj.get(field) {
            None => errors.push(error("missing", &[field], "Field required", body)),
            Some(Value::String(_)) => {}
            Some(other) => errors.push(error("string_type", &[field], "Input should be a valid string", other)),
        }
    }
    for field in ["project_url", "commit_sha"] {
        if let Some(v) = obj.get(field).filter(|v| !v.is_null() && !v.is_string()) {
            errors.push(error("string_type", &[field], "Input should be a valid string", v));
        }
    }
    if let Some(v) = obj.get("pr_id").filter(|v| !v.is_null() && !v.is_i64()) {
        errors.push(error("int_type", &["pr_id"], "Input should be a valid integer", v));
    }
    match obj.get("build_metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(meta)) => {
            for field in ["specfile", "last_patch", "commentary", "infra_status"] {
                if let Some(v) = meta.get(field).filter(|v| !v.is_null() && !v.is_string()) {
                    errors.push(error("string_type", &["build_metadata", field], "Input should be a valid string", v));
                }
            }
        }
        Some(other) => errors.push(error(
            "model_attributes_type",
            &["build_metadata"],
            "Input should be a valid dictionary or object",
            other,
        )),
    }
    errors
}

/// `analyze_build`.
async fn analyze(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse =
        |status: StatusCode| state.data.lock().unwrap_or_else(|p| p.into_inner()).refused.push(status.as_u16());
    // HTTPBearer (fastapi/security/http.py, 0.121): scheme and credentials, or 403.
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (scheme, credentials) = authorization.split_once(' ').unwrap_or((authorization, ""));
    if authorization.is_empty() || scheme.is_empty() || credentials.is_empty() {
        refuse(StatusCode::FORBIDDEN);
        return detail(StatusCode::FORBIDDEN, "Not authenticated");
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        refuse(StatusCode::FORBIDDEN);
        return detail(StatusCode::FORBIDDEN, "Invalid authentication credentials");
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY);
            return unprocessable(vec![json!({
                "type": "json_invalid", "loc": ["body", e.column()], "msg": "JSON decode error",
                "input": {}, "ctx": {"error": e.to_string()}
            })]);
        }
    };
    let errors = validate(&parsed);
    if !errors.is_empty() {
        refuse(StatusCode::UNPROCESSABLE_ENTITY);
        return unprocessable(errors);
    }
    if credentials != state.token {
        refuse(StatusCode::UNAUTHORIZED);
        let mut r = detail(StatusCode::UNAUTHORIZED, "Invalid or missing token.");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("header value"));
        return r;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let start = Utc::now();
    let message = {
        let mut data = state.data.lock().unwrap_or_else(|p| p.into_inner());
        data.analyses.push(Analysis { id: id.clone(), body: parsed.clone() });
        let body = result_body(&data.outcome, &id, &start, &parsed);
        Published { topic: state.topic.clone(), id: uuid::Uuid::new_v4().to_string(), body }
    };
    let sink = state.data.lock().unwrap_or_else(|p| p.into_inner()).sink.clone();
    match sink {
        Sink::Held => state.data.lock().unwrap_or_else(|p| p.into_inner()).held.push(message),
        // Like `asyncio.create_task(call_log_detective(…))`: after the answer.
        Sink::Amqp(bus) => {
            let data = state.data.clone();
            tokio::spawn(async move {
                if let Err(e) = bus.publish(&message.topic, &message.id, &message.body).await {
                    tracing::warn!(error = %e, "Log Detective sandbox: result not published");
                } else {
                    data.lock().unwrap_or_else(|p| p.into_inner()).published.push(message);
                }
            });
        }
        Sink::CloudEvents(url) => {
            let data = state.data.clone();
            tokio::spawn(async move {
                // Until a 2xx, with backoff: what the bridge does while it holds a
                // message (at least once).
                let mut delay = std::time::Duration::from_millis(100);
                for _ in 0..30 {
                    if post_cloudevent(&url, &message).await.is_success() {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(2));
                }
                data.lock().unwrap_or_else(|p| p.into_inner()).published.push(message);
            });
        }
    }
    // pydantic serialises an aware UTC datetime with a `Z`.
    Json(json!({
        "log_detective_analysis_id": id,
        "creation_time": start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }))
    .into_response()
}

/// The message `call_log_detective` publishes (or `build_error_message`).
fn result_body(outcome: &Outcome, id: &str, start: &chrono::DateTime<Utc>, request: &Value) -> Value {
    // Python's str(datetime) of an aware UTC time: "2025-12-10 10:57:57.341695+00:00".
    let started = start.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
    let mut body = json!({
        "target_build": request["target_build"],
        "build_system": request["build_system"],
        "log_detective_analysis_id": id,
        "log_detective_analysis_start": started,
        "project_url": request.get("project_url").cloned().unwrap_or(Value::Null),
        "pr_id": request.get("pr_id").cloned().unwrap_or(Value::Null),
        "commit_sha": request.get("commit_sha").cloned().unwrap_or(Value::Null),
    });
    match outcome {
        Outcome::Explain => {
            let artifacts: BTreeMap<String, Value> =
                serde_json::from_value(request["artifacts"].clone()).unwrap_or_default();
            let snippets: Vec<Value> = artifacts
                .keys()
                .enumerate()
                .map(|(i, name)| {
                    json!({
                        "source_file": name,
                        "line_number": 10 * (i + 1),
                        "text": format!("error: <{name}> reports the failing step"),
                    })
                })
                .collect();
            body["status"] = json!("complete");
            body["log_detective_response"] = json!({
                "explanation": {
                    "text": format!(
                        "The build of task {} failed: a command in %build exited with status 1.\nFix the <failing> step.",
                        request["target_build"].as_str().unwrap_or_default()
                    ),
                },
                "no_issue_found": false,
                "snippets": snippets,
            });
        }
        Outcome::Error(msg) => {
            body["status"] = json!("error");
            body["error_msg"] = json!(msg);
        }
    }
    body
}
