//! Issue #12, errors to Sentry: with `SENTRY_DSN` a handler error is one event
//! tagged with the function, CloudEvent, trace, package and PR, and nothing secret
//! leaves the process; without it nothing is sent at all.

use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::{Harness, WEBHOOK_SECRET};
use fedora_ci_tests::sandbox::sentry::SentrySandbox;
use reqwest::StatusCode;

const DB_PASSWORD: &str = "db-password-never-in-sentry";
const TRACEPARENT: &str = "00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3cb55c13-01";

/// pr-opened whose database does not exist: every event ends in a database error
/// and a 503 (the Broker would redeliver).
async fn failing_pr_opened(h: &Harness, dsn: Option<String>) -> RunningBinary {
    let mut url = url::Url::parse(&h.db.url).unwrap();
    url.set_password(Some(DB_PASSWORD)).unwrap();
    url.set_path(&format!("/fci_missing_{}", uuid::Uuid::new_v4().simple()));
    let vars = h.env();
    let mut env: Vec<(&str, String)> =
        vars.iter().filter(|(k, _)| k != "DATABASE_URL").map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("DATABASE_URL", url.to_string()));
    env.extend(dsn.map(|dsn| ("SENTRY_DSN", dsn)));
    let exe = fedora_ci_tests::stack::binary_path("pr-opened");
    RunningBinary::start(exe.to_str().unwrap(), &env).await
}

async fn send_pr_event(bin: &RunningBinary, id: &str) -> StatusCode {
    binary_request(&reqwest::Client::new(), &bin.url("/"), &Fixture::load("pagure_pr_new.json"), id)
        .header("ce-traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_handler_error_is_one_tagged_event_without_secrets() {
    let h = Harness::start().await;
    let sentry = SentrySandbox::start().await;
    let mut bin = failing_pr_opened(&h, Some(sentry.dsn())).await;
    assert_eq!(send_pr_event(&bin, "err-1").await, StatusCode::SERVICE_UNAVAILABLE);
    // Shutting down flushes what is queued; then everything has arrived.
    assert!(bin.terminate().await.success(), "{}", bin.logs());

    let events = sentry.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let tags = &events[0]["tags"];
    let fixture = Fixture::load("pagure_pr_new.json");
    for (key, value) in [
        ("function", "pr-opened"),
        ("ce_id", "err-1"),
        ("ce_type", fixture.topic.as_str()),
        ("trace_id", "5b8aa5a2d2c872e8321cf37308d69df2"),
        ("package", "rpms/optee_os"),
        ("pr", "2"),
    ] {
        assert_eq!(tags[key], value, "tag {key} of {:#}", events[0]);
    }
    assert!(events[0].to_string().contains("database error; asking for redelivery"), "{:#}", events[0]);

    let envelopes = sentry.envelopes();
    assert!(envelopes.iter().all(|e| e.project == "1"));
    for envelope in &envelopes {
        for secret in [DB_PASSWORD, h.pagure.token.as_str(), h.tf.key.as_str(), WEBHOOK_SECRET] {
            assert!(!envelope.body.contains(secret), "{secret} sent to Sentry: {}", envelope.body);
        }
        // Neither the Pagure (`token …`), Testing Farm (`Bearer …`) nor Koji
        // (`Negotiate …`) authorization header, in any form.
        let text = envelope.body.to_ascii_lowercase();
        for scheme in ["\"token ", "bearer ", "negotiate "] {
            assert!(!text.contains(scheme), "{scheme} in {}", envelope.body);
        }
    }
}

#[tokio::test]
async fn without_a_dsn_nothing_is_sent() {
    let h = Harness::start().await;
    let sentry = SentrySandbox::start().await;
    let mut bin = failing_pr_opened(&h, None).await;
    assert_eq!(send_pr_event(&bin, "err-2").await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(bin.terminate().await.success(), "{}", bin.logs());
    assert!(bin.logs().contains("database error"), "the error is still logged: {}", bin.logs());
    assert!(sentry.envelopes().is_empty());
}
