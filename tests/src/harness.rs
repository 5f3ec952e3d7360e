//! One test's whole world: a fresh database, every sandbox, and a [`Context`]
//! configured against them — the same wiring `make run` uses.

use std::collections::HashMap;

use fedora_ci::Context;
use fedora_ci::clients::koji::client::{Auth, KojiClient};
use fedora_ci::dev::db::TestDatabase;

use crate::realm::TestRealm;
use crate::sandbox::fasjson::FasJsonSandbox;
use crate::sandbox::forgejo::ForgejoSandbox;
use crate::sandbox::koji::{self, KojiHub, Verifier};
use crate::sandbox::log_detective::LogDetectiveSandbox;
use crate::sandbox::pagure::PagureSandbox;
use crate::sandbox::static_files::StaticFiles;
use crate::sandbox::testing_farm::TestingFarmSandbox;

/// The principal our Koji user logs in as, and the token the sandbox hub accepts
/// for it in tests that do not run a real KDC.
pub const KOJI_USER: &str = "packit-ci";
pub const STATIC_TOKEN: &str = "sandbox-spnego-token";
pub const WEBHOOK_SECRET: &str = "sandbox-webhook-secret";
pub const WEBHOOK_SECRET_SECONDARY: &str = "sandbox-webhook-secret-rotated";

/// Every secret value a harness configures: none may ever appear in a log
/// (`cargo run -p fedora-ci-tests --bin secret-scan`, run by `make test`).
pub const SECRETS: [&str; 7] = [
    crate::sandbox::pagure::TOKEN,
    crate::sandbox::forgejo::TOKEN,
    crate::sandbox::log_detective::TOKEN,
    crate::sandbox::testing_farm::API_KEY,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_SECONDARY,
    STATIC_TOKEN,
];
/// Our public URL in tests (the TF webhook target unless a test overrides it).
pub const PUBLIC_URL: &str = "https://fedora-ci.sandbox.example";

pub struct Harness {
    pub db: TestDatabase,
    pub koji: KojiHub,
    pub pagure: PagureSandbox,
    /// Forgejo dist-git; Forgejo is turned on (`FEDORA_CI_FORGEJO`) in every harness.
    pub forgejo: ForgejoSandbox,
    pub fas: FasJsonSandbox,
    pub files: StaticFiles,
    pub tf: TestingFarmSandbox,
    /// The Log Detective interface server; Log Detective itself is off unless a
    /// test sets `FEDORA_CI_LOG_DETECTIVE=true`.
    pub ld: LogDetectiveSandbox,
    /// The test realm, when the test runs in one ([`crate::realm::in_realm_async`]):
    /// the functions then log in to FASJSON with its client keytab.
    pub realm: Option<TestRealm>,
    vars: HashMap<String, String>,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with_env(&[]).await
    }

    /// Sandboxes up, config pointing at them; `extra` overrides or adds variables.
    ///
    /// FASJSON, like Fedora's, answers only Kerberos clients. In a test realm
    /// (this process was started by [`crate::realm::in_realm`]) it accepts the
    /// realm's tickets for `HTTP/localhost` and the functions log in with the
    /// realm's client keytab (`KOJI_KEYTAB`, which the FASJSON client uses as in
    /// production) through `FASJSON_URL` naming that host, so every packager check
    /// goes through the product's real Kerberos path. Outside a realm nobody can
    /// log in: a test that reaches FASJSON must run in one.
    pub async fn with_env(extra: &[(&str, &str)]) -> Harness {
        let db = TestDatabase::fresh().await;
        let koji =
            KojiHub::start_with_verifier(koji::accept_token(STATIC_TOKEN, &format!("{KOJI_USER}@TEST.LOCAL"))).await;
        let pagure = PagureSandbox::start().await;
        let forgejo = ForgejoSandbox::start().await;
        let realm = TestRealm::from_parent();
        let fas = FasJsonSandbox::start(realm.as_ref().map(TestRealm::service_keytab)).await;
        let files = StaticFiles::start().await;
        let tf = TestingFarmSandbox::start().await;
        let ld = LogDetectiveSandbox::start("org.fedoraproject.prod.").await;
        let eln = files.put("eln.txt", "bash\nglibc\n");
        let eln_extras = files.put("eln-extras.txt", "python-teamcity-messages\n");
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", db.url.clone()),
            ("DISTGIT_URL", pagure.url.clone()),
            ("PAGURE_TOKEN", pagure.token.clone()),
            ("FEDORA_CI_FORGEJO", "true".to_owned()),
            ("FORGEJO_URL", forgejo.url.clone()),
            ("FORGEJO_TOKEN", forgejo.token.clone()),
            ("FASJSON_URL", fas.url.clone()),
            ("KOJI_HUB_URL", koji.url()),
            ("KOJI_WEB_URL", koji.web_url()),
            // The fixtures' Koji messages are owned by `packit`.
            ("KOJI_USERS", "packit".to_owned()),
            ("FEDORA_CI_ELN_LIST_URLS", format!("{eln},{eln_extras}")),
            // Where Testing Farm calls back; tests that run tf-finished point it at it.
            ("FEDORA_CI_PUBLIC_URL", PUBLIC_URL.to_owned()),
            ("TESTING_FARM_API_URL", tf.url.clone()),
            ("TESTING_FARM_API_KEY", tf.key.clone()),
            ("TESTING_FARM_ARTIFACTS_URL", tf.artifacts_url.clone()),
            ("TESTING_FARM_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("TESTING_FARM_WEBHOOK_SECRET_SECONDARY", WEBHOOK_SECRET_SECONDARY.to_owned()),
            ("KOJI_PKGS_URL", "https://kojipkgs.sandbox.example".to_owned()),
            ("FEDORA_CI_LOG_DETECTIVE_URL", ld.url.clone()),
            ("LOG_DETECTIVE_TOKEN", ld.token.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(realm) = &realm {
            for (k, v) in fasjson_login(realm, &fas) {
                vars.insert(k.to_owned(), v);
            }
        }
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Harness { db, koji, pagure, forgejo, fas, files, tf, ld, realm, vars }
    }

    /// Sets (or replaces) one variable of the configuration, e.g. to point
    /// `KOJI_PKGS_URL` at the sandbox hub's log server.
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// Environment for a function binary started as a process.
    pub fn env(&self) -> Vec<(String, String)> {
        self.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// A context as a function would build it, with the Koji client logging in with
    /// the sandbox's static token (the GSSAPI path has its own tests with a real KDC).
    pub fn context(&self, function: &'static str) -> Context {
        let vars = self.vars.clone();
        let config = fedora_ci::Config::from_source(&move |k: &str| vars.get(k).cloned()).expect("test config");
        let mut ctx = Context::new(function, config, self.db.pool.clone()).expect("context");
        ctx.clients.koji = std::sync::Arc::new(KojiClient::new(
            ctx.clients.http.clone(),
            ctx.config.koji.hub_url.clone(),
            ctx.config.koji.web_url.clone(),
            Auth::StaticToken(STATIC_TOKEN.to_owned()),
            ctx.config.koji.channel.clone(),
        ));
        ctx.clients.koji_instances = ctx
            .config
            .koji_instances
            .iter()
            .map(|i| {
                let client = KojiClient::new(
                    ctx.clients.http.clone(),
                    i.koji.hub_url.clone(),
                    i.koji.web_url.clone(),
                    Auth::StaticToken(STATIC_TOKEN.to_owned()),
                    i.koji.channel.clone(),
                );
                (i.name.clone(), std::sync::Arc::new(client))
            })
            .collect();
        ctx
    }

    /// A second Koji hub (another instance, e.g. RISC-V) accepting the same token.
    pub async fn second_koji() -> KojiHub {
        KojiHub::start_with_verifier(koji::accept_token(STATIC_TOKEN, &format!("{KOJI_USER}@TEST.LOCAL"))).await
    }

    /// The broker tests publish to and read from: `AMQP_URL`, or the local RabbitMQ.
    pub fn amqp_url() -> String {
        std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
    }

    /// Serves a function's app (routes + health) for this context; returns its URL.
    pub async fn serve(&self, function: &'static str, routes: fn(Context) -> axum::Router) -> String {
        fedora_ci::dev::testing::serve_router(fedora_ci::runtime::app::app(self.context(function), routes)).await
    }

    /// Opens the recorded PR (`pagure_pr_new.json`, `rpms/optee_os` on rawhide)
    /// through pr-opened served with `routes`, and checks it was acted on; the
    /// starting point of every story that begins with a scratch build.
    pub async fn open_recorded_pr(&self, routes: fn(Context) -> axum::Router) -> String {
        use fedora_ci::dev::testing::{Fixture, binary_request};
        self.pagure.set_branches("rpms/optee_os", &["rawhide"]);
        let pr_opened = self.serve("pr-opened", routes).await;
        let r = binary_request(&reqwest::Client::new(), &pr_opened, &Fixture::load("pagure_pr_new.json"), "pr")
            .send()
            .await
            .expect("pr-opened answers");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "pr-opened acted on the recorded PR");
        pr_opened
    }
}

/// Function *processes* log in to Koji with Kerberos (the static token is only for
/// the in-process client): a hub that accepts the realm's tickets, and `env`
/// changed to point the processes at it with the realm's client keytab. The
/// in-process acceptor needs `KRB5_CONFIG` to name the realm in this process's
/// environment ([`crate::realm::start_for_this_process`]).
pub async fn kerberized_koji(realm: &TestRealm, env: &mut Vec<(String, String)>) -> KojiHub {
    let keytab = realm.service_keytab();
    let verifier: Verifier = std::sync::Arc::new(move |token: &str| crate::sandbox::spnego::accept(token, &keytab));
    let hub = KojiHub::start_with_verifier(verifier).await;
    env.retain(|(k, _)| !["KOJI_HUB_URL", "KOJI_KEYTAB", "KRB5_CONFIG"].contains(&k.as_str()));
    // The service principal is HTTP/localhost.
    env.push(("KOJI_HUB_URL".into(), hub.url().replace("127.0.0.1", "localhost")));
    env.push(("KOJI_KEYTAB".into(), realm.client_keytab().display().to_string()));
    env.push(("KRB5_CONFIG".into(), realm.krb5_config().display().to_string()));
    hub
}

/// The configuration with which the functions log in to the FASJSON sandbox as
/// the realm's client: the sandbox named by the host of the realm's `HTTP/`
/// service (the client asks the KDC for a ticket for `HTTP/<host of FASJSON_URL>`;
/// there is no `HTTP/127.0.0.1`), the client keytab the FASJSON client takes from
/// `KOJI_KEYTAB` as in production, and for processes, whose environment is
/// cleared, `KRB5_CONFIG`.
fn fasjson_login(realm: &TestRealm, fas: &FasJsonSandbox) -> [(&'static str, String); 3] {
    [
        ("FASJSON_URL", fas.url.replace("127.0.0.1", "localhost")),
        ("KOJI_KEYTAB", realm.client_keytab().display().to_string()),
        ("KRB5_CONFIG", realm.krb5_config().display().to_string()),
    ]
}

/// For `make run`, whose realm is its own (not a parent's): the FASJSON sandbox
/// accepts the realm's tickets and `env` logs the function processes in to it.
/// Without this every packager command was answered 503 and retried forever.
pub fn kerberized_fasjson(realm: &TestRealm, fas: &FasJsonSandbox, env: &mut Vec<(String, String)>) {
    fas.accept_tickets_for(realm.service_keytab());
    for (k, v) in fasjson_login(realm, fas) {
        env.retain(|(name, _)| name != k);
        env.push((k.into(), v));
    }
}
