//! Building blocks for tests that play a PR's story: the recorded PR message
//! moved to another commit or given a comment, Koji task messages for the
//! sandbox's tasks, and posting them to a function.

use std::sync::atomic::{AtomicU64, Ordering};

use fedora_ci::dev::testing::{Fixture, binary_request};
use fedora_ci::messages::KojiTaskState;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The recorded PR: `rpms/optee_os` #2 from zwhite's fork, against rawhide.
pub const PR_FIXTURE: &str = "pagure_pr_new.json";
pub const PR_AUTHOR: &str = "zwhite";
/// Where Pagure serves the PR head's files (the fork).
pub const SOURCE_REPO: &str = "fork/zwhite/rpms/optee_os";
pub const FIRST_SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

/// A PR message (`new`, `updated`, `rebased`) for the recorded PR at `sha`.
pub fn pr_event(action: &str, sha: &str) -> Fixture {
    let mut f = Fixture::load(PR_FIXTURE);
    f.topic = format!("org.fedoraproject.prod.pagure.pull-request.{action}");
    f.body["pullrequest"]["commit_stop"] = sha.into();
    f
}

/// The recorded PR at `sha` with a new comment by `user`.
pub fn comment(sha: &str, user: &str, text: &str) -> Fixture {
    with_comment(&pr_event("new", sha), user, text)
}

/// `pr` (any PR message) as the `comment.added` message of a new comment. Each
/// call is a new Pagure comment with its own id (commands are keyed on it), while
/// posting the returned fixture twice is a redelivery of that one comment.
pub fn with_comment(pr: &Fixture, user: &str, text: &str) -> Fixture {
    static NEXT_COMMENT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_COMMENT_ID.fetch_add(1, Ordering::Relaxed);
    let mut f = pr.clone();
    f.topic = "org.fedoraproject.prod.pagure.pull-request.comment.added".into();
    f.body["agent"] = user.into();
    f.body["pullrequest"]["comments"] = json!([{ "id": id, "comment": text, "user": { "name": user } }]);
    f
}

/// A `buildsys.task.state.change` for a sandbox task, as Koji publishes it under
/// `prefix` (`org.fedoraproject.prod.` for the primary hub).
pub fn task_message(prefix: &str, task_id: i64, state: KojiTaskState, owner: &str) -> Fixture {
    let mut f = Fixture::load("koji_build_scratch_end.json");
    f.topic = format!("{prefix}buildsys.task.state.change");
    let name = match state {
        KojiTaskState::Free => "FREE",
        KojiTaskState::Open => "OPEN",
        KojiTaskState::Closed => "CLOSED",
        KojiTaskState::Canceled => "CANCELED",
        KojiTaskState::Assigned => "ASSIGNED",
        KojiTaskState::Failed => "FAILED",
    };
    f.body["id"] = task_id.into();
    f.body["info"]["id"] = task_id.into();
    f.body["new"] = name.into();
    f.body["owner"] = owner.into();
    f.body["info"]["state"] = (state as i64).into();
    f
}

/// POSTs a binary-mode CloudEvent; the status and JSON answer.
pub async fn post(url: &str, fixture: &Fixture, id: &str) -> (StatusCode, Value) {
    let r = binary_request(&reqwest::Client::new(), url, fixture, id).send().await.expect("function answers");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The recorded PR's identity (`rpms/optee_os` #2), which every flag uid of it hashes.
pub fn recorded_pr() -> fedora_ci::clients::forge::PrId {
    fedora_ci::clients::forge::PrId::pagure("rpms", "optee_os", 2)
}
