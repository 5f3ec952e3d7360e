//! The Trigger table of a rendered overlay: which function each CloudEvent goes to.
//!
//! Knative's Broker delivers an event to every Trigger whose `filter.attributes`
//! all equal the event's attributes (exact match; `type` is the CloudEvent type,
//! the rest are other attributes or extensions such as `kojiowner`). The local
//! broker of `make run`, the benchmark and `tests/tests/deploy.rs` all route with
//! this, so local routing cannot drift from the cluster's.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use fedora_ci_tests::triggers::{self, Routing};
//!
//! let routes = triggers::load("stg");
//! let ext = BTreeMap::from([("pagurenamespace".to_owned(), "rpms".to_owned())]);
//! assert_eq!(routes.routes_to("org.fedoraproject.stg.pagure.pull-request.new", &ext), ["pr-opened"]);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde_yaml_ng::Value;

use crate::kustomize::{self, group_kind, name_of};

/// One Trigger: its name, the Knative Service it delivers to, and its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRoute {
    pub name: String,
    pub subscriber: String,
    /// `filter.attributes`: attribute name → required value.
    pub filters: BTreeMap<String, String>,
}

impl TriggerRoute {
    /// Whether an event with this `type` and these other attributes/extensions
    /// passes the filter. An empty filter value matches any value that is present,
    /// as in Knative.
    pub fn matches(&self, event_type: &str, extensions: &BTreeMap<String, String>) -> bool {
        self.filters.iter().all(|(attribute, wanted)| {
            let actual =
                if attribute == "type" { Some(event_type) } else { extensions.get(attribute).map(String::as_str) };
            actual.is_some_and(|actual| wanted.is_empty() || actual == wanted)
        })
    }
}

/// Routing over a Trigger table (`Vec<TriggerRoute>` or a slice of it).
pub trait Routing {
    /// The subscribers an event is delivered to, one entry per matching Trigger
    /// (so a function listed twice would get the event twice), in Trigger order.
    fn routes_to(&self, event_type: &str, extensions: &BTreeMap<String, String>) -> Vec<String>;
}

impl Routing for [TriggerRoute] {
    fn routes_to(&self, event_type: &str, extensions: &BTreeMap<String, String>) -> Vec<String> {
        self.iter().filter(|t| t.matches(event_type, extensions)).map(|t| t.subscriber.clone()).collect()
    }
}

/// The Trigger table of `knative/overlays/<overlay>` (`"stg"`, `"prod"`), or of
/// the overlay directory `overlay` names when it is a path. Panics with the reason
/// when the overlay does not render: callers are tests and the local stack, which
/// cannot do anything useful without routes.
pub fn load(overlay: &str) -> Vec<TriggerRoute> {
    let dir = overlay_dir(overlay);
    try_load(&dir).unwrap_or_else(|e| panic!("loading the Trigger table of {}: {e:#}", dir.display()))
}

pub fn overlay_dir(overlay: &str) -> PathBuf {
    if overlay.contains('/') { PathBuf::from(overlay) } else { kustomize::knative_dir().join("overlays").join(overlay) }
}

pub fn try_load(dir: &Path) -> anyhow::Result<Vec<TriggerRoute>> {
    from_resources(&kustomize::build(dir)?)
}

/// The Triggers among rendered objects. Only what our routing relies on is
/// accepted: `filter.attributes` (not the CESQL `filters` dialect) and a
/// subscriber that is a Knative Service by reference.
pub fn from_resources(resources: &[Value]) -> anyhow::Result<Vec<TriggerRoute>> {
    resources
        .iter()
        .filter(|r| group_kind(r) == ("eventing.knative.dev", "Trigger"))
        .map(|t| trigger_route(t).with_context(|| format!("Trigger '{}'", name_of(t))))
        .collect()
}

fn trigger_route(trigger: &Value) -> anyhow::Result<TriggerRoute> {
    let spec = trigger.get("spec").ok_or_else(|| anyhow!("no spec"))?;
    if spec.get("filters").is_some() {
        bail!("uses `filters` (CESQL dialect); the routing table supports `filter.attributes` only");
    }
    let subscriber =
        spec.get("subscriber").and_then(|s| s.get("ref")).ok_or_else(|| anyhow!("subscriber is not a ref"))?;
    if group_kind(subscriber) != ("serving.knative.dev", "Service") {
        bail!("subscriber is not a Knative Service");
    }
    let subscriber = subscriber.get("name").and_then(Value::as_str).ok_or_else(|| anyhow!("subscriber has no name"))?;
    let mut filters = BTreeMap::new();
    let attributes = spec.get("filter").and_then(|f| f.get("attributes"));
    for (key, value) in attributes.and_then(Value::as_mapping).into_iter().flatten() {
        let key = key.as_str().ok_or_else(|| anyhow!("filter attribute {key:?} is not a string"))?;
        let value = value.as_str().ok_or_else(|| anyhow!("filter value of {key} is not a string"))?;
        filters.insert(key.to_owned(), value.to_owned());
    }
    Ok(TriggerRoute { name: name_of(trigger).to_owned(), subscriber: subscriber.to_owned(), filters })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(subscriber: &str, filters: &[(&str, &str)]) -> TriggerRoute {
        TriggerRoute {
            name: subscriber.to_owned(),
            subscriber: subscriber.to_owned(),
            filters: filters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn every_filter_attribute_must_match() {
        let table = [route("koji-finished", &[("type", "t"), ("kojiowner", "us")])];
        let ours = BTreeMap::from([("kojiowner".to_owned(), "us".to_owned())]);
        let theirs = BTreeMap::from([("kojiowner".to_owned(), "them".to_owned())]);
        assert_eq!(table.routes_to("t", &ours), ["koji-finished"]);
        assert!(table.routes_to("t", &theirs).is_empty());
        assert!(table.routes_to("t", &BTreeMap::new()).is_empty());
        assert!(table.routes_to("other", &ours).is_empty());
    }

    #[test]
    fn empty_value_means_present() {
        let table = [route("f", &[("type", "t"), ("kojiowner", "")])];
        assert_eq!(table.routes_to("t", &BTreeMap::from([("kojiowner".to_owned(), "x".to_owned())])), ["f"]);
        assert!(table.routes_to("t", &BTreeMap::new()).is_empty());
    }
}
