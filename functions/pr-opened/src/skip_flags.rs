//! The neutral flags of a skipped PR: one for every check that would have run,
//! under the very [`FlagKey`] the real check uses, so a later `rerun` updates the
//! same flag instead of leaving a stale "skipped" beside it.

use fedora_ci::clients::forge::PrId;
use fedora_ci::config::koji;
use fedora_ci::config::{Config, Deployment};
use fedora_ci::dispatch::reporting::{self, FlagKey};
use fedora_ci::rules::package_settings::PackageSettings;
use fedora_ci::rules::suite;

/// The build of each target and the tests that would follow it.
pub fn for_targets(
    config: &Config,
    pr: &PrId,
    targets: &[String],
    commit_sha: &str,
    settings: &PackageSettings,
) -> Vec<FlagKey> {
    let deployment = config.deployment;
    let mut keys = Vec::new();
    for target in targets {
        keys.push(FlagKey::build(deployment, pr, target, commit_sha));
        for (instance, its_target) in koji::builds_for(&config.koji_instances, target) {
            keys.push(FlagKey::instance_build(deployment, pr, &instance.flag_label, its_target, commit_sha));
        }
        let distro = suite::distro_for_target(target);
        keys.extend(
            suite::suite(deployment, false)
                .iter()
                .filter(|t| settings.runs_test(t.name))
                .map(|t| FlagKey::test(deployment, pr, t.name, &distro, commit_sha)),
        );
    }
    keys
}

/// A `tests/` repository runs only its own plans.
pub fn for_tests_repository(deployment: Deployment, pr: &PrId, commit_sha: &str) -> Vec<FlagKey> {
    vec![FlagKey::test(deployment, pr, "custom", "fedora-rawhide", commit_sha)]
}

/// Records "skipped by <user>" on the checks that have no flag yet (work that
/// already ran for this commit keeps its result); returns the uids to send.
pub async fn record(
    tx: &mut sqlx::PgConnection,
    pr: &PrId,
    checks: &[FlagKey],
    by: &str,
    url: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let comment = format!("skipped by {by}");
    let mut uids = Vec::new();
    for key in checks {
        if reporting::set_flag_if_absent(tx, pr, key, reporting::NEUTRAL, &comment, url).await? {
            uids.push(key.uid.clone());
        }
    }
    Ok(uids)
}
