//! FASJSON client: which groups a Fedora account is in (the `packager` check).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum FasJsonError {
    #[error("FASJSON is unreachable: {0}")]
    Unreachable(String),
    #[error("FASJSON answered {0}")]
    Http(u16),
    #[error("unexpected FASJSON response: {0}")]
    Decode(String),
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
}

impl FasJsonClient {
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }

    /// Group names of `user`; an unknown user has none. Retried briefly on
    /// 5xx/timeouts because a FASJSON blip must not refuse a packager's command.
    pub async fn user_groups(&self, user: &str) -> Result<Vec<String>, FasJsonError> {
        crate::retry::with_backoff(3, Duration::from_millis(200), FasJsonError::is_transient, || {
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
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
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
