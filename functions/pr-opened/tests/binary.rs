//! The real `pr-opened` binary as Knative runs it: a process on `$PORT`.
//!
//! These tests are about the process and the intake (modes, bad input, config,
//! health), so the project policy is opt-in with an empty list: every well-formed
//! event is answered 202 without any outbound call. The job itself is tested
//! end to end against the sandboxes in `tests/tests/pr_opened.rs`.

use std::process::Command;

use fedora_ci::dev::db::TestDatabase;
use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request, structured_request};
use reqwest::StatusCode;

const EXE: &str = env!("CARGO_BIN_EXE_pr-opened");

#[tokio::test]
async fn fixtures_are_accepted_garbage_is_refused_and_the_process_stays_up() {
    let db = TestDatabase::fresh().await;
    let mut bin =
        RunningBinary::start(EXE, &[("DATABASE_URL", db.url.clone()), ("FEDORA_CI_POLICY", "opt-in".into())]).await;
    let client = reqwest::Client::new();
    let url = bin.url("/");
    for (i, f) in Fixture::all().iter().enumerate() {
        let r = binary_request(&client, &url, f, &format!("bin-{i}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{} binary", f.name);
        let r = structured_request(&client, &url, f, &format!("str-{i}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{} structured", f.name);
    }

    let garbage: Vec<reqwest::RequestBuilder> = vec![
        client.post(&url).body("garbage"),
        client.post(&url).header("content-type", "application/cloudevents+json").body("{not json"),
        client
            .post(&url)
            .header("ce-specversion", "1.0")
            .header("ce-id", "g1")
            .header("ce-type", "org.fedoraproject.prod.pagure.pull-request.new")
            .header("ce-source", "/x")
            .header("content-type", "application/json")
            .body("\u{0}\u{1}not json"),
        client
            .post(&url)
            .header("ce-specversion", "1.0")
            .header("ce-id", "g2")
            .header("ce-type", "org.fedoraproject.prod.pagure.pull-request.new")
            .header("ce-source", "/x")
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024]),
    ];
    for request in garbage {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(!body["reason"].as_str().unwrap_or_default().is_empty(), "{body}");
    }
    assert!(bin.exited().is_none(), "the process died: {}", bin.logs());
    let r = client.get(bin.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let logs = bin.logs();
    assert!(logs.lines().all(|l| !l.starts_with('{') || serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(!logs.contains(&db.url), "the database URL was logged");
}

fn run_with(env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(EXE).env_clear().envs(env.iter().copied()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_port_exits_non_zero_naming_the_variable() {
    let (code, stderr) = run_with(&[("PORT", "http"), ("DATABASE_URL", "postgres://x@127.0.0.1/y")]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");
}

#[test]
fn missing_database_url_exits_non_zero_naming_the_variable() {
    let (code, stderr) = run_with(&[("PORT", "0")]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[tokio::test]
async fn readyz_fails_while_the_database_is_unreachable() {
    let port = fedora_ci::dev::testing::free_port();
    let bin = RunningBinary::start(EXE, &[("DATABASE_URL", format!("postgres://nobody@127.0.0.1:{port}/none"))]).await;
    let r = reqwest::get(bin.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Still alive, still answers health (Knative must not kill it for a DB outage).
    assert_eq!(reqwest::get(bin.url("/healthz")).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn migrate_flag_applies_the_schema_and_exits() {
    let db = TestDatabase::fresh().await;
    let out = tokio::process::Command::new(EXE)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .arg("--migrate")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let db = TestDatabase::fresh().await;
    let mut bin = RunningBinary::start(EXE, &[("DATABASE_URL", db.url.clone())]).await;
    let pid = bin.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = bin.exited() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running 10 s after SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}: {}", bin.logs());
    assert!(bin.logs().contains("shutdown signal received"), "{}", bin.logs());
}
