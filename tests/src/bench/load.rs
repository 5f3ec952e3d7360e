//! The load generator: a bounded loop over `reqwest`, closed (N workers, each
//! sending its next request when the last one answered) or open (a fixed arrival
//! rate, latency counted from the scheduled send time so a slow answer cannot hide
//! the queueing it causes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// Builds the `i`-th request.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

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

/// A client for loopback load: enough idle connections for every worker, a
/// bounded time per request.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .expect("HTTP client")
}

/// `concurrency` workers send requests `0..max_count` until all are sent or
/// `max_time` has passed, whichever comes first.
pub async fn closed_loop(concurrency: usize, max_count: u64, max_time: Duration, make: MakeRequest) -> Outcome {
    let client = client(concurrency);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, make) = (client.clone(), next.clone(), make.clone());
        workers.spawn(async move {
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_count {
                    break;
                }
                let sent = Instant::now();
                let result = send(make(&client, i)).await;
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

/// Sends and reads the whole answer, so the connection goes back to the pool.
async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::StatusCode> {
    let response = request.send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}

fn record_status(out: &mut Outcome, result: reqwest::Result<reqwest::StatusCode>, latency: Duration) {
    out.sent += 1;
    match result {
        Ok(s) if s.is_success() => {
            out.ok += 1;
            out.latencies_ms.push(super::ms(latency));
        }
        Ok(s) => out.fail(format!("HTTP {s}")),
        Err(e) => out.fail(e.to_string()),
    }
}

/// Sends `rate` requests per second for `duration`, never more than `max_in_flight`
/// at once (past that the run counts a failure instead of queueing without bound).
pub async fn open_loop(rate: u32, duration: Duration, max_in_flight: usize, make: MakeRequest) -> Outcome {
    let client = client(max_in_flight.min(256));
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
        let request = make(&client, i);
        in_flight.spawn(async move {
            let mut out = Outcome::default();
            let result = send(request).await;
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
