//! Issue #9, metrics: after the demo's PR story (PR opened → build → tests →
//! results, routed by the Trigger table), `/metrics` parses as Prometheus text and
//! counts exactly what happened. The functions run in this process, so one scrape
//! holds all of them (labelled by function where it matters).

use std::collections::HashMap;

use fedora_ci_tests::harness::Harness;
use prometheus_parse::{Sample, Scrape, Value};

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("/metrics parses as Prometheus text")
}

/// The value of the sample `name` whose labels include `labels` (0 when absent).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching = |s: &&Sample| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
    scrape
        .samples
        .iter()
        .filter(matching)
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn a_demo_run_is_counted() {
    let h = Harness::with_env(&[("KOJI_USERS", "packit-ci")]).await;
    let mut subscribers = HashMap::new();
    subscribers.insert("pr-opened".to_owned(), h.serve("pr-opened", pr_opened::routes).await);
    subscribers.insert("koji-finished".to_owned(), h.serve("koji-finished", koji_finished::routes).await);
    subscribers.insert("tf-finished".to_owned(), h.serve("tf-finished", tf_finished::routes).await);
    let poller = h.serve("result-poller", result_poller::routes).await;
    subscribers.insert("result-poller".to_owned(), poller.clone());
    let broker = fedora_ci_tests::broker::start(fedora_ci_tests::triggers::load("prod"), subscribers.clone()).await;

    fedora_ci_tests::demo::play(&broker, &subscribers["tf-finished"], &h.koji, &h).await.expect("the demo ends green");
    let tick = reqwest::Client::new().post(&poller).send().await.unwrap();
    assert!(tick.status().is_success());
    let tests = h.tf.requests();

    let response = reqwest::get(format!("{}metrics", subscribers["pr-opened"])).await.unwrap();
    assert!(response.status().is_success());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    let m = scrape(&text);
    assert!(m.samples.iter().all(|s| s.metric.starts_with("fedora_ci_")), "{text}");

    let pr_new = "org.fedoraproject.prod.pagure.pull-request.new";
    let task_change = "org.fedoraproject.prod.buildsys.task.state.change";
    let tf_change = "dev.testing-farm.request.state-changed";
    let received = "fedora_ci_events_received_total";
    assert_eq!(value(&m, received, &[("function", "pr-opened"), ("type", pr_new)]), 1.0, "{text}");
    assert_eq!(value(&m, received, &[("function", "koji-finished"), ("type", task_change)]), 1.0, "{text}");
    assert_eq!(value(&m, received, &[("function", "tf-finished"), ("type", tf_change)]), tests.len() as f64);
    assert_eq!(value(&m, "fedora_ci_builds_submitted_total", &[("target", "rawhide")]), 1.0, "{text}");
    assert_eq!(value(&m, "fedora_ci_builds_finished_total", &[("state", "success")]), 1.0, "{text}");
    assert_eq!(value(&m, "fedora_ci_tests_submitted_total", &[]), tests.len() as f64, "{text}");
    assert_eq!(value(&m, "fedora_ci_tests_finished_total", &[("state", "passed")]), tests.len() as f64, "{text}");
    for test in ["installability", "rpmlint"] {
        assert_eq!(value(&m, "fedora_ci_tests_submitted_total", &[("test", test)]), 1.0, "{test}: {text}");
        assert_eq!(value(&m, "fedora_ci_tests_finished_total", &[("test", test), ("state", "passed")]), 1.0);
    }
    assert_eq!(value(&m, "fedora_ci_submission_retries_total", &[]), 0.0);
    assert_eq!(value(&m, "fedora_ci_poller_passes_total", &[("outcome", "ok")]), 1.0, "{text}");
    let handled = |function| value(&m, "fedora_ci_handler_duration_seconds_count", &[("function", function)]);
    assert_eq!(handled("pr-opened"), 1.0, "{text}");
    assert_eq!(handled("tf-finished"), tests.len() as f64, "{text}");
}
