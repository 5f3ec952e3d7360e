//! Every recorded message parses, and parses to what a reader of the JSON expects.

use fedora_ci::dev::testing::{Fixture, fixtures_dir};
use fedora_ci::messages::{FedoraMessage, Forge, KojiTaskState, PrState, PullRequestAction, Topic, Topics};

const DISTGIT: &str = "https://src.fedoraproject.org";

fn prod() -> Topics {
    Topics::new("org.fedoraproject.prod.")
}

fn parse(name: &str) -> FedoraMessage {
    let f = Fixture::load(name);
    let topic = prod().classify(&f.topic).unwrap_or_else(|| panic!("{name}: {} is not ours", f.topic));
    FedoraMessage::parse(topic, &f.body_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pr(name: &str) -> fedora_ci::messages::PullRequestEvent {
    match parse(name) {
        FedoraMessage::PullRequest(m) => m,
        other => panic!("{name}: expected a PR message, got {other:?}"),
    }
}

#[test]
fn every_fixture_of_our_topics_parses() {
    let mut ours = 0;
    for f in Fixture::all() {
        match prod().classify(&f.topic) {
            Some(topic) => {
                FedoraMessage::parse(topic, &f.body_bytes()).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                ours += 1;
            }
            None => assert_eq!(f.topic, "org.fedoraproject.prod.buildsys.build.state.change", "{}", f.name),
        }
    }
    assert_eq!(ours, 9);
}

#[test]
fn pr_from_a_fork_builds_the_fork() {
    let m = pr("pagure_pr_new.json");
    assert_eq!(m.action, PullRequestAction::New);
    assert_eq!(m.forge, Forge::Pagure);
    assert_eq!(m.pr.project_path(), "rpms/optee_os");
    assert_eq!(m.pr.branch, "rawhide");
    assert_eq!(
        m.pr.koji_source(DISTGIT),
        "git+https://src.fedoraproject.org/forks/zwhite/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"
    );
    assert_eq!(m.pr.source_repo_path, "fork/zwhite/rpms/optee_os");
    assert_eq!(m.agent.as_deref(), Some("zwhite"));
    assert!(m.comment.is_none());
    assert!(m.ignored_because().is_none());
}

#[test]
fn updated_pr_targets_its_branch() {
    let m = pr("pagure_pr_updated.json");
    assert_eq!(m.action, PullRequestAction::Updated);
    assert_eq!(m.pr.branch, "f40");
    assert_eq!(m.pr.head_sha, "f2f041328d629719c5ff31a08e800638d5df497f");
    assert_eq!(
        m.pr.koji_source(DISTGIT),
        "git+https://src.fedoraproject.org/forks/lbrown/rpms/marshalparser.git#f2f041328d629719c5ff31a08e800638d5df497f"
    );
}

#[test]
fn pr_outside_a_namespace_is_recognisable() {
    let m = pr("pagure_pr_new_no_fork.json");
    assert_eq!(m.pr.namespace, None);
    assert_eq!(m.pr.git_path, "fedora-kiwi-descriptions");
    assert_eq!(m.pr.project_path(), "fedora-kiwi-descriptions");
}

#[test]
fn comment_messages_expose_the_new_comment() {
    for (name, text) in [
        ("pagure_pr_comment.json", "/packit koji-build"),
        ("pagure_pr_comment_ci_help.json", "/packit-ci help"),
        ("pagure_pr_comment_ci_scratch_build_eln.json", "/packit-ci scratch-build --target eln"),
        ("pagure_pr_comment_ci_test.json", "/packit-ci test"),
    ] {
        let m = pr(name);
        assert_eq!(m.action, PullRequestAction::CommentAdded, "{name}");
        let c = m.comment.as_ref().unwrap();
        assert!(c.body.starts_with(text), "{name}: {}", c.body);
        assert_eq!(c.author, "mjones");
        // Not from a fork: the PR's own repository is built.
        assert_eq!(
            m.pr.koji_source(DISTGIT),
            "git+https://src.fedoraproject.org/rpms/python-teamcity-messages.git#beaf90bcecc51968a46663f8d6f092bfdc92e682"
        );
    }
}

fn forgejo(name: &str) -> fedora_ci::messages::PullRequestEvent {
    let f = Fixture::load_from("forgejo", name);
    let topic = prod().classify(&f.topic).unwrap_or_else(|| panic!("{name}: {} is not ours", f.topic));
    match FedoraMessage::parse(topic, &f.body_bytes()).unwrap_or_else(|e| panic!("{name}: {e}")) {
        FedoraMessage::PullRequest(m) => m,
        other => panic!("{name}: expected a PR message, got {other:?}"),
    }
}

#[test]
fn forgejo_pull_requests_read_as_dist_git_prs() {
    let m = forgejo("forgejo_pr_opened.json");
    assert_eq!((m.forge, m.action), (Forge::Forgejo, PullRequestAction::New));
    assert_eq!(m.pr.project_path(), "rpms/python-requests");
    assert_eq!((m.pr.id, m.pr.branch.as_str(), m.pr.state), (3501, "rawhide", PrState::Open));
    assert_eq!(m.pr.head_sha, "1a69eb79bbfa26ec63e95863cf15dcd77f985ede");
    assert_eq!(m.pr.author, "alice");
    // From the fork: Koji builds the fork's git, files are read from it.
    assert_eq!(
        m.pr.koji_source("https://forge.fedoraproject.org"),
        "git+https://forge.fedoraproject.org/alice/python-requests.git#1a69eb79bbfa26ec63e95863cf15dcd77f985ede"
    );
    assert_eq!(m.pr.source_repo_path, "alice/python-requests");
    assert_eq!(m.repository_url.as_deref(), Some("https://forge.fedoraproject.org/rpms/python-requests"));
    assert!(m.ignored_because().is_none());
    assert_eq!(forgejo("forgejo_pr_synchronized.json").action, PullRequestAction::Updated);
}

#[test]
fn forgejo_pr_comments_are_commands_with_their_author() {
    let m = forgejo("forgejo_pr_comment_ci_test.json");
    assert_eq!((m.forge, m.action), (Forge::Forgejo, PullRequestAction::CommentAdded));
    let c = m.comment.as_ref().unwrap();
    assert_eq!(c.author, "carol");
    assert!(c.body.starts_with("/packit-ci test"), "{}", c.body);
    assert_eq!((m.pr.id, m.pr.branch.as_str()), (3366, "main"));
    assert!(m.ignored_because().is_none());
}

#[test]
fn koji_task_messages_carry_owner_state_and_children() {
    let FedoraMessage::KojiTask(end) = parse("koji_build_scratch_end.json") else { panic!("koji") };
    assert_eq!((end.id, end.owner.as_str(), end.method.as_deref()), (45270170, "packit", Some("build")));
    assert_eq!(end.old.as_ref().and_then(|s| s.state()), Some(KojiTaskState::Open));
    assert_eq!(end.new.state(), Some(KojiTaskState::Closed));
    assert!(end.new.state().unwrap().is_done());
    let arches: Vec<_> = end.build_arch_children().map(|c| (c.id, c.arch.clone().unwrap())).collect();
    assert_eq!(arches, [(45270227, "noarch".to_owned())]);

    let FedoraMessage::KojiTask(start) = parse("koji_build_scratch_start.json") else { panic!("koji") };
    assert_eq!(start.new.state(), Some(KojiTaskState::Open));
    assert_eq!(start.info.state.and_then(KojiTaskState::from_number), Some(KojiTaskState::Open));
    assert_eq!(start.build_arch_children().count(), 0);

    let header =
        fedora_ci::messages::koji::TaskHeader::parse(&Fixture::load("koji_build_scratch_end.json").body_bytes())
            .unwrap();
    assert_eq!((header.id, header.owner.as_str()), (45270170, "packit"));
}

#[test]
fn staging_prefix_is_not_production() {
    let f = Fixture::load("pagure_pr_new.json").with_prefix("org.fedoraproject.stg.");
    assert_eq!(prod().classify(&f.topic), None);
    assert_eq!(Topics::new("org.fedoraproject.stg.").classify(&f.topic), Some(Topic::PullRequestNew));
}

/// The repository keeps a copy of `../shared/fixtures` so a clone is self-contained;
/// when the original is beside the checkout, the copy must not have drifted: every
/// file of every folder there (Fedora Messaging, Testing Farm, Log Detective, Forgejo)
/// is in the copy byte for byte.
#[test]
fn fixture_copy_matches_the_shared_originals() {
    let original = fixtures_dir().join("../../../shared/fixtures");
    if !original.exists() {
        eprintln!("skipped: {} not present", original.display());
        return;
    }
    let mut compared = 0;
    for dir in std::fs::read_dir(&original).unwrap() {
        let dir = dir.unwrap();
        if !dir.file_type().unwrap().is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let copy = fixtures_dir().join(dir.file_name()).join(entry.file_name());
            assert_eq!(
                std::fs::read(entry.path()).unwrap(),
                std::fs::read(&copy).unwrap_or_default(),
                "{} differs from its copy {}",
                entry.path().display(),
                copy.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 17, "only {compared} shared fixtures compared");
}

/// The recorded messages once carried real people's FAS names and full names; the
/// shared samples replaced them with made-up ones, and nothing in the repository may
/// bring them back (a test, a golden file, a fuzz seed, a doc). The deny list holds
/// SHA-256 digests of the lower-cased words (user names and surnames), so this file
/// does not name them either. Words are split at anything not alphanumeric, which
/// also catches a name inside a URL, a fork path or a JSON `\u` escape.
#[test]
fn no_real_name_from_the_old_samples_remains() {
    use sha2::{Digest, Sha256};
    const DENIED: [&str; 11] = [
        "c37f2ef18ead094482ca63563632594394c3cc1106e53992e826d9d2d3f2b5c4",
        "dd122d4294248ad7eb285cc7a2bc1acc0a90828dfa8bbb08d3ab40f89aa5ae09",
        "27af3904fbc88f70f77064e65cc01e7bb5772a65689d0e04369ba3e5e91738e8",
        "f2b9aec98ff1920cc81b29724b1e6dbab4c508eb9af33f484d0f73847c3c8fd1",
        "bbd44513c3ae329922ad7690aeb891544c8d145486e8116e740ce7979a1f091d",
        "8acaa2722ac63f69d97d806619fbfb8e5251fdfa8e042a19b00c66c7bda71581",
        "0691f9c9710d900996ecf8ad7c394af923459f1856cec9f3487bbf2038129011",
        "b20caed9e029c72e501df78c683237dcfd1ef526ec07ec1f34389cfc512d786b",
        "4715336995e07efa775ceea3c7c6e068daa489eea860697f205248f81e265873",
        "d297830a4389061c0426f0f780eb5776c47837759a46ddc52883056621dc6fb3",
        "bcf4d36ba8e56f196b7a56b61ee3881ba11986dc957fd61d01fb5a4f86e499fb",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pending = vec![root];
    let (mut files, mut found) = (0, Vec::new());
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let (path, kind) = (entry.path(), entry.file_type().unwrap());
            if kind.is_dir() {
                if !matches!(entry.file_name().to_str(), Some("target" | ".git")) {
                    pending.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read(&path) else { continue };
            files += 1;
            for word in String::from_utf8_lossy(&text).split(|c: char| !c.is_alphanumeric()) {
                let digest = Sha256::digest(word.to_lowercase().as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                if DENIED.contains(&hex.as_str()) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    assert!(files > 100, "only {files} files read");
    assert!(found.is_empty(), "a real name from the old samples is back in: {found:?}");
}
