//! The real binary as a process: configuration errors end it at once with one line
//! naming the variable, and SIGTERM hands held messages back to the broker.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Broker, Names, Sink, bridge_env};
use fedora_ci::dev::testing::RunningBinary;

const EXE: &str = env!("CARGO_BIN_EXE_fedmsg-bridge");

fn run_with(env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(EXE).env_clear().envs(env.iter().copied()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_variable() {
    let ok = [
        ("AMQP_URL", "amqp://bridge:hunter2@127.0.0.1:5672/%2f"),
        ("FEDORA_MESSAGING_QUEUE", "q"),
        ("K_SINK", "http://127.0.0.1:9/"),
    ];
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("AMQP_URL", &[("AMQP_URL", "")]),
        ("AMQP_URL", &[("AMQP_URL", "postgres://bridge:hunter2@db/x")]),
        ("K_SINK", &[("K_SINK", "")]),
        ("FEDMSG_BRIDGE_PREFETCH", &[("FEDMSG_BRIDGE_PREFETCH", "0")]),
        (
            "AMQP_CERT",
            &[
                ("AMQP_URL", "amqps://bridge:hunter2@broker/%2f"),
                ("AMQP_CERT", "/nonexistent/cert.pem"),
                ("AMQP_KEY", "/nonexistent/key.pem"),
            ],
        ),
    ];
    for (var, overrides) in cases {
        let mut env: Vec<(&str, &str)> =
            ok.iter().copied().filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k)).collect();
        env.extend(overrides.iter().copied().filter(|(_, v)| !v.is_empty()));
        let (code, stderr) = run_with(&env);
        assert_eq!(code, 2, "{var}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[tokio::test]
async fn sigterm_returns_a_held_message_to_the_queue_and_exits_0() {
    let names = Names::new("sigterm");
    let broker = Broker::connect(&names).await;
    let sink = Sink::start().await;
    sink.fail_next(usize::MAX);
    let env = bridge_env(&names, &broker.url, &sink.url);
    let mut bin = RunningBinary::start(EXE, &env).await;
    let topic = format!("{}buildsys.task.state.change", names.prefix);
    broker.publish_raw(&topic, br#"{"owner": "packit"}"#, "held").await;
    // Two refusals: the bridge holds the message and is backing off.
    sink.wait_for("two attempts", Duration::from_secs(60), |r| r.len() >= 2).await;

    let pid = bin.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bin.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}: {}", bin.logs());
    assert!(bin.logs().contains("returned to the queue"), "{}", bin.logs());
    assert_eq!(broker.ready(&names.queue).await, 1, "the message is back in the queue");
}
