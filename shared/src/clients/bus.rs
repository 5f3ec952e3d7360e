//! Publishing Fedora Messaging messages over AMQP (the Fedora CI result messages),
//! with publisher confirms: a message counts as sent only once the broker took it.
//!
//! The wire format is fedora-messaging's: JSON body, `message_id`, persistent
//! delivery, and the `fedora_messaging_*` / `sent-at` headers its consumers read.

use chrono::{SecondsFormat, Utc};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::config::amqp::AmqpSettings;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("AMQP broker unavailable: {0}")]
    Unavailable(String),
    #[error("the broker refused the message")]
    Nacked,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub struct Bus {
    amqp: AmqpSettings,
    exchange: String,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl Bus {
    pub fn new(amqp: AmqpSettings, exchange: String) -> Self {
        Self { amqp, exchange, channel: Mutex::new(None) }
    }

    /// A confirmed channel, connecting on first use (a cold function that publishes
    /// nothing never opens a connection) and again after a broken connection.
    async fn channel(&self) -> Result<Channel, BusError> {
        let mut guard = self.channel.lock().await;
        if let Some((conn, channel)) = guard.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let conn = self.amqp.connect("fedora-ci-publisher").await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        let channel = conn.create_channel().await.map_err(|e| BusError::Unavailable(format!("channel: {e}")))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| BusError::Unavailable(format!("confirm.select: {e}")))?;
        *guard = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(&self, topic: &str, message_id: &str, body: &Value) -> Result<(), BusError> {
        let channel = self.channel().await?;
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from("fedora_messaging_schema"),
            AMQPValue::LongString(LongString::from("base.message")),
        );
        headers.insert(ShortString::from("fedora_messaging_severity"), AMQPValue::LongLongInt(20));
        headers.insert(
            ShortString::from("sent-at"),
            AMQPValue::LongString(LongString::from(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true))),
        );
        headers.insert(ShortString::from("priority"), AMQPValue::LongLongInt(0));
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_content_encoding(ShortString::from("utf-8"))
            .with_delivery_mode(2)
            .with_message_id(ShortString::from(message_id))
            .with_headers(headers);
        let payload = serde_json::to_vec(body).unwrap_or_default();
        let confirm = channel
            .basic_publish(
                ShortString::from(self.exchange.as_str()),
                ShortString::from(topic),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await
            .map_err(|e| BusError::Unavailable(format!("publish: {e}")))?
            .await
            .map_err(|e| BusError::Unavailable(format!("confirm: {e}")))?;
        match confirm {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(BusError::Nacked),
        }
    }

    /// Publishes every queued message, oldest first; a row is locked while it is
    /// published so two flushers never send one message twice. Stops at the first
    /// failure, leaving the rest queued for the next flush (the poller's).
    pub async fn flush(&self, pool: &PgPool) -> Result<u32, BusError> {
        let mut sent = 0;
        loop {
            let mut tx = pool.begin().await?;
            let row: Option<(i64, uuid::Uuid, String, Value)> = sqlx::query_as(
                "SELECT id, message_id, topic, body FROM ci_messages WHERE sent_at IS NULL \
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, message_id, topic, body)) = row else { return Ok(sent) };
            // Drawn at random when the row was written (gen_random_uuid), so it is
            // unique across staging's and production's databases, and stored, so a
            // re-publish after a lost confirm carries the same id and consumers
            // can drop the copy.
            let message_id = message_id.to_string();
            match self.publish(&topic, &message_id, &body).await {
                Ok(()) => {
                    sqlx::query("UPDATE ci_messages SET sent_at = now(), attempts = attempts + 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    sent += 1;
                }
                Err(e) => {
                    sqlx::query("UPDATE ci_messages SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                        .bind(id)
                        .bind(e.to_string())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Err(e);
                }
            }
        }
    }
}
