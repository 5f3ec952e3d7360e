//! The Fedora CI test suite and the Testing Farm request of each test.
//!
//! | test | tmt url | ref | plan | compose | artifacts |
//! |---|---|---|---|---|---|
//! | installability | fedora-ci/installability-pipeline | master | — | mapped | — |
//! | rpminspect | fedora-ci/rpminspect-pipeline | master | — | — | — |
//! | rpmlint | packit/tmt-plans | main | /plans/rpmlint | — | — |
//! | rmdepcheck | forge ci/shared-tests | main (prod) / stg | /rmdepcheck | — | — |
//! | license-validate | forge ci/shared-tests | main (prod) / stg | /license-validate | — | — |
//! | custom (PR has `.fmf/version`) | the PR's git | the PR commit | — | mapped | the Koji build |

use serde_json::{Value, json};

use crate::config::Deployment;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDefinition {
    pub name: &'static str,
    /// `None` for `custom`: the PR's own repository.
    pub tmt_url: Option<&'static str>,
    pub tmt_ref: Option<&'static str>,
    pub plan: Option<&'static str>,
    /// Whether the environment names an OS compose.
    pub compose: bool,
    /// Whether the Koji build is passed as a `fedora-koji-build` artifact.
    pub artifacts: bool,
}

const SHARED_TESTS: &str = "https://forge.fedoraproject.org/ci/shared-tests";

/// The suite in submission order; `custom` only when the PR has an fmf tree.
pub fn suite(deployment: Deployment, has_fmf: bool) -> Vec<TestDefinition> {
    let shared_ref = match deployment {
        Deployment::Prod => "main",
        Deployment::Stg => "stg",
    };
    let mut tests = vec![
        TestDefinition {
            name: "installability",
            tmt_url: Some("https://github.com/fedora-ci/installability-pipeline.git"),
            tmt_ref: Some("master"),
            plan: None,
            compose: true,
            artifacts: false,
        },
        TestDefinition {
            name: "rpminspect",
            tmt_url: Some("https://github.com/fedora-ci/rpminspect-pipeline.git"),
            tmt_ref: Some("master"),
            plan: None,
            compose: false,
            artifacts: false,
        },
        TestDefinition {
            name: "rpmlint",
            tmt_url: Some("https://github.com/packit/tmt-plans.git"),
            tmt_ref: Some("main"),
            plan: Some("/plans/rpmlint"),
            compose: false,
            artifacts: false,
        },
        TestDefinition {
            name: "rmdepcheck",
            tmt_url: Some(SHARED_TESTS),
            tmt_ref: Some(shared_ref),
            plan: Some("/rmdepcheck"),
            compose: false,
            artifacts: false,
        },
        TestDefinition {
            name: "license-validate",
            tmt_url: Some(SHARED_TESTS),
            tmt_ref: Some(shared_ref),
            plan: Some("/license-validate"),
            compose: false,
            artifacts: false,
        },
    ];
    if has_fmf {
        tests.push(custom());
    }
    tests
}

pub fn custom() -> TestDefinition {
    TestDefinition { name: "custom", tmt_url: None, tmt_ref: None, plan: None, compose: true, artifacts: true }
}

pub fn definition(deployment: Deployment, name: &str) -> Option<TestDefinition> {
    suite(deployment, true).into_iter().find(|t| t.name == name)
}

/// Everything a payload needs besides the test itself.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    pub deployment: Deployment,
    /// TF distro, `fedora-rawhide` or `fedora-eln`.
    pub distro: &'a str,
    /// `Fedora-Rawhide`: the compose TF lists for the distro.
    pub compose: Option<&'a str>,
    /// `None` for `tests/` repositories (nothing was built).
    pub koji_task_id: Option<i64>,
    /// The PR's git URL and head commit, for `custom`.
    pub git_url: &'a str,
    pub commit_sha: &'a str,
    pub branch: &'a str,
    /// TF calls it back with `{request_id, token}`; `None` when no webhook secret is
    /// configured (the poller then follows the request instead).
    pub webhook: Option<(&'a str, &'a str)>,
}

/// The JSON body of `POST /requests` for one test.
pub fn payload(test: &TestDefinition, c: &RequestContext<'_>) -> Value {
    let mut tmt = json!({
        "url": test.tmt_url.unwrap_or(c.git_url),
        "ref": test.tmt_ref.unwrap_or(c.commit_sha),
    });
    if let Some(plan) = test.plan {
        tmt["name"] = plan.into();
    }
    let mut context = json!({
        "distro": c.distro,
        "arch": "x86_64",
        "trigger": "commit",
        "initiator": "fedora-ci",
        "dist-git-branch": c.branch,
        "deployment": c.deployment.as_str(),
    });
    if c.distro.ends_with("eln") {
        context["variant"] = "eln".into();
    }
    let mut environment = json!({
        "arch": "x86_64",
        "variables": {},
        "tmt": { "context": context },
    });
    if let Some(task) = c.koji_task_id {
        environment["variables"]["KOJI_TASK_ID"] = task.to_string().into();
        if test.artifacts {
            environment["artifacts"] = json!([{ "id": task.to_string(), "type": "fedora-koji-build" }]);
        }
    }
    if test.compose
        && let Some(compose) = c.compose
    {
        environment["os"] = json!({ "compose": compose });
    }
    let mut body = json!({
        "test": { "tmt": tmt },
        "environments": [environment],
    });
    if let Some((url, token)) = c.webhook {
        body["notification"] = json!({ "webhook": { "url": url, "token": token } });
    }
    body
}

/// The Testing Farm distro (and tmt `distro` context) of a Koji target, as
/// packit-service maps them (`packit_service/worker/handlers/testing_farm.py`:
/// the target's distro through `DEFAULT_MAPPING_TF`): `rawhide` → `fedora-rawhide`,
/// `eln` → `fedora-eln`, `f43-candidate` → `fedora-43`, EPEL on the CentOS it
/// builds for: `epel10-candidate` and `epel10.1-candidate` → `centos-stream-10`,
/// `epel9` → `centos-stream-9`, `epel8` → `centos-stream-8`, `epel7` → `centos-7`.
/// The compose is then looked up in Testing Farm's own list, case-insensitively
/// (`centos-stream-10` → `CentOS-Stream-10`), like its `distro2compose`.
pub fn distro_for_target(koji_target: &str) -> String {
    let release = koji_target.trim_end_matches("-candidate");
    match release {
        "rawhide" => return "fedora-rawhide".to_owned(),
        "eln" => return "fedora-eln".to_owned(),
        _ => {}
    }
    if let Some(n) = release.strip_prefix('f').filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())) {
        return format!("fedora-{n}");
    }
    if let Some(rest) = release.strip_prefix("epel") {
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = major.parse::<u32>() {
            return if n >= 8 { format!("centos-stream-{n}") } else { format!("centos-{n}") };
        }
    }
    release.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_has_five_tests_and_custom_only_with_fmf() {
        let names: Vec<_> = suite(Deployment::Prod, false).iter().map(|t| t.name).collect();
        assert_eq!(names, ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate"]);
        assert_eq!(suite(Deployment::Prod, true).len(), 6);
        assert_eq!(definition(Deployment::Stg, "rmdepcheck").unwrap().tmt_ref, Some("stg"));
    }

    #[test]
    fn distros() {
        assert_eq!(distro_for_target("rawhide"), "fedora-rawhide");
        assert_eq!(distro_for_target("eln"), "fedora-eln");
        assert_eq!(distro_for_target("f43-candidate"), "fedora-43");
        assert_eq!(distro_for_target("epel10-candidate"), "centos-stream-10");
        assert_eq!(distro_for_target("epel10.1-candidate"), "centos-stream-10");
        assert_eq!(distro_for_target("epel9-candidate"), "centos-stream-9");
        assert_eq!(distro_for_target("epel8"), "centos-stream-8");
        assert_eq!(distro_for_target("epel7"), "centos-7");
        assert_eq!(distro_for_target("f42"), "fedora-42");
    }
}
