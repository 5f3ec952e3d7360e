//! Settings from environment variables and mounted secret files.
//!
//! Everything is read once at start into one typed struct and validated there, so a
//! bad deployment fails fast with one line naming the variable instead of failing on
//! the first event. Secrets can be given as `NAME` or as `NAME_FILE` (a path to a
//! mounted Kubernetes secret); they are held as [`Secret`] so they never print.

use std::collections::BTreeSet;
use std::time::Duration;

use url::Url;

pub mod amqp;
pub mod env;
pub mod forge;
pub mod koji;
pub mod secret;

pub use env::{ConfigError, Env, ProcessEnv, Source};
pub use forge::{Forge, ForgejoConfig};
pub use koji::KojiConfig;

use amqp::AmqpSettings;
use koji::KojiInstance;
use secret::Secret;

/// The HTTP listener; every function has one, including the bridge (for health).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Knative sets `PORT`; 8080 is its default too.
    pub port: u16,
}

impl ServerConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env(source);
        let port = env.parsed("PORT", 8080u16, "a port number (0-65535)")?;
        Ok(Self { port })
    }
}

/// Where errors and spans go; both optional, and unset means nothing is sent
/// (see `telemetry`). Every function and the bridge read the same variables.
#[derive(Debug, Clone, Default)]
pub struct TelemetryConfig {
    /// Sentry DSN (a secret: it holds the project key).
    pub sentry_dsn: Option<Secret>,
    /// OTLP/HTTP collector base URL; the exporter reads the standard
    /// `OTEL_EXPORTER_OTLP_*` variables itself, this says whether to start it.
    pub otlp_endpoint: Option<Url>,
}

impl TelemetryConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env(source);
        let otlp_endpoint = match env.opt("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(_) => Some(env.url("OTEL_EXPORTER_OTLP_ENDPOINT", "")?),
            None => None,
        };
        // An empty DSN disables Sentry, as in Sentry's own SDKs: the secret may
        // exist with an empty value where there is no Sentry project.
        let sentry_dsn = env.secret("SENTRY_DSN")?.filter(|dsn| !dsn.expose().trim().is_empty());
        Ok(Self { sentry_dsn, otlp_endpoint })
    }
}

/// `prod` or `stg`: decides the default topic prefix, comment prefix and the names
/// used in Fedora CI messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    Prod,
    Stg,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Prod => "prod",
            Deployment::Stg => "stg",
        }
    }
}

/// Which dist-git projects get Fedora CI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectPolicy {
    /// Every project under `rpms/` and `tests/` except the listed ones (production).
    OptOut { deny: BTreeSet<String> },
    /// Only the listed projects (a staging deployment, or a careful roll-out).
    OptIn { allow: BTreeSet<String> },
}

/// Log Detective analyses failed builds; it can be switched off globally and denied
/// per project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDetective {
    pub enabled: bool,
    pub deny: BTreeSet<String>,
    /// The Log Detective interface server for Packit (fedora-copr/logdetective-packit);
    /// requests go to `<url>/analyze`.
    pub url: Url,
    /// Its bearer token (`LD_PACKIT_TOKEN` on the server's side). Only the functions
    /// that send requests (koji-finished, result-poller) are given it; without it
    /// the server refuses (403) and the analysis' flag says so.
    pub token: Option<Secret>,
    /// How long a requested analysis may go without a result message before its
    /// flag ends neutral (the interface server has no endpoint to ask for it).
    pub result_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TestingFarmConfig {
    pub api_url: Url,
    pub api_key: Option<Secret>,
    /// Accepted webhook tokens: the current one and, during a rotation or for the
    /// internal Testing Farm, a second one.
    pub webhook_secrets: Vec<Secret>,
    /// Base of the artifacts pages (`<base>/<request id>`).
    pub artifacts_url: Url,
    /// Where Testing Farm calls us back (tf-finished's public route); its own host
    /// in the cluster, since the public URL belongs to the api.
    pub webhook_url: Url,
}

/// Retry and timeout policy shared by the submitters and the poller.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Delay before each retry; the length is the number of retries.
    pub backoff: Vec<Duration>,
    /// How long a Koji task or TF request may stay unfinished before we give up.
    pub job_timeout: Duration,
    /// How old an unfinished row must be before the poller asks upstream about it.
    pub poll_grace: Duration,
}

/// Everything a function that touches the database and the outside world needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database_url: Secret,
    pub database_max_connections: u32,
    /// The whole-request limit of every call to Koji, Pagure, Testing Farm and
    /// FASJSON: a hung upstream costs an event this long, then a 503 (redelivery)
    /// or a retry row. Must stay well under the Knative revision timeout.
    pub upstream_timeout: Duration,
    pub deployment: Deployment,
    /// `org.fedoraproject.prod.` or `org.fedoraproject.stg.`; CloudEvent types are
    /// Fedora Messaging topics with this prefix.
    pub topic_prefix: String,
    /// `/packit-ci` in production, `/packit-ci-stg` in staging.
    pub comment_prefix: String,
    pub policy: ProjectPolicy,
    pub eln_deny: BTreeSet<String>,
    pub log_detective: LogDetective,
    /// dist-git (Pagure) base URL, also the base of the Pagure API.
    pub distgit_url: Url,
    pub pagure_token: Option<Secret>,
    /// Forgejo dist-git (forge.fedoraproject.org), see [`forge`].
    pub forgejo: ForgejoConfig,
    /// Our own Pagure user: its comments are never treated as commands.
    pub bot_user: String,
    pub fasjson_url: Url,
    pub koji: KojiConfig,
    /// Extra Koji hubs (`KOJI_INSTANCES`), see [`crate::config::koji`].
    pub koji_instances: Vec<KojiInstance>,
    pub testing_farm: TestingFarmConfig,
    /// Public base URL of this service (status page, TF webhook).
    pub public_url: Url,
    /// The Packit dashboard's origin (`https://host[:port]`): the one origin whose
    /// pages may read the api's JSON cross-origin.
    pub dashboard_origin: String,
    pub retry: RetryConfig,
    /// Cancel the running scratch builds of a PR's older commits when it is updated.
    pub cancel_superseded: bool,
    /// Plain-text package lists of ELN (one source package name per line).
    pub eln_list_urls: Vec<Url>,
    /// Linked from the help comment and the Fedora CI messages.
    pub docs_url: Url,
    /// Broker for publishing Fedora CI messages (`AMQP_URL` and its TLS files, see
    /// [`crate::config::amqp`]); unset = no messages.
    pub amqp: Option<AmqpSettings>,
    pub messages_exchange: String,
    pub telemetry: TelemetryConfig,
}

impl Config {
    /// Every secret value this function holds, for scrubbing what leaves the
    /// process (Sentry events).
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = vec![self.database_url.clone()];
        out.extend(self.pagure_token.clone());
        out.extend(self.forgejo.token.clone());
        out.extend(self.testing_farm.api_key.clone());
        out.extend(self.testing_farm.webhook_secrets.iter().cloned());
        out.extend(self.amqp.as_ref().map(|a| a.url.clone()));
        out.extend(self.telemetry.sentry_dsn.clone());
        out.extend(self.log_detective.token.clone());
        out
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env(source);
        let server = ServerConfig::from_source(source)?;
        let (database_url, database_max_connections) = database(&env)?;
        let upstream_timeout = env.duration_secs("FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", Duration::from_secs(30))?;
        if !(1..=600).contains(&upstream_timeout.as_secs()) {
            return Err(ConfigError::new("FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", "must be between 1 and 600"));
        }
        let (deployment, topic_prefix) = deployment_and_topic_prefix(source)?;
        let comment_prefix = comment_prefix(&env, deployment)?;
        let distgit_url = env.url("DISTGIT_URL", "https://src.fedoraproject.org")?;
        let policy = ProjectPolicy::from_env(&env, &distgit_url)?;
        let eln_deny = project_set(&env, &distgit_url, "FEDORA_CI_ELN_DENY_LIST")?;
        let log_detective = LogDetective::from_env(&env, &distgit_url)?;
        let koji = KojiConfig::from_env(&env)?;
        let koji_instances = koji::from_env(&env, &koji, &topic_prefix)?;
        let testing_farm = TestingFarmConfig::from_env(&env)?;
        let retry = RetryConfig::from_env(&env)?;
        let eln_list_urls = eln_list_urls(&env)?;
        Ok(Self {
            cancel_superseded: env.bool("FEDORA_CI_CANCEL_SUPERSEDED", true)?,
            eln_list_urls,
            docs_url: env.url("FEDORA_CI_DOCS_URL", "https://packit.dev/docs/fedora-ci")?,
            amqp: AmqpSettings::from_source(source)?,
            messages_exchange: env.string("FEDORA_CI_MESSAGES_EXCHANGE", "amq.topic"),
            telemetry: TelemetryConfig::from_source(source)?,
            server,
            database_url,
            database_max_connections,
            upstream_timeout,
            deployment,
            topic_prefix,
            comment_prefix,
            policy,
            eln_deny,
            log_detective,
            pagure_token: env.secret("PAGURE_TOKEN")?,
            forgejo: ForgejoConfig::from_env(&env)?,
            bot_user: env.string("FEDORA_CI_BOT_USER", "packit-ci"),
            fasjson_url: env.url("FASJSON_URL", "https://fasjson.fedoraproject.org")?,
            public_url: env.url("FEDORA_CI_PUBLIC_URL", "https://prod.fedora-ci.packit.dev")?,
            dashboard_origin: env
                .url("FEDORA_CI_DASHBOARD_ORIGIN", "https://dashboard.packit.dev")?
                .origin()
                .ascii_serialization(),
            distgit_url,
            koji,
            koji_instances,
            testing_farm,
            retry,
        })
    }

    /// The forge's own base URL: its web pages (and its API under it).
    pub fn forge_url(&self, forge: Forge) -> &Url {
        match forge {
            Forge::Pagure => &self.distgit_url,
            Forge::Forgejo => &self.forgejo.url,
        }
    }

    /// The base of the git URLs Koji and Testing Farm clone from the forge.
    pub fn forge_git_url(&self, forge: Forge) -> &Url {
        match forge {
            Forge::Pagure => &self.distgit_url,
            Forge::Forgejo => &self.forgejo.git_url,
        }
    }

    pub fn koji_instance(&self, name: &str) -> Option<&KojiInstance> {
        self.koji_instances.iter().find(|i| i.name == name)
    }

    /// The extra instance whose `buildsys.task.state.change` this event type is.
    pub fn koji_instance_by_task_topic(&self, event_type: &str) -> Option<&KojiInstance> {
        self.koji_instances.iter().find(|i| i.task_topic() == event_type)
    }

    /// The Koji users of an instance (`primary` or an extra one).
    pub fn koji_users(&self, instance: &str) -> &[String] {
        match self.koji_instance(instance) {
            Some(i) => &i.koji.users,
            None => &self.koji.users,
        }
    }
}

/// `FEDORA_CI_DEPLOYMENT` and the topic prefix it implies (unless
/// `FEDORA_CI_TOPIC_PREFIX` overrides it); the bridge subscribes with the same rule
/// the functions classify with, so the two cannot drift apart.
pub fn deployment_and_topic_prefix(source: &dyn Source) -> Result<(Deployment, String), ConfigError> {
    let env = Env(source);
    let deployment = match env.string("FEDORA_CI_DEPLOYMENT", "prod").as_str() {
        "prod" => Deployment::Prod,
        "stg" => Deployment::Stg,
        other => return Err(ConfigError::new("FEDORA_CI_DEPLOYMENT", format!("'{other}' is not prod or stg"))),
    };
    let topic_prefix = env.string("FEDORA_CI_TOPIC_PREFIX", &format!("org.fedoraproject.{}.", deployment.as_str()));
    if !topic_prefix.ends_with('.') {
        return Err(ConfigError::new("FEDORA_CI_TOPIC_PREFIX", format!("'{topic_prefix}' must end with '.'")));
    }
    Ok((deployment, topic_prefix))
}

/// Lists may name a project as `rpms/foo` or as its full dist-git URL; both mean
/// the same project, so store the short form.
fn normalize_project(distgit: &Url, raw: &str) -> Result<String, String> {
    let base = distgit.as_str().trim_end_matches('/');
    let short = raw.strip_prefix(base).map(|s| s.trim_start_matches('/')).unwrap_or(raw).trim_end_matches('/');
    let mut parts = short.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(ns), Some(repo), None) if !ns.is_empty() && !repo.is_empty() => Ok(format!("{ns}/{repo}")),
        _ => Err(format!("'{raw}' is not a project (expected <namespace>/<repo> or its dist-git URL)")),
    }
}

/// `DATABASE_URL` (a secret: it may hold a password) and the pool size.
fn database(env: &Env<'_>) -> Result<(Secret, u32), ConfigError> {
    let url = env.required_secret("DATABASE_URL")?;
    if !(url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://")) {
        // The value may hold a password: describe the problem, never echo it.
        return Err(ConfigError::new("DATABASE_URL", "must be a postgres:// or postgresql:// URL"));
    }
    let max_connections = env.parsed("DATABASE_MAX_CONNECTIONS", 4u32, "a positive number")?;
    if max_connections == 0 {
        return Err(ConfigError::new("DATABASE_MAX_CONNECTIONS", "must be at least 1"));
    }
    Ok((url, max_connections))
}

/// `/packit-ci` in production, `/packit-ci-stg` in staging, unless set.
fn comment_prefix(env: &Env<'_>, deployment: Deployment) -> Result<String, ConfigError> {
    let default = match deployment {
        Deployment::Prod => "/packit-ci",
        Deployment::Stg => "/packit-ci-stg",
    };
    let prefix = env.string("FEDORA_CI_COMMENT_PREFIX", default);
    if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            "FEDORA_CI_COMMENT_PREFIX",
            format!("'{prefix}' must start with '/' and contain no spaces"),
        ));
    }
    Ok(prefix)
}

/// A list of projects (`rpms/foo`, or their dist-git URLs) in `var`.
fn project_set(env: &Env<'_>, distgit_url: &Url, var: &str) -> Result<BTreeSet<String>, ConfigError> {
    env.list(var).iter().map(|p| normalize_project(distgit_url, p).map_err(|r| ConfigError::new(var, r))).collect()
}

impl ProjectPolicy {
    fn from_env(env: &Env<'_>, distgit_url: &Url) -> Result<Self, ConfigError> {
        match env.string("FEDORA_CI_POLICY", "opt-out").as_str() {
            "opt-out" => Ok(ProjectPolicy::OptOut { deny: project_set(env, distgit_url, "FEDORA_CI_DENY_LIST")? }),
            "opt-in" => Ok(ProjectPolicy::OptIn { allow: project_set(env, distgit_url, "FEDORA_CI_ALLOW_LIST")? }),
            other => Err(ConfigError::new("FEDORA_CI_POLICY", format!("'{other}' is not opt-out or opt-in"))),
        }
    }
}

impl LogDetective {
    fn from_env(env: &Env<'_>, distgit_url: &Url) -> Result<Self, ConfigError> {
        let log_detective = LogDetective {
            enabled: env.bool("FEDORA_CI_LOG_DETECTIVE", false)?,
            deny: project_set(env, distgit_url, "FEDORA_CI_LOG_DETECTIVE_DENY_LIST")?,
            // packit-service's LOGDETECTIVE_PACKIT_SERVER_URL (constants.py).
            url: env.url("FEDORA_CI_LOG_DETECTIVE_URL", "https://logdetective01.fedorainfracloud.org")?,
            token: env.secret("LOG_DETECTIVE_TOKEN")?,
            result_timeout: env.duration_secs("FEDORA_CI_LOG_DETECTIVE_TIMEOUT_SECONDS", Duration::from_secs(3600))?,
        };
        if log_detective.result_timeout.is_zero() {
            return Err(ConfigError::new("FEDORA_CI_LOG_DETECTIVE_TIMEOUT_SECONDS", "must be at least 1"));
        }
        Ok(log_detective)
    }
}

impl TestingFarmConfig {
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let mut webhook_secrets = Vec::new();
        webhook_secrets.extend(env.secret("TESTING_FARM_WEBHOOK_SECRET")?);
        webhook_secrets.extend(env.secret("TESTING_FARM_WEBHOOK_SECRET_SECONDARY")?);
        let public = env.string("FEDORA_CI_PUBLIC_URL", "https://prod.fedora-ci.packit.dev");
        let webhook_default = format!("{}/testing-farm/results", public.trim_end_matches('/'));
        Ok(TestingFarmConfig {
            api_url: env.url("TESTING_FARM_API_URL", "https://api.testing-farm.io/v0.1")?,
            api_key: env.secret("TESTING_FARM_API_KEY")?,
            webhook_secrets,
            artifacts_url: env.url("TESTING_FARM_ARTIFACTS_URL", "https://artifacts.dev.testing-farm.io")?,
            webhook_url: env.url("FEDORA_CI_WEBHOOK_URL", &webhook_default)?,
        })
    }
}

impl RetryConfig {
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let backoff_minutes = env.list("FEDORA_CI_RETRY_BACKOFF_MINUTES");
        let backoff = if backoff_minutes.is_empty() {
            [1, 2, 4, 8, 16].map(|m| Duration::from_secs(m * 60)).to_vec()
        } else {
            backoff_minutes
                .iter()
                .map(|m| {
                    m.parse::<u64>().map(|m| Duration::from_secs(m * 60)).map_err(|_| {
                        ConfigError::new("FEDORA_CI_RETRY_BACKOFF_MINUTES", format!("'{m}' is not a number of minutes"))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        Ok(RetryConfig {
            backoff,
            job_timeout: env.duration_secs("FEDORA_CI_JOB_TIMEOUT_SECONDS", Duration::from_secs(7 * 24 * 3600))?,
            poll_grace: env.duration_secs("FEDORA_CI_POLL_GRACE_SECONDS", Duration::from_secs(600))?,
        })
    }
}

/// The ELN package lists (plain text, one source package per line).
fn eln_list_urls(env: &Env<'_>) -> Result<Vec<Url>, ConfigError> {
    let raw = env.list("FEDORA_CI_ELN_LIST_URLS");
    let raw = if raw.is_empty() {
        vec![
            "https://tiny.distro.builders/view-all-source-package-name-list--view-eln.txt".to_owned(),
            "https://tiny.distro.builders/view-all-source-package-name-list--view-eln-extras.txt".to_owned(),
        ]
    } else {
        raw
    };
    raw.iter()
        .map(|u| {
            Url::parse(u).map_err(|e| ConfigError::new("FEDORA_CI_ELN_LIST_URLS", format!("'{u}' is not a URL: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_source(&move |k: &str| map.get(k).cloned())
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://ci:pw@db/ci");

    #[test]
    fn production_defaults() {
        let c = load(&[DB]).unwrap();
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.topic_prefix, "org.fedoraproject.prod.");
        assert_eq!(c.comment_prefix, "/packit-ci");
        assert_eq!(c.policy, ProjectPolicy::OptOut { deny: BTreeSet::new() });
        assert_eq!(c.retry.backoff.iter().map(|d| d.as_secs() / 60).collect::<Vec<_>>(), [1, 2, 4, 8, 16]);
        assert_eq!(c.retry.job_timeout, Duration::from_secs(604_800));
    }

    #[test]
    fn upstream_timeout_is_bounded() {
        assert_eq!(load(&[DB]).unwrap().upstream_timeout, Duration::from_secs(30));
        let c = load(&[DB, ("FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", "5")]).unwrap();
        assert_eq!(c.upstream_timeout, Duration::from_secs(5));
        for bad in ["0", "601", "soon"] {
            let err = load(&[DB, ("FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", bad)]).unwrap_err();
            assert_eq!(err.var, "FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS", "{bad}");
        }
    }

    #[test]
    fn staging_changes_topic_and_comment_prefix() {
        let c = load(&[DB, ("FEDORA_CI_DEPLOYMENT", "stg")]).unwrap();
        assert_eq!(c.topic_prefix, "org.fedoraproject.stg.");
        assert_eq!(c.comment_prefix, "/packit-ci-stg");
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let err = load(&[]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert_eq!(err.to_string().lines().count(), 1);
    }

    #[test]
    fn bad_port_names_the_variable() {
        let err = load(&[DB, ("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.var, "PORT");
        let err = load(&[DB, ("PORT", "70000")]).unwrap_err();
        assert_eq!(err.var, "PORT");
    }

    #[test]
    fn bad_database_url_does_not_echo_the_password() {
        let err = load(&[("DATABASE_URL", "mysql://u:sup3rsecret@db")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("sup3rsecret"));
    }

    #[test]
    fn deny_lists_accept_short_names_and_urls() {
        let c =
            load(&[DB, ("FEDORA_CI_DENY_LIST", "rpms/kernel, https://src.fedoraproject.org/rpms/glibc/\ntests/foo")])
                .unwrap();
        let ProjectPolicy::OptOut { deny } = c.policy else { panic!("opt-out expected") };
        assert_eq!(deny.into_iter().collect::<Vec<_>>(), ["rpms/glibc", "rpms/kernel", "tests/foo"]);
        let err = load(&[DB, ("FEDORA_CI_ELN_DENY_LIST", "kernel")]).unwrap_err();
        assert_eq!(err.var, "FEDORA_CI_ELN_DENY_LIST");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = std::env::temp_dir().join(format!("fci-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "pagure-token-value\n").unwrap();
        let c = load(&[DB, ("PAGURE_TOKEN_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(c.pagure_token.as_ref().unwrap().expose(), "pagure-token-value");
        let printed = format!("{c:?}");
        assert!(!printed.contains("pagure-token-value"));
        assert!(!printed.contains("postgres://ci:pw"));

        let err = load(&[DB, ("PAGURE_TOKEN", "x"), ("PAGURE_TOKEN_FILE", path.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.var, "PAGURE_TOKEN");
        let err = load(&[DB, ("PAGURE_TOKEN_FILE", "/nonexistent/token")]).unwrap_err();
        assert_eq!(err.var, "PAGURE_TOKEN_FILE");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dashboard_origin_is_an_origin() {
        assert_eq!(load(&[DB]).unwrap().dashboard_origin, "https://dashboard.packit.dev");
        let c = load(&[DB, ("FEDORA_CI_DASHBOARD_ORIGIN", "https://dashboard.stg.packit.dev/jobs/")]).unwrap();
        assert_eq!(c.dashboard_origin, "https://dashboard.stg.packit.dev");
        assert_eq!(
            load(&[DB, ("FEDORA_CI_DASHBOARD_ORIGIN", "dashboard")]).unwrap_err().var,
            "FEDORA_CI_DASHBOARD_ORIGIN"
        );
    }

    #[test]
    fn opt_in_policy_and_bad_values() {
        let c = load(&[DB, ("FEDORA_CI_POLICY", "opt-in"), ("FEDORA_CI_ALLOW_LIST", "rpms/hello")]).unwrap();
        assert_eq!(c.policy, ProjectPolicy::OptIn { allow: ["rpms/hello".to_owned()].into() });
        assert_eq!(load(&[DB, ("FEDORA_CI_POLICY", "sometimes")]).unwrap_err().var, "FEDORA_CI_POLICY");
        assert_eq!(load(&[DB, ("FEDORA_CI_LOG_DETECTIVE", "maybe")]).unwrap_err().var, "FEDORA_CI_LOG_DETECTIVE");
        let c = load(&[DB, ("FEDORA_CI_LOG_DETECTIVE", "true"), ("LOG_DETECTIVE_TOKEN", "t0ken")]).unwrap();
        assert!(c.log_detective.enabled && c.log_detective.url.as_str().starts_with("https://logdetective01."));
        assert!(!format!("{c:?}").contains("t0ken"));
        assert_eq!(load(&[DB, ("KOJI_HUB_URL", "not a url")]).unwrap_err().var, "KOJI_HUB_URL");
        assert_eq!(load(&[DB, ("FEDORA_CI_TOPIC_PREFIX", "org.x")]).unwrap_err().var, "FEDORA_CI_TOPIC_PREFIX");
    }
}
