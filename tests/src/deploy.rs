//! Static checks of the deployment: the rendered Knative overlays, `compose.yaml`
//! and the `Containerfile`, against each other and against what the functions
//! really read. No cluster and no container engine needed; `make deploy-check`
//! runs them (via `tests/tests/deploy.rs`).
//!
//! Every check returns a list of problems, one readable line each, so a broken
//! manifest reports everything wrong with it at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fedora_ci::config::Config;
use fedora_ci::messages::Topic;
use serde::Deserialize as _;
use serde_yaml_ng::Value;

use crate::kustomize::{self, group_kind, name_of, split_image};
use crate::stack::FUNCTIONS;
use crate::triggers::{self, Routing};

/// Registry path of the images: `<IMAGE_REPOSITORY>/fedora-ci-<function>:<tag>`.
pub const IMAGE_REPOSITORY: &str = "quay.io/packit";
/// The functions reachable from outside the cluster: the dashboard API and the
/// Testing Farm webhook. Everything else is called by the Broker only.
pub const PUBLIC_FUNCTIONS: [&str; 2] = ["api", "tf-finished"];
/// The bridge's own settings (functions/fedmsg-bridge/src/config.rs); no other
/// function may be given them. The broker connection (`AMQP_*`) is not among them:
/// it is read by shared/src/config/amqp.rs, for the publishers too.
pub const BRIDGE_VARIABLES: [&str; 10] = [
    "FEDORA_MESSAGING_QUEUE",
    "FEDMSG_BRIDGE_DLQ",
    "FEDMSG_BRIDGE_DLQ_ROUTING_KEY",
    "FEDMSG_BRIDGE_DECLARE",
    "FEDMSG_BRIDGE_TOPICS",
    "FEDMSG_BRIDGE_PREFETCH",
    "FEDMSG_BRIDGE_PROMOTE",
    "FEDMSG_BRIDGE_SINK_TIMEOUT_SECONDS",
    "FEDMSG_BRIDGE_RETRY_INITIAL_MS",
    "FEDMSG_BRIDGE_RETRY_MAX_SECONDS",
];
/// The functions that publish Fedora CI messages: their handlers reach
/// `ci_messages::flush` (through `submit::tests::submit_test`, which koji-finished
/// calls via `build_state`, or `test_state::apply`). Without a broker they would
/// queue messages in `ci_messages` that nobody ever sends, so each must be given
/// the broker and the client identity, like the bridge.
pub const PUBLISHING_FUNCTIONS: [&str; 4] = ["pr-opened", "koji-finished", "tf-finished", "result-poller"];
/// What a process needs to reach Fedora's broker (shared/src/config/amqp.rs): the URL
/// (checked separately, as `AMQP_URL` or `AMQP_URL_FILE`) and the TLS files.
pub const AMQP_TLS_VARIABLES: [&str; 3] = ["AMQP_CA_CERT", "AMQP_CERT", "AMQP_KEY"];
pub const TESTING_FARM_TYPE: &str = "dev.testing-farm.request.state-changed";
pub const PING_TYPE: &str = "dev.knative.sources.ping";
/// The dist-git namespaces Fedora CI covers (DESIGN.md: `rpms/` and `tests/`).
pub const PAGURE_NAMESPACES: [&str; 2] = ["rpms", "tests"];

/// The function that handles a Fedora Messaging topic. Exhaustive on purpose: a
/// new topic in `shared` does not compile here until it is routed somewhere.
pub fn function_for(topic: Topic) -> &'static str {
    match topic {
        Topic::PullRequestNew
        | Topic::PullRequestUpdated
        | Topic::PullRequestRebased
        | Topic::PullRequestCommentAdded
        | Topic::PullRequestClosed
        | Topic::PullRequestReopened
        | Topic::ForgejoPullRequest
        | Topic::ForgejoIssueComment => "pr-opened",
        // The result finishes what a failed build started (see koji-finished's handler).
        Topic::KojiTaskStateChange | Topic::LogDetectiveAnalysis => "koji-finished",
    }
}

/// One event a function says it handles, with the extensions the bridge sets.
#[derive(Debug, Clone)]
pub struct Claim {
    pub function: &'static str,
    pub event_type: String,
    pub extensions: BTreeMap<String, String>,
}

/// CloudEvent extensions (or other attributes) from `(name, value)` pairs.
pub fn ext(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Everything that must reach a function in a deployment with this topic prefix
/// and these Koji users.
pub fn claims(prefix: &str, koji_users: &[String]) -> Vec<Claim> {
    let mut out = Vec::new();
    for topic in Topic::ALL {
        let function = function_for(topic);
        let event_type = format!("{prefix}{}", topic.suffix());
        if topic == Topic::LogDetectiveAnalysis {
            // Koji analyses only: the bridge promotes `build_system` (Copr's go to
            // packit-service, not to us).
            out.push(Claim { function, event_type, extensions: ext(&[("ldbuildsystem", "koji")]) });
        } else if matches!(topic, Topic::ForgejoPullRequest | Topic::ForgejoIssueComment) {
            // Forgejo's organisation, promoted from `repository.owner.login`.
            for ns in PAGURE_NAMESPACES {
                out.push(Claim { function, event_type: event_type.clone(), extensions: ext(&[("forgejoowner", ns)]) });
            }
        } else if topic.is_pull_request() {
            for ns in PAGURE_NAMESPACES {
                out.push(Claim {
                    function,
                    event_type: event_type.clone(),
                    extensions: ext(&[("pagurenamespace", ns)]),
                });
            }
        } else {
            for user in koji_users {
                out.push(Claim {
                    function,
                    event_type: event_type.clone(),
                    extensions: ext(&[("kojiowner", user), ("kojimethod", "build")]),
                });
            }
        }
    }
    // Testing Farm's notifications reach tf-finished through its webhook host (a
    // DomainMapping, check_references), never through the Broker: nothing in
    // the cluster produces them as CloudEvents.
    out.push(Claim { function: "result-poller", event_type: PING_TYPE.to_owned(), extensions: ext(&[]) });
    out
}

/// The task topics of the extra Koji instances (`KOJI_INSTANCES`): each must
/// reach koji-finished for the instance's users, like the primary hub's.
pub fn instance_claims(config: &Config) -> Vec<Claim> {
    let mut out = Vec::new();
    for instance in &config.koji_instances {
        for user in &instance.koji.users {
            out.push(Claim {
                function: "koji-finished",
                event_type: instance.task_topic(),
                extensions: ext(&[("kojiowner", user), ("kojimethod", "build")]),
            });
        }
    }
    out
}

/// Events that must wake nothing: other people's Koji tasks, PRs outside the
/// covered namespaces, and the other deployment's topics.
pub fn foreign_events(prefix: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let other =
        if prefix.contains(".prod.") { prefix.replace(".prod.", ".stg.") } else { prefix.replace(".stg.", ".prod.") };
    let mut out = vec![
        (format!("{prefix}buildsys.task.state.change"), ext(&[("kojiowner", "someone-else"), ("kojimethod", "build")])),
        (format!("{prefix}pagure.pull-request.new"), ext(&[("pagurenamespace", "modules")])),
        (format!("{prefix}pagure.pull-request.new"), ext(&[])),
        (format!("{prefix}pagure.pull-request.flag.added"), ext(&[("pagurenamespace", "rpms")])),
        (format!("{prefix}logdetective.analysis"), ext(&[("ldbuildsystem", "copr")])),
        (format!("{prefix}logdetective.analysis"), ext(&[])),
    ];
    for topic in Topic::ALL {
        for extensions in [
            ("pagurenamespace", "rpms"),
            ("kojiowner", "packit-ci"),
            ("kojiowner", "packit-ci-stg"),
            ("ldbuildsystem", "koji"),
        ] {
            out.push((format!("{other}{}", topic.suffix()), ext(&[extensions])));
        }
    }
    out
}

/// The workspace, or a copy of the parts the checks read.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    pub fn workspace() -> Repo {
        Repo { root: kustomize::workspace_dir() }
    }

    pub fn overlay(&self, name: &str) -> PathBuf {
        self.root.join("knative/overlays").join(name)
    }
}

/// Variable names a function reads: `shared/src/config/mod.rs` and
/// `shared/src/config/amqp.rs`, `shared/src/config/forge.rs` (`("NAME"` call arguments in the non-test part, plus
/// `NAME_FILE` for secrets), the
/// `std::env::var("NAME")` reads of `shared/src/runtime/app.rs`, and README's
/// configuration table (for what libraries read, such as `RUST_LOG`).
pub fn config_variables(repo: &Repo) -> BTreeSet<String> {
    let read = |p: &str| std::fs::read_to_string(repo.root.join(p)).unwrap_or_else(|e| panic!("reading {p}: {e}"));
    let mut out = BTreeSet::new();
    for file in ["shared/src/config/mod.rs", "shared/src/config/amqp.rs", "shared/src/config/forge.rs"] {
        scan_variables(read(file).split("#[cfg(test)]").next().unwrap_or_default(), &mut out);
    }
    let app = read("shared/src/runtime/app.rs");
    for piece in app.split("std::env::var(\"").skip(1) {
        out.insert(piece.split('"').next().unwrap_or_default().to_owned());
    }
    let readme = read("README.md");
    let table = readme.split("### Configuration").nth(1).unwrap_or_default();
    for line in table.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for name in first.split('`').skip(1).step_by(2) {
            if name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

/// `("NAME"` call arguments in Rust source; `NAME_FILE` too where the call is a
/// `secret` read.
fn scan_variables(source: &str, out: &mut BTreeSet<String>) {
    let mut rest = source;
    while let Some(i) = rest.find("(\"") {
        let before = &rest[..i];
        let after = &rest[i + 2..];
        let name: String =
            after.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        if !name.is_empty() && after[name.len()..].starts_with('"') && name.contains(|c: char| c.is_ascii_uppercase()) {
            if before.ends_with("secret") {
                out.insert(format!("{name}_FILE"));
            }
            out.insert(name);
        }
        rest = after;
    }
}

/// `EXPOSE` of the Containerfile's last stage.
pub fn containerfile_port(repo: &Repo) -> Option<u16> {
    let text = std::fs::read_to_string(repo.root.join("Containerfile")).ok()?;
    text.lines().rev().find_map(|l| l.trim().strip_prefix("EXPOSE ").and_then(|p| p.trim().parse().ok()))
}

/// Secret templates in `secrets.example/`: name → keys.
pub fn secret_templates(repo: &Repo) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let dir = repo.root.join("secrets.example");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            for doc in kustomize::read_documents(&path).expect("secrets.example parses") {
                if group_kind(&doc) != ("", "Secret") {
                    continue;
                }
                let keys = ["data", "stringData"]
                    .iter()
                    .filter_map(|k| doc.get(k).and_then(Value::as_mapping))
                    .flat_map(|m| m.keys().filter_map(Value::as_str).map(str::to_owned))
                    .collect();
                out.insert(name_of(&doc).to_owned(), keys);
            }
        }
    }
    out
}

/// One rendered overlay (`stg` or `prod`, its directory's name).
struct Rendered {
    overlay: String,
    resources: Vec<Value>,
}

impl Rendered {
    fn of_kind<'a>(&'a self, group: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Value> {
        self.resources.iter().filter(move |r| group_kind(r) == (group, kind))
    }

    fn find(&self, group: &str, kind: &str, name: &str) -> Option<&Value> {
        self.resources.iter().find(|r| group_kind(r) == (group, kind) && name_of(r) == name)
    }

    fn config_map_keys(&self, name: &str) -> Option<Vec<String>> {
        let data = self.find("", "ConfigMap", name)?.get("data").and_then(Value::as_mapping);
        Some(data.into_iter().flatten().filter_map(|(k, _)| k.as_str().map(str::to_owned)).collect())
    }
}

/// What the checks compare the manifests with, read once per overlay.
struct Facts {
    variables: BTreeSet<String>,
    templates: BTreeMap<String, BTreeSet<String>>,
    port: Option<u16>,
}

/// A pod template somewhere in a rendered object, with what deploys it.
struct Workload<'a> {
    what: String,
    kind: &'a str,
    name: &'a str,
    pod: &'a Value,
}

fn workloads(resources: &[Value]) -> Vec<Workload<'_>> {
    resources
        .iter()
        .filter_map(|r| {
            let (group, kind) = group_kind(r);
            let pod = match (group, kind) {
                ("serving.knative.dev", "Service") | ("sources.knative.dev", "ContainerSource") | ("batch", "Job") => {
                    r.get("spec")?.get("template")?.get("spec")?
                }
                _ => return None,
            };
            Some(Workload { what: format!("{kind} {}", name_of(r)), kind, name: name_of(r), pod })
        })
        .collect()
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_sequence).into_iter().flatten()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Everything that is wrong with one overlay of `repo` (`stg` or `prod`, the
/// directory's name); empty when it is deployable.
pub fn check_overlay(repo: &Repo, overlay_dir: &Path) -> Vec<String> {
    let overlay = overlay_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let rendered = match kustomize::build(overlay_dir) {
        Ok(resources) => Rendered { overlay, resources },
        Err(e) => return vec![format!("{overlay}: does not render: {e:#}")],
    };
    let facts =
        Facts { variables: config_variables(repo), templates: secret_templates(repo), port: containerfile_port(repo) };
    let mut problems = check_workloads(&rendered, &facts);
    problems.extend(check_services(&rendered));
    problems.extend(check_references(&rendered));
    match overlay_config(&rendered) {
        Ok(config) => {
            problems.extend(check_routing(&rendered, &config));
            match bridge_config(&rendered) {
                Ok(bridge) => problems.extend(check_produced(&rendered, &bridge)),
                Err(problem) => problems.push(problem),
            }
        }
        Err(problem) => problems.push(problem),
    }
    problems.into_iter().map(|p| format!("{}: {p}", rendered.overlay)).collect()
}

/// Images, ports, env, secrets, probes and resources of every pod template.
fn check_workloads(rendered: &Rendered, facts: &Facts) -> Vec<String> {
    let mut problems = Vec::new();
    let mut deployed = BTreeSet::new();
    for w in workloads(&rendered.resources) {
        for volume in items(w.pod.get("volumes")) {
            if let Some(secret) = s(volume, &["secret", "secretName"]).filter(|n| !facts.templates.contains_key(*n)) {
                problems.push(format!("{}: secret '{secret}' has no template in secrets.example/", w.what));
            }
            if let Some(cm) = s(volume, &["configMap", "name"]).filter(|n| rendered.find("", "ConfigMap", n).is_none())
            {
                problems.push(format!("{}: ConfigMap '{cm}' does not exist", w.what));
            }
        }
        let containers: Vec<&Value> = items(w.pod.get("containers")).collect();
        if containers.len() != 1 {
            problems.push(format!("{}: expected one container, found {}", w.what, containers.len()));
        }
        for container in containers {
            deployed.insert(check_container(rendered, facts, &w, container, &mut problems));
        }
    }
    for function in FUNCTIONS {
        if !deployed.contains(function) {
            problems.push(format!("function {function} is not deployed"));
        }
    }
    problems
}

/// Checks one container; returns the function its image runs.
fn check_container(
    rendered: &Rendered,
    facts: &Facts,
    w: &Workload<'_>,
    c: &Value,
    problems: &mut Vec<String>,
) -> String {
    let mut problem = |p: String| problems.push(format!("{}: {p}", w.what));
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let (image_name, tag) = split_image(image);
    let function = image_name.strip_prefix(&format!("{IMAGE_REPOSITORY}/fedora-ci-")).unwrap_or_default();
    if !FUNCTIONS.contains(&function) {
        problem(format!("image '{image}' is not {IMAGE_REPOSITORY}/fedora-ci-<function>"));
    }
    if tag != format!(":{}", rendered.overlay) {
        problem(format!("image '{image}' should run the '{}' tag", rendered.overlay));
    }
    match w.kind {
        "Service" if w.name != function => problem(format!("runs the {function} image")),
        "ContainerSource" if function != "fedmsg-bridge" => problem("only the bridge runs as a ContainerSource".into()),
        "Job" => {
            let args: Vec<&str> = items(c.get("args")).filter_map(Value::as_str).collect();
            if args != ["--migrate"] || function == "fedmsg-bridge" {
                problem(format!("a Job runs `<database function> --migrate`, not {function} {args:?}"));
            }
        }
        _ => {}
    }
    let ports: Vec<u64> = items(c.get("ports")).filter_map(|p| p.get("containerPort")?.as_u64()).collect();
    if w.kind != "Job" && (ports.len() != 1 || facts.port.map(u64::from) != ports.first().copied()) {
        problem(format!("container ports {ports:?} do not match the Containerfile's EXPOSE {:?}", facts.port));
    }

    // Env: every variable, set directly or through a ConfigMap, must be one the
    // function reads.
    let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
    for e in items(c.get("env")) {
        let name = s(e, &["name"]).unwrap_or_default().to_owned();
        if let Some(secret) = s(e, &["valueFrom", "secretKeyRef", "name"]) {
            problem(format!("{name} takes secret '{secret}' as a value; mount it and use {name}_FILE"));
        }
        env.insert(name, s(e, &["value"]).map(str::to_owned));
    }
    for from in items(c.get("envFrom")) {
        let Some(cm) = s(from, &["configMapRef", "name"]) else {
            problem("envFrom other than a ConfigMap".into());
            continue;
        };
        match rendered.config_map_keys(cm) {
            None => problem(format!("ConfigMap '{cm}' does not exist")),
            Some(keys) => env.extend(keys.into_iter().map(|k| (k, None))),
        }
    }
    for name in env.keys() {
        let bridge_only = function == "fedmsg-bridge" && BRIDGE_VARIABLES.contains(&name.as_str());
        let instance = fedora_ci::config::koji::is_instance_variable(name);
        if !facts.variables.contains(name) && !bridge_only && !instance {
            problem(format!("sets {name}, which {function} does not read"));
        }
    }
    let needs_broker = PUBLISHING_FUNCTIONS.contains(&function) || function == "fedmsg-bridge";
    if needs_broker && w.kind != "Job" {
        if !env.contains_key("AMQP_URL") && !env.contains_key("AMQP_URL_FILE") {
            problem(format!("{function} publishes or consumes Fedora Messaging but has no AMQP_URL(_FILE)"));
        }
        for var in AMQP_TLS_VARIABLES {
            match env.get(var) {
                Some(Some(path)) if path.starts_with("/run/secrets/") => {}
                Some(_) => problem(format!("{var} must be a path in the mounted secret fedora-ci-messaging")),
                None => problem(format!("{function} talks to Fedora's broker (TLS) but has no {var}")),
            }
        }
    }
    if let Some(Some(p)) = env.get("PORT").filter(|p| p.as_deref() != Some("8080")) {
        problem(format!("PORT={p} but the image listens on 8080"));
    }

    // Secret files: each path must be inside a mounted secret, as a key its
    // template has.
    let secret_volumes: BTreeMap<&str, &str> = items(w.pod.get("volumes"))
        .filter_map(|v| Some((v.get("name")?.as_str()?, s(v, &["secret", "secretName"])?)))
        .collect();
    let secret_mounts: Vec<(&str, &str)> = items(c.get("volumeMounts"))
        .filter_map(|m| Some((s(m, &["mountPath"])?, *secret_volumes.get(s(m, &["name"])?)?)))
        .collect();
    for (name, value) in &env {
        let Some(path) = value.as_deref().filter(|v| v.starts_with("/run/secrets/")) else {
            if name.ends_with("_FILE") {
                problem(format!("{name} is not a path to a mounted secret"));
            }
            continue;
        };
        let mounted =
            secret_mounts.iter().find_map(|(dir, secret)| Some((*secret, path.strip_prefix(dir)?.strip_prefix('/')?)));
        match mounted {
            None => problem(format!("{name}={path} is not inside a mounted secret")),
            Some((secret, key)) if !facts.templates.get(secret).is_some_and(|k| k.contains(key)) => {
                problem(format!("{name} reads key '{key}' of secret '{secret}', not in its template"))
            }
            Some(_) => {}
        }
    }

    if w.kind != "Job" {
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            if s(c, &[probe, "httpGet", "path"]) != Some(path) {
                problem(format!("{probe} must GET {path}"));
            }
        }
    }
    for (section, resource) in [("requests", "memory"), ("limits", "memory")] {
        if c.get("resources").and_then(|r| r.get(section)).and_then(|r| r.get(resource)).is_none() {
            problem(format!("no resources.{section}.{resource}"));
        }
    }
    function.to_owned()
}

/// Knative Services: scale to zero with a cap, and only the public ones public.
fn check_services(rendered: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    for svc in rendered.of_kind("serving.knative.dev", "Service") {
        let name = name_of(svc);
        let annotation = |k: &str| s(svc, &["spec", "template", "metadata", "annotations", k]);
        if annotation("autoscaling.knative.dev/min-scale") != Some("0") {
            problems.push(format!("Service {name}: must scale to zero (min-scale \"0\")"));
        }
        if annotation("autoscaling.knative.dev/max-scale").and_then(|m| m.parse::<u32>().ok()).is_none_or(|m| m < 1) {
            problems.push(format!("Service {name}: needs a max-scale cap"));
        }
        let local = s(svc, &["metadata", "labels", "networking.knative.dev/visibility"]) == Some("cluster-local");
        if local == PUBLIC_FUNCTIONS.contains(&name) {
            let want = if local { "public" } else { "cluster-local" };
            problems.push(format!("Service {name}: must be {want}"));
        }
    }
    problems
}

/// The overlay's `fedora-ci-config` through the functions' own config loader.
fn overlay_config(rendered: &Rendered) -> Result<Config, String> {
    let data: BTreeMap<String, String> = rendered
        .of_kind("", "ConfigMap")
        .find(|r| name_of(r).starts_with("fedora-ci-config-"))
        .and_then(|cm| serde_yaml_ng::from_value(cm.get("data")?.clone()).ok())
        .ok_or("no ConfigMap fedora-ci-config with string data")?;
    let source = |k: &str| match k {
        // A secret file in the cluster; any valid value will do here.
        "DATABASE_URL" => Some("postgres://check@localhost/check".to_owned()),
        _ => data.get(k).cloned(),
    };
    let config = Config::from_source(&source)
        .map_err(|e| format!("ConfigMap fedora-ci-config is rejected by the functions: {e}"))?;
    if config.deployment.as_str() != rendered.overlay {
        return Err(format!("FEDORA_CI_DEPLOYMENT is {} in overlay {}", config.deployment.as_str(), rendered.overlay));
    }
    Ok(config)
}

/// The bridge's settings as the cluster gives them (the two ConfigMaps it reads;
/// the broker URL and `K_SINK` come from a secret and the SinkBinding).
fn bridge_config(rendered: &Rendered) -> Result<fedmsg_bridge::BridgeConfig, String> {
    let mut data: BTreeMap<String, String> = BTreeMap::new();
    for prefix in ["fedora-ci-config-", "fedora-ci-bridge-"] {
        let cm = rendered
            .of_kind("", "ConfigMap")
            .find(|r| name_of(r).starts_with(prefix))
            .ok_or_else(|| format!("no ConfigMap {}", prefix.trim_end_matches('-')))?;
        let map: BTreeMap<String, String> = cm
            .get("data")
            .and_then(|d| serde_yaml_ng::from_value(d.clone()).ok())
            .ok_or_else(|| format!("ConfigMap {}: data is not strings", name_of(cm)))?;
        data.extend(map);
    }
    let source = |k: &str| match k {
        "AMQP_URL" => Some("amqp://check@localhost/%2f".to_owned()),
        "K_SINK" => Some("http://broker-ingress.knative-eventing.svc/fedora-ci/fedora-ci".to_owned()),
        _ => data.get(k).cloned(),
    };
    fedmsg_bridge::BridgeConfig::from_source(&source).map_err(|e| format!("the bridge rejects its config: {e}"))
}

/// Every Trigger's type is produced in the cluster: a topic the bridge's queue
/// is bound to, or the PingSource's tick. A Trigger nothing feeds is dead
/// weight at best, and at worst a route someone believes in.
fn check_produced(rendered: &Rendered, bridge: &fedmsg_bridge::BridgeConfig) -> Vec<String> {
    let ticks = rendered
        .of_kind("sources.knative.dev", "PingSource")
        .any(|p| s(p, &["spec", "sink", "ref", "kind"]) == Some("Broker"));
    let mut problems = Vec::new();
    for trigger in rendered.of_kind("eventing.knative.dev", "Trigger") {
        let Some(t) = s(trigger, &["spec", "filter", "attributes", "type"]) else { continue };
        let from_bridge = bridge.topics.iter().any(|pattern| fedmsg_bridge::config::topic_matches(pattern, t));
        let from_ping = t == PING_TYPE && ticks;
        if !(from_bridge || from_ping) {
            problems.push(format!(
                "Trigger {}: nothing in the cluster produces type {t} (not a topic the bridge consumes, not the ping)",
                name_of(trigger)
            ));
        }
    }
    problems
}

/// Every Trigger points at something real, and every claimed event reaches
/// exactly its function while foreign events reach nothing.
fn check_routing(rendered: &Rendered, config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let routes = match triggers::from_resources(&rendered.resources) {
        Ok(r) => r,
        Err(e) => return vec![format!("{e:#}")],
    };
    for trigger in rendered.of_kind("eventing.knative.dev", "Trigger") {
        let broker = s(trigger, &["spec", "broker"]).unwrap_or_default();
        if rendered.find("eventing.knative.dev", "Broker", broker).is_none() {
            problems.push(format!("Trigger {}: Broker '{broker}' does not exist", name_of(trigger)));
        }
    }
    let mut claims = claims(&config.topic_prefix, &config.koji.users);
    claims.extend(instance_claims(config));
    for route in &routes {
        if rendered.find("serving.knative.dev", "Service", &route.subscriber).is_none() {
            problems.push(format!("Trigger {}: subscriber Service '{}' does not exist", route.name, route.subscriber));
        }
        match route.filters.get("type") {
            None => problems.push(format!("Trigger {}: no type filter", route.name)),
            Some(t) if t.starts_with("org.fedoraproject.") && !t.starts_with(&config.topic_prefix) => problems.push(
                format!("Trigger {}: type {t} is not under FEDORA_CI_TOPIC_PREFIX {}", route.name, config.topic_prefix),
            ),
            Some(_) => {}
        }
        let claimed =
            claims.iter().any(|c| c.function == route.subscriber && route.matches(&c.event_type, &c.extensions));
        if !claimed {
            problems.push(format!(
                "Trigger {}: routes {:?} to {}, which does not handle it",
                route.name, route.filters, route.subscriber
            ));
        }
    }
    for claim in &claims {
        let got = routes.routes_to(&claim.event_type, &claim.extensions);
        if got != [claim.function] {
            problems.push(format!(
                "{} {:?} should reach exactly [{}], reaches {got:?}",
                claim.event_type, claim.extensions, claim.function
            ));
        }
    }
    for (event_type, extensions) in foreign_events(&config.topic_prefix) {
        let got = routes.routes_to(&event_type, &extensions);
        if !got.is_empty() {
            problems.push(format!("{event_type} {extensions:?} is not ours but wakes {got:?}"));
        }
    }
    problems
}

/// The Broker class every Broker must name: Knative's broker for Apache Kafka,
/// which keeps accepted events in a Kafka topic (knative/README.md says why).
pub const BROKER_CLASS: &str = "Kafka";
/// The ConfigMap the OpenShift Serverless operator's KnativeKafka makes for it
/// (knative/cluster/knative-kafka.yaml, `broker.defaultConfig`).
pub const KAFKA_BROKER_CONFIG: (&str, &str) = ("knative-eventing", "kafka-broker-config");

/// A Broker names its class (the cluster default is the in-memory channel one,
/// which loses accepted events when a dispatcher restarts) and its Kafka config.
fn check_broker(broker: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let class = s(broker, &["metadata", "annotations", "eventing.knative.dev/broker.class"]);
    if class != Some(BROKER_CLASS) {
        problems.push(format!(
            "Broker {}: class {class:?}, not {BROKER_CLASS:?} (eventing.knative.dev/broker.class)",
            name_of(broker)
        ));
    }
    let config = broker.get("spec").and_then(|s| s.get("config"));
    let names = config.map(|c| (s(c, &["kind"]), s(c, &["namespace"]), s(c, &["name"])));
    if names != Some((Some("ConfigMap"), Some(KAFKA_BROKER_CONFIG.0), Some(KAFKA_BROKER_CONFIG.1))) {
        problems.push(format!(
            "Broker {}: spec.config is not ConfigMap {}/{}",
            name_of(broker),
            KAFKA_BROKER_CONFIG.0,
            KAFKA_BROKER_CONFIG.1
        ));
    }
    problems
}

/// Sources' sinks, the Broker's dead-letter sink and the DomainMappings point at
/// objects that exist; the poller ticks every 5 minutes.
fn check_references(rendered: &Rendered) -> Vec<String> {
    let mut problems = Vec::new();
    for r in &rendered.resources {
        let (group, kind) = group_kind(r);
        let reference = match (group, kind) {
            ("sources.knative.dev", _) => r.get("spec").and_then(|s| s.get("sink")).and_then(|s| s.get("ref")),
            ("eventing.knative.dev", "Broker") => {
                problems.extend(check_broker(r));
                let dls = r.get("spec").and_then(|s| s.get("delivery")).and_then(|d| d.get("deadLetterSink"));
                if dls.is_none() {
                    problems.push(format!("Broker {}: no dead-letter sink", name_of(r)));
                }
                dls.and_then(|d| d.get("ref"))
            }
            ("serving.knative.dev", "DomainMapping") => {
                let target = s(r, &["spec", "ref", "name"]).unwrap_or_default();
                if !PUBLIC_FUNCTIONS.contains(&target) {
                    problems.push(format!("DomainMapping {}: {target} is not a public function", name_of(r)));
                }
                r.get("spec").and_then(|s| s.get("ref"))
            }
            _ => continue,
        };
        let Some(reference) = reference else {
            problems.push(format!("{kind} {}: refers to nothing", name_of(r)));
            continue;
        };
        let (g, k) = group_kind(reference);
        let n = reference.get("name").and_then(Value::as_str).unwrap_or_default();
        if rendered.find(g, k, n).is_none() {
            problems.push(format!("{kind} {}: refers to {k} '{n}', which does not exist", name_of(r)));
        }
    }
    let webhook = rendered
        .of_kind("serving.knative.dev", "DomainMapping")
        .any(|d| s(d, &["spec", "ref", "name"]) == Some("tf-finished"));
    if !webhook {
        problems.push("no DomainMapping to tf-finished: Testing Farm's webhook would reach nothing".to_owned());
    }
    match rendered.of_kind("sources.knative.dev", "PingSource").next() {
        Some(ping) if s(ping, &["spec", "schedule"]) == Some("*/5 * * * *") => {}
        Some(_) => problems.push("PingSource: the poller ticks every 5 minutes".to_owned()),
        None => problems.push("no PingSource for the result-poller".to_owned()),
    }
    problems
}

/// `compose.yaml` against the Containerfile and the functions' config.
pub fn check_compose(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let mut compose = match kustomize::read_documents(&repo.root.join("compose.yaml")) {
        Ok(d) if d.len() == 1 => d.into_iter().next().expect("one document"),
        Ok(d) => return vec![format!("compose.yaml: {} documents, want one", d.len())],
        Err(e) => return vec![format!("compose.yaml: {e:#}")],
    };
    // `<<: *anchor` merge keys, as compose applies them.
    if let Err(e) = compose.apply_merge() {
        return vec![format!("compose.yaml: {e}")];
    }
    let Some(services) = compose.get("services").and_then(Value::as_mapping) else {
        return vec!["compose.yaml: no services".to_owned()];
    };
    let known = config_variables(repo);
    let port = containerfile_port(repo).unwrap_or(0);
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    for needed in ["postgres", "rabbitmq"].iter().chain(FUNCTIONS.iter()) {
        if !names.contains(needed) {
            problems.push(format!("compose.yaml: no service '{needed}'"));
        }
    }
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        let Some(function) = s(svc, &["build", "args", "FUNCTION"]) else {
            if svc.get("image").is_none() {
                problems.push(format!("compose.yaml: {name}: neither an image nor a build"));
            }
            continue;
        };
        let what = format!("compose.yaml: {name}");
        if !FUNCTIONS.contains(&function) {
            problems.push(format!("{what}: FUNCTION={function} is not a function binary"));
        }
        if s(svc, &["build", "context"]) != Some(".") || s(svc, &["build", "dockerfile"]) != Some("Containerfile") {
            problems.push(format!(
                "{what}: must build the top-level Containerfile (context: ., dockerfile: Containerfile)"
            ));
        }
        let command: Vec<&str> = items(svc.get("command")).filter_map(Value::as_str).collect();
        let migrates = command == ["--migrate"];
        if !(command.is_empty() || migrates) || (migrates && function == "fedmsg-bridge") {
            problems.push(format!("{what}: command {command:?}: the binaries take no arguments but --migrate"));
        }
        if !migrates && name != function {
            problems.push(format!("{what}: runs {function}; name the service after its function"));
        }
        let env: BTreeMap<String, String> = match svc.get("environment") {
            Some(Value::Mapping(m)) => {
                m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar_text(v)))).collect()
            }
            Some(_) => {
                problems.push(format!("{what}: write environment as a mapping"));
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        for var in env.keys() {
            let bridge = function == "fedmsg-bridge" && (BRIDGE_VARIABLES.contains(&var.as_str()) || var == "K_SINK");
            if !known.contains(var) && !bridge {
                problems.push(format!("{what}: sets {var}, which {function} does not read"));
            }
        }
        let container_port = env.get("PORT").and_then(|p| p.parse().ok()).unwrap_or(port);
        if container_port != port {
            problems.push(format!("{what}: PORT={container_port} but the image EXPOSEs {port}"));
        }
        for p in items(svc.get("ports")) {
            let text = scalar_text(p);
            if text.rsplit(':').next() != Some(&port.to_string()) {
                problems.push(format!("{what}: port mapping '{text}' does not end at the container's {port}"));
            }
        }
        if function != "fedmsg-bridge" {
            // The values, with `${VAR:-default}` at their defaults, must pass the
            // functions' own config validation.
            let source = |k: &str| env.get(k).map(|v| compose_default(v));
            if let Err(e) = fedora_ci::config::Config::from_source(&source) {
                problems.push(format!("{what}: rejected by the functions: {e}"));
            }
        }
    }
    problems
}

fn scalar_text(v: &Value) -> String {
    kustomize::scalar_string(v).unwrap_or_default()
}

/// `${VAR:-default}` → `default` (compose interpolation with nothing set).
fn compose_default(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { break };
        let inner = &rest[start + 2..start + end];
        out.push_str(inner.split_once(":-").map(|(_, d)| d).unwrap_or_default());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The Containerfile: multi-stage, per-function build arg, a runtime stage without
/// a shell that runs as a non-root UID, exposes 8080 and carries the Kerberos
/// libraries.
pub fn check_containerfile(repo: &Repo) -> Vec<String> {
    let text = std::fs::read_to_string(repo.root.join("Containerfile")).unwrap_or_default();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let stages: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("FROM ")).map(|(i, _)| i).collect();
    if stages.len() < 2 {
        problems.push(format!("Containerfile: {} stage(s); build and runtime must be separate", stages.len()));
        return problems;
    }
    let build = &lines[stages[0]..stages[1]];
    let runtime = &lines[*stages.last().unwrap()..];
    if !build.iter().any(|l| l.contains("cargo build --release --locked -p \"${FUNCTION}\"")) {
        problems
            .push("Containerfile: the build stage must `cargo build --release --locked -p \"${FUNCTION}\"`".to_owned());
    }
    if !lines.contains(&"ARG FUNCTION") {
        problems.push("Containerfile: no `ARG FUNCTION`".to_owned());
    }
    let from = runtime[0];
    let base_arg = from.strip_prefix("FROM ${").and_then(|r| r.split('}').next());
    let base = base_arg
        .and_then(|a| lines.iter().find_map(|l| l.strip_prefix(&format!("ARG {a}="))))
        .unwrap_or(from.trim_start_matches("FROM "));
    if !(base.contains("distroless") || base.starts_with("scratch")) {
        problems.push(format!("Containerfile: runtime base '{base}' has a shell; use distroless or scratch"));
    }
    if runtime.iter().any(|l| l.starts_with("RUN ")) {
        problems.push("Containerfile: the runtime stage has RUN, which needs a shell".to_owned());
    }
    match runtime.iter().rev().find_map(|l| l.strip_prefix("USER ")) {
        Some(u) if u.trim().parse::<u32>().is_ok_and(|u| u != 0) => {}
        other => problems.push(format!("Containerfile: runtime USER {other:?} must be a numeric non-root UID")),
    }
    if !runtime.contains(&"EXPOSE 8080") {
        problems.push("Containerfile: runtime stage must EXPOSE 8080".to_owned());
    }
    match runtime.iter().find_map(|l| l.strip_prefix("ENTRYPOINT ")) {
        Some(e) if e.starts_with('[') => {}
        _ => problems.push("Containerfile: ENTRYPOINT must be exec form (there is no shell)".to_owned()),
    }
    let ignored = std::fs::read_to_string(repo.root.join(".containerignore")).unwrap_or_default();
    if !ignored.lines().any(|l| l.trim().trim_end_matches('/') == "target") {
        problems.push(".containerignore: keep target/ out of the build context".to_owned());
    }
    for lib in KERBEROS_LIBRARIES {
        if !text.contains(lib) {
            problems.push(format!("Containerfile: the runtime image lacks {lib} (GSSAPI login to Koji)"));
        }
    }
    problems
}

/// What libgssapi needs at run time (MIT Kerberos), beyond glibc.
pub const KERBEROS_LIBRARIES: [&str; 6] = [
    "libgssapi_krb5.so.2",
    "libkrb5.so.3",
    "libk5crypto.so.3",
    "libcom_err.so.2",
    "libkrb5support.so.0",
    "libkeyutils.so.1",
];

/// `[profile.release]` of the workspace: LTO, stripped, one codegen unit.
pub fn check_release_profile(repo: &Repo) -> Vec<String> {
    let text = std::fs::read_to_string(repo.root.join("Cargo.toml")).unwrap_or_default();
    let section: BTreeMap<&str, &str> = text
        .split("[profile.release]")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.split('#').next().unwrap_or_default().trim()))
        .collect();
    let mut problems = Vec::new();
    let expect = |key: &str, ok: &[&str], problems: &mut Vec<String>| {
        if !section.get(key).is_some_and(|v| ok.contains(v)) {
            problems.push(format!("Cargo.toml [profile.release]: {key} = {:?}, want one of {ok:?}", section.get(key)));
        }
    };
    expect("lto", &["true", "\"fat\""], &mut problems);
    expect("strip", &["true", "\"symbols\""], &mut problems);
    expect("codegen-units", &["1"], &mut problems);
    problems
}

/// The section headers of a 64-bit little-endian ELF file (x86_64, aarch64).
struct Elf {
    bytes: Vec<u8>,
    /// (type, offset, size, link) of each section.
    sections: Vec<(u32, usize, usize, usize)>,
}

impl Elf {
    fn read(path: &Path) -> std::io::Result<Elf> {
        let bytes = std::fs::read(path)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a 64-bit little-endian ELF");
        if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
            return Err(bad());
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
        let (shoff, shentsize, shnum) = (u64_at(&bytes, 0x28), u16_at(0x3a), u16_at(0x3c));
        let mut sections = Vec::new();
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            if h + 64 > bytes.len() {
                return Err(bad());
            }
            let kind = u32::from_le_bytes(bytes[h + 4..h + 8].try_into().expect("4 bytes"));
            let link = u32::from_le_bytes(bytes[h + 40..h + 44].try_into().expect("4 bytes")) as usize;
            sections.push((kind, u64_at(&bytes, h + 24), u64_at(&bytes, h + 32), link));
        }
        Ok(Elf { bytes, sections })
    }
}

fn u64_at(bytes: &[u8], o: usize) -> usize {
    u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes")) as usize
}

const SHT_SYMTAB: u32 = 2;
const SHT_DYNAMIC: u32 = 6;
const DT_NEEDED: usize = 1;

/// Whether an ELF file has no symbol table (`.symtab`), i.e. was stripped.
pub fn elf_is_stripped(path: &Path) -> std::io::Result<bool> {
    Ok(Elf::read(path)?.sections.iter().all(|s| s.0 != SHT_SYMTAB))
}

/// The shared libraries an ELF executable loads (`DT_NEEDED`), as `ldd` would
/// list them before resolving: what the runtime image must contain.
pub fn elf_needed(path: &Path) -> std::io::Result<Vec<String>> {
    let elf = Elf::read(path)?;
    let mut out = Vec::new();
    for &(_, offset, size, link) in elf.sections.iter().filter(|s| s.0 == SHT_DYNAMIC) {
        let Some(&(_, strtab, _, _)) = elf.sections.get(link) else { continue };
        for entry in (offset..offset + size).step_by(16).take_while(|e| e + 16 <= elf.bytes.len()) {
            if u64_at(&elf.bytes, entry) == DT_NEEDED {
                let start = strtab + u64_at(&elf.bytes, entry + 8);
                let name = elf.bytes[start..].split(|b| *b == 0).next().unwrap_or_default();
                out.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(out)
}

/// What the runtime base (distroless `cc-debian12`) provides: glibc, libgcc,
/// libstdc++, OpenSSL. With [`KERBEROS_LIBRARIES`], all a function may load.
pub const RUNTIME_BASE_LIBRARIES: [&str; 12] = [
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libssl.so.3",
    "libcrypto.so.3",
];

/// The cluster prerequisites a cluster admin applies once (`knative/cluster/`,
/// README "Deploy" step 1), separate from the app: the OpenShift Serverless and
/// Streams for Apache Kafka operators, KnativeServing with the setting
/// DomainMappings need, KnativeEventing, and the durable Kafka broker class the
/// overlays' Broker names, on a Kafka cluster that keeps events on disk.
pub fn check_cluster(repo: &Repo) -> Vec<String> {
    let dir = repo.root.join("knative/cluster");
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    if files.is_empty() {
        return vec![format!("{}: no cluster prerequisites", dir.display())];
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            match Value::deserialize(doc) {
                Ok(Value::Null) => {}
                Ok(v) => objects.push(v),
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            }
        }
    }
    let find = |kind: &str, name: &str| {
        objects.iter().find(|o| s(o, &["kind"]) == Some(kind) && s(o, &["metadata", "name"]) == Some(name))
    };
    let ns = |o: &Value| s(o, &["metadata", "namespace"]).unwrap_or_default().to_owned();
    for o in &objects {
        let namespaced = s(o, &["kind"]) != Some("Namespace");
        if s(o, &["apiVersion"]).is_none() || s(o, &["metadata", "name"]).is_none() || (namespaced && ns(o).is_empty())
        {
            problems.push(format!(
                "{:?} {:?}: apiVersion, name and namespace are required",
                s(o, &["kind"]),
                s(o, &["metadata", "name"])
            ));
        }
    }
    let namespace_exists = |n: &str| {
        ["openshift-operators", "knative-serving", "knative-eventing"].contains(&n) || find("Namespace", n).is_some()
    };

    // The operators, from Red Hat's catalog, each with an OperatorGroup.
    for (name, namespace) in [("serverless-operator", "openshift-serverless"), ("amq-streams", "openshift-operators")] {
        match find("Subscription", name) {
            Some(sub)
                if ns(sub) == namespace
                    && s(sub, &["spec", "name"]) == Some(name)
                    && s(sub, &["spec", "source"]) == Some("redhat-operators")
                    && s(sub, &["spec", "sourceNamespace"]) == Some("openshift-marketplace")
                    && s(sub, &["spec", "channel"]).is_some() =>
            {
                let group = namespace == "openshift-operators"
                    || objects.iter().any(|o| s(o, &["kind"]) == Some("OperatorGroup") && ns(o) == namespace);
                if !group {
                    problems.push(format!("Subscription {name}: no OperatorGroup in {namespace}"));
                }
                if !namespace_exists(namespace) {
                    problems.push(format!("Subscription {name}: namespace {namespace} is not created"));
                }
            }
            _ => problems.push(format!(
                "no Subscription {name} in {namespace} (package {name}, channel, redhat-operators in openshift-marketplace)"
            )),
        }
    }
    match find("KnativeServing", "knative-serving") {
        Some(serving) if ns(serving) == "knative-serving" => {
            let claims = s(serving, &["spec", "config", "network", "autocreate-cluster-domain-claims"]);
            if claims != Some("true") {
                problems.push(
                    "KnativeServing: spec.config.network.autocreate-cluster-domain-claims is not \"true\": the overlays' DomainMappings would stay unready without a ClusterDomainClaim per host"
                        .to_owned(),
                );
            }
        }
        _ => problems.push("no KnativeServing knative-serving in namespace knative-serving".to_owned()),
    }
    let eventing = find("KnativeEventing", "knative-eventing");
    if eventing.is_none_or(|e| ns(e) != "knative-eventing") {
        problems.push("no KnativeEventing knative-eventing in namespace knative-eventing".to_owned());
    }

    // The Kafka broker class and the Kafka cluster under it.
    let kafka = objects.iter().find(|o| s(o, &["kind"]) == Some("Kafka"));
    let pools: Vec<&Value> = objects.iter().filter(|o| s(o, &["kind"]) == Some("KafkaNodePool")).collect();
    let brokers: i64 = pools
        .iter()
        .filter(|p| items(p.get("spec").and_then(|s| s.get("roles"))).any(|r| r.as_str() == Some("broker")))
        .map(|p| p.get("spec").and_then(|s| s.get("replicas")).and_then(Value::as_i64).unwrap_or(0))
        .sum();
    let durable = |p: &&Value| {
        let storage = p.get("spec").and_then(|s| s.get("storage"));
        match storage.and_then(|s| s.get("type")).and_then(Value::as_str) {
            Some("persistent-claim") => true,
            Some("jbod") => {
                let volumes: Vec<&Value> = items(storage.and_then(|s| s.get("volumes"))).collect();
                !volumes.is_empty() && volumes.iter().all(|v| s(v, &["type"]) == Some("persistent-claim"))
            }
            _ => false,
        }
    };
    match kafka {
        None => problems.push("no Kafka cluster for the Kafka broker class".to_owned()),
        Some(kafka) => {
            let name = s(kafka, &["metadata", "name"]).unwrap_or_default();
            let mine: Vec<&&Value> =
                pools.iter().filter(|p| s(p, &["metadata", "labels", "strimzi.io/cluster"]) == Some(name)).collect();
            if mine.is_empty() || !mine.iter().copied().all(durable) {
                problems.push(format!("Kafka {name}: its node pools do not all keep data on persistent volumes"));
            }
            let isr = kafka
                .get("spec")
                .and_then(|s| s.get("kafka"))
                .and_then(|k| k.get("config"))
                .and_then(|c| c.get("min.insync.replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if brokers < 3 || isr < 2 {
                problems.push(format!(
                    "Kafka {name}: {brokers} brokers and min.insync.replicas {isr}: an accepted event must be on two of at least three brokers"
                ));
            }
            let bootstrap = format!("{name}-kafka-bootstrap.{}.svc:9092", ns(kafka));
            match objects.iter().find(|o| s(o, &["kind"]) == Some("KnativeKafka")) {
                Some(kk) if ns(kk) == "knative-eventing" => {
                    let broker = kk.get("spec").and_then(|s| s.get("broker"));
                    if broker.and_then(|b| b.get("enabled")).and_then(Value::as_bool) != Some(true) {
                        problems.push("KnativeKafka: broker.enabled is not true".to_owned());
                    }
                    let config = broker.and_then(|b| b.get("defaultConfig"));
                    if config.and_then(|c| s(c, &["bootstrapServers"])) != Some(bootstrap.as_str()) {
                        problems
                            .push(format!("KnativeKafka: broker.defaultConfig.bootstrapServers is not {bootstrap}"));
                    }
                    let replication =
                        config.and_then(|c| c.get("replicationFactor")).and_then(Value::as_i64).unwrap_or(0);
                    if replication < 3 || replication > brokers {
                        problems.push(format!(
                            "KnativeKafka: replicationFactor {replication} (needs 3 and at most the {brokers} brokers)"
                        ));
                    }
                }
                _ => problems.push("no KnativeKafka in knative-eventing (the Kafka broker class)".to_owned()),
            }
        }
    }
    // Separate from the app: nothing of this is in the overlays, and the app's
    // objects are not here.
    for overlay in ["stg", "prod"] {
        if let Ok(rendered) = kustomize::build(&repo.overlay(overlay)) {
            for r in &rendered {
                let (group, kind) = group_kind(r);
                if group.starts_with("operator.") || group.starts_with("operators.") || group == "kafka.strimzi.io" {
                    problems.push(format!("{overlay}: {kind} {} is a cluster prerequisite, not the app's", name_of(r)));
                }
            }
        }
    }
    for o in &objects {
        if s(o, &["metadata", "namespace"]) == Some("fedora-ci") {
            problems.push(format!("knative/cluster: {:?} is in the app's namespace", s(o, &["metadata", "name"])));
        }
    }
    problems
}

/// What the ansible playbook must agree with, per overlay: the bridge's queues,
/// dead-letter routing key and topics (its config as the overlay gives it), and
/// the Knative Services a release rolls out.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub queue: String,
    pub dead_letter_queue: String,
    pub dead_letter_key: String,
    pub topics: Vec<String>,
    pub services: Vec<String>,
}

pub fn deployed(repo: &Repo, overlay: &str) -> Result<Deployed, String> {
    let resources = kustomize::build(&repo.overlay(overlay)).map_err(|e| format!("{overlay}: {e:#}"))?;
    let rendered = Rendered { overlay: overlay.to_owned(), resources };
    let bridge = bridge_config(&rendered)?;
    let services = rendered.of_kind("serving.knative.dev", "Service").map(|s| name_of(s).to_owned()).collect();
    Ok(Deployed {
        queue: bridge.queue,
        dead_letter_queue: bridge.dead_letter_queue,
        dead_letter_key: bridge.dead_letter_key,
        topics: bridge.topics,
        services,
    })
}

/// The kinds of the objects an overlay applies (what the app owners' Role must
/// let them apply with scripts/deploy.sh).
pub fn deployed_kinds(repo: &Repo, overlay: &str) -> Result<BTreeSet<String>, String> {
    let resources = kustomize::build(&repo.overlay(overlay)).map_err(|e| format!("{overlay}: {e:#}"))?;
    Ok(resources.iter().map(|r| group_kind(r).1.to_owned()).collect())
}
