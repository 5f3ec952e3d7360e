//! The CloudEvent attributes of a delivery, as every layer sees them: the store
//! keys idempotency on `source` + `id`, the functions route by `type` and
//! extensions. Decoded and validated by `runtime::intake`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// The CloudEvent attributes we log, key idempotency on and route by.
#[derive(Debug, Clone)]
pub struct EventMeta {
    pub id: String,
    /// The Fedora Messaging topic for Fedora events.
    pub event_type: String,
    pub source: String,
    pub time: Option<DateTime<Utc>>,
    /// Extensions as strings (`kojiowner`, `traceparent`, …).
    pub extensions: BTreeMap<String, String>,
}

impl EventMeta {
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions.get(name).map(String::as_str)
    }
}
