//! result-poller end to end: passes that repair lost messages and outages, against
//! the sandboxes and a real Postgres.

use std::time::{Duration, Instant};

use fedora_ci::dev::testing::{Fixture, binary_request};
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use reqwest::StatusCode;
use serde_json::Value;

const NO_GRACE: (&str, &str) = ("FEDORA_CI_POLL_GRACE_SECONDS", "0");

async fn open_pr(h: &Harness) {
    h.open_recorded_pr(pr_opened::routes).await;
}

async fn pass(url: &str) -> Value {
    let r = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// (check name, status, comment) of every flag, sorted: what a packager sees.
fn flag_view(h: &Harness) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = h.pagure.flags().into_iter().map(|f| (f.username, f.status, f.comment)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_lost_closed_message_is_repaired_exactly_like_the_message_would() {
    // Poller path.
    let h = Harness::with_env(&[NO_GRACE]).await;
    open_pr(&h).await;
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, KojiTaskState::Closed);
    let poller = h.serve("result-poller", result_poller::routes).await;
    let summary = pass(&poller).await;
    assert_eq!(summary["koji_checked"], 1, "{summary}");
    let status: String =
        sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status, "success");
    assert_eq!(h.tf.requests().len(), 5);
    let logs: Value =
        sqlx::query_scalar("SELECT build_logs_urls FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert!(logs.get("x86_64").is_some() && logs.get("aarch64").is_some(), "{logs}");

    // Message path on a twin world, with the same task state.
    let twin = Harness::start().await;
    twin.koji.set_next_task_id(task);
    open_pr(&twin).await;
    let koji_finished = twin.serve("koji-finished", koji_finished::routes).await;
    twin.koji.set_task_state(task, KojiTaskState::Closed);
    let mut closed = Fixture::load("koji_build_scratch_end.json");
    closed.body["id"] = task.into();
    closed.body["info"]["id"] = task.into();
    binary_request(&reqwest::Client::new(), &koji_finished, &closed, "closed").send().await.unwrap();
    assert_eq!(flag_view(&h), flag_view(&twin));
    let runs = |h: &Harness| {
        let pool = h.db.pool.clone();
        async move {
            let rows: Vec<(String, String, String)> =
                sqlx::query_as("SELECT test_name, target, status FROM tft_test_run_targets ORDER BY test_name")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows
        }
    };
    assert_eq!(runs(&h).await, runs(&twin).await);

    // A second pass finds nothing to do.
    let summary = pass(&poller).await;
    assert_eq!(summary["koji_checked"], 0, "{summary}");
}

#[tokio::test]
async fn a_lost_webhook_is_repaired_by_a_pass() {
    let h = Harness::with_env(&[NO_GRACE]).await;
    open_pr(&h).await;
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, KojiTaskState::Closed);
    let poller = h.serve("result-poller", result_poller::routes).await;
    pass(&poller).await;
    let rpmlint = h.tf.requests().into_iter().find(|r| r.payload["test"]["tmt"]["name"] == "/plans/rpmlint").unwrap();
    h.tf.set_state(&rpmlint.id, "complete", Some("passed"), None);
    let summary = pass(&poller).await;
    assert_eq!(summary["tf_checked"], 5, "{summary}");
    let status: String = sqlx::query_scalar("SELECT status FROM tft_test_run_targets WHERE test_name = 'rpmlint'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "passed");
    assert!(h.pagure.flags().iter().any(|f| f.username == "Fedora CI - rpmlint" && f.status == "success"));
}

#[tokio::test]
async fn koji_down_for_two_passes_builds_on_the_third_exactly_once() {
    let h = Harness::with_env(&[NO_GRACE, ("FEDORA_CI_RETRY_BACKOFF_MINUTES", "0,0,0,0,0")]).await;
    h.koji.set_down(true);
    open_pr(&h).await;
    let poller = h.serve("result-poller", result_poller::routes).await;
    for _ in 0..2 {
        let summary = pass(&poller).await;
        assert_eq!(summary["retried"], 1, "{summary}");
        assert!(h.koji.builds().is_empty());
    }
    h.koji.set_down(false);
    let summary = pass(&poller).await;
    assert_eq!(summary["retried"], 1, "{summary}");
    assert_eq!(h.koji.builds().len(), 1);
    let (status, retries): (String, i32) =
        sqlx::query_as("SELECT status, retry_count FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!((status.as_str(), retries), ("pending", 4));
    pass(&poller).await;
    assert_eq!(h.koji.builds().len(), 1, "no second build after recovery");
    let flag = &h.pagure.flags()[0];
    assert!(flag.comment.starts_with("RPM build was submitted"), "{}", flag.comment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_passes_check_each_of_1000_rows_once() {
    let h = Harness::with_env(&[NO_GRACE]).await;
    sqlx::query(
        "INSERT INTO koji_build_targets (task_id, status, target, scratch, build_submitted_time, data) \
         SELECT (900000 + g)::text, 'pending', 'rawhide', true, now() - interval '1 hour', \
                jsonb_build_object('src', 'git+x#y', 'namespace', 'rpms', 'repo', 'p' || g, 'pr_id', g, \
                  'commit_sha', md5(g::text) || 'abcdefgh', 'branch', 'rawhide', 'source_repo_path', 'rpms/p' || g, \
                  'trigger', 'test') \
         FROM generate_series(1, 1000) g",
    )
    .execute(&h.db.pool)
    .await
    .unwrap();
    let poller = h.serve("result-poller", result_poller::routes).await;
    let (a, b) = tokio::join!(pass(&poller), pass(&poller));
    assert_eq!(a["koji_checked"].as_u64().unwrap() + b["koji_checked"].as_u64().unwrap(), 1000, "{a} {b}");
    let mut asked = tasks_asked(&h);
    asked.sort();
    let before = asked.len();
    asked.dedup();
    assert_eq!((before, asked.len()), (1000, 1000), "every task asked about exactly once");
}

/// Every task id the poller asked Koji about, one entry per time asked.
fn tasks_asked(h: &Harness) -> Vec<i64> {
    h.koji
        .calls()
        .iter()
        .filter(|c| c.method == "getTaskInfo")
        .flat_map(|c| match &c.params[0] {
            fedora_ci::clients::koji::xmlrpc::Value::Array(ids) => {
                ids.iter().filter_map(|v| v.as_i64()).collect::<Vec<_>>()
            }
            v => v.as_i64().into_iter().collect(),
        })
        .collect()
}

#[tokio::test]
async fn a_build_that_cannot_be_applied_leaves_the_rest_of_its_batch_applied() {
    // 250 builds of one PR over three batches of a pass: most still running at Koji
    // (nothing to do), every tenth canceled there, every tenth recorded `pending`
    // though Koji runs it; one canceled build cannot be written (a trigger refuses it).
    const FIRST: i64 = 5_000_000;
    let h = Harness::with_env(&[NO_GRACE]).await;
    open_pr(&h).await;
    let template: i32 = sqlx::query_scalar("SELECT id FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    fedora_ci_tests::bench::reconcile::copy_pending_builds(&h.db.pool, &h.koji, template, FIRST, 249).await.unwrap();
    let canceled: Vec<i64> = (0..249).filter(|k| k % 10 == 0).map(|k| FIRST + k).collect();
    let pending: Vec<i64> = (0..249).filter(|k| k % 10 == 5).map(|k| FIRST + k).collect();
    for task in &canceled {
        h.koji.set_task_state(*task, KojiTaskState::Canceled);
    }
    let as_text = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>();
    sqlx::query("UPDATE koji_build_targets SET status = 'pending' WHERE task_id = ANY($1)")
        .bind(as_text(&pending))
        .execute(&h.db.pool)
        .await
        .unwrap();
    let broken = canceled[12];
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF OLD.task_id = '{broken}' AND NEW.status <> OLD.status THEN RAISE EXCEPTION 'refused'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER refuse_one BEFORE UPDATE ON koji_build_targets FOR EACH ROW EXECUTE FUNCTION refuse_one();"
    ))
    .execute(&h.db.pool)
    .await
    .unwrap();

    let poller = h.serve("result-poller", result_poller::routes).await;
    let summary = pass(&poller).await;
    assert_eq!((summary["koji_checked"].as_u64(), summary["errors"].as_u64()), (Some(250), Some(1)), "{summary}");
    let status_of = |tasks: Vec<String>| {
        let pool = h.db.pool.clone();
        async move {
            let statuses: Vec<String> =
                sqlx::query_scalar("SELECT DISTINCT status FROM koji_build_targets WHERE task_id = ANY($1)")
                    .bind(tasks)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            statuses
        }
    };
    let others: Vec<i64> = canceled.iter().copied().filter(|t| *t != broken).collect();
    assert_eq!(status_of(as_text(&others)).await, ["canceled"]);
    assert_eq!(status_of(as_text(&pending)).await, ["running"], "a pending build Koji runs is running");
    assert_eq!(status_of(vec![broken.to_string()]).await, ["running"], "the refused build is left as it was");
    let unanswered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM koji_build_targets WHERE upstream_checked_at IS NULL")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(unanswered, 0, "every build is stamped as answered by Koji");
    let mut asked = tasks_asked(&h);
    asked.sort();
    let before = asked.len();
    asked.dedup();
    assert_eq!((before, asked.len()), (250, 250), "every task asked about exactly once");

    // Once the database takes it, the next pass applies the refused build, and
    // asks again only about what is still running.
    sqlx::raw_sql("DROP TRIGGER refuse_one ON koji_build_targets").execute(&h.db.pool).await.unwrap();
    let summary = pass(&poller).await;
    assert_eq!((summary["koji_checked"].as_u64(), summary["errors"].as_u64()), (Some(226), Some(0)), "{summary}");
    assert_eq!(status_of(vec![broken.to_string()]).await, ["canceled"]);
}

#[tokio::test]
async fn stuck_jobs_time_out_with_a_flag_that_says_so() {
    let h = Harness::with_env(&[NO_GRACE, ("FEDORA_CI_JOB_TIMEOUT_SECONDS", "3600")]).await;
    open_pr(&h).await;
    sqlx::query("UPDATE koji_build_targets SET build_submitted_time = now() - interval '2 hours'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    let poller = h.serve("result-poller", result_poller::routes).await;
    let summary = pass(&poller).await;
    assert_eq!(summary["timed_out"], 1, "{summary}");
    let status: String =
        sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status, "error");
    let flag = &h.pagure.flags()[0];
    assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("error", "Timed out waiting for the build."));
}

#[tokio::test]
async fn the_binary_runs_passes_on_its_own_schedule() {
    let h = Harness::with_env(&[NO_GRACE]).await;
    open_pr(&h).await;
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, KojiTaskState::Open);
    let env: Vec<(String, String)> = h.env();
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let exe = fedora_ci_tests::stack::binary_path("result-poller");
    let mut child = tokio::process::Command::new(&exe)
        .args(["--schedule", "*/1 * * * * *"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PORT", fedora_ci::dev::testing::free_port().to_string())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Nobody posts to it: only its own schedule can move the build to running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: String =
            sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
        if status == "running" {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the poller exited");
        assert!(Instant::now() < deadline, "no scheduled pass within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
}
