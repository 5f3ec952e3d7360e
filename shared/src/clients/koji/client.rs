//! The Koji hub client: anonymous reads, and a Kerberos session for the calls that
//! change something (`build`, `cancelTask`).
//!
//! It follows koji's own `ClientSession` (`koji/__init__.py`) so the hub sees the
//! same conversation as from the `koji` CLI: `sslLogin` POSTed to `<hub>/ssllogin`
//! with SPNEGO, a session carried in `Koji-Session-*` headers with a call number,
//! keyword arguments as a `__starstar` struct, `multiCall` for batches, and a
//! renewal with `renew=True` when the hub says the session expired. Unlike koji it
//! never retries network failures itself: callers retry with their own idempotency
//! keys and backoff, and a hidden resend of `build` could start a second build.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use url::Url;

use super::xmlrpc::{self, ResponseError, Value};
use crate::clients::kerberos::Kerberos;
use crate::config::KojiConfig;
use crate::messages::KojiTaskState;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Per request of [`KojiClient::default_http`]; a Koji call that takes longer is
/// stuck, and the next poll retries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Fault codes from `koji/__init__.py`.
pub mod fault {
    pub const GENERIC: i64 = 1000;
    pub const AUTH_ERROR: i64 = 1002;
    pub const ACTION_NOT_ALLOWED: i64 = 1004;
    pub const AUTH_LOCK: i64 = 1006;
    pub const AUTH_EXPIRED: i64 = 1007;
    pub const SEQUENCE_ERROR: i64 = 1008;
    pub const RETRY_ERROR: i64 = 1009;
    pub const SERVER_OFFLINE: i64 = 1014;
    pub const PARAMETER_ERROR: i64 = 1019;
    pub const GSSAPI_AUTH_ERROR: i64 = 1023;
}

/// Prefix of every Kerberos/login failure, so a check run or comment can show it
/// verbatim and an operator knows to look at the keytab, not at Koji.
pub const AUTH_ERROR_PREFIX: &str = "Kerberos authentication error: ";

/// How much of a hub's reason a flag shows: enough for "No such channel: ci" or
/// a connection error, short enough for Pagure's flag comment.
const REASON_CHARS: usize = 160;

#[derive(Debug, thiserror::Error)]
pub enum KojiError {
    /// Connection refused, timeout, or a 5xx: the hub may answer on the next try.
    #[error("Koji hub unreachable: {0}")]
    Unreachable(String),
    #[error("Koji hub answered HTTP {0}")]
    Http(u16),
    /// The hub ran the call and refused it (`faultCode` as in `koji/__init__.py`).
    #[error("Koji fault {code}: {message}")]
    Fault { code: i64, message: String },
    #[error("unexpected reply from the Koji hub: {0}")]
    Decode(String),
    /// Starts with [`AUTH_ERROR_PREFIX`]; never contains a token or session key.
    #[error("{0}")]
    Auth(String),
}

impl KojiError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            KojiError::Unreachable(_) => true,
            KojiError::Http(status) => matches!(status, 408 | 429),
            KojiError::Fault { code, .. } => *code == fault::SERVER_OFFLINE,
            KojiError::Decode(_) | KojiError::Auth(_) => false,
        }
    }

    /// Whether the hub refused our identity rather than the call: a failed
    /// Kerberos login, or one of koji's authentication fault classes
    /// (`AuthError`, `AuthLockError`, `AuthExpired`, `GSSAPIAuthError` in
    /// `koji/__init__.py`). That is the service's infrastructure problem — a
    /// keytab or an account to fix — never the package's.
    pub fn is_credential_refusal(&self) -> bool {
        match self {
            KojiError::Auth(_) => true,
            KojiError::Fault { code, .. } => {
                matches!(*code, fault::AUTH_ERROR | fault::AUTH_LOCK | fault::AUTH_EXPIRED | fault::GSSAPI_AUTH_ERROR)
            }
            _ => false,
        }
    }

    /// Why the hub did not do what we asked, in a few words a packager can read
    /// on a flag: the hub's own fault string (its first line, so a hub with
    /// `KojiTraceback` on does not leak a traceback), or what the transport saw.
    /// Built from the hub's answer and our error text only, which never hold a
    /// token or session key (see [`KojiError::Auth`]).
    pub fn reason(&self) -> String {
        let text = match self {
            KojiError::Unreachable(detail) => format!("the Koji hub did not answer ({detail})"),
            KojiError::Http(status) => format!("the Koji hub answered HTTP {status}"),
            KojiError::Fault { message, .. } => {
                let first = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                if first.is_empty() { "the Koji hub refused the call".to_owned() } else { first.to_owned() }
            }
            KojiError::Decode(_) => "the Koji hub sent a reply we could not read".to_owned(),
            KojiError::Auth(reason) => reason.clone(),
        };
        let text = text.trim_end_matches('.');
        crate::clients::log_detective::truncate(text, REASON_CHARS)
    }

    fn auth(detail: impl std::fmt::Display) -> Self {
        KojiError::Auth(format!("{AUTH_ERROR_PREFIX}{detail}"))
    }

    fn fault_code(&self) -> Option<i64> {
        match self {
            KojiError::Fault { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// koji's client converts the fault to `AuthExpired` by its code; a hub with
    /// tracebacks on names the class in the text instead.
    fn is_auth_expired(&self) -> bool {
        matches!(self, KojiError::Fault { code, message }
            if *code == fault::AUTH_EXPIRED || message.contains("AuthExpired"))
    }
}

/// How the client authenticates its session.
#[derive(Clone)]
pub enum Auth {
    /// Anonymous: reads work, `build` and `cancelTask` get `ActionNotAllowed`.
    None,
    Kerberos(Kerberos),
    /// A fixed SPNEGO token. Exists only so the sandbox hub tests can exercise the
    /// real login exchange while the GSSAPI implementation of [`Kerberos`] lives
    /// elsewhere; a real hub rejects a replayed token, so it is useless in
    /// production.
    #[doc(hidden)]
    StaticToken(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Kerberos(k) => f.debug_tuple("Kerberos").field(k).finish(),
            Auth::StaticToken(_) => f.write_str("StaticToken(<redacted>)"),
        }
    }
}

/// A task as `getTaskInfo` returns it, with the fields the functions use.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub id: i64,
    pub state: KojiTaskState,
    pub method: String,
    pub arch: Option<String>,
    pub label: Option<String>,
    pub parent: Option<i64>,
    /// Koji user id (not the name; `getTaskInfo` does not resolve it).
    pub owner: i64,
    pub priority: Option<i64>,
    pub channel_id: Option<i64>,
    pub host_id: Option<i64>,
    /// Seconds since the epoch (`*_ts`; the `*_time` fields are strings).
    pub create_time: Option<f64>,
    pub start_time: Option<f64>,
    pub completion_time: Option<f64>,
}

impl TaskInfo {
    fn from_value(v: &Value) -> Result<Self, KojiError> {
        let int = |k: &str| v.get(k).and_then(Value::as_i64);
        let string = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        // `create_ts` is the float; `create_time` too in older hubs and in messages.
        let time = |k: &str| {
            v.get(&format!("{k}_ts")).and_then(Value::as_f64).or_else(|| v.get(&format!("{k}_time"))?.as_f64())
        };
        let required = |k: &str| int(k).ok_or_else(|| KojiError::Decode(format!("task without integer '{k}'")));
        let state = required("state")?;
        Ok(TaskInfo {
            id: required("id")?,
            state: KojiTaskState::from_number(state)
                .ok_or_else(|| KojiError::Decode(format!("unknown task state {state}")))?,
            method: string("method").ok_or_else(|| KojiError::Decode("task without 'method'".into()))?,
            arch: string("arch"),
            label: string("label"),
            parent: int("parent"),
            owner: required("owner")?,
            priority: int("priority"),
            channel_id: int("channel_id"),
            host_id: int("host_id"),
            create_time: time("create"),
            start_time: time("start"),
            completion_time: time("completion"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildTarget {
    pub name: String,
    pub build_tag_name: String,
    pub dest_tag_name: String,
}

impl BuildTarget {
    fn from_value(v: &Value) -> Result<Self, KojiError> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| KojiError::Decode(format!("build target without '{k}'")))
        };
        Ok(BuildTarget { name: s("name")?, build_tag_name: s("build_tag_name")?, dest_tag_name: s("dest_tag_name")? })
    }
}

struct Session {
    id: i64,
    key: HeaderValue,
    next_callnum: u64,
    user: Option<String>,
}

/// What one call sends; also identifies the session it used, so a renewal can tell
/// whether another call already replaced it.
#[derive(Clone)]
struct SessionHeaders {
    id: i64,
    key: HeaderValue,
    callnum: u64,
}

pub struct KojiClient {
    http: reqwest::Client,
    hub_url: Url,
    login_url: Url,
    web_url: Url,
    auth: Auth,
    channel: Option<String>,
    session: Mutex<Option<Session>>,
    /// One login at a time: concurrent calls that all see `AuthExpired` renew once.
    login_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KojiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KojiClient")
            .field("hub_url", &self.hub_url.as_str())
            .field("auth", &self.auth)
            .field("logged_in", &self.lock_session().is_some())
            .finish_non_exhaustive()
    }
}

impl KojiClient {
    pub fn new(http: reqwest::Client, hub_url: Url, web_url: Url, auth: Auth, channel: Option<String>) -> Self {
        let base = hub_url.as_str().trim_end_matches('/');
        let login_url = Url::parse(&format!("{base}/ssllogin")).expect("a URL with a path appended is a URL");
        Self {
            http,
            hub_url,
            login_url,
            web_url,
            auth,
            channel,
            session: Mutex::new(None),
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Anonymous unless a keytab is configured, as the config promises.
    pub fn from_config(http: reqwest::Client, config: &KojiConfig) -> Self {
        let auth = match &config.keytab {
            Some(keytab) => {
                Auth::Kerberos(Kerberos { keytab: Some(keytab.clone()), principal: config.principal.clone() })
            }
            None => Auth::None,
        };
        Self::new(http, config.hub_url.clone(), config.web_url.clone(), auth, config.channel.clone())
    }

    /// An HTTP client with the connect and request timeouts, for a client used on
    /// its own; the functions pass their shared client, whose request timeout is
    /// `FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS`.
    pub fn default_http() -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).timeout(REQUEST_TIMEOUT).build()
    }

    pub fn task_url(&self, task_id: i64) -> String {
        format!("{}/taskinfo?taskID={task_id}", self.web_url.as_str().trim_end_matches('/'))
    }

    /// The user name of the current session, if logged in.
    pub fn logged_in_as(&self) -> Option<String> {
        self.lock_session().as_ref().and_then(|s| s.user.clone())
    }

    /// Opens a new session the way `koji` does with GSSAPI and returns the user name.
    pub async fn login(&self) -> Result<String, KojiError> {
        let _guard = self.login_lock.lock().await;
        self.login_locked(None).await
    }

    pub async fn get_task_info(&self, task_ids: &[i64]) -> Result<Vec<Option<TaskInfo>>, KojiError> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let calls = task_ids
            .iter()
            .map(|id| {
                Value::structure([("methodName", "getTaskInfo".into()), ("params", vec![Value::Int(*id)].into())])
            })
            .collect();
        let reply = self.call("multiCall", &[Value::Array(calls)]).await?;
        let entries = reply.as_array().ok_or_else(|| KojiError::Decode("multiCall reply is not a list".into()))?;
        if entries.len() != task_ids.len() {
            return Err(KojiError::Decode(format!("multiCall answered {} of {} calls", entries.len(), task_ids.len())));
        }
        entries
            .iter()
            .map(|entry| match multicall_result(entry)? {
                Value::Nil => Ok(None),
                info => TaskInfo::from_value(info).map(Some),
            })
            .collect()
    }

    pub async fn get_task_children(&self, task_id: i64) -> Result<Vec<TaskInfo>, KojiError> {
        let reply = self.call("getTaskChildren", &[Value::Int(task_id)]).await?;
        let list = reply.as_array().ok_or_else(|| KojiError::Decode("getTaskChildren reply is not a list".into()))?;
        list.iter().map(TaskInfo::from_value).collect()
    }

    pub async fn get_build_target(&self, name: &str) -> Result<Option<BuildTarget>, KojiError> {
        match self.call("getBuildTarget", &[name.into()]).await? {
            Value::Nil => Ok(None),
            v => BuildTarget::from_value(&v).map(Some),
        }
    }

    pub async fn get_build_targets(&self) -> Result<Vec<BuildTarget>, KojiError> {
        let reply = self.call("getBuildTargets", &[]).await?;
        let list = reply.as_array().ok_or_else(|| KojiError::Decode("getBuildTargets reply is not a list".into()))?;
        list.iter().map(BuildTarget::from_value).collect()
    }

    /// Starts a build (`build(src, target, opts, priority=, channel=)` as the CLI
    /// sends it) and returns the task id. Logs in first if credentials are set.
    pub async fn build(&self, src: &str, target: &str, scratch: bool, priority: Option<i64>) -> Result<i64, KojiError> {
        self.ensure_login().await?;
        let mut opts = BTreeMap::new();
        if scratch {
            opts.insert("scratch".to_owned(), Value::Bool(true));
        }
        let mut params = vec![src.into(), target.into(), Value::Struct(opts)];
        let mut kwargs = Vec::new();
        if let Some(p) = priority {
            kwargs.push(("priority", Value::Int(p)));
        }
        if let Some(c) = &self.channel {
            kwargs.push(("channel", c.as_str().into()));
        }
        if !kwargs.is_empty() {
            params.push(Value::kwargs(kwargs));
        }
        let reply = self.call("build", &params).await?;
        reply.as_i64().ok_or_else(|| KojiError::Decode("build did not return a task id".into()))
    }

    pub async fn cancel_task(&self, task_id: i64) -> Result<(), KojiError> {
        self.ensure_login().await?;
        self.call("cancelTask", &[Value::Int(task_id)]).await.map(drop)
    }

    pub async fn get_logged_in_user(&self) -> Result<Option<String>, KojiError> {
        let reply = self.call("getLoggedInUser", &[]).await?;
        user_name(&reply)
    }

    /// Any hub method, with the session handling of the typed ones.
    pub async fn call(&self, method: &str, params: &[Value]) -> Result<Value, KojiError> {
        let body = xmlrpc::encode_call(method, params);
        let mut renewed = false;
        let mut resequenced = false;
        loop {
            let session = self.next_session_headers();
            let result = self.send_call(&self.hub_url, &body, session.as_ref()).await;
            let Some(used) = session else { return result };
            match result {
                Err(e) if e.is_auth_expired() && !renewed => {
                    renewed = true;
                    tracing::info!(method, "Koji session expired; renewing it");
                    self.renew(&used).await?;
                }
                // Concurrent calls can reach the hub out of order; it refuses a lower
                // call number before running the method, so a resend is safe.
                Err(e) if e.fault_code() == Some(fault::SEQUENCE_ERROR) && !resequenced => resequenced = true,
                other => return other,
            }
        }
    }

    async fn ensure_login(&self) -> Result<(), KojiError> {
        if matches!(self.auth, Auth::None) || self.lock_session().is_some() {
            return Ok(());
        }
        let _guard = self.login_lock.lock().await;
        if self.lock_session().is_some() {
            return Ok(());
        }
        self.login_locked(None).await.map(drop)
    }

    /// After `AuthExpired`: renew the session the call used, unless another call
    /// already did; if the hub will not renew it, start a fresh one.
    async fn renew(&self, used: &SessionHeaders) -> Result<(), KojiError> {
        let _guard = self.login_lock.lock().await;
        if let Some(current) = self.lock_session().as_ref()
            && (current.id != used.id || current.key != used.key)
        {
            return Ok(());
        }
        match self.login_locked(Some(used)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => {
                tracing::info!(error = %e, "Koji refused to renew the session; logging in afresh");
                *self.lock_session() = None;
                self.login_locked(None).await.map(drop)
            }
        }
    }

    /// `sslLogin` then `getLoggedInUser`; the caller holds `login_lock`.
    /// `sslLogin` through the web server's GSSAPI: the call as is, and again with a
    /// Negotiate token when the server answers 401 offering it.
    async fn post_negotiated(
        &self,
        body: &str,
        headers: Option<&SessionHeaders>,
    ) -> Result<reqwest::Response, KojiError> {
        let first = self.post(&self.login_url, body, headers, None).await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let offers_negotiate = first
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.trim_start().to_ascii_lowercase().starts_with("negotiate")));
        if !offers_negotiate {
            return Err(KojiError::auth("the hub answered 401 without offering Negotiate"));
        }
        let token = self.negotiate_token().await?;
        // The 401 came from the web server before the hub saw the call, so the
        // same request (and call number) goes again, as requests-gssapi does.
        let second = self.post(&self.login_url, body, headers, Some(&token)).await?;
        if second.status() == StatusCode::UNAUTHORIZED {
            return Err(KojiError::auth("the hub rejected our Kerberos ticket (HTTP 401)"));
        }
        Ok(second)
    }

    async fn login_locked(&self, renew: Option<&SessionHeaders>) -> Result<String, KojiError> {
        if matches!(self.auth, Auth::None) {
            return Err(KojiError::auth("no Kerberos credentials configured (KOJI_KEYTAB)"));
        }
        // A renewal names the expired session in the headers: the hub renews the
        // session it finds there and keeps its id.
        let (params, headers) = match renew {
            Some(_) => (vec![Value::kwargs([("renew", Value::Bool(true))])], self.next_session_headers()),
            None => (Vec::new(), None),
        };
        let body = xmlrpc::encode_call("sslLogin", &params);
        let response = self.post_negotiated(&body, headers.as_ref()).await?;
        let sinfo = match read_reply(response).await {
            Err(KojiError::Fault { code, message }) if is_auth_fault(code) => {
                return Err(KojiError::auth(format!("the hub refused the login: {message}")));
            }
            other => other?,
        };
        let id = sinfo.get("session-id").and_then(Value::as_i64);
        let key = sinfo.get("session-key").and_then(Value::as_str);
        let (Some(id), Some(key)) = (id, key) else {
            return Err(KojiError::Decode("sslLogin reply without session-id/session-key".into()));
        };
        let mut key = HeaderValue::from_str(key)
            .map_err(|_| KojiError::Decode("session-key is not a valid header value".into()))?;
        key.set_sensitive(true);
        {
            let mut session = self.lock_session();
            // Same session renewed: the hub remembers its last call number, so
            // counting from 0 again would be refused as out of sequence.
            let next_callnum = match (renew, session.as_ref()) {
                (Some(_), Some(s)) if s.id == id => s.next_callnum,
                _ => 0,
            };
            *session = Some(Session { id, key, next_callnum, user: None });
        }
        let headers = self.next_session_headers();
        let user = user_name(
            &self.send_call(&self.hub_url, &xmlrpc::encode_call("getLoggedInUser", &[]), headers.as_ref()).await?,
        )?;
        let Some(user) = user else {
            *self.lock_session() = None;
            return Err(KojiError::auth("the hub does not recognise the new session"));
        };
        if let Some(s) = self.lock_session().as_mut() {
            s.user = Some(user.clone());
        }
        tracing::info!(user, session = id, renewed = renew.is_some(), "logged in to Koji");
        Ok(user)
    }

    async fn negotiate_token(&self) -> Result<String, KojiError> {
        match &self.auth {
            Auth::None => Err(KojiError::auth("no Kerberos credentials configured")),
            Auth::StaticToken(token) => Ok(token.clone()),
            Auth::Kerberos(kerberos) => {
                let host = self
                    .login_url
                    .host_str()
                    .ok_or_else(|| KojiError::auth("the hub URL has no host to ask a ticket for"))?
                    .to_owned();
                let kerberos = kerberos.clone();
                // GSSAPI blocks (keytab, KDC round trips): keep it off the runtime.
                tokio::task::spawn_blocking(move || kerberos.negotiate_token(&host))
                    .await
                    .map_err(|e| KojiError::auth(format!("token task failed: {e}")))?
                    .map_err(KojiError::auth)
            }
        }
    }

    fn lock_session(&self) -> MutexGuard<'_, Option<Session>> {
        // Nothing panics while holding it; recover rather than poison every call.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session headers for one call, with its own call number.
    fn next_session_headers(&self) -> Option<SessionHeaders> {
        self.lock_session().as_mut().map(|s| {
            let callnum = s.next_callnum;
            s.next_callnum += 1;
            SessionHeaders { id: s.id, key: s.key.clone(), callnum }
        })
    }

    async fn send_call(&self, url: &Url, body: &str, session: Option<&SessionHeaders>) -> Result<Value, KojiError> {
        read_reply(self.post(url, body, session, None).await?).await
    }

    async fn post(
        &self,
        url: &Url,
        body: &str,
        session: Option<&SessionHeaders>,
        negotiate: Option<&str>,
    ) -> Result<reqwest::Response, KojiError> {
        let mut request = self.http.post(url.clone()).header(CONTENT_TYPE, "text/xml").body(body.to_owned());
        if let Some(s) = session {
            request = request
                .header("Koji-Session-Id", s.id)
                .header("Koji-Session-Key", s.key.clone())
                .header("Koji-Session-Callnum", s.callnum);
        }
        if let Some(token) = negotiate {
            let mut value = HeaderValue::from_str(&format!("Negotiate {token}"))
                .map_err(|_| KojiError::auth("the Kerberos token is not a valid header value"))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        crate::telemetry::trace::send("koji", request).await.map_err(|e| KojiError::Unreachable(error_chain(&e)))
    }
}

async fn read_reply(response: reqwest::Response) -> Result<Value, KojiError> {
    let status = response.status();
    if status.is_server_error() {
        return Err(KojiError::Unreachable(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(KojiError::Http(status.as_u16()));
    }
    let body = response.bytes().await.map_err(|e| KojiError::Unreachable(error_chain(&e)))?;
    xmlrpc::decode_response(&body).map_err(|e| match e {
        ResponseError::Fault(f) => KojiError::Fault { code: f.code, message: f.message },
        ResponseError::Decode(d) => KojiError::Decode(d.0),
    })
}

/// One entry of a `multiCall` reply: `[result]` or a fault struct.
fn multicall_result(entry: &Value) -> Result<&Value, KojiError> {
    match entry {
        Value::Array(one) if one.len() == 1 => Ok(&one[0]),
        Value::Struct(_) => {
            let code = entry.get("faultCode").and_then(Value::as_i64).unwrap_or(fault::GENERIC);
            let message = entry.get("faultString").and_then(Value::as_str).unwrap_or_default().to_owned();
            Err(KojiError::Fault { code, message })
        }
        _ => Err(KojiError::Decode("multiCall entry is neither [result] nor a fault".into())),
    }
}

fn user_name(reply: &Value) -> Result<Option<String>, KojiError> {
    match reply {
        Value::Nil => Ok(None),
        v => v
            .get("name")
            .and_then(Value::as_str)
            .map(|n| Some(n.to_owned()))
            .ok_or_else(|| KojiError::Decode("getLoggedInUser reply without 'name'".into())),
    }
}

fn is_auth_fault(code: i64) -> bool {
    matches!(
        code,
        fault::AUTH_ERROR
            | fault::AUTH_LOCK
            | fault::AUTH_EXPIRED
            | fault::SEQUENCE_ERROR
            | fault::RETRY_ERROR
            | fault::GSSAPI_AUTH_ERROR
    )
}

/// reqwest's own message is only the outermost layer ("error sending request");
/// the cause (refused, timed out, DNS) is what an operator needs.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_info_from_hub_and_message_shapes() {
        let hub = Value::structure([
            ("id", Value::Int(7)),
            ("state", Value::Int(2)),
            ("method", "build".into()),
            ("owner", Value::Int(4641)),
            ("parent", Value::Nil),
            ("create_time", "2020-06-01 06:30:47.123+00:00".into()),
            ("create_ts", Value::Double(1_590_993_047.1)),
            ("completion_ts", Value::Nil),
        ]);
        let t = TaskInfo::from_value(&hub).unwrap();
        assert_eq!((t.id, t.state, t.owner, t.parent), (7, KojiTaskState::Closed, 4641, None));
        assert_eq!((t.create_time, t.completion_time), (Some(1_590_993_047.1), None));
        let older = Value::structure([
            ("id", Value::Int(7)),
            ("state", Value::Int(9)),
            ("method", "build".into()),
            ("owner", Value::Int(1)),
        ]);
        assert!(matches!(TaskInfo::from_value(&older), Err(KojiError::Decode(_))));
    }

    #[test]
    fn transient_errors() {
        assert!(KojiError::Unreachable("refused".into()).is_transient());
        assert!(KojiError::Fault { code: fault::SERVER_OFFLINE, message: "offline".into() }.is_transient());
        assert!(!KojiError::Fault { code: fault::ACTION_NOT_ALLOWED, message: "no".into() }.is_transient());
        assert!(!KojiError::Http(404).is_transient());
        assert!(KojiError::auth("x").to_string().starts_with("Kerberos authentication error: "));
    }

    #[test]
    fn reasons_are_the_hubs_first_line_and_short() {
        let fault = |code, message: &str| KojiError::Fault { code, message: message.into() };
        assert_eq!(fault(fault::GENERIC, "No such channel: ci").reason(), "No such channel: ci");
        assert_eq!(
            fault(fault::GENERIC, "Traceback (most recent call last):\n  File x\nGenericError").reason(),
            "Traceback (most recent call last):"
        );
        assert_eq!(KojiError::Unreachable("HTTP 503".into()).reason(), "the Koji hub did not answer (HTTP 503)");
        let long = fault(fault::GENERIC, &"x".repeat(1000)).reason();
        assert_eq!(long.chars().count(), REASON_CHARS + 1, "{long}");
        assert!(fault(fault::AUTH_ERROR, "Invalid session or bad credentials").is_credential_refusal());
        assert!(KojiError::auth("keytab").is_credential_refusal());
        assert!(!fault(fault::GENERIC, "No such channel: ci").is_credential_refusal());
    }

    #[test]
    fn urls() {
        let c = KojiClient::new(
            reqwest::Client::new(),
            Url::parse("https://koji.fedoraproject.org/kojihub").unwrap(),
            Url::parse("https://koji.fedoraproject.org/koji/").unwrap(),
            Auth::StaticToken("secret-token".into()),
            None,
        );
        assert_eq!(c.login_url.as_str(), "https://koji.fedoraproject.org/kojihub/ssllogin");
        assert_eq!(c.task_url(45), "https://koji.fedoraproject.org/koji/taskinfo?taskID=45");
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
