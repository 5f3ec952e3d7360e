//! A function's stdout the way the cluster's log collector reads it: one JSON
//! object per line.

use std::time::{Duration, Instant};

use fedora_ci::dev::testing::RunningBinary;
use serde_json::{Map, Value};

pub type Line = Map<String, Value>;

/// Every line of `text` as a JSON object; panics naming the first line that is not one.
pub fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(map)) => map,
            _ => panic!("not a JSON object: {l}"),
        })
        .collect()
}

/// The lines of one CloudEvent (by its `ce_id` field).
pub fn of_event<'a>(lines: &'a [Line], ce_id: &str) -> Vec<&'a Line> {
    lines.iter().filter(|l| l.get("ce_id").and_then(Value::as_str) == Some(ce_id)).collect()
}

/// The trace id part of a W3C `traceparent`.
pub fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

/// Polls `bin`'s log until `done` holds for its lines; panics after `limit` with the log.
pub async fn wait_for(bin: &RunningBinary, what: &str, limit: Duration, done: impl Fn(&[Line]) -> bool) -> Vec<Line> {
    let deadline = Instant::now() + limit;
    loop {
        let lines = parse(&bin.logs());
        if done(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{what} not logged within {limit:?}:\n{}", bin.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
