//! The broker side: connect (TLS with a client certificate for Fedora's broker,
//! plain for a local one), check (Fedora) or declare (local) our queue, its
//! bindings and the dead-letter queue, consume with a bounded prefetch, and
//! start over with backoff whenever the connection ends.
//!
//! lapin's own auto-recovery stays off: a new connection re-runs our declarations
//! and starts from a clean slate of unacked messages, which is easier to reason
//! about for "no loss" than a connection that heals underneath running tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::EXCHANGE;
use crate::config::{BridgeConfig, Declare};
use crate::deliver::Deliverer;
use crate::mapping::Mapper;

/// A session that stayed up this long was healthy; the next reconnect starts over
/// from the shortest delay.
const HEALTHY_SESSION: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("{step}: {error}")]
    Amqp { step: &'static str, error: lapin::Error },
    #[error("connection lost: {0}")]
    Lost(String),
}

fn amqp(step: &'static str) -> impl FnOnce(lapin::Error) -> SessionError {
    move |error| SessionError::Amqp { step, error }
}

/// Consumes until `shutdown` turns true, reconnecting as needed. `connected`
/// mirrors whether messages can flow (what `/healthz` and `/readyz` report).
pub async fn run(
    config: Arc<BridgeConfig>,
    http: reqwest::Client,
    connected: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delays = config.retry.delays();
    loop {
        let started = Instant::now();
        let result = session(&config, &http, &connected, shutdown.clone()).await;
        connected.store(false, Ordering::Release);
        match result {
            Ok(()) => return,
            Err(e) => tracing::warn!(broker = %config.amqp.source, error = %e, "not consuming"),
        }
        if started.elapsed() >= HEALTHY_SESSION {
            delays = config.retry.delays();
        }
        let delay = delays.next().unwrap_or(config.retry.max);
        tracing::info!(broker = %config.amqp.source, retry_in_ms = delay.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn connect(config: &BridgeConfig) -> Result<Connection, SessionError> {
    config.amqp.connect("fedmsg-bridge").await.map_err(|e| SessionError::Connect(e.to_string()))
}

/// The channels and consumer of one connection, once our queues are in place.
struct Consuming {
    conn: Connection,
    channel: Channel,
    dead_letters: Channel,
    consumer: Consumer,
}

async fn open(config: &BridgeConfig) -> Result<Consuming, SessionError> {
    let conn = connect(config).await?;
    let channel = conn.create_channel().await.map_err(amqp("channel"))?;
    channel.basic_qos(config.prefetch, BasicQosOptions::default()).await.map_err(amqp("basic.qos"))?;
    let dead_letters = conn.create_channel().await.map_err(amqp("channel"))?;
    dead_letters.confirm_select(ConfirmSelectOptions::default()).await.map_err(amqp("confirm.select"))?;
    match config.declare {
        // Fedora's broker: no configure permission. A passive declare only asks
        // whether the queue exists (no configure permission needed); the
        // playbook's rabbit/queue roles made both queues and their bindings.
        Declare::Passive => {
            let passive = QueueDeclareOptions { passive: true, ..Default::default() };
            for (queue, step) in [
                (&config.queue, "queue.declare (passive)"),
                (&config.dead_letter_queue, "queue.declare (passive, dead letters)"),
            ] {
                // A missing queue closes the channel; each check gets its own.
                let check = conn.create_channel().await.map_err(amqp("channel"))?;
                check.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await.map_err(amqp(step))?;
                let _ = check.close(200, "checked".into()).await;
            }
        }
        Declare::Create => {
            let durable = QueueDeclareOptions { durable: true, ..Default::default() };
            channel
                .queue_declare(config.queue.as_str().into(), durable, FieldTable::default())
                .await
                .map_err(amqp("queue.declare"))?;
            dead_letters
                .queue_declare(config.dead_letter_queue.as_str().into(), durable, FieldTable::default())
                .await
                .map_err(amqp("queue.declare (dead letters)"))?;
            let bindings = config
                .topics
                .iter()
                .map(|t| (config.queue.as_str(), t.as_str()))
                .chain([(config.dead_letter_queue.as_str(), config.dead_letter_key.as_str())]);
            for (queue, key) in bindings {
                channel
                    .queue_bind(
                        queue.into(),
                        EXCHANGE.into(),
                        key.into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(amqp("queue.bind"))?;
            }
        }
    }
    let consumer = channel
        .basic_consume(config.queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(amqp("basic.consume"))?;
    Ok(Consuming { conn, channel, dead_letters, consumer })
}

/// One connection's life. `Ok` only for a shutdown; every other end is an error
/// the caller reconnects after.
async fn session(
    config: &BridgeConfig,
    http: &reqwest::Client,
    connected: &AtomicBool,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SessionError> {
    // Setting up holds no message yet, so a shutdown may simply abandon it.
    let Consuming { conn, channel, dead_letters, mut consumer } = tokio::select! {
        opened = open(config) => opened?,
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };

    let deliverer = Arc::new(Deliverer {
        mapper: Mapper { source: config.amqp.source.clone(), promotions: config.promotions.clone() },
        http: http.clone(),
        sink: config.sink.clone(),
        retry: config.retry,
        dead_letters: dead_letters.clone(),
        dead_letter_queue: config.dead_letter_queue.clone(),
        dead_letter_key: config.dead_letter_key.clone(),
    });
    connected.store(true, Ordering::Release);
    tracing::info!(
        broker = %config.amqp.source, queue = %config.queue, topics = ?config.topics, prefetch = config.prefetch,
        "consuming"
    );

    let (stop_tasks, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let end = loop {
        tokio::select! {
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let (deliverer, stop) = (deliverer.clone(), stop.clone());
                    tasks.spawn(async move { deliverer.handle(delivery, stop).await });
                }
                Some(Err(e)) => break Err(SessionError::Lost(e.to_string())),
                None => break Err(SessionError::Lost("the broker cancelled the consumer".into())),
            },
            Some(joined) = tasks.join_next() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "delivery task failed; its message returns with the connection");
                }
            }
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
        }
    };
    connected.store(false, Ordering::Release);
    if end.is_ok() {
        // No new deliveries; the ones the broker already sent but we had not taken
        // go back to the queue when the channel closes.
        let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
    }
    let _ = stop_tasks.send(true);
    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(in_flight, "finishing in-flight deliveries");
    }
    while tasks.join_next().await.is_some() {}
    let _ = channel.close(200, "bye".into()).await;
    let _ = dead_letters.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
    if end.is_ok() {
        tracing::info!("stopped consuming");
    }
    end
}
