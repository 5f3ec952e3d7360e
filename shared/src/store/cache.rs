//! `cache_entries`: TTL caches in Postgres, so every replica (and the next cold
//! start) shares what one of them fetched.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;

/// A cached value and whether it is still within its TTL. Stale values are
/// returned too: when the upstream is down, a stale answer beats none.
#[derive(Debug, Clone)]
pub struct Cached<T> {
    pub value: T,
    pub fresh: bool,
}

pub async fn get<T: DeserializeOwned>(
    pool: &PgPool,
    key: &str,
    ttl: Duration,
) -> Result<Option<Cached<T>>, sqlx::Error> {
    let row: Option<(serde_json::Value, bool)> = sqlx::query_as(
        "SELECT value, fetched_at > now() - make_interval(secs => $2) FROM cache_entries WHERE key = $1",
    )
    .bind(key)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(value, fresh)| serde_json::from_value(value).ok().map(|value| Cached { value, fresh })))
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
