//! FASJSON sandbox: `GET /v1/users/<user>/groups/` with FASJSON's response shape.
//! Anonymous by default; [`FasJsonSandbox::require_spnego`] makes it answer only
//! clients with a valid Kerberos (SPNEGO) ticket, as Fedora's FASJSON does:
//! fasjson's deploy/httpd.conf puts every `/v<N>/` path behind mod_auth_gssapi
//! (`AuthType GSSAPI`, `Require valid-user`), whose 401 carries
//! `WWW-Authenticate: Negotiate` and the body of `ErrorDocument 401 /errors/401`,
//! i.e. fasjson/web/apis/errors.py `abort(401)`: flask-restx's `{"message": …}`
//! with werkzeug's `Unauthorized` description. `make run` with a realm and the
//! Kerberos tests (tests/tests/local_commands.rs) use it that way; the in-process
//! tests stay anonymous because their client cannot get a ticket without
//! `KRB5_CONFIG` in the test process (see crate::realm).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::faults::{self, Faults};

/// werkzeug's `Unauthorized.description`, which flask-restx's `abort(401)` answers.
pub const UNAUTHORIZED: &str = "The server could not verify that you are authorized to access the URL requested. \
You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply \
the credentials required.";

type Groups = Arc<Mutex<HashMap<String, Vec<String>>>>;

#[derive(Clone, Default)]
struct AppState {
    groups: Groups,
    /// The acceptor's keytab when SPNEGO is required.
    spnego: Arc<Mutex<Option<PathBuf>>>,
}

pub struct FasJsonSandbox {
    pub url: String,
    pub faults: Arc<Faults>,
    state: AppState,
}

impl FasJsonSandbox {
    pub async fn start() -> FasJsonSandbox {
        let state = AppState::default();
        let faults = Arc::new(Faults::default());
        let router = Router::new()
            .route("/v1/users/{user}/groups/", get(user_groups))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let url = super::spawn(router).await;
        FasJsonSandbox { url, faults, state }
    }

    pub fn set_groups(&self, user: &str, groups: &[&str]) {
        self.state.groups.lock().unwrap().insert(user.to_owned(), groups.iter().map(|g| g.to_string()).collect());
    }

    /// From now on only requests with `Authorization: Negotiate <token>` for the
    /// service whose keys `service_keytab` holds are answered; others get 401.
    pub fn require_spnego(&self, service_keytab: PathBuf) {
        *self.state.spnego.lock().unwrap() = Some(service_keytab);
    }
}

async fn user_groups(State(state): State<AppState>, headers: HeaderMap, Path(user): Path<String>) -> Response {
    let keytab = state.spnego.lock().unwrap().clone();
    if let Some(keytab) = keytab {
        let token =
            headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Negotiate "));
        let accepted = match token {
            Some(token) => tokio::task::spawn_blocking({
                let token = token.to_owned();
                move || super::spnego::accept(&token, &keytab)
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
            None => Err("no Negotiate token".into()),
        };
        if let Err(reason) = accepted {
            tracing::debug!(%reason, "FASJSON sandbox: Kerberos login refused");
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Negotiate")],
                Json(json!({ "message": UNAUTHORIZED })),
            )
                .into_response();
        }
    }
    match state.groups.lock().unwrap().get(&user) {
        Some(g) => {
            Json(json!({ "result": g.iter().map(|g| json!({ "groupname": g })).collect::<Vec<_>>() })).into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "message": format!("{user} does not exist") }))).into_response(),
    }
}
