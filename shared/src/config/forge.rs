//! Which forge a dist-git PR lives on, and the Forgejo settings.
//!
//! Fedora's dist-git is moving from Pagure (src.fedoraproject.org) to Forgejo
//! (forge.fedoraproject.org). Both run side by side for a while, so one package
//! can have PRs on both: everything we store or report about a PR carries its
//! [`Forge`], and the same commit on the two forges never shares anything.

use std::collections::BTreeSet;

use url::Url;

use super::env::{ConfigError, Env};
use super::secret::Secret;

/// A dist-git forge. Stored as text (`pagure`, `forgejo`) in `pr_flags`,
/// `pr_comments` and the `data` of builds and test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    /// src.fedoraproject.org: Pagure API 0, PR flags.
    #[default]
    Pagure,
    /// forge.fedoraproject.org: Forgejo API v1, commit statuses.
    Forgejo,
}

impl Forge {
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::Pagure => "pagure",
            Forge::Forgejo => "forgejo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pagure" => Some(Forge::Pagure),
            "forgejo" => Some(Forge::Forgejo),
            _ => None,
        }
    }

    /// The product name, for logs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Forge::Pagure => "Pagure",
            Forge::Forgejo => "Forgejo",
        }
    }
}

/// The organisations whose PRs Fedora CI serves on Forgejo unless
/// `FORGEJO_NAMESPACES` says otherwise: the package and test repositories, as on
/// Pagure.
pub const DEFAULT_FORGEJO_NAMESPACES: [&str; 2] = ["rpms", "tests"];

/// Forgejo dist-git (`FEDORA_CI_FORGEJO=true` turns it on).
#[derive(Debug, Clone)]
pub struct ForgejoConfig {
    /// Whether the functions act on Forgejo events at all. Off (the default), a
    /// Forgejo event is answered 202 and ignored, so the bridge may carry the
    /// topics before the token is in place.
    pub enabled: bool,
    /// `FORGEJO_URL`: the instance (web pages and `<url>/api/v1`). Events of
    /// repositories on any other instance are ignored.
    pub url: Url,
    /// `FORGEJO_GIT_URL`: the base of the git URLs Koji and Testing Farm clone
    /// (`git+<base>/<owner>/<repo>.git#<sha>`). Defaults to `FORGEJO_URL`; set it
    /// when Koji's `allowed_scms` lists the forge under another name.
    pub git_url: Url,
    /// `FORGEJO_TOKEN` (or `FORGEJO_TOKEN_FILE`): an access token with the scopes
    /// `write:repository` (commit statuses) and `write:issue` (comments).
    pub token: Option<Secret>,
    /// `FORGEJO_NAMESPACES`: the organisations served (a subset of `rpms`, `tests`).
    pub namespaces: BTreeSet<String>,
}

impl ForgejoConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let enabled = env.bool("FEDORA_CI_FORGEJO", false)?;
        let url = env.url("FORGEJO_URL", "https://forge.fedoraproject.org")?;
        let git_url = env.url("FORGEJO_GIT_URL", url.as_str())?;
        // Read only when Forgejo is on: the manifests name the token file of an
        // optional secret, which exists only once a deployment turns Forgejo on.
        let token = if enabled { env.secret("FORGEJO_TOKEN")? } else { None };
        if enabled && token.is_none() {
            return Err(ConfigError::new(
                "FORGEJO_TOKEN",
                "is required when FEDORA_CI_FORGEJO=true (commit statuses and comments need it)",
            ));
        }
        let listed = env.list("FORGEJO_NAMESPACES");
        let namespaces: BTreeSet<String> = if listed.is_empty() {
            DEFAULT_FORGEJO_NAMESPACES.iter().map(|s| s.to_string()).collect()
        } else {
            listed.into_iter().collect()
        };
        if let Some(bad) = namespaces.iter().find(|n| !DEFAULT_FORGEJO_NAMESPACES.contains(&n.as_str())) {
            return Err(ConfigError::new(
                "FORGEJO_NAMESPACES",
                format!("'{bad}' is not a dist-git namespace Fedora CI serves (rpms, tests)"),
            ));
        }
        Ok(Self { enabled, url, git_url, token, namespaces })
    }
}
