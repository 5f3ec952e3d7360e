//! One delivery, from the moment the broker hands it over until it is acked or
//! given back. Nothing is acked before its effect is safe: a CloudEvent the sink
//! answered 2xx, or a dead letter the broker confirmed. Until then the message is
//! held (it counts against the prefetch, so a sink outage stops the flow instead of
//! filling memory) and retried with capped exponential backoff; on shutdown or a
//! lost connection it goes back to the queue. A CloudEvent the sink refuses for
//! good (400, 413, 415, 422: the same bytes can never be accepted) is a poison
//! message: it goes to the dead-letter queue with the sink's answer, never round
//! and round.

use std::future::Future;
use std::time::Duration;

use fedora_ci::telemetry::trace;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, LongString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::watch;

use crate::config::Backoff;
use crate::mapping::{Incoming, Mapper, Unmappable, to_request};

/// Everything a delivery task needs, shared by all tasks of a connection.
pub struct Deliverer {
    pub mapper: Mapper,
    pub http: reqwest::Client,
    pub sink: url::Url,
    pub retry: Backoff,
    /// A channel in confirm mode, for dead letters.
    pub dead_letters: Channel,
    pub dead_letter_queue: String,
    /// Dead letters go to `amq.topic` under this key, which only the dead-letter
    /// queue is bound to.
    pub dead_letter_key: String,
}

/// How a delivery ended (the task's result, and the `outcome` of its debug line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    DeadLettered,
    /// Given back to the broker (shutdown or lost connection); it will come again.
    Requeued,
}

impl Outcome {
    /// The `outcome` label of `fedora_ci_bridge_messages_total`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Requeued => "requeued",
        }
    }
}

/// How much of an unusable body a log line may show.
const BODY_PREFIX: usize = 32;

impl Deliverer {
    /// `stop` turns true when the connection is going away (shutdown or failure).
    pub async fn handle(&self, delivery: Delivery, stop: watch::Receiver<bool>) -> Outcome {
        let incoming = Incoming {
            routing_key: delivery.routing_key.as_str(),
            message_id: delivery.properties.message_id().as_ref().map(|s| s.as_str()),
            timestamp: *delivery.properties.timestamp(),
            headers: delivery.properties.headers().as_ref(),
            body: &delivery.data,
        };
        let id = incoming.message_id.unwrap_or("").to_owned();
        let topic = incoming.routing_key.to_owned();
        let span = tracing::info_span!(
            "message",
            ce_id = %id,
            ce_type = %topic,
            trace_id = tracing::field::Empty,
            otel.kind = "producer",
        );
        let delivered = self.deliver(&delivery, incoming, id, topic, stop, &span);
        let outcome = tracing::Instrument::instrument(delivered, span.clone()).await;
        fedora_ci::telemetry::metrics::bridge_message(outcome.label());
        outcome
    }

    /// The trace starts here: a root span per message (or the publisher's, when
    /// the message carried a `traceparent` header), named in the CloudEvent's
    /// `traceparent`/`tracestate` extensions for every function downstream.
    async fn deliver(
        &self,
        delivery: &Delivery,
        incoming: Incoming<'_>,
        id: String,
        topic: String,
        stop: watch::Receiver<bool>,
        span: &tracing::Span,
    ) -> Outcome {
        match self.mapper.to_event(&incoming) {
            Ok(mut event) => {
                let extension = |name| event.extension(name).map(|v| v.to_string());
                let (parent, state) = (extension(trace::TRACEPARENT), extension(trace::TRACESTATE));
                trace::continue_trace(span, parent.as_deref(), state.as_deref());
                for (name, value) in trace::outgoing(span) {
                    event.set_extension(name, value);
                }
                let post = || {
                    let event = event.clone();
                    async move { self.post(event).await }
                };
                let outcome = retrying(self.retry, stop.clone(), &id, &topic, "sink", post).await;
                match outcome {
                    Err(Stop::Refused(answer)) => {
                        tracing::warn!(
                            id = %id, topic = %topic, answer = %answer, dead_letter_queue = %self.dead_letter_queue,
                            "the sink refused the event for good; moving it to the dead-letter queue"
                        );
                        let reason = Unmappable::Refused(answer);
                        let publish = || self.dead_letter(delivery, &reason);
                        let outcome = retrying(self.retry, stop, &id, &topic, "dead-letter queue", publish).await;
                        finish(delivery, outcome, &id, &topic, Outcome::DeadLettered).await
                    }
                    outcome => finish(delivery, outcome, &id, &topic, Outcome::Delivered).await,
                }
            }
            Err(reason) => {
                let prefix = delivery.data[..delivery.data.len().min(BODY_PREFIX)].escape_ascii().to_string();
                tracing::warn!(
                    id = %id,
                    topic = %topic,
                    reason = %reason,
                    body_prefix = %prefix,
                    body_len = delivery.data.len(),
                    dead_letter_queue = %self.dead_letter_queue,
                    "message cannot be a CloudEvent; moving it to the dead-letter queue"
                );
                let publish = || self.dead_letter(delivery, &reason);
                let outcome = retrying(self.retry, stop, &id, &topic, "dead-letter queue", publish).await;
                finish(delivery, outcome, &id, &topic, Outcome::DeadLettered).await
            }
        }
    }

    async fn post(&self, event: cloudevents::Event) -> Result<(), Failed> {
        let request = to_request(event, self.http.post(self.sink.clone())).map_err(Failed::Retry)?;
        let response = request.send().await.map_err(|e| Failed::Retry(describe_http_error(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if !refused_for_good(status) {
            return Err(Failed::Retry(format!("sink answered {status}")));
        }
        // The functions answer `{"reason": …}` without quoting input; the Broker
        // ingress answers plain text. Either way only a bounded prefix is kept.
        let body = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
            .unwrap_or(body);
        let reason: String = reason.chars().take(REFUSAL_PREFIX).collect();
        Err(Failed::Refused(format!("sink answered {status}: {reason}")))
    }

    /// Republished with its properties and headers (so it can be replayed as it
    /// was), plus why and from where, to `amq.topic` under the dead-letter key:
    /// Fedora's broker lets an application write there and to its own queues,
    /// not to the default exchange. Mandatory, so a missing queue or binding is
    /// an error (retried while the message is held) rather than a silent drop.
    async fn dead_letter(&self, delivery: &Delivery, reason: &Unmappable) -> Result<(), Failed> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        for (key, value) in [
            ("x-fedmsg-bridge-reason", reason.to_string()),
            ("x-original-exchange", delivery.exchange.to_string()),
            ("x-original-routing-key", delivery.routing_key.to_string()),
        ] {
            headers.insert(key.into(), AMQPValue::LongString(LongString::from(value)));
        }
        let properties: BasicProperties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
        let confirm = self
            .dead_letters
            .basic_publish(
                crate::config::EXCHANGE.into(),
                self.dead_letter_key.as_str().into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &delivery.data,
                properties,
            )
            .await
            .map_err(|e| Failed::Retry(e.to_string()))?
            .await
            .map_err(|e| Failed::Retry(e.to_string()))?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(Failed::Retry(format!(
                "no queue is bound to '{}' on {} (message returned); the dead-letter queue {} should be",
                self.dead_letter_key,
                crate::config::EXCHANGE,
                self.dead_letter_queue
            ))),
            Confirmation::Nack(_) => Err(Failed::Retry("the broker refused the dead letter".into())),
            Confirmation::NotRequested => Err(Failed::Retry("dead-letter channel is not in confirm mode".into())),
        }
    }
}

/// How much of a sink's refusal the dead letter and the log line keep.
const REFUSAL_PREFIX: usize = 300;

/// Statuses that say the event itself is wrong, so the same bytes will never be
/// accepted: retrying would hold the message (and the prefetch slot) forever.
/// Everything else (5xx, 404 of a Broker not yet there, 401/403 of a credential
/// being rotated, 408, 429) may pass later and is retried.
fn refused_for_good(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 413 | 415 | 422)
}

/// Why one attempt failed.
enum Failed {
    /// Try again after the backoff.
    Retry(String),
    /// The sink refused the event for good (a poison message).
    Refused(String),
}

/// Why [`retrying`] stopped without success.
enum Stop {
    /// The connection is going away: give the message back.
    ShuttingDown,
    Refused(String),
}

/// reqwest's Display of a timeout or refused connection hides the cause; the URL
/// it shows is the sink's, which holds no secret.
fn describe_http_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "sink did not answer in time".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

/// Tries `op` until it succeeds, waiting [`Backoff`] delays in between; gives up
/// only when `stop` turns true or `op` says the sink refused it for good. An attempt in progress is not interrupted: it is
/// bounded by its own timeout, and abandoning a POST that may have landed would
/// only make a duplicate more likely.
async fn retrying<F, Fut>(
    backoff: Backoff,
    mut stop: watch::Receiver<bool>,
    id: &str,
    topic: &str,
    target: &str,
    mut op: F,
) -> Result<u32, Stop>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failed>>,
{
    let mut delays = backoff.delays();
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(()) => return Ok(attempt),
            Err(Failed::Refused(answer)) => return Err(Stop::Refused(answer)),
            Err(Failed::Retry(error)) => {
                fedora_ci::telemetry::metrics::bridge_retry(target);
                let delay = delays.next().unwrap_or(Duration::from_secs(60));
                tracing::warn!(
                    id, topic, attempt, error = %error, retry_in_ms = delay.as_millis() as u64,
                    "delivery to the {target} failed; holding the message and retrying"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => return Err(Stop::ShuttingDown),
                }
                attempt += 1;
            }
        }
    }
}

/// Acks after success; gives the message back otherwise. A refusal never gets
/// here: it was dead-lettered first, and only the dead letter's outcome is final.
async fn finish(delivery: &Delivery, outcome: Result<u32, Stop>, id: &str, topic: &str, done: Outcome) -> Outcome {
    match outcome {
        Ok(attempts) => {
            match delivery.acker.ack(BasicAckOptions::default()).await {
                Ok(true) => tracing::debug!(id, topic, attempts, outcome = ?done, "acked"),
                // The channel is gone: the broker gives the message to the next
                // consumer, and the sink sees it twice. At least once, not exactly.
                Ok(false) | Err(_) => tracing::warn!(id, topic, "ack failed (channel closed); it will be redelivered"),
            }
            done
        }
        Err(Stop::ShuttingDown | Stop::Refused(_)) => {
            let requeue = BasicNackOptions { requeue: true, multiple: false };
            if let Ok(true) = delivery.acker.nack(requeue).await {
                tracing::info!(id, topic, "returned to the queue (shutting down)");
            }
            Outcome::Requeued
        }
    }
}
