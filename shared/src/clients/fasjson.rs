//! FASJSON client: which groups a Fedora account is in (the `packager` check).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::clients::kerberos::Kerberos;

#[derive(Debug, thiserror::Error)]
pub enum FasJsonError {
    #[error("FASJSON is unreachable: {0}")]
    Unreachable(String),
    #[error("FASJSON answered {0}")]
    Http(u16),
    #[error("unexpected FASJSON response: {0}")]
    Decode(String),
    #[error("Kerberos authentication error: {0}")]
    Auth(String),
}

impl FasJsonError {
    pub fn is_transient(&self) -> bool {
        matches!(self, FasJsonError::Unreachable(_))
    }
}

#[derive(Clone)]
pub struct FasJsonClient {
    http: reqwest::Client,
    base: Url,
    /// Fedora's FASJSON only answers authenticated (GSSAPI) clients; the same
    /// keytab as Koji's is used. `None` (no keytab configured): anonymous
    /// requests, which Fedora's FASJSON, and the tests' sandbox, refuse with 401.
    kerberos: Option<Kerberos>,
}

impl FasJsonClient {
    pub fn new(http: reqwest::Client, base: Url, kerberos: Option<Kerberos>) -> Self {
        Self { http, base, kerberos }
    }

    async fn authorization(&self) -> Result<Option<String>, FasJsonError> {
        let Some(kerberos) = self.kerberos.clone() else { return Ok(None) };
        let host = self.base.host_str().unwrap_or_default().to_owned();
        let token = tokio::task::spawn_blocking(move || kerberos.negotiate_token(&host))
            .await
            .map_err(|e| FasJsonError::Unreachable(e.to_string()))?
            .map_err(|e| FasJsonError::Auth(e.to_string()))?;
        Ok(Some(format!("Negotiate {token}")))
    }

    /// Group names of `user`; an unknown user has none. Retried briefly on
    /// 5xx/timeouts because a FASJSON blip must not refuse a packager's command.
    pub async fn user_groups(&self, user: &str) -> Result<Vec<String>, FasJsonError> {
        crate::clients::retry::with_backoff(3, Duration::from_millis(200), FasJsonError::is_transient, || {
            self.fetch_groups(user)
        })
        .await
    }

    async fn fetch_groups(&self, user: &str) -> Result<Vec<String>, FasJsonError> {
        #[derive(Deserialize)]
        struct Group {
            groupname: String,
        }
        #[derive(Deserialize)]
        struct Page {
            result: Vec<Group>,
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| FasJsonError::Decode("FASJSON_URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["v1", "users", user, "groups", ""]);
        let mut request = self.http.get(url).timeout(Duration::from_secs(10));
        if let Some(auth) = self.authorization().await? {
            request = request.header("Authorization", auth);
        }
        let response = crate::telemetry::trace::send("fasjson", request)
            .await
            .map_err(|e| FasJsonError::Unreachable(e.without_url().to_string()))?;
        match response.status() {
            s if s.is_success() => response
                .json::<Page>()
                .await
                .map(|p| p.result.into_iter().map(|g| g.groupname).collect())
                .map_err(|e| FasJsonError::Decode(e.to_string())),
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(FasJsonError::Unreachable(format!("HTTP {s}")))
            }
            s => Err(FasJsonError::Http(s.as_u16())),
        }
    }
}
