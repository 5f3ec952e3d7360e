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
        // Testing Farm calls tf-finished's webhook host; no Trigger (nothing in the
        // cluster would produce the event).
        assert!(routes.routes_to(deploy::TESTING_FARM_TYPE, &BTreeMap::new()).is_empty());
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
        "knative/base/result-poller.yaml",
        "    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: result-poller",
        "    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: api",
    );
    let problems = copy.problems("stg");
    assert_fails(&problems, "should reach exactly [result-poller], reaches [\"api\"]");
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
    // Read by shared/src/config/amqp.rs, for the bridge and the publishers alike.
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

/// Makes target/ansible-venv (pinned ansible-core, yamllint, ansible-lint from
/// PyPI; a no-op when there). Fails, never skips: CI needs these checks.
fn ansible_venv(repo: &Repo) {
    let setup =
        Command::new(repo.root.join("scripts/ansible-venv.sh")).output().expect("running scripts/ansible-venv.sh");
    assert!(
        setup.status.success(),
        "scripts/ansible-venv.sh failed:\n{}{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
}

/// One run of scripts/ansible-check.sh into a directory of its own.
struct PlaybookRun {
    out: PathBuf,
    ok: bool,
    log: String,
}

impl PlaybookRun {
    fn new(tag: &str, playbook: Option<&Path>, args: &[&str]) -> PlaybookRun {
        let repo = Repo::workspace();
        ansible_venv(&repo);
        let out = repo.root.join(format!("target/ansible-check-{tag}-{}", std::process::id()));
        let mut cmd = Command::new(repo.root.join("scripts/ansible-check.sh"));
        cmd.args(args).env("ANSIBLE_CHECK_OUT", &out);
        if let Some(p) = playbook {
            cmd.env("FEDORA_CI_PLAYBOOK", p);
        }
        let output = cmd.output().expect("running scripts/ansible-check.sh");
        let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        PlaybookRun { out, ok: output.status.success(), log }
    }

    fn oc_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.out.join("oc.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
            })
            .collect()
    }

    fn record(&self, name: &str) -> serde_json::Value {
        let path = self.out.join("records").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.log));
        serde_json::from_str(&text).unwrap()
    }

    fn object(&self, host: &str, file: &str) -> String {
        std::fs::read_to_string(self.out.join("objects").join(host).join("fedora-ci").join(file)).unwrap()
    }
}

impl Drop for PlaybookRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

const HOSTS: [(&str, &str, &str); 2] = [
    ("os-control01.stg.rdu3.fedoraproject.org", "stg", "fedora-ci.stg"),
    ("os-control01.rdu3.fedoraproject.org", "prod", "fedora-ci"),
];

fn sandbox_file(path: &str) -> String {
    std::fs::read_to_string(Repo::workspace().root.join("ansible/ci-sandbox/srv/private/ansible/files").join(path))
        .unwrap()
}

#[test]
fn the_playbook_runs_in_check_mode_against_roles_as_strict_as_infras() {
    let run = PlaybookRun::new("check", None, &["--check"]);
    assert!(run.ok, "ansible-playbook --check failed:\n{}", run.log);
    let repo = Repo::workspace();
    for (host, overlay, user) in HOSTS {
        let want = deploy::deployed(&repo, overlay).unwrap();
        // rabbit/queue: the queue the bridge reads, named after the user, bound
        // to exactly the bridge's topics; the dead-letter queue bound to the key
        // the bridge publishes dead letters under.
        let queue = run.record(&format!("rabbit-queue-{host}-{}.json", want.queue));
        assert_eq!(queue["username"], user, "{overlay}");
        assert_eq!(queue["name"], want.queue.as_str(), "{overlay}");
        assert!(want.queue.starts_with(user) && want.dead_letter_queue.starts_with(user), "{overlay}: {want:?}");
        let mut keys: Vec<String> = serde_json::from_value(queue["routing_keys"].clone()).unwrap();
        let mut topics = want.topics.clone();
        keys.sort();
        topics.sort();
        assert_eq!(keys, topics, "{overlay}: the queue's bindings are the bridge's topics");
        let dlq = run.record(&format!("rabbit-queue-{host}-{}.json", want.dead_letter_queue));
        assert_eq!(dlq["username"], user);
        assert_eq!(dlq["routing_keys"], serde_json::json!([want.dead_letter_key]), "{overlay}");
        assert!(
            !topics.iter().any(|t| fedmsg_bridge::config::topic_matches(t, &want.dead_letter_key)),
            "{overlay}: a dead letter would come back to the queue"
        );
        // The private repo's CA bundle, rendered by the real template.
        let env = if overlay == "stg" { "staging" } else { "production" };
        let messaging = run.object(host, "secret-messaging.yml");
        // (lookup('file') strips the final newline.)
        let ca = sandbox_file(&format!("rabbitmq/{env}/ca-combined.crt"));
        assert!(
            messaging.contains(&serde_json::to_string(ca.trim_end()).unwrap()),
            "{overlay}: ca.crt is ca-combined.crt"
        );
        // The app owners can see (and in staging change) the Knative objects.
        let project = run.record(&format!("project-{host}-fedora-ci.json"));
        let role: Vec<serde_yaml_ng::Value> =
            serde_yaml_ng::Deserializer::from_str(&run.object(host, "role-knative.yml"))
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .collect();
        let rules = serde_json::to_value(&role[0]["rules"]).unwrap();
        for resource in ["triggers", "brokers", "pingsources", "containersources", "domainmappings", "services"] {
            let rule = rules
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["resources"].as_array().unwrap().iter().any(|x| x == resource));
            let verbs = rule.unwrap_or_else(|| panic!("{overlay}: no rule for {resource}"))["verbs"].to_string();
            assert!(verbs.contains("\"watch\"") && verbs.contains("\"list\""), "{overlay} {resource}: {verbs}");
            assert_eq!(verbs.contains("\"patch\""), overlay == "stg", "{overlay} {resource}: {verbs}");
        }
        if overlay == "stg" {
            // Everything scripts/deploy.sh applies, the app owners may apply.
            for kind in deploy::deployed_kinds(&repo, overlay).unwrap() {
                let (group, plural) = match kind.as_str() {
                    "Service" => ("serving.knative.dev", "services"),
                    "DomainMapping" => ("serving.knative.dev", "domainmappings"),
                    "Broker" => ("eventing.knative.dev", "brokers"),
                    "Trigger" => ("eventing.knative.dev", "triggers"),
                    "PingSource" => ("sources.knative.dev", "pingsources"),
                    "ContainerSource" => ("sources.knative.dev", "containersources"),
                    "ConfigMap" => ("", "configmaps"),
                    "Job" => ("batch", "jobs"),
                    other => {
                        panic!("{other}: which resource of the app owners' Role is it? (templates/role-knative.yml.j2)")
                    }
                };
                let granted = rules.as_array().unwrap().iter().any(|r| {
                    r["apiGroups"].as_array().unwrap().iter().any(|g| g == group)
                        && r["resources"].as_array().unwrap().iter().any(|x| x == plural)
                        && ["get", "create", "patch", "delete"]
                            .iter()
                            .all(|v| r["verbs"].as_array().unwrap().iter().any(|x| x == v))
                });
                assert!(granted, "stg: app owners cannot apply {kind} ({group}/{plural})");
            }
        }
        let subjects = serde_json::to_value(&role[1]["subjects"]).unwrap();
        let names: Vec<&serde_json::Value> = subjects.as_array().unwrap().iter().map(|s| &s["name"]).collect();
        assert_eq!(serde_json::json!(names), project["appowners"], "{overlay}: bound to the project's app owners");
    }
    // Check mode changes nothing: every oc call that would is a server dry run.
    let calls = run.oc_calls();
    for call in &calls {
        let changes =
            ["delete", "patch"].contains(&call[2].as_str()) || (call[2] == "apply" && call.contains(&"-k".to_owned()));
        assert!(!changes || call.contains(&"--dry-run=server".to_owned()), "changes in check mode: {call:?}");
        assert_ne!(call[2], "wait", "{call:?}");
    }
    for overlay in ["stg", "prod"] {
        assert!(
            calls.iter().any(|c| c[2] == "apply" && c.iter().any(|a| a.ends_with(&format!("/overlays/{overlay}")))),
            "{overlay} not applied: {calls:?}"
        );
    }
}

#[test]
fn every_run_rolls_out_the_images_under_their_tags() {
    let run = PlaybookRun::new("full", None, &[]);
    assert!(run.ok, "ansible-playbook failed:\n{}", run.log);
    let calls = run.oc_calls();
    assert!(calls.iter().all(|c| !c.contains(&"--dry-run=server".to_owned())), "{calls:?}");
    let repo = Repo::workspace();
    for overlay in ["stg", "prod"] {
        let dir = format!("/overlays/{overlay}");
        let applies: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c[2] == "apply" && c.iter().any(|a| a.ends_with(&dir)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(applies.len(), 2, "{overlay}: config+Job, then everything: {calls:?}");
        let first = &calls[applies[0]];
        assert!(first.iter().any(|a| a.contains("migrate")), "{overlay}: the Job goes first: {first:?}");
        // The migrations finish before the new revisions are applied.
        let waited = calls[applies[0]..applies[1]]
            .iter()
            .any(|c| c[2] == "wait" && c.contains(&"job/fedora-ci-migrate".to_owned()));
        assert!(waited, "{overlay}: no wait for the migration Job between the applies: {calls:?}");
        let deleted = calls[..applies[0]].iter().any(|c| c[2] == "delete" && c[3] == "job");
        assert!(deleted, "{overlay}: the old Job is not deleted first: {calls:?}");
        let want = deploy::deployed(&repo, overlay).unwrap();
        for service in &want.services {
            let patched = calls.iter().filter(|c| c[2] == "patch" && c[3] == "ksvc" && &c[4] == service).count();
            assert_eq!(patched, 2, "{service}: a new revision on each of the two hosts: {calls:?}");
        }
    }
    let bridge =
        calls.iter().filter(|c| c[2] == "patch" && c[3] == "containersource" && c[4] == "fedmsg-bridge").count();
    assert_eq!(bridge, 2, "the bridge's Deployment rolls too");
    // One stamp per run and host, under the pod template (a new revision).
    let stamps: BTreeMap<String, usize> = calls
        .iter()
        .filter(|c| c[2] == "patch")
        .map(|c| {
            let p: serde_json::Value = serde_json::from_str(&c[c.iter().position(|a| a == "-p").unwrap() + 1]).unwrap();
            p["spec"]["template"]["metadata"]["annotations"]["fedora-ci/rollout"].as_str().unwrap().to_owned()
        })
        .fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    assert!(!stamps.is_empty() && stamps.len() <= 2, "{stamps:?}");
    let waits = calls.iter().filter(|c| c[2] == "wait" && c[3] == "--for=condition=Ready").count();
    assert_eq!(waits, 2, "waits for the Services: {calls:?}");
}

#[test]
fn deploy_sh_runs_the_release_steps_and_rolls_out_every_service() {
    let repo = Repo::workspace();
    ansible_venv(&repo);
    let log = repo.root.join(format!("target/deploy-sh-{}.log", std::process::id()));
    let path = format!(
        "{}:{}:{}",
        repo.root.join("ansible/ci-sandbox/bin").display(),
        repo.root.join("target/ansible-venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(repo.root.join("scripts/deploy.sh"))
        .arg("stg")
        .env("PATH", path)
        .env("FEDORA_CI_OC_LOG", &log)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let calls: Vec<Vec<String>> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let verbs: Vec<&str> = calls.iter().map(|c| c[2].as_str()).collect();
    assert_eq!(&verbs[..4], ["delete", "apply", "wait", "apply"], "{calls:?}");
    for service in deploy::deployed(&repo, "stg").unwrap().services {
        assert!(
            calls.iter().any(|c| c[2] == "patch" && c[3] == "ksvc" && c[4] == service),
            "{service} not rolled out: {calls:?}"
        );
    }
    assert!(calls.iter().any(|c| c[2] == "patch" && c[3] == "containersource"), "{calls:?}");
}

#[test]
fn the_delete_tag_calls_object_delete_as_infra_does() {
    let run = PlaybookRun::new("delete", None, &["--check", "-t", "delete", "-l", "staging"]);
    assert!(run.ok, "-t delete failed:\n{}", run.log);
    assert!(run.log.contains("openshift/object-delete : Validating arguments"), "{}", run.log);
}

#[test]
fn a_misspelt_role_argument_fails_the_check() {
    let repo = Repo::workspace();
    let original = std::fs::read_to_string(repo.root.join("ansible/playbooks/openshift-apps/fedora-ci.yml")).unwrap();
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        ("keytab", "keytab_app: fedora-ci", "app: fedora-ci", &["--check"]),
        ("queue", "queue_routing_keys:", "routing_keys:", &["--check"]),
        (
            "queue-user",
            "queue_username: \"{{ fedora_ci_amqp_user }}\"",
            "username: \"{{ fedora_ci_amqp_user }}\"",
            &["--check"],
        ),
        ("object", "object_template: secret-pagure.yml.j2", "template: secret-pagure.yml.j2", &["--check"]),
        ("delete", "object_delete_app: fedora-ci", "app: fedora-ci", &["--check", "-t", "delete", "-l", "staging"]),
    ];
    for (tag, from, to, args) in cases {
        assert!(original.contains(from), "{from}");
        let path = std::env::temp_dir().join(format!("fci-playbook-{tag}-{}.yml", std::process::id()));
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let run = PlaybookRun::new(&format!("misspelt-{tag}"), Some(&path), args);
        let _ = std::fs::remove_file(&path);
        assert!(!run.ok, "{tag}: '{to}' was accepted:\n{}", run.log);
        assert!(run.log.contains("Validation of arguments failed"), "{tag}:\n{}", run.log);
    }
}

#[test]
fn fedora_infras_yamllint_and_ansible_lint_pass() {
    let repo = Repo::workspace();
    ansible_venv(&repo);
    let output = Command::new(repo.root.join("scripts/ansible-lint.sh")).output().expect("running ansible-lint.sh");
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{log}");
    // They really ran, over the role's files and the shipped manifests.
    assert!(log.contains("yamllint: ") && log.contains("ansible-lint: ") && log.contains("Passed"), "{log}");
}

#[test]
fn fedora_infras_linters_catch_what_they_would_refuse() {
    let repo = Repo::workspace();
    ansible_venv(&repo);
    let cases = [
        // ansible-lint's no-changed-when.
        (
            "roles/openshift-apps/fedora-ci/tasks/main.yml",
            "  changed_when: false\n  when: not ansible_check_mode\n",
            "  when: not ansible_check_mode\n",
        ),
        // yamllint's document-start, on the shipped manifests.
        ("roles/openshift-apps/fedora-ci/files/knative/base/broker.yaml", "---\n", ""),
    ];
    for (file, from, to) in cases {
        let dir = std::env::temp_dir().join(format!("fci-lint-{}-{}", file.len(), std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(&repo.root.join("ansible"), &dir);
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let output = Command::new(repo.root.join("scripts/ansible-lint.sh")).arg(&dir).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!output.status.success(), "{file}: accepted {to:?}");
    }
}

#[test]
fn cluster_prerequisites_are_complete_and_apart_from_the_app() {
    let repo = Repo::workspace();
    assert_eq!(deploy::check_cluster(&repo), Vec::<String>::new());
}

#[test]
fn cluster_prerequisites_that_would_not_work_fail() {
    let cases = [
        (
            "knative/cluster/02-knative-serving.yaml",
            "autocreate-cluster-domain-claims: \"true\"",
            "autocreate-cluster-domain-claims: \"false\"",
            "autocreate-cluster-domain-claims",
        ),
        (
            "knative/cluster/04-kafka.yaml",
            "        type: persistent-claim\n",
            "        type: ephemeral\n",
            "persistent volumes",
        ),
        ("knative/cluster/04-kafka.yaml", "min.insync.replicas: 2", "min.insync.replicas: 1", "min.insync.replicas 1"),
        ("knative/cluster/04-kafka.yaml", "    enabled: true\n", "    enabled: false\n", "broker.enabled"),
        (
            "knative/cluster/01-operators.yaml",
            "  name: serverless-operator\n  namespace",
            "  name: serverless\n  namespace",
            "no Subscription serverless-operator",
        ),
    ];
    for (i, (file, from, to, expected)) in cases.into_iter().enumerate() {
        let copy = TempRepo::new(&format!("cluster{i}"));
        copy.edit(file, from, to);
        assert_fails(&deploy::check_cluster(&copy.repo()), expected);
    }
}

#[test]
fn a_broker_without_the_durable_class_fails() {
    let copy = TempRepo::new("brokerclass");
    copy.edit(
        "knative/base/broker.yaml",
        "eventing.knative.dev/broker.class: Kafka",
        "eventing.knative.dev/broker.class: MTChannelBasedBroker",
    );
    assert_fails(&copy.problems("stg"), "not \"Kafka\"");
    let copy = TempRepo::new("brokerconfig");
    copy.edit("knative/base/broker.yaml", "    name: kafka-broker-config\n", "    name: other\n");
    assert_fails(&copy.problems("prod"), "spec.config");
}

#[test]
fn a_trigger_nothing_in_the_cluster_produces_fails() {
    let copy = TempRepo::new("unfed");
    let trigger = "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: tf-finished\nspec:\n  broker: fedora-ci\n  filter:\n    attributes:\n      type: dev.testing-farm.request.state-changed\n  subscriber:\n    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: tf-finished\n";
    let path = copy.repo().root.join("knative/base/tf-finished.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{trigger}")).unwrap();
    assert_fails(&copy.problems("stg"), "nothing in the cluster produces type dev.testing-farm.request.state-changed");
}

#[test]
fn a_binding_that_would_take_dead_letters_back_fails() {
    let copy = TempRepo::new("dlqloop");
    copy.edit(
        "knative/overlays/stg/kustomization.yaml",
        "      - FEDMSG_BRIDGE_DLQ=fedora-ci.stg.dlq\n",
        "      - FEDMSG_BRIDGE_DLQ=fedora-ci.stg.dlq\n      - FEDMSG_BRIDGE_TOPICS=#\n",
    );
    assert_fails(&copy.problems("stg"), "matches the dead-letter routing key");
}
