//! Extra Koji hubs (e.g. Fedora's RISC-V Koji) next to the primary one.
//!
//! Each instance has its own hub, identity, channel, topic prefix and flag label,
//! and a map from the primary build targets to its own: a PR that builds for
//! `rawhide` on the primary hub also builds for the mapped target there. A build
//! row remembers its instance (`koji_build_targets.koji_instance`), so the Koji
//! message handler and the poller always talk to the hub that owns the task —
//! task ids are only unique per hub. Tests (Testing Farm) follow primary builds
//! only: Testing Farm has no machines for the extra architectures.
//!
//! ```text
//! KOJI_INSTANCES=riscv
//! KOJI_RISCV_HUB_URL=https://riscv-koji.fedoraproject.org/kojihub
//! KOJI_RISCV_WEB_URL=https://riscv-koji.fedoraproject.org/koji
//! KOJI_RISCV_TOPIC_PREFIX=org.fedoraproject.prod.riscv.
//! KOJI_RISCV_TARGETS=rawhide=f44      # <primary target>[=<target on this hub>], …
//! KOJI_RISCV_FLAG_NAME=riscv64        # "Fedora CI - scratch build (riscv64)"
//! KOJI_RISCV_USERS, _KEYTAB, _PRINCIPAL, _CHANNEL, _PKGS_URL  # optional
//! ```

use std::path::PathBuf;

use url::Url;

use super::env::{ConfigError, Env};

/// One Koji hub: the primary one (`KOJI_*`) or an extra instance (`KOJI_<NAME>_*`).
#[derive(Debug, Clone)]
pub struct KojiConfig {
    /// XML-RPC endpoint, e.g. `https://koji.fedoraproject.org/kojihub`.
    pub hub_url: Url,
    /// Web UI base used for task links, e.g. `https://koji.fedoraproject.org/koji`.
    pub web_url: Url,
    /// The Koji user names our builds run as; tasks of anyone else are not ours.
    pub users: Vec<String>,
    /// Keytab for the Kerberos login; unset means anonymous (read-only) calls.
    pub keytab: Option<PathBuf>,
    pub principal: Option<String>,
    /// Koji channel for our scratch builds (`None` = the hub's default).
    pub channel: Option<String>,
    /// Where task logs are served (`<pkgs>/work/tasks/<id % 10000>/<id>/build.log`).
    pub pkgs_url: Url,
}

impl KojiConfig {
    /// The primary hub (`KOJI_*`).
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let users = env.list("KOJI_USERS");
        Ok(KojiConfig {
            hub_url: env.url("KOJI_HUB_URL", "https://koji.fedoraproject.org/kojihub")?,
            web_url: env.url("KOJI_WEB_URL", "https://koji.fedoraproject.org/koji")?,
            users: if users.is_empty() { vec!["packit".to_owned()] } else { users },
            keytab: env.opt("KOJI_KEYTAB").or_else(|| env.opt("KRB5_CLIENT_KTNAME")).map(PathBuf::from),
            principal: env.opt("KOJI_PRINCIPAL"),
            channel: env.opt("KOJI_CHANNEL"),
            pkgs_url: env.url("KOJI_PKGS_URL", "https://kojipkgs.fedoraproject.org")?,
        })
    }
}

/// The name of the main hub's builds (`koji_build_targets.koji_instance` default).
pub const PRIMARY: &str = "primary";

#[derive(Debug, Clone)]
pub struct KojiInstance {
    /// Lowercase letters and digits (`riscv`); the env variables use it uppercased.
    pub name: String,
    pub koji: KojiConfig,
    /// Prefix of this hub's Fedora Messaging topics (ends with `.`).
    pub topic_prefix: String,
    /// Primary build target → build target on this hub.
    pub targets: Vec<(String, String)>,
    /// Shown in the flag name: "scratch build (<label>)".
    pub flag_label: String,
}

impl KojiInstance {
    /// The CloudEvent type of this hub's task state changes.
    pub fn task_topic(&self) -> String {
        task_topic(&self.topic_prefix)
    }

    /// This hub's target for a primary build target, if it builds that one.
    pub fn target_for(&self, primary_target: &str) -> Option<&str> {
        self.targets.iter().find(|(p, _)| p == primary_target).map(|(_, t)| t.as_str())
    }
}

/// What follows `KOJI_<NAME>_` in an instance's variables.
pub const VARIABLE_SUFFIXES: [&str; 10] = [
    "HUB_URL",
    "WEB_URL",
    "TOPIC_PREFIX",
    "TARGETS",
    "USERS",
    "KEYTAB",
    "PRINCIPAL",
    "CHANNEL",
    "PKGS_URL",
    "FLAG_NAME",
];

/// Whether `name` is one of an instance's variables (`KOJI_RISCV_HUB_URL`), for
/// the deployment checks: these names are built at run time, not spelled out.
pub fn is_instance_variable(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("KOJI_") else { return false };
    VARIABLE_SUFFIXES.iter().any(|suffix| {
        rest.strip_suffix(suffix)
            .and_then(|n| n.strip_suffix('_'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    })
}

fn task_topic(prefix: &str) -> String {
    format!("{prefix}buildsys.task.state.change")
}

/// The task topics of the extra instances, read from the same variables the
/// functions read: what the bridge must subscribe to besides our own topics.
pub fn task_topics(env: &Env<'_>) -> Vec<String> {
    env.list("KOJI_INSTANCES")
        .iter()
        .filter_map(|name| env.opt(&format!("KOJI_{}_TOPIC_PREFIX", name.to_ascii_uppercase())))
        .map(|prefix| task_topic(&prefix))
        .collect()
}

/// The extra builds a primary build target brings: each instance that maps it,
/// with its own target name.
pub fn builds_for<'a>(
    instances: &'a [KojiInstance],
    primary_target: &'a str,
) -> impl Iterator<Item = (&'a KojiInstance, &'a str)> + 'a {
    instances.iter().filter_map(move |i| Some((i, i.target_for(primary_target)?)))
}

/// Reads `KOJI_INSTANCES` and each instance's variables; `primary` supplies the
/// defaults for users and the log base URL, `main_topic_prefix` must differ from
/// every instance's (messages are told apart by their topic).
pub fn from_env(
    env: &Env<'_>,
    primary: &KojiConfig,
    main_topic_prefix: &str,
) -> Result<Vec<KojiInstance>, ConfigError> {
    let mut instances: Vec<KojiInstance> = Vec::new();
    for name in env.list("KOJI_INSTANCES") {
        if name == PRIMARY || name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(ConfigError::new(
                "KOJI_INSTANCES",
                format!("'{name}' must be lowercase letters and digits, and not 'primary'"),
            ));
        }
        if instances.iter().any(|i| i.name == name) {
            return Err(ConfigError::new("KOJI_INSTANCES", format!("'{name}' is listed twice")));
        }
        let var = |suffix: &str| {
            debug_assert!(VARIABLE_SUFFIXES.contains(&suffix), "{suffix} missing from VARIABLE_SUFFIXES");
            format!("KOJI_{}_{suffix}", name.to_ascii_uppercase())
        };
        let required = |suffix: &str| {
            env.opt(&var(suffix))
                .ok_or_else(|| ConfigError::new(&var(suffix), format!("required for instance '{name}'")))
        };
        required("HUB_URL")?;
        required("WEB_URL")?;
        let topic_prefix = required("TOPIC_PREFIX")?;
        if !topic_prefix.ends_with('.') || topic_prefix == main_topic_prefix {
            return Err(ConfigError::new(
                &var("TOPIC_PREFIX"),
                format!("'{topic_prefix}' must end with '.' and differ from FEDORA_CI_TOPIC_PREFIX"),
            ));
        }
        let targets: Vec<(String, String)> = env
            .list(&var("TARGETS"))
            .iter()
            .map(|t| match t.split_once('=') {
                Some((p, i)) => (p.to_owned(), i.to_owned()),
                None => (t.clone(), t.clone()),
            })
            .collect();
        if targets.is_empty() || targets.iter().any(|(p, i)| p.is_empty() || i.is_empty()) {
            return Err(ConfigError::new(&var("TARGETS"), "a list of <primary target>[=<target on this hub>]"));
        }
        let users = env.list(&var("USERS"));
        let koji = KojiConfig {
            hub_url: env.url(&var("HUB_URL"), "")?,
            web_url: env.url(&var("WEB_URL"), "")?,
            users: if users.is_empty() { primary.users.clone() } else { users },
            keytab: env.opt(&var("KEYTAB")).map(PathBuf::from),
            principal: env.opt(&var("PRINCIPAL")),
            channel: env.opt(&var("CHANNEL")),
            pkgs_url: env.url(&var("PKGS_URL"), primary.pkgs_url.as_str())?,
        };
        let flag_label = env.string(&var("FLAG_NAME"), &name);
        instances.push(KojiInstance { name, koji, topic_prefix, targets, flag_label });
    }
    Ok(instances)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Config;

    fn load(vars: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.insert("DATABASE_URL".into(), "postgres://x@h/d".into());
        Config::from_source(&move |k: &str| map.get(k).cloned())
    }

    const RISCV: [(&str, &str); 6] = [
        ("KOJI_INSTANCES", "riscv"),
        ("KOJI_RISCV_HUB_URL", "https://riscv-koji.example/kojihub"),
        ("KOJI_RISCV_WEB_URL", "https://riscv-koji.example/koji"),
        ("KOJI_RISCV_TOPIC_PREFIX", "org.fedoraproject.prod.riscv."),
        ("KOJI_RISCV_TARGETS", "rawhide=f44 eln"),
        ("KOJI_RISCV_FLAG_NAME", "riscv64"),
    ];

    #[test]
    fn an_instance_with_its_own_hub_targets_and_label() {
        let c = load(&RISCV).unwrap();
        let i = c.koji_instance("riscv").unwrap();
        assert_eq!(i.koji.hub_url.as_str(), "https://riscv-koji.example/kojihub");
        assert_eq!(i.target_for("rawhide"), Some("f44"));
        assert_eq!(i.target_for("eln"), Some("eln"));
        assert_eq!(i.target_for("f43-candidate"), None);
        assert_eq!(i.flag_label, "riscv64");
        assert_eq!(i.koji.users, ["packit"]);
        assert_eq!(
            c.koji_instance_by_task_topic("org.fedoraproject.prod.riscv.buildsys.task.state.change").unwrap().name,
            "riscv"
        );
        assert!(c.koji_instance_by_task_topic("org.fedoraproject.prod.buildsys.task.state.change").is_none());
        assert!(load(&[]).unwrap().koji_instances.is_empty());
    }

    #[test]
    fn instance_variables_are_recognised() {
        for (name, _) in RISCV.iter().skip(1) {
            assert!(super::is_instance_variable(name), "{name}");
        }
        assert!(!super::is_instance_variable("KOJI_HUB_URL"));
        assert!(!super::is_instance_variable("KOJI_RISCV_HUB"));
        assert!(!super::is_instance_variable("KOJI__HUB_URL"));
    }

    #[test]
    fn mistakes_name_the_variable() {
        let without = |var: &str| RISCV.iter().copied().filter(|(k, _)| *k != var).collect::<Vec<_>>();
        assert_eq!(load(&without("KOJI_RISCV_HUB_URL")).unwrap_err().var, "KOJI_RISCV_HUB_URL");
        assert_eq!(load(&without("KOJI_RISCV_TARGETS")).unwrap_err().var, "KOJI_RISCV_TARGETS");
        let mut same_prefix = without("KOJI_RISCV_TOPIC_PREFIX");
        same_prefix.push(("KOJI_RISCV_TOPIC_PREFIX", "org.fedoraproject.prod."));
        assert_eq!(load(&same_prefix).unwrap_err().var, "KOJI_RISCV_TOPIC_PREFIX");
        assert_eq!(load(&[("KOJI_INSTANCES", "primary")]).unwrap_err().var, "KOJI_INSTANCES");
        assert_eq!(load(&[("KOJI_INSTANCES", "RISC-V")]).unwrap_err().var, "KOJI_INSTANCES");
    }
}
