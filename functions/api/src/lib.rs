//! api: the read API the Packit dashboard uses (`/api/…`, packit-service's paths and
//! JSON shapes) and our own status page (`/`, `/pr/<ns>/<repo>/<id>`).
//!
//! Everything here only reads the database; CloudEvents sent to `POST /` are
//! answered 202 with no effect.

pub mod read_api;
pub mod status_page;

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub fn routes(ctx: Context) -> Router {
    Router::new()
        .route("/", post(fedora_ci::runtime::error::ignore_event))
        .merge(read_api::routes(&ctx))
        .merge(status_page::routes())
        .with_state(ctx)
}
