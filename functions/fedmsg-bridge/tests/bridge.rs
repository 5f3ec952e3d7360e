//! The bridge against the real RabbitMQ, in-process: messages published with the
//! real fedora-messaging library come out at a recording sink as CloudEvents; the
//! sink failing, a body that is not JSON and a lost connection cost no message.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use cloudevents::AttributesReader;
use common::{Bridge, Broker, Names, Outgoing, Proxy, Sink, bridge_env, broker_address, publish};
use fedora_ci::dev::testing::Fixture;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn every_fixture_arrives_as_a_cloudevent_with_promoted_extensions() {
    let python = require_fedora_messaging!();
    let names = Names::new("fixtures");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    let mut env = bridge_env(&names, &broker.url, &sink.url);
    // The fixtures include a build (not task) state change, outside the defaults.
    env.push(("FEDMSG_BRIDGE_TOPICS", format!("{}#", names.prefix)));
    let bridge = Bridge::start(&env).await;

    let fixtures: Vec<Fixture> = Fixture::all().into_iter().map(|f| f.with_prefix(&names.prefix)).collect();
    let outgoing: Vec<Outgoing> = fixtures
        .iter()
        .map(|f| {
            // What a schema class adds for the people involved, to see the
            // fedora_messaging_user_* headers through as well.
            let user = f.body["owner"].as_str().or(f.body["agent"].as_str()).unwrap_or("nobody");
            Outgoing {
                topic: f.topic.clone(),
                body: f.body.clone(),
                headers: Some(json!({ format!("fedora_messaging_user_{user}"): true })),
            }
        })
        .collect();
    let published = publish(&python, &broker.url, &outgoing).await.unwrap();
    assert_eq!(published.len(), fixtures.len());

    let received =
        sink.wait_for("every fixture", WAIT, |r| published.iter().all(|p| r.iter().any(|e| e.id() == p.id))).await;
    let now = chrono::Utc::now();
    let source = fedora_ci::config::amqp::redact(&broker.url).unwrap();
    for ((fixture, out), sent) in fixtures.iter().zip(&outgoing).zip(&published) {
        let got: Vec<_> = received.iter().filter(|r| r.id() == sent.id).collect();
        assert_eq!(got.len(), 1, "{}: delivered once", fixture.name);
        let e = &got[0].event;
        assert_eq!(e.ty(), fixture.topic, "{}", fixture.name);
        assert_eq!(e.source().as_str(), source, "{}", fixture.name);
        assert!(!e.source().as_str().contains('@'), "credentials in source");
        let time = e.time().unwrap_or_else(|| panic!("{}: no time", fixture.name));
        assert!((now - *time).num_seconds().abs() < 600, "{}: time {time} is sent-at", fixture.name);
        assert_eq!(e.datacontenttype(), Some("application/json"));
        let data: Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(data, fixture.body, "{}: data is the body", fixture.name);

        let ext = |n: &str| got[0].extension(n);
        assert_eq!(ext("fmschema").as_deref(), Some("base.message"), "{}", fixture.name);
        assert_eq!(ext("fmseverity").as_deref(), Some("20"));
        assert_eq!(ext("priority").as_deref(), Some("0"));
        let user_header = out.headers.as_ref().unwrap().as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(ext(&fedmsg_bridge::mapping::extension_name(&user_header)).as_deref(), Some("true"));
        assert!(e.iter_extensions().all(|(n, _)| fedmsg_bridge::mapping::legal_extension_name(n)));

        if fixture.topic.contains(".buildsys.") {
            assert_eq!(ext("kojiowner").as_deref(), Some("packit"), "{}", fixture.name);
            assert_eq!(ext("kojimethod").as_deref(), fixture.body["method"].as_str(), "{}", fixture.name);
        } else {
            let namespace = fixture.body["pullrequest"]["project"]["namespace"].as_str();
            assert_eq!(ext("pagurenamespace").as_deref(), namespace, "{}", fixture.name);
            assert_eq!(ext("kojiowner"), None);
        }
    }
    let namespaces = received.iter().filter(|r| r.extension("pagurenamespace").as_deref() == Some("rpms")).count();
    assert!(namespaces >= 6, "the rpms pull requests are marked ({namespaces})");
    assert!(sink.malformed().is_empty(), "{:?}", sink.malformed());
    bridge.stop().await;
}

#[tokio::test]
async fn a_failing_sink_gets_the_message_again_until_it_answers_2xx_then_it_is_acked_once() {
    let python = require_fedora_messaging!();
    let names = Names::new("retry");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    sink.fail_next(2);
    let bridge = Bridge::start(&bridge_env(&names, &broker.url, &sink.url)).await;

    let fixture = Fixture::load("koji_build_scratch_end.json").with_prefix(&names.prefix);
    let out = Outgoing { topic: fixture.topic.clone(), body: fixture.body.clone(), headers: None };
    let sent = publish(&python, &broker.url, &[out]).await.unwrap().remove(0);

    let received = sink.wait_for("a 2xx answer", WAIT, |r| r.iter().any(|e| e.accepted())).await;
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert!(received.iter().all(|r| r.id() == sent.id), "the same message each time");
    assert_eq!(received[2].extension("kojiowner").as_deref(), Some("packit"));

    // Stopping returns every unacked message to the queue; an empty queue after
    // the stop means the bridge acked it (and a second ack would have closed the
    // channel with an error instead).
    bridge.stop().await;
    assert_eq!(broker.ready(&names.queue).await, 0, "acked, not requeued");
    assert_eq!(sink.received().len(), 3, "no delivery after the ack");
}

#[tokio::test]
async fn a_body_that_is_not_json_goes_to_the_dead_letter_queue_and_the_bridge_keeps_going() {
    let names = Names::new("dlq");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    let bridge = Bridge::start(&bridge_env(&names, &broker.url, &sink.url)).await;
    let topic = format!("{}pagure.pull-request.new", names.prefix);

    broker.publish_raw(&topic, b"\x00\x01not json at all, and quite long too", "bad-1").await;
    broker.publish_raw(&topic, br#"{"pullrequest": {"project": {"namespace": "rpms"}}}"#, "good-1").await;

    sink.wait_for("the good message", WAIT, |r| r.iter().any(|e| e.id() == "good-1")).await;
    assert_eq!(sink.received().len(), 1, "the bad message never reached the sink");
    let dead = broker.take_within(&names.dlq, WAIT).await;
    assert_eq!(dead.delivery.data, b"\x00\x01not json at all, and quite long too");
    assert_eq!(dead.delivery.properties.message_id().as_ref().map(|s| s.as_str()), Some("bad-1"));
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let header = |k: &str| match headers.inner().get(k) {
        Some(lapin::types::AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    };
    assert!(header("x-fedmsg-bridge-reason").unwrap().contains("not JSON"));
    assert_eq!(header("x-original-routing-key"), Some(topic.clone()));
    assert_eq!(header("x-original-exchange").as_deref(), Some("amq.topic"));

    // And it keeps going.
    broker.publish_raw(&topic, b"{}", "good-2").await;
    sink.wait_for("the next message", WAIT, |r| r.iter().any(|e| e.id() == "good-2")).await;
    bridge.stop().await;
    assert_eq!(broker.ready(&names.queue).await, 0, "the bad message was acked, not looped");
    assert_eq!(broker.ready(&names.dlq).await, 0);
}

/// A poison message: the sink refuses its CloudEvent for good (400). It goes to
/// the dead-letter queue with the sink's reason after one try, never round and
/// round, and the messages behind it flow.
#[tokio::test]
async fn an_event_the_sink_refuses_for_good_is_dead_lettered_once() {
    let names = Names::new("poison");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    sink.refuse("poison-1");
    let bridge = Bridge::start(&bridge_env(&names, &broker.url, &sink.url)).await;
    let topic = format!("{}pagure.pull-request.new", names.prefix);

    broker.publish_raw(&topic, br#"{"pullrequest": {"id": 2147483648}}"#, "poison-1").await;
    broker.publish_raw(&topic, br#"{"pullrequest": {"id": 2}}"#, "good-1").await;

    let dead = broker.take_within(&names.dlq, WAIT).await;
    assert_eq!(dead.delivery.properties.message_id().as_ref().map(|s| s.as_str()), Some("poison-1"));
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let reason = match headers.inner().get("x-fedmsg-bridge-reason") {
        Some(lapin::types::AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("400") && reason.contains("out of range"), "{reason}");
    sink.wait_for("the good message", WAIT, |r| r.iter().any(|e| e.id() == "good-1" && e.accepted())).await;
    bridge.stop().await;
    let tries = sink.received().iter().filter(|r| r.id() == "poison-1").count();
    assert_eq!(tries, 1, "refused for good means one try");
    assert_eq!(broker.ready(&names.queue).await, 0, "acked, not requeued");
}

#[tokio::test]
async fn health_follows_the_connection_and_the_bridge_reconnects() {
    let names = Names::new("health");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    let proxy = Proxy::start(broker_address(&broker.url)).await;
    let bridge = Bridge::start(&bridge_env(&names, &proxy.url_for(&broker.url), &sink.url)).await;
    let topic = format!("{}buildsys.task.state.change", names.prefix);

    proxy.cut();
    bridge.wait_health(StatusCode::SERVICE_UNAVAILABLE, WAIT).await;
    // Published while the bridge is away: the queue holds it.
    broker.publish_raw(&topic, br#"{"owner": "packit", "method": "build"}"#, "while-away").await;
    proxy.restore();
    bridge.wait_health(StatusCode::OK, WAIT).await;
    let got = sink.wait_for("the message sent while away", WAIT, |r| r.iter().any(|e| e.id() == "while-away")).await;
    assert_eq!(got.iter().find(|r| r.id() == "while-away").unwrap().extension("kojiowner").as_deref(), Some("packit"));
    bridge.stop().await;
}

#[tokio::test]
async fn health_is_503_while_no_broker_answers() {
    let names = Names::new("nobroker");
    let sink = Sink::start().await;
    let closed = fedora_ci::dev::testing::free_port();
    let url = format!("amqp://guest:guest@127.0.0.1:{closed}/%2f");
    let bridge = Bridge::start_unchecked(&bridge_env(&names, &url, &sink.url));
    bridge.wait_health(StatusCode::SERVICE_UNAVAILABLE, WAIT).await;
    let body: Value = reqwest::get(bridge.url("/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!(body["amqp"], "disconnected", "{body}");
    bridge.stop().await;
}
