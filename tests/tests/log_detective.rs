//! Log Detective end to end (issue #22): a failed scratch build is sent to the Log
//! Detective interface server sandbox, its result message comes back through
//! koji-finished, and the packager sees it on the PR's flags, the status page and
//! the api. Also the outage, loss, duplicate and opt-out paths.

use std::collections::BTreeMap;

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::{Fixture, binary_request};
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::{Harness, PUBLIC_URL};
use fedora_ci_tests::sandbox::log_detective::{Outcome, Published};
use fedora_ci_tests::story;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TASK: i64 = 45270170;
const SHA: &str = story::FIRST_SHA;
const PAGE: &str = "/pr/rpms/optee_os/2";

struct World {
    h: Harness,
    koji_finished: String,
}

/// Log Detective on, the sandbox hub's log server as `KOJI_PKGS_URL`, and the
/// recorded PR opened: its build is Koji task [`TASK`].
async fn world(extra: &[(&str, &str)]) -> World {
    let mut env = vec![("FEDORA_CI_LOG_DETECTIVE", "true"), ("FEDORA_CI_POLL_GRACE_SECONDS", "0")];
    env.extend_from_slice(extra);
    let mut h = Harness::with_env(&env).await;
    let pkgs = h.koji.pkgs_url();
    h.set_var("KOJI_PKGS_URL", &pkgs);
    h.koji.set_next_task_id(TASK);
    h.open_recorded_pr(pr_opened::routes).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    World { h, koji_finished }
}

/// Fails the build in the sandbox hub on `arches` and returns Koji's message for it.
fn fail_build(h: &Harness, arches: &[&str]) -> Fixture {
    h.koji.set_failing_arches(TASK, arches);
    h.koji.set_task_state(TASK, KojiTaskState::Failed);
    let mut f = story::task_message("org.fedoraproject.prod.", TASK, KojiTaskState::Failed, "packit");
    f.body["info"]["children"] = json!(h.koji.children_json(TASK));
    f
}

fn ld_flag(arch: &str) -> FlagKey {
    FlagKey::log_detective(Deployment::Prod, &story::recorded_pr(), "rawhide", arch, SHA)
}

/// (status, comment, url) of a flag as Pagure shows it.
fn flag(h: &Harness, key: &FlagKey) -> Option<(String, String, String)> {
    h.pagure.flags().into_iter().find(|f| f.uid == key.uid).map(|f| (f.status, f.comment, f.url))
}

fn flag_names(h: &Harness) -> Vec<String> {
    h.pagure.flags().into_iter().map(|f| f.username).collect()
}

async fn run_ids(h: &Harness) -> Vec<(i32, String)> {
    sqlx::query_as("SELECT id, arch FROM log_detective_run ORDER BY id").fetch_all(&h.db.pool).await.unwrap()
}

async fn poller_pass(h: &Harness) -> Value {
    let poller = h.serve("result-poller", result_poller::routes).await;
    let r = reqwest::Client::new().post(&poller).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn redeliver(url: &str, messages: &[Published]) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let f = Fixture { name: "ld".into(), topic: m.topic.clone(), body: m.body.clone() };
        let r = binary_request(&reqwest::Client::new(), url, &f, &format!("again-{i}")).send().await.unwrap();
        out.push(r.status());
    }
    out
}

#[tokio::test]
async fn a_build_failed_on_two_arches_is_explained_on_the_pr_the_status_page_and_the_api() {
    let w = world(&[]).await;
    let h = &w.h;
    let failed = fail_build(h, &["x86_64", "aarch64"]);
    let aarch64 = h.koji.child(TASK, "buildArch", "aarch64").unwrap();
    let x86_64 = h.koji.child(TASK, "buildArch", "x86_64").unwrap();
    // aarch64 failed while Mock set up the chroot: no build.log.
    h.koji.set_task_logs(aarch64, &["hw_info.log", "mock_config.log", "mock_output.log", "root.log", "state.log"]);
    let (status, body) = story::post(&w.koji_finished, &failed, "failed").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two requests (made at once, so in either order), with exactly the logs that
    // exist on the build's log server.
    let mut analyses = h.ld.analyses();
    analyses.sort_by_key(|a| a.body["target_build"].as_str().unwrap().parse::<i64>().unwrap());
    assert_eq!(analyses.len(), 2, "{analyses:?}");
    let pkgs = h.koji.pkgs_url();
    let log = |task: i64, name: &str| format!("{pkgs}/work/tasks/{}/{task}/{name}", task % 10000);
    for (analysis, task, names) in [
        (&analyses[0], x86_64, &["root.log", "mock_output.log", "build.log"][..]),
        (&analyses[1], aarch64, &["root.log", "mock_output.log"][..]),
    ] {
        let artifacts: BTreeMap<String, String> = names.iter().map(|n| ((*n).to_owned(), log(task, n))).collect();
        assert_eq!(analysis.body["artifacts"], json!(artifacts));
        assert_eq!(analysis.body["target_build"], task.to_string());
        assert_eq!(analysis.body["build_system"], "koji");
        assert_eq!(analysis.body["commit_sha"], SHA);
        assert_eq!(analysis.body["project_url"], format!("{}/rpms/optee_os", h.pagure.url));
        assert_eq!(analysis.body["pr_id"], 2);
        assert!(analysis.body["build_metadata"]["commentary"].as_str().unwrap().contains("Mock"));
    }
    // Every log named in a request really is served.
    for a in &analyses {
        for url in a.body["artifacts"].as_object().unwrap().values() {
            assert_eq!(reqwest::get(url.as_str().unwrap()).await.unwrap().status(), StatusCode::OK, "{url}");
        }
    }

    // One pending flag per arch, linking to the analysis on our status page.
    let runs = run_ids(h).await;
    assert_eq!(runs.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["x86_64", "aarch64"]);
    for (id, arch) in &runs {
        let (status, comment, url) = flag(h, &ld_flag(arch)).unwrap_or_else(|| panic!("no flag for {arch}"));
        assert_eq!(status, "pending");
        assert_eq!(comment, format!("Log Detective is analysing the {arch} build logs…"));
        assert_eq!(url, format!("{PUBLIC_URL}{PAGE}#log-detective-{id}"));
    }
    assert!(flag_names(h).contains(&"Fedora CI - Log Detective analysis (x86_64)".to_owned()));
    let build = flag(h, &FlagKey::build(Deployment::Prod, &story::recorded_pr(), "rawhide", SHA)).unwrap();
    assert_eq!(build.1, "RPM build failed for x86_64, aarch64.");

    // The two result messages arrive: success flags.
    assert_eq!(h.ld.release(&w.koji_finished).await, [StatusCode::OK, StatusCode::OK]);
    for (_, arch) in &runs {
        let (status, comment, _) = flag(h, &ld_flag(arch)).unwrap();
        assert_eq!((status.as_str(), comment), ("success", format!("Log Detective explained the {arch} failure.")));
    }
    // Delivered again (the bridge is at least once): nothing changes.
    let posts = h.pagure.flag_posts().len();
    assert_eq!(redeliver(&w.koji_finished, &h.ld.published()).await, [StatusCode::ACCEPTED, StatusCode::ACCEPTED]);
    assert_eq!(h.pagure.flag_posts().len(), posts);

    // The status page shows the explanation and the snippets, escaped.
    let api = h.serve("api", api::routes).await;
    let page = reqwest::get(format!("{}{PAGE}", api.trim_end_matches('/'))).await.unwrap().text().await.unwrap();
    for (id, arch) in &runs {
        assert!(page.contains(&format!("id=\"log-detective-{id}\"")), "{page}");
        assert!(page.contains(&format!("Log Detective: rawhide-{arch}")), "{page}");
    }
    assert!(page.contains(&format!("The build of task {x86_64} failed")), "{page}");
    assert!(page.contains("Fix the &lt;failing&gt; step."), "{page}");
    assert!(!page.contains("<failing>"), "unescaped text in {page}");
    assert!(page.contains("<code>build.log</code>") && page.contains("error: &lt;build.log&gt; reports"), "{page}");
    assert!(page.contains("<td data-label=\"Line\">30</td>"), "{page}");

    // The api: packit-service's Log Detective endpoints.
    let list: Value =
        reqwest::get(format!("{}/api/log-detective", api.trim_end_matches('/'))).await.unwrap().json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|r| r["status"] == "complete" && r["commit_sha"] == SHA), "{list:?}");
    assert_eq!(list[0]["chroot"], "rawhide-aarch64");
    assert_eq!(list[0]["target_build"], aarch64.to_string());
    assert_eq!(list[0]["log_detective_response"]["snippets"].as_array().unwrap().len(), 2);

    // Metrics: started, finished by status, duration.
    let metrics = fedora_ci::telemetry::metrics::render();
    assert!(metrics.contains("fedora_ci_log_detective_runs_started_total"), "{metrics}");
    assert!(metrics.contains("fedora_ci_log_detective_runs_finished_total{status=\"complete\"}"), "{metrics}");
    assert!(metrics.contains("fedora_ci_log_detective_run_duration_seconds_count{status=\"complete\"}"), "{metrics}");
}

#[tokio::test]
async fn an_error_result_ends_the_flag_in_error_with_the_reason() {
    let w = world(&[]).await;
    let h = &w.h;
    let reason = "Request to Log Detective API at https://logdetective.com/analyze failed with HTTP status error: \
                  Server error '500 Internal Server Error'";
    h.ld.set_outcome(Outcome::Error(reason.to_owned()));
    story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    assert_eq!(h.ld.analyses().len(), 1);
    assert_eq!(h.ld.release(&w.koji_finished).await, [StatusCode::OK]);
    let (status, comment, _) = flag(h, &ld_flag("x86_64")).unwrap();
    assert_eq!(status, "error");
    assert!(comment.starts_with("Log Detective analysis failed: Request to Log Detective API"), "{comment}");
    let (error_msg, stored): (Option<String>, String) =
        sqlx::query_as("SELECT error_msg, status FROM log_detective_run").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!((error_msg.as_deref(), stored.as_str()), (Some(reason), "error"));
    let api = h.serve("api", api::routes).await;
    let page = reqwest::get(format!("{}{PAGE}", api.trim_end_matches('/'))).await.unwrap().text().await.unwrap();
    assert!(page.contains("500 Internal Server Error"), "{page}");
}

#[tokio::test]
async fn log_detective_down_is_retried_with_the_submission_backoff_then_up() {
    let w = world(&[]).await;
    let h = &w.h;
    h.ld.faults.set_down(true);
    let (status, _) = story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.ld.analyses().is_empty());
    let (status, comment, _) = flag(h, &ld_flag("x86_64")).unwrap();
    assert_eq!(
        (status.as_str(), comment.as_str()),
        ("pending", "Log Detective is unavailable. The analysis will be retried in 1 minute.")
    );
    // A result for this subtask before our request's answer is recorded (it can
    // overtake it): 503, so the Broker redelivers it rather than dropping it.
    let x86_64 = h.koji.child(TASK, "buildArch", "x86_64").unwrap();
    let mut early = Fixture::load_from("log-detective", "logdetective_analysis_complete.json");
    early.body["target_build"] = x86_64.to_string().into();
    assert_eq!(story::post(&w.koji_finished, &early, "early").await.0, StatusCode::SERVICE_UNAVAILABLE);
    // A pass before the retry is due does nothing.
    poller_pass(h).await;
    assert!(h.ld.analyses().is_empty());
    // The minute has passed, Log Detective is back: the poller requests it.
    h.ld.faults.set_down(false);
    sqlx::query("UPDATE log_detective_run SET next_attempt_at = now() - interval '1 second'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    let summary = poller_pass(h).await;
    assert_eq!(summary["retried"], 1, "{summary}");
    assert_eq!(h.ld.analyses().len(), 1);
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "pending");
    assert_eq!(h.ld.release(&w.koji_finished).await, [StatusCode::OK]);
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "success");
}

#[tokio::test]
async fn log_detective_down_past_the_last_retry_ends_in_error_not_pending() {
    let w = world(&[("FEDORA_CI_RETRY_BACKOFF_MINUTES", "1")]).await;
    let h = &w.h;
    h.ld.faults.set_down(true);
    story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "pending");
    sqlx::query("UPDATE log_detective_run SET next_attempt_at = now() - interval '1 second'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    poller_pass(h).await;
    let (status, comment, _) = flag(h, &ld_flag("x86_64")).unwrap();
    assert_eq!((status.as_str(), comment.as_str()), ("error", "Log Detective could not be reached."));
    // Nothing left for a later pass.
    sqlx::query("UPDATE log_detective_run SET next_attempt_at = now() - interval '1 second'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    h.ld.faults.set_down(false);
    poller_pass(h).await;
    assert!(h.ld.analyses().is_empty());
}

#[tokio::test]
async fn a_lost_result_times_the_run_out_neutral_and_a_late_one_changes_nothing() {
    let w = world(&[("FEDORA_CI_LOG_DETECTIVE_TIMEOUT_SECONDS", "120")]).await;
    let h = &w.h;
    story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    assert_eq!(h.ld.analyses().len(), 1);
    let late = h.ld.held();
    assert_eq!(h.ld.lose_held(), 1);
    // Within the limit the poller leaves it pending.
    poller_pass(h).await;
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "pending");
    // Past it (the interface server has no endpoint to ask): neutral, saying so.
    sqlx::query("UPDATE log_detective_run SET requested_time = now() - interval '121 seconds'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    let summary = poller_pass(h).await;
    assert_eq!(summary["timed_out"], 1, "{summary}");
    let (status, comment, _) = flag(h, &ld_flag("x86_64")).unwrap();
    assert_eq!((status.as_str(), comment.as_str()), ("canceled", "Log Detective sent no result within 2 minutes."));
    let stored: String =
        sqlx::query_scalar("SELECT status FROM log_detective_run").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(stored, "unknown");
    // The result turns up after all: forward only, nothing changes.
    assert_eq!(redeliver(&w.koji_finished, &late).await, [StatusCode::ACCEPTED]);
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_duplicate_deliveries_make_one_request_per_arch() {
    let w = world(&[]).await;
    let h = &w.h;
    let failed = fail_build(h, &["x86_64", "aarch64"]);
    let client = reqwest::Client::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..10 {
        sends.spawn(binary_request(&client, &w.koji_finished, &failed, &format!("copy-{i}")).send());
    }
    while let Some(r) = sends.join_next().await {
        assert!(r.unwrap().unwrap().status().is_success());
    }
    let analyses = h.ld.analyses();
    assert_eq!(analyses.len(), 2, "{analyses:?}");
    let mut targets: Vec<&str> = analyses.iter().map(|a| a.body["target_build"].as_str().unwrap()).collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 2);
    let groups: i64 =
        sqlx::query_scalar("SELECT count(*) FROM log_detective_run_groups").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(groups, 1);
    assert_eq!(run_ids(h).await.len(), 2);
    // The poller finds nothing left to request.
    poller_pass(h).await;
    assert_eq!(h.ld.analyses().len(), 2);
}

#[tokio::test]
async fn opted_out_packages_and_a_switched_off_service_send_nothing() {
    // The package's `.fedora-ci.yaml` says no.
    let h = Harness::with_env(&[("FEDORA_CI_LOG_DETECTIVE", "true")]).await;
    h.pagure.add_file(story::SOURCE_REPO, SHA, ".fedora-ci.yaml", "log_detective: false\n");
    h.koji.set_next_task_id(TASK);
    h.open_recorded_pr(pr_opened::routes).await;
    let kf = h.serve("koji-finished", koji_finished::routes).await;
    let (status, _) = story::post(&kf, &fail_build(&h, &["x86_64"]), "failed").await;
    assert_eq!(status, StatusCode::OK);
    // The deny list.
    let denied = Harness::with_env(&[
        ("FEDORA_CI_LOG_DETECTIVE", "true"),
        ("FEDORA_CI_LOG_DETECTIVE_DENY_LIST", "rpms/optee_os"),
    ])
    .await;
    // The global switch (off by default).
    let off = Harness::start().await;
    for h in [&denied, &off] {
        h.koji.set_next_task_id(TASK);
        h.open_recorded_pr(pr_opened::routes).await;
        let kf = h.serve("koji-finished", koji_finished::routes).await;
        let (status, _) = story::post(&kf, &fail_build(h, &["x86_64"]), "failed").await;
        assert_eq!(status, StatusCode::OK);
    }
    for h in [&h, &denied, &off] {
        assert_eq!(
            flag(h, &FlagKey::build(Deployment::Prod, &story::recorded_pr(), "rawhide", SHA)).unwrap().0,
            "failure"
        );
        assert!(h.ld.analyses().is_empty() && h.ld.refused().is_empty());
        assert!(!flag_names(h).iter().any(|n| n.contains("Log Detective")), "{:?}", flag_names(h));
        assert!(run_ids(h).await.is_empty());
    }
}

#[tokio::test]
async fn a_canceled_build_and_an_srpm_failure_are_not_analysed() {
    let w = world(&[]).await;
    // Only the SRPM step failed: no buildArch logs to explain.
    let mut srpm = fail_build(&w.h, &[]);
    srpm.body["info"]["children"][0]["state"] = 5.into();
    let (status, _) = story::post(&w.koji_finished, &srpm, "failed").await;
    assert_eq!(status, StatusCode::OK);
    assert!(w.h.ld.analyses().is_empty());

    let w = world(&[]).await;
    let mut canceled = fail_build(&w.h, &["x86_64"]);
    // The hub agrees (koji-finished follows the hub's final state, not the message's).
    w.h.koji.set_task_state(TASK, KojiTaskState::Canceled);
    canceled.body["new"] = "CANCELED".into();
    canceled.body["info"]["state"] = 3.into();
    story::post(&w.koji_finished, &canceled, "canceled").await;
    assert!(w.h.ld.analyses().is_empty());
}

#[tokio::test]
async fn analyses_that_are_not_ours_are_answered_2xx_and_ignored() {
    let w = world(&[]).await;
    let posts = w.h.pagure.flag_posts().len();
    for name in ["logdetective_analysis_complete.json", "logdetective_analysis_error.json"] {
        let f = Fixture::load_from("log-detective", name);
        let (status, answer) = story::post(&w.koji_finished, &f, name).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["status"], "ignored", "{answer}");
        // A Copr analysis is never ours.
        let mut copr = f.clone();
        copr.body["build_system"] = "copr".into();
        assert_eq!(story::post(&w.koji_finished, &copr, "copr").await.0, StatusCode::ACCEPTED);
        // A body without the schema's required fields is refused.
        let mut broken = f.clone();
        broken.body.as_object_mut().unwrap().remove("log_detective_analysis_id");
        assert_eq!(story::post(&w.koji_finished, &broken, "broken").await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(w.h.pagure.flag_posts().len(), posts);
}

#[tokio::test]
async fn a_refused_request_ends_the_flag_in_error_without_retries() {
    let w = world(&[("LOG_DETECTIVE_TOKEN", "not-the-token")]).await;
    let h = &w.h;
    story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    assert_eq!(h.ld.refused(), [401]);
    let (status, comment, _) = flag(h, &ld_flag("x86_64")).unwrap();
    assert_eq!(status, "error");
    assert_eq!(comment, "Log Detective refused the request (HTTP 401): Invalid or missing token.");
    poller_pass(h).await;
    assert_eq!(h.ld.refused(), [401]);
}

/// The sandbox is as strict as logdetective-packit's `/analyze` (FastAPI 0.121,
/// pydantic 2): the bearer token first, then the `BuildInfo` model, then the token value.
#[tokio::test]
async fn the_sandbox_refuses_what_the_interface_server_refuses() {
    let h = Harness::start().await;
    let url = format!("{}/analyze", h.ld.url);
    let good = json!({
        "artifacts": {"build.log": "https://kojipkgs.example/work/tasks/1/1/build.log"},
        "target_build": "1", "build_system": "koji", "pr_id": 2,
        "build_metadata": {"commentary": "c"},
    });
    let client = reqwest::Client::new();
    let send = |auth: Option<&str>, body: Value| {
        let mut r = client.post(&url).json(&body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let r = send(None, good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"detail": "Not authenticated"}));
    assert_eq!(send(Some("Basic abc"), good.clone()).await.unwrap().status(), StatusCode::FORBIDDEN);
    let bearer = format!("Bearer {}", h.ld.token);
    // No token and a bad body: the 403 comes first, as FastAPI solves the security dependency first.
    assert_eq!(send(None, json!({})).await.unwrap().status(), StatusCode::FORBIDDEN);
    for bad in [
        json!({"target_build": "1", "build_system": "koji"}),
        json!({"artifacts": {}, "target_build": "1", "build_system": "koji"}),
        json!({"artifacts": {"a": "u"}, "target_build": 1, "build_system": "koji"}),
        json!({"artifacts": {"a": "u"}, "target_build": "1"}),
        json!({"artifacts": {"a": 3}, "target_build": "1", "build_system": "koji"}),
        json!({"artifacts": {"a": "u"}, "target_build": "1", "build_system": "koji", "pr_id": "two"}),
        json!(["not", "an", "object"]),
    ] {
        let r = send(Some(&bearer), bad.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.json::<Value>().await.unwrap()["detail"][0]["loc"][0] == "body", "{bad}");
    }
    let r = send(Some("Bearer wrong"), good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = send(Some(&bearer), good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["log_detective_analysis_id"].as_str().unwrap().len(), 36);
    assert!(answer["creation_time"].as_str().unwrap().ends_with('Z'));
    // Its message follows the LogDetectiveMessage schema and our parser reads it.
    let held = h.ld.held();
    assert_eq!(held[0].topic, "org.fedoraproject.prod.logdetective.analysis");
    let parsed =
        fedora_ci::messages::log_detective::AnalysisResult::parse(&serde_json::to_vec(&held[0].body).unwrap()).unwrap();
    assert_eq!(parsed.log_detective_analysis_id, answer["log_detective_analysis_id"].as_str().unwrap());
    assert_eq!(parsed.result(), "complete");
    for field in ["status", "target_build", "build_system", "log_detective_analysis_id", "log_detective_analysis_start"]
    {
        assert!(held[0].body.get(field).is_some(), "{field}");
    }
}

/// The whole way back, as in production: the sandbox publishes its results on a
/// real RabbitMQ (as fedora-messaging does), the bridge with its default topics and
/// promotion rules turns them into CloudEvents for koji-finished, and the flags
/// end green. A result may overtake our record of its request (the sandbox
/// publishes as soon as it answered): koji-finished answers 503 until the record
/// is there and the bridge redelivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn results_come_back_over_the_broker_through_the_bridge() {
    let amqp = fedora_ci::dev::amqp::amqp_url().await.expect("a RabbitMQ for this test");
    // A prefix of its own, so no other test's messages reach this queue.
    let prefix = format!("org.fedoraproject.ldtest{}.", std::process::id());
    let ld = fedora_ci_tests::sandbox::log_detective::LogDetectiveSandbox::start(&prefix).await;
    let mut w = world(&[("FEDORA_CI_LOG_DETECTIVE_URL", &ld.url)]).await;
    // koji-finished under that prefix (the PR was opened under prod's).
    w.h.set_var("FEDORA_CI_TOPIC_PREFIX", &prefix);
    w.koji_finished = w.h.serve("koji-finished", koji_finished::routes).await;
    let h = &w.h;
    let settings =
        fedora_ci::config::amqp::AmqpSettings::from_source(&|k: &str| (k == "AMQP_URL").then(|| amqp.clone()))
            .unwrap()
            .unwrap();
    ld.set_sink(fedora_ci_tests::sandbox::log_detective::Sink::Amqp(std::sync::Arc::new(
        fedora_ci::clients::bus::Bus::new(settings, "amq.topic".to_owned()),
    )));

    // The bridge, in this process, with its defaults for this prefix.
    let port = fedora_ci::dev::testing::free_port();
    let env: BTreeMap<&str, String> = BTreeMap::from([
        ("AMQP_URL", amqp.clone()),
        ("FEDORA_MESSAGING_QUEUE", format!("fedora-ci-ldtest-{}", uuid_like())),
        ("FEDORA_CI_TOPIC_PREFIX", prefix.clone()),
        ("K_SINK", w.koji_finished.clone()),
        ("FEDMSG_BRIDGE_RETRY_INITIAL_MS", "50".to_owned()),
        ("FEDMSG_BRIDGE_RETRY_MAX_SECONDS", "1".to_owned()),
        // The local broker lets guest create the queue (Fedora's has it made by infra).
        ("FEDMSG_BRIDGE_DECLARE", "create".to_owned()),
        ("PORT", port.to_string()),
    ]);
    let config = fedmsg_bridge::config::BridgeConfig::from_source(&move |k: &str| env.get(k).cloned()).unwrap();
    assert!(config.topics.contains(&format!("{prefix}logdetective.analysis")), "{:?}", config.topics);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(fedmsg_bridge::run(config, async move {
        let _ = stopped.await;
    }));
    wait_until("the bridge consumes", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.is_ok_and(|r| r.status().is_success())
    })
    .await;

    let mut failed = fail_build(h, &["x86_64", "aarch64"]);
    failed.topic = format!("{prefix}buildsys.task.state.change");
    assert_eq!(story::post(&w.koji_finished, &failed, "failed").await.0, StatusCode::OK);
    assert_eq!(ld.analyses().len(), 2);
    wait_until("both analyses' flags are green", || async {
        ["x86_64", "aarch64"].iter().all(|arch| flag(h, &ld_flag(arch)).is_some_and(|f| f.0 == "success"))
    })
    .await;
    assert_eq!(ld.published().len(), 2);
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT status FROM log_detective_run ORDER BY id").fetch_all(&h.db.pool).await.unwrap();
    assert_eq!(stored, ["complete", "complete"]);
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), bridge).await;
}

fn uuid_like() -> String {
    format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// Polls an observable condition (what the PR shows) until it holds, for at most a minute.
async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !condition().await {
        assert!(std::time::Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Koji's FAILED message lost: the poller's `getTaskInfo` repairs the build by the
/// same code path, and that path sends the failed arches to Log Detective too.
#[tokio::test]
async fn a_lost_failed_message_is_repaired_by_the_poller_and_still_analysed() {
    let w = world(&[]).await;
    let h = &w.h;
    fail_build(h, &["x86_64", "aarch64"]);
    let summary = poller_pass(h).await;
    assert_eq!(summary["koji_checked"], 1, "{summary}");
    let analyses = h.ld.analyses();
    assert_eq!(analyses.len(), 2, "{analyses:?}");
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(flag(h, &ld_flag(arch)).unwrap().0, "pending");
    }
    assert_eq!(h.ld.release(&w.koji_finished).await, [StatusCode::OK, StatusCode::OK]);
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(flag(h, &ld_flag(arch)).unwrap().0, "success");
    }
}

/// The function died between recording the runs and asking Log Detective (no
/// answer recorded, no retry scheduled): after the grace period the poller asks.
#[tokio::test]
async fn a_request_whose_sender_died_is_made_by_the_poller() {
    let w = world(&[("FEDORA_CI_POLL_GRACE_SECONDS", "600")]).await;
    let h = &w.h;
    h.ld.faults.set_down(true);
    story::post(&w.koji_finished, &fail_build(h, &["x86_64"]), "failed").await;
    h.ld.faults.set_down(false);
    // What a crash right after the commit leaves: the run, no attempt made.
    sqlx::query("UPDATE log_detective_run SET next_attempt_at = NULL, retry_count = 0")
        .execute(&h.db.pool)
        .await
        .unwrap();
    poller_pass(h).await;
    assert!(h.ld.analyses().is_empty(), "asked within the grace period");
    sqlx::query("UPDATE log_detective_run SET submitted_time = now() - interval '601 seconds'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    poller_pass(h).await;
    assert_eq!(h.ld.analyses().len(), 1);
    assert_eq!(h.ld.release(&w.koji_finished).await, [StatusCode::OK]);
    assert_eq!(flag(h, &ld_flag("x86_64")).unwrap().0, "success");
}
