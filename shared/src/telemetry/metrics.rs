//! `GET /metrics`: what an operator alerts on, in the Prometheus/OpenMetrics text
//! format. One registry per process; every metric family is named here once, so
//! docs/operations.md and the code cannot drift apart unnoticed (the metrics test
//! scrapes these names after a demo run).
//!
//! Labels are low-cardinality on purpose: a function name, a Fedora topic (or
//! `other`), a Koji target, a test name, a state. Never a PR, a package or an id —
//! those belong in logs and traces.

use std::sync::LazyLock;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;

/// Handler latency buckets, 5 ms … ~41 s: a foreign Koji task is answered in
/// about a millisecond, a PR with an ELN build and flags in seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 14))
}

struct Metrics {
    registry: Registry,
    events_received: Counters,
    events_ignored: Counters,
    dead_letters: Counters,
    handler_duration: Family<Labels, Histogram, fn() -> Histogram>,
    builds_submitted: Counters,
    builds_finished: Counters,
    tests_submitted: Counters,
    tests_finished: Counters,
    submission_retries: Counters,
    upstream_failures: Counters,
    pagure_token_rejected: Counters,
    forgejo_token_rejected: Counters,
    poller_passes: Counters,
    poller_errors: Counters,
    bridge_messages: Counters,
    bridge_retries: Counters,
    log_detective_started: Counters,
    log_detective_finished: Counters,
    log_detective_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

/// Log Detective answers in seconds to minutes (LLM inference; the interface
/// server gives up after 107 s): 5 s … ~85 min.
fn analysis_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(5.0, 2.0, 11))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("fedora_ci");
    let mut counters = |name: &str, help: &str| {
        let family = Counters::default();
        registry.register(name, help, family.clone());
        family
    };
    let events_received = counters("events_received", "CloudEvents a function accepted for handling, by type");
    let events_ignored = counters(
        "events_ignored",
        "Events answered 202 without an effect: not one this function acts on, or a duplicate delivery",
    );
    let dead_letters = counters("dead_letters", "Events the Broker gave up on and dead-lettered to this function");
    let builds_submitted = counters("builds_submitted", "Koji scratch builds submitted, by target");
    let builds_finished = counters("builds_finished", "Scratch builds that reached a final state, by state");
    let tests_submitted = counters("tests_submitted", "Testing Farm requests submitted, by test");
    let tests_finished = counters("tests_finished", "Test runs that reached a final state, by test and state");
    let submission_retries =
        counters("submission_retries", "Submissions to Koji or Testing Farm scheduled for a retry, by kind");
    let upstream_failures = counters(
        "upstream_failures",
        "Calls to Pagure (flags, comments), Koji or Testing Farm that failed, by service and call",
    );
    let pagure_token_rejected = counters(
        "pagure_token_rejected",
        "Flags and comments Pagure refused because of PAGURE_TOKEN (401/403: expired, revoked, missing ACL), \
         kept unsent until the token is renewed, by call",
    );
    let forgejo_token_rejected = counters(
        "forgejo_token_rejected",
        "Commit statuses and comments Forgejo refused because of FORGEJO_TOKEN (401/403: invalid, expired, \
         missing scope), kept unsent until the token is renewed, by call",
    );
    let poller_passes = counters("poller_passes", "result-poller reconciliation passes, by outcome");
    let poller_errors =
        counters("poller_errors", "Rows a reconciliation pass could not check or update (upstream or database errors)");
    let bridge_messages = counters("bridge_messages", "AMQP messages the fedmsg-bridge finished, by outcome");
    let bridge_retries =
        counters("bridge_delivery_retries", "Failed attempts to hand a message to the sink or the DLQ");
    let log_detective_started =
        counters("log_detective_runs_started", "Log Detective analyses the interface server accepted");
    let log_detective_finished = counters(
        "log_detective_runs_finished",
        "Log Detective analyses that ended, by status (complete, error, unknown = no result in time)",
    );
    let log_detective_duration: Family<Labels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(analysis_histogram);
    registry.register(
        "log_detective_run_duration_seconds",
        "Time from the accepted /analyze request to the result message, by status",
        log_detective_duration.clone(),
    );
    let handler_duration: Family<Labels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(latency_histogram);
    registry.register(
        "handler_duration_seconds",
        "Time from request to answer of a function's event handler, by function and HTTP status class",
        handler_duration.clone(),
    );
    Metrics {
        registry,
        events_received,
        events_ignored,
        dead_letters,
        handler_duration,
        builds_submitted,
        builds_finished,
        tests_submitted,
        tests_finished,
        submission_retries,
        upstream_failures,
        pagure_token_rejected,
        forgejo_token_rejected,
        poller_passes,
        poller_errors,
        bridge_messages,
        bridge_retries,
        log_detective_started,
        log_detective_finished,
        log_detective_duration,
    }
});

fn inc(family: &Counters, labels: Labels) {
    family.get_or_create(&labels).inc();
}

/// `fedora_ci_events_received_total{function,type}`.
pub fn event_received(function: &str, event_type: &str) {
    inc(&METRICS.events_received, vec![("function", function.to_owned()), ("type", event_type.to_owned())]);
}

/// `fedora_ci_events_ignored_total{function,reason}`; `reason` is `not_acted_on`
/// or `duplicate`.
pub fn event_ignored(function: &str, reason: &'static str) {
    inc(&METRICS.events_ignored, vec![("function", function.to_owned()), ("reason", reason.to_owned())]);
}

/// `fedora_ci_dead_letters_total{function}`.
pub fn dead_letter(function: &str) {
    inc(&METRICS.dead_letters, vec![("function", function.to_owned())]);
}

/// `fedora_ci_handler_duration_seconds{function,status}` (status `2xx`, `4xx`, `5xx`).
pub fn handler_finished(function: &str, status: u16, took: Duration) {
    let class = format!("{}xx", status / 100);
    METRICS
        .handler_duration
        .get_or_create(&vec![("function", function.to_owned()), ("status", class)])
        .observe(took.as_secs_f64());
}

/// `fedora_ci_builds_submitted_total{target}`.
pub fn build_submitted(target: &str) {
    inc(&METRICS.builds_submitted, vec![("target", target.to_owned())]);
}

/// `fedora_ci_builds_finished_total{state}`.
pub fn build_finished(state: &str) {
    inc(&METRICS.builds_finished, vec![("state", state.to_owned())]);
}

/// `fedora_ci_tests_submitted_total{test}`.
pub fn test_submitted(test: &str) {
    inc(&METRICS.tests_submitted, vec![("test", test.to_owned())]);
}

/// `fedora_ci_tests_finished_total{test,state}`.
pub fn test_finished(test: &str, state: &str) {
    inc(&METRICS.tests_finished, vec![("test", test.to_owned()), ("state", state.to_owned())]);
}

/// `fedora_ci_submission_retries_total{kind}`; `kind` is `build` or `test`.
pub fn submission_retry(kind: &'static str) {
    inc(&METRICS.submission_retries, vec![("kind", kind.to_owned())]);
}

/// `fedora_ci_upstream_failures_total{service,call}`.
pub fn upstream_failure(service: &'static str, call: &'static str) {
    inc(&METRICS.upstream_failures, vec![("service", service.to_owned()), ("call", call.to_owned())]);
}

/// `fedora_ci_pagure_token_rejected_total{call}` (`flag` or `comment`): Pagure
/// refused `PAGURE_TOKEN`; what was refused waits for a renewed token.
pub fn pagure_token_rejected(call: &'static str) {
    inc(&METRICS.pagure_token_rejected, vec![("call", call.to_owned())]);
}

/// `fedora_ci_forgejo_token_rejected_total{call}` (`status` or `comment`):
/// Forgejo refused `FORGEJO_TOKEN`; what it refused stays unsent until renewal.
pub fn forgejo_token_rejected(call: &'static str) {
    inc(&METRICS.forgejo_token_rejected, vec![("call", call.to_owned())]);
}

/// `fedora_ci_poller_passes_total{outcome}` (`ok` or `error`) and
/// `fedora_ci_poller_errors_total` (rows left for the next pass).
pub fn poller_pass(ok: bool, row_errors: u32) {
    inc(&METRICS.poller_passes, vec![("outcome", if ok { "ok" } else { "error" }.to_owned())]);
    METRICS.poller_errors.get_or_create(&Vec::new()).inc_by(u64::from(row_errors));
}

/// `fedora_ci_bridge_messages_total{outcome}`: `delivered`, `dead_lettered`, `requeued`.
pub fn bridge_message(outcome: &'static str) {
    inc(&METRICS.bridge_messages, vec![("outcome", outcome.to_owned())]);
}

/// `fedora_ci_bridge_delivery_retries_total{target}`: `sink` or `dead-letter queue`.
pub fn bridge_retry(target: &str) {
    inc(&METRICS.bridge_retries, vec![("target", target.to_owned())]);
}

/// `fedora_ci_log_detective_runs_started_total`.
pub fn log_detective_started() {
    inc(&METRICS.log_detective_started, Vec::new());
}

/// `fedora_ci_log_detective_runs_finished_total{status}` and, when the request's
/// time is known, `fedora_ci_log_detective_run_duration_seconds{status}`.
pub fn log_detective_finished(status: &str, took: Option<Duration>) {
    inc(&METRICS.log_detective_finished, vec![("status", status.to_owned())]);
    if let Some(took) = took {
        METRICS.log_detective_duration.get_or_create(&vec![("status", status.to_owned())]).observe(took.as_secs_f64());
    }
}

/// The registry in the text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &METRICS.registry);
    out
}

/// `GET /metrics`.
pub async fn serve() -> Response {
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        build_submitted("rawhide");
        handler_finished("pr-opened", 503, Duration::from_millis(12));
        let text = render();
        assert!(text.contains("fedora_ci_builds_submitted_total{target=\"rawhide\"} 1"), "{text}");
        assert!(text.contains("fedora_ci_handler_duration_seconds_count{function=\"pr-opened\",status=\"5xx\"} 1"));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
