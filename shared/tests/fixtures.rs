//! Every recorded message parses, and parses to what a reader of the JSON expects.

use fedora_ci::messages::{FedoraMessage, KojiTaskState, PullRequestAction, Topic, Topics};
use fedora_ci::testing::{Fixture, fixtures_dir};

const DISTGIT: &str = "https://src.fedoraproject.org";

fn prod() -> Topics {
    Topics::new("org.fedoraproject.prod.")
}

fn parse(name: &str) -> FedoraMessage {
    let f = Fixture::load(name);
    let topic = prod().classify(&f.topic).unwrap_or_else(|| panic!("{name}: {} is not ours", f.topic));
    FedoraMessage::parse(topic, &f.body_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pr(name: &str) -> fedora_ci::messages::PullRequestMessage {
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
    assert_eq!(m.pullrequest.project_path(), "rpms/optee_os");
    assert_eq!(m.pullrequest.branch, "rawhide");
    assert_eq!(
        m.pullrequest.koji_source(DISTGIT),
        "git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"
    );
    assert_eq!(m.agent.as_deref(), Some("zbyszek"));
    assert!(m.new_comment().is_none());
}

#[test]
fn updated_pr_targets_its_branch() {
    let m = pr("pagure_pr_updated.json");
    assert_eq!(m.action, PullRequestAction::Updated);
    assert_eq!(m.pullrequest.branch, "f40");
    assert_eq!(m.pullrequest.commit_stop, "f2f041328d629719c5ff31a08e800638d5df497f");
    assert_eq!(m.pullrequest.git_url(DISTGIT), "https://src.fedoraproject.org/forks/lbalhar/rpms/marshalparser.git");
}

#[test]
fn pr_outside_a_namespace_is_recognisable() {
    let m = pr("pagure_pr_new_no_fork.json");
    assert_eq!(m.pullrequest.project.namespace, None);
    assert!(m.pullrequest.fork().is_none());
    assert_eq!(m.pullrequest.project_path(), "fedora-kiwi-descriptions");
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
        let c = m.new_comment().unwrap();
        assert!(c.comment.starts_with(text), "{name}: {}", c.comment);
        assert_eq!(c.user.name, "mmassari");
        // Not from a fork: the PR's own repository is built.
        assert_eq!(
            m.pullrequest.koji_source(DISTGIT),
            "git+https://src.fedoraproject.org/rpms/python-teamcity-messages.git#beaf90bcecc51968a46663f8d6f092bfdc92e682"
        );
    }
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
/// when the original is beside the checkout, the copy must not have drifted.
#[test]
fn fixture_copy_matches_the_shared_originals() {
    let original = fixtures_dir().join("../../../shared/fixtures");
    if !original.exists() {
        eprintln!("skipped: {} not present", original.display());
        return;
    }
    for dir in ["fedora-messaging", "testing-farm"] {
        for entry in std::fs::read_dir(original.join(dir)).unwrap() {
            let entry = entry.unwrap();
            let copy = fixtures_dir().join(dir).join(entry.file_name());
            assert_eq!(
                std::fs::read(entry.path()).unwrap(),
                std::fs::read(&copy).unwrap_or_default(),
                "{} differs from its copy",
                entry.path().display()
            );
        }
    }
}
