//! A plain file server standing in for static sites we read (the ELN package lists
//! on tiny.distro.builders).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::faults::{self, Faults};

type Files = Arc<Mutex<HashMap<String, String>>>;

pub struct StaticFiles {
    pub url: String,
    pub faults: Arc<Faults>,
    files: Files,
}

impl StaticFiles {
    pub async fn start() -> StaticFiles {
        let files: Files = Arc::default();
        let faults = Arc::new(Faults::default());
        let router = Router::new()
            .route("/{*path}", get(serve))
            .with_state(files.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        StaticFiles { url, faults, files }
    }

    /// Serves `content` at `/<path>`; returns its full URL.
    pub fn put(&self, path: &str, content: &str) -> String {
        self.files.lock().unwrap().insert(path.trim_start_matches('/').to_owned(), content.to_owned());
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }
}

async fn serve(State(files): State<Files>, Path(path): Path<String>) -> Response {
    match files.lock().unwrap().get(&path) {
        Some(c) => c.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
