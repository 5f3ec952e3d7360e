//! `make demo` as a test: the local stack plays a whole PR story and must end with
//! a successful build, passed tests and green flags, then a failed build that Log
//! Detective explains.

#[test]
fn the_demo_story_ends_green() {
    let exe = fedora_ci_tests::stack::binary_path("local-stack");
    let out = std::process::Command::new(exe).arg("--demo").output().expect("run local-stack --demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("demo OK: build success"), "{stdout}");
    assert!(stdout.contains("demo OK: Log Detective explained"), "{stdout}");
    assert!(stdout.contains("Fedora CI - scratch build"), "{stdout}");
    // The second act: the failed build's analyses, explained, on the PR.
    for arch in ["x86_64", "aarch64"] {
        let line = format!("Fedora CI - Log Detective analysis ({arch})");
        let flag = stdout.lines().find(|l| l.contains(&line)).unwrap_or_else(|| panic!("no {line}:\n{stdout}"));
        assert!(flag.contains("success") && flag.contains("Log Detective explained"), "{flag}");
    }
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
