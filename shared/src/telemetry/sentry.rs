//! Errors and panics to Sentry, only when `SENTRY_DSN` (or `SENTRY_DSN_FILE`) is set:
//! without it no client, hub or transport exists and none of this runs.
//!
//! What becomes an event: every `ERROR` log line (a handler error is logged exactly
//! once, where it is turned into a 5xx — see `error.rs`) and every panic (the
//! panic integration), each tagged with the function, the CloudEvent id and type,
//! the trace id, and the package and PR once known. `WARN`/`INFO` lines ride along
//! as breadcrumbs. Before anything leaves the process it is scrubbed: every string
//! containing a configured secret value has it replaced, and header-like keys
//! (`authorization`, `cookie`, `*token*`, …) lose their values.
//!
//! The transport is our own small one over reqwest 0.12 + rustls: sentry's bundled
//! transport would add reqwest 0.13 and a second TLS stack to every image.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sentry::protocol::{Envelope, Event};
use sentry::types::Dsn;
use sentry::{ClientOptions, Transport};
use serde_json::Value;

use crate::config::secret::Secret;

/// Set once the client is up; everything else here checks it first.
static ENABLED: OnceLock<()> = OnceLock::new();

pub fn enabled() -> bool {
    ENABLED.get().is_some()
}

/// Starts the client. The guard flushes queued events when dropped (at exit).
pub(super) fn init(
    function: &'static str,
    dsn: &Secret,
    secrets: &[Secret],
) -> Result<sentry::ClientInitGuard, String> {
    let dsn: Dsn = dsn.expose().parse().map_err(|e| format!("SENTRY_DSN: not a Sentry DSN: {e}"))?;
    let transport = Arc::new(HttpTransport::start(&dsn)?);
    let secrets = secret_values(secrets);
    let mut options = ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = Some(concat!("fedora-ci@", env!("CARGO_PKG_VERSION")).into());
    options.environment = std::env::var("FEDORA_CI_DEPLOYMENT").ok().map(Into::into);
    // An `Arc<impl Transport>` is its own factory.
    options.transport = Some(Arc::new(transport));
    // Request bodies, user IPs and the like never go out.
    options.send_default_pii = false;
    options.before_send = Some(Arc::new(move |event| scrub(event, &secrets)));
    let guard = sentry::init(options);
    sentry::configure_scope(|scope| scope.set_tag("function", function));
    let _ = ENABLED.set(());
    Ok(guard)
}

/// Sets a tag on the current hub's scope (the request's own hub inside a request).
pub(super) fn tag(key: &str, value: &str) {
    if enabled() {
        sentry::configure_scope(|scope| scope.set_tag(key, value));
    }
}

/// A hub of its own for one request, so its tags never leak into another's events.
pub(crate) fn request_hub() -> Option<Arc<sentry::Hub>> {
    enabled().then(|| Arc::new(sentry::Hub::new_from_top(sentry::Hub::current())))
}

/// The strings to remove from every event: each secret, and the password of any
/// secret that is a URL (`DATABASE_URL`, `AMQP_URL`), which may show up alone.
fn secret_values(secrets: &[Secret]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for secret in secrets {
        let value = secret.expose();
        out.push(value.to_owned());
        if let Some(password) = url::Url::parse(value).ok().and_then(|u| u.password().map(str::to_owned)) {
            out.push(percent_decoded(&password));
            out.push(password);
        }
    }
    // Very short values would turn ordinary words into "[Filtered]".
    out.retain(|s| s.len() >= 4);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `Url::password` keeps the percent-encoding; an error message may show either form.
fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

const FILTERED: &str = "[Filtered]";

fn sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["authorization", "cookie", "token", "secret", "password", "api_key", "apikey", "sentry_auth", "session-key"]
        .iter()
        .any(|s| key.contains(s))
        || key == "x-sentry-auth"
}

fn scrub_value(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), FILTERED);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, secrets)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if sensitive_key(key) && !v.is_null() {
                    *v = Value::from(FILTERED);
                } else {
                    scrub_value(v, secrets);
                }
            }
        }
        _ => {}
    }
}

/// The whole event, through JSON, so no field is forgotten (message, exception,
/// tags, extra, contexts, breadcrumbs, request). An event that does not survive
/// the round trip is dropped rather than sent unscrubbed.
pub(crate) fn scrub(event: Event<'static>, secrets: &[String]) -> Option<Event<'static>> {
    let mut value = serde_json::to_value(&event).ok()?;
    scrub_value(&mut value, secrets);
    serde_json::from_value(value).ok()
}

enum Task {
    Send(Box<Envelope>),
    Flush(SyncSender<()>),
}

/// Envelopes go to a thread of their own (with a small runtime), so a slow or
/// unreachable Sentry never blocks a handler, and a panicking process can still
/// flush at exit.
struct HttpTransport {
    queue: SyncSender<Task>,
}

impl HttpTransport {
    fn start(dsn: &Dsn) -> Result<Self, String> {
        let url = dsn.envelope_api_url().to_string();
        let auth = dsn.to_auth(Some(concat!("fedora-ci/", env!("CARGO_PKG_VERSION")))).to_string();
        // The request timeout arms a timer when the request is sent, so `send`
        // runs inside the transport's runtime (below).
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the Sentry HTTP client: {e}"))?;
        // Bounded: when Sentry is down, new events are dropped instead of memory growing.
        let (queue, tasks) = mpsc::sync_channel(64);
        std::thread::Builder::new()
            .name("sentry-transport".into())
            .spawn(move || deliver(tasks, http, url, auth))
            .map_err(|e| format!("cannot start the Sentry transport: {e}"))?;
        Ok(Self { queue })
    }
}

fn deliver(tasks: Receiver<Task>, http: reqwest::Client, url: String, auth: String) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    for task in tasks {
        match task {
            Task::Send(envelope) => {
                let mut body = Vec::new();
                if envelope.to_writer(&mut body).is_err() {
                    continue;
                }
                let request = http
                    .post(&url)
                    .header("X-Sentry-Auth", &auth)
                    .header("Content-Type", "application/x-sentry-envelope")
                    .body(body);
                // Nothing to do about a failure but not to retry into a loop: the
                // event is also in the log line it came from.
                let _ = runtime.block_on(async move { request.send().await });
            }
            Task::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl Transport for HttpTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let _ = self.queue.try_send(Task::Send(Box::new(envelope)));
    }

    fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::sync_channel(1);
        if self.queue.send(Task::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.flush(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_auth_headers_are_scrubbed_everywhere() {
        let secrets = secret_values(&[
            Secret::new("pagure-token-123"),
            Secret::new("postgres://ci:db%2Fpass@db.example/ci"),
            Secret::new("abc"),
        ]);
        let mut event = Event { message: Some("Pagure refused token pagure-token-123".into()), ..Default::default() };
        event.tags.insert("url".into(), "postgres://ci:db%2Fpass@db.example/ci".into());
        event.extra.insert("error".into(), Value::from("password db/pass rejected"));
        event.extra.insert("Authorization".into(), Value::from("Bearer xyz"));
        event
            .breadcrumbs
            .values
            .push(sentry::Breadcrumb { message: Some("sent pagure-token-123 to Pagure".into()), ..Default::default() });
        let scrubbed = scrub(event, &secrets).expect("survives");
        let text = serde_json::to_string(&scrubbed).unwrap();
        for leaked in ["pagure-token-123", "db%2Fpass", "db/pass", "Bearer xyz"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        assert!(text.contains("Pagure refused token [Filtered]"), "{text}");
        // Too short to filter without mangling ordinary text.
        assert!(!secrets.contains(&"abc".to_owned()));
    }
}
