//! Policy inputs that live elsewhere (FAS groups, the ELN package lists, dist-git
//! branches, Koji targets, Testing Farm composes, `.fedora-ci.yaml`), cached in
//! Postgres where they change slowly, so replicas and cold starts share them.
//! Read-only: a lookup never changes anything upstream. Between the store and
//! the dispatcher, since both the workflows and the Testing Farm sender ask.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::clients::fasjson::FasJsonClient;
use crate::clients::forge::{Forge, ForgeError, Forges};
use crate::clients::koji::KojiClient;
use crate::clients::testing_farm::{TestingFarmClient, TestingFarmError};
use crate::rules::package_settings::{self, Loaded, PackageSettings};
use crate::rules::policy::PACKAGER_GROUP;
use crate::store::cache;

/// Why a lookup has no answer: the database or an upstream is unavailable (the
/// event is redelivered; never a guessed answer).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{service} is unavailable: {reason}")]
    Upstream { service: &'static str, reason: String },
}

const GROUPS_TTL: Duration = Duration::from_secs(3600);
const ELN_TTL: Duration = Duration::from_secs(6 * 3600);

/// `PermissionOnDistgitForFedoraCI`: is `user` in the FAS `packager` group? A FASJSON
/// outage falls back to a stale cached answer, and without one asks for redelivery
/// (503) instead of refusing a packager.
pub async fn is_packager(pool: &PgPool, fas: &FasJsonClient, user: &str) -> Result<bool, LookupError> {
    let key = format!("fasjson:groups:{user}");
    let cached = cache::get::<Vec<String>>(pool, &key, GROUPS_TTL).await?;
    if let Some(c) = cached.as_ref().filter(|c| c.fresh()) {
        return Ok(c.value.iter().any(|g| g == PACKAGER_GROUP));
    }
    match fas.user_groups(user).await {
        Ok(groups) => {
            cache::put(pool, &key, &groups).await?;
            Ok(groups.iter().any(|g| g == PACKAGER_GROUP))
        }
        Err(e) => match cached {
            Some(stale) => {
                tracing::warn!(user, error = %e, "FASJSON unavailable; using the cached groups");
                Ok(stale.value.iter().any(|g| g == PACKAGER_GROUP))
            }
            None => Err(LookupError::Upstream { service: "FASJSON", reason: e.to_string() }),
        },
    }
}

/// Is `package` in the ELN package lists? The lists are fetched (all of them) and
/// cached; when they cannot be fetched and nothing is cached, ELN is skipped with a
/// warning rather than holding up the rawhide build.
///
/// Every PR event on rawhide asks, so a warm replica keeps the fresh list in
/// `memo` (a few thousand names) instead of reading and decoding it per event.
pub async fn is_eln_package(
    pool: &PgPool,
    memo: &cache::Memo<BTreeSet<String>>,
    http: &reqwest::Client,
    urls: &[url::Url],
    package: &str,
) -> Result<bool, LookupError> {
    const KEY: &str = "eln:packages";
    if let Some(packages) = memo.fresh() {
        return Ok(packages.contains(package));
    }
    let stale = match cache::get::<BTreeSet<String>>(pool, KEY, ELN_TTL).await? {
        Some(c) if c.fresh() => {
            let contains = c.value.contains(package);
            memo.keep(Arc::new(c.value), c.fresh_for);
            return Ok(contains);
        }
        stale => stale,
    };
    match fetch_eln_lists(http, urls).await {
        Ok(packages) => {
            cache::put(pool, KEY, &packages).await?;
            let contains = packages.contains(package);
            memo.keep(Arc::new(packages), ELN_TTL);
            Ok(contains)
        }
        Err(e) => {
            tracing::warn!(error = %e, "ELN package lists unavailable");
            Ok(stale.is_some_and(|c| c.value.contains(package)))
        }
    }
}

async fn fetch_eln_lists(http: &reqwest::Client, urls: &[url::Url]) -> Result<BTreeSet<String>, String> {
    let mut packages = BTreeSet::new();
    for url in urls {
        let response = http
            .get(url.clone())
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("{url}: {}", e.without_url()))?;
        let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
        packages
            .extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
    }
    Ok(packages)
}

/// Does the dist-git repository have its own `eln` branch? (Then ELN builds from
/// it, not from rawhide PRs.) Asked of the PR's own forge.
pub async fn has_eln_branch(forges: &Forges, forge: Forge, namespace: &str, repo: &str) -> Result<bool, LookupError> {
    forges
        .has_branch(forge, namespace, repo, "eln")
        .await
        .map_err(|e| LookupError::Upstream { service: forge.name(), reason: e.to_string() })
}

/// Does the PR head carry its own tmt plans (an fmf tree)? Only then is `custom`
/// part of its suite.
pub async fn has_fmf_tree(
    forges: &Forges,
    forge: Forge,
    source_repo_path: &str,
    commit_sha: &str,
) -> Result<bool, LookupError> {
    forges
        .raw_file(forge, source_repo_path, commit_sha, ".fmf/version")
        .await
        .map(|f| f.is_some())
        .map_err(|e| LookupError::Upstream { service: forge.name(), reason: e.to_string() })
}

const TARGET_TTL: Duration = Duration::from_secs(24 * 3600);

/// The Koji build target for a PR's branch, looked up on the hub (cached a day);
/// `None` when the branch has none (a feature branch, say).
pub async fn resolve_build_target(
    pool: &PgPool,
    koji: &KojiClient,
    branch: &str,
) -> Result<Option<String>, LookupError> {
    let candidates = crate::rules::policy::build_target_candidates(branch);
    if candidates.len() == 1 {
        return Ok(candidates.into_iter().next());
    }
    let key = format!("koji:target:{branch}");
    if let Some(c) = cache::get::<Option<String>>(pool, &key, TARGET_TTL).await?.filter(|c| c.fresh()) {
        return Ok(c.value);
    }
    for name in candidates {
        match koji.get_build_target(&name).await {
            Ok(Some(target)) => {
                cache::put(pool, &key, &Some(target.name.clone())).await?;
                return Ok(Some(target.name));
            }
            Ok(None) => continue,
            Err(e) => return Err(LookupError::Upstream { service: "Koji", reason: e.to_string() }),
        }
    }
    cache::put(pool, &key, &None::<String>).await?;
    Ok(None)
}

const COMPOSES_TTL: Duration = Duration::from_secs(6 * 3600);

/// The compose Testing Farm offers for a distro (`fedora-rawhide` → `Fedora-Rawhide`),
/// from TF's own list (cached), so a new release needs no code change.
pub async fn tf_compose(
    pool: &PgPool,
    tf: &TestingFarmClient,
    distro: &str,
) -> Result<Option<String>, TestingFarmError> {
    const KEY: &str = "tf:composes";
    let cached = cache::get::<Vec<String>>(pool, KEY, COMPOSES_TTL).await.ok().flatten();
    let composes = match cached {
        Some(c) if c.fresh() => c.value,
        stale => match tf.composes().await {
            Ok(list) => {
                if let Err(e) = cache::put(pool, KEY, &list).await {
                    tracing::warn!(error = %e, "could not cache the compose list");
                }
                list
            }
            Err(e) => match stale {
                Some(s) => s.value,
                None => return Err(e),
            },
        },
    };
    Ok(composes.into_iter().find(|c| c.eq_ignore_ascii_case(distro)))
}

/// Reads `.fedora-ci.yaml` at `commit` of `repo_path` (as
/// [`crate::messages::PullRequestInfo::source_repo_path`] names it) through the
/// forge's raw file API. No file is the defaults; the forge being down is an
/// error (the event is redelivered) — never "the defaults", which would run CI on
/// a package that opted out.
pub async fn package_settings(
    forges: &Forges,
    forge: Forge,
    repo_path: &str,
    commit: &str,
) -> Result<Loaded, ForgeError> {
    let text = forges.raw_file(forge, repo_path, commit, package_settings::FILE_NAME).await?;
    Ok(match text.as_deref().map(package_settings::parse) {
        None => Loaded { settings: PackageSettings::default(), config_error: None },
        Some(Ok(settings)) => Loaded { settings, config_error: None },
        Some(Err(e)) => Loaded { settings: PackageSettings::default(), config_error: Some(e) },
    })
}
