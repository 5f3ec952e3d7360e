//! Outage switches shared by the sandboxes: "down" (every request 503) and
//! "fail the next N requests" (500), plus a request log.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Default)]
pub struct Faults {
    down: AtomicBool,
    fail_next: AtomicU32,
    log: Mutex<Vec<String>>,
}

impl Faults {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every request seen, as `METHOD /path`, including failed ones.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

/// Middleware: logs the request, then fails it if told to.
pub async fn inject(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    faults.log.lock().expect("log").push(format!("{} {}", req.method(), req.uri().path()));
    if faults.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "sandbox is down").into_response();
    }
    if faults.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "sandbox failure").into_response();
    }
    next.run(req).await
}
