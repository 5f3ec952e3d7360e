//! Helpers for tests and the local stack (feature `dev`): the recorded fixtures,
//! CloudEvent requests built from them the way the bridge sends them, and running
//! a function binary as a real process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `tests/fixtures` of this workspace: a copy of the recorded messages (the copy
/// keeps a clone self-contained; a test checks it matches `../shared/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("tests").join("fixtures")
}

/// A recorded Fedora Messaging message.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    /// The full topic (routing key).
    pub topic: String,
    /// The body as the bridge forwards it (without the `topic` key the recording added).
    pub body: Value,
}

impl Fixture {
    /// Fixtures come in two shapes: a body with the routing key added as `topic`,
    /// or fedora-messaging's dump (`{body, headers, id, topic}`).
    pub fn load(name: &str) -> Fixture {
        Self::load_from("fedora-messaging", name)
    }

    /// A recorded message from another fixture folder (`log-detective`).
    pub fn load_from(folder: &str, name: &str) -> Fixture {
        let path = fixtures_dir().join(folder).join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let topic = json["topic"].as_str().unwrap_or_else(|| panic!("{name}: no topic")).to_owned();
        let mut body = match json.get("body") {
            Some(body) if body.is_object() && json.get("headers").is_some() => body.clone(),
            _ => json,
        };
        if let Some(map) = body.as_object_mut() {
            map.remove("topic");
        }
        Fixture { name: name.to_owned(), topic, body }
    }

    pub fn all() -> Vec<Fixture> {
        let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join("fedora-messaging"))
            .expect("fixtures directory")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names.iter().map(|n| Fixture::load(n)).collect()
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).expect("fixture serializes")
    }

    /// The same topic under another deployment prefix (`org.fedoraproject.stg.`).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        let suffix = self.topic.splitn(4, '.').nth(3).unwrap_or_default().to_owned();
        self.topic = format!("{prefix}{suffix}");
        self
    }
}

/// The headers of a binary-mode CloudEvent as the Knative Broker delivers one
/// (JSON data, the bridge's source), for every client that sends one.
pub fn binary_headers(ce_type: &str, id: &str) -> [(&'static str, String); 5] {
    [
        ("ce-specversion", "1.0".to_owned()),
        ("ce-id", id.to_owned()),
        ("ce-type", ce_type.to_owned()),
        ("ce-source", "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

/// Something told of each fixture a test sends.
type SendObserver = std::rc::Rc<dyn Fn(&Fixture)>;

thread_local! {
    /// Who hears of each message a test sends, on this (the test's) thread: the
    /// Pagure sandbox learns a PR and its head commit from a pull-request message,
    /// as real Pagure has the PR before it announces it.
    static SEND_OBSERVERS: std::cell::RefCell<Vec<SendObserver>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers `observer` for every fixture this thread sends through
/// [`binary_request`] or [`structured_request`] (or announces with [`announce`]).
pub fn observe_sends(observer: impl Fn(&Fixture) + 'static) {
    SEND_OBSERVERS.with(|o| o.borrow_mut().push(std::rc::Rc::new(observer)));
}

/// Tells this thread's observers that `fixture` is being sent (also for messages
/// sent another way, e.g. published to a broker).
pub fn announce(fixture: &Fixture) {
    let observers: Vec<_> = SEND_OBSERVERS.with(|o| o.borrow().clone());
    for observer in observers {
        observer(fixture);
    }
}

/// A binary-mode CloudEvent POST, as the Knative Broker delivers.
pub fn binary_request(client: &reqwest::Client, url: &str, fixture: &Fixture, id: &str) -> reqwest::RequestBuilder {
    announce(fixture);
    binary_headers(&fixture.topic, id)
        .into_iter()
        .fold(client.post(url), |request, (name, value)| request.header(name, value))
        .body(fixture.body_bytes())
}

/// A structured-mode CloudEvent POST (`application/cloudevents+json`).
pub fn structured_request(client: &reqwest::Client, url: &str, fixture: &Fixture, id: &str) -> reqwest::RequestBuilder {
    announce(fixture);
    let envelope = serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "type": fixture.topic,
        "source": "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub",
        "datacontenttype": "application/json",
        "data": fixture.body,
    });
    client
        .post(url)
        .header("content-type", "application/cloudevents+json")
        .body(serde_json::to_vec(&envelope).expect("envelope serializes"))
}

/// A function binary running as a child process on a free port; killed on drop.
pub struct RunningBinary {
    pub port: u16,
    pub child: Child,
    pub log: PathBuf,
}

impl RunningBinary {
    /// Starts `exe` with `env` and waits (bounded) until `/healthz` answers.
    pub async fn start(exe: &str, env: &[(&str, String)]) -> RunningBinary {
        Self::start_with_args(exe, &[], env).await
    }

    pub async fn start_with_args(exe: &str, args: &[&str], env: &[(&str, String)]) -> RunningBinary {
        let port = free_port();
        let log = log_path(exe, port);
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(exe)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("RUST_LOG", "debug")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {exe}: {e}"));
        let mut running = RunningBinary { port, child, log };
        running.wait_healthy().await;
        running
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!("binary exited early with {status}: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            if client.get(self.url("/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "binary not healthy within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `None` while the process is still running.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("child status")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as Knative scales a replica down; waits (bounded) for the exit,
    /// after which everything the process flushes on shutdown has been sent.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running 30 s after SIGTERM: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The log of every process a test starts is kept (stdout and stderr), so that
/// `make test` can check afterwards that no secret reached any of them.
impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/test-logs/` of this workspace (or under `$CARGO_TARGET_DIR`).
pub fn test_logs_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("test-logs")
}

fn log_path(exe: &str, port: u16) -> PathBuf {
    let dir = test_logs_dir();
    let _ = std::fs::create_dir_all(&dir);
    let name = std::path::Path::new(exe).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!("{name}-{}-{port}.log", std::process::id()))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Serves a router on a free loopback port in this runtime; returns its base URL.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
