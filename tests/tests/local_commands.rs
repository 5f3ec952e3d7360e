//! `make run` with its Kerberos realm answers packager commands as production does
//! (issue #19): the functions' FASJSON client logs in with the Koji keytab, so the
//! local FASJSON must be a Kerberos service of the realm and accept SPNEGO. Before,
//! every `/packit-ci` command from a packager was answered 503 and retried forever.
//!
//! The function is a real process wired the way `local-stack` wires it
//! (`kerberized_koji` + `kerberized_fasjson`), in a child process whose environment
//! names a throwaway realm (`fedora_ci_tests::realm`).

use fedora_ci::dev::testing::RunningBinary;
use fedora_ci_tests::harness::{Harness, kerberized_fasjson, kerberized_koji};
use fedora_ci_tests::realm::{TestRealm, in_realm};
use fedora_ci_tests::stack::binary_path;
use fedora_ci_tests::story;
use reqwest::StatusCode;

#[test]
fn a_packager_command_is_answered_with_the_local_realm() {
    in_realm(
        |_| Vec::new(),
        |realm| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(story(realm));
        },
    );
}

async fn story(realm: &TestRealm) {
    let h = Harness::start().await;
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    h.fas.set_groups("apackager", &["packager"]);
    h.fas.set_groups("stranger", &["fedora-contributor"]);
    let mut env = h.env();
    let koji = kerberized_koji(realm, &mut env).await;
    kerberized_fasjson(realm, &h.fas, &mut env);
    // The sandbox answers only Kerberos clients now, like Fedora's FASJSON.
    let anonymous = reqwest::get(format!("{}/v1/users/apackager/groups/", h.fas.url)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()["www-authenticate"], "Negotiate");
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "message": fedora_ci_tests::sandbox::fasjson::UNAUTHORIZED }));
    // A ticket-looking token that is not one is refused the same way.
    let forged = reqwest::Client::new()
        .get(format!("{}/v1/users/apackager/groups/", h.fas.url))
        .header("Authorization", "Negotiate YIIBhwYJKoZIhvcSAQICAQBuggF2MIIBcqADAgEF")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();

    // A function without the keytab asks FASJSON anonymously and is refused (401):
    // the command is neither run nor refused, but asked again later (503), as for
    // a FASJSON outage; no packager is told they are not one.
    let anonymous_env: Vec<(&str, String)> = env.iter().filter(|(k, _)| *k != "KOJI_KEYTAB").cloned().collect();
    let without_keytab = RunningBinary::start(binary_path("pr-opened").to_str().unwrap(), &anonymous_env).await;
    let command = story::comment(story::FIRST_SHA, "apackager", "/packit-ci scratch-build");
    let (status, body) = story::post(&without_keytab.url("/"), &command, "command-0").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "FASJSON unavailable, retry later");
    assert!(koji.builds().is_empty() && h.pagure.comments().is_empty());
    drop(without_keytab);

    let pr_opened = RunningBinary::start(binary_path("pr-opened").to_str().unwrap(), &env).await;
    let url = pr_opened.url("/");
    let command = story::comment(story::FIRST_SHA, "apackager", "/packit-ci scratch-build");
    let (status, body) = story::post(&url, &command, "command-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(koji.builds().len(), 1, "the command built");
    let (status, body) =
        story::post(&url, &story::comment(story::FIRST_SHA, "stranger", "/packit-ci rerun"), "c-2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let comments = h.pagure.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "`stranger` is not a packager, retriggering is not allowed.");
    assert_eq!(koji.builds().len(), 1);
}
