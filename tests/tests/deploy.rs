//! The deployment, checked without a cluster or a container engine: both Knative
//! overlays, the Trigger table, compose.yaml, the Containerfile and release
//! profile, and the ansible playbook. `make deploy-check` runs only these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fedora_ci_tests::deploy::{self, Repo, ext};
use fedora_ci_tests::kustomize::{self, group_kind, name_of};
use fedora_ci_tests::triggers::{self, Routing};

const OVERLAYS: [&str; 2] = ["stg", "prod"];

#[test]
fn both_overlays_are_deployable() {
    let repo = Repo::workspace();
    let problems: Vec<String> = OVERLAYS.iter().flat_map(|o| deploy::check_overlay(&repo, &repo.overlay(o))).collect();
    assert!(problems.is_empty(), "deployment problems:\n{}", problems.join("\n"));
}

#[test]
fn the_renderer_agrees_with_kubectl_kustomize() {
    let repo = Repo::workspace();
    for overlay in OVERLAYS {
        let dir = repo.overlay(overlay);
        let Some(reference) = kustomize::kubectl_build(&dir) else {
            println!("skipped: no kubectl on PATH to compare tests/src/kustomize.rs with");
            return;
        };
        let key = |r: &serde_yaml_ng::Value| format!("{}/{} {}", group_kind(r).0, group_kind(r).1, name_of(r));
        let index =
            |docs: Vec<serde_yaml_ng::Value>| docs.into_iter().map(|d| (key(&d), d)).collect::<BTreeMap<_, _>>();
        let ours = index(kustomize::build(&dir).unwrap());
        let theirs = index(reference.unwrap());
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{overlay}: objects differ");
        for (k, v) in &ours {
            assert_eq!(v, &theirs[k], "{overlay}: {k} renders differently from kubectl kustomize");
        }
    }
}

#[test]
fn trigger_table_routes_each_event_to_its_function() {
    for (overlay, prefix, koji_user) in
        [("stg", "org.fedoraproject.stg.", "packit-ci-stg"), ("prod", "org.fedoraproject.prod.", "packit-ci")]
    {
        let routes = triggers::load(overlay);
        let rpms = ext(&[("pagurenamespace", "rpms")]);
        for action in ["new", "updated", "rebased", "comment.added"] {
            let t = format!("{prefix}pagure.pull-request.{action}");
            assert_eq!(routes.routes_to(&t, &rpms), ["pr-opened"], "{overlay} {t}");
            assert_eq!(routes.routes_to(&t, &ext(&[("pagurenamespace", "tests")])), ["pr-opened"]);
            assert!(routes.routes_to(&t, &ext(&[("pagurenamespace", "modules")])).is_empty());
        }
        let koji = format!("{prefix}buildsys.task.state.change");
        let ours = ext(&[("kojiowner", koji_user), ("kojimethod", "build")]);
        assert_eq!(routes.routes_to(&koji, &ours), ["koji-finished"], "{overlay}");
        assert!(routes.routes_to(&koji, &ext(&[("kojiowner", "someone")])).is_empty(), "{overlay}: foreign Koji task");
        assert_eq!(routes.routes_to(deploy::TESTING_FARM_TYPE, &BTreeMap::new()), ["tf-finished"]);
        assert_eq!(routes.routes_to(deploy::PING_TYPE, &BTreeMap::new()), ["result-poller"]);
        let other = if overlay == "stg" { "org.fedoraproject.prod." } else { "org.fedoraproject.stg." };
        assert!(routes.routes_to(&format!("{other}pagure.pull-request.new"), &rpms).is_empty());
    }
}

/// A copy of the parts of the workspace the checks read, with `knative/` editable.
struct TempRepo {
    dir: PathBuf,
}

impl TempRepo {
    fn new(tag: &str) -> TempRepo {
        let src = Repo::workspace().root;
        let dir = std::env::temp_dir().join(format!("fci-deploy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for part in
            ["knative", "secrets.example", "shared/src", "Containerfile", "README.md", "Cargo.toml", "compose.yaml"]
        {
            copy_tree(&src.join(part), &dir.join(part));
        }
        TempRepo { dir }
    }

    fn repo(&self) -> Repo {
        Repo { root: self.dir.clone() }
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no '{from}'");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn problems(&self, overlay: &str) -> Vec<String> {
        let repo = self.repo();
        deploy::check_overlay(&repo, &repo.overlay(overlay))
    }
}

impl Drop for TempRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else if from.is_file() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

fn assert_fails(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing '{expected}', got:\n{}",
        problems.join("\n")
    );
}

#[test]
fn an_unchanged_copy_passes() {
    let copy = TempRepo::new("clean");
    for overlay in OVERLAYS {
        assert_eq!(copy.problems(overlay), Vec::<String>::new());
    }
}

#[test]
fn a_trigger_to_a_missing_service_fails() {
    let copy = TempRepo::new("subscriber");
    copy.edit("knative/base/koji-finished.yaml", "      name: koji-finished\n", "      name: koji-finishd\n");
    let problems = copy.problems("prod");
    assert_fails(&problems, "Trigger koji-finished: subscriber Service 'koji-finishd' does not exist");
    assert_fails(&problems, "buildsys.task.state.change");
}

#[test]
fn a_trigger_for_the_wrong_koji_user_fails() {
    let copy = TempRepo::new("kojiowner");
    copy.edit("knative/overlays/prod/patches.yaml", "kojiowner: packit-ci", "kojiowner: packit");
    assert_fails(&copy.problems("prod"), "should reach exactly [koji-finished], reaches []");
}

#[test]
fn a_trigger_without_its_namespace_filter_fails() {
    // Without `pagurenamespace`, PRs on every namespace would wake pr-opened, and
    // the rpms and tests Triggers would deliver each rpms PR twice.
    let copy = TempRepo::new("namespace");
    copy.edit("knative/base/pr-opened.yaml", "      pagurenamespace: tests\n", "");
    let problems = copy.problems("prod");
    assert_fails(&problems, "reaches [\"pr-opened\", \"pr-opened\"]");
    assert_fails(&problems, "is not ours but wakes [\"pr-opened\"]");
}

#[test]
fn a_stg_trigger_left_on_a_prod_topic_fails() {
    let copy = TempRepo::new("prefix");
    copy.edit(
        "knative/overlays/stg/patches.yaml",
        "type: org.fedoraproject.stg.pagure.pull-request.rebased",
        "type: org.fedoraproject.prod.pagure.pull-request.rebased",
    );
    assert_fails(&copy.problems("stg"), "is not under FEDORA_CI_TOPIC_PREFIX org.fedoraproject.stg.");
}

#[test]
fn a_type_routed_to_the_wrong_function_fails() {
    let copy = TempRepo::new("wrong-function");
    copy.edit(
        "knative/base/tf-finished.yaml",
        "    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: tf-finished",
        "    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: api",
    );
    let problems = copy.problems("stg");
    assert_fails(&problems, "should reach exactly [tf-finished], reaches [\"api\"]");
    assert_fails(&problems, "to api, which does not handle it");
}

/// An extra Koji instance in an overlay: its variables are accepted, and its task
/// topic must reach koji-finished through a Trigger of its own.
#[test]
fn an_extra_koji_instance_needs_its_trigger() {
    let copy = TempRepo::new("koji-instance");
    copy.edit(
        "knative/overlays/stg/kustomization.yaml",
        "      - FASJSON_URL=https://fasjson.stg.fedoraproject.org\n",
        &[
            "      - FASJSON_URL=https://fasjson.stg.fedoraproject.org",
            "      - KOJI_INSTANCES=riscv",
            "      - KOJI_RISCV_HUB_URL=https://riscv-koji.example/kojihub",
            "      - KOJI_RISCV_WEB_URL=https://riscv-koji.example/koji",
            "      - KOJI_RISCV_TOPIC_PREFIX=org.fedoraproject.stg.riscv.",
            "      - KOJI_RISCV_TARGETS=rawhide=f44",
            "      - KOJI_RISCV_FLAG_NAME=riscv64",
            "",
        ]
        .join("\n"),
    );
    let problems = copy.problems("stg");
    assert!(!problems.iter().any(|p| p.contains("KOJI_RISCV")), "{problems:#?}");
    assert_fails(
        &problems,
        "org.fedoraproject.stg.riscv.buildsys.task.state.change {\"kojimethod\": \"build\", \"kojiowner\": \"packit-ci-stg\"} \
         should reach exactly [koji-finished], reaches []",
    );

    copy.edit(
        "knative/overlays/stg/kustomization.yaml",
        "  - domain-mappings.yaml\n",
        "  - domain-mappings.yaml\n  - koji-riscv.yaml\n",
    );
    std::fs::write(
        copy.dir.join("knative/overlays/stg/koji-riscv.yaml"),
        [
            "apiVersion: eventing.knative.dev/v1",
            "kind: Trigger",
            "metadata:",
            "  name: koji-finished-riscv",
            "spec:",
            "  broker: fedora-ci",
            "  filter:",
            "    attributes:",
            "      type: org.fedoraproject.stg.riscv.buildsys.task.state.change",
            "      kojiowner: packit-ci-stg",
            "  subscriber:",
            "    ref:",
            "      apiVersion: serving.knative.dev/v1",
            "      kind: Service",
            "      name: koji-finished",
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    assert_eq!(copy.problems("stg"), Vec::<String>::new());
}

#[test]
fn unknown_env_and_untemplated_secrets_fail() {
    let copy = TempRepo::new("env");
    copy.edit("knative/base/kustomization.yaml", "- RUST_LOG=info", "- RUST_LOG=info\n      - KOJI_USER=packit-ci");
    copy.edit("knative/base/api.yaml", "secretName: fedora-ci-database", "secretName: fedora-ci-db");
    copy.edit("secrets.example/testing-farm.yaml", "  webhook-secret: \"\"\n", "");
    let problems = copy.problems("prod");
    assert_fails(&problems, "sets KOJI_USER, which pr-opened does not read");
    assert_fails(&problems, "Service api: secret 'fedora-ci-db' has no template");
    assert_fails(&problems, "reads key 'webhook-secret' of secret 'fedora-ci-testing-farm', not in its template");
}

#[test]
fn a_publishing_function_without_the_broker_fails() {
    // tf-finished sends the Fedora CI result messages: without AMQP settings they
    // would pile up in its outbox, never published.
    let copy = TempRepo::new("amqp");
    copy.edit(
        "knative/base/tf-finished.yaml",
        "            - name: AMQP_URL_FILE\n              value: /run/secrets/fedora-ci/messaging/url\n",
        "",
    );
    copy.edit(
        "knative/base/koji-finished.yaml",
        "            - name: AMQP_KEY\n",
        "            - name: AMQP_KEY_PATH\n",
    );
    copy.edit(
        "knative/base/result-poller.yaml",
        "value: /run/secrets/fedora-ci/messaging/ca.crt",
        "value: /etc/pki/ca.crt",
    );
    for overlay in ["stg", "prod"] {
        let problems = copy.problems(overlay);
        assert_fails(
            &problems,
            "Service tf-finished: tf-finished publishes or consumes Fedora Messaging but has no AMQP_URL(_FILE)",
        );
        assert_fails(
            &problems,
            "Service koji-finished: koji-finished talks to Fedora's broker (TLS) but has no AMQP_KEY",
        );
        assert_fails(&problems, "Service result-poller: AMQP_CA_CERT must be a path in the mounted secret");
        assert!(!problems.iter().any(|p| p.contains("Service pr-opened")), "{problems:?}");
    }
}

#[test]
fn the_broker_url_is_in_the_messaging_secret() {
    // A secret without the url key would leave every publisher unable to start.
    let copy = TempRepo::new("amqp-url-key");
    copy.edit("secrets.example/messaging.yaml", "  url: \"\"\n", "");
    assert_fails(&copy.problems("prod"), "reads key 'url' of secret 'fedora-ci-messaging', not in its template");
}

#[test]
fn a_bad_config_value_fails() {
    let copy = TempRepo::new("config");
    copy.edit("knative/overlays/stg/kustomization.yaml", "FEDORA_CI_DEPLOYMENT=stg", "FEDORA_CI_DEPLOYMENT=staging");
    assert_fails(&copy.problems("stg"), "rejected by the functions: configuration error: FEDORA_CI_DEPLOYMENT");
}

#[test]
fn config_variables_come_from_the_source() {
    let vars = deploy::config_variables(&Repo::workspace());
    for v in ["DATABASE_URL", "DATABASE_URL_FILE", "PAGURE_TOKEN_FILE", "KOJI_KEYTAB", "FEDORA_CI_DENY_LIST"] {
        assert!(vars.contains(v), "{v} missing from {vars:?}");
    }
    assert!(vars.contains("FEDORA_CI_MIGRATE_ON_START") && vars.contains("RUST_LOG"));
    assert!(!vars.contains("KOJI_USER"));
    // The functions publish Fedora CI messages when it is set.
    assert!(vars.contains("AMQP_URL"));
    // Read by shared/src/amqp.rs, for the bridge and the publishers alike.
    for v in ["AMQP_URL_FILE", "AMQP_CA_CERT", "AMQP_CERT", "AMQP_KEY"] {
        assert!(vars.contains(v), "{v} missing");
    }
}

#[test]
fn compose_matches_the_image_and_the_config() {
    let problems = deploy::check_compose(&Repo::workspace());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn compose_with_an_unknown_variable_fails() {
    let copy = TempRepo::new("compose");
    copy.edit("compose.yaml", "    FEDORA_CI_DEPLOYMENT: stg\n", "    FEDORA_CI_DEPLOYMENT: stg\n    DB_URL: x\n");
    let problems = deploy::check_compose(&copy.repo());
    assert_fails(&problems, "sets DB_URL, which");
}

#[test]
fn containerfile_and_release_profile_make_small_shell_less_images() {
    let repo = Repo::workspace();
    let mut problems = deploy::check_containerfile(&repo);
    problems.extend(deploy::check_release_profile(&repo));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A full LTO build takes minutes on CI's two cores, so the test does not make
    // one; a release binary already built (`cargo build --release`) is checked.
    let built: Vec<PathBuf> = fedora_ci_tests::stack::FUNCTIONS
        .iter()
        .map(|f| repo.root.join("target/release").join(f))
        .filter(|p| p.is_file())
        .collect();
    if built.is_empty() {
        println!("no release binary under target/release; checked the profile only");
    }
    for binary in built {
        assert!(deploy::elf_is_stripped(&binary).unwrap(), "{} is not stripped", binary.display());
    }
}

#[test]
fn function_binaries_load_only_what_the_runtime_image_has() {
    // The libraries a binary links are the same in debug and release builds; any
    // function binary that is built (by `cargo test --workspace`, `make run` or a
    // release build) shows what the runtime stage must provide.
    let repo = Repo::workspace();
    let mut checked = 0;
    for function in fedora_ci_tests::stack::FUNCTIONS {
        for profile in ["debug", "release"] {
            let binary = repo.root.join("target").join(profile).join(function);
            if !binary.is_file() {
                continue;
            }
            checked += 1;
            let needed = deploy::elf_needed(&binary).unwrap();
            println!("{}: {needed:?}", binary.display());
            for lib in needed {
                assert!(
                    deploy::RUNTIME_BASE_LIBRARIES.contains(&lib.as_str())
                        || deploy::KERBEROS_LIBRARIES.contains(&lib.as_str()),
                    "{} loads {lib}, which the runtime image (distroless cc + Kerberos) lacks: add it to the Containerfile",
                    binary.display()
                );
            }
        }
    }
    if checked == 0 {
        println!("no function binary built yet; nothing to check");
    }
}

#[test]
fn elf_reading_knows_a_real_executable() {
    // This test executable: built with symbols, linked against glibc.
    let me = std::env::current_exe().unwrap();
    assert!(deploy::elf_needed(&me).unwrap().iter().any(|l| l == "libc.so.6"));
}

#[test]
fn stripped_binaries_are_told_from_unstripped_ones() {
    // This test executable is built with symbols (dev profile).
    let me = std::env::current_exe().unwrap();
    assert!(!deploy::elf_is_stripped(&me).unwrap());
}

#[test]
fn ansible_role_ships_the_same_manifests() {
    let repo = Repo::workspace();
    let copy = repo.root.join("ansible/roles/openshift-apps/fedora-ci/files/knative");
    let mut differences = Vec::new();
    compare_trees(&repo.root.join("knative"), &copy, &mut differences);
    assert!(differences.is_empty(), "run `make ansible-sync`; differs: {differences:?}");
}

fn compare_trees(a: &Path, b: &Path, out: &mut Vec<String>) {
    let list = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let (left, right) = (list(a), list(b));
    if left != right {
        out.push(format!("{}: {left:?} vs {right:?}", b.display()));
    }
    for name in left.iter().filter(|n| right.contains(n)) {
        let (x, y) = (a.join(name), b.join(name));
        if x.is_dir() {
            compare_trees(&x, &y, out);
        } else if std::fs::read(&x).ok() != std::fs::read(&y).ok() {
            out.push(y.display().to_string());
        }
    }
}

#[test]
fn ansible_playbook_passes_syntax_check() {
    let repo = Repo::workspace();
    // Creates target/ansible-venv with ansible-core from PyPI (a no-op when it is
    // there); exits 3 with the reason on stdout when PyPI cannot be reached.
    let setup =
        Command::new(repo.root.join("scripts/ansible-venv.sh")).output().expect("running scripts/ansible-venv.sh");
    if setup.status.code() == Some(3) {
        println!("skipped: {}", String::from_utf8_lossy(&setup.stdout).trim());
        return;
    }
    assert!(setup.status.success(), "ansible-venv.sh failed: {}", String::from_utf8_lossy(&setup.stderr));
    let output = Command::new(repo.root.join("scripts/ansible-check.sh")).output().expect("running ansible-check.sh");
    assert!(
        output.status.success(),
        "ansible-playbook --syntax-check failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
