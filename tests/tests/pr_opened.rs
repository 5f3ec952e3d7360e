//! pr-opened end to end: the real router over HTTP, a real Postgres, and the Koji,
//! Pagure, FASJSON and ELN-list sandboxes speaking their real protocols.

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::{Fixture, binary_request, structured_request};
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm_async;
use reqwest::StatusCode;
use serde_json::Value;

const NEW_SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
const COMMENT_SHA: &str = "beaf90bcecc51968a46663f8d6f092bfdc92e682";

async fn start(h: &Harness) -> String {
    h.pagure.set_branches("rpms/optee_os", &["rawhide", "f43"]);
    h.pagure.set_branches("rpms/python-teamcity-messages", &["rawhide"]);
    h.fas.set_groups("mjones", &["packager", "fedora-contributor"]);
    h.serve("pr-opened", pr_opened::routes).await
}

/// A recorded comment on `python-teamcity-messages` #36, whose PR targets the test
/// branch `test-koji-downstream`; moved to rawhide, where ELN applies and where
/// commands build (a command acts on the PR's own branch since issue #19).
fn on_rawhide(name: &str) -> Fixture {
    let mut f = Fixture::load(name);
    f.body["pullrequest"]["branch"] = "rawhide".into();
    f
}

fn teamcity_pr() -> fedora_ci::clients::forge::PrId {
    fedora_ci::clients::forge::PrId::pagure("rpms", "python-teamcity-messages", 36)
}

async fn post(url: &str, fixture: &Fixture, id: &str) -> (StatusCode, Value) {
    let r = binary_request(&reqwest::Client::new(), url, fixture, id).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn count(h: &Harness, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&h.db.pool).await.unwrap()
}

#[tokio::test]
async fn a_pr_from_a_fork_gets_one_scratch_build_rows_and_a_pending_flag() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let (status, body) = post(&url, &Fixture::load("pagure_pr_new.json"), "msg-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let builds = h.koji.builds();
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0].src(), format!("git+{}/forks/zwhite/rpms/optee_os.git#{NEW_SHA}", h.pagure.url));
    assert_eq!(builds[0].target(), "rawhide");
    assert!(builds[0].scratch());
    let task_id = builds[0].task_id;

    let (ns, repo, url_col): (String, String, String) =
        sqlx::query_as("SELECT namespace, repo_name, project_url FROM git_projects")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!((ns.as_str(), repo.as_str()), ("rpms", "optee_os"));
    assert_eq!(url_col, format!("{}/rpms/optee_os", h.pagure.url));
    let pr_id: i64 = sqlx::query_scalar("SELECT pr_id FROM pull_requests").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(pr_id, 2);
    let (kind, sha): (String, String) =
        sqlx::query_as("SELECT type, commit_sha FROM project_events").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!((kind.as_str(), sha.as_str()), ("pull_request", NEW_SHA));
    let (status, scratch, target, web_url, task): (String, bool, String, String, String) = sqlx::query_as(
        "SELECT k.status, k.scratch, k.target, k.web_url, k.task_id FROM koji_build_targets k \
         JOIN koji_build_groups g ON g.id = k.koji_build_group_id \
         JOIN pipelines p ON p.koji_build_group_id = g.id JOIN project_events e ON e.id = p.project_event_id",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), scratch, target.as_str()), ("pending", true, "rawhide"));
    assert_eq!(task, task_id.to_string());
    assert_eq!(web_url, format!("{}/taskinfo?taskID={task_id}", h.koji.web_url()));

    let flags = h.pagure.flag_posts();
    assert_eq!(flags.len(), 1, "{flags:?}");
    let key = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", NEW_SHA);
    assert_eq!(flags[0].pr, "rpms/optee_os#2");
    assert_eq!(flags[0].uid, key.uid);
    assert_eq!(flags[0].username, "Fedora CI - scratch build");
    assert_eq!(flags[0].status, "pending");
    assert_eq!(flags[0].url, web_url);
    assert!(flags[0].comment.starts_with("RPM build was submitted"), "{}", flags[0].comment);

    // The same message again: nothing new anywhere.
    let (status, body) = post(&url, &Fixture::load("pagure_pr_new.json"), "msg-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["status"], "duplicate");
    assert_eq!(h.koji.builds().len(), 1);
    assert_eq!(h.pagure.flag_posts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_copies_build_once_and_flag_once() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let client = reqwest::Client::new();
    let fixture = Fixture::load("pagure_pr_new.json");
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..10 {
        // Half binary, half structured: the mode must not matter.
        let request = if i % 2 == 0 {
            binary_request(&client, &url, &fixture, "same")
        } else {
            structured_request(&client, &url, &fixture, "same")
        };
        sends.spawn(request.send());
    }
    while let Some(r) = sends.join_next().await {
        assert!(r.unwrap().unwrap().status().is_success());
    }
    assert_eq!(h.koji.builds().len(), 1);
    assert_eq!(h.pagure.flag_posts().len(), 1);
    assert_eq!(count(&h, "koji_build_targets").await, 1);
}

#[tokio::test]
async fn the_same_head_announced_by_two_messages_builds_once() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let fixture = Fixture::load("pagure_pr_new.json");
    post(&url, &fixture, "a").await;
    let mut rebased = fixture.clone();
    rebased.topic = "org.fedoraproject.prod.pagure.pull-request.rebased".into();
    let (status, body) = post(&url, &rebased, "b").await;
    assert!(status.is_success(), "{body}");
    assert_eq!(h.koji.builds().len(), 1);
}

#[tokio::test]
async fn eln_packages_without_an_eln_branch_also_build_for_eln() {
    let h = Harness::start().await;
    let url = start(&h).await;
    // python-teamcity-messages is in the (sandbox) ELN extras list.
    let mut fixture = Fixture::load("pagure_pr_new.json");
    fixture.body["pullrequest"]["project"]["name"] = "python-teamcity-messages".into();
    fixture.body["pullrequest"]["project"]["fullname"] = "rpms/python-teamcity-messages".into();
    post(&url, &fixture, "eln-1").await;
    let mut targets: Vec<String> = h.koji.builds().iter().map(|b| b.target().to_owned()).collect();
    targets.sort();
    assert_eq!(targets, ["eln", "rawhide"]);
    let names: Vec<String> = h.pagure.flags().into_iter().map(|f| f.username).collect();
    assert!(names.contains(&"Fedora CI - scratch build (eln)".to_owned()), "{names:?}");

    // With its own eln branch, ELN builds from that branch instead.
    h.pagure.set_branches("rpms/python-teamcity-messages", &["rawhide", "eln"]);
    fixture.body["pullrequest"]["commit_stop"] = "1111111111111111111111111111111111111111".into();
    post(&url, &fixture, "eln-2").await;
    assert_eq!(
        h.koji.builds().iter().filter(|b| b.src().ends_with("#1111111111111111111111111111111111111111")).count(),
        1
    );
}

#[tokio::test]
async fn eln_deny_list_wins() {
    let h = Harness::with_env(&[("FEDORA_CI_ELN_DENY_LIST", "rpms/python-teamcity-messages")]).await;
    let url = start(&h).await;
    let mut fixture = Fixture::load("pagure_pr_new.json");
    fixture.body["pullrequest"]["project"]["name"] = "python-teamcity-messages".into();
    fixture.body["pullrequest"]["project"]["fullname"] = "rpms/python-teamcity-messages".into();
    post(&url, &fixture, "deny-eln").await;
    assert_eq!(h.koji.builds().iter().map(|b| b.target().to_owned()).collect::<Vec<_>>(), ["rawhide"]);
}

#[tokio::test]
async fn branches_resolve_their_build_target_on_the_hub() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let mut fixture = Fixture::load("pagure_pr_updated.json");
    fixture.body["pullrequest"]["branch"] = "f43".into();
    let (status, body) = post(&url, &fixture, "f43").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.koji.builds().iter().map(|b| b.target().to_owned()).collect::<Vec<_>>(), ["f43-candidate"]);
    assert!(h.koji.calls().iter().any(|c| c.method == "getBuildTarget"));

    // A branch without a build target (the fixture's f40 is gone from the hub).
    let (status, body) = post(&url, &Fixture::load("pagure_pr_updated.json"), "f40").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("no Koji build target"), "{body}");
    assert_eq!(h.koji.builds().len(), 1);
}

#[tokio::test]
async fn an_update_cancels_the_running_build_of_the_old_commit() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let mut fixture = Fixture::load("pagure_pr_new.json");
    post(&url, &fixture, "v1").await;
    let old_task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(old_task, KojiTaskState::Open);

    fixture.topic = "org.fedoraproject.prod.pagure.pull-request.updated".into();
    fixture.body["pullrequest"]["commit_stop"] = "2222222222222222222222222222222222222222".into();
    let (status, body) = post(&url, &fixture, "v2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.koji.builds().len(), 2);
    assert_eq!(h.koji.task_state(old_task), Some(KojiTaskState::Canceled));
    let old_status: String = sqlx::query_scalar("SELECT status FROM koji_build_targets WHERE task_id = $1")
        .bind(old_task.to_string())
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(old_status, "canceled");
    let old_key = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", NEW_SHA);
    let old_flag = h.pagure.flags().into_iter().find(|f| f.uid == old_key.uid).unwrap();
    assert_eq!(old_flag.status, "canceled");
    // What the PR shows (Pagure's read-back: the flags of its new head): the new
    // commit's build, pending. (The superseded build's `canceled` flag is posted
    // after the push, so Pagure stores it on the new head too; what to post for
    // superseded commits is the PR-shapes issue's to decide.)
    let head = "2222222222222222222222222222222222222222";
    let shown = h.pagure.shown("rpms/optee_os", 2);
    assert!(shown.iter().all(|f| f.commit == head), "{shown:?}");
    let new_key = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", head);
    let new_flag = shown.iter().find(|f| f.uid == new_key.uid).expect("the new build's flag shows");
    assert_eq!((new_flag.username.as_str(), new_flag.status.as_str()), ("Fedora CI - scratch build", "pending"));
}

#[tokio::test]
async fn koji_down_records_a_retry_and_recovery_builds_exactly_once() {
    let h = Harness::start().await;
    let url = start(&h).await;
    h.koji.set_down(true);
    let (status, body) = post(&url, &Fixture::load("pagure_pr_new.json"), "down-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h.koji.builds().is_empty());
    let (status, retries, next_in): (String, i32, f64) = sqlx::query_as(
        "SELECT status, retry_count, EXTRACT(EPOCH FROM next_attempt_at - now())::float8 FROM koji_build_targets",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), retries), ("retry", 1));
    assert!((30.0..=61.0).contains(&next_in), "next attempt in {next_in} s");
    let flag = &h.pagure.flags()[0];
    assert_eq!(flag.status, "pending");
    assert_eq!(flag.comment, "Failed to submit the build. The task will be retried in 1 minute.");

    // Knative redelivers the same event: no second row, no build.
    post(&url, &Fixture::load("pagure_pr_new.json"), "down-1").await;
    assert_eq!(count(&h, "koji_build_targets").await, 1);

    // Koji is back; the retry (what the poller runs) submits once.
    h.koji.set_down(false);
    let ctx = h.context("result-poller");
    let mut conn = h.db.pool.acquire().await.unwrap();
    let id: i32 = sqlx::query_scalar("SELECT id FROM koji_build_targets").fetch_one(&mut *conn).await.unwrap();
    let row = fedora_ci::store::builds::get(&mut conn, id).await.unwrap().unwrap();
    let (submitted, changed) = fedora_ci::dispatch::submit::submit_build(&ctx, &row).await.unwrap();
    assert!(matches!(submitted, fedora_ci::dispatch::submit::Submitted::Task(_)), "{submitted:?}");
    fedora_ci::dispatch::reporting::flush_flags(&h.db.pool, &ctx.clients.forges, Some(&changed)).await.unwrap();
    assert_eq!(h.koji.builds().len(), 1);
    let flag = h.pagure.flags().into_iter().find(|f| f.uid == changed[0]).unwrap();
    assert_eq!(flag.status, "pending");
    assert!(flag.comment.starts_with("RPM build was submitted"));
}

#[tokio::test]
async fn retries_run_out_into_an_error_flag() {
    let h = Harness::with_env(&[("FEDORA_CI_RETRY_BACKOFF_MINUTES", "1")]).await;
    let url = start(&h).await;
    h.koji.set_down(true);
    post(&url, &Fixture::load("pagure_pr_new.json"), "x").await;
    let ctx = h.context("result-poller");
    let mut conn = h.db.pool.acquire().await.unwrap();
    let id: i32 = sqlx::query_scalar("SELECT id FROM koji_build_targets").fetch_one(&mut *conn).await.unwrap();
    let row = fedora_ci::store::builds::get(&mut conn, id).await.unwrap().unwrap();
    let (submitted, changed) = fedora_ci::dispatch::submit::submit_build(&ctx, &row).await.unwrap();
    assert!(matches!(submitted, fedora_ci::dispatch::submit::Submitted::Failed(_)));
    fedora_ci::dispatch::reporting::flush_flags(&h.db.pool, &ctx.clients.forges, Some(&changed)).await.unwrap();
    let flag = h.pagure.flags().into_iter().find(|f| f.uid == changed[0]).unwrap();
    // The hub's reason, not a bare "Submit of the build failed." (#20).
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        (
            "error",
            "Koji did not take the build after 2 attempts: the Koji hub did not answer (HTTP 503 Service Unavailable)."
        )
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status, "error");
}

/// The hub refusing our credentials (koji's `AuthError` class on `build`) is an
/// infrastructure error the flag owns up to, never a failure of the package.
#[tokio::test]
async fn a_refused_login_is_an_error_that_blames_the_service_not_the_package() {
    let h = Harness::start().await;
    let url = start(&h).await;
    h.koji.set_down(true);
    post(&url, &Fixture::load("pagure_pr_new.json"), "x").await;
    h.koji.set_down(false);
    let ctx = h.context("result-poller");
    ctx.clients.koji.login().await.unwrap();
    h.koji.fault_next(fedora_ci::clients::koji::Fault {
        code: fedora_ci::clients::koji::client::fault::AUTH_ERROR,
        message: "Invalid session or bad credentials".into(),
    });
    let mut conn = h.db.pool.acquire().await.unwrap();
    let id: i32 = sqlx::query_scalar("SELECT id FROM koji_build_targets").fetch_one(&mut *conn).await.unwrap();
    let row = fedora_ci::store::builds::get(&mut conn, id).await.unwrap().unwrap();
    let (submitted, changed) = fedora_ci::dispatch::submit::submit_build(&ctx, &row).await.unwrap();
    assert!(matches!(submitted, fedora_ci::dispatch::submit::Submitted::Failed(_)), "{submitted:?}");
    fedora_ci::dispatch::reporting::flush_flags(&h.db.pool, &ctx.clients.forges, Some(&changed)).await.unwrap();
    let flag = h.pagure.flags().into_iter().find(|f| f.uid == changed[0]).unwrap();
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        (
            "error",
            "Koji refused the CI service's login (not a problem of the package): Invalid session or bad credentials."
        )
    );
    assert!(h.koji.builds().is_empty());
}

#[tokio::test]
async fn help_is_answered_with_a_comment_and_nothing_is_built() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let (status, body) = post(&url, &Fixture::load("pagure_pr_comment_ci_help.json"), "help").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let comments = h.pagure.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].pr, "rpms/python-teamcity-messages#36");
    for needle in ["/packit-ci scratch-build", "/packit-ci test", "rpminspect", "license-validate", "packit.dev"] {
        assert!(comments[0].body.contains(needle), "{needle} missing: {}", comments[0].body);
    }
    assert!(h.koji.builds().is_empty());
    assert!(h.pagure.flag_posts().is_empty());
    // Redelivered: answered once.
    post(&url, &Fixture::load("pagure_pr_comment_ci_help.json"), "help").await;
    assert_eq!(h.pagure.comments().len(), 1);
}

#[test]
fn a_non_packager_is_refused_with_a_comment() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        h.fas.set_groups("mjones", &["fedora-contributor"]);
        let (status, body) = post(&url, &on_rawhide("pagure_pr_comment_ci_scratch_build_eln.json"), "np").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.pagure.comments()[0].body, "`mjones` is not a packager, retriggering is not allowed.");
        assert!(h.koji.builds().is_empty());
    });
}

#[test]
fn a_packager_can_ask_for_an_eln_scratch_build() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let (status, body) = post(&url, &on_rawhide("pagure_pr_comment_ci_scratch_build_eln.json"), "eln").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let builds = h.koji.builds();
        assert_eq!(builds.len(), 1);
        assert_eq!(builds[0].target(), "eln");
        assert_eq!(builds[0].src(), format!("git+{}/rpms/python-teamcity-messages.git#{COMMENT_SHA}", h.pagure.url));
        assert!(h.pagure.comments().is_empty(), "no noise: status goes through flags");
        assert_eq!(h.pagure.flags()[0].uid, FlagKey::build(Deployment::Prod, &teamcity_pr(), "eln", COMMENT_SHA).uid);
    });
}

#[test]
fn a_fasjson_blip_does_not_refuse_a_packager() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        h.fas.faults.fail_next(2);
        let (status, body) = post(&url, &on_rawhide("pagure_pr_comment_ci_scratch_build_eln.json"), "blip").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.koji.builds().len(), 1);
        // FASJSON down for good and nothing cached: 503, so the Broker redelivers.
        let h = Harness::start().await;
        let url = start(&h).await;
        h.fas.faults.set_down(true);
        let (status, _) = post(&url, &on_rawhide("pagure_pr_comment_ci_scratch_build_eln.json"), "down").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(count(&h, "processed_events").await, 0, "nothing may be recorded for a 503");
    });
}

/// FASJSON refusing our Kerberos login (401: here a valid ticket of the realm,
/// but FASJSON holds another service's keys, as after a keytab mix-up) is an
/// upstream failure, not an answer about the user: the command is neither run
/// nor refused, the event is answered 503 for redelivery, and the redelivered
/// event is acted on once FASJSON accepts us again. No packager is ever told
/// they are not one because our credentials were refused.
#[test]
fn refused_fasjson_credentials_leave_the_command_for_a_retry() {
    in_realm_async(async {
        let h = Harness::start().await;
        let realm = h.realm.as_ref().expect("in a test realm");
        let url = start(&h).await;
        h.fas.accept_tickets_for(realm.elsewhere_keytab());
        let command = on_rawhide("pagure_pr_comment_ci_scratch_build_eln.json");
        let (status, body) = post(&url, &command, "refused-login").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["reason"], "FASJSON unavailable, retry later");
        assert!(h.pagure.comments().is_empty(), "nobody is told they are not a packager");
        assert!(h.koji.builds().is_empty() && h.pagure.flags().is_empty());
        assert_eq!(count(&h, "processed_events").await, 0, "nothing may be recorded for a 503");
        assert!(h.fas.logins().is_empty());

        // FASJSON takes our tickets again: the redelivery builds.
        h.fas.accept_tickets_for(realm.service_keytab());
        let (status, body) = post(&url, &command, "refused-login").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.koji.builds().len(), 1);
        assert!(h.pagure.comments().is_empty());
        assert_eq!(h.fas.logins(), [realm.client_principal()], "logged in with the keytab, once");
    });
}

#[test]
fn test_command_without_a_build_builds_first_and_with_one_records_the_tests() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        post(&url, &on_rawhide("pagure_pr_comment_ci_test.json"), "t1").await;
        assert_eq!(h.koji.builds().len(), 1);
        let waiting: Vec<String> =
            sqlx::query_scalar("SELECT status FROM tft_test_run_targets").fetch_all(&h.db.pool).await.unwrap();
        assert_eq!(waiting, ["pending"; 5], "the tests wait for the build; nothing sent to Testing Farm");
        assert!(h.tf.requests().is_empty());

        sqlx::query("UPDATE koji_build_targets SET status = 'success'").execute(&h.db.pool).await.unwrap();
        let (status, body) = post(&url, &on_rawhide("pagure_pr_comment_ci_test.json"), "t2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.koji.builds().len(), 1, "no second build");
        let tests: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT test_name, target, status FROM tft_test_run_targets WHERE status <> 'pending' ORDER BY test_name",
        )
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
        let names: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
        // The PR has no tmt plans of its own: no `custom`, like the suite after a build.
        assert_eq!(names, ["installability", "license-validate", "rmdepcheck", "rpminspect", "rpmlint"]);
        assert!(tests.iter().all(|t| t.1 == "fedora-rawhide" && t.2 == "queued"), "{tests:?}");
        assert_eq!(h.tf.requests().len(), 5, "submitted to Testing Farm right away");
    });
}

#[tokio::test]
async fn comments_that_are_not_ours_change_nothing() {
    let h = Harness::start().await;
    let url = start(&h).await;
    // "/packit koji-build" is packit's, not Fedora CI's.
    let (status, _) = post(&url, &Fixture::load("pagure_pr_comment.json"), "c1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Our own bot's comment is never a command.
    let mut own = Fixture::load("pagure_pr_comment_ci_help.json");
    own.body["pullrequest"]["comments"][0]["user"]["name"] = "packit-ci".into();
    let (status, _) = post(&url, &own, "c2").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(h.pagure.comments().is_empty());
    assert!(h.koji.calls().is_empty());
}

#[tokio::test]
async fn projects_outside_the_policy_cause_no_outbound_call() {
    let h = Harness::with_env(&[("FEDORA_CI_DENY_LIST", "rpms/optee_os")]).await;
    let url = start(&h).await;
    for (name, id) in [("pagure_pr_new.json", "deny"), ("pagure_pr_new_no_fork.json", "pagure-io")] {
        let (status, _) = post(&url, &Fixture::load(name), id).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}");
    }
    assert!(h.koji.calls().is_empty());
    assert!(h.pagure.faults.requests().is_empty());
    assert!(h.fas.faults.requests().is_empty());
    assert_eq!(count(&h, "processed_events").await, 0);
}

#[tokio::test]
async fn a_tests_repository_pr_records_its_tests_without_a_build() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let mut fixture = Fixture::load("pagure_pr_new.json");
    fixture.body["pullrequest"]["project"]["namespace"] = "tests".into();
    fixture.body["pullrequest"]["project"]["fullname"] = "tests/optee_os".into();
    fixture.body["pullrequest"]["repo_from"]["fullname"] = "forks/zwhite/tests/optee_os".into();
    let (status, body) = post(&url, &fixture, "tests-ns").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h.koji.builds().is_empty());
    let (name, target): (String, String) =
        sqlx::query_as("SELECT test_name, target FROM tft_test_run_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!((name.as_str(), target.as_str()), ("custom", "fedora-rawhide"));
    let requests = h.tf.requests();
    assert_eq!(requests.len(), 1);
    let tmt = &requests[0].payload["test"]["tmt"];
    assert_eq!(tmt["url"], format!("{}/forks/zwhite/tests/optee_os.git", h.pagure.url));
    assert_eq!(tmt["ref"], NEW_SHA);
    assert!(requests[0].payload["environments"][0]["variables"].get("KOJI_TASK_ID").is_none());
}

/// Identifiers that cannot be Pagure's (#20): each hostile project name,
/// namespace, fork path, head commit and branch is answered 2xx and ignored;
/// nothing is written, built, flagged or fetched, since each would otherwise be
/// built into a Koji `src`, a tmt URL or a Pagure API path.
#[tokio::test]
async fn hostile_identifiers_are_answered_and_ignored() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let mut cases: Vec<(String, Fixture)> = Vec::new();
    let mut case = |what: String, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut f = Fixture::load("pagure_pr_new.json");
        edit(&mut f.body["pullrequest"]);
        cases.push((what, f));
    };
    for name in ["x'; DROP TABLE koji_build_targets; --", "..", "a#b", "a?b", "a/../../b", "optee os", "%2e%2e"] {
        case(format!("project name {name:?}"), &|pr| {
            pr["project"]["name"] = name.into();
            pr["project"]["fullname"] = format!("rpms/{name}").into();
        });
    }
    for ns in ["..", "rpms#", "rp?ms", "a.b"] {
        case(format!("namespace {ns:?}"), &|pr| {
            pr["project"]["namespace"] = ns.into();
            pr["project"]["fullname"] = format!("{ns}/optee_os").into();
        });
    }
    case("a fullname that is not namespace/name".into(), &|pr| pr["project"]["fullname"] = "rpms/bash".into());
    for fork in [
        "forks/../rpms/optee_os",
        "forks/zwhite/rpms/optee_os#x",
        "forks/zw?hite/rpms/optee_os",
        "forks/zwhite/rpms/a/b",
    ] {
        case(format!("fork {fork:?}"), &|pr| pr["repo_from"]["fullname"] = fork.into());
    }
    let long = "a".repeat(41);
    for sha in [
        "889f07a",
        "889F07AF35D27BBCAF9C535C17A63B974AA42EE3",
        "zz9f07af35d27bbcaf9c535c17a63b974aa42ee3",
        &long,
        "main#../x",
    ] {
        case(format!("commit {sha:?}"), &|pr| pr["commit_stop"] = sha.into());
    }
    for branch in ["raw..hide", "rawhide#x", "-rawhide", "raw hide", "rawhide?x"] {
        case(format!("branch {branch:?}"), &|pr| pr["branch"] = branch.into());
    }
    for (i, (what, fixture)) in cases.iter().enumerate() {
        let (status, body) = post(&url, fixture, &format!("hostile-{i}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{what}: {body}");
    }
    assert!(h.koji.calls().is_empty(), "no Koji call");
    assert!(h.pagure.faults.requests().is_empty(), "no Pagure request");
    assert!(h.pagure.flag_posts().is_empty());
    assert!(h.tf.requests().is_empty());
    assert_eq!(count(&h, "git_projects").await, 0);
    assert_eq!(count(&h, "koji_build_targets").await, 0);
    assert_eq!(count(&h, "pr_flags").await, 0);
    // The recorded PR itself is acted on.
    let (status, body) = post(&url, &Fixture::load("pagure_pr_new.json"), "recorded").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&h, "koji_build_targets").await, 1);
}

#[tokio::test]
async fn a_kerberos_failure_is_an_error_flag_and_a_retry() {
    let h = Harness::start().await;
    start(&h).await;
    let mut ctx = h.context("pr-opened");
    ctx.clients.koji = std::sync::Arc::new(fedora_ci::clients::koji::client::KojiClient::new(
        ctx.clients.http.clone(),
        ctx.config.koji.hub_url.clone(),
        ctx.config.koji.web_url.clone(),
        fedora_ci::clients::koji::client::Auth::StaticToken("a-token-the-hub-refuses".into()),
        None,
    ));
    let url = fedora_ci::dev::testing::serve_router(fedora_ci::runtime::app::app(ctx, pr_opened::routes)).await;
    let (status, body) = post(&url, &Fixture::load("pagure_pr_new.json"), "krb").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let flag = &h.pagure.flags()[0];
    assert_eq!(flag.status, "error");
    assert!(flag.comment.starts_with("Kerberos authentication error: "), "{}", flag.comment);
    assert!(flag.comment.ends_with("The task will be retried in 1 minute."), "{}", flag.comment);
    assert!(!flag.comment.contains("a-token-the-hub-refuses"), "secret in the flag: {}", flag.comment);
    let status: String =
        sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(status, "retry");
}

/// Records `status`/`comment` as the flag's desired state (what a function's
/// transaction does), committed.
async fn set_test_flag(h: &Harness, key: &FlagKey, status: fedora_ci::clients::check::FlagStatus, comment: &str) {
    let pr = fedora_ci::clients::forge::PrId::pagure("rpms", "optee_os", 2);
    let mut conn = h.db.pool.acquire().await.unwrap();
    fedora_ci::dispatch::reporting::set_flag(&mut conn, &pr, key, status, comment, "https://ci.example/run")
        .await
        .unwrap();
}

/// The fixture PR opened through pr-opened, and its rpmlint flag's desired state
/// recorded, not yet sent: the harness, a poller's context and the flag.
async fn pr_with_test_flag(
    status: fedora_ci::clients::check::FlagStatus,
    comment: &str,
) -> (Harness, fedora_ci::Context, FlagKey) {
    let h = Harness::start().await;
    let url = start(&h).await;
    assert_eq!(post(&url, &Fixture::load("pagure_pr_new.json"), "msg-1").await.0, StatusCode::OK);
    let ctx = h.context("result-poller");
    let pr = fedora_ci::clients::forge::PrId::pagure("rpms", "optee_os", 2);
    let key = FlagKey::test(Deployment::Prod, &pr, "rpmlint", "fedora-rawhide", NEW_SHA);
    set_test_flag(&h, &key, status, comment).await;
    (h, ctx, key)
}

/// What Pagure received for one flag, in order: (status, comment).
fn posts_of(h: &Harness, uid: &str) -> Vec<(String, String)> {
    h.pagure.flag_posts().into_iter().filter(|p| p.uid == uid).map(|p| (p.status, p.comment)).collect()
}

/// A flag's state that changes while its older state is being sent reaches the
/// PR last, and once: the second flush finds the flag claimed and leaves it to
/// the first, whose record hands the newer state back to it to send (#25).
#[tokio::test]
async fn a_state_set_while_the_older_one_is_sent_reaches_the_pr_last() {
    use fedora_ci::clients::check::FlagStatus;
    use fedora_ci::dispatch::reporting::{Sent, flush_flags};
    let (h, ctx, key) = pr_with_test_flag(FlagStatus::Pending, "queued").await;
    let uids = vec![key.uid.clone()];

    let mut gate = h.pagure.faults.hold_next("/flag");
    let first = {
        let (pool, forges, uids) = (h.db.pool.clone(), ctx.clients.forges.clone(), uids.clone());
        tokio::spawn(async move { flush_flags(&pool, &forges, Some(&uids)).await.unwrap() })
    };
    let arrived = tokio::time::timeout(std::time::Duration::from_secs(30), gate.arrived()).await;
    assert!(arrived.is_ok(), "the first flush never sent the flag");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(open, 0, "no transaction is held while Pagure answers");
    // The test ends while "queued" is on its way to Pagure.
    set_test_flag(&h, &key, FlagStatus::Success, "passed").await;
    let second = flush_flags(&h.db.pool, &ctx.clients.forges, Some(&uids)).await.unwrap();
    assert_eq!(second, Sent::default(), "the flag is the first flush's to send");
    gate.release();
    assert_eq!(first.await.unwrap(), Sent { sent: 2, failed: 0 });

    let pair = |s: &str, c: &str| (s.to_owned(), c.to_owned());
    assert_eq!(posts_of(&h, &key.uid), [pair("pending", "queued"), pair("success", "passed")]);
    let shown = h.pagure.shown("rpms/optee_os", 2).into_iter().find(|f| f.uid == key.uid).unwrap();
    assert_eq!((shown.status.as_str(), shown.comment.as_str()), ("success", "passed"));
    let (sent, version, claimed): (i64, i64, bool) =
        sqlx::query_as("SELECT sent_version, version, sending_by IS NOT NULL FROM pr_flags WHERE uid = $1")
            .bind(&key.uid)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!((sent, claimed), (version, false), "sent and released");
}

/// A flusher that died mid-send leaves its claim behind: nobody else sends the
/// flag while the claim lasts, and the poller sends it once the claim ran out.
#[tokio::test]
async fn a_claim_whose_flusher_died_runs_out_and_the_poller_sends_the_flag() {
    let (h, ctx, key) = pr_with_test_flag(fedora_ci::clients::check::FlagStatus::Failure, "2 errors").await;
    let claim = |until: &'static str| {
        let sql = format!(
            "UPDATE pr_flags SET sending_until = now() + interval '{until}', sending_by = gen_random_uuid() WHERE uid = $1"
        );
        let (pool, uid) = (h.db.pool.clone(), key.uid.clone());
        async move { sqlx::query(&sql).bind(uid).execute(&pool).await.unwrap() }
    };
    claim("10 minutes").await;
    fedora_ci::dispatch::flush_unsent(&ctx).await.unwrap();
    assert!(posts_of(&h, &key.uid).is_empty(), "claimed by a flusher that may still send it");

    // The claim's time is up (its flusher is gone).
    claim("-1 second").await;
    fedora_ci::dispatch::flush_unsent(&ctx).await.unwrap();
    assert_eq!(posts_of(&h, &key.uid), [("failure".to_owned(), "2 errors".to_owned())]);
}
