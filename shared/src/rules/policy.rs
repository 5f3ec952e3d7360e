//! Who gets Fedora CI, and what gets built: the policy as small named predicates
//! over explicit inputs (the shape of packit-service's checkers, without its
//! class hierarchy).

use crate::config::{Config, ProjectPolicy};

/// Why an event is not acted on; logged at debug and returned in the 202 body.
pub type Skip = String;

/// Fedora CI runs on dist-git packages (`rpms/`) and test repositories (`tests/`).
pub fn is_project_in_ci_namespace(namespace: Option<&str>) -> bool {
    matches!(namespace, Some("rpms" | "tests"))
}

/// The configured opt-out deny list or opt-in allow list.
pub fn is_project_enabled_by_policy(config: &Config, project_path: &str) -> bool {
    match &config.policy {
        ProjectPolicy::OptOut { deny } => !deny.contains(project_path),
        ProjectPolicy::OptIn { allow } => allow.contains(project_path),
    }
}

/// Both checks, with the reason when the project is out.
pub fn project_enabled(config: &Config, namespace: Option<&str>, project_path: &str) -> Result<(), Skip> {
    if !is_project_in_ci_namespace(namespace) {
        return Err(format!("{project_path} is not under rpms/ or tests/"));
    }
    if !is_project_enabled_by_policy(config, project_path) {
        return Err(format!("{project_path} is not enabled by the {} policy", policy_name(config)));
    }
    Ok(())
}

fn policy_name(config: &Config) -> &'static str {
    match config.policy {
        ProjectPolicy::OptOut { .. } => "opt-out",
        ProjectPolicy::OptIn { .. } => "opt-in",
    }
}

/// Our own comments (answers, help) must never be read back as commands.
pub fn is_our_bot(config: &Config, user: &str) -> bool {
    user == config.bot_user
}

/// PRs against `rawhide` (or the `main` alias) build for the `rawhide` target.
pub fn is_rawhide_branch(branch: &str) -> bool {
    matches!(branch, "rawhide" | "main")
}

/// Koji build target names to try, in order, for a PR's target branch. Rawhide is
/// fixed; every other branch is looked up on the hub (`f43` → `f43-candidate`,
/// `epel10` → `epel10-candidate`), so new releases need no code change.
pub fn build_target_candidates(branch: &str) -> Vec<String> {
    if is_rawhide_branch(branch) {
        vec!["rawhide".to_owned()]
    } else {
        vec![format!("{branch}-candidate"), branch.to_owned()]
    }
}

/// The static half of `PackageNeedsELNBuildFromRawhide`: a rawhide PR of a project
/// not on the ELN deny list. The package lists and the `eln` branch are checked
/// against their sources.
pub fn may_need_eln_build(config: &Config, project_path: &str, branch: &str) -> bool {
    is_rawhide_branch(branch) && project_path.starts_with("rpms/") && !config.eln_deny.contains(project_path)
}

/// Packagers may trigger builds; the FAS group that says so.
pub const PACKAGER_GROUP: &str = "packager";

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.insert("DATABASE_URL".into(), "postgres://x@h/d".into());
        Config::from_source(&move |k: &str| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn opt_out_takes_rpms_and_tests_minus_the_deny_list() {
        let c = config(&[("FEDORA_CI_DENY_LIST", "rpms/kernel")]);
        assert!(project_enabled(&c, Some("rpms"), "rpms/optee_os").is_ok());
        assert!(project_enabled(&c, Some("tests"), "tests/foo").is_ok());
        assert!(project_enabled(&c, Some("rpms"), "rpms/kernel").unwrap_err().contains("opt-out"));
        assert!(project_enabled(&c, None, "fedora-kiwi-descriptions").is_err());
        assert!(project_enabled(&c, Some("modules"), "modules/x").is_err());
    }

    #[test]
    fn opt_in_takes_only_the_allow_list() {
        let c = config(&[("FEDORA_CI_POLICY", "opt-in"), ("FEDORA_CI_ALLOW_LIST", "rpms/hello")]);
        assert!(project_enabled(&c, Some("rpms"), "rpms/hello").is_ok());
        assert!(project_enabled(&c, Some("rpms"), "rpms/optee_os").is_err());
    }

    #[test]
    fn targets_and_eln() {
        assert_eq!(build_target_candidates("main"), ["rawhide"]);
        assert_eq!(build_target_candidates("f43"), ["f43-candidate", "f43"]);
        let c = config(&[("FEDORA_CI_ELN_DENY_LIST", "rpms/kernel")]);
        assert!(may_need_eln_build(&c, "rpms/optee_os", "rawhide"));
        assert!(!may_need_eln_build(&c, "rpms/optee_os", "f43"));
        assert!(!may_need_eln_build(&c, "rpms/kernel", "rawhide"));
        assert!(!may_need_eln_build(&c, "tests/foo", "rawhide"));
    }
}
