//! `cache_entries`: TTL caches in Postgres, so every replica (and the next cold
//! start) shares what one of them fetched.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;

/// A cached value and whether it is still within its TTL. Stale values are
/// returned too: when the upstream is down, a stale answer beats none.
#[derive(Debug, Clone)]
pub struct Cached<T> {
    pub value: T,
    /// How much longer the value stays fresh (zero once stale).
    pub fresh_for: Duration,
}

impl<T> Cached<T> {
    /// Still within its TTL.
    pub fn fresh(&self) -> bool {
        !self.fresh_for.is_zero()
    }
}

pub async fn get<T: DeserializeOwned>(
    pool: &PgPool,
    key: &str,
    ttl: Duration,
) -> Result<Option<Cached<T>>, sqlx::Error> {
    let row: Option<(serde_json::Value, f64)> = sqlx::query_as(
        "SELECT value, $2 - extract(epoch FROM now() - fetched_at)::float8 FROM cache_entries WHERE key = $1",
    )
    .bind(key)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(value, left)| {
        let fresh_for = Duration::try_from_secs_f64(left).unwrap_or_default();
        serde_json::from_value(value).ok().map(|value| Cached { value, fresh_for })
    }))
}

pub async fn put<T: Serialize>(pool: &PgPool, key: &str, value: &T) -> Result<(), sqlx::Error> {
    let value = serde_json::to_value(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO cache_entries (key, value, fetched_at) VALUES ($1, $2, now()) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await?;
    Ok(())
}

/// A process-local copy of one `cache_entries` value, kept only as long as the
/// row itself is fresh: a warm replica answers from memory (no round trip, no
/// decoding a large value per event) and never longer than the shared TTL, so
/// replicas agree on when a value is refetched.
pub struct Memo<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self { slot: Mutex::new(None) }
    }
}

impl<T> Memo<T> {
    /// The value, while it is fresh.
    pub fn fresh(&self) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref().filter(|(until, _)| Instant::now() < *until).map(|(_, value)| value.clone())
    }

    /// Keeps `value` for `fresh_for` (the rest of its row's TTL).
    pub fn keep(&self, value: Arc<T>, fresh_for: Duration) {
        let until = Instant::now().checked_add(fresh_for);
        let mut slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = until.map(|until| (until, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_answers_only_within_its_rows_freshness() {
        let memo = Memo::<Vec<&str>>::default();
        assert!(memo.fresh().is_none(), "empty until kept");
        memo.keep(Arc::new(vec!["bash"]), Duration::from_secs(3600));
        assert_eq!(memo.fresh().as_deref(), Some(&vec!["bash"]));
        // A row that is already stale is not kept: the next event reads the table.
        memo.keep(Arc::new(vec!["zsh"]), Duration::ZERO);
        assert!(memo.fresh().is_none());
    }
}
