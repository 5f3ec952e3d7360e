//! `/api/healthz` and `/api/system` (packit-service healthz.py, system.py).

use axum::Json;
use serde_json::{Value, json};

/// packit-service's answer, word for word: the dashboard's status check reads it.
/// HEAD gets the same status without a body (axum answers HEAD from GET).
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "We are healthy!" }))
}

/// `{<package>: {commit, version}}` like packit-service's list of its Python
/// packages; ours is the one workspace. `commit` is the 7-character git commit
/// when the build had `FEDORA_CI_COMMIT` in its environment
/// (`FEDORA_CI_COMMIT=$(git rev-parse HEAD) cargo build …`), else null.
pub async fn system() -> Json<Value> {
    let commit = option_env!("FEDORA_CI_COMMIT").map(|c| c.chars().take(7).collect::<String>());
    Json(json!({ "fedora_ci": { "commit": commit, "version": env!("CARGO_PKG_VERSION") } }))
}
