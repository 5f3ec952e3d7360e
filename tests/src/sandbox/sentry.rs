//! A Sentry ingest endpoint (`POST /api/<project>/envelope/`) that keeps every
//! envelope it is sent, as the functions' Sentry transport delivers them.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::Value;

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub project: String,
    /// Every request header, lowercased name → value.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Envelope {
    /// The payloads of the envelope's items of `item_type` (`event`, …), parsed.
    pub fn items(&self, item_type: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut rest = self.body.as_bytes();
        // The first line is the envelope header.
        let Some(end) = rest.iter().position(|b| *b == b'\n') else { return out };
        rest = &rest[end + 1..];
        while !rest.is_empty() {
            let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let Ok(header) = serde_json::from_slice::<Value>(&rest[..end]) else { break };
            rest = rest.get(end + 1..).unwrap_or_default();
            let len = match header["length"].as_u64() {
                Some(len) => (len as usize).min(rest.len()),
                None => rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len()),
            };
            if header["type"] == item_type
                && let Ok(payload) = serde_json::from_slice(&rest[..len])
            {
                out.push(payload);
            }
            rest = &rest[len..];
            if rest.first() == Some(&b'\n') {
                rest = &rest[1..];
            }
        }
        out
    }
}

pub struct SentrySandbox {
    pub url: String,
    received: Arc<Mutex<Vec<Envelope>>>,
}

async fn envelope(
    State(received): State<Arc<Mutex<Vec<Envelope>>>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    received.lock().unwrap().push(Envelope { project, headers, body });
    "{}"
}

impl SentrySandbox {
    pub async fn start() -> SentrySandbox {
        let received: Arc<Mutex<Vec<Envelope>>> = Arc::default();
        let router = Router::new().route("/api/{project}/envelope/", post(envelope)).with_state(received.clone());
        SentrySandbox { url: super::spawn(router).await, received }
    }

    /// A DSN for project 1 on this endpoint.
    pub fn dsn(&self) -> String {
        self.url.replacen("http://", "http://sandboxkey@", 1) + "/1"
    }

    pub fn envelopes(&self) -> Vec<Envelope> {
        self.received.lock().unwrap().clone()
    }

    /// Every error event (panics included) received so far.
    pub fn events(&self) -> Vec<Value> {
        self.envelopes().iter().flat_map(|e| e.items("event")).collect()
    }
}
