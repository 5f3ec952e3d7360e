//! Security: the Testing Farm webhook refuses missing and wrong tokens; names an
//! attacker controls (package, branch) reach SQL only as bound parameters, so
//! hostile ones are stored as they are and drop nothing; and no function writes
//! a configured secret to its log.

use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::{Harness, SECRETS, WEBHOOK_SECRET, WEBHOOK_SECRET_SECONDARY};
use fedora_ci_tests::realm::in_realm_async;
use fedora_ci_tests::secret_scan;
use fedora_ci_tests::stack::binary_path;
use reqwest::StatusCode;
use serde_json::json;

const HOSTILE_PACKAGE: &str = "'; DROP TABLE koji_build_targets; --";
const HOSTILE_BRANCH: &str = "f41'\"; DELETE FROM pipelines; -- ü\u{1F600}";

async fn start(h: &Harness, name: &str) -> RunningBinary {
    let owned = h.env();
    let env: Vec<(&str, String)> = owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    RunningBinary::start(binary_path(name).to_str().unwrap(), &env).await
}

#[tokio::test]
async fn the_webhook_refuses_missing_and_wrong_tokens() {
    let h = Harness::start().await;
    let tf = start(&h, "tf-finished").await;
    let client = reqwest::Client::new();
    let id = "129bd474-e4d3-49e0-9dec-d994a99feebc";
    let cases = [
        (json!({ "request_id": id }), StatusCode::UNAUTHORIZED),
        (json!({ "request_id": id, "token": "" }), StatusCode::UNAUTHORIZED),
        (json!({ "request_id": id, "token": "wrong" }), StatusCode::UNAUTHORIZED),
        // A prefix of the secret is not the secret.
        (json!({ "request_id": id, "token": &WEBHOOK_SECRET[..WEBHOOK_SECRET.len() - 1] }), StatusCode::UNAUTHORIZED),
        (json!({ "request_id": id, "token": WEBHOOK_SECRET }), StatusCode::ACCEPTED),
        (json!({ "request_id": id, "token": WEBHOOK_SECRET_SECONDARY }), StatusCode::ACCEPTED),
    ];
    for (body, expected) in cases {
        let r = client.post(tf.url("/testing-farm/results")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), expected, "{body}");
        // The same notification as a CloudEvent at `POST /`.
        let event = Fixture { name: "n".into(), topic: tf_finished::EVENT_TYPE.into(), body: body.clone() };
        let r = binary_request(&client, &tf.url("/"), &event, "n").send().await.unwrap();
        assert_eq!(r.status(), expected, "CloudEvent {body}");
    }
    let logs = tf.logs();
    assert!(logs.contains("wrong token") && logs.contains("missing token"), "refusals are logged: {logs}");
    assert!(!logs.contains(WEBHOOK_SECRET), "the secret reached the log");
}

fn hostile_pr(package: &str, branch: &str, id: u64) -> Fixture {
    let mut f = Fixture::load("pagure_pr_new.json");
    let pr = &mut f.body["pullrequest"];
    pr["id"] = id.into();
    pr["branch"] = branch.into();
    pr["commit_stop"] = format!("{id:040x}").into();
    pr["uid"] = format!("{id:032x}").into();
    pr["project"]["name"] = package.into();
    pr["project"]["fullname"] = format!("rpms/{package}").into();
    pr["project"]["url_path"] = format!("rpms/{package}").into();
    pr["full_url"] = format!("https://src.fedoraproject.org/rpms/{package}/pull-request/{id}").into();
    f
}

/// Names that cannot be Pagure's (#20: identifiers are validated before use)
/// are answered 2xx and ignored: no table changes, nothing is written or built,
/// and a well-formed PR next to them still builds.
#[tokio::test]
async fn hostile_package_and_branch_names_are_ignored_and_break_nothing() {
    let h = Harness::start().await;
    h.pagure.set_branches(&format!("rpms/{HOSTILE_PACKAGE}"), &["rawhide"]);
    let url = h.serve("pr-opened", pr_opened::routes).await;
    let client = reqwest::Client::new();
    let tables = || async {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
                .fetch_all(&h.db.pool)
                .await
                .unwrap();
        names
    };
    let before = tables().await;
    assert!(before.contains(&"koji_build_targets".to_owned()));

    let r = binary_request(&client, &url, &hostile_pr(HOSTILE_PACKAGE, "rawhide", 7), "p").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap_or_default());
    let r = binary_request(&client, &url, &hostile_pr("optee_os", HOSTILE_BRANCH, 8), "b").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap_or_default());

    assert_eq!(tables().await, before, "a table was created or dropped");
    let projects: i64 = sqlx::query_scalar("SELECT count(*) FROM git_projects").fetch_one(&h.db.pool).await.unwrap();
    assert_eq!(projects, 0, "nothing stored for a name Pagure cannot have");
    assert!(h.koji.builds().is_empty());
    assert!(h.pagure.flag_posts().is_empty());

    let r = binary_request(&client, &url, &hostile_pr("optee_os", "rawhide", 9), "ok").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(h.koji.builds().len(), 1);
}

/// Every function with every secret configured, driven through its paths
/// (including failures), writes none of them to its log.
#[test]
fn no_function_logs_a_secret() {
    in_realm_async(async {
        let h = Harness::start().await;
        h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
        let client = reqwest::Client::new();
        let mut processes = Vec::new();
        for name in ["pr-opened", "koji-finished", "tf-finished", "result-poller", "api"] {
            processes.push(start(&h, name).await);
        }
        for fixture in Fixture::all() {
            for p in &processes[..2] {
                let _ = binary_request(&client, &p.url("/"), &fixture, &fixture.name).send().await.unwrap();
            }
        }
        // Upstreams refusing our credentials, and a notification with a wrong token.
        h.pagure.faults.fail_next(3);
        let _ = binary_request(&client, &processes[0].url("/"), &Fixture::load("pagure_pr_new.json"), "x").send().await;
        for token in ["wrong", WEBHOOK_SECRET] {
            let _ = client
                .post(processes[2].url("/testing-farm/results"))
                .json(&json!({ "request_id": "r", "token": token }))
                .send()
                .await;
        }
        let _ = client.post(processes[3].url("/")).send().await;
        drop(processes);

        let dir = std::env::temp_dir().join(format!("fci-security-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Only this test's logs (the shared directory also holds other tests').
        for entry in std::fs::read_dir(fedora_ci::dev::testing::test_logs_dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(&format!("-{}-", std::process::id())) {
                std::fs::copy(&path, dir.join(&name)).unwrap();
            }
        }
        let scan = secret_scan::scan(&dir, &SECRETS).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scan.files >= 5 && scan.lines > 20, "too little was logged to mean anything: {scan:?}");
        assert!(scan.findings.is_empty(), "secrets in logs: {:?}", scan.findings);
    });
}
