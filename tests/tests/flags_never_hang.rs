//! Issue #13, point 1, as a property: for random sequences of PR pushes,
//! commands, Koji task outcomes (announced or lost), Testing Farm results
//! (announced or lost), Koji / Testing Farm / Pagure outages and poller passes
//! after time has passed, at the end
//!
//! - every flag on the PR (in the Pagure sandbox) is terminal, or belongs to a
//!   build or test run still in progress in the database;
//! - every flag ever posted has the uid that [`FlagKey`] gives its check name and
//!   commit — so each check has exactly one uid per commit, and create and update
//!   never diverged;
//! - nothing is left unsent in the flag outbox once Pagure is reachable;
//! - (issue #19) with several PRs sharing commits and branches, closed and
//!   reopened, every flag a PR received is one of *its own* checks: its PR id,
//!   branch target and commits — never a flag about another PR's work.
//!
//! Each case runs in a fresh database with fresh sandboxes; time passes by moving
//! the rows' timestamps back (what a clock jump would do to `now()` comparisons).

use std::collections::HashMap;
use std::sync::LazyLock;

use fedora_ci::config::Deployment;
use fedora_ci::dev::testing::Fixture;
use fedora_ci::dispatch::reporting::FlagKey;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::{Harness, WEBHOOK_SECRET};
use fedora_ci_tests::realm::in_realm;
use fedora_ci_tests::story::{self, FIRST_SHA, PR_AUTHOR};
use proptest::prelude::*;
use serde_json::json;

const PREFIX: &str = "org.fedoraproject.prod.";
const PACKAGER: &str = "mjones";
const TESTS: [&str; 5] = ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"];

#[derive(Debug, Clone, Copy)]
enum Service {
    Koji,
    TestingFarm,
    Pagure,
}

/// The PRs of a case: #2 and #3 propose the same branch (rawhide) from two forks,
/// #4 the same commits to f43; all three start at the same head commit.
const PRS: [(u64, &str, &str); 3] = [(2, "rawhide", "zwhite"), (3, "rawhide", "mjones"), (4, "f43", "zwhite")];

#[derive(Debug, Clone)]
enum Step {
    /// A commit pushed to PR `pr`: a new one, or (`share`) the head of another PR.
    Push {
        pr: usize,
        share: Option<usize>,
    },
    Command {
        pr: usize,
        text: &'static str,
    },
    /// PR `pr` closed (merged or not), or reopened.
    Close {
        pr: usize,
        merged: bool,
    },
    Reopen {
        pr: usize,
    },
    /// A Koji task (picked among the hub's builds) ends; `announced`: its message
    /// reaches koji-finished, else it is lost.
    KojiTask {
        pick: usize,
        state: KojiTaskState,
        announced: bool,
    },
    /// A Testing Farm request ends.
    TfResult {
        pick: usize,
        result: &'static str,
        announced: bool,
    },
    Outage {
        service: Service,
        down: bool,
    },
    /// Time passes by this many minutes, then the poller runs.
    Poll {
        minutes: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..PRS.len(), prop::option::of(0..PRS.len())).prop_map(|(pr, share)| Step::Push { pr, share }),
        1 => (0..PRS.len(), prop::sample::select(vec![
            "/packit-ci rerun",
            "/packit-ci skip",
            "/packit-ci test",
            "/packit-ci scratch-build",
        ]))
        .prop_map(|(pr, text)| Step::Command { pr, text }),
        1 => (0..PRS.len(), any::<bool>()).prop_map(|(pr, merged)| Step::Close { pr, merged }),
        1 => (0..PRS.len()).prop_map(|pr| Step::Reopen { pr }),
        4 => (
            any::<usize>(),
            prop::sample::select(vec![
                KojiTaskState::Open,
                KojiTaskState::Closed,
                KojiTaskState::Closed,
                KojiTaskState::Failed,
                KojiTaskState::Canceled
            ]),
            any::<bool>()
        )
            .prop_map(|(pick, state, announced)| Step::KojiTask { pick, state, announced }),
        3 => (any::<usize>(), prop::sample::select(vec!["passed", "failed", "error"]), any::<bool>())
            .prop_map(|(pick, result, announced)| Step::TfResult { pick, result, announced }),
        // Outages start twice as often as they end, so some outlast the retries.
        4 => (
            prop::sample::select(vec![Service::Koji, Service::TestingFarm, Service::Pagure]),
            prop::sample::select(vec![true, true, false])
        )
            .prop_map(|(service, down)| Step::Outage { service, down }),
        4 => prop::sample::select(vec![0i64, 5, 20, 20, 60, 8 * 24 * 60]).prop_map(|minutes| Step::Poll { minutes }),
    ]
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
});

struct World {
    h: Harness,
    pr_opened: String,
    koji_finished: String,
    tf_finished: String,
    poller: String,
    /// Every head each PR of [`PRS`] has had, and whether it is open.
    shas: Vec<Vec<String>>,
    open: Vec<bool>,
    events: u32,
    commits: u32,
}

impl World {
    async fn new() -> World {
        // One retry, so that outages outlast the retries within a few passes.
        let h = Harness::with_env(&[("FEDORA_CI_RETRY_BACKOFF_MINUTES", "1")]).await;
        h.pagure.set_branches("rpms/optee_os", &["rawhide", "f43"]);
        h.fas.set_groups(PACKAGER, &["packager"]);
        let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
        let koji_finished = h.serve("koji-finished", koji_finished::routes).await;
        let tf_finished = h.serve("tf-finished", tf_finished::routes).await;
        let poller = h.serve("result-poller", result_poller::routes).await;
        World {
            h,
            pr_opened,
            koji_finished,
            tf_finished,
            poller,
            shas: vec![vec![FIRST_SHA.to_owned()]; PRS.len()],
            open: vec![true; PRS.len()],
            events: 0,
            commits: 0,
        }
    }

    /// The PRs' first messages (PR #2 is the recorded one).
    async fn open_all(&mut self, count: usize) {
        for pr in 0..count {
            let fixture = self.pr_message(pr, "new", FIRST_SHA);
            self.deliver(self.pr_opened.clone(), fixture).await;
        }
    }

    /// The recorded PR message, as PR `pr` of [`PRS`] at `sha`.
    fn pr_message(&self, pr: usize, action: &str, sha: &str) -> Fixture {
        let (id, branch, fork_owner) = PRS[pr];
        let mut f = story::pr_event(action, sha);
        f.body["pullrequest"]["id"] = id.into();
        f.body["pullrequest"]["branch"] = branch.into();
        f.body["pullrequest"]["uid"] = format!("{id:032x}").into();
        f.body["pullrequest"]["repo_from"]["fullname"] = format!("forks/{fork_owner}/rpms/optee_os").into();
        if !self.open[pr] {
            f.body["pullrequest"]["status"] = "Closed".into();
        }
        f
    }

    fn event_id(&mut self) -> String {
        self.events += 1;
        format!("event-{}", self.events)
    }

    fn head(&self, pr: usize) -> &str {
        self.shas[pr].last().expect("a head")
    }

    /// Delivers like the Broker: a 5xx is retried (here: twice), then the event
    /// goes to the dead-letter sink and only the poller can repair its loss.
    async fn deliver(&mut self, url: String, fixture: Fixture) {
        let id = self.event_id();
        for _ in 0..3 {
            let (status, _) = story::post(&url, &fixture, &id).await;
            if !status.is_server_error() {
                return;
            }
        }
    }

    async fn run(&mut self, step: &Step) {
        match *step {
            Step::Push { pr, share } => {
                if !self.open[pr] {
                    return;
                }
                let sha = match share {
                    Some(other) if other != pr => self.head(other).to_owned(),
                    _ => {
                        self.commits += 1;
                        format!("{:040x}", self.commits as u128 * 0x1234_5678_9abc_def1)
                    }
                };
                if sha == self.head(pr) {
                    return;
                }
                self.shas[pr].push(sha.clone());
                let fixture = self.pr_message(pr, "updated", &sha);
                self.deliver(self.pr_opened.clone(), fixture).await;
            }
            Step::Command { pr, text } => {
                let author = if text.ends_with("skip") { PR_AUTHOR } else { PACKAGER };
                let fixture = story::with_comment(&self.pr_message(pr, "new", self.head(pr)), author, text);
                self.deliver(self.pr_opened.clone(), fixture).await;
            }
            Step::Close { pr, merged } => {
                if !self.open[pr] {
                    return;
                }
                self.open[pr] = false;
                let mut fixture = self.pr_message(pr, "closed", self.head(pr));
                fixture.body["merged"] = merged.into();
                if merged {
                    fixture.body["pullrequest"]["status"] = "Merged".into();
                }
                self.deliver(self.pr_opened.clone(), fixture).await;
            }
            Step::Reopen { pr } => {
                if self.open[pr] {
                    return;
                }
                self.open[pr] = true;
                let fixture = self.pr_message(pr, "reopened", self.head(pr));
                self.deliver(self.pr_opened.clone(), fixture).await;
            }
            Step::KojiTask { pick, state, announced } => {
                let builds = self.h.koji.builds();
                if builds.is_empty() {
                    return;
                }
                let task = builds[pick % builds.len()].task_id;
                let now = self.h.koji.task_state(task);
                let moves = match state {
                    KojiTaskState::Open => now == Some(KojiTaskState::Free),
                    _ => now.is_some_and(|s| !s.is_done()),
                };
                if !moves {
                    return;
                }
                self.h.koji.set_task_state(task, state);
                if announced {
                    self.deliver(self.koji_finished.clone(), story::task_message(PREFIX, task, state, "packit")).await;
                }
            }
            Step::TfResult { pick, result, announced } => {
                let open: Vec<String> = self
                    .h
                    .tf
                    .requests()
                    .into_iter()
                    .filter(|r| matches!(r.state.as_str(), "new" | "queued" | "running"))
                    .map(|r| r.id)
                    .collect();
                if open.is_empty() {
                    return;
                }
                let id = &open[pick % open.len()];
                match result {
                    "error" => self.h.tf.set_state(id, "error", None, Some("infrastructure failure")),
                    overall => self.h.tf.set_state(id, "complete", Some(overall), None),
                }
                if announced {
                    let fixture = Fixture {
                        name: "tf".into(),
                        topic: tf_finished::EVENT_TYPE.into(),
                        body: json!({ "request_id": id, "token": WEBHOOK_SECRET }),
                    };
                    self.deliver(self.tf_finished.clone(), fixture).await;
                }
            }
            Step::Outage { service, down } => match service {
                Service::Koji => self.h.koji.set_down(down),
                Service::TestingFarm => self.h.tf.faults.set_down(down),
                Service::Pagure => self.h.pagure.faults.set_down(down),
            },
            Step::Poll { minutes } => {
                self.age(minutes).await;
                let _ = reqwest::Client::new().post(&self.poller).send().await.expect("poller answers");
            }
        }
    }

    /// Moves every timestamp the poller compares with `now()` back by `minutes`.
    async fn age(&self, minutes: i64) {
        for (table, submitted) in
            [("koji_build_targets", "build_submitted_time"), ("tft_test_run_targets", "submitted_time")]
        {
            sqlx::query(&format!(
                "UPDATE {table} SET {submitted} = {submitted} - make_interval(mins => $1::int), \
                 next_attempt_at = next_attempt_at - make_interval(mins => $1::int), \
                 last_checked_at = last_checked_at - make_interval(mins => $1::int)"
            ))
            .bind(minutes as i32)
            .execute(&self.h.db.pool)
            .await
            .expect("age rows");
        }
    }

    /// Everything reachable again, one more pass (sends what the outages held back).
    async fn settle(&self) {
        self.h.koji.set_down(false);
        self.h.tf.faults.set_down(false);
        self.h.pagure.faults.set_down(false);
        let r = reqwest::Client::new().post(&self.poller).send().await.expect("poller answers");
        assert!(r.status().is_success(), "final pass: {}", r.status());
    }

    async fn check(&self) {
        // Every check each PR's commits can have, by PR and uid: a flag on a PR
        // must be one of that PR's own (its id, its branch's target, its heads).
        let mut expected: HashMap<(String, String), String> = HashMap::new();
        for (pr, (id, branch, _)) in PRS.iter().enumerate() {
            let pr_id = fedora_ci::clients::forge::PrId::pagure("rpms", "optee_os", *id);
            let (target, distro) =
                if *branch == "rawhide" { ("rawhide", "fedora-rawhide") } else { ("f43-candidate", "fedora-43") };
            for sha in &self.shas[pr] {
                let mut keys = vec![
                    FlagKey::build(Deployment::Prod, &pr_id, target, sha),
                    FlagKey::config(Deployment::Prod, &pr_id, sha),
                ];
                keys.extend(
                    TESTS
                        .iter()
                        .chain(["custom"].iter())
                        .map(|t| FlagKey::test(Deployment::Prod, &pr_id, t, distro, sha)),
                );
                for k in keys {
                    expected.insert((format!("rpms/optee_os#{id}"), k.uid), k.check_name);
                }
            }
        }
        for post in self.h.pagure.flag_posts() {
            let name = expected.get(&(post.pr.clone(), post.uid.clone()));
            assert_eq!(name, Some(&post.username), "a flag that is not one of this PR's own checks: {post:?}");
        }

        let in_progress: Vec<String> = sqlx::query_scalar(
            "SELECT flag_uid FROM koji_build_targets WHERE status IN ('pending', 'running', 'retry') AND flag_uid IS NOT NULL \
             UNION SELECT flag_uid FROM tft_test_run_targets \
               WHERE status IN ('new', 'queued', 'running', 'retry') AND flag_uid IS NOT NULL \
             UNION SELECT t.flag_uid FROM tft_test_run_targets t \
               JOIN pipelines p ON p.test_run_group_id = t.tft_test_run_group_id \
               JOIN koji_build_targets k ON k.koji_build_group_id = p.koji_build_group_id \
               WHERE t.status = 'pending' AND k.status IN ('pending', 'running', 'retry') AND t.flag_uid IS NOT NULL",
        )
        .fetch_all(&self.h.db.pool)
        .await
        .expect("in-progress rows");
        for flag in self.h.pagure.flags() {
            if flag.status == "pending" {
                assert!(
                    in_progress.contains(&flag.uid),
                    "flag left pending with no work in progress behind it: {flag:?}"
                );
            }
        }

        let unsent: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT check_name, status, last_error FROM pr_flags WHERE sent_version < version")
                .fetch_all(&self.h.db.pool)
                .await
                .expect("outbox");
        assert!(unsent.is_empty(), "flags never sent although Pagure is up: {unsent:?}");
    }
}

/// In a test realm: the packager commands of the steps are checked with FASJSON,
/// which answers only Kerberos clients.
#[test]
fn flags_end_terminal_or_backed_by_work_in_progress() {
    in_realm(
        |_| Vec::new(),
        |_| {
            proptest!(
                ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() },
                |(
                    outage_after_opening in prop::option::of(prop::sample::select(vec![
                        Service::Koji,
                        Service::TestingFarm,
                        Service::Pagure,
                    ])),
                    steps in prop::collection::vec(step(), 1..24),
                    prs in 1..=PRS.len(),
                )| {
                    RUNTIME.block_on(async {
                        let mut world = World::new().await;
                        world.open_all(prs).await;
                        // Most stories that end badly start with an outage right after the PR opens.
                        if let Some(service) = outage_after_opening {
                            world.run(&Step::Outage { service, down: true }).await;
                        }
                        for step in &steps {
                            world.run(step).await;
                        }
                        world.settle().await;
                        world.check().await;
                    });
                }
            );
        },
    );
}

/// The story from the issue: Testing Farm is down for longer than every retry;
/// the flags end in an error with a reason, not pending for days.
#[test]
fn a_testing_farm_outage_longer_than_the_retries_ends_in_error_flags() {
    RUNTIME.block_on(async {
        let mut world = World::new().await;
        world.deliver(world.pr_opened.clone(), story::pr_event("new", FIRST_SHA)).await;
        world.h.tf.faults.set_down(true);
        let task = world.h.koji.builds()[0].task_id;
        world.run(&Step::KojiTask { pick: 0, state: KojiTaskState::Closed, announced: true }).await;
        assert_eq!(world.h.koji.task_state(task), Some(KojiTaskState::Closed));
        for _ in 0..3 {
            world.run(&Step::Poll { minutes: 20 }).await;
        }
        world.settle().await;
        let flags = world.h.pagure.flags();
        let tests: Vec<_> = flags.iter().filter(|f| f.username != "Fedora CI - scratch build").collect();
        assert_eq!(tests.len(), 5, "{flags:?}");
        for f in tests {
            // Not the package's fault: an error flag with the reason, never a red failure.
            assert_eq!(f.status, "error", "{f:?}");
            assert_eq!(
                f.comment,
                "Testing Farm was unreachable on every try (HTTP 503 Service Unavailable). Tests were not run.",
                "{f:?}"
            );
        }
        world.check().await;
    });
}
