//! The Pagure sandbox is as strict as Pagure (#20): each rule on its own, against
//! the sandbox over HTTP, and the whole of it with ogr (PyPI), the forge library
//! packit-service uses for Pagure, as a developer would against `make run`.

use std::path::PathBuf;
use std::process::Command;

use fedora_ci::dev::testing::Fixture;
use fedora_ci_tests::sandbox::pagure::{EINVALIDTOK, PagureSandbox, TOKEN, TOKEN_USER};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HEAD: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
const NEXT: &str = "1111111111111111111111111111111111111111";
const UID: &str = "0123456789abcdef0123456789abcdef";

/// The sandbox with the recorded PR (`rpms/optee_os` #2 at [`HEAD`]).
async fn sandbox() -> PagureSandbox {
    let p = PagureSandbox::start().await;
    p.open_pr(&Fixture::load("pagure_pr_new.json").body["pullrequest"]);
    p
}

fn flag_form(status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("username", "Fedora CI - scratch build".into()),
        ("comment", "Built".into()),
        ("url", "https://koji.fedoraproject.org/koji/taskinfo?taskID=1".into()),
        ("status", status.into()),
        ("uid", UID.into()),
    ]
}

async fn post_form(p: &PagureSandbox, path: &str, token: Option<&str>, form: &[(&str, String)]) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new().post(format!("{}{path}", p.url)).form(form);
    if let Some(t) = token {
        r = r.header("authorization", format!("token {t}"));
    }
    let r = r.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn get(p: &PagureSandbox, path: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new().get(format!("{}{path}", p.url)).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

const FLAG: &str = "/api/0/rpms/optee_os/pull-request/2/flag";

#[tokio::test]
async fn flags_live_on_the_commit_that_was_the_head_when_posted() {
    let p = sandbox().await;
    let (status, answer) = post_form(&p, FLAG, Some(TOKEN), &flag_form("pending")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["message"], "Flag added");
    assert_eq!(answer["uid"], UID);
    assert_eq!(answer["flag"]["commit_hash"], HEAD);
    assert_eq!(answer["user"], TOKEN_USER);
    for field in ["date_created", "date_updated", "percent", "status", "url", "username", "comment", "user"] {
        assert!(answer["flag"].get(field).is_some(), "{field} missing: {answer}");
    }
    // Same uid on the same commit: updated in place.
    let (_, answer) = post_form(&p, FLAG, Some(TOKEN), &flag_form("success")).await;
    assert_eq!(answer["message"], "Flag updated");
    let (status, shown) = get(&p, FLAG).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["flags"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["flags"][0]["status"], "success");
    assert_eq!(p.shown("rpms/optee_os", 2).len(), 1);

    // A push: the older commit's flags no longer show on the PR.
    p.push("rpms/optee_os", 2, NEXT);
    let (_, shown) = get(&p, FLAG).await;
    assert_eq!(shown["flags"], json!([]));
    assert!(p.shown("rpms/optee_os", 2).is_empty());
    // The same uid now is a new flag, on the new head; the old one is still on its commit.
    let (_, answer) = post_form(&p, FLAG, Some(TOKEN), &flag_form("failure")).await;
    assert_eq!(answer["message"], "Flag added");
    assert_eq!(answer["flag"]["commit_hash"], NEXT);
    let (_, old) = get(&p, &format!("/api/0/rpms/optee_os/c/{HEAD}/flag")).await;
    assert_eq!(old["total_flags"], 1);
    assert_eq!(old["flags"][0]["status"], "success");
    let (_, pr) = get(&p, "/api/0/rpms/optee_os/pull-request/2").await;
    assert_eq!(pr["commit_stop"], NEXT);
}

#[tokio::test]
async fn unknown_projects_and_prs_are_pagures_404s() {
    let p = sandbox().await;
    let no_project = json!({ "error": "Project not found", "error_code": "ENOPROJECT" });
    let no_pr = json!({ "error": "Pull-Request not found", "error_code": "ENOREQ" });
    let form = flag_form("success");
    let comment = [("comment", "hi".to_owned())];
    let cases = [
        (post_form(&p, "/api/0/rpms/nope/pull-request/2/flag", Some(TOKEN), &form).await, &no_project),
        (post_form(&p, "/api/0/rpms/optee_os/pull-request/3/flag", Some(TOKEN), &form).await, &no_pr),
        (post_form(&p, "/api/0/rpms/nope/pull-request/2/comment", Some(TOKEN), &comment).await, &no_project),
        (post_form(&p, "/api/0/rpms/optee_os/pull-request/3/comment", Some(TOKEN), &comment).await, &no_pr),
        (get(&p, "/api/0/rpms/optee_os/pull-request/3/flag").await, &no_pr),
        (get(&p, "/api/0/rpms/optee_os/pull-request/3").await, &no_pr),
        (get(&p, "/api/0/rpms/nope").await, &no_project),
        (get(&p, "/api/0/rpms/nope/git/branches").await, &no_project),
    ];
    for (i, ((status, body), expected)) in cases.into_iter().enumerate() {
        assert_eq!(status, StatusCode::NOT_FOUND, "case {i}: {body}");
        assert_eq!(&body, expected, "case {i}");
    }
    assert!(p.flag_posts().is_empty() && p.comments().is_empty());
}

#[tokio::test]
async fn flag_forms_are_validated_as_pagures_forms() {
    let p = sandbox().await;
    let without = |field: &str| flag_form("success").into_iter().filter(|(k, _)| *k != field).collect::<Vec<_>>();
    let with = |field: &'static str, value: &str| {
        let mut f: Vec<_> = flag_form("success").into_iter().filter(|(k, _)| *k != field).collect();
        f.push((field, value.to_owned()));
        f
    };
    for field in ["username", "comment", "url"] {
        for form in [without(field), with(field, "  ")] {
            let (status, body) = post_form(&p, FLAG, Some(TOKEN), &form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
            assert_eq!(body["error_code"], "EINVALIDREQ");
            assert_eq!(body["error"], "Invalid or incomplete input submitted");
            assert_eq!(body["errors"][field], json!(["This field is required."]), "{body}");
        }
    }
    for url in ["not a url", "/pr/rpms/optee_os/2", "javascript:alert(1)", "https://nodot/x", "https://a.example/a b"] {
        let (status, body) = post_form(&p, FLAG, Some(TOKEN), &with("url", url)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["errors"]["url"], json!(["Invalid input."]), "{url}");
    }
    for status_value in ["ok", "SUCCESS", "running", ""] {
        let (status, body) = post_form(&p, FLAG, Some(TOKEN), &with("status", status_value)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{status_value:?}: {body}");
        assert_eq!(body["error_code"], "EINVALIDREQ");
    }
    // Without `status`, `percent` decides (AddPullRequestFlagFormV1).
    for (percent, expected) in [(None, "pending"), (Some("0"), "failure"), (Some("40"), "success")] {
        let mut form = without("status");
        form.retain(|(k, _)| *k != "uid");
        if let Some(p) = percent {
            form.push(("percent", p.to_owned()));
        }
        let (status, body) = post_form(&p, FLAG, Some(TOKEN), &form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["flag"]["status"], expected, "percent {percent:?}");
        assert_eq!(body["uid"].as_str().unwrap().len(), 32, "an own uid when none is given");
    }
    // The database refuses a non-integer percent and a uid over 32 characters.
    for form in [with("percent", "half"), with("uid", &"u".repeat(33))] {
        let (status, body) = post_form(&p, FLAG, Some(TOKEN), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error_code"], "EDBERROR");
    }
    let (status, body) = post_form(&p, "/api/0/rpms/optee_os/pull-request/2/comment", Some(TOKEN), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"]["comment"], json!(["This field is required."]));

    // A JSON body is taken like the form.
    let r = reqwest::Client::new()
        .post(format!("{}{FLAG}", p.url))
        .header("authorization", format!("token {TOKEN}"))
        .json(&json!({ "username": "json", "comment": "c", "url": "https://a.example/x", "status": "error", "percent": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["flag"]["status"].as_str(), body["flag"]["percent"].as_i64()), (Some("error"), Some(5)));
}

#[tokio::test]
async fn tokens_are_checked_with_pagures_acls_and_401_bodies() {
    let p = sandbox().await;
    p.add_token("read-only", "someone", &["issue_create"]);
    p.add_token("flag-only", "someone", &["pull_request_flag"]);
    let comment = [("comment", "hi".to_owned())];
    let refused = |why: &str| json!({ "error": EINVALIDTOK, "error_code": "EINVALIDTOK", "errors": why });
    let cases = [
        (post_form(&p, FLAG, None, &flag_form("success")).await, refused("Invalid token")),
        (post_form(&p, FLAG, Some("wrong"), &flag_form("success")).await, refused("Invalid token")),
        (
            post_form(&p, FLAG, Some("read-only"), &flag_form("success")).await,
            refused("Missing ACLs: pull_request_flag"),
        ),
        (
            post_form(&p, "/api/0/rpms/optee_os/pull-request/2/comment", Some("flag-only"), &comment).await,
            refused("Missing ACLs: pull_request_comment"),
        ),
    ];
    for (i, ((status, body), expected)) in cases.into_iter().enumerate() {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "case {i}");
        assert_eq!(body, expected, "case {i}");
    }
    // Login comes first: an unknown project with a bad token is a 401.
    let (status, _) = post_form(&p, "/api/0/rpms/nope/pull-request/2/flag", Some("wrong"), &flag_form("x")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    p.expire_token();
    let (status, body) = post_form(&p, FLAG, Some(TOKEN), &flag_form("success")).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, refused("Expired token")));
    let (status, _) = post_form(&p, "/api/0/-/whoami", Some(TOKEN), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    p.renew_token();
    let (status, body) = post_form(&p, "/api/0/-/whoami", Some(TOKEN), &[]).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "username": TOKEN_USER })));
    let (status, body) = post_form(&p, "/api/0/-/whoami", None, &[]).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, json!({ "error": EINVALIDTOK, "error_code": "EINVALIDTOK" }))
    );
    // A project token works on its project only (`_check_token`).
    p.set_branches("rpms/bash", &["rawhide"]);
    p.add_project_token("bash-only", "someone", "rpms/bash", &["pull_request_flag"]);
    let (status, body) = post_form(&p, FLAG, Some("bash-only"), &flag_form("success")).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, json!({ "error": EINVALIDTOK, "error_code": "EINVALIDTOK" }))
    );
    // A user the project blocked: 403 EUBLOCKED (`api_login_required`).
    p.block_user("rpms/optee_os", TOKEN_USER);
    let (status, body) = post_form(&p, FLAG, Some(TOKEN), &flag_form("success")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({ "error": "You have been blocked from this project", "error_code": "EUBLOCKED" })
        )
    );
    let (status, _) = post_form(&p, "/api/0/rpms/optee_os/pull-request/2/comment", Some(TOKEN), &comment).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(p.flag_posts().is_empty() && p.comments().is_empty());
}

#[tokio::test]
async fn project_pr_and_branches_answer_pagures_fields() {
    let p = sandbox().await;
    p.set_branches("rpms/optee_os", &["f43", "rawhide", "eln"]);
    let (status, b) = get(&p, "/api/0/rpms/optee_os/git/branches").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b, json!({ "branches": ["f43", "rawhide", "eln"], "total_branches": 3, "default": "rawhide" }));
    let (_, project) = get(&p, "/api/0/rpms/optee_os").await;
    assert_eq!((project["name"].as_str(), project["namespace"].as_str()), (Some("optee_os"), Some("rpms")));
    let (_, pr) = get(&p, "/api/0/rpms/optee_os/pull-request/2").await;
    for field in
        ["id", "uid", "title", "branch", "branch_from", "commit_stop", "status", "user", "project", "repo_from"]
    {
        assert!(pr.get(field).is_some(), "{field} missing from the PR");
    }
    assert_eq!((pr["status"].as_str(), pr["commit_stop"].as_str()), (Some("Open"), Some(HEAD)));
    // A PR learnt from a message a test sends (as real Pagure had it before it announced it).
    let mut closed = Fixture::load("pagure_pr_new.json");
    closed.topic = "org.fedoraproject.prod.pagure.pull-request.closed".into();
    closed.body["pullrequest"]["id"] = 5.into();
    closed.body["merged"] = true.into();
    let _ = fedora_ci::dev::testing::binary_request(&reqwest::Client::new(), "http://127.0.0.1:9/", &closed, "x");
    let (_, pr) = get(&p, "/api/0/rpms/optee_os/pull-request/5").await;
    assert_eq!(pr["status"], "Merged");
}

/// The interpreter of `scripts/ogr-venv.sh`'s virtualenv, made now if missing
/// (it fails loudly when PyPI is unreachable; nothing skips).
fn ogr_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join("scripts/ogr-venv.sh")).output().expect("running scripts/ogr-venv.sh");
    assert!(
        out.status.success(),
        "scripts/ogr-venv.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() { target } else { root.join(target) };
    target.join("venv-ogr/bin/python")
}

#[tokio::test]
async fn ogr_works_against_the_sandbox() {
    let p = sandbox().await;
    p.set_branches("rpms/optee_os", &["rawhide", "f43"]);
    let python = ogr_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/ogr_client.py");
    let url = p.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args([url.as_str(), TOKEN, "an-expired-token"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "ogr failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["whoami"], TOKEN_USER);
    assert_eq!(seen["default_branch"], "rawhide");
    assert_eq!(seen["branches"], json!(["rawhide", "f43"]));
    assert_eq!(seen["project_name"], "optee_os");
    assert_eq!(seen["pr"]["title"], "Only build on aarch64");
    assert_eq!(seen["pr"]["status"], "open");
    assert_eq!(seen["pr"]["author"], "zwhite");
    assert_eq!(seen["pr"]["target_branch"], "rawhide");
    assert_eq!(seen["pr"]["head_commit"], HEAD);
    assert_eq!(seen["set_flag"], json!({ "message": "Flag added", "uid": UID, "commit": HEAD }));
    assert_eq!(seen["update_flag"], "Flag updated");
    assert_eq!(
        seen["statuses"],
        json!([{ "context": "Fedora CI - ogr check", "state": "failure", "comment": "Checked again with ogr",
                 "commit": HEAD, "url": "https://fedora-ci.sandbox.example/pr/rpms/optee_os/2" }])
    );
    assert_eq!(p.comments().len(), 1);
    assert_eq!(p.comments()[0].body, "A comment from ogr");
    assert_eq!(seen["refused"]["code"], 401, "{seen}");
    assert_eq!(seen["refused"]["error"], EINVALIDTOK);
    assert!(seen["refused"]["message"].as_str().unwrap().contains("Invalid token"), "{seen}");
    assert_eq!(seen["missing_pr"], json!({ "code": 404, "error": "Pull-Request not found" }));
    assert_eq!(p.shown("rpms/optee_os", 2).len(), 1);
}
