//! The bridge's settings, read once at start and validated there, so a bad
//! deployment fails with one line naming the variable instead of on the first
//! message. The broker connection settings (URL, TLS files, redaction) are the
//! shared [`fedora_ci::config::amqp`] ones, the same the publishing functions use.

use std::time::Duration;

use fedora_ci::config::amqp::AmqpSettings;
use fedora_ci::config::{ConfigError, Env, ProcessEnv, ServerConfig, Source, TelemetryConfig};
use url::Url;

use crate::mapping::Promotions;

/// The exchange Fedora Messaging publishes on.
pub const EXCHANGE: &str = "amq.topic";

/// The topics (after the deployment prefix) Fedora CI acts on: what the functions
/// behind the Broker handle, and nothing else, so the rest of the bus never costs a
/// message here.
pub const DEFAULT_TOPIC_SUFFIXES: [&str; 10] = [
    "pagure.pull-request.new",
    "pagure.pull-request.updated",
    "pagure.pull-request.rebased",
    "pagure.pull-request.comment.added",
    "pagure.pull-request.closed",
    "pagure.pull-request.reopened",
    "buildsys.task.state.change",
    // Log Detective's results (fedora-copr/logdetective-packit).
    "logdetective.analysis",
    // Fedora dist-git on Forgejo (forge.fedoraproject.org): the webhook payloads.
    "forgejo.pull_request",
    "forgejo.issue_comment",
];

/// The Koji task owner and method let a Trigger pass only our own builds (the
/// build topic has an owner but no method); the namespace lets it pass only
/// `rpms/` (and `tests/`) pull requests, and the owner organisation only
/// Forgejo's `rpms` and `tests` ones; the build system of a Log Detective
/// result lets it pass only Koji's (Copr's are packit-service's).
pub const DEFAULT_PROMOTE: &str = "buildsys.task.state.change:kojiowner=owner,kojimethod=method;\
                                   buildsys.build.state.change:kojiowner=owner;\
                                   pagure.pull-request.*:pagurenamespace=pullrequest.project.namespace;\
                                   forgejo.*:forgejoowner=repository.owner.login;\
                                   logdetective.analysis:ldbuildsystem=build_system";

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub server: ServerConfig,
    /// The broker and how to reach it; `amqp.source` (no credentials) is the
    /// CloudEvent `source` and the only form of the URL that may be logged.
    pub amqp: AmqpSettings,
    pub queue: String,
    pub dead_letter_queue: String,
    /// The routing key dead letters are published under on `amq.topic`, where
    /// only the dead-letter queue is bound to it (Fedora's broker lets an
    /// application write to `amq.topic`, not to the default exchange).
    pub dead_letter_key: String,
    /// Whether the bridge creates its queues and bindings or only checks that
    /// they exist (Fedora's broker gives applications no configure permission).
    pub declare: Declare,
    /// Binding keys on `amq.topic` (AMQP topic patterns).
    pub topics: Vec<String>,
    pub prefetch: u16,
    pub promotions: Promotions,
    /// `K_SINK`: where CloudEvents go (the Knative Broker).
    pub sink: Url,
    pub sink_timeout: Duration,
    pub retry: Backoff,
    /// Sentry and OTLP, read like every function's.
    pub telemetry: TelemetryConfig,
}

/// `FEDMSG_BRIDGE_DECLARE`: who creates the queues and bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declare {
    /// The default, for Fedora's broker: the queues must exist (the ansible
    /// playbook's `rabbit/queue` roles create them and their bindings); the
    /// bridge only declares them passively and binds nothing, which needs no
    /// configure permission.
    Passive,
    /// For a broker of our own (`make run`, the tests): declare both queues
    /// durable and bind them to `amq.topic`.
    Create,
}

/// Exponential backoff between attempts (sink retries, broker reconnects): the
/// first delay, doubled each time up to the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delays(self) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(self.initial), move |d| Some(d.saturating_mul(2).min(self.max)))
    }
}

impl BridgeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env(source);
        let server = ServerConfig::from_source(source)?;
        let amqp = AmqpSettings::required(source)?;
        let queues = Queues::from_env(&env)?;
        let topics = topics(source, &env, &queues.dead_letter_key)?;
        let prefetch = env.parsed("FEDMSG_BRIDGE_PREFETCH", 32u16, "a number of messages (1-65535)")?;
        if prefetch == 0 {
            // 0 means "unlimited" to the broker: the opposite of bounded.
            return Err(ConfigError::new("FEDMSG_BRIDGE_PREFETCH", "must be at least 1"));
        }
        let promotions = match env.opt("FEDMSG_BRIDGE_PROMOTE").as_deref() {
            None => Promotions::parse(DEFAULT_PROMOTE).expect("the default promotion table parses"),
            Some("none") => Promotions::default(),
            Some(spec) => Promotions::parse(spec).map_err(|r| ConfigError::new("FEDMSG_BRIDGE_PROMOTE", r))?,
        };
        let (sink, sink_timeout, retry) = sink(&env)?;
        Ok(Self {
            server,
            amqp,
            queue: queues.queue,
            dead_letter_queue: queues.dead_letter_queue,
            dead_letter_key: queues.dead_letter_key,
            declare: queues.declare,
            topics,
            prefetch,
            promotions,
            sink,
            sink_timeout,
            retry,
            telemetry: TelemetryConfig::from_source(source)?,
        })
    }
}

/// The queue, its dead-letter queue and key, and whether we declare them.
struct Queues {
    queue: String,
    dead_letter_queue: String,
    dead_letter_key: String,
    declare: Declare,
}

impl Queues {
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let queue = env.opt("FEDORA_MESSAGING_QUEUE").ok_or_else(|| {
            ConfigError::new(
                "FEDORA_MESSAGING_QUEUE",
                "required: the durable queue of this deployment (Fedora's public broker wants a UUID, e.g. from uuidgen)",
            )
        })?;
        check_queue_name("FEDORA_MESSAGING_QUEUE", &queue)?;
        let dead_letter_queue = env.string("FEDMSG_BRIDGE_DLQ", &format!("{queue}.dlq"));
        check_queue_name("FEDMSG_BRIDGE_DLQ", &dead_letter_queue)?;
        if dead_letter_queue == queue {
            return Err(ConfigError::new("FEDMSG_BRIDGE_DLQ", "must differ from FEDORA_MESSAGING_QUEUE"));
        }
        let dead_letter_key = env.string("FEDMSG_BRIDGE_DLQ_ROUTING_KEY", &dead_letter_queue);
        if dead_letter_key.is_empty() || dead_letter_key.len() > 255 || dead_letter_key.contains(['*', '#']) {
            return Err(ConfigError::new(
                "FEDMSG_BRIDGE_DLQ_ROUTING_KEY",
                "must be a routing key of 1-255 bytes without '*' or '#'",
            ));
        }
        let declare = match env.string("FEDMSG_BRIDGE_DECLARE", "passive").as_str() {
            "passive" => Declare::Passive,
            "create" => Declare::Create,
            other => {
                return Err(ConfigError::new(
                    "FEDMSG_BRIDGE_DECLARE",
                    format!("'{other}' is neither 'passive' (the queues exist) nor 'create'"),
                ));
            }
        };
        Ok(Self { queue, dead_letter_queue, dead_letter_key, declare })
    }
}

/// The topics to bind: the configured list, or our defaults under the
/// deployment's prefix plus the extra Koji hubs' task topics.
fn topics(source: &dyn Source, env: &Env<'_>, dead_letter_key: &str) -> Result<Vec<String>, ConfigError> {
    let (_, prefix) = fedora_ci::config::deployment_and_topic_prefix(source)?;
    let mut topics = env.list("FEDMSG_BRIDGE_TOPICS");
    if topics.is_empty() {
        topics = DEFAULT_TOPIC_SUFFIXES.iter().map(|s| format!("{prefix}{s}")).collect();
        // Extra Koji hubs announce their tasks under their own prefix.
        topics.extend(fedora_ci::config::koji::task_topics(env));
    }
    if let Some(t) = topics.iter().find(|t| t.len() > 255) {
        return Err(ConfigError::new("FEDMSG_BRIDGE_TOPICS", format!("'{t}' is longer than 255 bytes")));
    }
    // A dead letter our own queue took back would come round for ever.
    if let Some(t) = topics.iter().find(|t| topic_matches(t, dead_letter_key)) {
        return Err(ConfigError::new(
            "FEDMSG_BRIDGE_TOPICS",
            format!("'{t}' matches the dead-letter routing key '{dead_letter_key}'"),
        ));
    }
    Ok(topics)
}

/// Where CloudEvents go (`K_SINK`), how long a post may take, and the backoff
/// between tries.
fn sink(env: &Env<'_>) -> Result<(Url, Duration, Backoff), ConfigError> {
    let sink_raw = env.opt("K_SINK").ok_or_else(|| {
        ConfigError::new("K_SINK", "required: the URL CloudEvents are posted to (set by a Knative SinkBinding)")
    })?;
    let sink = Url::parse(&sink_raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ConfigError::new("K_SINK", format!("'{sink_raw}' is not an http(s) URL")))?;
    let sink_timeout = env.duration_secs("FEDMSG_BRIDGE_SINK_TIMEOUT_SECONDS", Duration::from_secs(10))?;
    if sink_timeout.is_zero() {
        return Err(ConfigError::new("FEDMSG_BRIDGE_SINK_TIMEOUT_SECONDS", "must be at least 1"));
    }
    let initial =
        Duration::from_millis(env.parsed("FEDMSG_BRIDGE_RETRY_INITIAL_MS", 500u64, "a number of milliseconds")?);
    let max = env.duration_secs("FEDMSG_BRIDGE_RETRY_MAX_SECONDS", Duration::from_secs(60))?;
    if initial.is_zero() {
        return Err(ConfigError::new("FEDMSG_BRIDGE_RETRY_INITIAL_MS", "must be at least 1"));
    }
    if max < initial {
        return Err(ConfigError::new(
            "FEDMSG_BRIDGE_RETRY_MAX_SECONDS",
            "must not be below FEDMSG_BRIDGE_RETRY_INITIAL_MS",
        ));
    }
    Ok((sink, sink_timeout, Backoff { initial, max }))
}

/// Whether the AMQP topic binding `pattern` matches routing key `key`: words
/// split at `.`, `*` stands for exactly one word, `#` for zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
            Some((&w, rest)) => k.split_first().is_some_and(|(&kw, krest)| (w == "*" || w == kw) && go(rest, krest)),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

fn check_queue_name(var: &str, name: &str) -> Result<(), ConfigError> {
    if name.len() > 255 {
        return Err(ConfigError::new(var, "longer than 255 bytes"));
    }
    if name.starts_with("amq.") {
        return Err(ConfigError::new(var, "names starting with 'amq.' are reserved by the broker"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<BridgeConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        BridgeConfig::from_source(&move |k: &str| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("AMQP_URL", "amqp://bridge:s3cr3t-pw@broker.example:5673/%2Ffedora?heartbeat=30"),
        ("FEDORA_MESSAGING_QUEUE", "0b2f5d4e-queue"),
        ("K_SINK", "http://broker-ingress.knative-eventing.svc/fedora-ci/default"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = BASE.to_vec();
        v.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn defaults_follow_the_issue() {
        let c = load(&BASE).unwrap();
        assert_eq!(c.amqp.source, "amqp://broker.example:5673/%2Ffedora");
        assert_eq!(c.dead_letter_queue, "0b2f5d4e-queue.dlq");
        assert_eq!(c.dead_letter_key, "0b2f5d4e-queue.dlq");
        assert_eq!(c.declare, Declare::Passive, "Fedora's broker: the queues exist, nothing is configured");
        assert_eq!(c.prefetch, 32);
        assert_eq!(c.topics[0], "org.fedoraproject.prod.pagure.pull-request.new");
        assert_eq!(
            c.topics.len(),
            10,
            "pull-request new, updated, rebased, comment.added, closed, reopened; Koji tasks; Log Detective; Forgejo"
        );
        assert!(c.topics.contains(&"org.fedoraproject.prod.logdetective.analysis".to_owned()));
        assert!(c.topics.contains(&"org.fedoraproject.prod.forgejo.pull_request".to_owned()));
        assert!(c.topics.contains(&"org.fedoraproject.prod.forgejo.issue_comment".to_owned()));
        assert!(c.topics.contains(&"org.fedoraproject.prod.buildsys.task.state.change".to_owned()));
        assert_eq!(c.retry, Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(60) });
        assert_eq!(c.promotions.len(), 5);
    }

    #[test]
    fn topic_prefix_and_topic_list_are_configurable() {
        let c = load(&with(&[("FEDORA_CI_TOPIC_PREFIX", "org.example.test.")])).unwrap();
        assert!(c.topics.iter().all(|t| t.starts_with("org.example.test.")));
        let c = load(&with(&[("FEDORA_CI_DEPLOYMENT", "stg")])).unwrap();
        assert!(c.topics.iter().all(|t| t.starts_with("org.fedoraproject.stg.")));
        let c = load(&with(&[("FEDMSG_BRIDGE_TOPICS", "a.b.c, x.#")])).unwrap();
        assert_eq!(c.topics, ["a.b.c", "x.#"]);
    }

    #[test]
    fn extra_koji_instances_add_their_task_topic() {
        let c =
            load(&with(&[("KOJI_INSTANCES", "riscv"), ("KOJI_RISCV_TOPIC_PREFIX", "org.fedoraproject.prod.riscv.")]))
                .unwrap();
        assert_eq!(c.topics.len(), 11);
        assert!(c.topics.contains(&"org.fedoraproject.prod.riscv.buildsys.task.state.change".to_owned()));
    }

    #[test]
    fn the_password_is_in_no_error_and_no_debug_dump() {
        let c = load(&BASE).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-pw"));
        for bad in ["http://u:s3cr3t-pw@host/", "amqp://u:s3cr3t-pw@/x", "amqp://u:s3cr3t-pw@host:notaport/"] {
            let err = load(&with(&[("AMQP_URL", bad)])).unwrap_err();
            assert_eq!(err.var, "AMQP_URL", "{bad}");
            assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");
            assert_eq!(err.to_string().lines().count(), 1);
        }
    }

    #[test]
    fn required_variables_are_named() {
        for var in ["AMQP_URL", "FEDORA_MESSAGING_QUEUE", "K_SINK"] {
            let vars: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != var).collect();
            assert_eq!(load(&vars).unwrap_err().var, var);
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        let cases: [(&str, &str); 10] = [
            ("FEDMSG_BRIDGE_PREFETCH", "0"),
            ("FEDMSG_BRIDGE_PREFETCH", "many"),
            ("K_SINK", "amqp://x"),
            ("FEDMSG_BRIDGE_PROMOTE", "buildsys.task.state.change:Koji_Owner=owner"),
            ("FEDMSG_BRIDGE_PROMOTE", "buildsys.task.state.change"),
            ("FEDMSG_BRIDGE_DLQ", "0b2f5d4e-queue"),
            ("FEDORA_MESSAGING_QUEUE", "amq.mine"),
            ("FEDMSG_BRIDGE_RETRY_MAX_SECONDS", "0"),
            ("AMQP_CERT", "/nonexistent.pem"),
            ("AMQP_CA_CERT", "/nonexistent.pem"),
        ];
        for (var, value) in cases {
            let err = load(&with(&[(var, value)])).unwrap_err();
            let expected = if var == "AMQP_CERT" { "AMQP_KEY" } else { var };
            // TLS files with a plain amqp:// URL are refused before they are read.
            assert!(err.var == expected || err.var == var, "{var}={value}: {err}");
        }
    }

    #[test]
    fn client_certificates_switch_to_sasl_external_over_amqps() {
        let dir = std::env::temp_dir().join(format!("bridge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = |name: &str, body: &str| {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let ca = pem("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        let key = pem("key.pem", "-----BEGIN PRIVATE KEY-----\nkey-material\n-----END PRIVATE KEY-----\n");
        let vars: Vec<(String, String)> = [
            ("AMQP_URL", "amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub"),
            ("FEDORA_MESSAGING_QUEUE", "q"),
            ("K_SINK", "http://sink/"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("AMQP_CA_CERT".into(), ca.clone()), ("AMQP_CERT".into(), ca), ("AMQP_KEY".into(), key)])
        .collect();
        let map: HashMap<String, String> = vars.into_iter().collect();
        let c = BridgeConfig::from_source(&move |k: &str| map.get(k).cloned()).unwrap();
        assert_eq!(c.amqp.source, "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub");
        assert_eq!(c.amqp.uri().unwrap().query.auth_mechanism, Some(lapin::uri::SASLMechanism::External));
        let loaded = c.amqp.tls.load().unwrap();
        assert!(!format!("{loaded:?}").contains("key-material"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn declaring_is_a_setting_and_dead_letters_never_come_back() {
        assert_eq!(load(&with(&[("FEDMSG_BRIDGE_DECLARE", "create")])).unwrap().declare, Declare::Create);
        assert_eq!(load(&with(&[("FEDMSG_BRIDGE_DECLARE", "yes")])).unwrap_err().var, "FEDMSG_BRIDGE_DECLARE");
        let c = load(&with(&[("FEDMSG_BRIDGE_DLQ", "fedora-ci.stg.dlq")])).unwrap();
        assert_eq!(c.dead_letter_key, "fedora-ci.stg.dlq");
        let c = load(&with(&[("FEDMSG_BRIDGE_DLQ_ROUTING_KEY", "fedora-ci.stg.dead")])).unwrap();
        assert_eq!(c.dead_letter_key, "fedora-ci.stg.dead");
        for bad in ["fedora-ci.#", "a.*.b"] {
            assert_eq!(
                load(&with(&[("FEDMSG_BRIDGE_DLQ_ROUTING_KEY", bad)])).unwrap_err().var,
                "FEDMSG_BRIDGE_DLQ_ROUTING_KEY"
            );
        }
        // A binding that catches the dead-letter key would loop dead letters.
        let err = load(&with(&[("FEDMSG_BRIDGE_TOPICS", "org.fedoraproject.#, #")])).unwrap_err();
        assert_eq!(err.var, "FEDMSG_BRIDGE_TOPICS");
        assert!(err.to_string().contains("'#'"), "{err}");
    }

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        for (p, k, m) in [
            ("a.b.c", "a.b.c", true),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.b.c", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#", "fedora-ci.dlq", true),
            ("#.dlq", "fedora-ci.dlq", true),
            ("org.fedoraproject.*.buildsys.task.state.change", "fedora-ci.stg.dlq", false),
            ("*", "a.b", false),
            ("a.b", "a.b.c", false),
        ] {
            assert_eq!(topic_matches(p, k), m, "{p} vs {k}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(3) };
        let d: Vec<u128> = b.delays().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(d, [500, 1000, 2000, 3000, 3000, 3000]);
    }
}
