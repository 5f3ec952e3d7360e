//! Issue #12, traces: one PR event keeps one trace id from the bridge (real
//! process, real RabbitMQ) through pr-opened to the Koji hub it calls; and spans go
//! to an OTLP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::time::{Duration, Instant};

use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::json_logs::{self, Line};
use fedora_ci_tests::sandbox::otlp::OtlpCollector;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;

fn exe(name: &str) -> String {
    fedora_ci_tests::stack::binary_path(name).to_str().unwrap().to_owned()
}

fn trace_of<'a>(lines: &'a [Line], ce_id: &str) -> Vec<&'a str> {
    json_logs::of_event(lines, ce_id).iter().filter_map(|l| l.get("trace_id").and_then(Value::as_str)).collect()
}

async fn poll<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_pr_event_has_one_trace_id_from_the_bridge_through_pr_opened_to_koji() {
    let amqp_url = match fedora_ci::dev::amqp::amqp_url().await {
        Ok(url) => url,
        Err(e) => {
            println!("skipped: no RabbitMQ ({e})");
            return;
        }
    };
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let prefix = format!("org.fedoraproject.t{tag}.");
    let queue = format!("fedora-ci-traces-{tag}");

    let vars = h.env();
    let mut env: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("FEDORA_CI_TOPIC_PREFIX", prefix.clone()));
    let pr_opened = RunningBinary::start(&exe("pr-opened"), &env).await;
    let bridge_env = [
        ("AMQP_URL", amqp_url.clone()),
        ("FEDORA_MESSAGING_QUEUE", queue.clone()),
        ("FEDMSG_BRIDGE_DECLARE", "create".to_owned()),
        ("FEDORA_CI_TOPIC_PREFIX", prefix.clone()),
        ("K_SINK", pr_opened.url("/")),
        ("FEDMSG_BRIDGE_RETRY_INITIAL_MS", "50".to_owned()),
        ("FEDMSG_BRIDGE_RETRY_MAX_SECONDS", "1".to_owned()),
    ];
    // Started = healthy = consuming from its bound queue (the bridge's health
    // follows its broker connection).
    let bridge = RunningBinary::start(&exe("fedmsg-bridge"), &bridge_env).await;
    let fixture = Fixture::load("pagure_pr_new.json").with_prefix(&prefix);
    let conn = Connection::connect(&amqp_url, ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let properties = BasicProperties::default().with_message_id("traced-1".into()).with_delivery_mode(2);
    channel
        .basic_publish(
            "amq.topic".into(),
            fixture.topic.as_str().into(),
            BasicPublishOptions::default(),
            &fixture.body_bytes(),
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let koji_trace = poll("a traced call at the Koji hub", Duration::from_secs(60), || {
        h.koji.traceparents().first().map(|t| json_logs::trace_id(t).to_owned())
    })
    .await;
    let bridge_lines =
        json_logs::wait_for(&bridge, "the bridge's line for the message", Duration::from_secs(30), |l| {
            !trace_of(l, "traced-1").is_empty()
        })
        .await;
    let function_lines = json_logs::wait_for(&pr_opened, "pr-opened's lines for it", Duration::from_secs(30), |l| {
        !trace_of(l, "traced-1").is_empty()
    })
    .await;

    let bridge_traces = trace_of(&bridge_lines, "traced-1");
    let function_traces = trace_of(&function_lines, "traced-1");
    assert!(!function_traces.is_empty(), "pr-opened logged nothing for the message:\n{}", pr_opened.logs());
    assert_eq!(koji_trace.len(), 32, "{koji_trace}");
    for id in bridge_traces.iter().chain(&function_traces) {
        assert_eq!(*id, koji_trace, "bridge: {bridge_traces:?}, pr-opened: {function_traces:?}");
    }
    // Every call pr-opened made for it went out in the same trace.
    for traceparent in h.koji.traceparents() {
        assert_eq!(json_logs::trace_id(&traceparent), koji_trace);
    }

    let options = QueueDeleteOptions::default();
    let _ = channel.queue_delete(queue.as_str().into(), options).await;
    let _ = channel.queue_delete(format!("{queue}.dlq").as_str().into(), options).await;
}

#[tokio::test]
async fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let collector = OtlpCollector::start().await;
    let vars = h.env();
    let mut env: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.clone()));
    // Export every 100 ms instead of 5 s.
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()));
    let bin = RunningBinary::start(&exe("pr-opened"), &env).await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let response =
        binary_request(&reqwest::Client::new(), &bin.url("/"), &Fixture::load("pagure_pr_new.json"), "otlp-1")
            .header("ce-traceparent", format!("00-{trace}-{parent}-01"))
            .send()
            .await
            .unwrap();
    assert!(response.status().is_success());

    let spans = poll("the request's spans at the collector", Duration::from_secs(30), || {
        let spans: Vec<_> = collector.spans().into_iter().filter(|s| s.trace_id == trace).collect();
        // Batches go out as spans end: the calls' before their request's.
        let request_ended = spans.iter().any(|s| s.name == "request");
        (request_ended && spans.iter().any(|s| s.kind == 3)).then_some(spans)
    })
    .await;
    let server = spans.iter().find(|s| s.name == "request").expect("the request span");
    assert_eq!(server.parent_span_id, parent, "continues the caller's span");
    assert_eq!(server.service, "pr-opened");
    assert_eq!(server.kind, 2, "server span");
    let calls: Vec<_> = spans.iter().filter(|s| s.kind == 3).collect();
    assert!(calls.iter().any(|s| s.name == "koji"), "{spans:?}");
    // Each upstream call hangs off this request's span tree.
    let ids: Vec<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for call in calls {
        assert!(ids.contains(&call.parent_span_id.as_str()), "{call:?} not under the request: {spans:?}");
    }
}
