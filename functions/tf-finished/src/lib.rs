//! tf-finished: Testing Farm told us a request changed state → store the result, flag the PR, publish a Fedora CI message.
//!
//! Until its issue lands, every event is answered 202 with no effect.

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub fn routes(ctx: Context) -> Router {
    Router::new().route("/", post(fedora_ci::intake::ignore_event)).with_state(ctx)
}
