//! `processed_events`: which CloudEvents each function has handled.
//!
//! Recording the event in the same transaction as the effects makes a redelivery
//! (Broker retry, two replicas, a replayed dead letter) a no-op, enforced by the
//! `(consumer, event_source, event_id)` unique constraint rather than by any
//! in-memory lock. An event is its `source` and `id` together (CloudEvents 1.0):
//! the same id from another source is another event.

use sqlx::PgConnection;

use crate::messages::EventMeta;

/// Inserts the event for `consumer`; `true` when this is the first delivery.
/// A concurrent insert of the same id waits for the other transaction and then
/// returns `false`, so exactly one delivery proceeds.
pub async fn record_once(conn: &mut PgConnection, consumer: &str, meta: &EventMeta) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_source, event_id, event_type) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (consumer, event_source, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(&meta.source)
    .bind(&meta.id)
    .bind(&meta.event_type)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Opens the transaction a handler does its work in, with the event already
/// recorded; `None` when the event was handled before (answer 202, do nothing).
/// Committing the transaction is what makes the delivery count as handled.
pub async fn begin_first_delivery(
    pool: &sqlx::PgPool,
    consumer: &str,
    meta: &EventMeta,
) -> Result<Option<sqlx::Transaction<'static, sqlx::Postgres>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if record_once(&mut tx, consumer, meta).await? { Ok(Some(tx)) } else { Ok(None) }
}
