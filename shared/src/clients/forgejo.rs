//! Forgejo API v1 client for dist-git on forge.fedoraproject.org: commit
//! statuses, PR comments, branches, raw files.
//!
//! Paths and bodies follow Forgejo's OpenAPI document (`templates/swagger/v1_json.tmpl`:
//! `repoCreateStatus`, `issueCreateComment`, `repoGetBranch`, `repoGetRawFile`).

use serde::Serialize;
use url::Url;

use super::forge_http::{self, Failure};
use crate::config::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ForgejoError {
    /// Connection failure, timeout, 429 or 5xx: may work later.
    #[error("Forgejo is unreachable: {0}")]
    Unreachable(String),
    /// Forgejo's `APIError` body carries `message`.
    #[error("Forgejo answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("unexpected Forgejo response: {0}")]
    Decode(String),
}

impl ForgejoError {
    /// Forgejo refused our token (`FORGEJO_TOKEN`): 401 ("token is required", an
    /// invalid or expired token) or 403 ("token does not have at least one of
    /// required scope(s)", `routers/api/v1/api.go` `tokenRequiresScopes`).
    /// Nothing we send can succeed until the token is renewed, and then all of it must.
    pub fn is_token_rejected(&self) -> bool {
        matches!(self, ForgejoError::Http { status: 401 | 403, .. })
    }

    /// An answer sending the same request again can never change: 404 (the
    /// repository, PR or commit is gone), 410, 413, 414, 422 (`binding` refused the
    /// form: the same values fail the same way), 400.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ForgejoError::Http { status: 400 | 404 | 410 | 413 | 414 | 422, .. })
    }
}

/// Forgejo's commit status states (`modules/structs/commit_status.go`,
/// `CommitStatusState`): pending, success, error, failure, warning. There is no
/// `canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitStatusState {
    Pending,
    Success,
    Error,
    Failure,
    Warning,
}

/// `CreateStatusOption`: one commit status; the newest one of a `context` is
/// what the PR shows for that check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateStatusOption {
    pub state: CommitStatusState,
    pub context: String,
    pub description: String,
    pub target_url: String,
}

#[derive(Clone)]
pub struct ForgejoClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

impl ForgejoClient {
    /// `base`: the instance (`https://forge.fedoraproject.org`); the API is under `/api/v1`.
    pub fn new(http: reqwest::Client, base: Url, token: Option<Secret>) -> Self {
        Self { http, base, token }
    }

    /// `<base>/api/v1/<segments…>`.
    fn url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["api", "v1"];
        all.extend(segments);
        forge_http::url(&self.base, &all)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ForgejoError> {
        forge_http::send("forgejo", req, self.token.as_ref(), "message").await.map_err(|f| match f {
            Failure::Unreachable(why) => ForgejoError::Unreachable(why),
            Failure::Refused { status, message } => ForgejoError::Http { status, message },
        })
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}` (scope `write:repository`).
    pub async fn create_status(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        status: &CreateStatusOption,
    ) -> Result<(), ForgejoError> {
        let url = self.url(&["repos", owner, repo, "statuses", sha]);
        self.send(self.http.post(url).json(status)).await.map(|_| ())
    }

    /// `POST /repos/{owner}/{repo}/issues/{index}/comments` (scope `write:issue`):
    /// a PR is an issue with the same number.
    pub async fn comment(&self, owner: &str, repo: &str, index: u64, body: &str) -> Result<(), ForgejoError> {
        let index = index.to_string();
        let url = self.url(&["repos", owner, repo, "issues", &index, "comments"]);
        self.send(self.http.post(url).json(&serde_json::json!({ "body": body }))).await.map(|_| ())
    }

    /// `GET /repos/{owner}/{repo}/branches/{branch}`: does the branch exist?
    pub async fn has_branch(&self, owner: &str, repo: &str, branch: &str) -> Result<bool, ForgejoError> {
        match self.send(self.http.get(self.url(&["repos", owner, repo, "branches", branch]))).await {
            Ok(_) => Ok(true),
            Err(ForgejoError::Http { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /repos/{owner}/{repo}/raw/{filepath}?ref=<commit>`: a file at a
    /// commit, `None` when it does not exist. `full_name` is `owner/name`.
    pub async fn raw_file(&self, full_name: &str, commit: &str, file: &str) -> Result<Option<String>, ForgejoError> {
        let mut segments = vec!["repos"];
        segments.extend(full_name.split('/'));
        segments.push("raw");
        segments.extend(file.split('/'));
        let mut url = self.url(&segments);
        url.query_pairs_mut().append_pair("ref", commit);
        match self.send(self.http.get(url)).await {
            Ok(r) => r.text().await.map(Some).map_err(|e| ForgejoError::Decode(e.to_string())),
            Err(ForgejoError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_api_v1_and_names_cannot_change_them() {
        let client = ForgejoClient::new(
            reqwest::Client::new(),
            Url::parse("https://forge.fedoraproject.org").unwrap(),
            Some(Secret::new("k")),
        );
        assert_eq!(
            client.url(&["repos", "rpms", "gcc", "statuses", "abc"]).as_str(),
            "https://forge.fedoraproject.org/api/v1/repos/rpms/gcc/statuses/abc"
        );
        assert_eq!(
            client.url(&["repos", "rpms", "../x?y#z"]).as_str(),
            "https://forge.fedoraproject.org/api/v1/repos/rpms/..%2Fx%3Fy%23z"
        );
        let get = client.http.get("https://forge.fedoraproject.org/");
        let request = forge_http::with_token(get, client.token.as_ref()).build().unwrap();
        assert!(request.headers()[reqwest::header::AUTHORIZATION].is_sensitive());
    }
}
