//! koji-finished end to end: Koji task messages for a build pr-opened submitted,
//! against the Koji, Pagure and Testing Farm sandboxes and a real Postgres.

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::{Fixture, binary_request};
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use reqwest::StatusCode;
use serde_json::Value;

const TASK: i64 = 45270170;
const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

struct Setup {
    h: Harness,
    koji_finished: String,
}

/// pr-opened submits the fixture PR as Koji task 45270170 (the fixtures' task).
async fn setup(with_fmf: bool) -> Setup {
    Setup::with_env(with_fmf, &[]).await
}

impl Setup {
    async fn with_env(with_fmf: bool, env: &[(&str, &str)]) -> Setup {
        let h = Harness::with_env(env).await;
        setup_with(h, with_fmf).await
    }
}

async fn setup_with(h: Harness, with_fmf: bool) -> Setup {
    if with_fmf {
        h.pagure.add_file("fork/zwhite/rpms/optee_os", SHA, ".fmf/version", "1\n");
    }
    h.koji.set_next_task_id(TASK);
    h.open_recorded_pr(pr_opened::routes).await;
    assert_eq!(h.koji.builds()[0].task_id, TASK);
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    Setup { h, koji_finished }
}

async fn post(url: &str, fixture: &Fixture, id: &str) -> (StatusCode, Value) {
    let r = binary_request(&reqwest::Client::new(), url, fixture, id).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn build_status(h: &Harness) -> String {
    sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap()
}

fn golden(name: &str, distgit: &str) -> Value {
    let path = fedora_ci::dev::testing::fixtures_dir().join("../golden/testing-farm").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap().replace("{{DISTGIT}}", distgit);
    serde_json::from_str(&text).unwrap()
}

/// Compares field by field so a mismatch names the field.
fn assert_same(path: &str, actual: &Value, expected: &Value) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys: std::collections::BTreeSet<_> = a.keys().chain(e.keys()).collect();
            for k in keys {
                assert_same(&format!("{path}.{k}"), a.get(k).unwrap_or(&Value::Null), e.get(k).unwrap_or(&Value::Null));
            }
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => {
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_same(&format!("{path}[{i}]"), x, y);
            }
        }
        _ => assert_eq!(actual, expected, "at {path}"),
    }
}

#[tokio::test]
async fn a_finished_build_submits_the_suite_with_the_golden_payloads() {
    let s = setup(true).await;
    let (status, body) = post(&s.koji_finished, &Fixture::load("koji_build_scratch_start.json"), "open").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(build_status(&s.h).await, "running");
    let build_flag = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", SHA);
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == build_flag.uid).unwrap();
    assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("pending", "RPM build is in progress…"));

    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let (status, body) = post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(build_status(&s.h).await, "success");
    let logs: Value =
        sqlx::query_scalar("SELECT build_logs_urls FROM koji_build_targets").fetch_one(&s.h.db.pool).await.unwrap();
    assert_eq!(logs["noarch"], "https://kojipkgs.sandbox.example/work/tasks/227/45270227/build.log");

    let requests = s.h.tf.requests();
    let names = ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate", "custom"];
    assert_eq!(requests.len(), 6);
    for (request, name) in requests.iter().zip(names) {
        assert_same(name, &request.payload, &golden(name, &s.h.pagure.url));
    }

    let flags = s.h.pagure.flags();
    let build = flags.iter().find(|f| f.uid == build_flag.uid).unwrap();
    assert_eq!((build.status.as_str(), build.comment.as_str()), ("success", "RPM build succeeded."));
    for (request, name) in requests.iter().zip(names) {
        let key = FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), name, "fedora-rawhide", SHA);
        let flag = flags.iter().find(|f| f.uid == key.uid).unwrap_or_else(|| panic!("no flag for {name}"));
        assert_eq!(flag.username, format!("Fedora CI - {name}"));
        assert_eq!(flag.status, "pending");
        assert_eq!(flag.url, format!("{}/{}", s.h.tf.artifacts_url, request.id));
        assert!(flag.comment.starts_with("Tests have been submitted"), "{}", flag.comment);
    }
    assert_eq!(flags.len(), 7);
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tft_test_run_targets WHERE status = 'queued' AND pipeline_id IS NOT NULL",
    )
    .fetch_one(&s.h.db.pool)
    .await
    .unwrap();
    assert_eq!(queued, 6);
}

#[tokio::test]
async fn without_an_fmf_tree_five_tests_run() {
    let s = setup(false).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    let names: Vec<String> =
        s.h.tf.requests().iter().map(|r| r.payload["test"]["tmt"]["url"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(!names.iter().any(|u| u.contains("optee_os")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_copies_submit_one_set_of_tests() {
    let s = setup(true).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let client = reqwest::Client::new();
    let fixture = Fixture::load("koji_build_scratch_end.json");
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..10 {
        // Different CloudEvent ids: the bridge could redeliver under a new id too.
        sends.spawn(binary_request(&client, &s.koji_finished, &fixture, &format!("copy-{i}")).send());
    }
    while let Some(r) = sends.join_next().await {
        assert!(r.unwrap().unwrap().status().is_success());
    }
    assert_eq!(s.h.tf.requests().len(), 6);
    assert_eq!(s.h.pagure.flags().len(), 7);
}

#[tokio::test]
async fn an_open_after_closed_leaves_success() {
    let s = setup(false).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    let (status, body) = post(&s.koji_finished, &Fixture::load("koji_build_scratch_start.json"), "late-open").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(build_status(&s.h).await, "success");
    let key = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", SHA);
    assert_eq!(s.h.pagure.flags().into_iter().find(|f| f.uid == key.uid).unwrap().status, "success");
}

#[tokio::test]
async fn a_failed_build_names_the_failed_arches_and_runs_no_tests() {
    let s = setup(false).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Failed);
    let mut failed = Fixture::load("koji_build_scratch_end.json");
    failed.body["new"] = "FAILED".into();
    failed.body["info"]["state"] = 5.into();
    failed.body["info"]["children"][1]["arch"] = "x86_64".into();
    failed.body["info"]["children"][1]["state"] = 5.into();
    let (status, body) = post(&s.koji_finished, &failed, "failed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(build_status(&s.h).await, "failure");
    let flag = &s.h.pagure.flags()[0];
    assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("failure", "RPM build failed for x86_64."));
    assert!(s.h.tf.requests().is_empty());
}

#[tokio::test]
async fn a_canceled_build_gets_a_canceled_flag() {
    let s = setup(false).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Canceled);
    let mut canceled = Fixture::load("koji_build_scratch_end.json");
    canceled.body["new"] = "CANCELED".into();
    let (status, _) = post(&s.koji_finished, &canceled, "canceled").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(build_status(&s.h).await, "canceled");
    assert_eq!(s.h.pagure.flags()[0].status, "canceled");
}

#[tokio::test]
async fn unknown_tasks_cause_no_outbound_request_at_all() {
    let s = setup(true).await;
    let (koji, pagure, tf) =
        (s.h.koji.calls().len(), s.h.pagure.faults.requests().len(), s.h.tf.faults.requests().len());
    let mut other = Fixture::load("koji_build_scratch_end.json");
    other.body["id"] = 99999.into();
    other.body["info"]["id"] = 99999.into();
    let (status, body) = post(&s.koji_finished, &other, "unknown").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut foreign = Fixture::load("koji_build_scratch_end.json");
    foreign.body["owner"] = "someone-else".into();
    let (status, body) = post(&s.koji_finished, &foreign, "foreign").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = post(&s.koji_finished, &Fixture::load("koji_build_completed_rawhide.json"), "build-msg").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(s.h.koji.calls().len(), koji);
    assert_eq!(s.h.pagure.faults.requests().len(), pagure);
    assert_eq!(s.h.tf.faults.requests().len(), tf);
    assert_eq!(build_status(&s.h).await, "pending");
}

/// A foreign owner is decided without the database: this instance's database does
/// not even exist, and it still answers 202.
#[tokio::test]
async fn foreign_owners_are_dropped_without_touching_the_database() {
    let h = Harness::with_env(&[("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none")]).await;
    let vars = h.env();
    let config =
        fedora_ci::Config::from_source(&move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let pool = fedora_ci::store::connect_lazy(&config.database_url, 1).unwrap();
    let ctx = fedora_ci::Context::new("koji-finished", config, pool).unwrap();
    let url = fedora_ci::dev::testing::serve_router(fedora_ci::runtime::app::app(ctx, koji_finished::routes)).await;
    let mut foreign = Fixture::load("koji_build_scratch_end.json");
    foreign.body["owner"] = "someone-else".into();
    let (status, body) = post(&url, &foreign, "f1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // And with the owner promoted to an extension by the bridge, the same.
    let r = binary_request(&reqwest::Client::new(), &url, &foreign, "f2")
        .header("ce-kojiowner", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Our owner needs the database: without one, 503 so the Broker redelivers.
    let (status, _) = post(&url, &Fixture::load("koji_build_scratch_end.json"), "ours").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn testing_farm_down_leaves_retries_and_a_rejected_key_is_an_error_flag() {
    let s = setup(false).await;
    s.h.tf.faults.set_down(true);
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM tft_test_run_targets").fetch_all(&s.h.db.pool).await.unwrap();
    assert_eq!(statuses, ["retry"; 5]);
    let key = FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rpmlint", "fedora-rawhide", SHA);
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == key.uid).unwrap();
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        ("pending", "Failed to submit tests. They will be retried in 1 minute.")
    );

    // Testing Farm rejects our API key: an error flag (our infrastructure, not the
    // package) with TF's words, and nothing retried.
    let s = setup(false).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let mut ctx = s.h.context("koji-finished");
    ctx.clients.testing_farm = fedora_ci::clients::testing_farm::TestingFarmClient::new(
        ctx.clients.http.clone(),
        ctx.config.testing_farm.api_url.clone(),
        Some(fedora_ci::Secret::new("wrong-key")),
    );
    let url = fedora_ci::dev::testing::serve_router(fedora_ci::runtime::app::app(ctx, koji_finished::routes)).await;
    post(&url, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == key.uid).unwrap();
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        (
            "error",
            "Not submitted: Testing Farm rejected Fedora CI's API key (Not authorized to perform this action). \
             An infrastructure problem, not the package's."
        )
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM tft_test_run_targets").fetch_all(&s.h.db.pool).await.unwrap();
    assert_eq!(statuses, ["error"; 5]);
}

/// Testing Farm refuses the request (here: the ranch does not provision x86_64):
/// an error flag with Testing Farm's own reason, not a red failure and not the
/// bare "Failed to submit tests." of before; nothing retried.
#[tokio::test]
async fn a_refused_test_request_is_an_error_flag_with_testing_farms_reason() {
    let s = setup(false).await;
    s.h.tf.set_architectures(&["aarch64"]);
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "closed").await;
    let key = FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rpmlint", "fedora-rawhide", SHA);
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == key.uid).unwrap();
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        (
            "error",
            "Testing Farm refused the tests: environments.0.arch: value is not a valid enumeration member; \
             permitted: 'aarch64'."
        )
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM tft_test_run_targets").fetch_all(&s.h.db.pool).await.unwrap();
    assert_eq!(statuses, ["error"; 5]);
    assert!(s.h.tf.requests().is_empty());
}

/// koji-finished confirms a finished task with the hub (`getTaskInfo`) before
/// anything follows: a CLOSED message for a task the hub still runs requests no
/// tests and leaves the flag as it was; once the hub closes the task the poller
/// applies the hub's state, and the tests go out once.
#[tokio::test]
async fn a_closed_message_for_a_task_the_hub_still_runs_is_not_acted_on() {
    let s = Setup::with_env(false, &[("FEDORA_CI_POLL_GRACE_SECONDS", "0")]).await;
    s.h.koji.set_task_state(TASK, KojiTaskState::Open);
    let build_flag = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", SHA);
    let before = s.h.pagure.flags().into_iter().find(|f| f.uid == build_flag.uid).unwrap();
    let posts_before = s.h.pagure.flag_posts().len();

    let (status, body) = post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "early").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("the hub reports Open"), "{body}");
    assert!(s.h.tf.requests().is_empty(), "no Testing Farm request on the message's word");
    assert_eq!(build_status(&s.h).await, "pending");
    let after = s.h.pagure.flags().into_iter().find(|f| f.uid == build_flag.uid).unwrap();
    assert_eq!((after.status, after.comment), (before.status, before.comment));
    assert_eq!(s.h.pagure.flag_posts().len(), posts_before, "no flag was posted");

    // The hub finishes the task: the poller follows the hub, and tests go out once.
    s.h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let poller = s.h.serve("result-poller", result_poller::routes).await;
    let r = reqwest::Client::new().post(&poller).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(build_status(&s.h).await, "success");
    assert_eq!(s.h.tf.requests().len(), 5);
    // The message redelivered now changes nothing.
    let (status, body) = post(&s.koji_finished, &Fixture::load("koji_build_scratch_end.json"), "early").await;
    assert!(status.is_success(), "{body}");
    assert_eq!(s.h.tf.requests().len(), 5);
}
