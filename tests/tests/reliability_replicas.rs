//! Duplicates and races across replicas: each event fixture is delivered 10 times
//! at once, spread over 3 processes of its function sharing one database, as a
//! Broker retrying into a scaled-out Service would. Exactly one build, one Testing
//! Farm request per test, one comment, and each flag state posted once.
//!
//! The functions are real processes, so they log in to Koji with Kerberos: the
//! test runs in a child process whose environment names a throwaway realm
//! (`fedora_ci_tests::realm` explains why).

use std::collections::HashMap;

use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::{Harness, kerberized_koji};
use fedora_ci_tests::realm::{TestRealm, in_realm};
use fedora_ci_tests::sandbox::koji::KojiHub;
use fedora_ci_tests::stack::binary_path;
use serde_json::json;

const TASK: i64 = 45270170;
const COPIES: usize = 10;
const REPLICAS: usize = 3;

#[test]
fn every_fixture_ten_times_over_three_replicas_has_one_effect() {
    in_realm(
        |_| Vec::new(),
        |realm| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
            rt.block_on(story(realm));
        },
    );
}

struct Replicas(Vec<RunningBinary>);

impl Replicas {
    async fn start(name: &str, env: &[(String, String)]) -> Replicas {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let exe = binary_path(name);
        let mut out = Vec::new();
        for _ in 0..REPLICAS {
            out.push(RunningBinary::start(exe.to_str().unwrap(), &env).await);
        }
        Replicas(out)
    }

    /// `COPIES` deliveries of `fixture` at once, round robin over the replicas, each
    /// under its own CloudEvent id (a redelivery may carry a new one, so the
    /// effects, not the ids, must deduplicate); every answer must be 2xx.
    async fn deliver(&self, path: &str, fixture: &Fixture, extensions: &[(&str, &str)]) {
        let client = reqwest::Client::new();
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..COPIES {
            let mut request = binary_request(
                &client,
                &self.0[i % REPLICAS].url(path),
                fixture,
                &format!("{}-copy-{i}", fixture.name),
            );
            for (k, v) in extensions {
                request = request.header(format!("ce-{k}"), *v);
            }
            sends.spawn(request.send());
        }
        while let Some(sent) = sends.join_next().await {
            let r = sent.unwrap().unwrap();
            let status = r.status();
            assert!(status.is_success(), "{}: {status}: {}", fixture.name, r.text().await.unwrap_or_default());
        }
    }

    /// The Testing Farm webhook body `COPIES` times at once over the replicas.
    async fn notify(&self, body: &serde_json::Value) {
        let client = reqwest::Client::new();
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..COPIES {
            sends.spawn(client.post(self.0[i % REPLICAS].url("/testing-farm/results")).json(body).send());
        }
        while let Some(sent) = sends.join_next().await {
            let status = sent.unwrap().unwrap().status();
            assert!(status.is_success(), "notification: {status}");
        }
    }
}

/// Every (flag, state, text) posted at most once, however many copies arrived.
fn assert_each_flag_state_posted_once(h: &Harness) {
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for p in h.pagure.flag_posts() {
        *seen.entry((p.uid, p.status, p.comment)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "flag states posted more than once: {twice:?}");
}

async fn story(realm: &TestRealm) {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let mut env = h.env();
    let koji: KojiHub = kerberized_koji(realm, &mut env).await;
    koji.set_next_task_id(TASK);
    let pr_opened = Replicas::start("pr-opened", &env).await;
    let koji_finished = Replicas::start("koji-finished", &env).await;
    let tf_finished = Replicas::start("tf-finished", &env).await;
    let rpms = [("pagurenamespace", "rpms")];

    // PR opened: one scratch build, one pending flag.
    pr_opened.deliver("/", &Fixture::load("pagure_pr_new.json"), &rpms).await;
    assert_eq!(koji.builds().len(), 1, "scratch builds");
    assert_eq!(h.pagure.flags().len(), 1);
    // A PR outside rpms/ and tests/, and a comment that is not our command: nothing.
    pr_opened.deliver("/", &Fixture::load("pagure_pr_new_no_fork.json"), &[]).await;
    pr_opened.deliver("/", &Fixture::load("pagure_pr_comment.json"), &rpms).await;
    assert_eq!((koji.builds().len(), h.pagure.comments().len()), (1, 0));
    // `/packit-ci help`: one answer.
    pr_opened.deliver("/", &Fixture::load("pagure_pr_comment_ci_help.json"), &rpms).await;
    assert_eq!(h.pagure.comments().len(), 1, "help comments");

    // The build runs and finishes: one state change each, one suite submitted.
    let owner = [("kojiowner", "packit"), ("kojimethod", "build")];
    koji_finished.deliver("/", &Fixture::load("koji_build_scratch_start.json"), &owner).await;
    koji.set_task_state(koji.builds()[0].task_id, fedora_ci::messages::KojiTaskState::Closed);
    koji_finished.deliver("/", &Fixture::load("koji_build_scratch_end.json"), &owner).await;
    koji_finished.deliver("/", &Fixture::load("koji_build_completed_rawhide.json"), &[("kojiowner", "packit")]).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status, "success");
    let requests = h.tf.requests();
    assert_eq!(requests.len(), 5, "Testing Farm requests");

    // Testing Farm reports each request done: one result per run, one final flag each.
    for request in &requests {
        h.tf.set_state(&request.id, "complete", Some("passed"), None);
        let token = request.payload["notification"]["webhook"]["token"].clone();
        tf_finished.notify(&json!({ "request_id": request.id, "token": token })).await;
    }
    let results: Vec<String> =
        sqlx::query_scalar("SELECT status FROM tft_test_run_targets ORDER BY id").fetch_all(&h.db.pool).await.unwrap();
    assert_eq!(results, ["passed"; 5]);
    let flags = h.pagure.flags();
    assert_eq!(flags.len(), 6);
    assert!(flags.iter().all(|f| f.status == "success"), "{flags:?}");
    let complete: i64 = sqlx::query_scalar("SELECT count(*) FROM ci_messages WHERE topic LIKE '%.complete'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(complete, 5, "Fedora CI 'complete' messages");
    assert_each_flag_state_posted_once(&h);
    assert_eq!(koji.builds().len(), 1);
}
