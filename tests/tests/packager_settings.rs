//! `.fedora-ci.yaml`: a package turning parts of Fedora CI off, read at the PR's
//! head through the Pagure sandbox's raw file route, with a real Postgres.

use fedora_ci::config::Deployment;
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::story::{self, FIRST_SHA, SOURCE_REPO};
use reqwest::StatusCode;

const PREFIX: &str = "org.fedoraproject.prod.";

async fn start(h: &Harness) -> String {
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.pagure.set_branches("rpms/python-teamcity-messages", &["rawhide"]);
    h.fas.set_groups("mjones", &["packager"]);
    h.serve("pr-opened", pr_opened::routes).await
}

async fn tests_requested(h: &Harness) -> Vec<String> {
    sqlx::query_scalar("SELECT test_name FROM tft_test_run_targets ORDER BY test_name")
        .fetch_all(&h.db.pool)
        .await
        .unwrap()
}

#[test]
fn eln_off_and_a_skipped_test_change_what_runs() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        // python-teamcity-messages is an ELN package: without the file it builds for ELN too.
        let mut pr = story::pr_event("new", FIRST_SHA);
        pr.body["pullrequest"]["project"]["name"] = "python-teamcity-messages".into();
        pr.body["pullrequest"]["project"]["fullname"] = "rpms/python-teamcity-messages".into();
        pr.body["pullrequest"]["repo_from"]["fullname"] = "forks/zwhite/rpms/python-teamcity-messages".into();
        h.pagure.add_file(
            "fork/zwhite/rpms/python-teamcity-messages",
            FIRST_SHA,
            ".fedora-ci.yaml",
            "# our settings\neln: false\nskip_tests:\n  - rpmlint\n",
        );
        let (status, body) = story::post(&url, &pr, "pr-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let builds = h.koji.builds();
        assert_eq!(builds.iter().map(|b| b.target().to_owned()).collect::<Vec<_>>(), ["rawhide"]);

        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        h.koji.set_task_state(builds[0].task_id, KojiTaskState::Closed);
        let done = story::task_message(PREFIX, builds[0].task_id, KojiTaskState::Closed, "packit");
        let (status, body) = story::post(&koji_finished, &done, "closed").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(tests_requested(&h).await, ["installability", "license-validate", "rmdepcheck", "rpminspect"]);
        assert_eq!(h.tf.requests().len(), 4);
        let names: Vec<String> = h.pagure.flags().into_iter().map(|f| f.username).collect();
        assert!(!names.iter().any(|n| n.contains("rpmlint") || n.contains("config")), "{names:?}");

        // A packager asking for the skipped test by name still gets it.
        let comment = story::with_comment(&pr, "mjones", "/packit-ci test rpmlint");
        let (status, body) = story::post(&url, &comment, "c-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(tests_requested(&h).await.contains(&"rpmlint".to_owned()));
    });
}

#[test]
fn enabled_false_opts_the_package_out_and_commands_get_one_refusal() {
    in_realm_async(async {
        let h = Harness::start().await;
        let url = start(&h).await;
        h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "enabled: false\n");
        let (status, body) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains("enabled: false"), "{body}");
        assert!(h.koji.builds().is_empty());
        assert!(h.pagure.flag_posts().is_empty());
        assert!(h.pagure.comments().is_empty());

        let cmd = story::comment(FIRST_SHA, "mjones", "/packit-ci scratch-build");
        let (status, body) = story::post(&url, &cmd, "c-1").await;
        assert!(status.is_success(), "{body}");
        let (status, _) = story::post(&url, &cmd, "c-1").await;
        assert!(status.is_success());
        assert!(h.koji.builds().is_empty());
        let comments = h.pagure.comments();
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert!(comments[0].body.contains(".fedora-ci.yaml"), "{}", comments[0].body);
    });
}

#[tokio::test]
async fn an_invalid_file_gets_a_neutral_config_flag_and_the_defaults() {
    let h = Harness::start().await;
    let url = start(&h).await;
    h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "eln: false\nskip_test: [rpmlint]\n");
    let (status, body) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.koji.builds().len(), 1, "the defaults apply: the build runs");
    let key = FlagKey::config(Deployment::Prod, &fedora_ci_tests::story::recorded_pr(), FIRST_SHA);
    let flag = h.pagure.flags().into_iter().find(|f| f.uid == key.uid).expect("config flag");
    assert_eq!(flag.username, "Fedora CI - config");
    assert_eq!(flag.status, "canceled");
    assert!(flag.comment.starts_with("config error: 2: unknown field `skip_test`"), "{}", flag.comment);
    let settings: serde_json::Value =
        sqlx::query_scalar("SELECT settings FROM package_settings").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(settings["skip_tests"], serde_json::json!([]));
}

#[tokio::test]
async fn pagure_down_while_reading_the_file_is_retried_not_defaulted() {
    let h = Harness::start().await;
    let url = start(&h).await;
    h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "enabled: false\n");
    h.pagure.faults.set_down(true);
    let (status, _) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.koji.builds().is_empty(), "an opted-out package must not be built while Pagure is down");
    h.pagure.faults.set_down(false);
    let (status, body) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(h.koji.builds().is_empty());
}

#[tokio::test]
async fn service_deny_lists_win_over_the_file() {
    let h = Harness::with_env(&[("FEDORA_CI_DENY_LIST", "rpms/optee_os")]).await;
    let url = start(&h).await;
    h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "enabled: true\n");
    let (status, _) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(h.koji.builds().is_empty());
}

#[tokio::test]
async fn log_detective_off_in_the_file_wins_over_the_service_switch() {
    let h = Harness::with_env(&[("FEDORA_CI_LOG_DETECTIVE", "true")]).await;
    let url = start(&h).await;
    h.pagure.add_file(SOURCE_REPO, FIRST_SHA, ".fedora-ci.yaml", "log_detective: false\n");
    story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    let ctx = h.context("koji-finished");
    let build = fedora_ci::workflows::build_state::find_build(&ctx, "primary", h.koji.builds()[0].task_id)
        .await
        .unwrap()
        .unwrap();
    let mut conn = h.db.pool.acquire().await.unwrap();
    let (_, settings) = fedora_ci::store::package_settings::for_build(&mut conn, build.id).await.unwrap().unwrap();
    assert!(!fedora_ci::workflows::log_analysis::wanted(&ctx, &build, &settings));
    assert!(fedora_ci::workflows::log_analysis::wanted(&ctx, &build, &Default::default()));
}

/// `/packit-ci scratch-build --target eln` (and `test --target eln`) builds ELN
/// only where a push would: `eln: false` and the ELN deny list win, and the
/// answer says why there is no ELN build.
#[test]
fn scratch_build_target_eln_respects_eln_false_and_the_deny_list() {
    in_realm_async(async {
        let eln_package = || {
            let mut pr = story::pr_event("new", FIRST_SHA);
            pr.body["pullrequest"]["project"]["name"] = "python-teamcity-messages".into();
            pr.body["pullrequest"]["project"]["fullname"] = "rpms/python-teamcity-messages".into();
            pr.body["pullrequest"]["repo_from"]["fullname"] = "forks/zwhite/rpms/python-teamcity-messages".into();
            pr
        };
        let eln_builds = |h: &Harness| h.koji.builds().iter().filter(|b| b.target() == "eln").count();

        // `eln: false` in the package's settings.
        let h = Harness::start().await;
        let url = start(&h).await;
        h.pagure.add_file("fork/zwhite/rpms/python-teamcity-messages", FIRST_SHA, ".fedora-ci.yaml", "eln: false\n");
        for (i, command) in ["/packit-ci scratch-build --target eln", "/packit-ci test --target eln"].iter().enumerate()
        {
            let cmd = story::with_comment(&eln_package(), "mjones", command);
            let (status, body) = story::post(&url, &cmd, &format!("off-{i}")).await;
            assert!(status.is_success(), "{body}");
        }
        assert_eq!(eln_builds(&h), 0);
        let answers: Vec<String> = h.pagure.comments().into_iter().map(|c| c.body).collect();
        let why = "No ELN build for this pull request: the package turns ELN off (`eln: false` in .fedora-ci.yaml).";
        assert_eq!(answers, [why, why]);

        // On the ELN deny list.
        let h = Harness::with_env(&[("FEDORA_CI_ELN_DENY_LIST", "rpms/python-teamcity-messages")]).await;
        let url = start(&h).await;
        let cmd = story::with_comment(&eln_package(), "mjones", "/packit-ci scratch-build --target eln");
        let (status, body) = story::post(&url, &cmd, "deny").await;
        assert!(status.is_success(), "{body}");
        assert_eq!(eln_builds(&h), 0);
        let answers: Vec<String> = h.pagure.comments().into_iter().map(|c| c.body).collect();
        assert_eq!(
            answers,
            ["No ELN build for this pull request: `rpms/python-teamcity-messages` is on the ELN deny list."]
        );

        // Neither: the command builds ELN.
        let h = Harness::start().await;
        let url = start(&h).await;
        let cmd = story::with_comment(&eln_package(), "mjones", "/packit-ci scratch-build --target eln");
        let (status, body) = story::post(&url, &cmd, "on").await;
        assert!(status.is_success(), "{body}");
        assert_eq!(eln_builds(&h), 1);
    });
}
