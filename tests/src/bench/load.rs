//! The load generator: a bounded loop, closed (N workers, each sending its next
//! request when the last one answered) or open (a fixed arrival rate, latency
//! counted from the scheduled send time so a slow answer cannot hide the queueing
//! it causes).
//!
//! The closed loop measures throughput on the same two cores as the function it
//! loads, so it must cost as little per request as `pgbench`'s C client does: each
//! worker keeps one HTTP/1.1 connection of its own (hyper, no pool), and requests
//! come ready-made, body included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;

/// Builds the `i`-th request (an absolute URL, so the open loop's client can send it).
pub type MakeRequest = Arc<dyn Fn(u64) -> http::Request<Bytes> + Send + Sync>;

/// A binary-mode CloudEvent POST, as the Broker delivers one; the body and any
/// extension headers are the caller's.
pub fn cloudevent(url: &str, ce_type: &str, id: &str) -> http::request::Builder {
    fedora_ci::dev::testing::binary_headers(ce_type, id)
        .into_iter()
        .fold(http::Request::post(url), |request, (name, value)| request.header(name, value))
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub sent: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Non-2xx answers and transport errors, with the first few reasons.
    pub failed: u64,
    pub failures: Vec<String>,
    pub elapsed: Duration,
    /// Milliseconds per answered request, unsorted.
    pub latencies_ms: Vec<f64>,
    /// Open loop: how late each request left the generator (milliseconds after its
    /// scheduled time), unsorted. A pause of the generator's own process shows
    /// here; one of the function or its database does not.
    pub send_lag_ms: Vec<f64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies_ms.extend(other.latencies_ms);
        self.send_lag_ms.extend(other.send_lag_ms);
        for f in other.failures {
            if self.failures.len() < 5 {
                self.failures.push(f);
            }
        }
    }

    fn fail(&mut self, reason: String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(reason);
        }
    }
}

/// `concurrency` workers send requests `0..max_count` until all are sent or
/// `max_time` has passed, whichever comes first.
pub async fn closed_loop(concurrency: usize, max_count: u64, max_time: Duration, make: MakeRequest) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (next, make) = (next.clone(), make.clone());
        workers.spawn(async move {
            let mut out = Outcome::default();
            let mut connection = None;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_count {
                    break;
                }
                let sent = Instant::now();
                let result = send_on(&mut connection, make(i)).await;
                if result.is_err() {
                    connection = None;
                }
                record_status(&mut out, result, sent.elapsed());
            }
            out
        });
    }
    let mut total = Outcome::default();
    while let Some(joined) = workers.join_next().await {
        if let Ok(out) = joined {
            total.merge(out);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Sends on the worker's connection (opened on first use, or again after an
/// error) and reads the whole answer, so the connection is ready for the next.
async fn send_on(
    connection: &mut Option<http1::SendRequest<Full<Bytes>>>,
    request: http::Request<Bytes>,
) -> Result<http::StatusCode, String> {
    let (mut parts, body) = request.into_parts();
    let authority = parts.uri.authority().cloned().ok_or("request URL without a host")?;
    if connection.is_none() {
        let stream = tokio::net::TcpStream::connect(authority.as_str()).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        *connection = Some(sender);
    }
    let sender = connection.as_mut().expect("connected above");
    parts
        .headers
        .insert(http::header::HOST, http::HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?);
    parts.uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse().map_err(|e| format!("{e}"))?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response =
        sender.send_request(http::Request::from_parts(parts, Full::new(body))).await.map_err(|e| e.to_string())?;
    let status = response.status();
    response.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// Sends and reads the whole answer, so the connection goes back to the pool.
async fn send(client: &reqwest::Client, request: http::Request<Bytes>) -> Result<http::StatusCode, String> {
    let request = reqwest::Request::try_from(request).map_err(|e| e.to_string())?;
    let response = client.execute(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    response.bytes().await.map_err(|e| e.to_string())?;
    Ok(status)
}

fn record_status(out: &mut Outcome, result: Result<http::StatusCode, String>, latency: Duration) {
    out.sent += 1;
    match result {
        Ok(s) if s.is_success() => {
            out.ok += 1;
            out.latencies_ms.push(super::ms(latency));
        }
        Ok(s) => out.fail(format!("HTTP {s}")),
        Err(e) => out.fail(e),
    }
}

/// Sends `rate` requests per second for `duration`, never more than `max_in_flight`
/// at once (past that the run counts a failure instead of queueing without bound).
pub async fn open_loop(rate: u32, duration: Duration, max_in_flight: usize, make: MakeRequest) -> Outcome {
    // Many requests in flight at once need a pool of connections: reqwest's.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(max_in_flight.min(256))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .expect("HTTP client");
    let total_requests = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut total = Outcome::default();
    for i in 0..total_requests {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        while let Some(done) = in_flight.try_join_next() {
            if let Ok(out) = done {
                total.merge(out);
            }
        }
        if in_flight.len() >= max_in_flight {
            total.sent += 1;
            total.fail("too many requests in flight".to_owned());
            continue;
        }
        let (client, request) = (client.clone(), make(i));
        in_flight.spawn(async move {
            let mut out = Outcome::default();
            out.send_lag_ms.push(super::ms(scheduled.elapsed()));
            let result = send(&client, request).await;
            record_status(&mut out, result, scheduled.elapsed());
            out
        });
    }
    while let Some(done) = in_flight.join_next().await {
        if let Ok(out) = done {
            total.merge(out);
        }
    }
    total.elapsed = started.elapsed();
    total
}
