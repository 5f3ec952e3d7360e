//! The functions themselves under fuzzed input (issue #24): every recorded message,
//! in binary and structured mode, mutated byte-wise and with values at the edges of
//! what we store (integer bounds, NUL, over-long text) in any field, posted to the
//! function its topic routes to, in process, against a real Postgres and the
//! sandboxes. No input may get a 5xx: bad data is a 4xx (or a 2xx for events we do
//! not act on), never "database unavailable". `FEDORA_CI_FUZZ_RUNS` inputs per
//! function (`make soak`: 1,000,000).
//!
//! And a property: after any sequence of PR events with fuzzed PR ids, every row
//! and every flag belongs to the PR of an event that was accepted, and every Koji
//! build the sandbox received is recorded (nothing built that nobody follows).

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::body::Body;
use fedora_ci::dev::testing::test_logs_dir;
use fedora_ci_tests::fuzz;
use fedora_ci_tests::harness::{Harness, SECRETS};
use fedora_ci_tests::realm::in_realm;
use fedora_ci_tests::secret_scan;
use fedora_ci_tests::story;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

/// The functions' logs (both tests of this binary) go to one file under
/// `target/test-logs/`, which `secret-scan` (run by `make test`) checks for every
/// configured secret in every encoded form.
fn log_to_file() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = test_logs_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(format!("fuzz-functions-{}.log", std::process::id()))).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(Mutex::new(file))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// Which function a request goes to, by the `ce-type` it carries (a structured
/// request's type is in its body, so those go to every function in turn).
fn routed(headers: &http::HeaderMap) -> &'static [&'static str] {
    match headers.get("ce-type").and_then(|v| v.to_str().ok()) {
        Some(t) if t.contains(".pagure.") => &["pr-opened"],
        Some(t) if t.contains(".buildsys.") => &["koji-finished"],
        Some(_) => &["tf-finished"],
        None => &["pr-opened", "koji-finished", "tf-finished"],
    }
}

#[test]
fn no_input_makes_a_function_answer_5xx() {
    // In a test realm: fuzzed commands are checked with FASJSON, which answers
    // only Kerberos clients.
    in_realm(
        |_| Vec::new(),
        |_| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            log_to_file();
            let (h, routers) = rt.block_on(async {
                let h = Harness::start().await;
                h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
                h.fas.set_groups("mjones", &["packager"]);
                let routers = [
                    ("pr-opened", fedora_ci::runtime::app::app(h.context("pr-opened"), pr_opened::routes)),
                    ("koji-finished", fedora_ci::runtime::app::app(h.context("koji-finished"), koji_finished::routes)),
                    ("tf-finished", fedora_ci::runtime::app::app(h.context("tf-finished"), tf_finished::routes)),
                ];
                (h, routers)
            });
            let mut corpus = fuzz::load("intake");
            // Known-good requests with each edge value in each stored field of a PR.
            for entry in fuzz::load("intake").iter().filter(|e| String::from_utf8_lossy(e).contains("pull-request.new"))
            {
                let (head, body) = entry.split_at(entry.windows(2).position(|w| w == b"\n\n").unwrap() + 2);
                let doc: Value = serde_json::from_slice(body).unwrap();
                for field in
                    ["/pullrequest/id", "/pullrequest/branch", "/pullrequest/project/name", "/pullrequest/commit_stop"]
                {
                    for edge in fuzz::stored_field_edges() {
                        let mut doc = doc.clone();
                        let target = if head.starts_with(b"content-type: application/cloudevents") {
                            doc.pointer_mut(&format!("/data{field}"))
                        } else {
                            doc.pointer_mut(field)
                        };
                        if let Some(v) = target {
                            *v = edge;
                        }
                        let mut request = head.to_vec();
                        request.extend(serde_json::to_vec(&doc).unwrap());
                        corpus.push(request);
                    }
                }
            }
            let outcomes = Mutex::new([0usize; 3]);
            let check = |input: &[u8]| -> Result<(), TestCaseError> {
                let (headers, body) = fuzz::split_request(input);
                for name in routed(&headers) {
                    let router = &routers.iter().find(|(n, _)| n == name).unwrap().1;
                    let mut request = http::Request::post("/").body(Body::from(body.clone())).unwrap();
                    *request.headers_mut() = headers.clone();
                    let response = rt.block_on(router.clone().oneshot(request)).unwrap();
                    let status = response.status().as_u16();
                    let answer = rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
                    let answer = String::from_utf8_lossy(&answer);
                    prop_assert!(
                        status < 500,
                        "{name} answered {status}: {answer}\nto {}",
                        String::from_utf8_lossy(input)
                    );
                    for secret in SECRETS {
                        prop_assert!(
                            !secret_scan::encoded_forms(secret).iter().any(|f| answer.contains(f.as_str())),
                            "{name} answered with a secret"
                        );
                    }
                    outcomes.lock().unwrap()[(status / 100 - 2).min(2) as usize] += 1;
                }
                Ok(())
            };
            for entry in &corpus {
                check(entry).unwrap_or_else(|e| panic!("a corpus entry fails: {e}"));
            }
            let runner_config =
                Config { cases: fuzz::runs(), max_shrink_iters: 200, failure_persistence: None, ..Config::default() };
            if let Err(e) = TestRunner::new(runner_config).run(&fuzz::input(corpus), |input| check(&input)) {
                panic!("{e}");
            }
            let [ok, _, refused] = *outcomes.lock().unwrap();
            eprintln!("answers: {ok} 2xx, {refused} 4xx");
            // Not a fuzzer that only ever knocks on the door: both kinds of answer occur.
            assert!(ok > 0 && refused > 0, "2xx {ok}, 4xx {refused}");
            drop(h);
        },
    );
}

/// What the database holds: PR ids of `pull_requests` and of `pr_flags`, each
/// build's own PR id beside its pipeline's, and how many Koji builds it lacks.
type Recorded = (Vec<i64>, Vec<i64>, Vec<(i64, i64)>, i64);

/// One PR event of the recorded PR, as PR `id` at `sha`.
fn pr_event(id: &Value, sha: &str) -> fedora_ci::dev::testing::Fixture {
    let mut f = story::pr_event("new", sha);
    f.body["pullrequest"]["id"] = id.clone();
    f
}

#[test]
fn every_row_belongs_to_the_pr_of_the_event_that_wrote_it() {
    log_to_file();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (h, pr_opened, poller) = rt.block_on(async {
        let h = Harness::start().await;
        h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
        let pr_opened = h.serve("pr-opened", pr_opened::routes).await;
        let poller = h.serve("result-poller", result_poller::routes).await;
        (h, pr_opened, poller)
    });
    let ids = prop_oneof![
        (1i64..6).prop_map(Value::from),
        Just(Value::from(i64::from(i32::MAX))),
        Just(Value::from(i64::from(i32::MAX) + 1)),
        Just(Value::from(u64::from(u32::MAX) + 3)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1)),
        Just(Value::from(0)),
    ];
    let shas = prop_oneof![Just(story::FIRST_SHA), Just("0123456789abcdef0123456789abcdef01234567")];
    let events = proptest::collection::vec((ids, shas, any::<bool>()), 1..6);
    let accepted = Mutex::new(BTreeSet::new());
    let n = std::sync::atomic::AtomicUsize::new(0);
    let config =
        Config { cases: (fuzz::runs() / 100).clamp(10, 10_000), failure_persistence: None, ..Config::default() };
    let result = TestRunner::new(config).run(&events, |events| {
        for (id, sha, koji_down) in events {
            h.koji.set_down(koji_down);
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (status, answer) = rt.block_on(story::post(&pr_opened, &pr_event(&id, sha), &format!("prop-{i}")));
            prop_assert!(status.as_u16() < 500, "{status}: {answer}");
            if status.is_success() {
                accepted.lock().unwrap().insert(id.as_i64().unwrap());
            } else {
                prop_assert!(!(1..=i64::from(i32::MAX)).contains(&id.as_i64().unwrap_or(0)), "refused {id}: {answer}");
            }
        }
        // The poller retries what Koji refused while down: it too may only build
        // for accepted PRs, and records what it builds.
        h.koji.set_down(false);
        rt.block_on(async {
            sqlx::query("UPDATE koji_build_targets SET next_attempt_at = now() - interval '1 hour'")
                .execute(&h.db.pool)
                .await
                .unwrap();
            reqwest::Client::new().post(&poller).send().await.unwrap()
        });
        let accepted = accepted.lock().unwrap().clone();
        let (rows, flags, build_prs, unrecorded): Recorded = rt.block_on(async {
            let pool = &h.db.pool;
            let rows = sqlx::query_scalar("SELECT pr_id FROM pull_requests").fetch_all(pool).await.unwrap();
            let flags = sqlx::query_scalar("SELECT pr_id FROM pr_flags").fetch_all(pool).await.unwrap();
            let build_prs = sqlx::query_as(
                "SELECT (b.data->>'pr_id')::bigint, pr.pr_id FROM koji_build_targets b \
                 JOIN pipelines p ON p.koji_build_group_id = b.koji_build_group_id \
                 JOIN project_events e ON e.id = p.project_event_id JOIN pull_requests pr ON pr.id = e.event_id",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            let tasks: Vec<String> = h.koji.builds().iter().map(|b| b.task_id.to_string()).collect();
            let unrecorded = sqlx::query_scalar(
                "SELECT count(*) FROM unnest($1::text[]) t(id) \
                 WHERE NOT EXISTS (SELECT 1 FROM koji_build_targets WHERE task_id = t.id)",
            )
            .bind(&tasks)
            .fetch_one(pool)
            .await
            .unwrap();
            (rows, flags, build_prs, unrecorded)
        });
        prop_assert!(rows.iter().all(|r| accepted.contains(r)), "rows {rows:?} accepted {accepted:?}");
        prop_assert!(flags.iter().all(|r| accepted.contains(r)), "flags {flags:?} accepted {accepted:?}");
        prop_assert!(build_prs.iter().all(|(data, row)| data == row), "{build_prs:?}");
        prop_assert_eq!(unrecorded, 0, "Koji builds nobody recorded");
        for flag in h.pagure.flags() {
            let id: i64 = flag.pr.rsplit('#').next().and_then(|n| n.parse().ok()).unwrap_or(-1);
            prop_assert!(accepted.contains(&id), "a flag on {} for no accepted event", flag.pr);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
