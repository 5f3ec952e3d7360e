//! pr-opened: a dist-git pull request was opened, updated or rebased, or a packager
//! commented a `/packit-ci` command → Koji scratch build and a pending PR flag.

mod command;
mod handler;
mod plan;
mod record;
mod skip_flags;

use axum::Router;
use axum::routing::post;
use fedora_ci::Context;

pub use handler::handle;

pub fn routes(ctx: Context) -> Router {
    Router::new().route("/", post(handler::handle)).with_state(ctx)
}
