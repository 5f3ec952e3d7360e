//! FASJSON sandbox: `GET /v1/users/<user>/groups/`, behind Kerberos like Fedora's
//! FASJSON. There is no anonymous mode: every request must log in. What each
//! behaviour follows (fedora-infra/fasjson, gssapi/mod_auth_gssapi):
//!
//! - Login required on every `/v<N>/` path: fasjson's deploy/httpd.conf puts
//!   `<LocationMatch "^/v[0-9]+/">` behind `AuthType GSSAPI` with
//!   `GssapiCredStore keytab:/etc/keytabs/http`, `GssapiAllowedMech krb5` and
//!   `Require valid-user`. Here the service keytab is the test realm's
//!   `HTTP/localhost` one, and tokens are checked by the real GSSAPI acceptor
//!   ([`super::spnego::accept`]): a ticket for another service, a stale or
//!   replayed one, or anything that is not a Kerberos token is refused.
//! - The refusal: mod_auth_gssapi's `mag_auth` (src/mod_auth_gssapi.c) starts from
//!   `HTTP_UNAUTHORIZED` and returns it when there is no `Authorization: Negotiate`
//!   header, when the keytab yields no acceptor credentials, and when
//!   `gss_accept_sec_context` fails; with no reply token its `done:` branch adds a
//!   bare `WWW-Authenticate: Negotiate`.
//! - The 401 body: deploy/httpd.conf's `ErrorDocument 401 /errors/401`, served by
//!   fasjson/web/apis/errors.py, whose `abort(code)` is flask-restx's
//!   `{"message": …}` with werkzeug's `Unauthorized.description` ([`UNAUTHORIZED`]).
//! - The groups and an unknown user: fasjson/web/resources/users.py `UserGroups`,
//!   marshalled with the `{groupname,uri}` mask in a `result` envelope (no `page`
//!   key when no page size is asked for, fasjson/web/utils/pagination.py), and
//!   `api_v1.abort(404, "User does not exist", name=username)`.
//!
//! Without a service keytab (a harness outside a test realm, see
//! [`crate::realm`]) nobody can log in, as a FASJSON whose keytab is missing:
//! every request is answered 401, so a test that reaches FASJSON without the
//! product's Kerberos path fails instead of passing anonymously.

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

#[derive(Clone)]
struct AppState {
    url: String,
    groups: Groups,
    /// The acceptor's keytab (mod_auth_gssapi's `GssapiCredStore keytab:`).
    service_keytab: Arc<Mutex<Option<PathBuf>>>,
    /// The client principals that logged in, in order.
    logins: Arc<Mutex<Vec<String>>>,
}

pub struct FasJsonSandbox {
    pub url: String,
    pub faults: Arc<Faults>,
    state: AppState,
}

impl FasJsonSandbox {
    /// Serves FASJSON accepting Kerberos tickets for the service whose keys are in
    /// `service_keytab`; with `None`, nobody can log in (see the module doc).
    pub async fn start(service_keytab: Option<PathBuf>) -> FasJsonSandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind sandbox");
        let url = format!("http://{}", listener.local_addr().expect("sandbox addr"));
        let state = AppState {
            url: url.clone(),
            groups: Groups::default(),
            service_keytab: Arc::new(Mutex::new(service_keytab)),
            logins: Arc::default(),
        };
        let faults = Arc::new(Faults::default());
        let router = Router::new()
            .route("/v1/users/{user}/groups/", get(user_groups))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        tokio::spawn(async move { axum::serve(listener, router).await });
        FasJsonSandbox { url, faults, state }
    }

    pub fn set_groups(&self, user: &str, groups: &[&str]) {
        self.state.groups.lock().unwrap().insert(user.to_owned(), groups.iter().map(|g| g.to_string()).collect());
    }

    /// From now on, tickets are checked against `service_keytab` (e.g. another
    /// service's keys, so that the realm's tickets for this host are refused).
    pub fn accept_tickets_for(&self, service_keytab: PathBuf) {
        *self.state.service_keytab.lock().unwrap() = Some(service_keytab);
    }

    /// The client principals FASJSON let in, in order (e.g. `packit-ci@TEST.LOCAL`).
    pub fn logins(&self) -> Vec<String> {
        self.state.logins.lock().unwrap().clone()
    }
}

/// mod_auth_gssapi's part: the client principal, or why there is none.
async fn login(state: &AppState, headers: &HeaderMap) -> Result<String, String> {
    let keytab = state.service_keytab.lock().unwrap().clone().ok_or(
        "no service keytab: this FASJSON sandbox is not in a test realm (run the test with \
         fedora_ci_tests::realm::in_realm_async), so nobody can log in",
    )?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Negotiate "))
        .ok_or("no Authorization: Negotiate header")?
        .to_owned();
    tokio::task::spawn_blocking(move || super::spnego::accept(&token, &keytab))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

async fn user_groups(State(state): State<AppState>, headers: HeaderMap, Path(user): Path<String>) -> Response {
    match login(&state, &headers).await {
        Ok(principal) => state.logins.lock().unwrap().push(principal),
        Err(reason) => {
            // Said where a failing test's output shows it: the product only sees the 401.
            eprintln!("FASJSON sandbox: 401 for {user}'s groups: {reason}");
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Negotiate")],
                Json(json!({ "message": UNAUTHORIZED })),
            )
                .into_response();
        }
    }
    match state.groups.lock().unwrap().get(&user) {
        Some(groups) => Json(json!({
            "result": groups
                .iter()
                .map(|g| json!({ "groupname": g, "uri": format!("{}/v1/groups/{g}/", state.url) }))
                .collect::<Vec<_>>()
        }))
        .into_response(),
        None => {
            (StatusCode::NOT_FOUND, Json(json!({ "message": "User does not exist", "name": user }))).into_response()
        }
    }
}
