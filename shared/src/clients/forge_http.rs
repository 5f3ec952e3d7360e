//! What the Pagure and Forgejo clients do the same way over HTTP: API paths
//! built from encoded segments, `Authorization: token <key>` marked sensitive,
//! and an answer sorted into "try again later" and "refused, with the forge's
//! own message".

use reqwest::StatusCode;
use url::Url;

use crate::config::secret::Secret;

/// A call that did not succeed.
pub(crate) enum Failure {
    /// Connection failure, timeout, 429 or 5xx: may work later.
    Unreachable(String),
    /// Any other non-2xx, with the message field of the forge's error body (or the
    /// body's first 200 characters).
    Refused { status: u16, message: String },
}

/// `<base>/<segments…>`, each segment percent-encoded, so a repository name can
/// never change the path.
pub(crate) fn url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Both forges' `Authorization: token <key>`, marked sensitive as reqwest marks a
/// bearer token, so no `Debug` of the request or its headers (tracing at trace
/// level, an error dump) shows the key. A key that cannot be a header value is
/// not sent: the forge answers 401 and what was sent stays unsent (never the key
/// in a log).
pub(crate) fn with_token(req: reqwest::RequestBuilder, token: Option<&Secret>) -> reqwest::RequestBuilder {
    let Some(token) = token else { return req };
    match reqwest::header::HeaderValue::from_str(&format!("token {}", token.expose())) {
        Ok(mut value) => {
            value.set_sensitive(true);
            req.header(reqwest::header::AUTHORIZATION, value)
        }
        Err(_) => req,
    }
}

/// Sends `req` with the token; `message_field` names where the forge's error body
/// says why (`error` on Pagure, `message` on Forgejo).
pub(crate) async fn send(
    service: &'static str,
    req: reqwest::RequestBuilder,
    token: Option<&Secret>,
    message_field: &str,
) -> Result<reqwest::Response, Failure> {
    let response = crate::telemetry::trace::send(service, with_token(req, token))
        .await
        .map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::Unreachable(format!("HTTP {status}")));
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get(message_field).and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        return Err(Failure::Refused { status: status.as_u16(), message });
    }
    Ok(response)
}
