//! Short in-request retries for idempotent reads (a blip must not deny a packager),
//! distinct from the durable retries the poller runs for submissions.

use std::future::Future;
use std::time::Duration;

/// Calls `op` up to `attempts` times, waiting `base`, `2·base`, … between tries,
/// as long as `is_transient` says the error may go away.
pub async fn with_backoff<T, E, F, Fut>(
    attempts: u32,
    base: Duration,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = base;
    let mut tried = 1;
    loop {
        match op().await {
            Err(e) if tried < attempts && is_transient(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                tried += 1;
            }
            other => return other,
        }
    }
}
