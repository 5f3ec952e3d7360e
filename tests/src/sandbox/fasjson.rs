//! FASJSON sandbox: `GET /v1/users/<user>/groups/` with FASJSON's response shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::faults::{self, Faults};

type Groups = Arc<Mutex<HashMap<String, Vec<String>>>>;

pub struct FasJsonSandbox {
    pub url: String,
    pub faults: Arc<Faults>,
    groups: Groups,
}

impl FasJsonSandbox {
    pub async fn start() -> FasJsonSandbox {
        let groups: Groups = Arc::default();
        let faults = Arc::new(Faults::default());
        let router = Router::new()
            .route("/v1/users/{user}/groups/", get(user_groups))
            .with_state(groups.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        FasJsonSandbox { url, faults, groups }
    }

    pub fn set_groups(&self, user: &str, groups: &[&str]) {
        self.groups.lock().unwrap().insert(user.to_owned(), groups.iter().map(|g| g.to_string()).collect());
    }
}

async fn user_groups(State(groups): State<Groups>, Path(user): Path<String>) -> Response {
    match groups.lock().unwrap().get(&user) {
        Some(g) => {
            Json(json!({ "result": g.iter().map(|g| json!({ "groupname": g })).collect::<Vec<_>>() })).into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "message": format!("{user} does not exist") }))).into_response(),
    }
}
