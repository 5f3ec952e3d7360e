//! Issue #13, point 7: status goes through flags only. A whole PR story with
//! failures, outages and retries posts no comment at all; commands and refusals
//! get exactly one answer each, also when delivered twice.

use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::story::{self, FIRST_SHA, SOURCE_REPO};
use reqwest::StatusCode;

const PREFIX: &str = "org.fedoraproject.prod.";
const SECOND_SHA: &str = "2222222222222222222222222222222222222222";

async fn age_and_poll(h: &Harness, poller: &str, minutes: i32) {
    for (table, submitted) in
        [("koji_build_targets", "build_submitted_time"), ("tft_test_run_targets", "submitted_time")]
    {
        sqlx::query(&format!(
            "UPDATE {table} SET {submitted} = {submitted} - make_interval(mins => $1), \
             next_attempt_at = next_attempt_at - make_interval(mins => $1), \
             last_checked_at = last_checked_at - make_interval(mins => $1)"
        ))
        .bind(minutes)
        .execute(&h.db.pool)
        .await
        .unwrap();
    }
    let r = reqwest::Client::new().post(poller).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pr_story_with_failures_and_retries_posts_no_comment() {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.fas.set_groups("mjones", &["packager"]);
    // An invalid settings file: reported on a flag, not in a comment.
    h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "eln: nope\n");
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    let poller = h.serve("result-poller", result_poller::routes).await;

    // Koji fails the submission: retried by the poller.
    h.koji.set_down(true);
    let (status, _) = story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.koji.builds().is_empty());
    h.koji.set_down(false);
    age_and_poll(&h, &poller, 2).await;
    let first = h.koji.builds();
    assert_eq!(first.len(), 1, "the retry submitted the build");

    // The build fails; a new commit builds again and succeeds while Testing Farm is down.
    h.koji.set_task_state(first[0].task_id, KojiTaskState::Failed);
    let failed = story::task_message(PREFIX, first[0].task_id, KojiTaskState::Failed, "packit");
    story::post(&koji_finished, &failed, "k-1").await;
    story::post(&pr_opened, &story::pr_event("updated", SECOND_SHA), "pr-2").await;
    let second = h.koji.builds()[1].task_id;
    h.tf.faults.set_down(true);
    h.koji.set_task_state(second, KojiTaskState::Closed);
    let done = story::task_message(PREFIX, second, KojiTaskState::Closed, "packit");
    let (status, _) = story::post(&koji_finished, &done, "k-2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.tf.requests().is_empty());
    h.tf.faults.set_down(false);
    age_and_poll(&h, &poller, 2).await;
    let requests = h.tf.requests();
    assert_eq!(requests.len(), 5, "the retry submitted the tests");

    // Results arrive only through the poller (webhooks lost): one error, the rest pass.
    h.tf.set_state(&requests[0].id, "error", None, Some("no machines"));
    for r in &requests[1..] {
        h.tf.set_state(&r.id, "complete", Some("passed"), None);
    }
    age_and_poll(&h, &poller, 20).await;

    let flags = h.pagure.flags();
    assert!(flags.iter().any(|f| f.status == "error"), "{flags:?}");
    assert!(flags.iter().any(|f| f.comment.starts_with("config error: 1:")), "{flags:?}");
    assert!(flags.iter().all(|f| f.status != "pending"), "{flags:?}");
    assert_eq!(h.pagure.comments(), [], "status goes through flags only");
}

#[test]
fn commands_and_refusals_get_exactly_one_answer() {
    in_realm_async(async {
        let h = Harness::start().await;
        h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
        h.fas.set_groups("mjones", &["packager"]);
        let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
        story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        assert!(h.pagure.comments().is_empty());

        let cases = [
            ("anyone", "/packit-ci help", "c-help", "Fedora CI commands"),
            ("stranger", "/packit-ci rerun", "c-refused", "not a packager"),
            ("mjones", "/packit-ci rebuild", "c-invalid", "unknown command `rebuild`"),
        ];
        for (i, (user, text, id, needle)) in cases.iter().enumerate() {
            let fixture = story::comment(FIRST_SHA, user, text);
            story::post(&pr_opened, &fixture, id).await;
            story::post(&pr_opened, &fixture, id).await;
            let comments = h.pagure.comments();
            assert_eq!(comments.len(), i + 1, "{text}: {comments:?}");
            assert!(comments[i].body.contains(needle), "{text}: {}", comments[i].body);
        }
        // Commands that do their work answer with flags only.
        for (text, id) in [("/packit-ci rerun", "c-rerun"), ("/packit-ci scratch-build", "c-build")] {
            let (status, body) = story::post(&pr_opened, &story::comment(FIRST_SHA, "mjones", text), id).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        assert_eq!(h.koji.builds().len(), 3);
        assert_eq!(h.pagure.comments().len(), cases.len());
    });
}
