//! fedmsg-bridge: consumes Fedora Messaging over AMQP and posts each message as a
//! CloudEvent to the Broker (`K_SINK`). Long-running; never scales to zero.
//!
//! Until its issue lands it only serves health and answers any event with 202.

use axum::Router;
use axum::routing::post;
use fedora_ci::messages::Topics;

pub fn routes(topics: Topics) -> Router {
    Router::new().route("/", post(fedora_ci::intake::ignore_event)).with_state(topics)
}
