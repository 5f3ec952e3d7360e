//! A measurement, not a check (ignored by default): how fast the bridge drains a
//! backlog into a sink that answers at once. Run it with
//! `cargo test --release -p fedmsg-bridge --test throughput -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::{Bridge, Broker, Names, Sink, bridge_env};

const MESSAGES: usize = 5000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; prints messages per second"]
async fn drain_rate() {
    let names = Names::new("throughput");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    let env = bridge_env(&names, &broker.url, &sink.url);
    // Start once so the queue and its bindings exist, then fill it while stopped.
    Bridge::start(&env).await.stop().await;
    let topic = format!("{}buildsys.task.state.change", names.prefix);
    let body =
        std::fs::read(fedora_ci::dev::testing::fixtures_dir().join("fedora-messaging/koji_build_scratch_end.json"))
            .expect("fixture");
    for i in 0..MESSAGES {
        broker.publish_raw(&topic, &body, &format!("m-{i}")).await;
    }
    assert_eq!(broker.ready(&names.queue).await as usize, MESSAGES);

    let started = Instant::now();
    let bridge = Bridge::start(&env).await;
    // Every answer is 200, so the count of requests is the count delivered.
    sink.wait_for("the whole backlog", Duration::from_secs(300), |r| r.len() >= MESSAGES).await;
    let took = started.elapsed();
    println!(
        "throughput: {MESSAGES} messages ({} bytes each) in {:.2} s = {:.0} messages/s (prefetch 32, 2 worker threads)",
        body.len(),
        took.as_secs_f64(),
        MESSAGES as f64 / took.as_secs_f64()
    );
    bridge.stop().await;
    assert_eq!(broker.ready(&names.queue).await, 0);
}
