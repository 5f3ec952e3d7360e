//! Issue #12: a panicking handler is answered 500 (so the Broker redelivers), the
//! function keeps serving, and the panic is one Sentry event with the request's
//! tags and without the secret its message held. In-process, because no real
//! handler panics on purpose; the router goes through the same `serve` wiring as
//! every function.

use axum::Router;
use axum::routing::post;
use fedora_ci::Secret;
use fedora_ci::config::TelemetryConfig;
use fedora_ci::dev::testing::{Fixture, binary_request, serve_router};
use fedora_ci::runtime::serve::{Readiness, with_health};
use fedora_ci_tests::sandbox::sentry::SentrySandbox;
use reqwest::StatusCode;

const SECRET: &str = "panic-secret-4711";

async fn explode() -> &'static str {
    panic!("cannot go on with {SECRET}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_500_and_one_sentry_event() {
    let sentry = SentrySandbox::start().await;
    let config = TelemetryConfig { sentry_dsn: Some(Secret::new(sentry.dsn())), otlp_endpoint: None };
    let guard = fedora_ci::telemetry::init("panicky", &config, &[Secret::new(SECRET)]).expect("telemetry");
    let app = with_health("panicky", Router::new().route("/", post(explode)), Readiness::always());
    let url = serve_router(app).await;

    let fixture = Fixture::load("pagure_pr_new.json");
    let response = binary_request(&reqwest::Client::new(), &url, &fixture, "panic-1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let health = reqwest::get(format!("{url}healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "still serving after the panic");
    drop(guard);

    let events = sentry.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["exception"]["values"][0]["mechanism"]["type"], "panic", "{event:#}");
    assert_eq!(event["tags"]["function"], "panicky");
    assert_eq!(event["tags"]["ce_id"], "panic-1");
    assert_eq!(event["tags"]["ce_type"], fixture.topic.as_str());
    assert_eq!(event["tags"]["trace_id"].as_str().map(str::len), Some(32), "{event:#}");
    for envelope in sentry.envelopes() {
        assert!(!envelope.body.contains(SECRET), "{}", envelope.body);
    }
}
