//! Koji: our build channel, and builds on a second Koji hub (an extra instance,
//! e.g. Fedora's RISC-V Koji) — two Koji sandboxes, pr-opened, koji-finished and
//! the poller over HTTP, a real Postgres.

use fedora_ci::config::Deployment;
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::sandbox::koji::KojiHub;
use fedora_ci_tests::story::{self, FIRST_SHA};
use reqwest::StatusCode;
use serde_json::Value;

const PREFIX: &str = "org.fedoraproject.prod.";
const RISCV_PREFIX: &str = "org.fedoraproject.prod.riscv.";
/// Both hubs hand out the same task id: only the instance tells the builds apart.
const TASK: i64 = 7000;

#[tokio::test]
async fn scratch_builds_go_to_the_configured_channel() {
    let h = Harness::with_env(&[("KOJI_CHANNEL", "ci")]).await;
    h.koji.add_channel("ci");
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    let url = h.serve("pr-opened", pr_opened::routes).await;
    let (status, body) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let builds = h.koji.builds();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].channel.as_deref(), Some("ci"));
}

/// A channel the hub does not have, has disabled, or does not grant our user is
/// the hub's refusal (`kojihub.make_task`): the build flag is an error with the
/// hub's reason, and nothing is built or retried.
#[tokio::test]
async fn a_channel_the_hub_refuses_ends_the_build_in_an_error_with_the_hub_s_reason() {
    for (case, setup, reason) in [
        ("unknown", None, "No such channel: ci"),
        ("disabled", Some(false), "Channel ci is disabled."),
        ("not ours", Some(true), "invalid channel policy"),
    ] {
        let h = Harness::with_env(&[("KOJI_CHANNEL", "ci")]).await;
        match setup {
            None => {}
            Some(false) => {
                h.koji.add_channel("ci");
                h.koji.set_channel_enabled("ci", false);
            }
            Some(true) => {
                h.koji.add_channel("ci");
                h.koji.restrict_channel("ci", &["kojira"]);
            }
        }
        h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
        let url = h.serve("pr-opened", pr_opened::routes).await;
        let (status, body) = story::post(&url, &story::pr_event("new", FIRST_SHA), "pr-1").await;
        assert_eq!(status, StatusCode::OK, "{case}: {body}");
        assert!(h.koji.builds().is_empty(), "{case}");
        let key = FlagKey::build(Deployment::Prod, &story::recorded_pr(), "rawhide", FIRST_SHA);
        let f = h.pagure.flags().into_iter().find(|f| f.uid == key.uid).expect("build flag");
        let expected = format!("Koji refused the build: {}.", reason.trim_end_matches('.'));
        assert_eq!((f.status.as_str(), f.comment.as_str()), ("error", expected.as_str()), "{case}");
        assert_eq!(status_of(&h, "primary").await, "error", "{case}");
    }
}

async fn two_hubs() -> (Harness, KojiHub) {
    let riscv = Harness::second_koji().await;
    let h = Harness::with_env(&[
        ("KOJI_INSTANCES", "riscv"),
        ("KOJI_RISCV_HUB_URL", &riscv.url()),
        ("KOJI_RISCV_WEB_URL", &riscv.web_url()),
        ("KOJI_RISCV_TOPIC_PREFIX", RISCV_PREFIX),
        ("KOJI_RISCV_TARGETS", "rawhide=f44-riscv"),
        ("KOJI_RISCV_FLAG_NAME", "riscv64"),
        ("KOJI_RISCV_CHANNEL", "riscv-ci"),
        ("KOJI_RISCV_PKGS_URL", &riscv.pkgs_url()),
        ("FEDORA_CI_POLL_GRACE_SECONDS", "0"),
    ])
    .await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    riscv.add_channel("riscv-ci");
    h.koji.set_next_task_id(TASK);
    riscv.set_next_task_id(TASK);
    (h, riscv)
}

async fn status_of(h: &Harness, instance: &str) -> String {
    sqlx::query_scalar("SELECT status FROM koji_build_targets WHERE koji_instance = $1")
        .bind(instance)
        .fetch_one(&h.db.pool)
        .await
        .unwrap()
}

fn flag(h: &Harness, key: &FlagKey) -> (String, String, String) {
    let f = h.pagure.flags().into_iter().find(|f| f.uid == key.uid).expect("flag");
    (f.username, f.status, f.url)
}

#[tokio::test]
async fn a_second_hub_builds_its_targets_and_its_messages_reach_its_builds() {
    let (h, riscv) = two_hubs().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
    let (status, body) = story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (primary, other) = (h.koji.builds(), riscv.builds());
    assert_eq!((primary.len(), other.len()), (1, 1));
    assert_eq!(primary[0].target(), "rawhide");
    assert_eq!(other[0].target(), "f44-riscv");
    assert_eq!(other[0].src(), primary[0].src());
    assert_eq!(other[0].channel.as_deref(), Some("riscv-ci"));
    let riscv_key = FlagKey::instance_build(
        Deployment::Prod,
        &fedora_ci_tests::story::recorded_pr(),
        "riscv64",
        "f44-riscv",
        FIRST_SHA,
    );
    let (name, status, url) = flag(&h, &riscv_key);
    assert_eq!((name.as_str(), status.as_str()), ("Fedora CI - scratch build (riscv64)", "pending"));
    assert_eq!(url, format!("{}/taskinfo?taskID={TASK}", riscv.web_url()));

    // The RISC-V hub's message (same task id as the primary build) finishes only
    // the RISC-V build, and no tests follow it.
    riscv.set_task_state(TASK, KojiTaskState::Closed);
    let done = story::task_message(RISCV_PREFIX, TASK, KojiTaskState::Closed, "packit");
    let (status, body) = story::post(&koji_finished, &done, "riscv-closed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&h, "riscv").await, "success");
    assert_eq!(status_of(&h, "primary").await, "pending");
    assert_eq!(flag(&h, &riscv_key).1, "success");
    assert!(h.tf.requests().is_empty());

    // A foreign owner on the RISC-V topic is not ours; another prefix is not handled.
    let foreign = story::task_message(RISCV_PREFIX, TASK, KojiTaskState::Failed, "someone-else");
    let (status, _) = story::post(&koji_finished, &foreign, "foreign").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let elsewhere = story::task_message("org.example.other.", TASK, KojiTaskState::Failed, "packit");
    let (status, _) = story::post(&koji_finished, &elsewhere, "elsewhere").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // The primary hub's message finishes the primary build; its tests run.
    h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let done = story::task_message(PREFIX, TASK, KojiTaskState::Closed, "packit");
    let (status, body) = story::post(&koji_finished, &done, "primary-closed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&h, "primary").await, "success");
    assert_eq!(h.tf.requests().len(), 5);
}

#[tokio::test]
async fn the_poller_asks_each_build_s_own_hub_and_an_outage_of_one_spares_the_other() {
    let (h, riscv) = two_hubs().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    let poller = h.serve("result-poller", result_poller::routes).await;
    let pass = || async {
        let r = reqwest::Client::new().post(&poller).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()
    };

    // Lost messages: the RISC-V task failed, the primary one is still running.
    riscv.set_task_state(TASK, KojiTaskState::Failed);
    h.koji.set_task_state(TASK, KojiTaskState::Open);
    let summary = pass().await;
    assert_eq!(summary["koji_checked"], 2, "{summary}");
    assert_eq!(status_of(&h, "riscv").await, "failure");
    assert_eq!(status_of(&h, "primary").await, "running");

    // The RISC-V hub down does not keep the primary build from being checked.
    riscv.set_down(true);
    h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let summary = pass().await;
    assert_eq!(summary["errors"], 0, "the failed RISC-V build is final, not asked again: {summary}");
    assert_eq!(status_of(&h, "primary").await, "success");
}

#[tokio::test]
async fn a_hub_that_is_down_leaves_its_own_builds_for_the_next_pass() {
    let (h, riscv) = two_hubs().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    let poller = h.serve("result-poller", result_poller::routes).await;
    riscv.set_down(true);
    h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let r = reqwest::Client::new().post(&poller).send().await.unwrap();
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["errors"], 1, "{summary}");
    assert_eq!(status_of(&h, "primary").await, "success");
    assert_eq!(status_of(&h, "riscv").await, "pending");
    riscv.set_down(false);
    riscv.set_task_state(TASK, KojiTaskState::Closed);
    let r = reqwest::Client::new().post(&poller).send().await.unwrap();
    let _: Value = r.json().await.unwrap();
    assert_eq!(status_of(&h, "riscv").await, "success");
}

#[tokio::test]
async fn the_status_page_and_read_api_link_each_build_to_its_own_hub() {
    let (h, riscv) = two_hubs().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    let api = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let (status, body) = story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pr = h.pagure.flags()[0].pr.clone();
    let page_url = format!("{api}/pr/rpms/optee_os/{}", pr.rsplit('#').next().unwrap());
    let primary_href = format!("href=\"{}/taskinfo?taskID={TASK}\"", h.koji.web_url());
    let riscv_href = format!("href=\"{}/taskinfo?taskID={TASK}\"", riscv.web_url());
    let page = |url: String| async move { reqwest::get(url).await.unwrap().text().await.unwrap() };

    let html = page(page_url.clone()).await;
    assert!(html.contains(&primary_href) && html.contains(&riscv_href), "{html}");
    assert!(html.contains("f44-riscv (riscv64)"), "the hub's label beside its target: {html}");

    // Rows without a stored task URL (written before URLs were kept) still link to their own hub.
    sqlx::query("UPDATE koji_build_targets SET web_url = NULL").execute(&h.db.pool).await.unwrap();
    let html = page(page_url).await;
    assert!(html.contains(&primary_href) && html.contains(&riscv_href), "{html}");

    let list: Value = serde_json::from_str(&page(format!("{api}/api/koji-builds/")).await).unwrap();
    let urls: Vec<&str> = list.as_array().unwrap().iter().filter_map(|b| b["web_url"].as_str()).collect();
    let mut expected = vec![
        format!("{}/taskinfo?taskID={TASK}", h.koji.web_url()),
        format!("{}/taskinfo?taskID={TASK}", riscv.web_url()),
    ];
    let mut urls: Vec<String> = urls.into_iter().map(str::to_owned).collect();
    urls.sort();
    expected.sort();
    assert_eq!(urls, expected, "{list}");
}

/// `KOJI_<NAME>_PKGS_URL`: an extra hub's build logs are served by its own log
/// server, so the links a packager follows from the status page (and the API)
/// point there — and answer — not at the main hub's.
#[tokio::test]
async fn an_extra_hub_s_build_logs_link_to_its_own_log_server() {
    let (h, riscv) = two_hubs().await;
    let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
    let api = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let poller = h.serve("result-poller", result_poller::routes).await;
    story::post(&pr_opened, &story::pr_event("new", FIRST_SHA), "pr-1").await;
    riscv.set_task_state(TASK, KojiTaskState::Closed);
    let r = reqwest::Client::new().post(&poller).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status_of(&h, "riscv").await, "success");

    let child = riscv.child(TASK, "buildArch", "x86_64").expect("x86_64 subtask");
    let log = format!("{}/work/tasks/{}/{child}/build.log", riscv.pkgs_url(), child % 10000);
    assert_ne!(riscv.pkgs_url(), h.koji.pkgs_url());
    let stored: Value =
        sqlx::query_scalar("SELECT build_logs_urls FROM koji_build_targets WHERE koji_instance = 'riscv'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(stored["x86_64"], log.as_str(), "{stored}");
    let pr = h.pagure.flags()[0].pr.clone();
    let html = reqwest::get(format!("{api}/pr/rpms/optee_os/{}", pr.rsplit('#').next().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("href=\"{log}\"")), "{html}");
    let served = reqwest::get(&log).await.unwrap();
    assert_eq!(served.status(), StatusCode::OK, "the link answers on the RISC-V hub's log server");
}
