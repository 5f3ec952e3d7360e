//! fedmsg-bridge: consumes Fedora Messaging over AMQP and posts each message as a
//! CloudEvent to the Broker (`K_SINK`). Long-running; never scales to zero.
//!
//! Delivery is at least once: a message is acked only after the sink answered 2xx
//! (or, for a body that cannot be a CloudEvent, after the dead-letter queue took
//! it), so a crash at any point costs at most a duplicate, which the functions
//! absorb by their idempotency keys.

pub mod config;
pub mod consume;
pub mod deliver;
pub mod mapping;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use fedora_ci::runtime::serve::{self, Readiness, ServeError};
use tokio::sync::watch;

pub use config::BridgeConfig;

pub const NAME: &str = "fedmsg-bridge";

/// The HTTP side: only health, which follows the broker connection.
pub fn app(connected: Arc<AtomicBool>) -> Router {
    serve::with_health(NAME, Router::new(), Readiness::connection("amqp", connected))
}

/// Runs the consumer and the health server until `shutdown` resolves, then lets
/// in-flight deliveries finish or go back to the queue before returning.
pub async fn run(config: BridgeConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    let http = reqwest::Client::builder()
        .timeout(config.sink_timeout)
        .user_agent(concat!("fedmsg-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServeError::Io(std::io::Error::other(format!("cannot build the HTTP client: {e}"))))?;
    let connected = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let config = Arc::new(config);
    let consumer = tokio::spawn(consume::run(config.clone(), http, connected.clone(), stopped.clone()));
    let mut server_stop = stopped.clone();
    let server = serve::serve_until(&config.server, app(connected), async move {
        let _ = server_stop.wait_for(|s| *s).await;
    });
    tokio::pin!(server);
    tokio::pin!(shutdown);
    let served = tokio::select! {
        result = &mut server => Some(result),
        () = &mut shutdown => None,
    };
    let _ = stop.send(true);
    let served = match served {
        Some(result) => result,
        None => server.await,
    };
    if consumer.await.is_err() {
        tracing::error!("the consumer task panicked");
    }
    served
}
