//! Outage switches shared by the sandboxes: "down" (every request 503), "fail the
//! next N requests" (500), and a [`Fault`] for a window of requests or of time —
//! an error status, a hang past the client's timeout, or a connection closed
//! without an answer — plus a request log, and a [`Gate`] that holds one request
//! until the test lets it through (to act while a client waits for an answer).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How a faulty sandbox answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This status, with a short body.
    Status(u16),
    /// No answer for this long (past the client's timeout, then the connection
    /// is dropped).
    Hang(Duration),
    /// Headers, then the connection ends mid-body: the client sees a broken
    /// connection, not an HTTP error.
    Close,
}

/// For how long a [`Fault`] lasts.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    /// The next `n` requests.
    Requests(u32),
    /// Every request until this much time has passed.
    For(Duration),
}

#[derive(Debug)]
struct Active {
    fault: Fault,
    left: Option<u32>,
    until: Option<Instant>,
}

#[derive(Default)]
pub struct Faults {
    down: AtomicBool,
    fail_next: AtomicU32,
    window: Mutex<Option<Active>>,
    faulted: AtomicU32,
    log: Mutex<Vec<String>>,
    held: Mutex<Option<Held>>,
}

/// The sandbox's half of a [`Gate`].
struct Held {
    path_suffix: &'static str,
    arrived: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The test's half of [`Faults::hold_next`]: the held request arrived and waits
/// (its client waiting for the answer) until [`Gate::release`].
pub struct Gate {
    arrived: tokio::sync::oneshot::Receiver<()>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl Gate {
    /// Resolves once the held request has arrived.
    pub async fn arrived(&mut self) {
        (&mut self.arrived).await.expect("the sandbox dropped a held request");
    }

    /// Lets the held request through, to be answered as usual.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl Faults {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// `fault` for `window`, replacing any window still open.
    pub fn inject(&self, fault: Fault, window: Window) {
        let active = match window {
            Window::Requests(n) => Active { fault, left: Some(n), until: None },
            Window::For(d) => Active { fault, left: None, until: Some(Instant::now() + d) },
        };
        *self.window.lock().expect("window") = Some(active);
    }

    /// Holds the next request whose path ends with `path_suffix`: it is logged,
    /// then waits for [`Gate::release`] before it is served (faults included).
    pub fn hold_next(&self, path_suffix: &'static str) -> Gate {
        let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        *self.held.lock().expect("held") = Some(Held { path_suffix, arrived: arrived_tx, release: release_rx });
        Gate { arrived, release }
    }

    /// Ends a fault window early: the service has recovered.
    pub fn recover(&self) {
        *self.window.lock().expect("window") = None;
        self.set_down(false);
        self.fail_next(0);
    }

    /// How many requests a fault window answered.
    pub fn faulted(&self) -> u32 {
        self.faulted.load(Ordering::SeqCst)
    }

    /// Every request seen, as `METHOD /path`, including failed ones.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// The fault for the request arriving now, if a window is open (and counts it).
    fn take(&self) -> Option<Fault> {
        let mut window = self.window.lock().expect("window");
        let active = window.as_mut()?;
        let open = match (active.left.as_mut(), active.until) {
            (Some(0), _) => false,
            (Some(left), _) => {
                *left -= 1;
                true
            }
            (None, Some(until)) => Instant::now() < until,
            (None, None) => false,
        };
        if !open {
            *window = None;
            return None;
        }
        self.faulted.fetch_add(1, Ordering::SeqCst);
        Some(active.fault)
    }
}

/// Middleware: logs the request, then fails it if told to.
pub async fn inject(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    faults.log.lock().expect("log").push(format!("{} {}", req.method(), req.uri().path()));
    let held = {
        let mut held = faults.held.lock().expect("held");
        match held.as_ref() {
            Some(h) if req.uri().path().ends_with(h.path_suffix) => held.take(),
            _ => None,
        }
    };
    if let Some(held) = held {
        let _ = held.arrived.send(());
        let _ = held.release.await;
    }
    if faults.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "sandbox is down").into_response();
    }
    if faults.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "sandbox failure").into_response();
    }
    match faults.take() {
        None => next.run(req).await,
        Some(Fault::Status(code)) => {
            (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "sandbox fault").into_response()
        }
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            (StatusCode::GATEWAY_TIMEOUT, "sandbox hung").into_response()
        }
        Some(Fault::Close) => {
            // A body that fails after its first bytes: hyper then drops the
            // connection, so the client reads a truncated answer.
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                vec![Ok(Bytes::from_static(b"{\"partial\": ")), Err(std::io::Error::other("sandbox closed"))];
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("content-length", "4096")
                .body(body)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_window_closes_after_n() {
        let f = Faults::default();
        f.inject(Fault::Status(500), Window::Requests(2));
        assert_eq!(f.take(), Some(Fault::Status(500)));
        assert_eq!(f.take(), Some(Fault::Status(500)));
        assert_eq!(f.take(), None);
        assert_eq!(f.faulted(), 2);
    }

    #[test]
    fn a_time_window_closes_when_it_ends_or_on_recovery() {
        let f = Faults::default();
        f.inject(Fault::Close, Window::For(Duration::ZERO));
        assert_eq!(f.take(), None);
        f.inject(Fault::Close, Window::For(Duration::from_secs(60)));
        assert_eq!(f.take(), Some(Fault::Close));
        f.recover();
        assert_eq!(f.take(), None);
    }
}
