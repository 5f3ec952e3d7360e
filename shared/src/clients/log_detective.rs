//! The Log Detective interface server for Packit (GitHub
//! `fedora-copr/logdetective-packit`, followed at commit 36ac68f, 2026-04-20):
//! `POST /analyze` with a bearer token takes a build description (`BuildInfo` in
//! its `models.py`: `artifacts` name → URL, at least one) and answers at once with
//! `{log_detective_analysis_id, creation_time}`; the outcome comes later as a
//! Fedora Messaging message on `logdetective.analysis` ([`AnalysisResult`], the
//! `LogDetectiveMessage` schema of its `logdetective_packit_message` package).
//! The server has no endpoint to ask for an analysis afterwards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::secret::Secret;

/// What packit-service tells Log Detective about a Koji build
/// (`LD_COMMENTARY` in `packit_service/worker/helpers/logdetective.py`).
pub const KOJI_COMMENTARY: &str = "Build was executed in downstream Koji using containerized environment provided \
     by Mock. The build.log contains output of the package build, it is the most likely to contain messages, \
     indicating the root cause. The mock_output.log is a general log from Mock. The root.log is a log from \
     creation of the chroot environment.";

/// The logs worth sending, in packit-service's order ("including too many could
/// impact latency and response quality").
pub const KOJI_ARTIFACTS: [&str; 3] = ["root.log", "mock_output.log", "build.log"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildMetadata {
    pub commentary: String,
}

/// The body of `POST /analyze` (the server's `BuildInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzeRequest {
    pub artifacts: BTreeMap<String, String>,
    pub build_metadata: BuildMetadata,
    pub target_build: String,
    pub build_system: String,
    pub commit_sha: String,
    pub project_url: String,
    pub pr_id: i64,
}

/// The server's `Response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    pub log_detective_analysis_id: String,
    pub creation_time: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogDetectiveError {
    /// Unreachable, timed out, or a 5xx/429: worth retrying later.
    #[error("Log Detective is unavailable: {0}")]
    Unavailable(String),
    /// A 4xx other than 429: retrying the same request cannot help.
    #[error("Log Detective refused the request (HTTP {status}): {detail}")]
    Refused { status: u16, detail: String },
    /// A 2xx without the fields the server's `Response` model has.
    #[error("Log Detective answered something unexpected: {0}")]
    BadAnswer(String),
}

impl LogDetectiveError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The longest a log's existence check may take.
const LOG_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct LogDetectiveClient {
    http: reqwest::Client,
    url: Url,
    token: Option<Secret>,
    /// The whole-request limit of the shared client (`FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS`).
    timeout: std::time::Duration,
}

impl LogDetectiveClient {
    pub fn new(http: reqwest::Client, url: Url, token: Option<Secret>, timeout: std::time::Duration) -> Self {
        Self { http, url, token, timeout }
    }

    /// `POST <url>/analyze`.
    pub async fn analyze(&self, request: &AnalyzeRequest) -> Result<Accepted, LogDetectiveError> {
        let endpoint = format!("{}/analyze", self.url.as_str().trim_end_matches('/'));
        let mut call = self.http.post(&endpoint).json(request);
        if let Some(token) = &self.token {
            call = call.bearer_auth(token.expose());
        }
        let response = call.send().await.map_err(|e| LogDetectiveError::Unavailable(without_url(&e)))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(LogDetectiveError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            // FastAPI's `{"detail": …}`; keep it short, it ends up on a flag.
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned)))
                .unwrap_or(body);
            return Err(LogDetectiveError::Refused { status: status.as_u16(), detail: truncate(&detail, 200) });
        }
        response.json::<Accepted>().await.map_err(|e| LogDetectiveError::BadAnswer(without_url(&e)))
    }

    /// Whether a log exists on the Koji log server: `HEAD` answered 200 (as
    /// packit-service's `verify_artifact` wants a 200). 404 and other 4xx: no;
    /// an unreachable server or a 5xx: ask again later.
    pub async fn log_exists(&self, url: &str) -> Result<bool, LogDetectiveError> {
        // packit-service's `verify_artifact` allows (10, 30) s; a HEAD needs less.
        let response = self
            .http
            .head(url)
            .timeout(LOG_CHECK_TIMEOUT.min(self.timeout))
            .send()
            .await
            .map_err(|e| LogDetectiveError::Unavailable(without_url(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(LogDetectiveError::Unavailable(format!("Koji log server: HTTP {}", status.as_u16())));
        }
        Ok(status == reqwest::StatusCode::OK)
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// `<pkgs>/work/tasks/<id % 10000>/<id>/<name>`: where Koji keeps a task's logs.
pub fn koji_log_url(pkgs_url: &Url, task_id: i64, name: &str) -> String {
    format!("{}/work/tasks/{}/{}/{name}", pkgs_url.as_str().trim_end_matches('/'), task_id % 10000, task_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_urls_follow_kojis_layout() {
        let pkgs = Url::parse("https://kojipkgs.fedoraproject.org/").unwrap();
        assert_eq!(
            koji_log_url(&pkgs, 45270227, "root.log"),
            "https://kojipkgs.fedoraproject.org/work/tasks/227/45270227/root.log"
        );
    }
}
