//! The status page as a packager sees it: Debian's chromium (headless) renders the
//! page served against a seeded database, the test reads the rendered DOM for the
//! states and links, and writes screenshots under target/screenshots/. Also: PR
//! flags without a task link to the PR's page, and the poller's "last checked".

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use fedora_ci_tests::harness::{Harness, PUBLIC_URL};
use fedora_ci_tests::seed;
use reqwest::StatusCode;

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed, and the status page's browser test needs it: \
             run `make test` as root (scripts/deps.sh installs it) or `apt-get install chromium`"
        )
    })
}

/// Runs headless chromium on `url` with `args` (a fresh profile, no network of its own).
async fn chromium_run(url: &str, args: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!("fci-chromium-{}-{}", std::process::id(), rand_suffix()));
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium did not finish within 120 s")
        .expect("chromium could not be started");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(url: &str, name: &str, size: &str) -> PathBuf {
    let path = screenshots_dir().join(name);
    let _ = std::fs::remove_file(&path);
    chromium_run(url, &[format!("--screenshot={}", path.display()), format!("--window-size={size}")]).await;
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} is not a real PNG", path.display());
    path
}

/// The text between `<tag ...>` elements' markup, collapsed: what a reader sees.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_packager_sees_the_pr_builds_tests_and_links() {
    let h = Harness::start().await;
    // The ELN retry is due 5 minutes from now, rpminspect runs for 8 minutes.
    let base = Utc::now() - chrono::Duration::minutes(40);
    seed::pr_story(&h.db.pool, "https://koji.sandbox.example/koji", "https://artifacts.sandbox.example", base).await;
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let page = format!("{url}/pr/{}/{}/{}", seed::NAMESPACE, seed::REPO, seed::PR_ID);

    let dom = chromium_run(&page, &["--dump-dom".to_owned()]).await;
    let text = visible_text(&dom);
    // Newest commit first, with the overall state (the ELN retry and rpminspect still run).
    let head = text.find("Commit 2222222 running").unwrap_or_else(|| panic!("head commit: {text}"));
    let old = text.find("Commit 1111111 canceled").unwrap_or_else(|| panic!("old commit: {text}"));
    assert!(head < old, "{text}");
    for seen in [
        "rpms/bash PR #7",
        "Scratch build rawhide success 20 min 0 s Koji task 1002 aarch64 log x86_64 log",
        "Scratch build eln retry",
        "Submission failed; retry 1 scheduled at",
        "Koji hub unreachable: connection refused",
        "installability fedora-rawhide passed 6 min 0 s Results and logs",
        "rpmlint fedora-rawhide failed 9 min 0 s Results and logs 2 of 40 checks failed",
        "rpminspect fedora-rawhide running running for",
        "last checked",
        "superseded by 2222222",
        "this page reloads every 30 seconds",
    ] {
        assert!(text.contains(seen), "the page does not show {seen:?}:\n{text}");
    }
    for href in [
        "href=\"https://koji.sandbox.example/koji/taskinfo?taskID=1002\"",
        "href=\"https://koji.sandbox.example/koji/taskinfo?taskID=1001\"",
        "href=\"https://kojipkgs.sandbox.example/work/tasks/1003/1003/build.log\"",
        "href=\"https://artifacts.sandbox.example/0b4c5a9e-0000-4000-8000-000000000002\"",
        "href=\"https://src.fedoraproject.org/rpms/bash/pull-request/7\"",
        "href=\"https://src.fedoraproject.org/rpms/bash/c/2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
    ] {
        assert!(dom.contains(href), "no link {href}");
    }
    assert!(dom.contains("http-equiv=\"refresh\""), "a running pipeline must refresh");

    let wide = screenshot(&page, "status-page.png", "1280,1500").await;
    let phone = screenshot(&page, "status-page-phone.png", "390,2400").await;
    println!("screenshots: {} {}", wide.display(), phone.display());

    // The index lists the PR's commits and filters by package and state.
    let index =
        visible_text(&chromium_run(&format!("{url}/?package=bash&state=canceled"), &["--dump-dom".into()]).await);
    assert!(index.contains("rpms/bash #7 1111111 canceled"), "{index}");
    assert!(!index.contains("2222222"), "{index}");
    let none = reqwest::get(format!("{url}/?package=glibc")).await.unwrap().text().await.unwrap();
    assert!(none.contains("No pipelines match."), "{none}");
    let bad = reqwest::get(format!("{url}/?state=sideways")).await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    screenshot(&format!("{url}/"), "status-index.png", "1280,700").await;
}

#[tokio::test]
async fn finished_pages_do_not_refresh_and_unknown_prs_are_404() {
    let h = Harness::start().await;
    seed::pr_story(&h.db.pool, "https://koji.sandbox.example/koji", "https://artifacts.sandbox.example", Utc::now())
        .await;
    sqlx::query("UPDATE koji_build_targets SET status = 'error' WHERE status = 'retry'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE tft_test_run_targets SET status = 'passed' WHERE status = 'running'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let page = reqwest::get(format!("{url}/pr/rpms/bash/7")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(!body.contains("http-equiv=\"refresh\""));
    assert!(visible_text(&body).contains("Commit 2222222 failure"), "{body}");
    for path in ["/pr/rpms/bash/8", "/pr/rpms/zsh/7", "/pr/rpms/bash/x"] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn open_pr(h: &Harness) {
    h.open_recorded_pr(pr_opened::routes).await;
}

#[tokio::test]
async fn a_flag_without_a_task_links_to_the_prs_page_which_explains_the_retry() {
    let h = Harness::start().await;
    h.koji.set_down(true);
    open_pr(&h).await;
    let flags = h.pagure.flags();
    let flag = flags.iter().find(|f| f.username == "Fedora CI - scratch build").expect("build flag");
    let path = flag.url.strip_prefix(PUBLIC_URL).unwrap_or_else(|| panic!("flag links to {}", flag.url));
    assert!(path.starts_with("/pr/rpms/optee_os/"), "{path}");
    let api = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let r = reqwest::get(format!("{api}{path}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = visible_text(&r.text().await.unwrap());
    assert!(text.contains("Scratch build rawhide retry"), "{text}");
    assert!(text.contains("Submission failed; retry 1 scheduled at"), "{text}");
}

#[tokio::test]
async fn pending_builds_show_when_the_poller_last_asked_koji() {
    let h = Harness::with_env(&[("FEDORA_CI_POLL_GRACE_SECONDS", "0")]).await;
    open_pr(&h).await;
    let api = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let poller = h.serve("result-poller", result_poller::routes).await;
    let page = || async {
        let flags = h.pagure.flags();
        let pr = flags[0].pr.clone();
        let id = pr.rsplit('#').next().unwrap().to_owned();
        visible_text(&reqwest::get(format!("{api}/pr/rpms/optee_os/{id}")).await.unwrap().text().await.unwrap())
    };
    assert!(!page().await.contains("last checked"), "nothing asked Koji yet");

    // Koji down: the pass asks nobody, so nothing claims it was checked.
    h.koji.set_down(true);
    reqwest::Client::new().post(&poller).send().await.unwrap();
    let stamped: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT upstream_checked_at FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(stamped, None);

    h.koji.set_down(false);
    let before = Utc::now();
    let summary: serde_json::Value = reqwest::Client::new().post(&poller).send().await.unwrap().json().await.unwrap();
    assert_eq!(summary["koji_checked"], 1, "{summary}");
    let stamped: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT upstream_checked_at FROM koji_build_targets").fetch_one(&h.db.pool).await.unwrap();
    assert!(stamped.is_some_and(|t| t >= before - chrono::Duration::seconds(1)), "{stamped:?}");
    let text = page().await;
    assert!(text.contains(&format!("last checked {}", stamped.unwrap().format("%Y-%m-%d %H:%M UTC"))), "{text}");
}

#[tokio::test]
async fn a_finished_test_shows_how_long_it_took() {
    let h = Harness::with_env(&[("FEDORA_CI_POLL_GRACE_SECONDS", "0")]).await;
    open_pr(&h).await;
    let task = h.koji.builds()[0].task_id;
    h.koji.set_task_state(task, fedora_ci::messages::KojiTaskState::Closed);
    let poller = h.serve("result-poller", result_poller::routes).await;
    let client = reqwest::Client::new();
    client.post(&poller).send().await.unwrap();
    let rpmlint = h.tf.requests().into_iter().find(|r| r.payload["test"]["tmt"]["name"] == "/plans/rpmlint").unwrap();
    h.tf.set_state(&rpmlint.id, "complete", Some("passed"), None);
    client.post(&poller).send().await.unwrap();

    let finished: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT finished_time FROM tft_test_run_targets WHERE test_name = 'rpmlint'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(finished.is_some(), "a final state stamps finished_time");
    let unfinished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tft_test_run_targets WHERE finished_time IS NOT NULL AND status = 'queued'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(unfinished, 0);

    let pr = h.pagure.flags()[0].pr.clone();
    let id = pr.rsplit('#').next().unwrap().to_owned();
    let api = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let text = visible_text(&reqwest::get(format!("{api}/pr/rpms/optee_os/{id}")).await.unwrap().text().await.unwrap());
    // "rpmlint <distro> passed <n> s": a duration, not the "—" of an unknown one.
    let row = text.split("rpmlint ").nth(1).unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = row.split_whitespace().take(4).collect();
    assert_eq!(words[1], "passed", "{row}");
    assert!(words[2].parse::<u32>().is_ok() && words[3] == "s", "no duration for rpmlint: {row}");
}

#[tokio::test]
async fn a_packager_sees_log_detectives_explanation_under_the_failed_build() {
    let h = Harness::start().await;
    let base = Utc::now() - chrono::Duration::minutes(70);
    seed::pr_story(&h.db.pool, "https://koji.sandbox.example/koji", "https://artifacts.sandbox.example", base).await;
    seed::log_detective_story(&h.db.pool, base).await;
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let page = format!("{url}/pr/{}/{}/{}", seed::NAMESPACE, seed::REPO, seed::PR_ID);
    let dom = chromium_run(&page, &["--dump-dom".to_owned()]).await;
    let text = visible_text(&dom);
    for seen in [
        "Scratch build rawhide failure",
        "Log Detective: rawhide-x86_64 complete The %check section failed: test_io timed out.",
        "Log snippets File Line What it says build.log 812 FAIL: test_io (timeout after 300 s) root.log 3 Mock version: 6.1",
        "Log Detective: rawhide-aarch64 error Request to Log Detective API failed with HTTP status error: \
         Server error '500 Internal Server Error'",
    ] {
        assert!(text.contains(seen), "the page does not show {seen:?}:\n{text}");
    }
    // The flags link here: each analysis has its anchor.
    assert!(dom.contains("id=\"log-detective-1\"") && dom.contains("id=\"log-detective-2\""), "{dom}");
    let shot = screenshot(&format!("{page}#log-detective-1"), "status-page-log-detective.png", "1280,1800").await;
    println!("screenshot: {}", shot.display());
}
