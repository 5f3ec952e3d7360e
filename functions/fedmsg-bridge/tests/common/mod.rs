//! What the bridge's integration tests share: names of their own on the broker
//! (so tests run in parallel), a sink that records the CloudEvents it gets and can
//! be told to fail, the real fedora-messaging publisher, and the bridge itself
//! in-process. Every wait is bounded and watches an observable effect.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloudevents::AttributesReader;
use fedmsg_bridge::BridgeConfig;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// A queue, a dead-letter queue and a topic prefix no other test uses.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    pub queue: String,
    pub dlq: String,
}

impl Names {
    pub fn new(test: &str) -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let queue = format!("fedmsg-bridge-test-{test}-{tag}");
        Self { prefix: format!("org.fedoraproject.t{tag}."), dlq: format!("{queue}.dlq"), queue }
    }
}

/// The test's own connection to the broker, for publishing raw bytes and looking
/// into queues. Deletes the test's queues when dropped.
pub struct Broker {
    pub url: String,
    conn: Connection,
    names: Names,
}

impl Broker {
    pub async fn connect(names: &Names) -> Broker {
        let url = fedora_ci::dev::amqp::amqp_url().await.unwrap_or_else(|e| panic!("{e}"));
        let conn =
            Connection::connect(&url, ConnectionProperties::default()).await.expect("test connection to the broker");
        Broker { url, conn, names: names.clone() }
    }

    /// Publishes to `amq.topic` and waits for the broker's confirm.
    pub async fn publish_raw(&self, topic: &str, body: &[u8], message_id: &str) {
        let ch = self.conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        let props = BasicProperties::default().with_message_id(message_id.into()).with_delivery_mode(2);
        ch.basic_publish("amq.topic".into(), topic.into(), BasicPublishOptions::default(), body, props)
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = ch.close(200, "done".into()).await;
    }

    /// Messages ready in a queue (not counting ones delivered and not yet acked).
    pub async fn ready(&self, queue: &str) -> u32 {
        let ch = self.conn.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions { passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("queue {queue}: {e}"));
        let _ = ch.close(200, "done".into()).await;
        q.message_count()
    }

    /// Takes one message off a queue (acked on receipt).
    pub async fn take(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        let ch = self.conn.create_channel().await.unwrap();
        let got = ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap();
        let _ = ch.close(200, "done".into()).await;
        got
    }

    /// The next message of `queue`, waiting up to `limit` for one to arrive.
    pub async fn take_within(&self, queue: &str, limit: Duration) -> lapin::message::BasicGetMessage {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(m) = self.take(queue).await {
                return m;
            }
            assert!(std::time::Instant::now() < deadline, "nothing in {queue}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let (url, names) = (self.url.clone(), self.names.clone());
        // Drop runs inside the test's runtime, which is blocked on this join; a
        // thread with a runtime of its own does the cleanup.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let Ok(conn) = Connection::connect(&url, ConnectionProperties::default()).await else { return };
                for q in [&names.queue, &names.dlq] {
                    if let Ok(ch) = conn.create_channel().await {
                        let _ = ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
                    }
                }
                let _ = conn.close(200, "cleanup".into()).await;
            });
        })
        .join();
    }
}

/// One request the sink answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub event: cloudevents::Event,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn id(&self) -> &str {
        self.event.id()
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn extension(&self, name: &str) -> Option<String> {
        self.event.extension(name).map(|v| v.to_string())
    }
}

#[derive(Default)]
struct SinkState {
    received: Mutex<Vec<Received>>,
    /// Ids of requests that arrived, answered or not.
    started: Mutex<std::collections::HashSet<String>>,
    malformed: Mutex<Vec<String>>,
    fail_next: AtomicUsize,
    /// Ids answered 400 with a reason, as a function answers an event it can
    /// never accept.
    refuse: Mutex<std::collections::HashSet<String>>,
    delay_ms: AtomicU64,
    changed: Option<watch::Sender<usize>>,
}

/// The Knative Broker's place: parses each request as a binary-mode CloudEvent
/// the way a receiver does, records it, and answers 200 (or 500 when told to).
pub struct Sink {
    pub url: String,
    state: Arc<SinkState>,
    changes: watch::Receiver<usize>,
}

async fn sink_handler(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let reason = |status: StatusCode, reason: &str| (status, axum::Json(serde_json::json!({ "reason": reason })));
    let event = match cloudevents::binding::http::to_event(&headers, body.to_vec()) {
        Ok(e) => e,
        Err(e) => {
            state.malformed.lock().unwrap().push(e.to_string());
            return reason(StatusCode::BAD_REQUEST, "not a CloudEvent");
        }
    };
    state.started.lock().unwrap().insert(event.id().to_owned());
    if let Some(tx) = &state.changed {
        tx.send_modify(|n| *n += 1);
    }
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        // A sender that goes away meanwhile cancels this: nothing is recorded.
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let fail = state.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let refused = state.refuse.lock().unwrap().contains(event.id());
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    state.received.lock().unwrap().push(Received { status: status.as_u16(), event, headers, body });
    if let Some(tx) = &state.changed {
        tx.send_modify(|n| *n += 1);
    }
    reason(status, if refused { "pullrequest.id 2147483648 is out of range" } else { "" })
}

impl Sink {
    pub async fn start() -> Sink {
        let (tx, changes) = watch::channel(0);
        let state = Arc::new(SinkState { changed: Some(tx), ..Default::default() });
        let router = axum::Router::new().route("/", axum::routing::post(sink_handler)).with_state(state.clone());
        let url = fedora_ci::dev::testing::serve_router(router).await;
        Sink { url, state, changes }
    }

    /// Answer 400 (with a reason) to every request for this event id.
    pub fn refuse(&self, id: &str) {
        self.state.refuse.lock().unwrap().insert(id.to_owned());
    }

    /// Answer 500 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answer each request only after this long (a slower Broker).
    pub fn delay(&self, d: Duration) {
        self.state.delay_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn accepted_ids(&self) -> std::collections::HashSet<String> {
        self.state.received.lock().unwrap().iter().filter(|r| r.accepted()).map(|r| r.id().to_owned()).collect()
    }

    /// Ids of every request that arrived, answered or not.
    pub fn started_ids(&self) -> std::collections::HashSet<String> {
        self.state.started.lock().unwrap().clone()
    }

    /// Ids that arrived but were never answered 2xx: deliveries in flight (or
    /// failed) right now.
    pub fn unanswered_ids(&self) -> std::collections::HashSet<String> {
        let accepted = self.accepted_ids();
        self.state.started.lock().unwrap().iter().filter(|id| !accepted.contains(*id)).cloned().collect()
    }

    pub fn malformed(&self) -> Vec<String> {
        self.state.malformed.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what the sink has received (checked whenever a
    /// request arrives or is answered), or panics after `limit` naming `what`.
    pub async fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut changes = self.changes.clone();
        loop {
            {
                let received = self.state.received.lock().unwrap();
                if done(&received) {
                    return received.clone();
                }
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    panic!("sink: {what} not seen within {limit:?}; got {} requests", self.received().len());
                }
            }
        }
    }
}

/// The interpreter of the virtualenv `scripts/fedora-messaging-venv.sh` makes.
pub fn fedora_messaging_python() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let python = target.join("venv-fedora-messaging/bin/python");
    python.is_file().then_some(python)
}

/// Returns from the test (passing) with a `skipped:` line when the publisher is
/// missing; `make test` creates it first, so there it always runs.
#[macro_export]
macro_rules! require_fedora_messaging {
    () => {
        match common::fedora_messaging_python() {
            Some(p) => p,
            None => {
                println!(
                    "skipped: no fedora-messaging virtualenv; run scripts/fedora-messaging-venv.sh (make test does)"
                );
                return;
            }
        }
    };
}

/// A message for `publish.py`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub topic: String,
    pub body: Value,
    pub headers: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Published {
    pub id: String,
    pub topic: String,
}

/// Starts `publish.py` for `messages`; the handle resolves to what it published,
/// in order, once it exits.
pub fn publish(
    python: &std::path::Path,
    amqp_url: &str,
    messages: &[Outgoing],
) -> tokio::task::JoinHandle<Vec<Published>> {
    let spec = serde_json::json!({
        "amqp_url": amqp_url,
        "messages": messages.iter().map(|m| serde_json::json!({
            "topic": m.topic, "body": m.body, "headers": m.headers,
        })).collect::<Vec<_>>(),
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/publish.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start publish.py");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(spec.to_string().as_bytes()).await.expect("write the spec");
        drop(stdin);
        let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
            .await
            .expect("publish.py finished within 5 minutes")
            .expect("publish.py ran");
        assert!(out.status.success(), "publish.py failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("publish.py prints JSON lines");
                Published { id: v["id"].as_str().unwrap().to_owned(), topic: v["topic"].as_str().unwrap().to_owned() }
            })
            .collect()
    })
}

/// The bridge's environment for a test: its names, fast retries.
pub fn bridge_env(names: &Names, amqp_url: &str, sink_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AMQP_URL", amqp_url.to_owned()),
        ("FEDORA_MESSAGING_QUEUE", names.queue.clone()),
        // The test's own queues on the local broker, created by the bridge.
        ("FEDMSG_BRIDGE_DECLARE", "create".to_owned()),
        ("FEDORA_CI_TOPIC_PREFIX", names.prefix.clone()),
        ("K_SINK", sink_url.to_owned()),
        ("FEDMSG_BRIDGE_RETRY_INITIAL_MS", "50".to_owned()),
        ("FEDMSG_BRIDGE_RETRY_MAX_SECONDS", "1".to_owned()),
        ("FEDMSG_BRIDGE_SINK_TIMEOUT_SECONDS", "5".to_owned()),
    ]
}

/// The bridge running in this process.
pub struct Bridge {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), fedora_ci::runtime::serve::ServeError>>,
}

impl Bridge {
    /// Starts the bridge and waits until it consumes (`/healthz` 200).
    pub async fn start(env: &[(&'static str, String)]) -> Bridge {
        let bridge = Self::start_unchecked(env);
        bridge.wait_health(StatusCode::OK, Duration::from_secs(30)).await;
        bridge
    }

    pub fn start_unchecked(env: &[(&'static str, String)]) -> Bridge {
        fedora_ci::runtime::serve::init_logging();
        let port = fedora_ci::dev::testing::free_port();
        let mut map: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        map.insert("PORT".into(), port.to_string());
        let config = BridgeConfig::from_source(&move |k: &str| map.get(k).cloned()).expect("bridge config");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(fedmsg_bridge::run(config, async move {
            let _ = stopped.await;
        }));
        Bridge { port, stop: Some(stop), task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until both `/healthz` and `/readyz` answer `status`.
    pub async fn wait_health(&self, status: StatusCode, limit: Duration) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        loop {
            let mut all = true;
            for path in ["/healthz", "/readyz"] {
                let got = client.get(self.url(path)).send().await.map(|r| r.status().as_u16()).ok();
                all &= got == Some(status.as_u16());
            }
            if all {
                return;
            }
            assert!(Instant::now() < deadline, "health did not become {status} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Graceful stop (as on SIGTERM), bounded.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the bridge stops within 30 s")
            .expect("the bridge task");
        result.expect("the bridge ends cleanly");
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP forwarder between the bridge and the broker that a test can cut, to see
/// the bridge lose its connection and come back, without touching the shared
/// RabbitMQ.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, up, connections }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }
}

/// `host:port` of an AMQP URL (5672 when not given).
pub fn broker_address(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5672))
}
