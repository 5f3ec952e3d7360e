//! `page` / `per_page` exactly as packit-service's `indices()` reads them
//! (parsers.py): `page` defaults to 1 and anything below 1 means 1; `per_page`
//! is one of 2, 10, 20, 30, 40, 50 (default 10); anything else is a 400.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

const PER_PAGE_CHOICES: [i64; 6] = [2, 10, 20, 30, 40, 50];

/// The raw query; parsed by hand so every bad value gets packit-service's message.
#[derive(Debug, Default, Deserialize)]
pub struct PagingQuery {
    pub page: Option<String>,
    pub per_page: Option<String>,
    /// Only the Koji list reads it.
    pub scratch: Option<String>,
}

/// Rows `first..last` (0-based, end exclusive) of a list ordered newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub first: i64,
    pub last: i64,
}

impl Page {
    pub fn from_query(q: &PagingQuery) -> Result<Page, ApiError> {
        let page = int_param("page", "Page number", q.page.as_deref())?.unwrap_or(1).max(1);
        let per_page = int_param("per_page", "Results per page", q.per_page.as_deref())?.unwrap_or(10);
        if !PER_PAGE_CHOICES.contains(&per_page) {
            return Err(ApiError::BadParameter {
                param: "per_page",
                reason: format!("Results per page The value '{per_page}' is not a valid choice for 'per_page'."),
            });
        }
        let first = (page - 1).checked_mul(per_page).ok_or_else(|| ApiError::BadParameter {
            param: "page",
            reason: format!("Page number {page} is out of range"),
        })?;
        Ok(Page { first, last: first + per_page })
    }

    pub fn offset(&self) -> i64 {
        self.first
    }

    pub fn limit(&self) -> i64 {
        self.last - self.first
    }

    /// A list answer: 206 with `Content-Range: <unit> <first+1>-<last>/*`, the
    /// header the dashboard pages with (the total is never counted, as upstream).
    pub fn partial(&self, unit: &str, items: impl Serialize) -> Response {
        let range = format!("{unit} {}-{}/*", self.first + 1, self.last);
        let mut response = (StatusCode::PARTIAL_CONTENT, Json(items)).into_response();
        if let Ok(value) = HeaderValue::from_str(&range) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        response
    }
}

/// `scratch=true` (any case) filters scratch builds, any other value non-scratch
/// builds, no parameter no filter: `request.args.get("scratch").lower() == "true"`.
pub fn scratch_filter(q: &PagingQuery) -> Option<bool> {
    q.scratch.as_deref().map(|s| s.eq_ignore_ascii_case("true"))
}

fn int_param(name: &'static str, help: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    raw.trim().parse().map(Some).map_err(|_| ApiError::BadParameter {
        param: name,
        reason: format!("{help} invalid literal for int() with base 10: '{raw}'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: Option<&str>, per_page: Option<&str>) -> Result<Page, ApiError> {
        Page::from_query(&PagingQuery {
            page: page.map(str::to_owned),
            per_page: per_page.map(str::to_owned),
            scratch: None,
        })
    }

    #[test]
    fn defaults_and_clamping_follow_packit_service() {
        assert_eq!(page(None, None).unwrap(), Page { first: 0, last: 10 });
        assert_eq!(page(Some("3"), Some("20")).unwrap(), Page { first: 40, last: 60 });
        assert_eq!(page(Some("0"), Some("2")).unwrap(), Page { first: 0, last: 2 });
        assert_eq!(page(Some("-4"), None).unwrap(), Page { first: 0, last: 10 });
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (p, pp, name) in [
            (Some("x"), None, "page"),
            (None, Some("7"), "per_page"),
            (None, Some("ten"), "per_page"),
            (Some("9223372036854775807"), Some("50"), "page"),
        ] {
            match page(p, pp) {
                Err(ApiError::BadParameter { param, .. }) => assert_eq!(param, name),
                other => panic!("{p:?} {pp:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn scratch_is_true_only_for_true() {
        let q = |s: Option<&str>| PagingQuery { scratch: s.map(str::to_owned), ..Default::default() };
        assert_eq!(scratch_filter(&q(None)), None);
        assert_eq!(scratch_filter(&q(Some("TRUE"))), Some(true));
        assert_eq!(scratch_filter(&q(Some("1"))), Some(false));
    }
}
