//! The Testing Farm sandbox is as strict as Testing Farm (issue #20): its request
//! schema (tft-api's `schemes/test_request.py`), its error bodies (`errors.py`), its
//! `GET /requests/{id}` shape, and what Testing Farm's own CLI (PyPI tft-cli,
//! installed by scripts/tft-cli-venv.sh) sends and reads: `list` (which checks the
//! token with `whoami`), `watch`, `cancel`, and `request` itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use fedora_ci_tests::sandbox::testing_farm::{API_KEY, TestingFarmSandbox};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(tf: &TestingFarmSandbox, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = client().post(format!("{}/requests", tf.url)).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// What the product sends (shared/src/suite.rs `payload`), with a webhook.
fn ours() -> Value {
    json!({
        "test": { "tmt": { "url": "https://src.fedoraproject.org/rpms/foo.git", "ref": "abc", "name": "/plans/x" } },
        "environments": [{
            "arch": "x86_64",
            "os": { "compose": "Fedora-Rawhide" },
            "variables": { "KOJI_TASK_ID": "1" },
            "artifacts": [{ "id": "1", "type": "fedora-koji-build" }],
            "tmt": { "context": { "distro": "fedora-rawhide" } },
        }],
        "notification": { "webhook": { "url": "https://ci.example/tf", "token": "webhook-token-secret" } },
    })
}

#[tokio::test]
async fn requests_are_accepted_as_the_schema_accepts_them() {
    let tf = TestingFarmSandbox::start().await;
    assert_eq!(post(&tf, Some(API_KEY), &ours()).await.0, StatusCode::OK);
    // An `fmf` test with every optional field null, as packit-service and tft-cli send.
    let fmf = json!({
        "test": { "fmf": { "url": "https://github.com/packit/packit", "ref": null, "path": null, "name": null },
                  "sti": null, "script": null },
        "environments": [{ "arch": "aarch64", "os": null, "pool": null, "variables": null, "secrets": null,
                           "artifacts": null, "settings": null, "tmt": null }],
        "notification": null,
        "settings": null,
    });
    let (status, body) = post(&tf, Some(API_KEY), &fmf).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "new");
    // No environments at all is allowed (`Optional[List[EnvironmentRequested]]`).
    let bare = json!({ "test": { "fmf": { "url": "https://github.com/packit/packit" } } });
    assert_eq!(post(&tf, Some(API_KEY), &bare).await.0, StatusCode::OK);
    // The deprecated key in the body still authenticates.
    let mut in_body = bare.clone();
    in_body["api_key"] = API_KEY.into();
    assert_eq!(post(&tf, None, &in_body).await.0, StatusCode::OK);
    assert_eq!(tf.requests().len(), 4);
}

/// A change to our request, the path of the field error it causes, words of it.
type Case = (fn(&mut Value), &'static [&'static str], &'static str);

#[tokio::test]
async fn requests_are_refused_as_testing_farm_refuses_them_with_its_bodies() {
    let tf = TestingFarmSandbox::start().await;
    let unauthorized = json!({ "message": "Not authorized to perform this action" });
    assert_eq!(post(&tf, Some("wrong"), &ours()).await, (StatusCode::UNAUTHORIZED, unauthorized.clone()));
    assert_eq!(post(&tf, None, &ours()).await, (StatusCode::UNAUTHORIZED, unauthorized));

    let refused = |mutate: fn(&mut Value)| {
        let mut body = ours();
        mutate(&mut body);
        body
    };
    // Field errors: 400, nested as TF nests them, and a `message` summing them up.
    let cases: [Case; 7] = [
        (|b| b["environments"][0]["arch"] = "riscv64".into(), &["environments", "0", "arch"], "enumeration"),
        (|b| b["environments"][0].as_object_mut().unwrap().clear(), &["environments", "0", "arch"], "field required"),
        (|b| b["test"]["tmt"]["url"] = "not a url".into(), &["test", "tmt", "url"], "URL"),
        (|b| b["test"]["tmt"].as_object_mut().unwrap().clear(), &["test", "tmt", "url"], "field required"),
        (
            |b| b["environments"][0]["artifacts"][0]["type"] = "rpm".into(),
            &["environments", "0", "artifacts", "0", "type"],
            "enumeration",
        ),
        (|b| b["environments"][0]["variables"]["N"] = 1.into(), &["environments", "0", "variables"], "str"),
        (|b| b["notification"]["webhook"]["url"] = "ftp://x".into(), &["notification", "webhook", "url"], "scheme"),
    ];
    for (mutate, path, words) in cases {
        let (status, body) = post(&tf, Some(API_KEY), &refused(mutate)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path:?}: {body}");
        let mut at = &body["errors"];
        for key in path {
            at = &at[*key];
        }
        assert!(at.as_str().is_some_and(|e| e.contains(words)), "{path:?}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| m.starts_with(&path.join("."))), "{body}");
    }
    // `test_one_of`: a 422 with TF's message.
    let two = refused(|b| b["test"]["fmf"] = json!({ "url": "https://x.example/r" }));
    assert_eq!(
        post(&tf, Some(API_KEY), &two).await,
        (StatusCode::UNPROCESSABLE_ENTITY, json!({ "message": "Test section has more than one type." }))
    );
    let none = refused(|b| b["test"] = json!({ "tmt": null, "container": {} }));
    assert_eq!(
        post(&tf, Some(API_KEY), &none).await,
        (StatusCode::UNPROCESSABLE_ENTITY, json!({ "message": "Test section is empty or test type is wrong." }))
    );
    // A ranch without the architecture refuses it the way packit-service reads.
    tf.set_architectures(&["aarch64"]);
    let (status, body) = post(&tf, Some(API_KEY), &ours()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["environments"]["0"]["arch"].as_str().unwrap().ends_with("permitted: 'aarch64'"), "{body}");
    assert!(tf.requests().is_empty(), "nothing refused was kept");
}

#[tokio::test]
async fn a_request_reads_back_in_testing_farms_shape_with_its_times_and_no_secrets() {
    let tf = TestingFarmSandbox::start().await;
    let (_, created) = post(&tf, Some(API_KEY), &ours()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let get = || async { client().get(format!("{}/requests/{id}", tf.url)).send().await.unwrap() };
    let new: Value = get().await.json().await.unwrap();
    assert_eq!(new["state"], "new");
    assert_eq!(new["test"]["fmf"]["name"], "/plans/x", "a tmt test reads back under fmf: {new}");
    assert_eq!((new["test"]["sti"].clone(), new["test"]["script"].clone()), (Value::Null, Value::Null));
    assert_eq!(new["run"], Value::Null);
    assert_eq!((new["queued_time"].clone(), new["run_time"].clone()), (Value::Null, Value::Null), "not started");
    for field in ["created", "updated"] {
        let t = new[field].as_str().unwrap();
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.6f").unwrap_or_else(|e| panic!("{t}: {e}"));
    }

    tf.set_state(&id, "running", None, None);
    tf.set_state(&id, "complete", Some("passed"), None);
    let done: Value = get().await.json().await.unwrap();
    assert_eq!(done["result"]["overall"], "passed");
    assert!(done["run"]["artifacts"].as_str().unwrap().ends_with(&id));
    assert!(done["queued_time"].as_f64().is_some_and(|t| t >= 0.0), "{done}");
    assert!(done["run_time"].as_f64().is_some_and(|t| t >= 0.0), "{done}");
    assert!(done["updated"].as_str() >= done["created"].as_str());
    let text = done.to_string();
    assert!(!text.contains("webhook-token-secret"), "the webhook token is not echoed: {text}");
    assert!(!text.contains(API_KEY), "{text}");
    assert_eq!(done["notification"], json!({ "webhook": { "url": "https://ci.example/tf" } }));

    let missing =
        client().get(format!("{}/requests/00000000-0000-4000-8000-ffffffffffff", tf.url)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.json::<Value>().await.unwrap(), json!({ "code": 404, "message": "No such entity" }));
}

#[tokio::test]
async fn whoami_list_and_cancel_answer_as_testing_farm_does() {
    let tf = TestingFarmSandbox::start().await;
    let whoami = client().get(format!("{}/whoami", tf.url)).bearer_auth(API_KEY).send().await.unwrap();
    assert_eq!(whoami.status(), StatusCode::OK);
    assert_eq!(whoami.json::<Value>().await.unwrap()["token"]["ranch"], "public");
    for key in [None, Some("wrong")] {
        let mut req = client().get(format!("{}/whoami", tf.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        assert_eq!(req.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    let (_, a) = post(&tf, Some(API_KEY), &ours()).await;
    let (_, b) = post(&tf, Some(API_KEY), &ours()).await;
    let (a, b) = (a["id"].as_str().unwrap().to_owned(), b["id"].as_str().unwrap().to_owned());
    tf.set_state(&b, "complete", Some("failed"), None);
    let list = |query: &'static str| {
        let url = format!("{}/requests?{query}", tf.url);
        async move { client().get(url).bearer_auth(API_KEY).send().await.unwrap() }
    };
    let all: Vec<Value> = list("created_after=2000-01-01T00:00:00").await.json().await.unwrap();
    assert_eq!(all.len(), 2);
    let complete: Vec<Value> = list("created_after=2000-01-01T00:00:00&state=complete").await.json().await.unwrap();
    assert_eq!(complete.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), [json!(b)]);
    let future: Vec<Value> = list("created_after=2999-01-01T00:00:00").await.json().await.unwrap();
    assert!(future.is_empty());
    assert_eq!(list("state=sleeping").await.status(), StatusCode::BAD_REQUEST);

    let delete = |id: String, key: &'static str| {
        let url = format!("{}/requests/{id}", tf.url);
        async move { client().delete(url).bearer_auth(key).send().await.unwrap().status() }
    };
    assert_eq!(delete(a.clone(), "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(delete(a.clone(), API_KEY).await, StatusCode::OK);
    assert_eq!(tf.requests()[0].state, "canceled");
    assert_eq!(delete(a.clone(), API_KEY).await, StatusCode::NO_CONTENT, "already canceled");
    assert_eq!(delete(b.clone(), API_KEY).await, StatusCode::CONFLICT, "already finished");
    assert_eq!(delete("00000000-0000-4000-8000-ffffffffffff".into(), API_KEY).await, StatusCode::NOT_FOUND);
}

/// The Cargo target directory (this test runs from `<target>/debug/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// `testing-farm` from the pinned venv, made first if missing.
fn testing_farm_cli() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = target_dir();
    let out = Command::new(root.join("scripts/tft-cli-venv.sh"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("running scripts/tft-cli-venv.sh");
    assert!(
        out.status.success(),
        "scripts/tft-cli-venv.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("venv-tft-cli/bin/testing-farm")
}

/// Runs the CLI against the sandbox; (exit code, stdout + stderr).
async fn cli(exe: &Path, tf: &TestingFarmSandbox, token: &str, args: &[&str]) -> (i32, String) {
    let (exe, url, token) = (exe.to_path_buf(), tf.url.clone(), token.to_owned());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let home = std::env::temp_dir().join("tft-cli-home");
        std::fs::create_dir_all(&home).unwrap();
        let out = Command::new(exe)
            .args(&args)
            .env("TESTING_FARM_API_URL", url)
            .env("TESTING_FARM_API_TOKEN", token)
            .env("HOME", home)
            .env("COLUMNS", "250")
            .env("NO_COLOR", "1")
            .output()
            .expect("running testing-farm");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn testing_farms_own_cli_works_against_the_sandbox() {
    let exe = testing_farm_cli();
    let tf = TestingFarmSandbox::start().await;

    // `request`: the CLI's own payload (an `fmf` test, nulls) is accepted.
    let (code, out) = cli(
        &exe,
        &tf,
        API_KEY,
        &[
            "request",
            "--no-wait",
            "--compose",
            "Fedora-Rawhide",
            "--git-url",
            "https://github.com/packit/packit",
            "--git-ref",
            "main",
            "--plan",
            "/plans/smoke",
            "--arch",
            "x86_64",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let requests = tf.requests();
    assert_eq!(requests.len(), 1, "{out}");
    assert_eq!(requests[0].payload["test"]["fmf"]["url"], "https://github.com/packit/packit");
    let cli_id = requests[0].id.clone();
    // And what the product sends, next to it.
    let (_, ours) = post(&tf, Some(API_KEY), &ours()).await;
    let our_id = ours["id"].as_str().unwrap().to_owned();
    tf.set_state(&our_id, "running", None, None);

    // `list` checks the token with `whoami`, then lists every state.
    let (code, out) = cli(&exe, &tf, API_KEY, &["list", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&cli_id) && out.contains(&our_id), "{out}");
    let (code, out) = cli(&exe, &tf, API_KEY, &["list"]).await;
    assert_eq!(code, 0, "the table renders our requests too: {out}");
    let (code, out) = cli(&exe, &tf, "wrong-key", &["list"]).await;
    assert_ne!(code, 0);
    assert!(out.contains("API token is invalid"), "{out}");

    // `watch --no-wait`: one status read.
    let (code, out) = cli(&exe, &tf, API_KEY, &["watch", "--id", &our_id, "--no-wait"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("request is running"), "{out}");

    // `cancel`, then again, and a finished request.
    let (code, out) = cli(&exe, &tf, API_KEY, &["cancel", &our_id]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cancellation requested"), "{out}");
    let (code, out) = cli(&exe, &tf, API_KEY, &["cancel", &our_id]).await;
    assert_ne!(code, 0);
    assert!(out.contains("already canceled"), "{out}");
    tf.set_state(&cli_id, "complete", Some("passed"), None);
    let (code, out) = cli(&exe, &tf, API_KEY, &["cancel", &cli_id]).await;
    assert_ne!(code, 0);
    assert!(out.contains("already finished"), "{out}");
    let (code, out) = cli(&exe, &tf, "wrong-key", &["cancel", &cli_id]).await;
    assert_ne!(code, 0);
    assert!(out.contains("API token is invalid"), "{out}");
}
