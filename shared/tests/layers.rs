//! The layers of `shared/src` (ARCHITECTURE.md) hold: each top-level module
//! imports only from the layers below it, and no two modules import each other,
//! directly or through others. Read from the source, so a new `use` that breaks
//! either fails here with the file and the path it named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. `dev` (tests and `make run` only) may use everything.
const LAYERS: [&str; 12] = [
    "config",
    "telemetry",
    "messages",
    "rules",
    "clients",
    "store",
    "context",
    "lookups",
    "dispatch",
    "workflows",
    "runtime",
    "dev",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `clients/koji/client.rs` → `clients::koji::client`; `clients/mod.rs` → `clients`.
fn module_of(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    if last != "mod.rs" && last != "lib.rs" && last != "main.rs" {
        parts.push(last.trim_end_matches(".rs").to_owned());
    }
    parts.join("::")
}

/// The code a module is built from outside its unit tests, without comments
/// (a doc link is not an import).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    code_of(text.split("#[cfg(test)]").next().unwrap_or_default())
}

/// Every `crate::a::b::…` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    paths_after(code, "crate::")
}

/// Every `super::…` path in `module`'s code, as the crate path it names.
fn super_paths(module: &str, code: &str) -> Vec<Vec<String>> {
    let parent: Vec<String> = module.split("::").map(str::to_owned).collect();
    let parent = &parent[..parent.len().saturating_sub(1)];
    paths_after(code, "super::").into_iter().map(|p| [parent.to_vec(), p].concat()).collect()
}

fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    code.match_indices(prefix)
        .filter(|(i, _)| !code[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map(|(i, _)| {
            let rest = &code[i + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            rest[..end].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
        })
        .collect()
}

/// Each module of the crate whose sources are under `root`, with its code.
fn modules_of(root: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files
        .iter()
        .filter(|p| !p.ends_with("lib.rs") && !p.ends_with("main.rs"))
        .map(|p| (module_of(root, p), code(p)))
        .collect()
}

fn modules() -> BTreeMap<String, String> {
    modules_of(&src())
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let rank = |name: &str| LAYERS.iter().position(|l| *l == name);
    let mut wrong = Vec::new();
    for (module, code) in modules() {
        let top = module.split("::").next().unwrap().to_owned();
        let own = rank(&top).unwrap_or_else(|| panic!("{module}: top-level module '{top}' is in no layer"));
        for path in crate_paths(&code) {
            if path.first().and_then(|p| rank(p)).is_some_and(|other| other > own) {
                wrong.push(format!("{module} ({top}) uses crate::{}", path.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

/// Every chain of imports in `modules` that comes back to where it started.
fn import_loops(modules: &BTreeMap<String, String>) -> Vec<String> {
    let names: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
    // The longest module name a path starts with is the module it names.
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|candidate| names.contains(candidate.as_str()))
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in modules {
        let deps = crate_paths(code)
            .iter()
            .chain(&super_paths(module, code))
            .filter_map(|p| resolve(p))
            // A child naming its parent's items (re-exports) is not a loop.
            .filter(|d| d != module && !module.starts_with(&format!("{d}::")))
            .collect();
        graph.insert(module.clone(), deps);
    }
    let mut loops = Vec::new();
    for start in graph.keys() {
        // Depth-first from `start`: a path back to it is a loop.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in &graph[&at] {
                if next == start {
                    loops.push(format!("{} -> {start}", trail.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    stack.push((next.clone(), [trail.clone(), vec![next.clone()]].concat()));
                }
            }
        }
    }
    loops
}

#[test]
fn no_two_modules_import_each_other() {
    let loops = import_loops(&modules());
    assert!(loops.is_empty(), "import loops:\n{}", loops.join("\n"));
}

/// The functions' crates hold to the same rule: a module of a function never
/// imports one that imports it back.
#[test]
fn no_two_modules_of_a_function_import_each_other() {
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut loops = Vec::new();
    for crate_dir in std::fs::read_dir(&functions).unwrap() {
        let src = crate_dir.unwrap().path().join("src");
        if src.is_dir() {
            loops.extend(import_loops(&modules_of(&src)).into_iter().map(|l| format!("{}: {l}", src.display())));
        }
    }
    assert!(loops.is_empty(), "import loops:\n{}", loops.join("\n"));
}

#[test]
fn the_checks_see_a_wrong_import() {
    // The parser the two checks rest on finds a path inside a `use` group and
    // ignores one in a comment, so a real upward import cannot slip past it.
    let code =
        code_of("use crate::runtime::error::HandlerError;\n// crate::dev::db\nlet x = crate::store::builds::get;");
    let paths = crate_paths(&code);
    assert_eq!(paths, vec![vec!["runtime", "error", "HandlerError"], vec!["store", "builds", "get"]]);
}

fn code_of(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}
