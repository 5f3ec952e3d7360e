//! `make demo` as a test: the local stack plays a whole PR story and must end with
//! a successful build, passed tests and green flags.

#[test]
fn the_demo_story_ends_green() {
    let exe = fedora_ci_tests::stack::binary_path("local-stack");
    let out = std::process::Command::new(exe).arg("--demo").output().expect("run local-stack --demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("demo OK"), "{stdout}");
    assert!(stdout.contains("Fedora CI - scratch build"), "{stdout}");
}

/// `make run` with `AMQP_URL` (the local RabbitMQ here) publishes the Fedora CI
/// messages, as the cluster does: the demo checks every queued one was sent.
#[test]
fn with_a_broker_the_demo_publishes_the_ci_messages() {
    let exe = fedora_ci_tests::stack::binary_path("local-stack");
    let out = std::process::Command::new(exe)
        .arg("--demo")
        .env("AMQP_URL", fedora_ci_tests::harness::Harness::amqp_url())
        .output()
        .expect("run local-stack --demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Fedora CI messages published: "), "{stdout}");
    assert!(!stdout.contains("Fedora CI messages published: 0"), "{stdout}");
}
