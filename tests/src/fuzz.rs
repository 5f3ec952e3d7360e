//! The fuzz corpus and its mutations, for `tests/tests/fuzz.rs`.
//!
//! `cargo fuzz` needs a nightly toolchain, so the targets are proptest properties
//! that start from corpus entries (seeded from the recorded fixtures, committed in
//! `tests/fuzz-corpus/<target>/`) and mutate them the way a coverage-less fuzzer
//! would: byte flips, inserts, deletes, truncation, splices of tokens that break
//! parsers, and JSON values replaced by hostile ones. Fully random input runs too.
//!
//! Corpus files of the `intake` target are HTTP requests without the request
//! line: header lines, an empty line, the body, so mutations reach the headers too.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;

use crate::harness::WEBHOOK_SECRET;
use fedora_ci::dev::testing::{Fixture, fixtures_dir};

pub const TARGETS: [&str; 6] = ["intake", "pagure", "forgejo", "koji", "commands", "tf-webhook"];

pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus").join(target)
}

/// Runs per fuzz target: `FEDORA_CI_FUZZ_RUNS`, else a number small enough for
/// `make test` (`make soak` sets 1,000,000).
pub fn runs() -> u32 {
    std::env::var("FEDORA_CI_FUZZ_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
}

/// The committed corpus of `target`, sorted by file name.
pub fn load(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))).collect()
}

/// What the corpus must contain, generated from `tests/fixtures` (file name, bytes).
pub fn generate(target: &str) -> Vec<(String, Vec<u8>)> {
    let messages = Fixture::all();
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON");
    match target {
        "intake" => {
            let mut out = Vec::new();
            for f in &messages {
                let stem = f.name.trim_end_matches(".json");
                let mut head = format!(
                    "ce-specversion: 1.0\nce-id: {stem}\nce-type: {}\nce-source: amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub\ncontent-type: application/json\n",
                    f.topic
                );
                if let Some(owner) = f.body["owner"].as_str() {
                    head.push_str(&format!("ce-kojiowner: {owner}\n"));
                }
                let mut binary = format!("{head}\n").into_bytes();
                binary.extend(f.body_bytes());
                out.push((format!("{stem}.binary"), binary));
                let envelope = serde_json::json!({
                    "specversion": "1.0", "id": stem, "type": f.topic, "source": "/fuzz",
                    "datacontenttype": "application/json", "data": f.body,
                });
                let mut structured = b"content-type: application/cloudevents+json\n\n".to_vec();
                structured.extend(pretty(&envelope));
                out.push((format!("{stem}.structured"), structured));
            }
            out
        }
        "forgejo" => ["forgejo_pr_opened.json", "forgejo_pr_synchronized.json", "forgejo_pr_comment_ci_test.json"]
            .iter()
            .map(|name| (name.to_string(), pretty(&Fixture::load_from("forgejo", name).body)))
            .collect(),
        "pagure" | "koji" => {
            let wanted = if target == "koji" { ".buildsys." } else { ".pagure." };
            messages.iter().filter(|f| f.topic.contains(wanted)).map(|f| (f.name.clone(), pretty(&f.body))).collect()
        }
        "commands" => {
            let mut texts: Vec<String> = messages
                .iter()
                .filter_map(|f| f.body["pullrequest"]["comments"].as_array().cloned())
                .flatten()
                .filter_map(|c| c["comment"].as_str().map(str::to_owned))
                .collect();
            texts.extend(
                [
                    "/packit-ci scratch-build --target eln",
                    "/packit-ci test rpmlint --target=rawhide",
                    "/packit-ci help",
                    "LGTM\n/packit-ci test",
                    "/packit-ci-stg test custom",
                ]
                .map(str::to_owned),
            );
            texts.sort();
            texts.dedup();
            texts.into_iter().enumerate().map(|(i, t)| (format!("comment-{i:02}.txt"), t.into_bytes())).collect()
        }
        "tf-webhook" => {
            let path = fixtures_dir().join("testing-farm").join("notification.json");
            let mut n: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("notification fixture")).expect("JSON");
            let mut out = vec![("notification-wrong-token.json".to_owned(), pretty(&n))];
            // With the configured secret, so mutations also start from accepted input.
            n["token"] = WEBHOOK_SECRET.into();
            out.push(("notification.json".to_owned(), pretty(&n)));
            out
        }
        other => panic!("no fuzz target {other}"),
    }
}

/// Splits an `intake` corpus entry into headers and body; lines that are not a
/// valid header are skipped, as a server would never see them as headers.
pub fn split_request(bytes: &[u8]) -> (http::HeaderMap, Vec<u8>) {
    let end = bytes.windows(2).position(|w| w == b"\n\n").map(|p| (p, p + 2)).unwrap_or((bytes.len(), bytes.len()));
    let mut headers = http::HeaderMap::new();
    for line in bytes[..end.0].split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name), http::HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    (headers, bytes[end.1..].to_vec())
}

/// Tokens that break parsers: JSON edge values, quotes, escapes, huge numbers.
const TOKENS: &[&str] = &[
    "null",
    "\"\"",
    "{}",
    "[]",
    "-1",
    "0",
    "1e999",
    "-9223372036854775809",
    "18446744073709551616",
    "true",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "'; DROP TABLE koji_build_targets; --",
    "\u{202e}",
    "\n\n",
    ":",
    "\"",
    "\\",
    "ce-type: x\n",
    "/packit-ci",
    "--target",
    "=",
    "\u{0}",
];

#[derive(Debug, Clone)]
pub enum Mutation {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
    Splice { at: usize, token: usize },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (at, 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (at, 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Splice { at, token }),
        (at, 1usize..32, 2usize..64).prop_map(|(at, len, times)| Mutation::Repeat { at, len, times }),
    ]
}

pub fn apply(input: &mut Vec<u8>, m: &Mutation) {
    let pos = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
    match *m {
        Mutation::Flip { at, bit } if !input.is_empty() => {
            let i = at % input.len();
            input[i] ^= 1 << bit;
        }
        Mutation::Flip { .. } => {}
        Mutation::Insert { at, byte } => input.insert(pos(at, input.len()), byte),
        Mutation::Delete { at, len } => {
            let start = pos(at, input.len());
            let end = (start + len).min(input.len());
            input.drain(start..end);
        }
        Mutation::Truncate { at } => input.truncate(pos(at, input.len())),
        Mutation::Splice { at, token } => {
            let i = pos(at, input.len());
            input.splice(i..i, TOKENS[token].bytes());
        }
        Mutation::Repeat { at, len, times } => {
            let start = pos(at, input.len());
            let chunk: Vec<u8> = input[start..(start + len).min(input.len())].to_vec();
            for _ in 0..times {
                input.splice(start..start, chunk.iter().copied());
            }
        }
    }
}

/// Replaces the `nth` value (depth-first) of a JSON document with `replacement`.
pub fn replace_json_value(doc: &mut Value, nth: usize, replacement: Value) {
    fn walk(v: &mut Value, left: &mut usize, replacement: &mut Option<Value>) {
        if *left == 0 {
            if let Some(r) = replacement.take() {
                *v = r;
            }
            return;
        }
        *left -= 1;
        match v {
            Value::Object(map) => map.values_mut().for_each(|c| walk(c, left, replacement)),
            Value::Array(items) => items.iter_mut().for_each(|c| walk(c, left, replacement)),
            _ => {}
        }
    }
    let mut left = nth;
    walk(doc, &mut left, &mut Some(replacement));
}

/// Values at and past the edges of what we store: 32- and 64-bit integer bounds,
/// NUL, over-long text, and numbers no integer holds.
pub fn stored_field_edges() -> Vec<Value> {
    vec![
        Value::from(i64::from(i32::MAX)),
        Value::from(i64::from(i32::MAX) + 1),
        Value::from(u64::from(u32::MAX) + 3),
        Value::from(i64::MIN),
        Value::from(u64::MAX),
        Value::from(i64::from(i32::MIN) - 1),
        Value::from(0),
        Value::from(-1),
        Value::from(1e300),
        Value::from("raw\u{0}hide"),
        Value::from("\u{0}"),
        Value::from("x".repeat(3000)),
        Value::from("é".repeat(2000)),
    ]
}

fn hostile_json() -> impl Strategy<Value = Value> {
    let edges = stored_field_edges();
    prop_oneof![
        (0..edges.len()).prop_map(move |i| edges[i].clone()),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        (0..TOKENS.len()).prop_map(|t| Value::from(TOKENS[t])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([])),
        Just(serde_json::json!([null, 1, "x"])),
    ]
}

/// Input for one run of a target: a corpus entry, mutated; or random bytes.
pub fn input(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = corpus.len();
    assert!(n > 0, "empty corpus");
    let c1 = corpus.clone();
    let bytes_mutated = (0..n, proptest::collection::vec(mutation(), 0..8)).prop_map(move |(i, ms)| {
        let mut input = c1[i].clone();
        for m in &ms {
            apply(&mut input, m);
        }
        input
    });
    let json_mutated =
        (0..n, proptest::collection::vec((0usize..400, hostile_json()), 1..4)).prop_map(move |(i, rs)| {
            // Entries with headers keep them; the JSON after them is what changes.
            let (head, body) = match corpus[i].windows(2).position(|w| w == b"\n\n") {
                Some(p) => corpus[i].split_at(p + 2),
                None => corpus[i].split_at(0),
            };
            let Ok(mut doc) = serde_json::from_slice::<Value>(body) else { return corpus[i].clone() };
            for (nth, value) in rs {
                replace_json_value(&mut doc, nth, value);
            }
            let mut out = head.to_vec();
            out.extend(serde_json::to_vec(&doc).expect("JSON"));
            out
        });
    prop_oneof![
        4 => bytes_mutated,
        3 => json_mutated,
        1 => proptest::collection::vec(any::<u8>(), 0..1024),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds_on_empty_input() {
        for m in [
            Mutation::Flip { at: 5, bit: 1 },
            Mutation::Delete { at: 9, len: 4 },
            Mutation::Truncate { at: 3 },
            Mutation::Repeat { at: 1, len: 3, times: 2 },
        ] {
            let mut v = Vec::new();
            apply(&mut v, &m);
            assert!(v.is_empty());
        }
        let mut v = b"ab".to_vec();
        apply(&mut v, &Mutation::Splice { at: 1, token: 0 });
        assert_eq!(v, b"anullb");
    }

    #[test]
    fn the_nth_json_value_is_replaced() {
        let mut doc = serde_json::json!({"a": {"b": 1}, "c": [2, 3]});
        replace_json_value(&mut doc, 2, Value::Null);
        assert_eq!(doc, serde_json::json!({"a": {"b": null}, "c": [2, 3]}));
    }

    #[test]
    fn requests_split_into_headers_and_body() {
        let (h, body) = split_request(b"ce-id: 1\nbad line\ncontent-type: application/json\n\n{\"a\":1}");
        assert_eq!(h.get("ce-id").unwrap(), "1");
        assert_eq!(h.len(), 2);
        assert_eq!(body, b"{\"a\":1}");
    }
}
