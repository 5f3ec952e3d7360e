//! Pagure API 0 client for dist-git (src.fedoraproject.org): PR flags, PR
//! comments, branches, raw files. Reached through [`super::forge::Forges`].

use serde::{Deserialize, Serialize};
use url::Url;

use super::check::{FlagStatus, PrId};
use super::forge_http::{self, Failure};
use crate::config::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum PagureError {
    /// Connection failure, timeout or 5xx: may work later.
    #[error("Pagure is unreachable: {0}")]
    Unreachable(String),
    #[error("Pagure answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("unexpected Pagure response: {0}")]
    Decode(String),
}

impl PagureError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PagureError::Unreachable(_))
    }

    /// Pagure refused our token (`PAGURE_TOKEN`): 401 EINVALIDTOK (invalid,
    /// expired, or without the ACL; `pagure.utils.check_api_acls`) or 403 (the
    /// token's user blocked, `api_login_required`). Nothing we send can succeed
    /// until someone renews the token, and then all of it must.
    pub fn is_token_rejected(&self) -> bool {
        matches!(self, PagureError::Http { status: 401 | 403, .. })
    }

    /// An answer that sending the same request again can never change: 404 (the
    /// project or PR no longer exists: ENOPROJECT, ENOREQ), 410, 400 (Pagure
    /// refused the form, EINVALIDREQ, or could not store it, EDBERROR: the same
    /// values fail the same way), 413, 414, 422. Every other refusal (401, 403,
    /// 408, 409, a 4xx Pagure does not send today) keeps the flag or comment
    /// unsent for the poller: losing a result is worse than retrying it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, PagureError::Http { status: 400 | 404 | 410 | 413 | 414 | 422, .. })
    }
}

/// One flag as Pagure's `POST …/pull-request/<id>/flag` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The check name shown on the PR.
    pub username: String,
    pub comment: String,
    pub url: String,
    pub status: FlagStatus,
    /// Same uid = same flag, updated in place.
    pub uid: String,
}

#[derive(Clone)]
pub struct PagureClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

impl PagureClient {
    pub fn new(http: reqwest::Client, base: Url, token: Option<Secret>) -> Self {
        Self { http, base, token }
    }

    fn url(&self, segments: &[&str]) -> Url {
        forge_http::url(&self.base, segments)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, PagureError> {
        forge_http::send("pagure", req, self.token.as_ref(), "error").await.map_err(|f| match f {
            Failure::Unreachable(why) => PagureError::Unreachable(why),
            Failure::Refused { status, message } => PagureError::Http { status, message },
        })
    }

    /// Creates the flag, or updates the one with the same uid.
    pub async fn set_flag(&self, pr: &PrId, flag: &Flag) -> Result<(), PagureError> {
        let id = pr.id.to_string();
        let url = self.url(&["api", "0", &pr.namespace, &pr.repo, "pull-request", &id, "flag"]);
        let form = [
            ("username", flag.username.as_str()),
            ("comment", flag.comment.as_str()),
            ("url", flag.url.as_str()),
            ("status", flag.status.as_str()),
            ("uid", flag.uid.as_str()),
        ];
        self.send(self.http.post(url).form(&form)).await.map(|_| ())
    }

    pub async fn comment(&self, pr: &PrId, body: &str) -> Result<(), PagureError> {
        let id = pr.id.to_string();
        let url = self.url(&["api", "0", &pr.namespace, &pr.repo, "pull-request", &id, "comment"]);
        self.send(self.http.post(url).form(&[("comment", body)])).await.map(|_| ())
    }

    /// Branch names of a dist-git repository (the ELN check needs to know whether
    /// an `eln` branch exists).
    pub async fn branches(&self, namespace: &str, repo: &str) -> Result<Vec<String>, PagureError> {
        #[derive(Deserialize)]
        struct Branches {
            branches: Vec<String>,
        }
        let url = self.url(&["api", "0", namespace, repo, "git", "branches"]);
        let response = self.send(self.http.get(url)).await?;
        response.json::<Branches>().await.map(|b| b.branches).map_err(|e| PagureError::Decode(e.to_string()))
    }

    /// A file at a commit, `None` when it does not exist. `repo_path` is
    /// `rpms/foo` or, for a fork, `fork/<user>/rpms/foo`.
    pub async fn raw_file(&self, repo_path: &str, commit: &str, file: &str) -> Result<Option<String>, PagureError> {
        let mut segments: Vec<&str> = repo_path.split('/').collect();
        segments.extend(["raw", commit, "f"]);
        segments.extend(file.split('/'));
        let url = self.url(&segments);
        match self.send(self.http.get(url)).await {
            Ok(r) => r.text().await.map(Some).map_err(|e| PagureError::Decode(e.to_string())),
            Err(PagureError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_header_is_sensitive() {
        let http = reqwest::Client::new();
        let base = Url::parse("https://src.fedoraproject.org/api/0/").unwrap();
        let client = PagureClient::new(http.clone(), base, Some(Secret::new("s3cr3t-key")));
        let get = http.get("https://src.fedoraproject.org/api/0/-/whoami");
        let request = forge_http::with_token(get, client.token.as_ref()).build().unwrap();
        let value = &request.headers()[reqwest::header::AUTHORIZATION];
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "token s3cr3t-key");
        assert!(!format!("{:?}", request.headers()).contains("s3cr3t"));
    }
}
