//! `[skip ci]`, `/packit-ci skip`, `/packit-ci rerun`, and `/packit-ci test` before
//! any build: pr-opened and koji-finished over HTTP against the sandboxes and a
//! real Postgres.

use fedora_ci::config::Deployment;
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::sandbox::pagure::FlagPost;
use fedora_ci_tests::story::{self, FIRST_SHA, PR_AUTHOR};
use reqwest::StatusCode;

const PREFIX: &str = "org.fedoraproject.prod.";
const SECOND_SHA: &str = "2222222222222222222222222222222222222222";
const PACKAGER: &str = "mjones";

async fn start(h: &Harness) -> String {
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.fas.set_groups(PACKAGER, &["packager"]);
    h.serve("pr-opened", pr_opened::routes).await
}

/// The flag of one test on the rawhide build of `sha`, as the PR shows it now.
fn test_flag(h: &Harness, test: &str, sha: &str) -> Option<FlagPost> {
    let uid =
        FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), test, "fedora-rawhide", &sha[..7]).uid;
    h.pagure.flags().into_iter().find(|f| f.uid == uid)
}

/// The tests that reached Testing Farm, by the flag that says so, sorted.
fn submitted_tests(h: &Harness, sha: &str) -> Vec<&'static str> {
    ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate", "custom"]
        .into_iter()
        .filter(|t| test_flag(h, t, sha).is_some_and(|f| f.comment == "Tests have been submitted to Testing Farm."))
        .collect()
}

fn koji_build_calls(h: &Harness) -> usize {
    h.koji.builds().len()
}

fn flags_of(h: &Harness, sha: &str) -> Vec<FlagPost> {
    let short = &sha[..7];
    let build = FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", short).uid;
    let tests: Vec<String> = ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"]
        .iter()
        .map(|t| {
            FlagKey::test(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), t, "fedora-rawhide", short).uid
        })
        .collect();
    h.pagure.flags().into_iter().filter(|f| f.uid == build || tests.contains(&f.uid)).collect()
}

#[test]
fn skip_ci_in_the_title_skips_every_commit_until_a_rerun() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let mut pr = story::pr_event("new", FIRST_SHA);
        pr.body["pullrequest"]["title"] = "Only build on aarch64 [skip ci]".into();
        let (status, body) = story::post(&url, &pr, "pr-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(h.koji.builds().is_empty());
        let skipped = flags_of(&h, FIRST_SHA);
        assert_eq!(skipped.len(), 6, "the build and the five tests: {skipped:?}");
        for f in &skipped {
            assert_eq!((f.status.as_str(), f.comment.as_str()), ("canceled", "skipped by zwhite"), "{f:?}");
        }

        // A new commit: still skipped.
        let mut updated = pr.clone();
        updated.topic = format!("{PREFIX}pagure.pull-request.updated");
        updated.body["pullrequest"]["commit_stop"] = SECOND_SHA.into();
        let (status, body) = story::post(&url, &updated, "pr-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(h.koji.builds().is_empty());
        assert_eq!(flags_of(&h, SECOND_SHA).len(), 6);

        // `/packit-ci test` while skipped: one comment saying how to resume, nothing run.
        let test = story::with_comment(&updated, PACKAGER, "/packit-ci test");
        story::post(&url, &test, "c-1").await;
        assert!(h.koji.builds().is_empty() && h.tf.requests().is_empty());
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert!(comments[0].body.contains("/packit-ci rerun"), "{}", comments[0].body);

        // A packager's rerun resumes: the build flag of the head leaves "skipped".
        let rerun = story::with_comment(&updated, PACKAGER, "/packit-ci rerun");
        let (status, body) = story::post(&url, &rerun, "c-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let builds = h.koji.builds();
        assert_eq!(builds.len(), 1);
        assert!(builds[0].src().ends_with(SECOND_SHA));
        let build_uid =
            FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", SECOND_SHA).uid;
        let flag = h.pagure.flags().into_iter().find(|f| f.uid == build_uid).unwrap();
        assert_eq!(flag.status, "pending");

        // The title still says [skip ci], but the packager resumed: the next commit builds.
        let mut third = updated.clone();
        third.body["pullrequest"]["commit_stop"] = "3333333333333333333333333333333333333333".into();
        story::post(&url, &third, "pr-3").await;
        assert_eq!(h.koji.builds().len(), 2);
        assert_eq!(h.pagure.comments().len(), 1, "no comment besides the refusal");
    });
}

#[tokio::test]
async fn skip_ci_in_the_description_works_too() {
    let h = Harness::start().await;
    let url = start(&h).await;
    let mut pr = story::pr_event("new", FIRST_SHA);
    pr.body["pullrequest"]["initial_comment"] = "Trivial change.\n\n[CI SKIP]".into();
    story::post(&url, &pr, "pr-1").await;
    assert!(h.koji.builds().is_empty());
    assert_eq!(flags_of(&h, FIRST_SHA).len(), 6);
}

#[test]
fn the_author_may_skip_and_a_scratch_build_resumes() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        h.koji.set_next_task_id(500);
        story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        assert_eq!(h.koji.builds().len(), 1);
        // The build flag exists already: skipping keeps it, and marks the tests skipped.
        let skip = story::comment(FIRST_SHA, PR_AUTHOR, "/packit-ci skip");
        let (status, body) = story::post(&url, &skip, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let flags = flags_of(&h, FIRST_SHA);
        let build_uid =
            FlagKey::build(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), "rawhide", FIRST_SHA).uid;
        assert_eq!(flags.iter().find(|f| f.uid == build_uid).unwrap().status, "pending");
        assert_eq!(flags.iter().filter(|f| f.comment == "skipped by zwhite").count(), 5);

        // Work already under way completes; a skip stops new submissions, so the
        // next commit is not built.
        let mut updated = story::pr_event("updated", SECOND_SHA);
        updated.body["pullrequest"]["title"] = "no marker".into();
        story::post(&url, &updated, "pr-2").await;
        assert_eq!(h.koji.builds().len(), 1);

        // Someone else (no packager, not the author) cannot skip.
        let stranger = story::comment(SECOND_SHA, "stranger", "/packit-ci skip");
        story::post(&url, &stranger, "c-2").await;
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1);
        assert!(comments[0].body.contains("not a packager"), "{}", comments[0].body);

        let build = story::comment(SECOND_SHA, PACKAGER, "/packit-ci scratch-build");
        let (status, body) = story::post(&url, &build, "c-3").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.koji.builds().len(), 2);
        assert_eq!(h.pagure.comments().len(), 1);
    });
}

#[test]
fn rerun_builds_the_head_again_and_the_tests_follow() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        let first = h.koji.builds()[0].task_id;
        story::post(&koji_finished, &finished(&h, first, KojiTaskState::Closed), "k-1").await;
        assert_eq!(h.tf.requests().len(), 5);

        let rerun = story::comment(FIRST_SHA, PACKAGER, "/packit-ci rerun");
        let (status, body) = story::post(&url, &rerun, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let builds = h.koji.builds();
        assert_eq!(builds.len(), 2, "a new build of the same head");
        assert_eq!(builds[1].src(), builds[0].src());
        let (status, body) =
            story::post(&koji_finished, &finished(&h, builds[1].task_id, KojiTaskState::Closed), "k-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.tf.requests().len(), 10, "all tests again after the new build");
        // The same redelivered comment does nothing more.
        story::post(&url, &rerun, "c-1").await;
        assert_eq!(h.koji.builds().len(), 2);
        assert!(h.pagure.comments().is_empty());
    });
}

#[test]
fn test_without_a_successful_build_builds_first_then_tests() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        let test = story::comment(FIRST_SHA, PACKAGER, "/packit-ci test");
        let (status, body) = story::post(&url, &test, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let builds = h.koji.builds();
        assert_eq!(builds.len(), 1, "built first instead of failing");
        assert!(h.tf.requests().is_empty());
        story::post(&koji_finished, &finished(&h, builds[0].task_id, KojiTaskState::Closed), "k").await;
        assert_eq!(h.tf.requests().len(), 5);
        assert!(h.pagure.comments().is_empty());
    });
}

#[test]
fn named_tests_before_any_build_build_once_then_run_only_those_tests() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        let rpmlint = story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpmlint");
        let (status, body) = story::post(&url, &rpmlint, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(koji_build_calls(&h), 1, "built first instead of failing");
        let waiting = test_flag(&h, "rpmlint", FIRST_SHA).expect("the named test has a flag at once");
        assert_eq!(
            (waiting.status.as_str(), waiting.comment.as_str()),
            ("pending", "Waiting for the RPM build to finish.")
        );

        // A second name while that build runs joins it; a redelivery changes nothing.
        let installability = story::comment(FIRST_SHA, PACKAGER, "/packit-ci test installability");
        let (status, body) = story::post(&url, &installability, "c-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        story::post(&url, &rpmlint, "c-1").await;
        assert_eq!(koji_build_calls(&h), 1, "attached to the running build");
        assert!(h.tf.requests().is_empty());

        let task = h.koji.builds()[0].task_id;
        let (status, body) = story::post(&koji_finished, &finished(&h, task, KojiTaskState::Closed), "k").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(submitted_tests(&h, FIRST_SHA), ["installability", "rpmlint"]);
        assert_eq!(h.tf.requests().len(), 2, "only the tests asked for");
        for request in h.tf.requests() {
            assert_eq!(
                request.payload["environments"][0]["variables"]["KOJI_TASK_ID"],
                task.to_string(),
                "{request:?}"
            );
        }
        // A repeated CLOSED submits nothing more.
        story::post(&koji_finished, &finished(&h, task, KojiTaskState::Closed), "k2").await;
        assert_eq!(h.tf.requests().len(), 2);
    });
}

#[test]
fn a_named_test_during_the_pr_build_joins_it_and_the_poller_runs_the_suite_once() {
    in_realm_async(async {
        // The poller looks at the build at once instead of after its grace period.
        let h = Harness::with_env(&[("FEDORA_CI_POLL_GRACE_SECONDS", "0")]).await;
        let url = start(&h).await;
        story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        assert_eq!(koji_build_calls(&h), 1);
        let rpmlint = story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpmlint");
        let (status, body) = story::post(&url, &rpmlint, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(koji_build_calls(&h), 1, "no second build of the same head");

        // The Koji message is lost; the poller sees the task closed.
        h.koji.set_task_state(h.koji.builds()[0].task_id, KojiTaskState::Closed);
        let poller = h.serve("result-poller", result_poller::routes).await;
        let r = reqwest::Client::new().post(&poller).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // The PR build's whole suite, with the asked-for test in it once.
        assert_eq!(
            submitted_tests(&h, FIRST_SHA),
            ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"]
        );
        assert_eq!(h.tf.requests().len(), 5);
    });
}

#[test]
fn a_failed_build_ends_the_waiting_tests_flags_with_the_reason() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        story::post(&url, &story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpmlint"), "c-1").await;
        story::post(&url, &story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpminspect"), "c-2").await;
        assert_eq!(koji_build_calls(&h), 1);
        let task = h.koji.builds()[0].task_id;
        let (status, body) = story::post(&koji_finished, &finished(&h, task, KojiTaskState::Failed), "k").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(h.tf.requests().is_empty());
        for test in ["rpmlint", "rpminspect"] {
            let flag = test_flag(&h, test, FIRST_SHA).unwrap();
            assert_eq!(
                (flag.status.as_str(), flag.comment.as_str()),
                ("error", "Not run: the RPM build failed."),
                "{test}"
            );
        }
        assert!(test_flag(&h, "installability", FIRST_SHA).is_none(), "tests nobody asked for get no flag");

        // Asking again after the failure builds anew rather than waiting on the failed build.
        story::post(&url, &story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpmlint"), "c-3").await;
        assert_eq!(koji_build_calls(&h), 2);
        assert_eq!(test_flag(&h, "rpmlint", FIRST_SHA).unwrap().status, "pending");
    });
}

#[test]
fn a_new_commit_cancels_the_build_and_its_waiting_tests_say_so() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        story::post(&url, &story::comment(FIRST_SHA, PACKAGER, "/packit-ci test rpmlint"), "c-1").await;
        assert_eq!(koji_build_calls(&h), 1);
        let (status, body) = story::post(&url, &story::pr_event("updated", SECOND_SHA), "pr-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let flag = test_flag(&h, "rpmlint", FIRST_SHA).unwrap();
        // Since issue #19 the waiting test ends with the new head, saying why.
        assert_eq!((flag.status.as_str(), flag.comment.as_str()), ("canceled", "Not run: superseded by 2222222."));
        assert!(h.tf.requests().is_empty());
    });
}

/// The hub finishes `task` in `state`, and Koji's message says so (koji-finished
/// confirms a finished task with the hub before acting on the message).
fn finished(h: &Harness, task: i64, state: KojiTaskState) -> fedora_ci::dev::testing::Fixture {
    h.koji.set_task_state(task, state);
    story::task_message(PREFIX, task, state, "packit")
}
