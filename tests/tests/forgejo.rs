//! Fedora dist-git on Forgejo: the whole PR story of a Forgejo PR — opened →
//! scratch build → tests → results, a new head, a command, a skip, closed — over
//! HTTP against the Forgejo, Koji, Testing Farm and FASJSON sandboxes and a real
//! Postgres, asserting what the PR shows (its commit statuses, as Forgejo serves
//! them) and what Koji and Testing Farm received. And the same commit on a Pagure
//! PR and a Forgejo PR never mixes.

use fedora_ci::dev::testing::Fixture;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::{Harness, WEBHOOK_SECRET};
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::sandbox::forgejo::CommitStatus;
use fedora_ci_tests::story;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PREFIX: &str = "org.fedoraproject.prod.";
/// The recorded PR: rpms/python-requests #3501 from alice's fork, against rawhide.
const REPO: &str = "rpms/python-requests";
const PR: u64 = 3501;
const FIRST: &str = "1a69eb79bbfa26ec63e95863cf15dcd77f985ede";
const SECOND: &str = "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b";
const PACKAGER: &str = "carol";

/// A `forgejo.pull_request` of the recorded PR with `action`, at `sha`, on the
/// harness's Forgejo instance.
fn pr_event(h: &Harness, action: &str, sha: &str) -> Fixture {
    let mut f = Fixture::load_from("forgejo", "forgejo_pr_opened.json");
    let text = serde_json::to_string(&f.body).unwrap().replace("https://forge.fedoraproject.org", &h.forgejo.url);
    f.body = serde_json::from_str(&text).unwrap();
    f.body["action"] = action.into();
    f.body["pull_request"]["head"]["sha"] = sha.into();
    f
}

/// A `forgejo.issue_comment` on the recorded PR at `sha` by `user`; each call is a
/// new comment (its own id).
fn comment(h: &Harness, sha: &str, user: &str, text: &str) -> Fixture {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(900_000);
    let pr = pr_event(h, "opened", sha);
    let mut f = Fixture::load_from("forgejo", "forgejo_pr_comment_ci_test.json");
    f.body = json!({
        "action": "created",
        "is_pull": true,
        "issue": { "number": PR, "state": "open" },
        "pull_request": pr.body["pull_request"],
        "repository": pr.body["repository"],
        "sender": { "login": user },
        "comment": { "id": NEXT.fetch_add(1, Ordering::Relaxed), "body": text, "user": { "login": user } },
    });
    f
}

async fn start(h: &Harness) -> String {
    h.forgejo.set_branches(REPO, &["rawhide"]);
    h.fas.set_groups(PACKAGER, &["packager"]);
    h.serve("pr-opened", pr_opened::routes).await
}

/// What the PR shows for `context` (its head's newest status of that context).
fn shown(h: &Harness, context: &str) -> Option<CommitStatus> {
    h.forgejo.shown(REPO, PR).into_iter().find(|s| s.context == context)
}

fn finished(h: &Harness, task: i64, state: KojiTaskState) -> Fixture {
    h.koji.set_task_state(task, state);
    story::task_message(PREFIX, task, state, "packit")
}

/// Testing Farm finishes `id` and calls tf-finished's webhook.
async fn tf_result(h: &Harness, tf_finished: &str, id: &str, overall: &str) -> StatusCode {
    h.tf.set_state(id, "complete", Some(overall), None);
    reqwest::Client::new()
        .post(format!("{tf_finished}testing-farm/results"))
        .json(&json!({ "request_id": id, "token": WEBHOOK_SECRET }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_forgejo_pr_is_built_tested_and_its_results_are_commit_statuses() {
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    let tf_finished = h.serve("tf-finished", tf_finished::routes).await;
    // The fork's head carries its own tmt plans, read through Forgejo's raw file API.
    h.forgejo.add_file("alice/python-requests", FIRST, ".fmf/version", "1\n");

    let (status, body) = story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let builds = h.koji.builds();
    assert_eq!(builds.len(), 1);
    // Koji builds the fork's git on the forge, at the head.
    assert_eq!(builds[0].src(), format!("git+{}/alice/python-requests.git#{FIRST}", h.forgejo.url));
    assert!(builds[0].scratch());
    let build = shown(&h, "Fedora CI - scratch build").expect("a scratch build status on the head");
    assert_eq!((build.state.as_str(), build.sha.as_str(), build.creator.as_str()), ("pending", FIRST, "packit-ci"));
    assert!(build.target_url.contains(&builds[0].task_id.to_string()), "{}", build.target_url);
    // Nothing went to Pagure.
    assert!(h.pagure.flag_posts().is_empty());

    let (status, body) =
        story::post(&koji_finished, &finished(&h, builds[0].task_id, KojiTaskState::Closed), "k-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shown(&h, "Fedora CI - scratch build").unwrap().state, "success");
    let requests = h.tf.requests();
    assert_eq!(requests.len(), 6, "the suite on the build, and the PR's own plans");
    let custom = requests.iter().find(|r| r.payload.to_string().contains("alice/python-requests")).unwrap();
    assert_eq!(custom.payload["test"]["tmt"]["url"], format!("{}/alice/python-requests.git", h.forgejo.url));
    assert_eq!(custom.payload["test"]["tmt"]["ref"], FIRST);
    for r in &requests {
        let env = &r.payload["environments"][0];
        assert_eq!(env["variables"]["KOJI_TASK_ID"], builds[0].task_id.to_string(), "{env}");
    }
    for test in ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"] {
        let s = shown(&h, &format!("Fedora CI - {test}")).unwrap_or_else(|| panic!("{test} status"));
        assert_eq!(s.state, "pending", "{test}");
    }

    let rpmlint = requests.iter().find(|r| r.payload.to_string().contains("rpmlint")).unwrap();
    assert_eq!(tf_result(&h, &tf_finished, &rpmlint.id, "failed").await, StatusCode::OK);
    let s = shown(&h, "Fedora CI - rpmlint").unwrap();
    assert_eq!(s.state, "failure");
    assert!(s.target_url.contains(&rpmlint.id), "{}", s.target_url);
    let installability = requests.iter().find(|r| r.payload.to_string().contains("installability")).unwrap();
    assert_eq!(tf_result(&h, &tf_finished, &installability.id, "passed").await, StatusCode::OK);
    assert_eq!(shown(&h, "Fedora CI - installability").unwrap().state, "success");
    // One context per check: every state of a check is a status of that context.
    let contexts: std::collections::BTreeSet<String> = h.forgejo.statuses().into_iter().map(|s| s.context).collect();
    assert_eq!(contexts.len(), 7, "{contexts:?}");
}

#[tokio::test]
async fn fedora_ci_yaml_is_read_from_the_forgejo_head() {
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    h.forgejo.add_file("alice/python-requests", FIRST, ".fedora-ci.yaml", "enabled: false\n");
    let (status, body) = story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body.to_string().contains("turned off"), "{body}");
    assert!(h.koji.builds().is_empty());
    // Forgejo down: the event is redelivered (503), never read as "no file".
    h.forgejo.faults.set_down(true);
    let (status, body) = story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-2").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.to_string().contains("Forgejo"), "{body}");
}

#[tokio::test]
async fn a_new_head_gets_its_own_statuses_and_the_old_commit_keeps_its_own() {
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    h.forgejo.push(REPO, PR, SECOND);
    let (status, body) = story::post(&pr_opened, &pr_event(&h, "synchronized", SECOND), "fj-2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let builds = h.koji.builds();
    assert_eq!(builds.len(), 2);
    assert!(builds[1].src().ends_with(SECOND));
    // The PR shows its new head's build only.
    let shown = h.forgejo.shown(REPO, PR);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!((shown[0].sha.as_str(), shown[0].state.as_str()), (SECOND, "pending"));
    // The superseded build's status stays on its own commit, ended, not a failure.
    let old = h.forgejo.shown_on(REPO, FIRST);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].state, "warning", "{old:?}");
    assert!(old[0].description.contains(&SECOND[..7]), "{}", old[0].description);
    // A redelivered or edited event of the same head builds nothing more.
    story::post(&pr_opened, &pr_event(&h, "synchronized", SECOND), "fj-2").await;
    story::post(&pr_opened, &pr_event(&h, "edited", SECOND), "fj-3").await;
    assert_eq!(h.koji.builds().len(), 2);
}

#[test]
fn a_packagers_command_runs_and_a_strangers_is_answered_through_the_issue_comments() {
    in_realm_async(async {
        let h = Harness::start().await;
        let pr_opened = start(&h).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
        let task = h.koji.builds()[0].task_id;
        story::post(&koji_finished, &finished(&h, task, KojiTaskState::Closed), "k-1").await;
        assert_eq!(h.tf.requests().len(), 5);

        let (status, body) =
            story::post(&pr_opened, &comment(&h, FIRST, PACKAGER, "/packit-ci test rpmlint"), "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let requests = h.tf.requests();
        assert_eq!(requests.len(), 6, "rpmlint once more");
        assert!(requests[5].payload.to_string().contains("rpmlint"));
        assert!(h.forgejo.comments().is_empty());

        let (status, _) = story::post(&pr_opened, &comment(&h, FIRST, "mallory", "/packit-ci rerun"), "c-2").await;
        assert_eq!(status, StatusCode::OK);
        let comments = h.forgejo.comments();
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].pr, format!("{REPO}#{PR}"));
        assert_eq!(comments[0].user, "packit-ci");
        assert!(comments[0].body.contains("not a packager"), "{}", comments[0].body);
        assert_eq!(h.koji.builds().len(), 1, "a stranger builds nothing");
    });
}

#[test]
fn skip_ci_in_the_title_shows_warnings_and_closing_ends_the_work() {
    in_realm_async(async {
        let h = Harness::start().await;
        let pr_opened = start(&h).await;
        let mut skipped = pr_event(&h, "opened", FIRST);
        skipped.body["pull_request"]["title"] = "Rebase [skip ci]".into();
        let (status, body) = story::post(&pr_opened, &skipped, "fj-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(h.koji.builds().is_empty());
        let shown = h.forgejo.shown(REPO, PR);
        assert!(!shown.is_empty());
        assert!(shown.iter().all(|s| s.state == "warning" && s.description == "skipped by alice"), "{shown:?}");

        // Edited to drop the marker does not resume on its own; a packager's rerun does.
        let (status, body) = story::post(&pr_opened, &comment(&h, FIRST, PACKAGER, "/packit-ci rerun"), "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.koji.builds().len(), 1);
        assert_eq!(shown_state(&h, "Fedora CI - scratch build"), "pending");

        let mut closed = pr_event(&h, "closed", FIRST);
        closed.body["pull_request"]["state"] = "closed".into();
        let (status, body) = story::post(&pr_opened, &closed, "fj-2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let build = h.forgejo.shown_on(REPO, FIRST).into_iter().find(|s| s.context == "Fedora CI - scratch build");
        let build = build.unwrap();
        assert_eq!(build.state, "warning");
        assert!(build.description.contains("closed"), "{}", build.description);
        assert_eq!(h.koji.task_state(h.koji.builds()[0].task_id), Some(KojiTaskState::Canceled));
    });
}

fn shown_state(h: &Harness, context: &str) -> String {
    shown(h, context).map(|s| s.state).unwrap_or_default()
}

#[tokio::test]
async fn the_same_commit_on_a_pagure_pr_and_a_forgejo_pr_never_mixes() {
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    // Pagure's rpms/optee_os #2 and Forgejo's rpms/optee_os #2, same head.
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.forgejo.set_branches("rpms/optee_os", &["rawhide"]);
    let mut on_forgejo = pr_event(&h, "opened", story::FIRST_SHA);
    let text = serde_json::to_string(&on_forgejo.body).unwrap().replace("python-requests", "optee_os");
    on_forgejo.body = serde_json::from_str(&text).unwrap();
    on_forgejo.body["number"] = 2.into();
    on_forgejo.body["pull_request"]["number"] = 2.into();
    let (status, body) = story::post(&pr_opened, &story::pr_event("new", story::FIRST_SHA), "pagure-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = story::post(&pr_opened, &on_forgejo, "forgejo-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let builds = h.koji.builds();
    assert_eq!(builds.len(), 2, "one build per forge's PR");
    assert!(builds[0].src().starts_with(&format!("git+{}/", h.pagure.url)));
    assert!(builds[1].src().starts_with(&format!("git+{}/", h.forgejo.url)));

    // The Pagure build fails, the Forgejo one passes: each PR shows its own.
    story::post(&koji_finished, &finished(&h, builds[0].task_id, KojiTaskState::Failed), "k-1").await;
    story::post(&koji_finished, &finished(&h, builds[1].task_id, KojiTaskState::Closed), "k-2").await;
    let pagure: Vec<(String, String)> =
        h.pagure.shown("rpms/optee_os", 2).into_iter().map(|f| (f.username, f.status)).collect();
    assert!(pagure.contains(&("Fedora CI - scratch build".into(), "failure".into())), "{pagure:?}");
    assert!(!pagure.iter().any(|(name, _)| name.contains("rpmlint")), "no tests on the failed build: {pagure:?}");
    let forgejo = h.forgejo.shown("rpms/optee_os", 2);
    let build = forgejo.iter().find(|s| s.context == "Fedora CI - scratch build").unwrap();
    assert_eq!(build.state, "success");
    assert_eq!(h.tf.requests().len(), 5, "tests for the Forgejo build only");

    // The status page keeps them apart.
    let api = h.serve("api", api::routes).await;
    let page = |path: String| async move { reqwest::get(path).await.unwrap().text().await.unwrap() };
    let pagure_page = page(format!("{api}pr/rpms/optee_os/2")).await;
    let forgejo_page = page(format!("{api}forgejo/pr/rpms/optee_os/2")).await;
    assert!(pagure_page.contains(&format!("{}/rpms/optee_os/pull-request/2", h.pagure.url)), "{pagure_page}");
    assert!(forgejo_page.contains(&format!("{}/rpms/optee_os/pulls/2", h.forgejo.url)), "{forgejo_page}");
    assert_eq!(pagure_page.matches("Koji task").count(), 1);
    assert_eq!(forgejo_page.matches("Koji task").count(), 1);
    let index = page(api.clone()).await;
    // The dashboard's JSON names each build's project on its own forge.
    let builds: Value =
        reqwest::get(format!("{api}api/koji-builds/?page=1&per_page=10")).await.unwrap().json().await.unwrap();
    let mut projects: Vec<String> =
        builds.as_array().unwrap().iter().map(|b| b["project_url"].as_str().unwrap_or_default().to_owned()).collect();
    projects.sort();
    let mut expected = vec![format!("{}/rpms/optee_os", h.forgejo.url), format!("{}/rpms/optee_os", h.pagure.url)];
    expected.sort();
    assert_eq!(projects, expected);
    assert!(index.contains("href=\"/forgejo/pr/rpms/optee_os/2\"") && index.contains("href=\"/pr/rpms/optee_os/2\""));
}

#[tokio::test]
async fn forgejo_events_are_ignored_when_off_or_from_another_instance_or_organisation() {
    let h = Harness::with_env(&[("FEDORA_CI_FORGEJO", "false")]).await;
    let pr_opened = start(&h).await;
    let (status, body) = story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body.to_string().contains("FEDORA_CI_FORGEJO"), "{body}");

    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    let mut other = pr_event(&h, "opened", FIRST);
    let text = serde_json::to_string(&other.body).unwrap().replace(&h.forgejo.url, "https://forge.example.org");
    other.body = serde_json::from_str(&text).unwrap();
    let (status, body) = story::post(&pr_opened, &other, "fj-2").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut fork = pr_event(&h, "opened", FIRST);
    fork.body["repository"]["owner"]["login"] = "alice".into();
    fork.body["repository"]["full_name"] = "alice/python-requests".into();
    let (status, body) = story::post(&pr_opened, &fork, "fj-3").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for (action, id) in [("labeled", "fj-4"), ("review_requested", "fj-5")] {
        let (status, _) = story::post(&pr_opened, &pr_event(&h, action, FIRST), id).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}");
    }
    // A head that is not a commit hash, a path in a name: never built into a URL.
    let mut bad = pr_event(&h, "opened", "../../etc");
    let (status, _) = story::post(&pr_opened, &bad, "fj-6").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    bad = pr_event(&h, "opened", FIRST);
    bad.body["pull_request"]["head"]["repo"]["full_name"] = "alice/../x".into();
    let (status, _) = story::post(&pr_opened, &bad, "fj-7").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(h.koji.builds().is_empty());
    assert!(h.forgejo.statuses().is_empty());
    // A body without the shape of its topic is a 400 with the reason.
    let mut broken = pr_event(&h, "opened", FIRST);
    broken.body["pull_request"] = Value::Null;
    let (status, body) = story::post(&pr_opened, &broken, "fj-8").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_revoked_forgejo_token_keeps_statuses_unsent_until_it_works_again() {
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    h.forgejo.revoke_token();
    let (status, body) = story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.koji.builds().len(), 1, "the build does not wait for the forge");
    assert!(h.forgejo.statuses().is_empty());
    let unsent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pr_flags WHERE forge = 'forgejo' AND sent_version < version")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(unsent, 1);
    h.forgejo.renew_token();
    let ctx = h.context("result-poller");
    fedora_ci::dispatch::flush_unsent(&ctx).await.unwrap();
    assert_eq!(shown_state(&h, "Fedora CI - scratch build"), "pending");
}

#[tokio::test]
async fn a_failed_forgejo_build_is_explained_by_log_detective_as_a_status() {
    let mut h = Harness::with_env(&[("FEDORA_CI_LOG_DETECTIVE", "true")]).await;
    let pkgs = h.koji.pkgs_url();
    h.set_var("KOJI_PKGS_URL", &pkgs);
    let pr_opened = start(&h).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    story::post(&pr_opened, &pr_event(&h, "opened", FIRST), "fj-1").await;
    let task = h.koji.builds()[0].task_id;
    h.koji.set_failing_arches(task, &["x86_64"]);
    let mut failed = finished(&h, task, KojiTaskState::Failed);
    failed.body["info"]["children"] = json!(h.koji.children_json(task));
    let (status, body) = story::post(&koji_finished, &failed, "k-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shown_state(&h, "Fedora CI - scratch build"), "failure");
    // Log Detective is asked about the Forgejo project, and answers on the PR.
    let analyses = h.ld.analyses();
    assert_eq!(analyses.len(), 1);
    assert_eq!(analyses[0].body["project_url"], format!("{}/{REPO}", h.forgejo.url));
    assert_eq!(analyses[0].body["commit_sha"], FIRST);
    assert_eq!(shown_state(&h, "Fedora CI - Log Detective analysis (x86_64)"), "pending");
    assert_eq!(h.ld.release(&koji_finished).await, [StatusCode::OK]);
    let explained = shown(&h, "Fedora CI - Log Detective analysis (x86_64)").unwrap();
    assert_ne!(explained.state, "pending", "{explained:?}");
    assert!(explained.target_url.contains("/forgejo/pr/rpms/python-requests/3501"), "{}", explained.target_url);
    assert!(h.pagure.flag_posts().is_empty());
}

/// The recorded PR as a PR of `bash` (an ELN package in the harness's lists).
fn bash_pr(h: &Harness, action: &str) -> Fixture {
    let mut f = pr_event(h, action, FIRST);
    let text = serde_json::to_string(&f.body).unwrap().replace("python-requests", "bash");
    f.body = serde_json::from_str(&text).unwrap();
    f
}

#[tokio::test]
async fn eln_follows_the_forgejo_branches_and_koji_clones_the_configured_git_url() {
    let h = Harness::with_env(&[("FORGEJO_GIT_URL", "https://git.forge.example")]).await;
    let pr_opened = start(&h).await;
    h.forgejo.set_branches("rpms/bash", &["rawhide"]);
    let (status, body) = story::post(&pr_opened, &bash_pr(&h, "opened"), "fj-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut targets: Vec<String> = h.koji.builds().iter().map(|b| b.target().to_owned()).collect();
    targets.sort();
    assert_eq!(targets, ["eln", "rawhide"]);
    for b in h.koji.builds() {
        assert_eq!(b.src(), format!("git+https://git.forge.example/alice/bash.git#{FIRST}"));
    }
    // With its own `eln` branch on Forgejo, ELN builds from that, not from the PR.
    let h = Harness::start().await;
    let pr_opened = start(&h).await;
    h.forgejo.set_branches("rpms/bash", &["rawhide", "eln"]);
    story::post(&pr_opened, &bash_pr(&h, "opened"), "fj-1").await;
    let targets: Vec<String> = h.koji.builds().iter().map(|b| b.target().to_owned()).collect();
    assert_eq!(targets, ["rawhide"]);
    // Closed, then reopened: CI runs for the head again.
    let mut closed = bash_pr(&h, "closed");
    closed.body["pull_request"]["state"] = "closed".into();
    story::post(&pr_opened, &closed, "fj-2").await;
    let (status, body) = story::post(&pr_opened, &bash_pr(&h, "reopened"), "fj-3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.koji.builds().len(), 2, "a new build after reopening");
    let build = h.forgejo.shown("rpms/bash", PR).into_iter().find(|s| s.context == "Fedora CI - scratch build");
    assert_eq!(build.map(|s| s.state).as_deref(), Some("pending"));
}
