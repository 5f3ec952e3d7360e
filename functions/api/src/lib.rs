//! api: the read API the Packit dashboard uses, the status page, metrics.
//!
//! Until its issue lands, every event is answered 202 with no effect.

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub fn routes(ctx: Context) -> Router {
    Router::new().route("/", post(fedora_ci::intake::ignore_event)).with_state(ctx)
}
