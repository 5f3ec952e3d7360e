//! The Forgejo sandbox is as strict as Forgejo for every call we make (a test
//! per rule, each naming the Forgejo source it follows in the sandbox), and the
//! product's Forgejo client speaks to it as it would to forge.fedoraproject.org.

use fedora_ci::clients::forgejo::{CommitStatusState, CreateStatusOption, ForgejoClient, ForgejoError};
use fedora_ci::config::secret::Secret;
use fedora_ci::dev::testing::{Fixture, announce};
use fedora_ci_tests::sandbox::forgejo::{ForgejoSandbox, TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SHA: &str = "1a69eb79bbfa26ec63e95863cf15dcd77f985ede";
const REPO: &str = "rpms/python-requests";

/// A sandbox that knows the recorded Forgejo PR (#3501, head [`SHA`]).
async fn sandbox() -> ForgejoSandbox {
    let fj = ForgejoSandbox::start().await;
    announce(&Fixture::load_from("forgejo", "forgejo_pr_opened.json"));
    fj
}

fn api(fj: &ForgejoSandbox, path: &str) -> String {
    format!("{}/api/v1/{path}", fj.url)
}

async fn post(fj: &ForgejoSandbox, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(api(fj, path)).json(&body);
    if let Some(t) = token {
        req = req.header("authorization", format!("token {t}"));
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn status(state: &str, context: &str) -> Value {
    json!({ "state": state, "context": context, "description": "d", "target_url": "https://ci.example/1" })
}

#[tokio::test]
async fn statuses_need_a_valid_token_with_the_repository_scope() {
    let fj = sandbox().await;
    let path = format!("repos/{REPO}/statuses/{SHA}");
    for token in [None, Some("not-a-token")] {
        let (code, body) = post(&fj, &path, token, status("success", "c")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["message"], "token is required");
        assert_eq!(body["url"], format!("{}/api/swagger", fj.url));
    }
    fj.add_token("issues-only", "packit-ci", &["write:issue"]);
    let (code, body) = post(&fj, &path, Some("issues-only"), status("success", "c")).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "token does not have at least one of required scope(s): [write:repository]");
    fj.revoke_token();
    assert_eq!(post(&fj, &path, Some(TOKEN), status("success", "c")).await.0, StatusCode::UNAUTHORIZED);
    fj.renew_token();
    let (code, body) = post(&fj, &path, Some(TOKEN), status("success", "c")).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    // Forgejo answers the state under `status`.
    assert_eq!((body["status"].as_str(), body["context"].as_str()), (Some("success"), Some("c")));
    assert_eq!(body["creator"]["login"], "packit-ci");
}

#[tokio::test]
async fn only_forgejos_five_states_are_taken_and_an_empty_context_is_default() {
    let fj = sandbox().await;
    let path = format!("repos/{REPO}/statuses/{SHA}");
    for state in ["pending", "success", "error", "failure", "warning"] {
        assert_eq!(post(&fj, &path, Some(TOKEN), status(state, state)).await.0, StatusCode::CREATED, "{state}");
    }
    for state in ["canceled", "skipped", "", "SUCCESS"] {
        let (code, body) = post(&fj, &path, Some(TOKEN), status(state, "x")).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{state}");
        assert!(body["message"].as_str().unwrap().contains("State"), "{body}");
    }
    let (code, body) = post(&fj, &path, Some(TOKEN), json!({ "state": "success" })).await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(body["context"], "default");
}

#[tokio::test]
async fn unknown_repositories_prs_and_commits_are_refused_as_forgejo_refuses_them() {
    let fj = sandbox().await;
    let (code, body) = post(&fj, &format!("repos/rpms/nope/statuses/{SHA}"), Some(TOKEN), status("success", "c")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "message": "The target couldn't be found.", "url": format!("{}/api/swagger", fj.url), "errors": [] })
    );
    // A commit the repository does not have fails inside CreateCommitStatus: 500.
    let other = "0".repeat(40);
    let (code, _) = post(&fj, &format!("repos/{REPO}/statuses/{other}"), Some(TOKEN), status("success", "c")).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    let (code, _) = post(&fj, &format!("repos/{REPO}/issues/9999/comments"), Some(TOKEN), json!({ "body": "x" })).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    for path in [format!("repos/{REPO}/pulls/9999"), "repos/rpms/nope".to_owned(), format!("repos/{REPO}/branches/eln")]
    {
        assert_eq!(reqwest::get(api(&fj, &path)).await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
    }
    let pr: Value = reqwest::get(api(&fj, &format!("repos/{REPO}/pulls/3501"))).await.unwrap().json().await.unwrap();
    assert_eq!(pr["head"]["sha"], SHA);
    assert_eq!(reqwest::get(api(&fj, &format!("repos/{REPO}/branches/rawhide"))).await.unwrap().status(), 200);
}

#[tokio::test]
async fn comments_need_the_issue_scope_and_a_body() {
    let fj = sandbox().await;
    let path = format!("repos/{REPO}/issues/3501/comments");
    fj.add_token("repo-only", "packit-ci", &["write:repository"]);
    let (code, body) = post(&fj, &path, Some("repo-only"), json!({ "body": "x" })).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(body["message"].as_str().unwrap().ends_with("[write:issue]"), "{body}");
    for empty in [json!({}), json!({ "body": "  " })] {
        assert_eq!(post(&fj, &path, Some(TOKEN), empty).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (code, body) = post(&fj, &path, Some(TOKEN), json!({ "body": "hello" })).await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(body["body"], "hello");
    assert_eq!(fj.comments().len(), 1);
}

#[tokio::test]
async fn the_read_back_is_forgejos_newest_first_list_and_combined_status() {
    let fj = sandbox().await;
    let path = format!("repos/{REPO}/statuses/{SHA}");
    post(&fj, &path, Some(TOKEN), status("pending", "build")).await;
    post(&fj, &path, Some(TOKEN), status("pending", "rpmlint")).await;
    post(&fj, &path, Some(TOKEN), status("success", "build")).await;
    post(&fj, &path, Some(TOKEN), status("failure", "rpmlint")).await;
    let list: Vec<Value> =
        reqwest::get(api(&fj, &format!("repos/{REPO}/commits/{SHA}/statuses"))).await.unwrap().json().await.unwrap();
    let states: Vec<&str> = list.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["failure", "success", "pending", "pending"], "newest first");
    let oldest: Vec<Value> = reqwest::get(api(&fj, &format!("repos/{REPO}/commits/{SHA}/statuses?sort=oldest")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oldest[0]["status"], "pending");
    let combined: Value =
        reqwest::get(api(&fj, &format!("repos/{REPO}/commits/{SHA}/status"))).await.unwrap().json().await.unwrap();
    assert_eq!(combined["state"], "failure", "the worst of the newest per context");
    assert_eq!(combined["total_count"], 2);
}

#[tokio::test]
async fn raw_files_are_served_at_a_ref_and_missing_ones_are_404() {
    let fj = sandbox().await;
    fj.add_file("alice/python-requests", SHA, ".fedora-ci.yaml", "eln: false\n");
    let client = ForgejoClient::new(reqwest::Client::new(), fj.url.parse().unwrap(), None);
    assert_eq!(
        client.raw_file("alice/python-requests", SHA, ".fedora-ci.yaml").await.unwrap().as_deref(),
        Some("eln: false\n")
    );
    assert_eq!(client.raw_file("alice/python-requests", SHA, ".fmf/version").await.unwrap(), None);
    assert_eq!(client.raw_file("alice/python-requests", &"0".repeat(40), ".fedora-ci.yaml").await.unwrap(), None);
}

#[tokio::test]
async fn the_products_client_maps_forgejos_answers_to_its_errors() {
    let fj = sandbox().await;
    let good = ForgejoClient::new(reqwest::Client::new(), fj.url.parse().unwrap(), Some(Secret::new(TOKEN)));
    let option = |state| CreateStatusOption {
        state,
        context: "Fedora CI - scratch build".into(),
        description: "Build submitted".into(),
        target_url: "https://koji.example/taskinfo?taskID=1".into(),
    };
    good.create_status("rpms", "python-requests", SHA, &option(CommitStatusState::Warning)).await.unwrap();
    assert_eq!(fj.shown(REPO, 3501)[0].state, "warning");
    good.comment("rpms", "python-requests", 3501, "hi").await.unwrap();
    assert!(good.has_branch("rpms", "python-requests", "rawhide").await.unwrap());
    assert!(!good.has_branch("rpms", "python-requests", "eln").await.unwrap());

    let bad = ForgejoClient::new(reqwest::Client::new(), fj.url.parse().unwrap(), Some(Secret::new("expired")));
    let e = bad.create_status("rpms", "python-requests", SHA, &option(CommitStatusState::Success)).await.unwrap_err();
    assert!(e.is_token_rejected() && !e.is_permanent(), "{e}");
    assert!(e.to_string().contains("token is required"), "{e}");
    let e = good.create_status("rpms", "gone", SHA, &option(CommitStatusState::Success)).await.unwrap_err();
    assert!(e.is_permanent(), "{e}");
    fj.faults.set_down(true);
    let e = good.comment("rpms", "python-requests", 3501, "hi").await.unwrap_err();
    assert!(matches!(e, ForgejoError::Unreachable(_)), "{e}");
}
