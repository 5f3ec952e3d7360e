//! End to end through pr-opened: a PR event in → a Koji scratch build submitted
//! and the "pending" flag set on the sandboxes → the answer. pr-opened answers only
//! after both, so the answer time is the latency a packager's flag waits for.

use std::sync::Arc;

use fedora_ci::dev::testing::Fixture;

use super::load::{MakeRequest, cloudevent};
use crate::sandbox::pagure::PagureSandbox;

/// The project every benchmark PR is on (its branches are set on the Pagure sandbox).
pub const PROJECT: &str = "rpms/optee_os";

/// The `pull-request.new` message of PR `n`, with a commit of its own.
pub fn pr_message(n: u64) -> Fixture {
    pr_message_on(PACKAGE, n)
}

/// The package of [`PROJECT`].
const PACKAGE: &str = "optee_os";

/// [`pr_message`] on `rpms/<package>` (`glibc` is in the sandbox's ELN list: its
/// PR events build rawhide and eln).
pub fn pr_message_on(package: &str, n: u64) -> Fixture {
    let mut f = Fixture::load("pagure_pr_new.json");
    if package != PACKAGE {
        f.body = serde_json::from_str(&f.body.to_string().replace(PACKAGE, package)).expect("still JSON");
    }
    let pr = &mut f.body["pullrequest"];
    pr["id"] = n.into();
    pr["uid"] = format!("{n:032x}").into();
    pr["commit_stop"] = format!("{n:040x}").into();
    f
}

/// Opens PRs `first..first + count` on the Pagure sandbox, which, like Pagure,
/// answers 404 to a flag on a PR it does not know: the flag each event sets must
/// really be set.
pub fn open_prs(pagure: &PagureSandbox, first: u64, count: u64) {
    open_prs_on(pagure, PACKAGE, first, count)
}

/// [`open_prs`] on `rpms/<package>`.
pub fn open_prs_on(pagure: &PagureSandbox, package: &str, first: u64, count: u64) {
    for n in first..first + count {
        pagure.open_pr(&pr_message_on(package, n).body["pullrequest"]);
    }
}

/// PR `first + i` with a commit of its own: every event is new work, none a
/// duplicate or a superseding update of another.
pub fn pr_request(url: &str, first: u64) -> MakeRequest {
    pr_request_on(url, PACKAGE, first)
}

/// [`pr_request`] on `rpms/<package>`.
pub fn pr_request_on(url: &str, package: &str, first: u64) -> MakeRequest {
    let (url, package) = (url.to_owned(), package.to_owned());
    Arc::new(move |i: u64| {
        let n = first + i;
        pr_cloudevent(&url, &pr_message_on(&package, n), &format!("bench-pr-{n}"))
    })
}

/// A PR message as the bridge delivers it (the `pagurenamespace` extension the
/// Triggers filter on promoted from the body).
fn pr_cloudevent(url: &str, f: &Fixture, id: &str) -> http::Request<bytes::Bytes> {
    cloudevent(url, &f.topic, id)
        .header("ce-pagurenamespace", "rpms")
        .body(f.body_bytes().into())
        .expect("a valid request")
}

/// PR `n`'s event as the bytes of one HTTP/1.1 request (binary-mode CloudEvent,
/// `Connection: close`), for a measurement that must not time a client library.
pub fn pr_request_bytes(n: u64) -> Vec<u8> {
    let f = pr_message(n);
    let body = f.body_bytes();
    let mut head = String::from("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in fedora_ci::dev::testing::binary_headers(&f.topic, &format!("bench-pr-{n}")) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("ce-pagurenamespace: rpms\r\ncontent-length: {}\r\n\r\n", body.len()));
    [head.into_bytes(), body.to_vec()].concat()
}

/// The commit PR `n` is updated to (the `pull-request.updated` events).
pub fn updated_commit(n: u64) -> String {
    format!("{:040x}", n + (1 << 40))
}

/// PR `first + i` updated to [`updated_commit`]: what pr-opened gets when a
/// packager pushes to the PR (the run of the old commit is superseded).
pub fn pr_updated_request(url: &str, first: u64) -> MakeRequest {
    let url = url.to_owned();
    Arc::new(move |i: u64| {
        let n = first + i;
        let mut f = pr_message(n);
        f.topic = f.topic.replace("pull-request.new", "pull-request.updated");
        f.body["topic"] = f.topic.as_str().into();
        f.body["pullrequest"]["commit_stop"] = updated_commit(n).into();
        pr_cloudevent(&url, &f, &format!("bench-pr-updated-{n}"))
    })
}

/// Testing Farm's notification for request `ids[i]`, as its webhook POSTs it
/// (`../shared/fixtures/testing-farm/notification.json`), with the sandbox's
/// webhook secret.
pub fn tf_notification_request(url: &str, ids: Vec<String>) -> MakeRequest {
    let url = url.to_owned();
    Arc::new(move |i: u64| {
        let id = &ids[i as usize % ids.len()];
        let body =
            serde_json::json!({"request_id": id, "token": crate::harness::WEBHOOK_SECRET, "source": "testing-farm"});
        http::Request::post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).expect("JSON").into())
            .expect("a valid request")
    })
}
