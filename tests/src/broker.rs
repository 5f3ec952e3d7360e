//! A local stand-in for the Knative Broker: it routes each CloudEvent by the
//! Trigger filters read from `knative/` — the same table the cluster uses — so
//! local routing and cluster routing cannot drift. Delivery is synchronous: the
//! sender gets 202 once every subscriber answered 2xx, else 502 (and may retry,
//! as the Broker would).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fedora_ci::messages::Topics;
use fedora_ci::runtime::intake::CloudEventRequest;
use serde_json::json;

use crate::triggers::{Routing, TriggerRoute};

/// Told of every event the broker accepts (its type and data), before delivery.
pub type EventObserver = Arc<dyn Fn(&str, &serde_json::Value) + Send + Sync>;

#[derive(Clone)]
struct Broker {
    routes: Arc<Vec<TriggerRoute>>,
    observer: Option<EventObserver>,
    /// Subscriber (Knative Service name) → the local function's URL.
    subscribers: Arc<HashMap<String, String>>,
    http: reqwest::Client,
}

/// Serves the broker; returns its URL.
pub async fn start(routes: Vec<TriggerRoute>, subscribers: HashMap<String, String>) -> String {
    start_observed(routes, subscribers, None).await
}

/// The broker, telling `observer` of each event: `make run`'s Pagure sandbox
/// learns the PRs (and new heads) announced to it, whether a developer POSTs
/// the message or the bridge brings it, as real Pagure has a PR before it
/// announces it.
pub async fn start_observed(
    routes: Vec<TriggerRoute>,
    subscribers: HashMap<String, String>,
    observer: Option<EventObserver>,
) -> String {
    let broker =
        Broker { routes: Arc::new(routes), observer, subscribers: Arc::new(subscribers), http: reqwest::Client::new() };
    crate::sandbox::spawn(Router::new().route("/", post(deliver)).with_state(broker)).await
}

async fn deliver(State(broker): State<Broker>, headers: HeaderMap, body: Bytes) -> Response {
    let event = match CloudEventRequest::decode(&headers, body.clone(), &Topics::new("")) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    if let Some(observer) = &broker.observer {
        let structured = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/cloudevents+json"));
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
            let data = if structured { json.get("data").cloned().unwrap_or_default() } else { json };
            observer(&event.meta.event_type, &data);
        }
    }
    let extensions: BTreeMap<String, String> = event.meta.extensions.clone().into_iter().collect();
    let targets = broker.routes.routes_to(&event.meta.event_type, &extensions);
    let mut results = Vec::new();
    for target in &targets {
        let Some(url) = broker.subscribers.get(target) else {
            results.push(json!({ "subscriber": target, "error": "not running locally" }));
            continue;
        };
        let mut request = broker.http.post(url).body(body.clone());
        for (name, value) in headers.iter() {
            if name.as_str().starts_with("ce-") || name == "content-type" {
                request = request.header(name, value);
            }
        }
        let status = match request.send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        results.push(json!({ "subscriber": target, "status": status }));
    }
    let all_ok = results.iter().all(|r| r["status"].as_u64().is_some_and(|s| (200..300).contains(&s)));
    let status = if all_ok { StatusCode::ACCEPTED } else { StatusCode::BAD_GATEWAY };
    (status, axum::Json(json!({ "type": event.meta.event_type, "delivered": results }))).into_response()
}
