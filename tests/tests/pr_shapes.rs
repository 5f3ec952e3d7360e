//! Every PR shape of `../shared/cases/pr-shapes/` (copied in `tests/cases/pr-shapes/`,
//! made-up full names), played through the functions over HTTP against the
//! sandboxes and a real Postgres, plus variants of each kind of fault (issue #19).
//! Each test asserts what Pagure shows on every PR involved, what Koji and Testing
//! Farm received, and the rows left.

use fedora_ci::dev::testing::Fixture;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::sandbox::pagure::FlagPost;
use fedora_ci_tests::story;
use reqwest::StatusCode;
use serde_json::Value;

fn cases_dir() -> std::path::PathBuf {
    fedora_ci_tests::cases::dir("pr-shapes")
}

/// One case file as the bridge would forward it: `topic` is the CloudEvent type.
fn case(folder: &str, file: &str) -> Fixture {
    let path = cases_dir().join(folder).join(file);
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let topic = body.as_object_mut().unwrap().remove("topic").unwrap().as_str().unwrap().to_owned();
    Fixture { name: format!("{folder}/{file}"), topic, body }
}

/// A Koji message as the hub's own doing: the sandbox hub moves the task to the
/// state the message announces (koji-finished confirms a finished task with the
/// hub before acting on it, as it would against real Koji).
fn hub_agrees(h: &Harness, message: Fixture) -> Fixture {
    let task = message.body["id"].as_i64().expect("task id");
    let state = message.body["new"].as_str().and_then(fedora_ci::messages::KojiTaskState::from_name);
    if let Some(state) = state
        && h.koji.task_state(task).is_some()
    {
        h.koji.set_task_state(task, state);
    }
    message
}

/// The functions a case's events go to, served for one harness.
struct Functions {
    pr_opened: String,
    koji_finished: String,
    tf_finished: String,
    poller: String,
}

/// The world most cases start from: `project` with these branches on Pagure,
/// `apackager` in the FAS `packager` group, and the four functions served.
async fn stage(project: &str, branches: &[&str]) -> (Harness, Functions) {
    let h = Harness::start().await;
    h.pagure.set_branches(project, branches);
    h.fas.set_groups("apackager", &["packager"]);
    let f = Functions::start(&h).await;
    (h, f)
}

impl Functions {
    async fn start(h: &Harness) -> Self {
        Functions {
            pr_opened: h.serve("pr-opened", pr_opened::routes).await,
            koji_finished: h.serve("koji-finished", koji_finished::routes).await,
            tf_finished: h.serve("tf-finished", tf_finished::routes).await,
            poller: h.serve("result-poller", result_poller::routes).await,
        }
    }

    /// Sends an event to the function the Trigger table routes its type to.
    async fn send(&self, fixture: &Fixture) -> (StatusCode, Value) {
        let url = if fixture.topic.contains(".pagure.pull-request.") {
            &self.pr_opened
        } else if fixture.topic.ends_with("buildsys.task.state.change") {
            &self.koji_finished
        } else {
            panic!("no route for {}", fixture.topic)
        };
        let id = format!("{}-{}", fixture.name, uuid::Uuid::new_v4());
        story::post(url, fixture, &id).await
    }

    async fn send_ok(&self, fixture: &Fixture) -> Value {
        let (status, body) = self.send(fixture).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", fixture.name);
        body
    }

    /// Testing Farm calls our webhook for a request.
    async fn tf_result(&self, h: &Harness, id: &str, overall: &str) {
        h.tf.set_state(id, "complete", Some(overall), Some("done"));
        // What TF posts to the webhook the request names, sent to tf-finished here.
        let body = serde_json::json!({ "request_id": id, "token": fedora_ci_tests::harness::WEBHOOK_SECRET });
        let r = reqwest::Client::new()
            .post(format!("{}testing-farm/results", self.tf_finished))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "tf-finished: {}", r.status());
    }

    async fn poll(&self) -> Value {
        let r = reqwest::Client::new()
            .post(&self.poller)
            .header("ce-specversion", "1.0")
            .header("ce-id", uuid::Uuid::new_v4().to_string())
            .header("ce-source", "/pingsource")
            .header("ce-type", "dev.knative.sources.ping")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "poller: {}", r.status());
        r.json().await.unwrap()
    }
}

/// What Pagure shows on one PR, by check name: its read-back (`GET
/// …/pull-request/<id>/flag`, the flags of the PR's head commit). Two flags of one
/// name on a PR fail the test: a packager could not tell them apart.
fn shown(h: &Harness, pr: &str) -> std::collections::BTreeMap<String, FlagPost> {
    let (project, id) = pr.split_once('#').unwrap();
    let flags = h.pagure.shown(project, id.parse().unwrap());
    let by_name: std::collections::BTreeMap<String, FlagPost> =
        flags.iter().map(|f| (f.username.clone(), f.clone())).collect();
    assert_eq!(by_name.len(), flags.len(), "two flags of one name on {pr}: {flags:#?}");
    by_name
}

fn statuses(h: &Harness, pr: &str) -> Vec<(String, String)> {
    shown(h, pr).into_values().map(|f| (f.username, f.status)).collect()
}

/// What we sent to one PR: the last state of each flag posted to it, by check
/// name. For the cases of two PRs with one head commit: Pagure keeps flags on
/// the commit (`add_pull_request_flag` → `add_commit_flag(request.project,
/// request.commit_stop)`) and shows a PR the flags of its head
/// (`get_commit_flag(project, commit_stop)`), so on real Pagure such PRs show each
/// other's flags whatever uid we give them; what we send each PR is what these
/// cases can check.
fn sent(h: &Harness, pr: &str) -> std::collections::BTreeMap<String, FlagPost> {
    h.pagure.flags().into_iter().filter(|f| f.pr == pr).map(|f| (f.username.clone(), f)).collect()
}

fn sent_statuses(h: &Harness, pr: &str) -> Vec<(String, String)> {
    sent(h, pr).into_values().map(|f| (f.username, f.status)).collect()
}

const SUITE: [&str; 5] = ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"];

fn tf_distro(r: &fedora_ci_tests::sandbox::testing_farm::TfRequest) -> String {
    r.payload["environments"][0]["tmt"]["context"]["distro"].as_str().unwrap_or_default().to_owned()
}

fn tf_task(r: &fedora_ci_tests::sandbox::testing_farm::TfRequest) -> String {
    r.payload["environments"][0]["variables"]["KOJI_TASK_ID"].as_str().unwrap_or_default().to_owned()
}

async fn rows_per_pr(h: &Harness, table: &str) -> Vec<(i64, i64)> {
    sqlx::query_as(&format!(
        "SELECT pr.pr_id, count(*) FROM {table} x JOIN pull_requests pr ON pr.id = x.pull_request_id \
         GROUP BY pr.pr_id ORDER BY pr.pr_id"
    ))
    .fetch_all(&h.db.pool)
    .await
    .unwrap()
}

/// `two-branches`: one commit proposed to rawhide (PR #2) and to f43 (PR #3); the
/// command on PR #3 re-tests PR #3's f43 build and nothing of it reaches PR #2.
#[test]
fn two_branches_keep_their_own_builds_tests_and_flags() {
    in_realm_async(async {
        let (h, f) = stage("rpms/optee_os", &["rawhide", "f43"]).await;
        h.koji.set_next_task_id(70030001);
        f.send_ok(&case("two-branches", "01-pr2-rawhide.json")).await;
        f.send_ok(&case("two-branches", "02-pr3-f43.json")).await;
        let builds = h.koji.builds();
        assert_eq!(
            builds.iter().map(|b| (b.task_id, b.target().to_owned())).collect::<Vec<_>>(),
            [(70030001, "rawhide".to_owned()), (70030002, "f43-candidate".to_owned())]
        );
        f.send_ok(&hub_agrees(&h, case("two-branches", "03-koji-closed-rawhide.json"))).await;
        f.send_ok(&hub_agrees(&h, case("two-branches", "04-koji-closed-f43.json"))).await;
        let pr2_before = sent(&h, "rpms/optee_os#2");
        assert_eq!(pr2_before.len(), 6, "PR #2: the rawhide build and five tests: {pr2_before:?}");
        assert_eq!(pr2_before["Fedora CI - scratch build"].status, "success");
        for t in SUITE {
            assert_eq!(pr2_before[&format!("Fedora CI - {t}")].comment, "Tests have been submitted to Testing Farm.");
        }
        let pr3 = sent(&h, "rpms/optee_os#3");
        assert_eq!(pr3.len(), 6, "PR #3: the f43 build and five tests: {pr3:?}");
        assert_eq!(pr3["Fedora CI - scratch build (f43-candidate)"].status, "success");
        for t in SUITE {
            assert!(pr3.contains_key(&format!("Fedora CI - {t} (fedora-43)")), "{t}: {pr3:?}");
        }
        let before = h.tf.requests().len();
        assert_eq!(before, 10);

        f.send_ok(&case("two-branches", "05-comment-test-on-pr3.json")).await;
        assert_eq!(h.koji.builds().len(), 2, "no new build: PR #3's f43 build is tested again");
        let again: Vec<_> = h.tf.requests().into_iter().skip(before).collect();
        assert_eq!(again.len(), 5, "the suite again");
        for r in &again {
            assert_eq!((tf_distro(r), tf_task(r)), ("fedora-43".to_owned(), "70030002".to_owned()), "{:?}", r.payload);
        }
        assert_eq!(sent(&h, "rpms/optee_os#2"), pr2_before, "nothing of PR #3 reaches PR #2");
        assert!(h.pagure.flag_posts().iter().filter(|p| p.pr == "rpms/optee_os#2").count() <= 12);
        let pr3 = sent(&h, "rpms/optee_os#3");
        assert_eq!(pr3.len(), 6, "the same six flags of PR #3, updated: {pr3:?}");
        for t in SUITE {
            let flag = &pr3[&format!("Fedora CI - {t} (fedora-43)")];
            assert!(again.iter().any(|r| flag.url.ends_with(&r.id)), "{t} links its new run: {flag:?}");
        }
        assert!(h.pagure.comments().is_empty());
        assert_eq!(rows_per_pr(&h, "koji_build_targets").await, [(2, 1), (3, 1)]);
        assert_eq!(rows_per_pr(&h, "tft_test_run_targets").await, [(2, 5), (3, 10)]);
        let flag_rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT pr_id, count(*) FROM pr_flags GROUP BY pr_id ORDER BY pr_id")
                .fetch_all(&h.db.pool)
                .await
                .unwrap();
        assert_eq!(flag_rows, [(2, 6), (3, 6)]);
    });
}

/// Variant: the same commit on one branch in two PRs (a PR reopened as a new one,
/// or from two forks): the second PR's build never updates the first's flags.
#[tokio::test]
async fn one_commit_on_one_branch_in_two_prs_keeps_two_sets_of_flags() {
    let (h, f) = stage("rpms/optee_os", &["rawhide", "f43"]).await;
    h.koji.set_next_task_id(70030001);
    let first = case("two-branches", "01-pr2-rawhide.json");
    f.send_ok(&first).await;
    let mut second = first.clone();
    second.name = "second fork".into();
    second.body["pullrequest"]["id"] = 4.into();
    second.body["pullrequest"]["uid"] = "4ace00000000000000000000000000f4".into();
    second.body["pullrequest"]["repo_from"]["fullname"] = "forks/apackager/rpms/optee_os".into();
    f.send_ok(&second).await;
    assert_eq!(h.koji.builds().len(), 2, "one build per PR");
    let mut done = case("two-branches", "03-koji-closed-rawhide.json");
    f.send_ok(&hub_agrees(&h, done.clone())).await;
    assert_eq!(sent_statuses(&h, "rpms/optee_os#2")[0], ("Fedora CI - installability".into(), "pending".into()));
    assert_eq!(sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build"].status, "success");
    assert_eq!(sent(&h, "rpms/optee_os#4")["Fedora CI - scratch build"].status, "pending", "#4 still builds");
    assert_eq!(sent(&h, "rpms/optee_os#4").len(), 1);
    // PR #4's build fails: PR #2 stays green.
    done.body["id"] = 70030002.into();
    done.body["info"]["id"] = 70030002.into();
    done.body["new"] = "FAILED".into();
    done.body["info"]["state"] = 5.into();
    f.send_ok(&hub_agrees(&h, done.clone())).await;
    assert_eq!(sent(&h, "rpms/optee_os#4")["Fedora CI - scratch build"].status, "failure");
    assert_eq!(sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build"].status, "success");
    let uids2: Vec<String> = sent(&h, "rpms/optee_os#2").into_values().map(|f| f.uid).collect();
    assert!(sent(&h, "rpms/optee_os#4").values().all(|f| !uids2.contains(&f.uid)), "uids differ per PR");
}

/// The repository's copy of the cases follows the shared originals, `fullname`
/// values aside (the copy must hold made-up names only).
#[test]
fn the_case_copy_matches_the_shared_originals() {
    match fedora_ci_tests::cases::compare_with_shared("pr-shapes") {
        Some(compared) => assert_eq!(compared, 18),
        None => eprintln!("skipped: ../shared/cases/pr-shapes is not beside the checkout"),
    }
}

fn runs_of<'a>(
    requests: &'a [fedora_ci_tests::sandbox::testing_farm::TfRequest],
    test: &str,
) -> Vec<&'a fedora_ci_tests::sandbox::testing_farm::TfRequest> {
    requests.iter().filter(|r| r.payload["test"]["tmt"]["url"].as_str().is_some_and(|u| u.contains(test))).collect()
}

/// `stale-result`: a second rpminspect run; Testing Farm reports the new run
/// (passed) first, then the old one (failed). The flag shows the newest run.
#[test]
fn the_newest_run_wins_over_a_late_result_of_an_older_one() {
    in_realm_async(async {
        let (h, f) = stage("rpms/optee_os", &["rawhide"]).await;
        h.koji.set_next_task_id(70010001);
        f.send_ok(&case("stale-result", "01-pr-new.json")).await;
        f.send_ok(&hub_agrees(&h, case("stale-result", "02-koji-closed.json"))).await;
        assert_eq!(h.tf.requests().len(), 5);
        f.send_ok(&case("stale-result", "03-comment-test-rpminspect.json")).await;
        let requests = h.tf.requests();
        let rpminspect = runs_of(&requests, "rpminspect-pipeline");
        assert_eq!(rpminspect.len(), 2, "a second rpminspect run");
        let (old, new) = (rpminspect[0].id.clone(), rpminspect[1].id.clone());
        f.tf_result(&h, &new, "passed").await;
        f.tf_result(&h, &old, "failed").await;
        let flag = &shown(&h, "rpms/optee_os#2")["Fedora CI - rpminspect"];
        assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("success", "Tests passed."), "{flag:?}");
        assert!(flag.url.ends_with(&new), "links the newest run: {}", flag.url);
        let runs: Vec<(String, String)> = sqlx::query_as(
            "SELECT pipeline_id, status FROM tft_test_run_targets WHERE test_name = 'rpminspect' ORDER BY id",
        )
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
        assert_eq!(runs, [(old, "failed".to_owned()), (new, "passed".to_owned())], "each run keeps its own result");
        assert_eq!(shown(&h, "rpms/optee_os#2").len(), 6);
    });
}

/// Variant: the old run ends while the newest is still queued; the flag stays on
/// the newest run (pending) instead of showing the old run's error.
#[test]
fn an_older_run_ending_first_does_not_take_the_flag() {
    in_realm_async(async {
        let (h, f) = stage("rpms/optee_os", &["rawhide"]).await;
        h.koji.set_next_task_id(70010001);
        f.send_ok(&case("stale-result", "01-pr-new.json")).await;
        f.send_ok(&hub_agrees(&h, case("stale-result", "02-koji-closed.json"))).await;
        let mut again = case("stale-result", "03-comment-test-rpminspect.json");
        again.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci test rpmlint".into();
        f.send_ok(&again).await;
        let requests = h.tf.requests();
        let rpmlint = runs_of(&requests, "tmt-plans");
        assert_eq!(rpmlint.len(), 2);
        h.tf.set_state(&rpmlint[0].id, "error", None, Some("old infrastructure trouble"));
        f.tf_result(&h, &rpmlint[0].id, "error").await;
        let flag = &shown(&h, "rpms/optee_os#2")["Fedora CI - rpmlint"];
        assert_eq!(flag.status, "pending", "{flag:?}");
        assert!(flag.url.ends_with(&rpmlint[1].id), "{flag:?}");
    });
}

/// Makes every waiting retry due now: the time a real retry waits, without waiting.
async fn retries_due(h: &Harness) {
    for table in ["koji_build_targets", "tft_test_run_targets"] {
        sqlx::query(&format!(
            "UPDATE {table} SET next_attempt_at = now() - interval '1 minute' WHERE status = 'retry'"
        ))
        .execute(&h.db.pool)
        .await
        .unwrap();
    }
}

fn flag_of(h: &Harness, pr: &str, check: &str, sha: &str) -> FlagPost {
    let key =
        fedora_ci::dispatch::reporting::FlagKey::build(fedora_ci::config::Deployment::Prod, &pr_id(pr), check, sha);
    h.pagure.flags().into_iter().find(|f| f.pr == pr && f.uid == key.uid).unwrap_or_else(|| panic!("no {check} flag"))
}

fn pr_id(pr: &str) -> fedora_ci::clients::forge::PrId {
    let (path, id) = pr.split_once('#').unwrap();
    let (ns, repo) = path.split_once('/').unwrap();
    fedora_ci::clients::forge::PrId::pagure(ns, repo, id.parse().unwrap())
}

const A: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

/// `force-push`: opened at A while Koji is down (A waits for a retry), updated to
/// B; a poller pass later never submits A.
#[tokio::test]
async fn a_superseded_commit_waiting_for_a_retry_is_never_built() {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let f = Functions::start(&h).await;
    h.koji.set_down(true);
    f.send_ok(&case("force-push", "01-pr-new-A.json")).await;
    assert!(h.koji.builds().is_empty());
    h.koji.set_down(false);
    let b_event = case("force-push", "02-pr-updated-B.json");
    let b = b_event.body["pullrequest"]["commit_stop"].as_str().unwrap().to_owned();
    f.send_ok(&b_event).await;
    retries_due(&h).await;
    f.poll().await;
    let builds = h.koji.builds();
    assert_eq!(builds.len(), 1, "only B is built: {:?}", builds.iter().map(|b| b.src()).collect::<Vec<_>>());
    assert!(builds[0].src().ends_with(&b));
    let old = flag_of(&h, "rpms/optee_os#2", "rawhide", A);
    assert_eq!(
        (old.status.as_str(), old.comment.as_str()),
        ("canceled", format!("Build canceled: superseded by {}.", &b[..7]).as_str())
    );
    assert_eq!(flag_of(&h, "rpms/optee_os#2", "rawhide", &b).status, "pending");
    // What the PR shows: B's flags only, B's build pending. (A's `canceled` is
    // posted after the push, so Pagure stores it on B as well: two "scratch
    // build" flags show; what to post for a superseded commit is #19's call.)
    let on_pr = h.pagure.shown("rpms/optee_os", 2);
    assert!(on_pr.iter().all(|f| f.commit == b), "{on_pr:#?}");
    let b_key = fedora_ci::dispatch::reporting::FlagKey::build(
        fedora_ci::config::Deployment::Prod,
        &pr_id("rpms/optee_os#2"),
        "rawhide",
        &b,
    );
    assert_eq!(on_pr.iter().find(|f| f.uid == b_key.uid).map(|f| f.status.as_str()), Some("pending"), "{on_pr:#?}");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT data ->> 'commit_sha', status FROM koji_build_targets ORDER BY id")
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(rows, [(A.to_owned(), "canceled".to_owned()), (b, "pending".to_owned())]);
}

/// Variant: A built; its tests are queued in Testing Farm and one waits for a retry
/// (TF was down for it). Pushing B cancels the TF requests and ends the waiting
/// one; none is submitted later.
#[tokio::test]
async fn a_new_head_cancels_queued_requests_and_ends_waiting_tests() {
    let (h, f) = stage("rpms/optee_os", &["rawhide"]).await;
    h.koji.set_next_task_id(70010001);
    f.send_ok(&case("stale-result", "01-pr-new.json")).await;
    h.tf.faults.fail_next(1);
    f.send_ok(&hub_agrees(&h, case("stale-result", "02-koji-closed.json"))).await;
    let queued = h.tf.requests();
    assert_eq!(queued.len(), 4, "one test waits for a retry");
    let b_event = case("force-push", "02-pr-updated-B.json");
    let b = b_event.body["pullrequest"]["commit_stop"].as_str().unwrap().to_owned();
    f.send_ok(&b_event).await;
    retries_due(&h).await;
    f.poll().await;
    let after = h.tf.requests();
    assert_eq!(after.len(), 4, "nothing submitted for A after B");
    assert!(after.iter().all(|r| r.state == "canceled"), "A's requests canceled in Testing Farm");
    let shown_now = h.pagure.flags();
    let pr = pr_id("rpms/optee_os#2");
    for t in SUITE {
        let key = fedora_ci::dispatch::reporting::FlagKey::test(
            fedora_ci::config::Deployment::Prod,
            &pr,
            t,
            "fedora-rawhide",
            A,
        );
        let flag = shown_now.iter().find(|f| f.uid == key.uid).unwrap();
        assert_eq!(flag.status, "canceled", "{t}: {flag:?}");
        assert!(flag.comment.ends_with(&format!("superseded by {}.", &b[..7])), "{t}: {flag:?}");
    }
    // What the PR shows after the push: only flags on B (none of A's results).
    let on_pr = h.pagure.shown("rpms/optee_os", 2);
    assert!(!on_pr.is_empty() && on_pr.iter().all(|f| f.commit == b), "{on_pr:#?}");
    assert!(on_pr.iter().all(|f| f.status != "success" && f.status != "failure"), "no result of A shows: {on_pr:#?}");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tft_test_run_targets WHERE status NOT IN ('canceled') AND data ->> 'commit_sha' = $1",
    )
    .bind(A)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(open, 0, "every test of A ended");
    assert_eq!(h.koji.builds().len(), 2, "A, then B");
}

/// `epel`: a PR to epel10 builds on `epel10-candidate`; its tests run on the
/// Testing Farm environment packit-service uses for EPEL 10 (CentOS Stream 10), and
/// `/packit-ci test` re-tests the epel10 build.
#[test]
fn an_epel_pr_tests_on_centos_stream_and_the_command_retests_its_build() {
    in_realm_async(async {
        let (h, f) = stage("rpms/optee_os", &["rawhide", "epel10"]).await;
        h.koji.set_next_task_id(70050001);
        f.send_ok(&case("epel", "01-pr-epel10.json")).await;
        assert_eq!(h.koji.builds()[0].target(), "epel10-candidate");
        f.send_ok(&hub_agrees(&h, case("epel", "02-koji-closed.json"))).await;
        let first = h.tf.requests();
        assert_eq!(first.len(), 5);
        for r in &first {
            assert_eq!((tf_distro(r), tf_task(r)), ("centos-stream-10".to_owned(), "70050001".to_owned()));
            assert_eq!(r.payload["environments"][0]["tmt"]["context"]["dist-git-branch"], "epel10");
        }
        let installability = runs_of(&first, "installability-pipeline");
        assert_eq!(installability[0].payload["environments"][0]["os"]["compose"], "CentOS-Stream-10");
        let pr = shown(&h, "rpms/optee_os#9");
        assert_eq!(pr["Fedora CI - scratch build (epel10-candidate)"].status, "success");
        for t in SUITE {
            let flag = &pr[&format!("Fedora CI - {t} (centos-stream-10)")];
            assert_eq!(
                (flag.status.as_str(), flag.comment.as_str()),
                ("pending", "Tests have been submitted to Testing Farm.")
            );
        }

        f.send_ok(&case("epel", "03-comment-test.json")).await;
        assert_eq!(h.koji.builds().len(), 1, "no new build, and never a rawhide one");
        let again: Vec<_> = h.tf.requests().into_iter().skip(5).collect();
        assert_eq!(again.len(), 5);
        assert!(again.iter().all(|r| tf_distro(r) == "centos-stream-10" && tf_task(r) == "70050001"));
        assert_eq!(shown(&h, "rpms/optee_os#9").len(), 6);
        assert!(h.pagure.comments().is_empty());
    });
}

/// Variant: Testing Farm has no environment for the branch; the tests that need
/// one end neutral and say so, never red; the others run.
#[tokio::test]
async fn a_branch_without_a_testing_farm_environment_ends_neutral() {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide", "epel10"]);
    h.tf.set_composes(&["Fedora-Rawhide", "Fedora-ELN", "Fedora-43"]);
    let f = Functions::start(&h).await;
    h.koji.set_next_task_id(70050001);
    f.send_ok(&case("epel", "01-pr-epel10.json")).await;
    f.send_ok(&hub_agrees(&h, case("epel", "02-koji-closed.json"))).await;
    assert_eq!(h.tf.requests().len(), 4, "all but installability, which needs an OS compose");
    let flag = &shown(&h, "rpms/optee_os#9")["Fedora CI - installability (centos-stream-10)"];
    assert_eq!(
        (flag.status.as_str(), flag.comment.as_str()),
        ("canceled", "Not run: not available for epel10 (Testing Farm has no centos-stream-10 environment).")
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM tft_test_run_targets WHERE test_name = 'installability'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "skipped");
}

/// Variant: `--target` takes what the PR builds; anything else is answered with
/// the valid values, and nothing is built.
#[test]
fn a_wrong_target_is_answered_with_the_valid_ones() {
    in_realm_async(async {
        let (h, f) = stage("rpms/optee_os", &["rawhide", "epel10"]).await;
        let mut wrong = case("epel", "03-comment-test.json");
        wrong.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci scratch-build --target rawhide".into();
        f.send_ok(&wrong).await;
        assert!(h.koji.builds().is_empty());
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0]
                .body
                .contains("unknown target `rawhide` for this pull request (valid: `epel10-candidate`, `epel10`)"),
            "{}",
            comments[0].body
        );
        let mut right = case("epel", "03-comment-test.json");
        right.body["pullrequest"]["comments"][0]["id"] = 900099.into();
        right.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci scratch-build --target epel10".into();
        f.send_ok(&right).await;
        assert_eq!(h.koji.builds().iter().map(|b| b.target().to_owned()).collect::<Vec<_>>(), ["epel10-candidate"]);
    });
}

/// `tests-namespace`: a `tests/` repository's plans fail; `/packit-ci test` runs
/// them again, and so does `rerun`; a test it does not have is answered.
#[test]
fn a_tests_repository_reruns_its_plans_on_command() {
    in_realm_async(async {
        let (h, f) = stage("tests/optee_os", &["rawhide"]).await;
        f.send_ok(&case("tests-namespace", "01-pr-tests-ns.json")).await;
        let first = h.tf.requests();
        assert_eq!(first.len(), 1, "the repository's own plans");
        assert!(h.koji.builds().is_empty());
        f.tf_result(&h, &first[0].id, "failed").await;
        let flag = &shown(&h, "tests/optee_os#14")["Fedora CI - custom"];
        assert_eq!(flag.status, "failure");

        let command = case("tests-namespace", "02-comment-test.json");
        f.send_ok(&command).await;
        let requests = h.tf.requests();
        assert_eq!(requests.len(), 2, "the plans run again");
        assert_eq!(requests[1].payload["test"]["tmt"]["ref"], requests[0].payload["test"]["tmt"]["ref"]);
        let flag = &shown(&h, "tests/optee_os#14")["Fedora CI - custom"];
        assert_eq!(
            (flag.status.as_str(), flag.comment.as_str()),
            ("pending", "Tests have been submitted to Testing Farm.")
        );
        assert!(flag.url.ends_with(&requests[1].id));
        f.send_ok(&command).await;
        assert_eq!(h.tf.requests().len(), 2, "one comment, one run (a redelivery)");

        let mut rerun = command.clone();
        rerun.body["pullrequest"]["comments"][0]["id"] = 900101.into();
        rerun.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci rerun".into();
        f.send_ok(&rerun).await;
        assert_eq!(h.tf.requests().len(), 3, "rerun runs them again too");
        f.tf_result(&h, &h.tf.requests()[2].id, "passed").await;
        f.tf_result(&h, &requests[1].id, "failed").await;
        let flag = &shown(&h, "tests/optee_os#14")["Fedora CI - custom"];
        assert_eq!(flag.status, "success", "the newest run wins: {flag:?}");

        let mut other = command.clone();
        other.body["pullrequest"]["comments"][0]["id"] = 900102.into();
        other.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci test rpmlint".into();
        f.send_ok(&other).await;
        assert_eq!(h.tf.requests().len(), 3);
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1, "never silence: {comments:?}");
        assert!(comments[0].body.contains("runs only its own tmt plans"), "{}", comments[0].body);
        assert_eq!(comments[0].pr, "tests/optee_os#14");
    });
}

/// `pr-closed`: a PR merged while its build runs: the Koji task is canceled, the
/// flag ends neutral, and the closed topic reaches pr-opened through the Triggers
/// and the bridge's default topics.
#[test]
fn a_merged_pr_has_its_running_work_canceled_and_its_flags_ended() {
    in_realm_async(async {
        let closed = case("pr-closed", "02-pr-closed-merged.json");
        let routes = fedora_ci_tests::triggers::load("prod");
        let ext = std::collections::BTreeMap::from([("pagurenamespace".to_owned(), "rpms".to_owned())]);
        let to: Vec<_> =
            routes.iter().filter(|r| r.matches(&closed.topic, &ext)).map(|r| r.subscriber.clone()).collect();
        assert_eq!(to, ["pr-opened"], "a Trigger routes the closed topic to pr-opened");
        assert!(fedmsg_bridge::config::DEFAULT_TOPIC_SUFFIXES.contains(&"pagure.pull-request.closed"));
        assert!(fedmsg_bridge::config::DEFAULT_TOPIC_SUFFIXES.contains(&"pagure.pull-request.reopened"));

        let (h, f) = stage("rpms/optee_os", &["rawhide"]).await;
        f.send_ok(&case("pr-closed", "01-pr-new.json")).await;
        let task = h.koji.builds()[0].task_id;
        h.koji.set_task_state(task, fedora_ci::messages::KojiTaskState::Open);
        f.send_ok(&closed).await;
        assert_eq!(h.koji.task_state(task), Some(fedora_ci::messages::KojiTaskState::Canceled));
        let flags = statuses(&h, "rpms/optee_os#15");
        assert_eq!(flags, [("Fedora CI - scratch build".to_owned(), "canceled".to_owned())]);
        assert_eq!(
            shown(&h, "rpms/optee_os#15")["Fedora CI - scratch build"].comment,
            "Build canceled: the pull request was merged."
        );
        let (status, closed_at): (String, bool) = sqlx::query_as(
            "SELECT k.status, pr.closed_at IS NOT NULL FROM koji_build_targets k \
         JOIN pull_requests pr ON pr.id = k.pull_request_id",
        )
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
        assert_eq!((status.as_str(), closed_at), ("canceled", true));
        // The task's own end, arriving late, changes nothing.
        let late =
            story::task_message("org.fedoraproject.prod.", task, fedora_ci::messages::KojiTaskState::Closed, "packit");
        f.send(&late).await;
        assert_eq!(statuses(&h, "rpms/optee_os#15")[0].1, "canceled");
        // A command on the merged PR is answered, and runs nothing.
        let mut command = case("stale-result", "03-comment-test-rpminspect.json");
        command.body["pullrequest"]["id"] = 15.into();
        command.body["pullrequest"]["status"] = "Merged".into();
        f.send_ok(&command).await;
        assert_eq!(h.koji.builds().len(), 1);
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].body, "This pull request is merged: reopen it to run Fedora CI again.");
    });
}

/// Variants: a PR closed unmerged with queued tests and a build waiting for a
/// retry: the TF requests are canceled, the retry never happens; reopened, it runs
/// CI for its head again.
#[tokio::test]
async fn a_closed_pr_stops_tests_and_retries_and_a_reopened_one_runs_again() {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide", "f43"]);
    let f = Functions::start(&h).await;
    // PR #2 built, its tests queued; PR #3 (the same commit and branch, from another
    // fork) waits for a Koji retry.
    h.koji.set_next_task_id(70030001);
    f.send_ok(&case("two-branches", "01-pr2-rawhide.json")).await;
    f.send_ok(&hub_agrees(&h, case("two-branches", "03-koji-closed-rawhide.json"))).await;
    assert_eq!(h.tf.requests().len(), 5);
    h.koji.set_down(true);
    let mut pr3 = case("two-branches", "01-pr2-rawhide.json");
    pr3.body["pullrequest"]["id"] = 3.into();
    pr3.body["pullrequest"]["repo_from"]["fullname"] = "forks/apackager/rpms/optee_os".into();
    f.send_ok(&pr3).await;
    h.koji.set_down(false);
    let pr2_before = sent(&h, "rpms/optee_os#2");

    let mut close3 = case("pr-closed", "02-pr-closed-merged.json");
    close3.body["merged"] = false.into();
    close3.body["pullrequest"]["id"] = 3.into();
    close3.body["pullrequest"]["status"] = "Closed".into();
    f.send_ok(&close3).await;
    retries_due(&h).await;
    f.poll().await;
    assert_eq!(h.koji.builds().len(), 1, "PR #3's retry never happens");
    let pr3 = sent(&h, "rpms/optee_os#3");
    assert_eq!(pr3["Fedora CI - scratch build"].comment, "Build canceled: the pull request was closed.");
    assert_eq!(sent(&h, "rpms/optee_os#2"), pr2_before, "closing PR #3 leaves PR #2 alone");
    assert!(h.tf.requests().iter().all(|r| r.state == "new"), "PR #2's requests still run");

    let mut close2 = close3.clone();
    close2.body["pullrequest"]["id"] = 2.into();
    f.send_ok(&close2).await;
    assert!(h.tf.requests().iter().all(|r| r.state == "canceled"), "PR #2's requests canceled");
    for t in SUITE {
        let flag = &sent(&h, "rpms/optee_os#2")[&format!("Fedora CI - {t}")];
        assert_eq!(
            (flag.status.as_str(), flag.comment.as_str()),
            ("canceled", "Tests canceled: the pull request was closed.")
        );
    }
    assert_eq!(sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build"].status, "success", "finished work stays");

    let mut reopened = case("two-branches", "01-pr2-rawhide.json");
    reopened.topic = "org.fedoraproject.prod.pagure.pull-request.reopened".into();
    f.send_ok(&reopened).await;
    assert_eq!(h.koji.builds().len(), 2, "the head is built again");
    assert_eq!(sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build"].status, "pending");
    let open: bool = sqlx::query_scalar("SELECT closed_at IS NULL FROM pull_requests WHERE pr_id = 2")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert!(open);
}

/// Variant (ELN): a rawhide PR of an ELN package builds for rawhide and ELN; on a
/// second PR with the same commit, `/packit-ci test --target eln` re-tests that
/// PR's own ELN build on fedora-eln, and nothing reaches the first PR.
#[test]
fn eln_commands_act_on_the_prs_own_eln_build() {
    in_realm_async(async {
        let (h, f) = stage("rpms/python-teamcity-messages", &["rawhide"]).await;
        let as_teamcity = |file: &str, id: u64| {
            let mut e = case("two-branches", file);
            e.body["pullrequest"]["id"] = id.into();
            e.body["pullrequest"]["branch"] = "rawhide".into();
            let project = &mut e.body["pullrequest"]["project"];
            project["name"] = "python-teamcity-messages".into();
            project["fullname"] = "rpms/python-teamcity-messages".into();
            e.body["pullrequest"]["repo_from"]["fullname"] =
                format!("forks/jdoe{id}/rpms/python-teamcity-messages").into();
            e
        };
        h.koji.set_next_task_id(70060001);
        f.send_ok(&as_teamcity("01-pr2-rawhide.json", 5)).await;
        f.send_ok(&as_teamcity("01-pr2-rawhide.json", 6)).await;
        let targets: Vec<_> = h.koji.builds().iter().map(|b| (b.task_id, b.target().to_owned())).collect();
        assert_eq!(
            targets,
            [
                (70060001, "rawhide".into()),
                (70060002, "eln".into()),
                (70060003, "rawhide".into()),
                (70060004, "eln".into())
            ]
        );
        let mut done = case("two-branches", "03-koji-closed-rawhide.json");
        for task in [70060001i64, 70060002, 70060003, 70060004] {
            done.body["id"] = task.into();
            done.body["info"]["id"] = task.into();
            f.send_ok(&hub_agrees(&h, done.clone())).await;
        }
        assert_eq!(h.tf.requests().len(), 20, "five tests per build");
        let pr5 = sent(&h, "rpms/python-teamcity-messages#5");
        let mut command = as_teamcity("05-comment-test-on-pr3.json", 6);
        command.body["pullrequest"]["comments"][0]["comment"] = "/packit-ci test rpmlint --target eln".into();
        f.send_ok(&command).await;
        let again: Vec<_> = h.tf.requests().into_iter().skip(20).collect();
        assert_eq!(again.len(), 1);
        assert_eq!((tf_distro(&again[0]), tf_task(&again[0])), ("fedora-eln".to_owned(), "70060004".to_owned()));
        assert_eq!(again[0].payload["environments"][0]["tmt"]["context"]["variant"], "eln");
        assert_eq!(sent(&h, "rpms/python-teamcity-messages#5"), pr5, "PR #5 untouched");
        let flag = &sent(&h, "rpms/python-teamcity-messages#6")["Fedora CI - rpmlint (fedora-eln)"];
        assert!(flag.url.ends_with(&again[0].id), "{flag:?}");
        assert_eq!(h.koji.builds().len(), 4);
    });
}

/// Variant (an extra Koji hub): two PRs with the same head build on both hubs;
/// each PR's extra-hub flag is its own, and a late task end reaches only its PR.
#[tokio::test]
async fn an_extra_hub_keeps_each_prs_builds_apart() {
    let riscv = Harness::second_koji().await;
    let h = Harness::with_env(&[
        ("KOJI_INSTANCES", "riscv"),
        ("KOJI_RISCV_HUB_URL", &riscv.url()),
        ("KOJI_RISCV_WEB_URL", &riscv.web_url()),
        ("KOJI_RISCV_TOPIC_PREFIX", "org.fedoraproject.prod.riscv."),
        ("KOJI_RISCV_TARGETS", "rawhide=f44-riscv"),
        ("KOJI_RISCV_FLAG_NAME", "riscv64"),
    ])
    .await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let f = Functions::start(&h).await;
    riscv.set_next_task_id(9001);
    let first = case("two-branches", "01-pr2-rawhide.json");
    let mut second = first.clone();
    second.body["pullrequest"]["id"] = 7.into();
    second.body["pullrequest"]["repo_from"]["fullname"] = "forks/apackager/rpms/optee_os".into();
    f.send_ok(&first).await;
    f.send_ok(&second).await;
    assert_eq!(riscv.builds().len(), 2);
    let ended = story::task_message(
        "org.fedoraproject.prod.riscv.",
        9002,
        fedora_ci::messages::KojiTaskState::Failed,
        "packit",
    );
    riscv.set_task_state(9002, fedora_ci::messages::KojiTaskState::Failed);
    f.send_ok(&ended).await;
    assert_eq!(sent(&h, "rpms/optee_os#7")["Fedora CI - scratch build (riscv64)"].status, "failure");
    assert_eq!(sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build (riscv64)"].status, "pending");
    let uid2 = &sent(&h, "rpms/optee_os#2")["Fedora CI - scratch build (riscv64)"].uid;
    assert_ne!(uid2, &sent(&h, "rpms/optee_os#7")["Fedora CI - scratch build (riscv64)"].uid);
}
