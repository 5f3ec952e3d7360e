//! The api's read API against a seeded database: every endpoint's exact JSON
//! (golden files in tests/golden/api/), the key set packit-service's code returns
//! for it, the dashboard's paging headers, errors and CORS.
//!
//! `UPDATE_GOLDEN=1 cargo test -p fedora-ci-tests --test api` rewrites the golden
//! files; review the diff before committing it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::seed;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, HeaderMap};
use serde_json::Value;

/// 2026-01-10 10:00:00 UTC = 1768039200.
fn base() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap()
}

async fn seeded() -> (Harness, String) {
    let h = Harness::start().await;
    seed::pr_story(&h.db.pool, "https://koji.sandbox.example/koji", "https://artifacts.sandbox.example", base()).await;
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    (h, url)
}

async fn get(url: &str) -> (StatusCode, HeaderMap, Value) {
    let r = reqwest::get(url).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"));
    (status, headers, body)
}

/// Every difference between two JSON values, by path, so a failure names the field.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for k in w.keys().chain(g.keys()).collect::<BTreeSet<_>>() {
                let p = format!("{path}.{k}");
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (Some(a), None) => out.push(format!("{p}: missing (want {a})")),
                    (None, Some(b)) => out.push(format!("{p}: unexpected {b}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!("{path}: {} items, want {}", g.len(), w.len()));
            }
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {b}, want {a}")),
        _ => {}
    }
}

fn golden(name: &str, got: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/api").join(format!("{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap();
    let mut out = Vec::new();
    diff(name, &want, got, &mut out);
    assert!(out.is_empty(), "{name} differs from {}:\n{}", path.display(), out.join("\n"));
}

/// The keys packit-service's handler puts in its answer (read from its source,
/// packit_service/service/api/*.py), independent of our golden files.
fn assert_keys(what: &str, v: &Value, keys: &[&str]) {
    let got: BTreeSet<&str> =
        v.as_object().unwrap_or_else(|| panic!("{what}: {v}")).keys().map(|k| k.as_str()).collect();
    let want: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(got, want, "{what}: keys differ from packit-service's");
}

const PROJECT_INFO: [&str; 12] = [
    "pr_id",
    "issue_id",
    "branch_name",
    "release",
    "anitya_version",
    "repo_namespace",
    "repo_name",
    "project_url",
    "anitya_project_id",
    "anitya_project_name",
    "anitya_package",
    "non_git_upstream",
];

fn with_project(keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().chain(PROJECT_INFO.iter()).copied().collect()
}

#[tokio::test]
async fn koji_builds_list_item_and_group_match_packit_service() {
    let (_h, url) = seeded().await;
    let (status, headers, list) = get(&format!("{url}/api/koji-builds/?page=1&per_page=10")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(headers[CONTENT_RANGE], "koji-builds 1-10/*");
    golden("koji-builds-list", &list);
    assert_eq!(
        list.as_array().unwrap().iter().map(|b| b["packit_id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    for b in list.as_array().unwrap() {
        assert_keys(
            "koji-builds list entry",
            b,
            &[
                "packit_id",
                "task_id",
                "scratch",
                "status",
                "build_submitted_time",
                "chroot",
                "web_url",
                "build_logs_urls",
                "pr_id",
                "branch_name",
                "release",
                "project_url",
                "repo_namespace",
                "repo_name",
            ],
        );
    }

    // The dashboard's paging: page 2 of 2 per page, and the scratch filter.
    let (_, headers, page2) = get(&format!("{url}/api/koji-builds?page=2&per_page=2")).await;
    assert_eq!(headers[CONTENT_RANGE], "koji-builds 3-4/*");
    assert_eq!(page2.as_array().unwrap().len(), 1);
    assert_eq!(page2[0]["packit_id"], 1);
    let (_, _, non_scratch) = get(&format!("{url}/api/koji-builds/?scratch=false")).await;
    assert_eq!(non_scratch, serde_json::json!([]));
    let (_, _, scratch) = get(&format!("{url}/api/koji-builds/?scratch=True")).await;
    assert_eq!(scratch.as_array().unwrap().len(), 3);

    let (status, _, item) = get(&format!("{url}/api/koji-builds/2")).await;
    assert_eq!(status, StatusCode::OK);
    golden("koji-build-2", &item);
    assert_keys(
        "koji-builds item",
        &item,
        &with_project(&[
            "task_id",
            "status",
            "chroot",
            "scratch",
            "build_start_time",
            "build_finished_time",
            "build_submitted_time",
            "commit_sha",
            "web_url",
            "build_logs_urls",
            "srpm_build_id",
            "run_ids",
            "build_submission_stdout",
            "error_message",
        ]),
    );
    // Build 2 and its tests are one pipeline, as packit-service joins them.
    assert_eq!(item["run_ids"], serde_json::json!([2]));
    assert_eq!(item["build_finished_time"].as_i64().unwrap() - item["build_start_time"].as_i64().unwrap(), 1200);
    let (_, _, retried) = get(&format!("{url}/api/koji-builds/3")).await;
    golden("koji-build-3", &retried);

    let (status, _, group) = get(&format!("{url}/api/koji-builds/groups/2")).await;
    assert_eq!(status, StatusCode::OK);
    golden("koji-build-group-2", &group);
    assert_keys("koji build group", &group, &with_project(&["submitted_time", "run_ids", "build_target_ids"]));
}

#[tokio::test]
async fn testing_farm_list_item_and_group_match_packit_service() {
    let (_h, url) = seeded().await;
    let (status, headers, list) = get(&format!("{url}/api/testing-farm/results")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(headers[CONTENT_RANGE], "test-results 1-10/*");
    golden("testing-farm-results", &list);
    for t in list.as_array().unwrap() {
        assert_keys(
            "testing-farm results entry",
            t,
            &[
                "packit_id",
                "pipeline_id",
                "ref",
                "status",
                "target",
                "web_url",
                "pr_id",
                "submitted_time",
                "repo_namespace",
                "repo_name",
                "project_url",
            ],
        );
    }
    let (_, _, list2) = get(&format!("{url}/api/testing-farm/results/?per_page=2&page=1")).await;
    assert_eq!(list2.as_array().unwrap().len(), 2);

    let (status, _, item) = get(&format!("{url}/api/testing-farm/2")).await;
    assert_eq!(status, StatusCode::OK);
    golden("testing-farm-2", &item);
    assert_keys(
        "testing-farm item",
        &item,
        &with_project(&[
            "pipeline_id",
            "status",
            "chroot",
            "commit_sha",
            "web_url",
            "copr_build_ids",
            "koji_build_ids",
            "run_ids",
            "submitted_time",
        ]),
    );
    // The dashboard's "Koji build(s)" section: the build the run tested (build 2).
    assert_eq!(item["koji_build_ids"], serde_json::json!([2]));
    assert_eq!(item["run_ids"], serde_json::json!([2]));
    let (_, _, group) = get(&format!("{url}/api/testing-farm/groups/1")).await;
    golden("testing-farm-group-1", &group);
    assert_keys("test run group", &group, &with_project(&["submitted_time", "run_ids", "test_target_ids"]));
}

#[tokio::test]
async fn runs_list_item_and_merged_run_match_packit_service() {
    let (_h, url) = seeded().await;
    let (status, headers, list) = get(&format!("{url}/api/runs?page=1&per_page=20")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(headers[CONTENT_RANGE], "runs 1-20/*");
    golden("runs-list", &list);
    let merged_keys = [
        "merged_run_id",
        "srpm",
        "copr",
        "koji",
        "test_run",
        "propose_downstream",
        "pull_from_upstream",
        "bodhi_update",
        "vm_image_build",
        "time_submitted",
        "trigger",
    ];
    for r in list.as_array().unwrap() {
        assert_keys("runs list entry", r, &merged_keys);
        assert_keys("run trigger", &r["trigger"], &PROJECT_INFO);
    }

    // One row per pipeline: build 2 and its three tests are one, as the dashboard's
    // pipelines list shows them (packit-service's `TFTTestRunGroupModel.create`).
    let runs = list.as_array().unwrap();
    assert_eq!(runs.len(), 3, "{list}");
    let with_tests: Vec<&Value> = runs.iter().filter(|r| !r["test_run"].as_array().unwrap().is_empty()).collect();
    assert_eq!(with_tests.len(), 1, "{list}");
    assert_eq!(with_tests[0]["merged_run_id"], 2);
    assert_eq!(with_tests[0]["koji"].as_array().unwrap().len(), 1);
    assert_eq!(with_tests[0]["koji"][0]["packit_id"], 2);
    assert_eq!(with_tests[0]["test_run"].as_array().unwrap().len(), 3);

    let (status, _, run) = get(&format!("{url}/api/runs/2")).await;
    assert_eq!(status, StatusCode::OK);
    golden("run-2", &run);
    assert_keys(
        "run",
        &run,
        &[
            "run_id",
            "trigger",
            "srpm_build_id",
            "copr_build_group_id",
            "koji_build_group_id",
            "test_run_group_id",
            "bodhi_update_group_id",
        ],
    );

    let (status, _, merged) = get(&format!("{url}/api/runs/merged/2")).await;
    assert_eq!(status, StatusCode::OK);
    golden("run-merged-2", &merged);
    assert_keys("merged run", &merged, &merged_keys);
    // Like packit-service, an id below the first run finds the next one within 100.
    let (status, _, next) = get(&format!("{url}/api/runs/merged/0")).await;
    assert_eq!((status, next["merged_run_id"].clone()), (StatusCode::OK, 1.into()));
}

#[tokio::test]
async fn health_and_system_answer_like_packit_service() {
    let (_h, url) = seeded().await;
    let (status, _, health) = get(&format!("{url}/api/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    golden("healthz", &health);
    let head = reqwest::Client::new().head(format!("{url}/api/healthz")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.text().await.unwrap().is_empty());
    let (status, _, system) = get(&format!("{url}/api/system")).await;
    assert_eq!(status, StatusCode::OK);
    assert_keys("system", &system, &["fedora_ci"]);
    assert_keys("system package", &system["fedora_ci"], &["commit", "version"]);
    assert_eq!(system["fedora_ci"]["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn unknown_ids_are_404_json_and_bad_paging_is_400_json() {
    let (_h, url) = seeded().await;
    for (path, message) in [
        ("/api/koji-builds/99", "No info about build stored in DB"),
        ("/api/koji-builds/abc", "No info about build stored in DB"),
        ("/api/koji-builds/-1", "No info about build stored in DB"),
        ("/api/koji-builds/groups/99", "No info about group stored in DB"),
        ("/api/testing-farm/99", "No info about build stored in DB"),
        ("/api/testing-farm/groups/99", "No info about group stored in DB"),
        ("/api/runs/99", "No run has been found in DB"),
        ("/api/runs/merged/500", "No run has been found in DB"),
    ] {
        let (status, _, body) = get(&format!("{url}{path}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, serde_json::json!({ "error": message }), "{path}");
    }
    let (status, _, body) = get(&format!("{url}/api/koji-builds/?per_page=7")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    golden("bad-per-page", &body);
    for path in ["/api/runs?page=x", "/api/testing-farm/results?per_page=", "/api/koji-builds/?page=1.5"] {
        let (status, _, body) = get(&format!("{url}{path}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["message"], "Input payload validation failed", "{path}");
        assert!(body["errors"].as_object().is_some_and(|e| e.len() == 1), "{path}: {body}");
    }
    // Anything below page 1 is page 1, as in packit-service.
    let (status, headers, _) = get(&format!("{url}/api/runs?page=0&per_page=2")).await;
    assert_eq!((status, &headers[CONTENT_RANGE]), (StatusCode::PARTIAL_CONTENT, &"runs 1-2/*".parse().unwrap()));
}

#[tokio::test]
async fn only_the_dashboard_origin_may_read_it_cross_origin() {
    let h = Harness::with_env(&[("FEDORA_CI_DASHBOARD_ORIGIN", "https://dashboard.stg.packit.dev/")]).await;
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{url}/api/koji-builds/"))
        .header("Origin", "https://dashboard.stg.packit.dev")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://dashboard.stg.packit.dev");
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("content-range"), "{exposed}");

    let r = client.get(format!("{url}/api/runs")).header("Origin", "https://evil.example").send().await.unwrap();
    // The allowed origin is always the dashboard's, so a browser on any other
    // origin refuses to hand the answer to its page.
    let allowed = r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(allowed.as_deref(), Some("https://dashboard.stg.packit.dev"));

    // Preflight: GET is allowed, the method list says nothing else is.
    let r = client
        .request(reqwest::Method::OPTIONS, format!("{url}/api/runs"))
        .header("Origin", "https://dashboard.stg.packit.dev")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let methods = r.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("GET") && !methods.contains("POST") && !methods.contains("DELETE"), "{methods}");
}

#[tokio::test]
async fn a_database_outage_is_503_not_an_empty_answer() {
    let h = Harness::start().await;
    let mut ctx = h.context("api");
    // A port nothing listens on: every query fails to connect.
    let dead = fedora_ci::Secret::new("postgres://postgres@127.0.0.1:9/none");
    ctx.pool = fedora_ci::store::connect_lazy(&dead, 1).unwrap();
    let url = fedora_ci::dev::testing::serve_router(fedora_ci::runtime::app::app(ctx, api::routes)).await;
    let url = url.trim_end_matches('/');
    let (status, _, body) = get(&format!("{url}/api/koji-builds/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].is_string(), "{body}");
    let page = reqwest::get(format!("{url}/pr/rpms/bash/7")).await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// packit-service's `log_detective_result_dict` (service/api/logdetective.py).
const LOG_DETECTIVE_RUN: [&str; 10] = [
    "packit_id",
    "analysis_id",
    "status",
    "chroot",
    "commit_sha",
    "log_detective_response",
    "error_msg",
    "target_build",
    "run_ids",
    "submitted_time",
];

#[tokio::test]
async fn log_detective_list_item_and_group_match_packit_service() {
    let (h, url) = seeded().await;
    seed::log_detective_story(&h.db.pool, base()).await;

    let (status, headers, list) = get(&format!("{url}/api/log-detective?page=1&per_page=10")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(headers[CONTENT_RANGE], "log-detective-results 1-10/*");
    golden("log-detective-list", &list);
    assert_eq!(list.as_array().unwrap().iter().map(|r| r["packit_id"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 1]);
    for r in list.as_array().unwrap() {
        assert_keys("log-detective list entry", r, &with_project(&LOG_DETECTIVE_RUN));
    }
    let (_, headers, page2) = get(&format!("{url}/api/log-detective/?page=2&per_page=2")).await;
    assert_eq!(headers[CONTENT_RANGE], "log-detective-results 3-4/*");
    assert_eq!(page2, serde_json::json!([]));
    let (status, _, bad) = get(&format!("{url}/api/log-detective?per_page=7")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    let (status, _, item) = get(&format!("{url}/api/log-detective/1")).await;
    assert_eq!(status, StatusCode::OK);
    golden("log-detective-1", &item);
    assert_keys("log-detective item", &item, &with_project(&LOG_DETECTIVE_RUN));
    assert_eq!(item["status"], "complete");
    assert_eq!(item["chroot"], "rawhide-x86_64");
    assert_eq!(item["run_ids"], serde_json::json!([4]));

    let (status, _, group) = get(&format!("{url}/api/log-detective/groups/1")).await;
    assert_eq!(status, StatusCode::OK);
    golden("log-detective-group-1", &group);
    assert_keys(
        "log-detective group",
        &group,
        &with_project(&["packit_id", "submitted_time", "run_ids", "log_detective_target_ids"]),
    );
    assert_eq!(group["log_detective_target_ids"], serde_json::json!([1, 2]));

    for (path, message) in [
        ("/api/log-detective/99", "No info about Log Detective run stored in DB"),
        ("/api/log-detective/groups/99", "No info about group stored in DB"),
        ("/api/log-detective/x", "No info about Log Detective run stored in DB"),
    ] {
        let (status, _, body) = get(&format!("{url}{path}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, serde_json::json!({ "error": message }), "{path}");
    }
}

/// The dashboard's other pages (Copr, SRPM, sync releases, Bodhi, OpenScanHub, Koji
/// tags, Projects, Usage) read packit-service endpoints Fedora CI has no data for:
/// they answer as packit-service answers an empty database, with CORS, so the
/// browser hands the answer to the page instead of failing the fetch.
#[tokio::test]
async fn the_dashboards_other_pages_get_packit_services_empty_answers_with_cors() {
    let origin = "https://dashboard.packit.dev";
    let h = Harness::with_env(&[("FEDORA_CI_DASHBOARD_ORIGIN", origin)]).await;
    seed::pr_story(&h.db.pool, "https://koji.sandbox.example/koji", "https://artifacts.sandbox.example", base()).await;
    let url = h.serve("api", api::routes).await.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let fetch = |path: String| {
        let req = client.get(format!("{url}{path}")).header("Origin", origin);
        async move {
            let r = req.send().await.unwrap();
            let cors = r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(cors.as_deref(), Some(origin), "{path}: no CORS header");
            let range = r.headers().get(CONTENT_RANGE).map(|v| v.to_str().unwrap().to_owned());
            let status = r.status();
            let body: Value = r.json().await.unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
            (status, range, body)
        }
    };
    // The lists (each page's table): 206, [] and the unit of its Content-Range.
    for (path, unit) in [
        ("copr-builds", "copr-builds"),
        ("srpm-builds", "srpm-builds"),
        ("propose-downstream", "propose-downstreams"),
        ("pull-from-upstream", "pull-from-upstreams"),
        ("bodhi-updates", "bodhi-updates"),
        ("openscanhub-scans", "openscanhub-scans"),
        ("koji-tag-requests", "koji-tag-requests"),
    ] {
        let (status, range, body) = fetch(format!("/api/{path}?page=2&per_page=20")).await;
        assert_eq!((status, body), (StatusCode::PARTIAL_CONTENT, serde_json::json!([])), "{path}");
        assert_eq!(range.as_deref(), Some(format!("{unit} 21-40/*").as_str()));
    }
    // Their detail pages: packit-service's 404 bodies.
    for (path, error) in [
        ("copr-builds/5", "No info about build stored in DB"),
        ("copr-builds/groups/5", "No info about group stored in DB"),
        ("propose-downstream/5", "No info about propose downstream target stored in DB"),
        ("openscanhub-scans/5", "No info about scan stored in DB"),
        ("projects/src.fedoraproject.org/rpms/bash", "No info about project stored in DB"),
    ] {
        let (status, _, body) = fetch(format!("/api/{path}")).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, serde_json::json!({ "error": error })), "{path}");
    }
    // Projects: 200 (not 206) when empty, as projects.py answers.
    for (path, unit) in [
        ("projects", "git-projects"),
        ("projects/src.fedoraproject.org", "git-projects"),
        ("projects/src.fedoraproject.org/rpms/bash/prs", "git-project-prs"),
        ("projects/src.fedoraproject.org/rpms/bash/branches", "git-project-branches"),
    ] {
        let (status, range, body) = fetch(format!("/api/{path}")).await;
        assert_eq!((status, body), (StatusCode::OK, serde_json::json!([])), "{path}");
        assert_eq!(range.as_deref(), Some(format!("{unit} 1-10/*").as_str()));
    }
    let (_, _, bad) = fetch("/api/copr-builds?per_page=7".into()).await;
    assert_eq!(bad["message"], "Input payload validation failed");
    // Usage: the page reads `usage/<granularity>` and `usage/intervals`.
    for granularity in ["past-day", "past-week", "past-month", "past-year", "total"] {
        let (status, _, body) = fetch(format!("/api/usage/{granularity}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["active_projects"]["project_count"], 0, "{granularity}: {body}");
        assert_eq!(body["jobs"]["tft_test_run_groups"]["job_runs"], 0);
        assert_eq!(body["onboarded_projects_q1_2024"], 0);
    }
    let (status, _, body) = fetch("/api/usage/intervals?days=7&hours=0&count=4".into()).await;
    assert_eq!(status, StatusCode::OK);
    let points = body["jobs"]["koji_build_groups"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{body}");
    assert!(points.iter().all(|p| p["y"] == 0 && p["x"].as_str().is_some_and(|x| x.len() == 10)), "{body}");
    assert_eq!(body["events"]["pull_request"].as_array().unwrap().len(), 4);
    let (status, _, body) = fetch("/api/usage?from=2026-01-01".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["all_projects"], serde_json::json!({ "project_count": 0, "instances": {} }));
    let (status, _, body) = fetch("/api/usage?from=yesterday".into()).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, serde_json::json!({ "errors": ["From timestamp: invalid format"] }))
    );
    // Anything else: a JSON 404, still with CORS.
    let (status, _, body) = fetch("/api/no-such-thing/1".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().starts_with("The requested URL was not found"), "{body}");
}
