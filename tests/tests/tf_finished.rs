//! tf-finished end to end: Testing Farm notifications (the recorded fixtures) for
//! runs koji-finished submitted, against the TF and Pagure sandboxes, a real
//! Postgres, and the real RabbitMQ for the Fedora CI messages.

use std::time::Duration;

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::{Fixture, binary_request, fixtures_dir};
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci_tests::harness::Harness;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TASK: i64 = 45270170;
const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

fn tf_fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("testing-farm").join(name)).unwrap()).unwrap()
}

struct Setup {
    h: Harness,
    tf_finished: String,
    messages: Consumer,
    _amqp: Connection,
}

/// The broker consumer first, then [`queue_tests`].
async fn setup(response: &str) -> Setup {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let url_file = std::env::temp_dir().join(format!("tf-finished-amqp-url-{}-{n}", std::process::id()));
    std::fs::write(&url_file, format!("{}\n", Harness::amqp_url())).unwrap();
    let h = Harness::with_env(&[
        ("TESTING_FARM_WEBHOOK_SECRET", "secret-token"),
        ("TESTING_FARM_WEBHOOK_SECRET_SECONDARY", "rotated-token"),
        ("TESTING_FARM_ARTIFACTS_URL", "http://artifacts.dev.testing-farm.io"),
        // As in the cluster: the URL from a mounted secret file.
        ("AMQP_URL_FILE", url_file.to_str().unwrap()),
    ])
    .await;
    // Our own queue, bound before anything is published.
    let amqp = Connection::connect(&Harness::amqp_url(), ConnectionProperties::default()).await.expect("RabbitMQ");
    let channel = amqp.create_channel().await.unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            "amq.topic".into(),
            "org.centos.prod.ci.dist-git-pr.test.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let messages = channel
        .basic_consume(
            queue.name().clone(),
            "tf-finished-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let tf_finished = queue_tests(&h, response).await;
    Setup { h, tf_finished, messages, _amqp: amqp }
}

/// A PR built and its five tests queued; the rpmlint run then stands for the
/// fixture's request id, whose recorded response `response` the TF sandbox serves.
/// Returns tf-finished's URL.
async fn queue_tests(h: &Harness, response: &str) -> String {
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.koji.set_next_task_id(TASK);
    let client = reqwest::Client::new();
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    binary_request(&client, &pr_opened, &Fixture::load("pagure_pr_new.json"), "pr").send().await.unwrap();
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    h.koji.set_task_state(TASK, fedora_ci::messages::KojiTaskState::Closed);
    let r = binary_request(&client, &koji_finished, &Fixture::load("koji_build_scratch_end.json"), "end")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.tf.requests().len(), 5);

    let recorded = tf_fixture(response);
    sqlx::query("UPDATE tft_test_run_targets SET pipeline_id = $1 WHERE test_name = 'rpmlint'")
        .bind(recorded["id"].as_str().unwrap())
        .execute(&h.db.pool)
        .await
        .unwrap();
    h.tf.put_raw(recorded);
    h.serve("tf-finished", tf_finished::routes).await
}

impl Setup {
    fn repository(&self) -> String {
        format!("{}/rpms/optee_os", self.h.pagure.url)
    }

    /// The messages of this test's PR (other tests publish to the same broker),
    /// collected until `quiet` passes without a new one.
    async fn messages(&mut self, quiet: Duration) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout(quiet, self.messages.next()).await {
            let delivery = delivery.unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            let body: Value = serde_json::from_slice(&delivery.data).unwrap();
            if body["artifact"]["repository"] == self.repository() {
                out.push((delivery.routing_key.to_string(), body));
            }
        }
        out
    }

    async fn rpmlint(&self) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, web_url FROM tft_test_run_targets WHERE test_name = 'rpmlint'")
            .fetch_one(&self.h.db.pool)
            .await
            .unwrap()
    }
}

fn rpmlint_flag() -> FlagKey {
    FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rpmlint", "fedora-rawhide", SHA)
}

/// The dist-git-pr test message fields the Fedora CI messages spec requires.
fn assert_valid_message(topic: &str, m: &Value) {
    let stage = topic.rsplit('.').next().unwrap();
    for field in ["name", "team", "url", "docs", "irc", "email"] {
        assert!(m["contact"][field].is_string(), "contact.{field} in {m}");
    }
    assert!(m["run"]["url"].is_string() && m["run"]["log"].is_string(), "run in {m}");
    let a = &m["artifact"];
    assert_eq!(a["type"], "pull-request");
    assert!(a["repository"].as_str().unwrap().starts_with("http"));
    assert!(a["id"].is_u64(), "artifact.id must be an integer: {a}");
    assert!(a["uid"].as_str().is_some_and(|u| u.len() == 32 && u.chars().all(|c| c.is_ascii_hexdigit())));
    assert!(a["commit_hash"].as_str().is_some_and(|c| c.len() == 40 && c.chars().all(|c| c.is_ascii_hexdigit())));
    assert!(a["issuer"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(m["pipeline"]["id"].is_string() && m["pipeline"]["name"].is_string());
    assert!(m["test"]["type"].is_string() && m["test"]["category"].is_string());
    assert_eq!(m["test"]["namespace"], "fedora-ci.dist-git-pr");
    assert!(chrono::DateTime::parse_from_rfc3339(m["generated_at"].as_str().unwrap()).is_ok());
    assert_eq!(m["version"], "0.2.1");
    match stage {
        "complete" => {
            let result = m["test"]["result"].as_str().unwrap();
            assert!(["passed", "failed", "info", "needs_inspection", "not_applicable"].contains(&result), "{result}");
            assert!(m["test"]["xunit"].is_string());
            assert!(m["system"].is_array());
            assert!(m["run"]["rebuild"].is_string() && m["run"]["debug"].is_string());
        }
        "error" => assert!(m["error"]["reason"].is_string(), "error.reason in {m}"),
        "queued" | "running" => {}
        other => panic!("unexpected topic {other}"),
    }
    fn keys_ok(v: &Value) -> bool {
        match v {
            Value::Object(map) => map.iter().all(|(k, v)| {
                k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && keys_ok(v)
            }),
            Value::Array(items) => items.iter().all(keys_ok),
            _ => true,
        }
    }
    assert!(keys_ok(m), "field names must match [a-z0-9_]: {m}");
}

async fn notify(url: &str, body: &Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(format!("{url}testing-farm/results")).json(body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_fixture_notification_completes_the_run_flag_and_message() {
    let mut s = setup("results.json").await;
    let queued = s.messages(Duration::from_millis(500)).await;
    assert_eq!(queued.len(), 5, "one queued message per submitted test");
    for (topic, body) in &queued {
        assert_eq!(topic, "org.centos.prod.ci.dist-git-pr.test.queued");
        assert_valid_message(topic, body);
    }
    let flag_posts_before = s.h.pagure.flag_posts().len();

    let (status, body) = notify(&s.tf_finished, &tf_fixture("notification.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let artifacts = "http://artifacts.dev.testing-farm.io/129bd474-e4d3-49e0-9dec-d994a99feebc";
    assert_eq!(s.rpmlint().await, ("passed".to_owned(), Some(artifacts.to_owned())));
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == rpmlint_flag().uid).unwrap();
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str(), flag.url.as_str()),
        ("success", "Tests passed.", artifacts)
    );
    assert_eq!(s.h.pagure.flag_posts().len(), flag_posts_before + 1, "updated in place, once");

    let complete = s.messages(Duration::from_millis(500)).await;
    assert_eq!(complete.len(), 1, "{complete:?}");
    let (topic, m) = &complete[0];
    assert_eq!(topic, "org.centos.prod.ci.dist-git-pr.test.complete");
    assert_valid_message(topic, m);
    assert_eq!(m["test"]["type"], "rpmlint");
    assert_eq!(m["test"]["result"], "passed");
    assert_eq!(m["artifact"]["id"], 2);
    assert_eq!(m["artifact"]["uid"], "6bce8aea08204d12a74c2d17ecc505df");
    assert_eq!(m["artifact"]["issuer"], "zwhite");
    assert_eq!(m["run"]["url"], artifacts);
    let queued_rpmlint = queued.iter().find(|(_, b)| b["test"]["type"] == "rpmlint").unwrap();
    assert_eq!(queued_rpmlint.1["pipeline"]["id"], m["pipeline"]["id"], "one pipeline id from queued to complete");
}

#[tokio::test]
async fn an_error_result_flags_error_with_the_summary() {
    let mut s = setup("results_error.json").await;
    s.messages(Duration::from_millis(300)).await;
    let (status, _) = notify(&s.tf_finished, &tf_fixture("notification.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.rpmlint().await.0, "error");
    let flag = s.h.pagure.flags().into_iter().find(|f| f.uid == rpmlint_flag().uid).unwrap();
    assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("error", "Testing Farm error: something went wrong."));
    let errors = s.messages(Duration::from_millis(500)).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "org.centos.prod.ci.dist-git-pr.test.error");
    assert_valid_message(&errors[0].0, &errors[0].1);
    assert_eq!(errors[0].1["error"]["reason"], "something went wrong");
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_401_and_change_nothing() {
    let s = setup("results.json").await;
    let posts = s.h.pagure.flag_posts().len();
    for body in [
        json!({ "request_id": "129bd474-e4d3-49e0-9dec-d994a99feebc", "token": "guess" }),
        json!({ "request_id": "129bd474-e4d3-49e0-9dec-d994a99feebc" }),
        json!({ "request_id": "129bd474-e4d3-49e0-9dec-d994a99feebc", "token": "" }),
    ] {
        let (status, reply) = notify(&s.tf_finished, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(!reply.to_string().contains("secret-token"));
    }
    let r = reqwest::Client::new()
        .post(format!("{}testing-farm/results", s.tf_finished))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.rpmlint().await.0, "queued");
    assert_eq!(s.h.pagure.flag_posts().len(), posts);
    // The rotated (secondary) secret is accepted.
    let (status, _) = notify(
        &s.tf_finished,
        &json!({ "request_id": "129bd474-e4d3-49e0-9dec-d994a99feebc", "token": "rotated-token" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_notifications_update_once_and_publish_once() {
    let mut s = setup("results.json").await;
    s.messages(Duration::from_millis(300)).await;
    let posts = s.h.pagure.flag_posts().len();
    let client = reqwest::Client::new();
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..10 {
        sends.spawn(
            client.post(format!("{}testing-farm/results", s.tf_finished)).json(&tf_fixture("notification.json")).send(),
        );
    }
    while let Some(r) = sends.join_next().await {
        assert!(r.unwrap().unwrap().status().is_success());
    }
    assert_eq!(s.h.pagure.flag_posts().len(), posts + 1);
    assert_eq!(s.messages(Duration::from_millis(500)).await.len(), 1);
}

#[tokio::test]
async fn the_cloudevent_door_and_unknown_requests() {
    let s = setup("results.json").await;
    let ce = |id: &str, data: Value| {
        reqwest::Client::new()
            .post(&s.tf_finished)
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-type", tf_finished::EVENT_TYPE)
            .header("ce-source", "https://api.testing-farm.io")
            .header("content-type", "application/json")
            .body(data.to_string())
            .send()
    };
    let r = ce("u1", json!({ "request_id": "not-ours", "token": "secret-token" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = ce("w1", json!({ "request_id": "129bd474-e4d3-49e0-9dec-d994a99feebc", "token": "nope" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = ce("ok", tf_fixture("notification.json")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.rpmlint().await.0, "passed");
}

#[tokio::test]
async fn a_broker_outage_never_blocks_the_flag_and_the_message_follows_later() {
    let h = Harness::with_env(&[
        ("TESTING_FARM_WEBHOOK_SECRET", "secret-token"),
        ("AMQP_URL", "amqp://guest:guest@127.0.0.1:9/%2f"),
    ])
    .await;
    let tf_finished = queue_tests(&h, "results.json").await;
    let (status, body) = notify(&tf_finished, &tf_fixture("notification.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let flag = h.pagure.flags().into_iter().find(|f| f.uid == rpmlint_flag().uid).unwrap();
    assert_eq!(flag.status, "success");
    let (unsent, attempted): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE attempts > 0) FROM ci_messages",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(unsent, 6, "5 queued + 1 complete, all kept for later");
    assert!(attempted >= 1);

    // The broker is back (what the poller's flush does): everything goes out once.
    let url = Harness::amqp_url();
    let amqp =
        fedora_ci::config::amqp::AmqpSettings::required(&|k: &str| (k == "AMQP_URL").then(|| url.clone())).unwrap();
    let bus = fedora_ci::clients::bus::Bus::new(amqp, "amq.topic".into());
    assert_eq!(bus.flush(&h.db.pool).await.unwrap(), 6);
    assert_eq!(bus.flush(&h.db.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn a_half_configured_client_certificate_stops_the_publisher_at_start() {
    // AMQP_CERT without AMQP_KEY: the function would otherwise start and fail every
    // publish; it must refuse to start, naming the missing variable.
    let h = Harness::with_env(&[
        ("AMQP_URL", "amqps://fedora-ci:hunter2@rabbitmq.fedoraproject.org/%2Fpubsub"),
        ("AMQP_CERT", "/run/secrets/fedora-ci/messaging/tls.crt"),
    ])
    .await;
    let exe = fedora_ci_tests::stack::binary_path("tf-finished");
    let out = std::process::Command::new(exe).env_clear().envs(h.env()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AMQP_KEY") && stderr.contains("AMQP_CERT"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
