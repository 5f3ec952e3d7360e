//! koji-finished: a Koji task we submitted changed state → update the build, flag
//! the PR, and on success submit the Fedora CI tests to Testing Farm (on failure,
//! ask Log Detective); Log Detective's result (`logdetective.analysis`) → the
//! analysis' flag and the explanation on the status page.

mod handler;

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub use handler::handle;

pub fn routes(ctx: Context) -> Router {
    Router::new().route("/", post(handler::handle)).with_state(ctx)
}
