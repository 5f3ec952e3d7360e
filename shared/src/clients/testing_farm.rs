//! Testing Farm API v0.1 client: submit requests, read their state, list composes.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::config::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum TestingFarmError {
    /// Unreachable, timeout or 5xx: retry later.
    #[error("Testing Farm is unreachable: {0}")]
    Unreachable(String),
    /// TF refused the request (`errors` in the reply); retrying will not help.
    #[error("{0}")]
    Refused(String),
    /// TF rejected our API key (401, or 403 for a key without the right): our
    /// infrastructure's problem, never the package's; `message` is TF's reason.
    #[error("Testing Farm rejected our API key: {0}")]
    Unauthorized(String),
    #[error("Testing Farm answered {0}")]
    Http(u16),
    #[error("unexpected Testing Farm response: {0}")]
    Decode(String),
    /// Testing Farm has no environment (compose) for this distro: nothing to run on.
    #[error("Testing Farm has no {0} environment")]
    NoEnvironment(String),
}

impl TestingFarmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, TestingFarmError::Unreachable(_))
    }
}

/// A request as `GET /requests/{id}` returns it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct RequestInfo {
    pub id: String,
    /// `new`, `queued`, `running`, `complete`, `error`, `canceled`, `cancel-requested`.
    pub state: String,
    pub result: Option<RequestResult>,
    pub run: Option<RunInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RequestResult {
    /// `passed`, `failed`, `error`, `skipped`, `unknown`.
    pub overall: Option<String>,
    pub summary: Option<String>,
    pub xunit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunInfo {
    pub artifacts: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Compose {
    name: String,
}

#[derive(Clone)]
pub struct TestingFarmClient {
    http: reqwest::Client,
    api: Url,
    key: Option<Secret>,
}

impl TestingFarmClient {
    pub fn new(http: reqwest::Client, api: Url, key: Option<Secret>) -> Self {
        Self { http, api, key }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, TestingFarmError> {
        let req = match &self.key {
            Some(k) => req.bearer_auth(k.expose()),
            None => req,
        };
        let response = crate::telemetry::trace::send("testing-farm", req)
            .await
            .map_err(|e| TestingFarmError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(TestingFarmError::Unreachable(format!("HTTP {status}")));
        }
        if status.is_client_error() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                // TF's NotAuthorizedError / ForbiddenError body: `{"message": …}`.
                let reason = body.get("message").map(describe).unwrap_or_else(|| format!("HTTP {status}"));
                return Err(TestingFarmError::Unauthorized(reason));
            }
            // A 400 carries the field errors under `errors` and a summary under
            // `message`; a 422 (`test_one_of`), 404 or 409 only `message`. The
            // summary reads best; the errors are the fallback.
            let message = body.get("message").filter(|m| m.as_str().is_some_and(|m| !m.trim().is_empty()));
            return Err(match message.or_else(|| body.get("errors")) {
                Some(errors) => TestingFarmError::Refused(describe(errors)),
                None => TestingFarmError::Http(status.as_u16()),
            });
        }
        Ok(response)
    }

    /// `POST /requests`; returns the request id.
    pub async fn submit(&self, payload: &Value) -> Result<String, TestingFarmError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let response = self.send(self.http.post(self.url(&["requests"])).json(payload)).await?;
        response.json::<Created>().await.map(|c| c.id).map_err(|e| TestingFarmError::Decode(e.to_string()))
    }

    pub async fn request(&self, id: &str) -> Result<RequestInfo, TestingFarmError> {
        let response = self.send(self.http.get(self.url(&["requests", id]))).await?;
        response.json().await.map_err(|e| TestingFarmError::Decode(e.to_string()))
    }

    /// `DELETE /requests/{id}`: asks TF to cancel a request that has not finished.
    /// A request already finished (409), already canceled (204) or unknown (404)
    /// counts as done.
    pub async fn cancel(&self, id: &str) -> Result<(), TestingFarmError> {
        match self.send(self.http.delete(self.url(&["requests", id]))).await {
            Ok(_) => Ok(()),
            Err(TestingFarmError::Refused(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Compose names (`Fedora-Rawhide`, …) the public ranch offers.
    pub async fn composes(&self) -> Result<Vec<String>, TestingFarmError> {
        #[derive(Deserialize)]
        struct Composes {
            composes: Vec<Compose>,
        }
        let response = self.send(self.http.get(self.url(&["composes"]))).await?;
        let c: Composes = response.json().await.map_err(|e| TestingFarmError::Decode(e.to_string()))?;
        Ok(c.composes.into_iter().map(|c| c.name).collect())
    }
}

/// TF's `errors` may be a string, a list or a map of field → messages.
fn describe(errors: &Value) -> String {
    match errors {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(describe).collect::<Vec<_>>().join("; "),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}: {}", describe(v))).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}
