//! A rejected Pagure token (#20): with `PAGURE_TOKEN` expired, every flag and
//! comment stays unsent (none is lost), the rejection is counted under the
//! token's metric, and once the token is renewed the poller's pass sends each of
//! them once, so the PR shows the newest states.

use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::story::{self, FIRST_SHA};
use reqwest::StatusCode;
use serde_json::Value;

/// `fedora_ci_pagure_token_rejected_total`, summed over its labels.
fn token_rejections() -> f64 {
    fedora_ci::telemetry::metrics::render()
        .lines()
        .filter(|l| l.starts_with("fedora_ci_pagure_token_rejected_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn pass(url: &str) -> Value {
    let r = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// (check name, status, comment) of every flag we want on the PR, sorted.
async fn desired(h: &Harness) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT check_name, status, comment FROM pr_flags ORDER BY check_name, status, comment")
        .fetch_all(&h.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_expired_token_loses_no_flag_or_comment_and_a_renewed_one_sends_each_once() {
    let h = Harness::start().await;
    h.pagure.expire_token();
    let before = token_rejections();

    // The PR opens (pending build flag), a packager asks for help (a comment),
    // and the build finishes (success flag, the tests' flags): all refused.
    h.open_recorded_pr(pr_opened::routes).await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    let help = story::with_comment(&story::pr_event("new", FIRST_SHA), story::PR_AUTHOR, "/packit-ci help");
    assert_eq!(story::post(&pr_opened, &help, "help").await.0, StatusCode::OK);
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, KojiTaskState::Closed);
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    let closed = story::task_message("org.fedoraproject.prod.", task, KojiTaskState::Closed, "packit");
    assert_eq!(story::post(&koji_finished, &closed, "closed").await.0, StatusCode::OK);

    assert!(h.pagure.flag_posts().is_empty() && h.pagure.comments().is_empty());
    let wanted = desired(&h).await;
    assert!(wanted.len() > 1 && wanted.iter().any(|(n, s, _)| n == "Fedora CI - scratch build" && s == "success"));
    let unsent_flags: i64 = sqlx::query_scalar("SELECT count(*) FROM pr_flags WHERE sent_version < version")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent_flags as usize, wanted.len(), "every refused flag stays unsent");
    let unsent_comments: i64 = sqlx::query_scalar("SELECT count(*) FROM pr_comments WHERE sent_at IS NULL")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent_comments, 1, "the refused comment stays unsent");
    assert!(token_rejections() > before, "the rejection is counted");
    let error: String = sqlx::query_scalar("SELECT last_error FROM pr_flags WHERE last_error IS NOT NULL LIMIT 1")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert!(error.contains("401") && error.contains("Invalid or expired token"), "{error}");

    // A pass while the token is still expired sends nothing and loses nothing.
    let poller = h.serve("result-poller", result_poller::routes).await;
    pass(&poller).await;
    assert!(h.pagure.flag_posts().is_empty() && h.pagure.comments().is_empty());

    // Renewed: the next pass sends every flag and the comment, once each.
    h.pagure.renew_token();
    pass(&poller).await;
    let mut shown: Vec<_> =
        h.pagure.shown("rpms/optee_os", 2).into_iter().map(|f| (f.username, f.status, f.comment)).collect();
    shown.sort();
    assert_eq!(shown, desired(&h).await, "the PR shows the newest state of every flag");
    assert_eq!(h.pagure.flag_posts().len(), shown.len(), "each flag sent once");
    let comments = h.pagure.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("/packit-ci scratch-build"), "{}", comments[0].body);

    // Nothing is sent twice.
    pass(&poller).await;
    assert_eq!(h.pagure.flag_posts().len(), shown.len());
    assert_eq!(h.pagure.comments().len(), 1);
}

#[tokio::test]
async fn a_flag_for_a_pr_pagure_no_longer_has_is_settled_not_retried() {
    let h = Harness::start().await;
    h.open_recorded_pr(pr_opened::routes).await;
    assert_eq!(h.pagure.flag_posts().len(), 1);
    // The PR disappears from Pagure (the project was renamed or retired): the
    // build's result is refused 404 and not tried again.
    h.pagure.forget_pr("rpms/optee_os", 2);
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, KojiTaskState::Closed);
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    let closed = story::task_message("org.fedoraproject.prod.", task, KojiTaskState::Closed, "packit");
    assert_eq!(story::post(&koji_finished, &closed, "closed").await.0, StatusCode::OK);
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM pr_flags WHERE sent_version < version")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0, "a 404 settles");
    let error: String =
        sqlx::query_scalar("SELECT last_error FROM pr_flags WHERE check_name = 'Fedora CI - scratch build'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(error.contains("404") && error.contains("Pull-Request not found"), "{error}");
}
