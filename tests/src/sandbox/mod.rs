//! Sandbox servers that speak the real wire protocols of the services we cannot
//! reach from tests (Pagure REST, Forgejo REST, FASJSON, Koji XML-RPC and its log server, Testing Farm REST, the Log Detective
//! interface server, and
//! Sentry's and an OpenTelemetry collector's ingest endpoints). They
//! keep what they were asked in memory so tests can assert on it, and can be told
//! to fail.

pub mod fasjson;
pub mod faults;
pub mod forgejo;
pub mod koji;
pub mod log_detective;
pub mod otlp;
pub mod pagure;
pub mod sentry;
pub mod spnego;
pub mod static_files;
pub mod testing_farm;

/// Serves `router` on a free loopback port; returns the base URL (no trailing slash).
pub async fn spawn(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind sandbox");
    let addr = listener.local_addr().expect("sandbox addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A forge sandbox learns PRs from the messages that announce them, as the real
/// forge has them before it announces them: `learn` gets each message (topic,
/// body) whose topic contains `topic_part`, while the sandbox's data lives. The
/// messages this thread sends are observed at once
/// ([`fedora_ci::dev::testing::observe_sends`]); the returned observer is for a
/// broker that carries them on another thread (`make run`).
pub fn learn_from_messages<D: Send + 'static>(
    data: &std::sync::Arc<std::sync::Mutex<D>>,
    topic_part: &'static str,
    learn: fn(&mut D, &str, &serde_json::Value),
) -> crate::broker::EventObserver {
    let weak = std::sync::Arc::downgrade(data);
    let observer: crate::broker::EventObserver = std::sync::Arc::new(move |topic: &str, body: &serde_json::Value| {
        if topic.contains(topic_part)
            && let Some(data) = weak.upgrade()
        {
            learn(&mut data.lock().unwrap(), topic, body);
        }
    });
    let on_send = observer.clone();
    fedora_ci::dev::testing::observe_sends(move |fixture| on_send(&fixture.topic, &fixture.body));
    observer
}
