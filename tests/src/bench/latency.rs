//! End to end through pr-opened: a PR event in → a Koji scratch build submitted
//! and the "pending" flag set on the sandboxes → the answer. pr-opened answers only
//! after both, so the answer time is the latency a packager's flag waits for.

use std::sync::Arc;

use fedora_ci::dev::testing::Fixture;

use super::load::{MakeRequest, cloudevent};

/// The project every benchmark PR is on (its branches are set on the Pagure sandbox).
pub const PROJECT: &str = "rpms/optee_os";

/// PR `first + i` with a commit of its own: every event is new work, none a
/// duplicate or a superseding update of another.
pub fn pr_request(url: &str, first: u64) -> MakeRequest {
    let fixture = Fixture::load("pagure_pr_new.json");
    let url = url.to_owned();
    Arc::new(move |i: u64| {
        let n = first + i;
        let mut f = fixture.clone();
        let pr = &mut f.body["pullrequest"];
        pr["id"] = n.into();
        pr["uid"] = format!("{n:032x}").into();
        pr["commit_stop"] = format!("{n:040x}").into();
        cloudevent(&url, &f.topic, &format!("bench-pr-{n}"))
            .header("ce-pagurenamespace", "rpms")
            .body(f.body_bytes().into())
            .expect("a valid request")
    })
}
