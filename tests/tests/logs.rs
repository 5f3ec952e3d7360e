//! Issue #12, logs: a function binary's stdout is one JSON object per line, and
//! every line of an event carries the same identity — function, CloudEvent id and
//! type, trace id, package, PR — so one PR can be followed with a single query.

use std::time::Duration;

use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::json_logs::{self, Line};
use serde_json::Value;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn field<'a>(line: &'a Line, name: &str) -> &'a Value {
    line.get(name).unwrap_or(&Value::Null)
}

async fn pr_opened(h: &Harness, rust_log: &str) -> RunningBinary {
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let exe = fedora_ci_tests::stack::binary_path("pr-opened");
    let vars = h.env();
    let mut env: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("RUST_LOG", rust_log.to_owned()));
    RunningBinary::start(exe.to_str().unwrap(), &env).await
}

#[tokio::test]
async fn every_line_of_an_event_carries_its_identity() {
    let h = Harness::start().await;
    let bin = pr_opened(&h, "debug").await;
    let fixture = Fixture::load("pagure_pr_new.json");
    let response = binary_request(&reqwest::Client::new(), &bin.url("/"), &fixture, "log-1")
        .header("ce-traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    // The answer is sent after the handler's last line; parse everything logged.
    let lines = json_logs::parse(&bin.logs());
    for line in &lines {
        for key in ["timestamp", "level", "message", "target"] {
            assert!(line.contains_key(key), "no {key}: {line:?}");
        }
        assert_eq!(field(line, "function"), "pr-opened", "{line:?}");
    }
    let event = json_logs::of_event(&lines, "log-1");
    assert!(event.len() >= 2, "the event's lines: {event:?}");
    for line in &event {
        assert_eq!(field(line, "ce_type"), fixture.topic.as_str(), "{line:?}");
        assert_eq!(field(line, "trace_id"), json_logs::trace_id(TRACEPARENT), "{line:?}");
    }
    // Known once the message is parsed: on every line after that, e.g. the last.
    let last = event.last().unwrap();
    assert_eq!(field(last, "package"), "rpms/optee_os", "{last:?}");
    assert_eq!(field(last, "pr"), 2, "{last:?}");
    assert!(lines.iter().all(|l| field(l, "level") != "TRACE"));
}

#[tokio::test]
async fn the_default_filter_is_quiet() {
    let h = Harness::start().await;
    // An empty RUST_LOG means the documented production default.
    let bin = pr_opened(&h, "").await;
    let fixture = Fixture::load("pagure_pr_new.json");
    let response = binary_request(&reqwest::Client::new(), &bin.url("/"), &fixture, "quiet-1").send().await.unwrap();
    assert!(response.status().is_success());
    let lines = json_logs::wait_for(&bin, "the start-up line", Duration::from_secs(10), |lines| {
        lines.iter().any(|l| field(l, "message") == "listening")
    })
    .await;
    for line in &lines {
        let level = field(line, "level").as_str().unwrap_or_default();
        assert!(matches!(level, "INFO" | "WARN" | "ERROR"), "{line:?}");
        let target = field(line, "target").as_str().unwrap_or_default();
        for noisy in ["sqlx", "hyper", "reqwest", "h2"] {
            assert!(!target.starts_with(noisy) || level != "INFO", "{line:?}");
        }
    }
}

#[tokio::test]
async fn a_structured_mode_event_continues_its_trace_too() {
    let h = Harness::start().await;
    let bin = pr_opened(&h, "debug").await;
    let fixture = Fixture::load("pagure_pr_new.json");
    let envelope = serde_json::json!({
        "specversion": "1.0",
        "id": "structured-1",
        "type": fixture.topic,
        "source": "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub",
        "datacontenttype": "application/json",
        "traceparent": TRACEPARENT,
        "data": fixture.body,
    });
    let response = reqwest::Client::new()
        .post(bin.url("/"))
        .header("content-type", "application/cloudevents+json")
        .body(envelope.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let lines = json_logs::parse(&bin.logs());
    let event = json_logs::of_event(&lines, "structured-1");
    // The handler parsed the body the middleware read before it: it knew the PR.
    assert!(event.iter().any(|l| field(l, "package") == "rpms/optee_os"), "{}", bin.logs());
    for line in event {
        assert_eq!(field(line, "trace_id"), json_logs::trace_id(TRACEPARENT), "{line:?}");
    }
    let traceparents = h.koji.traceparents();
    assert!(!traceparents.is_empty());
    assert!(
        traceparents.iter().all(|t| json_logs::trace_id(t) == json_logs::trace_id(TRACEPARENT)),
        "{traceparents:?}"
    );
}
