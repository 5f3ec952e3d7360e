//! Fuzz targets (proptest on stable; see `fedora_ci_tests::fuzz`): the CloudEvent
//! intake, the Pagure, Forgejo and Koji message parsers, the comment-command parser and the
//! Testing Farm webhook. Each runs `FEDORA_CI_FUZZ_RUNS` inputs (a few thousand in
//! `make test`, 1,000,000 in `make soak`) from the committed corpus, mutated, and
//! fully random; no input may panic.

use axum::body::Body;
use bytes::Bytes;
use fedora_ci::messages::koji::TaskHeader;
use fedora_ci::messages::{KojiTaskStateChange, PullRequestEvent, PullRequestMessage, Topic, Topics};
use fedora_ci::runtime::intake::CloudEventRequest;
use fedora_ci_tests::fuzz::{self, TARGETS};
use fedora_ci_tests::harness::WEBHOOK_SECRET;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: fuzz::runs(),
        // Shrinking a panic from a million runs can take long; the failing input is
        // printed before shrinking starts anyway.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `check` on inputs from `target`'s corpus; a panic or a failed check fails
/// the test with the input that caused it.
fn fuzz_target(target: &str, check: impl Fn(&[u8]) -> Result<(), TestCaseError>) {
    let corpus = fuzz::load(target);
    for entry in &corpus {
        check(entry).unwrap_or_else(|e| panic!("{target}: a corpus entry fails: {e}"));
    }
    let result = runner().run(&fuzz::input(corpus), |input| check(&input));
    if let Err(e) = result {
        panic!("{target}: {e}");
    }
}

#[test]
fn the_corpus_is_the_fixtures() {
    let write = std::env::var_os("FEDORA_CI_WRITE_CORPUS").is_some();
    for target in TARGETS {
        let dir = fuzz::corpus_dir(target);
        let expected = fuzz::generate(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &expected {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let mut wanted: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        wanted.sort();
        assert_eq!(names, wanted, "{target}: regenerate with FEDORA_CI_WRITE_CORPUS=1");
        for (name, bytes) in expected {
            assert_eq!(std::fs::read(dir.join(&name)).unwrap(), bytes, "{target}/{name}: regenerate");
        }
    }
}

#[test]
fn intake() {
    let topics = Topics::new("org.fedoraproject.prod.");
    fuzz_target("intake", |input| {
        let (headers, body) = fuzz::split_request(input);
        if let Ok(event) = CloudEventRequest::decode(&headers, Bytes::from(body), &topics) {
            prop_assert!(!event.meta.id.trim().is_empty());
            prop_assert!(!event.meta.event_type.trim().is_empty());
            if let Ok(data) = event.require_data() {
                // JSON's grammar, in UTF-8 (a number too large for f64 is still JSON).
                let json =
                    std::str::from_utf8(data).is_ok_and(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok());
                prop_assert!(
                    json,
                    "data that is not JSON: {:?} from {:?}",
                    String::from_utf8_lossy(data),
                    String::from_utf8_lossy(input)
                );
            }
        }
        Ok(())
    });
}

#[test]
fn the_unmutated_intake_corpus_decodes() {
    let topics = Topics::new("org.fedoraproject.prod.");
    for entry in fuzz::load("intake") {
        let (headers, body) = fuzz::split_request(&entry);
        let event = CloudEventRequest::decode(&headers, Bytes::from(body), &topics);
        assert!(event.is_ok(), "{event:?}: {}", String::from_utf8_lossy(&entry));
    }
}

#[test]
fn pagure_messages() {
    let pr_topics = Topic::ALL.into_iter().filter(|t| t.is_pull_request()).collect::<Vec<_>>();
    fuzz_target("pagure", |input| {
        for topic in &pr_topics {
            let _ = PullRequestMessage::parse(*topic, input);
            let _ = PullRequestEvent::parse(*topic, input);
        }
        Ok(())
    });
}

/// Forgejo's webhook payloads, read as dist-git PR events: no input panics,
/// and what parses has only ids Forgejo can give.
#[test]
fn forgejo_messages() {
    fuzz_target("forgejo", |input| {
        for topic in [Topic::ForgejoPullRequest, Topic::ForgejoIssueComment] {
            if let Ok(event) = PullRequestEvent::parse(topic, input)
                && event.ignored_because().is_none()
            {
                prop_assert!(event.pr.id >= 1, "PR number {}", event.pr.id);
                prop_assert!(matches!(event.pr.head_sha.len(), 40 | 64));
            }
        }
        Ok(())
    });
}

#[test]
fn koji_messages() {
    fuzz_target("koji", |input| {
        let _ = KojiTaskStateChange::parse(input);
        let _ = TaskHeader::parse(input);
        Ok(())
    });
}

#[test]
fn comment_commands() {
    fuzz_target("commands", |input| {
        let text = String::from_utf8_lossy(input);
        for prefix in ["/packit-ci", "/packit-ci-stg"] {
            let parsed = fedora_ci::rules::commands::parse(prefix, &text);
            let addressed = text.lines().any(|l| l.trim().starts_with(prefix));
            prop_assert!(parsed.is_none() || addressed, "a command from a comment not addressed to {prefix}");
        }
        Ok(())
    });
}

/// The webhook door of tf-finished, in process, with a database that is not there:
/// every refusal happens before the database, and an accepted notification of a
/// Testing Farm request id must then answer 503 (redeliver), never 500 or a panic.
const NO_DATABASE: &str = "postgres://fuzz@127.0.0.1:1/none";

#[test]
fn testing_farm_webhook() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let router = rt.block_on(async {
        let vars = std::collections::HashMap::from([
            ("DATABASE_URL", NO_DATABASE.to_owned()),
            ("TESTING_FARM_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ]);
        let config = fedora_ci::Config::from_source(&move |k: &str| vars.get(k).cloned()).unwrap();
        // Fails at once: the fuzzer must not wait on a database per accepted input.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(1))
            .connect_lazy(NO_DATABASE)
            .unwrap();
        let ctx = fedora_ci::Context::new("tf-finished", config, pool).unwrap();
        fedora_ci::runtime::app::app(ctx, tf_finished::routes)
    });
    let secret = WEBHOOK_SECRET.as_bytes();
    let forms = fedora_ci_tests::secret_scan::encoded_forms(WEBHOOK_SECRET);
    fuzz_target("tf-webhook", |input| {
        let request = http::Request::post("/testing-farm/results")
            .header("content-type", "application/json")
            .body(Body::from(input.to_vec()))
            .unwrap();
        let response = rt.block_on(router.clone().oneshot(request)).unwrap();
        let status = response.status().as_u16();
        let answer = rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        // Whatever the input held, the answer never quotes the secret, in any form.
        prop_assert!(!forms.iter().any(|f| answer.contains(f.as_str())), "the answer holds the secret: {answer}");
        let authenticated = input.windows(secret.len()).any(|w| w == secret);
        // 202: authenticated, but the request id is no Testing Farm id (not a UUID),
        // so not ours and never looked up; 503: a UUID, looked up in the missing database.
        prop_assert!(matches!(status, 202 | 400 | 401 | 503), "status {status}");
        prop_assert!(status < 500 || authenticated, "went past the token check without the secret");
        prop_assert!(status != 202 || authenticated, "went past the token check without the secret");
        Ok(())
    });
}
