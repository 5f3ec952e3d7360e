//! A Koji hub on loopback that speaks the real protocol, for tests and `make run`.
//!
//! It decodes real XML-RPC with the client's own codec and answers the calls our
//! functions make the way `kojihub` does (koji's fault codes, `nil` for unknown
//! ids, `multiCall` results as `[result]` or fault structs, keyword arguments
//! checked against each signature, session headers and call numbers checked as in
//! `kojihub/auth.py`). Login is the Apache side of
//! Fedora's hub: `/kojihub/ssllogin` answers 401 + `WWW-Authenticate: Negotiate`
//! until a token the [`Verifier`] accepts arrives. State is in memory; test
//! controls change it directly instead of going through the protocol.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fedora_ci::clients::koji::client::fault;
use fedora_ci::clients::koji::xmlrpc::{self, Fault, Value};
use fedora_ci::messages::KojiTaskState;

use super::faults::{self, Faults};

/// Checks the base64 SPNEGO token of `Authorization: Negotiate <token>` and returns
/// the client principal. The real GSSAPI acceptor plugs in here.
pub type Verifier = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// The hub version we claim in `Koji-Version`, as a recent Fedora hub would.
pub const KOJI_VERSION: &str = "1.35.3";

/// `koji.API_VERSION`, which `getAPIVersion` answers and the CLI compares.
pub const API_VERSION: i64 = 1;

/// The builders tasks run on (`host` table): id, name, arches.
const HOSTS: [(i64, &str, &str); 1] = [(1, "buildvm-x86-01.sandbox.example", "x86_64 i686 noarch")];

fn host_info(h: &(i64, &str, &str)) -> Value {
    Value::structure([
        ("id", Value::Int(h.0)),
        ("user_id", Value::Int(100 + h.0)),
        ("name", h.1.into()),
        ("update_ts", Value::Double(now_ts())),
        ("ready", Value::Bool(true)),
        ("task_load", Value::Double(0.0)),
        ("arches", h.2.into()),
        ("capacity", Value::Double(10.0)),
        ("description", Value::Nil),
        ("comment", Value::Nil),
        ("enabled", Value::Bool(true)),
    ])
}

/// Python's `repr` of an argument, as kojihub's `%r` messages quote it.
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Int(i) => i.to_string(),
        Value::Nil => "None".to_owned(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        other => format!("{other:?}"),
    }
}

/// Python's `type(x)` text for kojihub's "Invalid type" messages.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Double(_) => "<class 'float'>",
        Value::Array(_) => "<class 'list'>",
        Value::Bool(_) => "<class 'bool'>",
        _ => "<class 'object'>",
    }
}

/// A verifier that refuses every token: the default, so nothing logs in by accident.
pub fn reject_all() -> Verifier {
    Arc::new(|_| Err("no Kerberos acceptor configured in this sandbox".to_owned()))
}

/// A verifier that accepts exactly `token` as `principal`.
pub fn accept_token(token: &str, principal: &str) -> Verifier {
    let (token, principal) = (token.to_owned(), principal.to_owned());
    Arc::new(move |t| if t == token { Ok(principal.clone()) } else { Err("token not accepted".to_owned()) })
}

/// One XML-RPC call the hub dispatched (calls refused by session checks are not).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub method: String,
    pub params: Vec<Value>,
    /// The logged-in user, `None` for anonymous calls.
    pub user: Option<String>,
    pub session_id: Option<i64>,
    pub callnum: Option<i64>,
    /// Dispatched as part of a `multiCall` (which is recorded too).
    pub in_multicall: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedBuild {
    pub task_id: i64,
    /// `[src, target, opts]`, as stored in the task's `request`.
    pub request: Vec<Value>,
    pub owner: String,
    pub priority: Option<i64>,
    pub channel: Option<String>,
}

impl RecordedBuild {
    pub fn src(&self) -> &str {
        self.request[0].as_str().unwrap_or_default()
    }

    pub fn target(&self) -> &str {
        self.request[1].as_str().unwrap_or_default()
    }

    pub fn scratch(&self) -> bool {
        self.request[2].get("scratch").and_then(Value::as_bool).unwrap_or(false)
    }
}

/// A running sandbox hub; stops when dropped.
pub struct KojiHub {
    /// Transport faults (errors, hangs, closed connections) in front of the hub.
    pub faults: Arc<Faults>,
    addr: SocketAddr,
    state: Arc<Mutex<Hub>>,
    server: tokio::task::JoinHandle<()>,
    /// The routes, for an https front on another port ([`KojiHub::serve_tls`]).
    app: Router,
    tls_server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for KojiHub {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(tls) = self.tls_server.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tls.abort();
        }
    }
}

impl KojiHub {
    /// A hub whose login refuses every token.
    pub async fn start() -> KojiHub {
        Self::start_with_verifier(reject_all()).await
    }

    pub async fn start_with_verifier(verifier: Verifier) -> KojiHub {
        let state = Arc::new(Mutex::new(Hub::new(verifier)));
        let faults = Arc::new(Faults::default());
        let app = Router::new()
            .route("/kojihub", post(rpc))
            .route("/kojihub/ssllogin", post(ssl_login))
            .route("/koji/taskinfo", get(task_page))
            .route("/work/tasks/{bucket}/{task}/{name}", get(task_log))
            .layer(axum::middleware::from_fn_with_state(state.clone(), record_traceparent))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), faults::inject));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let tls_app = app.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("sandbox Koji hub");
        });
        KojiHub { faults, addr, state, server, app: tls_app, tls_server: Mutex::new(None) }
    }

    /// The same hub over https on a port of its own, with the PEM certificate
    /// chain and key given, as Fedora's Apache terminates TLS in front of
    /// kojihub. The koji CLI needs it to log in: `ClientSession.gssapi_login`
    /// forces `https://` for `ssllogin` whatever the configured server says.
    /// Returns the port.
    pub async fn serve_tls(&self, cert_pem: &std::path::Path, key_pem: &std::path::Path) -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
            .and_then(|certs| certs.collect())
            .unwrap_or_else(|e| panic!("reading {}: {e}", cert_pem.display()));
        let key =
            PrivateKeyDer::from_pem_file(key_pem).unwrap_or_else(|e| panic!("reading {}: {e}", key_pem.display()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .expect("a TLS configuration for the sandbox hub");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let app = self.app.clone();
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        *self.tls_server.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
        port
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The XML-RPC endpoint, for `KOJI_HUB_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/kojihub", self.addr)
    }

    /// For `KOJI_WEB_URL`; `taskinfo?taskID=` answers with the task's state.
    pub fn web_url(&self) -> String {
        format!("http://{}/koji", self.addr)
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        lock(&self.state)
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.hub().calls.clone()
    }

    pub fn builds(&self) -> Vec<RecordedBuild> {
        self.hub().builds.clone()
    }

    /// `traceparent` headers received, in order: proof a caller's trace reached Koji.
    pub fn traceparents(&self) -> Vec<String> {
        self.hub().traceparents.clone()
    }

    /// How many login attempts were answered with the Negotiate challenge.
    pub fn challenges(&self) -> usize {
        self.hub().challenges
    }

    pub fn task_state(&self, task_id: i64) -> Option<KojiTaskState> {
        self.hub().tasks.get(&task_id).map(|t| t.state)
    }

    /// Moves a task to `state` with the timestamps Koji would set. On CLOSED or
    /// FAILED the task gets its subtasks, as a scratch build from git has them:
    /// `buildSRPMFromSCM` and one `buildArch` per arch (on FAILED x86_64 failed and
    /// the other arch was canceled, as koji does with siblings).
    pub fn set_task_state(&self, task_id: i64, state: KojiTaskState) {
        let mut hub = self.hub();
        let now = now_ts();
        let task = hub.tasks.get_mut(&task_id).unwrap_or_else(|| panic!("no task {task_id} in the sandbox hub"));
        task.state = state;
        if task.start_ts.is_none() && state != KojiTaskState::Free {
            task.start_ts = Some(now);
            task.host_id = Some(1);
        }
        task.completion_ts = state.is_done().then_some(now);
        let owner = task.owner;
        let has_children = hub.tasks.values().any(|t| t.parent == Some(task_id));
        if matches!(state, KojiTaskState::Closed | KojiTaskState::Failed) && !has_children {
            let failed = state == KojiTaskState::Failed;
            let failing = hub.failing_arches.get(&task_id).cloned().unwrap_or_else(|| vec!["x86_64".to_owned()]);
            let arch_state = |arch: &str| match (failed, failing.iter().any(|a| a == arch)) {
                (false, _) => KojiTaskState::Closed,
                (true, true) => KojiTaskState::Failed,
                (true, false) => KojiTaskState::Canceled,
            };
            let children = [
                ("buildSRPMFromSCM", "noarch", "srpm", KojiTaskState::Closed),
                ("buildArch", "x86_64", "x86_64", arch_state("x86_64")),
                ("buildArch", "aarch64", "aarch64", arch_state("aarch64")),
            ];
            // The subtasks' requests as kojid's `BuildTask` makes them:
            // `buildSRPMFromSCM(url, build_tag, opts)` and `buildArch(pkg, root,
            // arch, keep_srpm, opts)`, the SRPM in the first subtask's directory.
            let parent_request = hub.tasks.get(&task_id).map(|t| t.request.clone()).unwrap_or_default();
            let src = parent_request.first().and_then(Value::as_str).unwrap_or_default().to_owned();
            let target = parent_request.get(1).and_then(Value::as_str).unwrap_or_default().to_owned();
            let build_tag = TARGETS.iter().find(|t| t.name == target).map_or(TARGETS[0].build_tag, |t| t.build_tag);
            let package = src.split(['#', '?']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
            let package = package.trim_end_matches(".git").to_owned();
            let srpm_task = hub.next_task_id;
            let srpm = format!("tasks/{}/{srpm_task}/{package}-1.0-1.src.rpm", srpm_task % 10000);
            let opts = Value::structure([("repo_id", Value::Int(build_tag * 10)), ("scratch", Value::Bool(true))]);
            for (method, arch, label, state) in children {
                let id = hub.next_task_id();
                let request = if method == "buildArch" {
                    vec![srpm.as_str().into(), Value::Int(build_tag), arch.into(), Value::Bool(false), opts.clone()]
                } else {
                    vec![src.as_str().into(), Value::Int(build_tag), opts.clone()]
                };
                let mut child = Task::new(id, method, arch, owner, request);
                child.parent = Some(task_id);
                child.label = Some(label.to_owned());
                child.state = state;
                child.start_ts = Some(now);
                child.completion_ts = Some(now);
                child.host_id = Some(1);
                hub.tasks.insert(id, child);
                hub.logs.insert(id, BUILD_ARCH_LOGS.iter().map(|l| (*l).to_owned()).collect());
            }
        }
    }

    /// When `task_id` FAILs, these arches' buildArch subtasks fail (the others
    /// are canceled, as Koji cancels the siblings of a failed subtask).
    pub fn set_failing_arches(&self, task_id: i64, arches: &[&str]) {
        self.hub().failing_arches.insert(task_id, arches.iter().map(|a| (*a).to_owned()).collect());
    }

    /// The log files of a task (replacing what it had).
    pub fn set_task_logs(&self, task_id: i64, names: &[&str]) {
        self.hub().logs.insert(task_id, names.iter().map(|n| (*n).to_owned()).collect());
    }

    /// A task's subtasks as a `buildsys.task.state.change` message lists them in
    /// `info.children` (id, method, arch, label, state, parent…).
    pub fn children_json(&self, task_id: i64) -> Vec<serde_json::Value> {
        let hub = self.hub();
        hub.tasks
            .values()
            .filter(|t| t.parent == Some(task_id))
            .map(|t| {
                serde_json::json!({
                    "id": t.id, "parent": task_id, "method": t.method, "arch": t.arch, "label": t.label,
                    "state": t.state as i64, "owner": t.owner, "priority": t.priority, "channel_id": t.channel_id,
                    "host_id": t.host_id, "create_time": t.create_ts, "start_time": t.start_ts,
                    "completion_time": t.completion_ts, "waiting": null, "awaited": false,
                })
            })
            .collect()
    }

    /// The subtask id of `method` on `arch` under `task_id`.
    pub fn child(&self, task_id: i64, method: &str, arch: &str) -> Option<i64> {
        self.hub()
            .tasks
            .values()
            .find(|t| t.parent == Some(task_id) && t.method == method && t.arch == arch)
            .map(|t| t.id)
    }

    /// For `KOJI_PKGS_URL`: `<it>/work/tasks/<id % 10000>/<id>/<log>` serves the logs.
    pub fn pkgs_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// While down every request gets 503, as from a proxy in front of a dead hub.
    pub fn set_down(&self, down: bool) {
        self.hub().down = down;
    }

    /// The next `n` requests get 500 before reaching the hub.
    pub fn fail_next(&self, n: usize) {
        self.hub().fail_next = n;
    }

    /// The next XML-RPC call is answered with `fault` without running, as the hub
    /// does for `ServerOffline` or an out-of-sequence call number.
    pub fn fault_next(&self, fault: Fault) {
        self.hub().fault_next = Some(fault);
    }

    /// Every session expires now, as after `SessionRenewalTimeout`.
    pub fn expire_sessions(&self) {
        for s in self.hub().sessions.values_mut() {
            s.expired = true;
        }
    }

    /// Copies of task `template` (same owner, method, request and state) under
    /// each of `ids`: many running builds at once, for load on the poller.
    pub fn clone_task(&self, template: i64, ids: impl IntoIterator<Item = i64>) {
        let mut hub = self.hub();
        let task = hub.tasks.get(&template).cloned().unwrap_or_else(|| panic!("no task {template} in the sandbox hub"));
        for id in ids {
            hub.tasks.insert(id, Task { id, ..task.clone() });
        }
    }

    /// A channel the hub has (an admin's `add-channel`), enabled, open to anyone.
    pub fn add_channel(&self, name: &str) {
        let mut hub = self.hub();
        if !hub.channels.iter().any(|c| c.name == name) {
            hub.channels.push(Channel { name: name.to_owned(), enabled: true, users: None });
        }
    }

    /// `koji disable-channel` / `enable-channel` on an existing channel.
    pub fn set_channel_enabled(&self, name: &str, enabled: bool) {
        let mut hub = self.hub();
        let channel = hub.channels.iter_mut().find(|c| c.name == name).expect("no such channel in the sandbox hub");
        channel.enabled = enabled;
    }

    /// The channel policy lets only `users` (Koji user names) request `name`.
    pub fn restrict_channel(&self, name: &str, users: &[&str]) {
        let mut hub = self.hub();
        let channel = hub.channels.iter_mut().find(|c| c.name == name).expect("no such channel in the sandbox hub");
        channel.users = Some(users.iter().map(|u| (*u).to_owned()).collect());
    }

    /// Task ids continue from here (e.g. above i32 to exercise `<i8>`).
    pub fn set_next_task_id(&self, id: i64) {
        self.hub().next_task_id = id;
    }
}

fn lock(state: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ts() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// Koji's `*_time` strings: the database timestamp as text.
fn time_string(ts: f64) -> String {
    chrono::DateTime::from_timestamp_micros((ts * 1e6) as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
        .unwrap_or_default()
}

struct User {
    id: i64,
    name: String,
    principal: String,
}

/// A hub channel (`channels` table): `enabled`, and the users the channel policy
/// lets request it (`None`: anyone).
struct Channel {
    name: String,
    enabled: bool,
    users: Option<Vec<String>>,
}

struct SessionRec {
    user_id: i64,
    key: String,
    expired: bool,
    callnum: Option<i64>,
}

#[derive(Clone)]
struct Task {
    id: i64,
    method: String,
    arch: String,
    label: Option<String>,
    parent: Option<i64>,
    state: KojiTaskState,
    owner: i64,
    priority: i64,
    channel_id: i64,
    host_id: Option<i64>,
    create_ts: f64,
    start_ts: Option<f64>,
    completion_ts: Option<f64>,
    request: Vec<Value>,
}

impl Task {
    fn new(id: i64, method: &str, arch: &str, owner: i64, request: Vec<Value>) -> Self {
        Task {
            id,
            method: method.to_owned(),
            arch: arch.to_owned(),
            label: None,
            parent: None,
            state: KojiTaskState::Free,
            owner,
            priority: 20,
            channel_id: 1,
            host_id: None,
            create_ts: now_ts(),
            start_ts: None,
            completion_ts: None,
            request,
        }
    }

    /// What kojid stores as a finished task's result: a scratch `build` keeps
    /// none (its handler returns `None` for scratch), a `buildArch` its files.
    fn result(&self) -> Value {
        if self.method == "buildArch" {
            let base = format!("tasks/{}/{}", self.id % 10000, self.id);
            Value::structure([
                ("brootid", Value::Int(self.id)),
                ("logs", Value::Array(BUILD_ARCH_LOGS.iter().map(|l| format!("{base}/{l}").into()).collect())),
                ("rpms", Value::Array(Vec::new())),
                ("srpms", Value::Array(Vec::new())),
            ])
        } else {
            Value::Nil
        }
    }

    /// A failed task's stored fault: kojid's `BuildError` (code 1005) for the
    /// arch that failed, the generic fault of its failed subtask for the parent.
    fn failure(&self) -> Fault {
        if self.method == "buildArch" {
            Fault {
                code: 1005,
                message: format!(
                    "error building package (arch {}), mock exited with status 1; see build.log for more information",
                    self.arch
                ),
            }
        } else {
            generic("BuildError: error building package, mock exited with status 1; see build.log for more information")
        }
    }

    /// `getTaskInfo`'s struct (the fields of koji's `Task.fields`).
    fn info(&self, with_request: bool) -> Value {
        let time = |ts: Option<f64>| ts.map_or(Value::Nil, |t| Value::String(time_string(t)));
        let mut v = BTreeMap::from([
            ("id".to_owned(), Value::Int(self.id)),
            ("state".to_owned(), Value::Int(self.state as i64)),
            ("create_time".to_owned(), time(Some(self.create_ts))),
            ("create_ts".to_owned(), Value::Double(self.create_ts)),
            ("start_time".to_owned(), time(self.start_ts)),
            ("start_ts".to_owned(), self.start_ts.into()),
            ("completion_time".to_owned(), time(self.completion_ts)),
            ("completion_ts".to_owned(), self.completion_ts.into()),
            ("channel_id".to_owned(), Value::Int(self.channel_id)),
            ("host_id".to_owned(), self.host_id.into()),
            ("parent".to_owned(), self.parent.into()),
            ("label".to_owned(), self.label.clone().into()),
            ("waiting".to_owned(), Value::Nil),
            ("awaited".to_owned(), if self.parent.is_some() { Value::Bool(false) } else { Value::Nil }),
            ("owner".to_owned(), Value::Int(self.owner)),
            ("method".to_owned(), self.method.as_str().into()),
            ("arch".to_owned(), self.arch.as_str().into()),
            ("priority".to_owned(), Value::Int(self.priority)),
            ("weight".to_owned(), Value::Double(if self.parent.is_some() { 1.5 } else { 0.2 })),
        ]);
        if with_request {
            v.insert("request".to_owned(), Value::Array(self.request.clone()));
        }
        Value::Struct(v)
    }
}

struct Target {
    id: i64,
    name: &'static str,
    build_tag: i64,
    build_tag_name: &'static str,
    dest_tag: i64,
    dest_tag_name: &'static str,
}

impl Target {
    fn info(&self) -> Value {
        Value::structure([
            ("id", Value::Int(self.id)),
            ("name", self.name.into()),
            ("build_tag", Value::Int(self.build_tag)),
            ("build_tag_name", self.build_tag_name.into()),
            ("dest_tag", Value::Int(self.dest_tag)),
            ("dest_tag_name", self.dest_tag_name.into()),
        ])
    }
}

const TARGETS: [Target; 4] = [
    Target {
        id: 1,
        name: "rawhide",
        build_tag: 101,
        build_tag_name: "f44-build",
        dest_tag: 102,
        dest_tag_name: "f44-updates-candidate",
    },
    Target { id: 2, name: "eln", build_tag: 201, build_tag_name: "eln-build", dest_tag: 202, dest_tag_name: "eln" },
    Target {
        id: 3,
        name: "f43-candidate",
        build_tag: 301,
        build_tag_name: "f43-build",
        dest_tag: 302,
        dest_tag_name: "f43-updates-candidate",
    },
    Target {
        id: 4,
        name: "epel10-candidate",
        build_tag: 401,
        build_tag_name: "epel10.1-build",
        dest_tag: 402,
        dest_tag_name: "epel10.1-testing-candidate",
    },
];

struct Hub {
    verifier: Verifier,
    down: bool,
    fail_next: usize,
    fault_next: Option<Fault>,
    challenges: usize,
    users: Vec<User>,
    sessions: HashMap<i64, SessionRec>,
    next_session_id: i64,
    key_counter: u64,
    tasks: BTreeMap<i64, Task>,
    next_task_id: i64,
    /// Channel id = index + 1; `default` is channel 1, as on every hub.
    channels: Vec<Channel>,
    calls: Vec<RecordedCall>,
    builds: Vec<RecordedBuild>,
    /// The W3C `traceparent` header of every request that carried one.
    traceparents: Vec<String>,
    /// Log files of each task, served under `/work/tasks/…` (kojipkgs' layout).
    logs: HashMap<i64, Vec<String>>,
    /// The buildArch arches that fail when a task FAILs (default: x86_64 only).
    failing_arches: HashMap<i64, Vec<String>>,
}

/// What a finished buildArch subtask leaves in its work directory (a real
/// failed Fedora scratch build's task page lists these).
pub const BUILD_ARCH_LOGS: [&str; 6] =
    ["build.log", "hw_info.log", "mock_config.log", "mock_output.log", "root.log", "state.log"];

/// Who is calling, as `kojihub/auth.py` works it out for one request.
#[derive(Default, Clone)]
struct Caller {
    /// Kerberos principal (`REMOTE_USER`) on `/ssllogin`.
    remote_user: Option<String>,
    /// Session named in the headers, expired or not.
    session_id: Option<i64>,
    /// Set only for a live session.
    user_id: Option<i64>,
    callnum: Option<i64>,
}

fn generic(message: impl Into<String>) -> Fault {
    Fault { code: fault::GENERIC, message: message.into() }
}

fn param_error(message: impl Into<String>) -> Fault {
    Fault { code: fault::PARAMETER_ERROR, message: message.into() }
}

fn auth_error(message: impl Into<String>) -> Fault {
    Fault { code: fault::AUTH_ERROR, message: message.into() }
}

/// Positional and keyword arguments matched to a signature, as koji's
/// `decode_args` + `call_with_argcheck` do.
struct Args(BTreeMap<String, Value>);

impl Args {
    fn bind(method: &str, mut params: Vec<Value>, names: &[&str]) -> Result<Args, Fault> {
        let mut bound = BTreeMap::new();
        if let Some(Value::Struct(last)) = params.last()
            && last.get("__starstar") == Some(&Value::Bool(true))
        {
            let Some(Value::Struct(mut kwargs)) = params.pop() else { unreachable!() };
            kwargs.remove("__starstar");
            for (k, v) in kwargs {
                if !names.contains(&k.as_str()) {
                    return Err(param_error(format!("{method}() got an unexpected keyword argument '{k}'")));
                }
                bound.insert(k, v);
            }
        }
        if params.len() > names.len() {
            return Err(param_error(format!(
                "{method}() takes at most {} arguments ({} given)",
                names.len(),
                params.len()
            )));
        }
        for (name, v) in names.iter().zip(params) {
            if bound.insert((*name).to_owned(), v).is_some() {
                return Err(param_error(format!("{method}() got multiple values for argument '{name}'")));
            }
        }
        Ok(Args(bound))
    }

    fn get(&self, name: &str) -> &Value {
        self.0.get(name).unwrap_or(&Value::Nil)
    }

    fn flag(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Value::Nil => default,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            _ => true,
        }
    }

    fn int(&self, method: &str, name: &str) -> Result<i64, Fault> {
        self.get(name).as_i64().ok_or_else(|| param_error(format!("{method}: {name} must be an integer")))
    }

    fn string(&self, method: &str, name: &str) -> Result<String, Fault> {
        self.get(name)
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| param_error(format!("{method}: {name} must be a string")))
    }
}

impl Hub {
    fn new(verifier: Verifier) -> Self {
        Hub {
            verifier,
            down: false,
            fail_next: 0,
            fault_next: None,
            challenges: 0,
            users: Vec::new(),
            sessions: HashMap::new(),
            next_session_id: 1,
            key_counter: 0,
            tasks: BTreeMap::new(),
            next_task_id: 140_000_000,
            channels: vec![Channel { name: "default".to_owned(), enabled: true, users: None }],
            calls: Vec::new(),
            builds: Vec::new(),
            traceparents: Vec::new(),
            logs: HashMap::new(),
            failing_arches: HashMap::new(),
        }
    }

    fn next_task_id(&mut self) -> i64 {
        let id = self.next_task_id;
        self.next_task_id += 1;
        id
    }

    /// `kojihub.make_task`'s channel choice for a `build` the user `owner` asks
    /// to put in `requested`: `get_channel` — "No such channel: X" for a name the
    /// hub does not know, "Channel X is disabled." for a disabled one — then the
    /// `channel` policy. The hub's policy is `has req_channel && <allowed> :: req`,
    /// `all :: use default`; a restricted channel's rule for anyone else answers
    /// `deny`, which `make_task` does not know as a channel result and refuses
    /// with "invalid channel policy". Never a new channel.
    fn channel_for(&self, requested: Option<&str>, owner: i64) -> Result<i64, Fault> {
        let Some(name) = requested else { return Ok(1) };
        let (index, channel) = self
            .channels
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| generic(format!("No such channel: {name}")))?;
        if !channel.enabled {
            return Err(generic(format!("Channel {name} is disabled.")));
        }
        let user = self.user(owner).map(|u| u.name.as_str()).unwrap_or_default();
        if channel.users.as_ref().is_some_and(|users| !users.iter().any(|u| u == user)) {
            return Err(generic("invalid channel policy"));
        }
        Ok(index as i64 + 1)
    }

    /// `kojihub.get_user`: by id, by name or Kerberos principal, or the caller
    /// when no user is named; `None` for an unknown user unless `strict`.
    fn get_user(&self, args: Args, caller: &Caller) -> Result<Value, Fault> {
        let user = match args.get("userInfo") {
            Value::Nil => {
                let id = caller.user_id.ok_or_else(|| generic("No user provided"))?;
                self.user(id)
            }
            Value::Int(id) => self.user(*id),
            Value::String(info) => self.users.iter().find(|u| u.name == *info || u.principal == *info),
            Value::Struct(data) => self.users.iter().find(|u| {
                data.get("id").and_then(Value::as_i64).is_none_or(|id| id == u.id)
                    && data.get("name").and_then(Value::as_str).is_none_or(|n| n == u.name)
                    && data.get("krb_principal").and_then(Value::as_str).is_none_or(|p| p == u.principal)
            }),
            other => return Err(generic(format!("Invalid type for userInfo: {}", py_type(other)))),
        };
        let Some(u) = user else {
            if args.flag("strict", false) {
                return Err(generic(format!("No such user: {}", py_repr(args.get("userInfo")))));
            }
            return Ok(Value::Nil);
        };
        let mut info = BTreeMap::from([
            ("id".to_owned(), Value::Int(u.id)),
            ("name".to_owned(), u.name.as_str().into()),
            ("status".to_owned(), Value::Int(0)),
            ("usertype".to_owned(), Value::Int(0)),
        ]);
        if args.flag("krb_princs", true) {
            info.insert("krb_principals".to_owned(), Value::Array(vec![u.principal.as_str().into()]));
        }
        if args.flag("groups", false) {
            info.insert("groups".to_owned(), Value::Array(Vec::new()));
        }
        Ok(Value::Struct(info))
    }

    /// `RootExports.listTasks`: the filters of `opts` (state, owner, method,
    /// parent, arch, host_id, channel_id and their `not_` forms), ordered by
    /// `queryOpts.order`, each task with `Task.fields`, `request`, `result`,
    /// `owner_name` and `owner_type`; `decode` turns the stored XML of `request`
    /// and `result` into values.
    fn list_tasks(&self, args: Args) -> Result<Value, Fault> {
        let opts = match args.get("opts") {
            Value::Nil => BTreeMap::new(),
            Value::Struct(m) => m.clone(),
            _ => return Err(param_error("listTasks: opts must be a struct")),
        };
        let query = match args.get("queryOpts") {
            Value::Nil => BTreeMap::new(),
            Value::Struct(m) => m.clone(),
            _ => return Err(param_error("listTasks: queryOpts must be a struct")),
        };
        let decode = opts.get("decode").is_some_and(|v| !matches!(v, Value::Nil | Value::Bool(false) | Value::Int(0)));
        let field = |t: &Task, name: &str| -> Value {
            match name {
                "state" => Value::Int(t.state as i64),
                "owner" => Value::Int(t.owner),
                "host_id" => t.host_id.into(),
                "channel_id" => Value::Int(t.channel_id),
                "parent" => t.parent.into(),
                "arch" => t.arch.as_str().into(),
                "method" => t.method.as_str().into(),
                _ => Value::Nil,
            }
        };
        let matches = |t: &Task, key: &str, want: &Value| -> bool {
            let have = field(t, key);
            match want {
                Value::Array(list) => list.contains(&have),
                Value::Nil => have.is_nil(),
                v => *v == have,
            }
        };
        let mut tasks: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| {
                ["state", "owner", "host_id", "channel_id", "parent", "arch", "method"].iter().all(|key| {
                    opts.get(*key).is_none_or(|want| matches(t, key, want))
                        && opts.get(&format!("not_{key}")).is_none_or(|want| match want {
                            Value::Nil => !field(t, key).is_nil(),
                            w => !matches(t, key, w),
                        })
                })
            })
            .collect();
        if let Some(order) = query.get("order").and_then(Value::as_str) {
            for key in order.split(',').rev() {
                let (desc, key) = match key.trim().strip_prefix('-') {
                    Some(k) => (true, k),
                    None => (false, key.trim()),
                };
                let rank = |t: &Task| -> f64 {
                    match key {
                        "priority" => t.priority as f64,
                        "create_time" | "create_ts" => t.create_ts,
                        "start_time" | "start_ts" => t.start_ts.unwrap_or(f64::MAX),
                        "completion_time" | "completion_ts" => t.completion_ts.unwrap_or(f64::MAX),
                        _ => t.id as f64,
                    }
                };
                tasks.sort_by(|a, b| {
                    let o = rank(a).total_cmp(&rank(b));
                    if desc { o.reverse() } else { o }
                });
            }
        }
        let rows = tasks
            .into_iter()
            .map(|t| {
                let Value::Struct(mut row) = t.info(false) else { unreachable!("Task::info is a struct") };
                let owner = self.user(t.owner);
                row.insert("owner_name".to_owned(), owner.map(|u| u.name.as_str()).into());
                row.insert("owner_type".to_owned(), owner.map_or(Value::Nil, |_| Value::Int(0)));
                let result = match t.state {
                    KojiTaskState::Closed => Some(Ok(t.result())),
                    KojiTaskState::Failed => Some(Err(t.failure())),
                    _ => None,
                };
                if decode {
                    row.insert("request".to_owned(), Value::Array(t.request.clone()));
                    row.insert(
                        "result".to_owned(),
                        match result {
                            None => Value::Nil,
                            Some(Ok(v)) => v,
                            Some(Err(f)) => {
                                Value::structure([("faultCode", Value::Int(f.code)), ("faultString", f.message.into())])
                            }
                        },
                    );
                } else {
                    // Stored as koji's `xmlrpcplus.dumps` text.
                    row.insert("request".to_owned(), xmlrpc::encode_call(&t.method, &t.request).into());
                    row.insert(
                        "result".to_owned(),
                        match result {
                            None => Value::Nil,
                            Some(Ok(v)) => xmlrpc::encode_response(&v).into(),
                            Some(Err(f)) => xmlrpc::encode_fault(&f).into(),
                        },
                    );
                }
                Value::Struct(row)
            })
            .collect();
        Ok(Value::Array(rows))
    }

    fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// `auth.Session.__init__`: validate the session headers, if any.
    fn caller(&mut self, headers: &HeaderMap, method: &str, remote_user: Option<String>) -> Result<Caller, Fault> {
        let mut caller = Caller { remote_user, ..Caller::default() };
        let Some(id) = headers.get("Koji-Session-Id") else { return Ok(caller) };
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::trim).map(str::to_owned);
        let id: i64 = text(Some(id)).and_then(|s| s.parse().ok()).ok_or_else(|| auth_error("Invalid session id"))?;
        let key = text(headers.get("Koji-Session-Key")).unwrap_or_default();
        // The client sends Koji-Session-Callnum; kojihub/auth.py has read
        // Koji-Callnum too, so both count.
        let callnum = match text(headers.get("Koji-Session-Callnum")).or_else(|| text(headers.get("Koji-Callnum"))) {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| auth_error(format!("Invalid callnum: {c:?}")))?),
        };
        let session = self
            .sessions
            .get_mut(&id)
            .filter(|s| s.key == key)
            .ok_or_else(|| auth_error("Invalid session or bad credentials"))?;
        if session.expired && !matches!(method, "login" | "sslLogin") {
            return Err(Fault { code: fault::AUTH_EXPIRED, message: format!("session \"{id}\" has expired") });
        }
        if let (Some(callnum), Some(last)) = (callnum, session.callnum) {
            if last > callnum {
                return Err(Fault {
                    code: fault::SEQUENCE_ERROR,
                    message: format!("{last} > {callnum} (session {id})"),
                });
            }
            if last == callnum {
                return Err(Fault {
                    code: fault::RETRY_ERROR,
                    message: format!("unable to retry call {callnum} (method {method}) for session {id}"),
                });
            }
        }
        if callnum.is_some() {
            session.callnum = callnum;
        }
        caller.session_id = Some(id);
        caller.callnum = callnum;
        if !session.expired {
            caller.user_id = Some(session.user_id);
        }
        Ok(caller)
    }

    fn dispatch(&mut self, method: &str, params: Vec<Value>, caller: &Caller, nested: bool) -> Result<Value, Fault> {
        self.calls.push(RecordedCall {
            method: method.to_owned(),
            params: params.clone(),
            user: caller.user_id.and_then(|id| self.user(id)).map(|u| u.name.clone()),
            session_id: caller.session_id,
            callnum: caller.callnum,
            in_multicall: nested,
        });
        match method {
            "multiCall" | "system.multicall" if !nested => {
                let args = Args::bind(method, params, &["calls"])?;
                let calls =
                    args.get("calls").as_array().ok_or_else(|| param_error("multiCall: calls must be a list"))?;
                Ok(Value::Array(
                    calls
                        .iter()
                        .map(|call| {
                            let name = call.get("methodName").and_then(Value::as_str).unwrap_or_default().to_owned();
                            let params = call.get("params").and_then(Value::as_array).unwrap_or_default().to_vec();
                            match self.dispatch(&name, params, caller, true) {
                                Ok(v) => Value::Array(vec![v]),
                                Err(f) => Value::structure([
                                    ("faultCode", Value::Int(f.code)),
                                    ("faultString", f.message.into()),
                                ]),
                            }
                        })
                        .collect(),
                ))
            }
            "sslLogin" => self
                .ssl_login(Args::bind(method, params, &["proxyuser", "proxyauthtype", "renew", "exclusive"])?, caller),
            "getLoggedInUser" => {
                Args::bind(method, params, &[])?;
                Ok(caller.user_id.and_then(|id| self.user(id)).map_or(Value::Nil, |u| {
                    Value::structure([
                        ("id", Value::Int(u.id)),
                        ("name", u.name.as_str().into()),
                        ("status", Value::Int(0)),
                        ("usertype", Value::Int(0)),
                        ("krb_principals", Value::Array(vec![u.principal.as_str().into()])),
                        ("authtype", Value::Int(3)),
                    ])
                }))
            }
            "getTaskInfo" => {
                let args = Args::bind(method, params, &["task_id", "request", "strict"])?;
                let (request, strict) = (args.flag("request", false), args.flag("strict", false));
                let one = |id: &Value| -> Result<Value, Fault> {
                    let id = id.as_i64().ok_or_else(|| param_error("getTaskInfo: task_id must be an integer"))?;
                    match self.tasks.get(&id) {
                        Some(t) => Ok(t.info(request)),
                        // `Task.getInfo(strict=True)` → `QueryProcessor.executeOne(strict=True)`.
                        None if strict => Err(generic("query returned no rows")),
                        None => Ok(Value::Nil),
                    }
                };
                match args.get("task_id") {
                    Value::Array(ids) => ids.iter().map(one).collect::<Result<Vec<_>, _>>().map(Value::Array),
                    id => one(id),
                }
            }
            // kojihub `RootExports.getAPIVersion` / `getKojiVersion`: `koji.API_VERSION`
            // and `koji.__version__`; `koji version` and every CLI connection ask.
            "getAPIVersion" => {
                Args::bind(method, params, &[])?;
                Ok(Value::Int(API_VERSION))
            }
            "getKojiVersion" => {
                Args::bind(method, params, &[])?;
                Ok(KOJI_VERSION.into())
            }
            "getUser" => {
                self.get_user(Args::bind(method, params, &["userInfo", "strict", "krb_princs", "groups"])?, caller)
            }
            "getHost" => {
                let args = Args::bind(method, params, &["hostInfo", "strict", "event"])?;
                let host = match args.get("hostInfo") {
                    Value::Int(id) => HOSTS.iter().find(|h| h.0 == *id),
                    Value::String(name) => HOSTS.iter().find(|h| h.1 == name),
                    _ => None,
                };
                match host {
                    Some(h) => Ok(host_info(h)),
                    None if args.flag("strict", false) => {
                        Err(generic(format!("Invalid hostInfo: {}", py_repr(args.get("hostInfo")))))
                    }
                    None => Ok(Value::Nil),
                }
            }
            "getChannel" => {
                let args = Args::bind(method, params, &["channelInfo", "strict"])?;
                let found = self.channels.iter().enumerate().find(|(i, c)| match args.get("channelInfo") {
                    Value::Int(id) => *i as i64 + 1 == *id,
                    Value::String(name) => c.name == *name,
                    _ => false,
                });
                match found {
                    Some((i, c)) => Ok(Value::structure([
                        ("id", Value::Int(i as i64 + 1)),
                        ("name", c.name.as_str().into()),
                        ("description", Value::Nil),
                        ("enabled", Value::Bool(c.enabled)),
                        ("comment", Value::Nil),
                    ])),
                    None if args.flag("strict", false) => {
                        Err(generic(format!("No such channel: {}", py_repr(args.get("channelInfo")))))
                    }
                    None => Ok(Value::Nil),
                }
            }
            // Scratch builds make no build entries, and the sandbox keeps no
            // buildroot records: `kojihub.list_builds` / `list_buildroots` answer
            // an empty list for a task without them.
            "listBuilds" => {
                Args::bind(
                    method,
                    params,
                    &[
                        "packageID",
                        "userID",
                        "taskID",
                        "prefix",
                        "state",
                        "volumeID",
                        "source",
                        "createdBefore",
                        "createdAfter",
                        "completeBefore",
                        "completeAfter",
                        "type",
                        "typeInfo",
                        "queryOpts",
                        "pattern",
                        "cgID",
                        "draft",
                    ],
                )?;
                Ok(Value::Array(Vec::new()))
            }
            "listBuildroots" => {
                Args::bind(
                    method,
                    params,
                    &["hostID", "tagID", "state", "rpmID", "archiveID", "taskID", "buildrootID", "repoID", "queryOpts"],
                )?;
                Ok(Value::Array(Vec::new()))
            }
            // `kojihub.list_task_output`: the files in the task's work directory —
            // a list of names, `{name: [volume]}` with `all_volumes`, `{name: stat}`
            // with `stat`; a task without a directory has none, and `strict` refuses
            // an unknown task.
            "listTaskOutput" => {
                let args = Args::bind(method, params, &["taskID", "stat", "all_volumes", "strict"])?;
                let id = args.int(method, "taskID")?;
                if args.flag("strict", false) && !self.tasks.contains_key(&id) {
                    return Err(generic("Task doesn't exist"));
                }
                let files = self.logs.get(&id).cloned().unwrap_or_default();
                let (stat, all_volumes) = (args.flag("stat", false), args.flag("all_volumes", false));
                let stat_of = |name: &str| {
                    let ts = self.tasks.get(&id).and_then(|t| t.completion_ts).unwrap_or_else(now_ts);
                    Value::structure([
                        ("st_size", format!("{}", task_log_body(name, id).len()).into()),
                        ("st_atime", Value::Double(ts)),
                        ("st_mtime", Value::Double(ts)),
                        ("st_ctime", Value::Double(ts)),
                    ])
                };
                Ok(match (stat, all_volumes) {
                    (false, false) => Value::Array(files.iter().map(|f| f.as_str().into()).collect()),
                    (false, true) => {
                        Value::Struct(files.iter().map(|f| (f.clone(), Value::Array(vec!["DEFAULT".into()]))).collect())
                    }
                    (true, false) => Value::Struct(files.iter().map(|f| (f.clone(), stat_of(f))).collect()),
                    (true, true) => Value::Struct(
                        files
                            .iter()
                            .map(|f| (f.clone(), Value::Struct(BTreeMap::from([("DEFAULT".to_owned(), stat_of(f))]))))
                            .collect(),
                    ),
                })
            }
            // `Task.getResult`: only a finished task has one; a failed task's
            // result is its fault, raised unless `raise_fault` is false.
            "getTaskResult" => {
                let args = Args::bind(method, params, &["taskId", "raise_fault"])?;
                let id = args.int(method, "taskId")?;
                let task = self.tasks.get(&id).ok_or_else(|| generic("No such task"))?;
                match task.state {
                    KojiTaskState::Canceled => Err(generic(format!("Task {id} is canceled"))),
                    KojiTaskState::Closed => Ok(task.result()),
                    KojiTaskState::Failed => {
                        let f = task.failure();
                        if args.flag("raise_fault", true) {
                            Err(f)
                        } else {
                            Ok(Value::structure([("faultCode", Value::Int(f.code)), ("faultString", f.message.into())]))
                        }
                    }
                    _ => Err(generic(format!("Task {id} is not finished"))),
                }
            }
            "listTasks" => self.list_tasks(Args::bind(method, params, &["opts", "queryOpts"])?),
            "getTaskChildren" => {
                let args = Args::bind(method, params, &["task_id", "request", "strict"])?;
                let id = args.int(method, "task_id")?;
                if args.flag("strict", false) && !self.tasks.contains_key(&id) {
                    return Err(generic("query returned no rows"));
                }
                let request = args.flag("request", false);
                Ok(Value::Array(
                    self.tasks.values().filter(|t| t.parent == Some(id)).map(|t| t.info(request)).collect(),
                ))
            }
            "getBuildTarget" => {
                let args = Args::bind(method, params, &["info", "event", "strict"])?;
                let found = TARGETS.iter().find(|t| match args.get("info") {
                    Value::Int(id) => t.id == *id,
                    Value::String(name) => t.name == name,
                    _ => false,
                });
                match found {
                    Some(t) => Ok(t.info()),
                    None if args.flag("strict", false) => {
                        Err(generic(format!("No such build target: {:?}", args.get("info"))))
                    }
                    None => Ok(Value::Nil),
                }
            }
            "getBuildTargets" => {
                let args = Args::bind(method, params, &["info", "event", "buildTagID", "destTagID", "queryOpts"])?;
                Ok(Value::Array(
                    TARGETS
                        .iter()
                        .filter(|t| match args.get("info") {
                            Value::String(name) => t.name == name,
                            Value::Int(id) => t.id == *id,
                            _ => true,
                        })
                        .filter(|t| args.get("buildTagID").as_i64().is_none_or(|id| id == t.build_tag))
                        .filter(|t| args.get("destTagID").as_i64().is_none_or(|id| id == t.dest_tag))
                        .map(Target::info)
                        .collect(),
                ))
            }
            "build" => {
                let args = Args::bind(method, params, &["src", "target", "opts", "priority", "channel"])?;
                let owner = caller.user_id.ok_or_else(not_logged_in)?;
                let src = args.string(method, "src")?;
                let target = args.string(method, "target")?;
                let opts = match args.get("opts") {
                    Value::Nil => Value::Struct(BTreeMap::new()),
                    v @ Value::Struct(_) => v.clone(),
                    _ => return Err(param_error("build: opts must be a struct")),
                };
                let priority = args.get("priority").as_i64();
                if priority.is_some_and(|p| p < 0) {
                    return Err(Fault {
                        code: fault::ACTION_NOT_ALLOWED,
                        message: "only admins may create high-priority tasks".to_owned(),
                    });
                }
                let channel = args.get("channel").as_str().map(str::to_owned);
                let channel_id = self.channel_for(channel.as_deref(), owner)?;
                let id = self.next_task_id();
                let request = vec![src.into(), target.into(), opts];
                let mut task = Task::new(id, "build", "noarch", owner, request.clone());
                task.priority = 20 + priority.unwrap_or(0);
                task.channel_id = channel_id;
                self.tasks.insert(id, task);
                let owner = self.user(owner).map(|u| u.name.clone()).unwrap_or_default();
                self.builds.push(RecordedBuild { task_id: id, request, owner, priority, channel });
                Ok(Value::Int(id))
            }
            "cancelTask" => {
                let args = Args::bind(method, params, &["task_id", "recurse"])?;
                // `RootExports.cancelTask`: no login check of its own —
                // `Task.verifyOwner` is false for an anonymous caller (before it
                // looks the task up), so anonymous is "not owner"; a logged-in
                // caller learns that the task does not exist.
                let not_owner =
                    || Fault { code: fault::ACTION_NOT_ALLOWED, message: "Cannot cancel task, not owner".into() };
                let user = caller.user_id.ok_or_else(not_owner)?;
                let id = args.int(method, "task_id")?;
                let task = self.tasks.get(&id).ok_or_else(|| generic(format!("No such task: {id}")))?;
                if task.owner != user {
                    return Err(Fault {
                        code: fault::ACTION_NOT_ALLOWED,
                        message: "Cannot cancel task, not owner".into(),
                    });
                }
                let now = now_ts();
                let recurse = args.flag("recurse", true);
                let ids: Vec<i64> = self
                    .tasks
                    .values()
                    .filter(|t| t.id == id || (recurse && t.parent == Some(id)))
                    .filter(|t| !t.state.is_done())
                    .map(|t| t.id)
                    .collect();
                for id in ids {
                    if let Some(t) = self.tasks.get_mut(&id) {
                        t.state = KojiTaskState::Canceled;
                        t.completion_ts = Some(now);
                    }
                }
                Ok(Value::Nil)
            }
            other => Err(generic(format!("Invalid method: {other}"))),
        }
    }

    /// `auth.Session.sslLogin` with `REMOTE_USER` from the Negotiate exchange and
    /// `LoginCreatesUser` on (user name = principal before '@').
    fn ssl_login(&mut self, args: Args, caller: &Caller) -> Result<Value, Fault> {
        if caller.user_id.is_some() {
            return Err(auth_error("Already logged in"));
        }
        let Some(principal) = caller.remote_user.clone() else {
            // What the hub says when sslLogin arrives without Kerberos or a client cert.
            return Err(auth_error("could not verify client: None"));
        };
        if !args.get("proxyuser").is_nil() {
            return Err(auth_error(format!("{principal} is not authorized to login other users")));
        }
        let name = principal.split('@').next().unwrap_or_default().to_owned();
        let user_id = match self.users.iter().find(|u| u.principal == principal) {
            Some(u) => u.id,
            None => {
                let id = 4641 + self.users.len() as i64;
                self.users.push(User { id, name, principal });
                id
            }
        };
        self.key_counter += 1;
        let key = format!("{user_id}-sandboxkey{:08}", self.key_counter);
        let session_id = match caller.session_id {
            Some(id) if args.flag("renew", false) => {
                let s = self.sessions.get_mut(&id).expect("validated session");
                s.key = key.clone();
                s.expired = false;
                id
            }
            _ => {
                let id = self.next_session_id;
                self.next_session_id += 1;
                self.sessions.insert(id, SessionRec { user_id, key: key.clone(), expired: false, callnum: None });
                id
            }
        };
        Ok(Value::structure([
            ("session-id", Value::Int(session_id)),
            ("session-key", key.into()),
            ("header-auth", Value::Bool(true)),
        ]))
    }
}

fn not_logged_in() -> Fault {
    Fault { code: fault::ACTION_NOT_ALLOWED, message: "you must be logged in for this operation".to_owned() }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, content_type), (header::HeaderName::from_static("koji-version"), KOJI_VERSION)],
        body,
    )
        .into_response()
}

fn negotiate_challenge(reason: &str) -> Response {
    let mut r = reply(StatusCode::UNAUTHORIZED, "text/plain", format!("Unauthorized: {reason}\n"));
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
    r
}

/// What the web server in front of the hub does before the hub sees the call.
fn front_door(state: &Mutex<Hub>) -> Option<Response> {
    let mut hub = lock(state);
    if hub.fail_next > 0 {
        hub.fail_next -= 1;
        return Some(reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "Internal Server Error\n".into()));
    }
    if hub.down {
        return Some(reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "Service Unavailable\n".into()));
    }
    None
}

fn handle_call(state: &Mutex<Hub>, headers: &HeaderMap, body: &[u8], remote_user: Option<String>) -> Response {
    let mut hub = lock(state);
    let result = xmlrpc::decode_call(body).map_err(|e| generic(format!("could not parse the request: {e}"))).and_then(
        |(method, params)| {
            if let Some(f) = hub.fault_next.take() {
                return Err(f);
            }
            let caller = hub.caller(headers, &method, remote_user)?;
            hub.dispatch(&method, params, &caller, false)
        },
    );
    let body = match result {
        Ok(v) => xmlrpc::encode_response(&v),
        Err(f) => xmlrpc::encode_fault(&f),
    };
    reply(StatusCode::OK, "text/xml", body)
}

async fn record_traceparent(
    State(state): State<Arc<Mutex<Hub>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(value) = req.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
        lock(&state).traceparents.push(value.to_owned());
    }
    next.run(req).await
}

async fn rpc(State(state): State<Arc<Mutex<Hub>>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = front_door(&state) {
        return r;
    }
    handle_call(&state, &headers, &body, None)
}

/// `/kojihub/ssllogin`: mod_auth_gssapi first, then the same dispatcher with
/// `REMOTE_USER` set.
async fn ssl_login(State(state): State<Arc<Mutex<Hub>>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = front_door(&state) {
        return r;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Negotiate "))
        .map(|t| t.trim().to_owned());
    let Some(token) = token else {
        lock(&state).challenges += 1;
        return negotiate_challenge("Negotiate authentication required");
    };
    let verifier = lock(&state).verifier.clone();
    // A GSSAPI acceptor blocks; keep it off the runtime and outside the lock.
    let verdict = tokio::task::spawn_blocking(move || verifier(&token))
        .await
        .unwrap_or_else(|e| Err(format!("verifier panicked: {e}")));
    match verdict {
        Ok(principal) => handle_call(&state, &headers, &body, Some(principal)),
        Err(reason) => negotiate_challenge(&reason),
    }
}

/// kojipkgs' `/work/tasks/<id % 10000>/<id>/<name>` (koji's `pathinfo.work()` +
/// `taskrelpath()`): a task's log as text/plain, 404 for a file the task does not
/// have or a bucket that is not the id's last four digits.
async fn task_log(
    State(state): State<Arc<Mutex<Hub>>>,
    axum::extract::Path((bucket, task, name)): axum::extract::Path<(String, i64, String)>,
) -> Response {
    let hub = lock(&state);
    let exists = bucket == (task % 10000).to_string() && hub.logs.get(&task).is_some_and(|l| l.contains(&name));
    if !exists {
        return reply(StatusCode::NOT_FOUND, "text/html", "<h1>Not Found</h1>".to_owned());
    }
    reply(StatusCode::OK, "text/plain; charset=utf-8", task_log_body(&name, task))
}

/// The text of a task's log file (the same wherever it is served or measured).
fn task_log_body(name: &str, task: i64) -> String {
    format!("{name} of task {task}\nerror: build failed\n")
}

async fn task_page(State(state): State<Arc<Mutex<Hub>>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let hub = lock(&state);
    let task = q.get("taskID").and_then(|id| id.parse::<i64>().ok()).and_then(|id| hub.tasks.get(&id));
    match task {
        Some(t) => reply(StatusCode::OK, "text/plain", format!("Task {}: {} {:?}\n", t.id, t.method, t.state)),
        None => reply(StatusCode::NOT_FOUND, "text/plain", "No such task\n".into()),
    }
}
