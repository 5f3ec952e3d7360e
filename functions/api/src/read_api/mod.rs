//! The dashboard's read API: packit-service's `/api/…` paths, parameters, JSON
//! field names and paging, over the same tables (packit_service/service/api/ in
//! packit-service). Read-only: GET (and HEAD) only, CORS for the dashboard's origin.

mod empty;
mod error;
mod groups;
mod koji_builds;
mod log_detective;
mod paging;
mod project;
mod runs;
mod system;
mod testing_farm;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use fedora_ci::Context;
use tower_http::cors::CorsLayer;

use error::ApiError;

/// Every `/api` route. List routes answer with and without the trailing slash,
/// since the dashboard asks for `/api/koji-builds/?page=…`.
pub fn routes(ctx: &Context) -> Router<Context> {
    Router::new()
        .route("/api/koji-builds", get(koji_builds::list))
        .route("/api/koji-builds/", get(koji_builds::list))
        .route("/api/koji-builds/{id}", get(koji_builds::item))
        .route("/api/koji-builds/groups/{id}", get(koji_builds::group))
        .route("/api/testing-farm/results", get(testing_farm::list))
        .route("/api/testing-farm/results/", get(testing_farm::list))
        .route("/api/testing-farm/{id}", get(testing_farm::item))
        .route("/api/testing-farm/groups/{id}", get(testing_farm::group))
        .route("/api/log-detective", get(log_detective::list))
        .route("/api/log-detective/", get(log_detective::list))
        .route("/api/log-detective/{id}", get(log_detective::item))
        .route("/api/log-detective/groups/{id}", get(log_detective::group))
        .route("/api/runs", get(runs::list))
        .route("/api/runs/", get(runs::list))
        .route("/api/runs/{id}", get(runs::item))
        .route("/api/runs/merged/{id}", get(runs::merged))
        .route("/api/healthz", get(system::healthz))
        .route("/api/healthz/", get(system::healthz))
        .route("/api/system", get(system::system))
        .route("/api/system/", get(system::system))
        // Everything else under /api: packit-service's empty answers or a JSON 404,
        // with CORS like the rest (the static routes above take precedence).
        .route("/api/{*rest}", get(empty::answer))
        .layer(cors(&ctx.config.dashboard_origin))
}

/// Only the dashboard's pages may read our JSON from another origin, only with
/// GET/HEAD, and they must be able to read `Content-Range` (the paging header).
fn cors(origin: &str) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::HEAD])
        .expose_headers([header::CONTENT_RANGE])
        .max_age(std::time::Duration::from_secs(3600));
    match HeaderValue::from_str(origin) {
        Ok(origin) => layer.allow_origin(origin),
        // Unreachable with a validated config (an origin is ASCII); deny all then.
        Err(_) => layer,
    }
}

/// A path id as Flask's `<int:id>` takes it: digits only; anything else is
/// "not found", like an id that does not exist.
fn path_id(raw: &str, not_found: &'static str) -> Result<i32, ApiError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::NotFound(not_found));
    }
    raw.parse().map_err(|_| ApiError::NotFound(not_found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_digits_only() {
        assert_eq!(path_id("42", "x").unwrap(), 42);
        for bad in ["", "-1", "+1", "1.0", "abc", "99999999999"] {
            assert!(matches!(path_id(bad, "x"), Err(ApiError::NotFound("x"))), "{bad}");
        }
    }
}
