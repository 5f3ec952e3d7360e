//! The no-loss promise against the worst exit there is: the real binary, killed
//! with SIGKILL in the middle of a stream of 1,000 messages, then started again.
//! Whatever it had received but not acked is redelivered by the broker, so every
//! message id reaches the sink at least once.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Broker, Names, Outgoing, Sink, bridge_env, publish};
use fedora_ci::dev::testing::{Fixture, RunningBinary};

const EXE: &str = env!("CARGO_BIN_EXE_fedmsg-bridge");
const MESSAGES: usize = 1000;

#[tokio::test]
async fn kill_9_mid_stream_loses_no_message() {
    let python = require_fedora_messaging!();
    let names = Names::new("kill");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    // A Broker that takes 50 ms per event, so that at the kill there
    // are deliveries in flight: received by the bridge, not yet acked.
    sink.delay(Duration::from_millis(50));
    let env = bridge_env(&names, &broker.url, &sink.url);

    // Healthy means the queue is declared and bound, so nothing published from
    // now on can be unroutable.
    let mut first = RunningBinary::start(EXE, &env).await;

    let fixtures: Vec<Fixture> = Fixture::all().into_iter().map(|f| f.with_prefix(&names.prefix)).collect();
    let outgoing: Vec<Outgoing> = (0..MESSAGES)
        .map(|i| {
            let f = &fixtures[i % fixtures.len()];
            let topic = if f.topic.contains("buildsys.build.") {
                format!("{}buildsys.task.state.change", names.prefix)
            } else {
                f.topic.clone()
            };
            let mut body = f.body.clone();
            body["kill_test_seq"] = i.into();
            Outgoing { topic, body, headers: None }
        })
        .collect();
    let publishing = publish(&python, &broker.url, &outgoing);

    // Kill at a moment when at least 200 went through and more are in flight.
    sink.wait_for("200 delivered and more in flight", Duration::from_secs(120), |r| {
        let accepted: HashSet<&str> = r.iter().filter(|e| e.accepted()).map(|e| e.id()).collect();
        accepted.len() >= 200 && sink.started_ids().iter().any(|id| !accepted.contains(id.as_str()))
    })
    .await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let at_kill = sink.accepted_ids().len();
    let in_flight = sink.unanswered_ids();
    assert!(at_kill < MESSAGES, "the kill came after the stream ended ({at_kill})");
    assert!(!in_flight.is_empty(), "the kill caught no delivery in flight");
    let first_logs = first.logs();
    drop(first);

    let restarted_at = Instant::now();
    let second = RunningBinary::start(EXE, &env).await;
    let published = publishing.await.expect("publisher");
    assert_eq!(published.len(), MESSAGES);
    let ids: HashSet<String> = published.iter().map(|p| p.id.clone()).collect();
    sink.wait_for("every message id", Duration::from_secs(180), |r| {
        let got: HashSet<&str> = r.iter().filter(|e| e.accepted()).map(|e| e.id()).collect();
        ids.iter().all(|id| got.contains(id.as_str()))
    })
    .await;
    let drained = restarted_at.elapsed();

    let accepted = sink.received().iter().filter(|r| r.accepted()).count();
    let lost = ids.difference(&sink.accepted_ids()).count();
    let accepted_ids = sink.accepted_ids();
    assert!(in_flight.iter().all(|id| accepted_ids.contains(id)), "the in-flight ones came again");
    println!(
        "kill test: killed after {at_kill} delivered with {} in flight; the restart delivered the remaining {} \
         in {:.1} s; {} duplicates, {lost} lost",
        in_flight.len(),
        MESSAGES - at_kill,
        drained.as_secs_f64(),
        accepted - MESSAGES,
    );
    assert_eq!(lost, 0);
    assert!(sink.malformed().is_empty());
    for logs in [first_logs, second.logs()] {
        assert!(!logs.contains("guest:guest"), "the broker password was logged");
        assert!(logs.contains("\"consuming\""), "{logs}");
    }
}
