//! tf-finished: Testing Farm told us a request changed state → store the result,
//! update the PR flag in place, publish the Fedora CI message.
//!
//! Two doors, one handler: Testing Farm's webhook (`POST /testing-farm/results`,
//! JSON `{request_id, token}`), and the same notification as a CloudEvent of type
//! [`handler::EVENT_TYPE`] at `POST /`, so it can sit behind the Broker like the
//! other functions.

mod handler;

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub use handler::EVENT_TYPE;

pub fn routes(ctx: Context) -> Router {
    Router::new()
        .route("/", post(handler::cloud_event))
        .route("/testing-farm/results", post(handler::webhook))
        .with_state(ctx)
}
