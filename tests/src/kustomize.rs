//! The part of kustomize that `knative/` uses, so the manifests can be rendered and
//! checked (and the Trigger table read by the local broker) without a kubectl.
//!
//! Supported in a `kustomization.yaml`: `resources` (files and directories),
//! `configMapGenerator` with `literals`, `options.labels` and
//! `behavior: create|merge`, `patches`
//! with `path` (strategic merge, one document per object), `images` (`newName`,
//! `newTag`, `digest`) and `configurations` (`nameReference` for ConfigMaps).
//! Anything else is an error rather than silently ignored. Generated ConfigMaps get
//! kustomize's content-hash suffix and every reference to them is renamed, exactly
//! as `kubectl kustomize` does; `tests/tests/deploy.rs` compares the two when a
//! kubectl is installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde_yaml_ng::{Mapping, Value};
use sha2::{Digest, Sha256};

/// Every document of a YAML file (empty documents skipped).
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_documents(&text).with_context(|| format!("parsing {}", path.display()))
}

pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(doc)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Renders the kustomization in `dir` (the equivalent of `kubectl kustomize dir`).
pub fn build(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut acc = Accumulated::default();
    build_into(dir, &mut acc)?;
    acc.finish()
}

/// `kubectl kustomize dir` when a kubectl is on PATH; `None` when there is none.
pub fn kubectl_build(dir: &Path) -> Option<anyhow::Result<Vec<Value>>> {
    let output = match std::process::Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(e.into())),
    };
    if !output.status.success() {
        return Some(Err(anyhow!("kubectl kustomize failed: {}", String::from_utf8_lossy(&output.stderr))));
    }
    Some(parse_documents(&String::from_utf8_lossy(&output.stdout)))
}

/// Where a ConfigMap name is referenced: `kind` (and `group`, empty for core) of
/// the referrer, and the path to the name field (lists are walked through).
#[derive(Debug, Clone)]
struct FieldSpec {
    group: Option<String>,
    kind: Option<String>,
    path: Vec<String>,
}

#[derive(Default)]
struct Accumulated {
    resources: Vec<Value>,
    /// Generated ConfigMaps by their name before hashing → index in `resources`.
    generated: BTreeMap<String, usize>,
    name_references: Vec<FieldSpec>,
}

const KNOWN_KEYS: [&str; 7] =
    ["apiVersion", "kind", "resources", "configMapGenerator", "patches", "images", "configurations"];

fn build_into(dir: &Path, acc: &mut Accumulated) -> anyhow::Result<()> {
    let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("no kustomization.yaml in {}", dir.display()))?;
    let k = read_documents(&file)?.into_iter().next().unwrap_or(Value::Null);
    let k = k.as_mapping().ok_or_else(|| anyhow!("{} is not a mapping", file.display()))?;
    for key in k.keys() {
        let key = key.as_str().unwrap_or_default();
        if !KNOWN_KEYS.contains(&key) {
            bail!("{}: `{key}` is not in the kustomize subset tests/src/kustomize.rs renders", file.display());
        }
    }
    let ctx = |what: &str| format!("{}: {what}", file.display());

    for entry in strings(k.get("resources"), &ctx("resources"))? {
        let path = dir.join(&entry);
        if path.is_dir() {
            build_into(&path, acc).with_context(|| ctx(&format!("resource {entry}")))?;
        } else {
            acc.resources.extend(read_documents(&path).with_context(|| ctx(&format!("resource {entry}")))?);
        }
    }

    for entry in strings(k.get("configurations"), &ctx("configurations"))? {
        let config = read_documents(&dir.join(&entry))?.into_iter().next().unwrap_or(Value::Null);
        for reference in seq(config.get("nameReference")) {
            if reference.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
                bail!("{}: only ConfigMap nameReferences are supported", ctx(&entry));
            }
            for spec in seq(reference.get("fieldSpecs")) {
                acc.name_references.push(FieldSpec {
                    group: spec.get("group").and_then(Value::as_str).map(str::to_owned),
                    kind: spec.get("kind").and_then(Value::as_str).map(str::to_owned),
                    path: str_at(spec, "path").split('/').map(str::to_owned).collect(),
                });
            }
        }
    }

    for generator in seq(k.get("configMapGenerator")) {
        generate(generator, acc).with_context(|| ctx("configMapGenerator"))?;
    }

    for patch in seq(k.get("patches")) {
        let Some(path) = patch.get("path").and_then(Value::as_str) else {
            bail!("{}: only `patches: - path:` entries are supported", file.display());
        };
        if patch.as_mapping().is_some_and(|m| m.len() > 1) {
            bail!(
                "{}: patch {path}: `target`/`options` are not supported; patches match by kind and name",
                file.display()
            );
        }
        for doc in read_documents(&dir.join(path))? {
            apply_patch(&mut acc.resources, &doc).with_context(|| ctx(&format!("patch {path}")))?;
        }
    }

    for image in seq(k.get("images")) {
        let rule = ImageRule {
            name: str_at(image, "name").to_owned(),
            new_name: image.get("newName").and_then(Value::as_str).map(str::to_owned),
            new_tag: image.get("newTag").and_then(scalar_string),
            digest: image.get("digest").and_then(Value::as_str).map(str::to_owned),
        };
        for resource in &mut acc.resources {
            rewrite_images(resource, &rule);
        }
    }
    Ok(())
}

fn generate(generator: &Value, acc: &mut Accumulated) -> anyhow::Result<()> {
    let name = str_at(generator, "name").to_owned();
    if name.is_empty() {
        bail!("a configMapGenerator needs a name");
    }
    for key in generator.as_mapping().into_iter().flat_map(|m| m.keys()) {
        if !matches!(key.as_str(), Some("name" | "literals" | "behavior" | "options")) {
            bail!("{name}: only `literals`, `behavior` and `options.labels` are supported, not {key:?}");
        }
    }
    let mut data = Mapping::new();
    for literal in strings(generator.get("literals"), &name)? {
        let (key, value) = literal.split_once('=').ok_or_else(|| anyhow!("{name}: literal '{literal}' has no '='"))?;
        data.insert(Value::from(key.trim()), Value::from(unquote(value)));
    }
    let options = generator.get("options").and_then(Value::as_mapping);
    if options.is_some_and(|o| o.keys().any(|k| k.as_str() != Some("labels"))) {
        bail!("{name}: only `options.labels` is supported");
    }
    let labels = options.and_then(|o| o.get("labels")).cloned();
    match generator.get("behavior").and_then(Value::as_str).unwrap_or("create") {
        "create" => {
            if acc.generated.contains_key(&name) {
                bail!("{name} is generated twice; use behavior: merge");
            }
            let mut cm = Mapping::new();
            cm.insert("apiVersion".into(), "v1".into());
            cm.insert("kind".into(), "ConfigMap".into());
            let mut metadata = Mapping::from_iter([("name".into(), name.clone().into())]);
            if let Some(labels) = labels {
                metadata.insert("labels".into(), labels);
            }
            cm.insert("metadata".into(), Value::Mapping(metadata));
            cm.insert("data".into(), Value::Mapping(data));
            acc.generated.insert(name, acc.resources.len());
            acc.resources.push(Value::Mapping(cm));
        }
        "merge" => {
            let index =
                *acc.generated.get(&name).ok_or_else(|| anyhow!("{name}: merge into a ConfigMap no base generates"))?;
            if labels.is_some() {
                bail!("{name}: labels on a merge are not supported; set them where it is created");
            }
            let existing =
                acc.resources[index].get_mut("data").and_then(Value::as_mapping_mut).expect("generated data");
            for (k, v) in data {
                existing.insert(k, v);
            }
        }
        other => bail!("{name}: behavior '{other}' is not supported"),
    }
    Ok(())
}

/// Kustomize's `KEY="value"` strips one pair of surrounding quotes.
fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

impl Accumulated {
    /// Hash-suffixes generated ConfigMaps and renames every reference to them.
    fn finish(mut self) -> anyhow::Result<Vec<Value>> {
        let mut renames = BTreeMap::new();
        for (name, &index) in &self.generated {
            let hashed = format!("{name}-{}", config_map_hash(&self.resources[index])?);
            self.resources[index]["metadata"]["name"] = Value::from(hashed.clone());
            renames.insert(name.clone(), hashed);
        }
        let mut specs = builtin_name_references();
        specs.extend(self.name_references);
        for resource in &mut self.resources {
            let (group, kind) = group_kind(resource);
            let (group, kind) = (group.to_owned(), kind.to_owned());
            for spec in &specs {
                let group_ok = spec.group.as_deref().is_none_or(|g| g == group);
                let kind_ok = spec.kind.as_deref().is_none_or(|k| k == kind);
                if group_ok && kind_ok {
                    rename_at(resource, &spec.path, &renames);
                }
            }
        }
        Ok(self.resources)
    }
}

/// The references kustomize knows by itself, for the built-in kinds we use.
fn builtin_name_references() -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (group, kind, pod) in
        [("batch", "Job", "spec/template/spec"), ("apps", "Deployment", "spec/template/spec"), ("", "Pod", "spec")]
    {
        for tail in [
            "containers/envFrom/configMapRef/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/envFrom/configMapRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "volumes/configMap/name",
            "volumes/projected/sources/configMap/name",
        ] {
            out.push(FieldSpec {
                group: Some(group.to_owned()),
                kind: Some(kind.to_owned()),
                path: format!("{pod}/{tail}").split('/').map(str::to_owned).collect(),
            });
        }
    }
    out
}

fn rename_at(value: &mut Value, path: &[String], renames: &BTreeMap<String, String>) {
    match value {
        Value::Sequence(items) => items.iter_mut().for_each(|item| rename_at(item, path, renames)),
        Value::Mapping(map) => {
            let Some((first, rest)) = path.split_first() else { return };
            let Some(child) = map.get_mut(first.as_str()) else { return };
            if rest.is_empty() {
                if let Some(new) = child.as_str().and_then(|old| renames.get(old)) {
                    *child = Value::from(new.clone());
                }
            } else {
                rename_at(child, rest, renames);
            }
        }
        _ => {}
    }
}

/// kustomize's ConfigMap hash: SHA-256 of Go's JSON encoding of
/// `{"data": …, "kind": "ConfigMap", "name": ""}` (keys sorted, HTML-escaped;
/// the name is still empty when kustomize hashes a generated ConfigMap), first 10
/// hex digits with a few letters swapped so it never spells words.
fn config_map_hash(cm: &Value) -> anyhow::Result<String> {
    let data: BTreeMap<String, String> = serde_yaml_ng::from_value(cm.get("data").cloned().unwrap_or(Value::Null))
        .context("generated ConfigMap data must be strings")?;
    let encoded = serde_json::json!({ "data": data, "kind": "ConfigMap", "name": "" }).to_string();
    let go_json = encoded.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    let hex = format!("{:x}", Sha256::digest(go_json.as_bytes()));
    Ok(hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect())
}

/// (`group`, `kind`) of an object: `serving.knative.dev/v1` → `serving.knative.dev`.
pub fn group_kind(resource: &Value) -> (&str, &str) {
    let api_version = resource.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (group, resource.get("kind").and_then(Value::as_str).unwrap_or_default())
}

pub fn name_of(resource: &Value) -> &str {
    resource.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default()
}

fn apply_patch(resources: &mut [Value], patch: &Value) -> anyhow::Result<()> {
    let (group, kind) = group_kind(patch);
    let name = name_of(patch);
    let target = resources
        .iter_mut()
        .find(|r| group_kind(r) == (group, kind) && name_of(r) == name)
        .ok_or_else(|| anyhow!("no {kind} '{name}' to patch"))?;
    strategic_merge(target, patch)
}

/// Lists of objects are merged by the first of these keys all their items have,
/// as kustomize (kyaml) does for kinds it has no schema for; other lists replace.
const ASSOCIATIVE_KEYS: [&str; 7] = ["mountPath", "devicePath", "ip", "type", "topologyKey", "name", "containerPort"];

fn strategic_merge(target: &mut Value, patch: &Value) -> anyhow::Result<()> {
    match (target, patch) {
        (Value::Mapping(t), Value::Mapping(p)) => {
            for (key, value) in p {
                if key.as_str().is_some_and(|k| k.starts_with('$')) {
                    bail!("patch directive {key:?} is not supported");
                }
                if value.is_null() {
                    t.remove(key);
                } else if let Some(existing) = t.get_mut(key) {
                    strategic_merge(existing, value)?;
                } else {
                    t.insert(key.clone(), value.clone());
                }
            }
        }
        (Value::Sequence(t), Value::Sequence(p)) => match associative_key(t, p) {
            Some(key) => {
                for item in p {
                    match t.iter_mut().find(|e| e.get(key) == item.get(key)) {
                        Some(existing) => strategic_merge(existing, item)?,
                        None => t.push(item.clone()),
                    }
                }
            }
            None => *t = p.clone(),
        },
        (t, p) => *t = p.clone(),
    }
    Ok(())
}

fn associative_key(a: &[Value], b: &[Value]) -> Option<&'static str> {
    let items: Vec<&Value> = a.iter().chain(b).collect();
    if items.is_empty() || !items.iter().all(|i| i.is_mapping()) {
        return None;
    }
    ASSOCIATIVE_KEYS.into_iter().find(|k| items.iter().all(|i| i.get(k).is_some()))
}

struct ImageRule {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
}

/// Splits `registry/repo:tag@digest` into the name and the rest (`:tag`, `@…`).
pub fn split_image(image: &str) -> (&str, &str) {
    let at = image.find('@').unwrap_or(image.len());
    let last_slash = image[..at].rfind('/').map_or(0, |i| i + 1);
    let colon = image[last_slash..at].find(':').map(|i| i + last_slash);
    let end = colon.unwrap_or(at);
    (&image[..end], &image[end..])
}

fn rewrite_images(value: &mut Value, rule: &ImageRule) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                if matches!(key.as_str(), Some("containers" | "initContainers")) {
                    for container in child.as_sequence_mut().into_iter().flatten() {
                        if let Some(image) = container.get_mut("image") {
                            rewrite_image(image, rule);
                        }
                    }
                } else {
                    rewrite_images(child, rule);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|i| rewrite_images(i, rule)),
        _ => {}
    }
}

fn rewrite_image(image: &mut Value, rule: &ImageRule) {
    let Some(current) = image.as_str() else { return };
    let (name, rest) = split_image(current);
    if name != rule.name {
        return;
    }
    let name = rule.new_name.as_deref().unwrap_or(name);
    let suffix = match (&rule.digest, &rule.new_tag) {
        (Some(digest), _) => format!("@{digest}"),
        (None, Some(tag)) => format!(":{tag}"),
        (None, None) => rest.to_owned(),
    };
    *image = Value::from(format!("{name}{suffix}"));
}

fn seq(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_sequence).into_iter().flatten()
}

fn strings(value: Option<&Value>, what: &str) -> anyhow::Result<Vec<String>> {
    seq(value).map(|v| v.as_str().map(str::to_owned).ok_or_else(|| anyhow!("{what}: {v:?} is not a string"))).collect()
}

fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// YAML scalars as text, as kustomize and compose read them (`newTag: 1.2` is the
/// string "1.2").
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The workspace's `knative/` directory.
pub fn knative_dir() -> PathBuf {
    workspace_dir().join("knative")
}

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests crate sits in the workspace").to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn images_split_name_from_tag_and_digest() {
        assert_eq!(split_image("quay.io/a/b:1"), ("quay.io/a/b", ":1"));
        assert_eq!(split_image("localhost:5000/a/b"), ("localhost:5000/a/b", ""));
        assert_eq!(split_image("a/b@sha256:00"), ("a/b", "@sha256:00"));
    }

    #[test]
    fn strategic_merge_merges_named_lists_and_replaces_others() {
        let mut target = yaml("c: [{name: a, v: 1}, {name: b, v: 2}]\nl: [1, 2]\nm: {x: 1, y: 2}");
        let patch = yaml("c: [{name: b, v: 3}, {name: c, v: 4}]\nl: [3]\nm: {y: null, z: 3}");
        strategic_merge(&mut target, &patch).unwrap();
        assert_eq!(target, yaml("c: [{name: a, v: 1}, {name: b, v: 3}, {name: c, v: 4}]\nl: [3]\nm: {x: 1, z: 3}"));
    }

    #[test]
    fn config_map_hash_is_kustomizes() {
        // `kubectl kustomize` (kustomize v5.5) names this ConfigMap `x-6g42bht27f`;
        // the value checks Go's HTML escaping too.
        let cm = yaml("data: {A: '1', B: <b&>}");
        assert_eq!(config_map_hash(&cm).unwrap(), "6g42bht27f");
    }
}
