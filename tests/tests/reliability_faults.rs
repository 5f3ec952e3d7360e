//! Upstream faults and recovery: the Koji, Testing Farm and Pagure sandboxes
//! answer 500, close the connection, or hang past the functions' upstream
//! timeout, for a window; after recovery every job completes, and none twice.
//!
//! The hangs run with a 2 s upstream timeout here; `make soak` runs them again
//! with the production default of 30 s (`FEDORA_CI_FAULTS_TIMEOUT_SECONDS`).
//!
//! Each story delivers its event during the fault, redelivers it while the
//! function answers non-2xx (as the Broker does), then runs result-poller passes
//! until the work is done (bounded), and checks the effects are there exactly once.

use std::time::Duration;

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::{Fixture, binary_request};
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::sandbox::faults::{Fault, Faults, Window};
use reqwest::StatusCode;

const TASK: i64 = 45270170;
const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
const PASSES: usize = 10;

#[derive(Clone, Copy, Debug)]
enum Upstream {
    Koji,
    TestingFarm,
    Pagure,
}

fn faults(h: &Harness, upstream: Upstream) -> &Faults {
    match upstream {
        Upstream::Koji => &h.koji.faults,
        Upstream::TestingFarm => &h.tf.faults,
        Upstream::Pagure => &h.pagure.faults,
    }
}

/// `FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS` of the functions in these stories.
fn upstream_timeout_seconds() -> u64 {
    std::env::var("FEDORA_CI_FAULTS_TIMEOUT_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

/// An upstream that answers only long after the functions' timeout has passed,
/// so a delivery answered before the hang ends proves the timeout cut the call.
fn hang_past_timeout() -> Fault {
    Fault::Hang(Duration::from_secs(upstream_timeout_seconds() + 20))
}

async fn world() -> Harness {
    let timeout = upstream_timeout_seconds().to_string();
    let h = Harness::with_env(&[
        ("FEDORA_CI_POLL_GRACE_SECONDS", "0"),
        ("FEDORA_CI_RETRY_BACKOFF_MINUTES", "0,0,0,0,0"),
        ("FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", &timeout),
    ])
    .await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.koji.set_next_task_id(TASK);
    h
}

async fn send(url: &str, fixture: &Fixture, id: &str) -> StatusCode {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(150)).build().unwrap();
    binary_request(&client, url, fixture, id).send().await.map(|r| r.status()).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// One result-poller pass (the PingSource's POST).
async fn tick(poller: &str) {
    let status =
        reqwest::Client::new().post(poller).send().await.map(|r| r.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    assert!(status.is_success(), "poller pass: {status}");
}

/// A hang lasts one request (each costs the client's whole timeout); the other
/// faults last until `recover`.
fn window(fault: Fault) -> Window {
    match fault {
        Fault::Hang(_) => Window::Requests(1),
        _ => Window::For(Duration::from_secs(600)),
    }
}

/// Delivers once during the fault: the answer is 2xx (the work is recorded and
/// will be retried) or 503 (redeliver), never anything else — and during a hang,
/// an answer before the upstream's, which only the function's timeout can give.
async fn deliver_during_fault(url: &str, fixture: &Fixture, id: &str, fault: Fault) -> StatusCode {
    let started = std::time::Instant::now();
    let status = send(url, fixture, id).await;
    assert!(status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE, "{}: {status}", fixture.name);
    if let Fault::Hang(hang) = fault {
        assert!(started.elapsed() < hang, "{}: answered only when the hung upstream did", fixture.name);
    }
    status
}

/// After recovery: the Broker redelivers what was not acknowledged, then the
/// poller passes run until `done` (at most `PASSES`).
async fn recover_and_reconcile(
    h: &Harness,
    upstream: Upstream,
    url: &str,
    fixture: &Fixture,
    first: StatusCode,
    done: impl Fn(&Harness) -> bool,
) {
    faults(h, upstream).recover();
    if !first.is_success() {
        let status = send(url, fixture, "redelivery").await;
        assert!(status.is_success(), "{}: redelivery after recovery answered {status}", fixture.name);
    }
    let poller = h.serve("result-poller", result_poller::routes).await;
    for _ in 0..PASSES {
        if done(h) {
            break;
        }
        tick(&poller).await;
    }
    assert!(done(h), "{upstream:?}: the work did not complete within {PASSES} passes after recovery");
}

fn build_flag_submitted(h: &Harness) -> bool {
    let key = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", SHA);
    h.pagure.flags().iter().any(|f| f.uid == key.uid && f.comment.starts_with("RPM build was submitted"))
}

/// PR opened while `upstream` is faulty → one scratch build and its flag.
async fn pr_opened_through(upstream: Upstream, fault: Fault) {
    let h = world().await;
    faults(&h, upstream).inject(fault, window(fault));
    let url = h.serve("pr-opened", pr_opened::routes).await;
    let pr = Fixture::load("pagure_pr_new.json");
    let first = deliver_during_fault(&url, &pr, "pr", fault).await;
    assert!(faults(&h, upstream).faulted() > 0, "{upstream:?} was never asked during the fault");
    recover_and_reconcile(&h, upstream, &url, &pr, first, |h| !h.koji.builds().is_empty() && build_flag_submitted(h))
        .await;
    assert_eq!(h.koji.builds().len(), 1, "{upstream:?} {fault:?}: builds");
    // One more pass and one more copy of the event change nothing.
    tick(&h.serve("result-poller", result_poller::routes).await).await;
    send(&url, &pr, "late-copy").await;
    assert_eq!(h.koji.builds().len(), 1, "{upstream:?} {fault:?}: a second build after recovery");
}

fn tests_submitted(h: &Harness) -> bool {
    let flags = h.pagure.flags();
    h.tf.requests().len() == 5
        && ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"].iter().all(|name| {
            let key =
                FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), name, "fedora-rawhide", SHA);
            flags.iter().any(|f| f.uid == key.uid && f.comment.starts_with("Tests have been submitted"))
        })
}

/// The build finished while `upstream` is faulty → the suite submitted once, its
/// flags set.
async fn build_finished_through(upstream: Upstream, fault: Fault) {
    let h = world().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    assert_eq!(send(&pr_opened, &Fixture::load("pagure_pr_new.json"), "pr").await, StatusCode::OK);
    assert_eq!(h.koji.builds()[0].task_id, TASK);
    faults(&h, upstream).inject(fault, window(fault));
    let url = h.serve("koji-finished", koji_finished::routes).await;
    h.koji.set_task_state(TASK, fedora_ci::messages::KojiTaskState::Closed);
    let closed = Fixture::load("koji_build_scratch_end.json");
    let first = deliver_during_fault(&url, &closed, "closed", fault).await;
    recover_and_reconcile(&h, upstream, &url, &closed, first, tests_submitted).await;
    tick(&h.serve("result-poller", result_poller::routes).await).await;
    send(&url, &closed, "late-copy").await;
    let tests: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT test_name) FROM tft_test_run_targets WHERE pipeline_id IS NOT NULL")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!((h.tf.requests().len(), tests), (5, 5), "{upstream:?} {fault:?}: requests, tests submitted");
}

#[tokio::test]
async fn koji_500_while_a_pr_opens() {
    pr_opened_through(Upstream::Koji, Fault::Status(500)).await;
}

#[tokio::test]
async fn koji_closing_connections_while_a_pr_opens() {
    pr_opened_through(Upstream::Koji, Fault::Close).await;
}

#[tokio::test]
async fn pagure_500_while_a_pr_opens() {
    pr_opened_through(Upstream::Pagure, Fault::Status(500)).await;
}

#[tokio::test]
async fn pagure_closing_connections_while_a_pr_opens() {
    pr_opened_through(Upstream::Pagure, Fault::Close).await;
}

#[tokio::test]
async fn testing_farm_500_when_a_build_finishes() {
    build_finished_through(Upstream::TestingFarm, Fault::Status(500)).await;
}

#[tokio::test]
async fn testing_farm_closing_connections_when_a_build_finishes() {
    build_finished_through(Upstream::TestingFarm, Fault::Close).await;
}

#[tokio::test]
async fn pagure_500_when_a_build_finishes() {
    build_finished_through(Upstream::Pagure, Fault::Status(500)).await;
}

#[tokio::test]
async fn koji_500_when_a_build_finishes() {
    build_finished_through(Upstream::Koji, Fault::Status(500)).await;
}

#[tokio::test]
async fn koji_hanging_while_a_pr_opens() {
    pr_opened_through(Upstream::Koji, hang_past_timeout()).await;
}

#[tokio::test]
async fn testing_farm_hanging_when_a_build_finishes() {
    build_finished_through(Upstream::TestingFarm, hang_past_timeout()).await;
}

#[tokio::test]
async fn pagure_hanging_while_a_pr_opens() {
    pr_opened_through(Upstream::Pagure, hang_past_timeout()).await;
}
