//! `make run`: the whole service on one machine. A fresh database on the embedded
//! default Postgres, the Koji, Pagure, FASJSON and Testing Farm sandboxes, every
//! function as its own process, a local broker routing by the Trigger table in
//! `knative/`, the result-poller on a schedule, and — when the MIT KDC tools are
//! installed — a throwaway Kerberos realm so the functions log in to the sandbox
//! Koji hub with a real keytab. Ctrl-C stops everything.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::TestRealm;
use fedora_ci_tests::sandbox::koji::{KojiHub, Verifier};

fn main() -> anyhow::Result<()> {
    // The realm must be in KRB5_CONFIG before any thread exists (the in-process
    // acceptor reads it); the function processes get it in their environment.
    let realm = match TestRealm::start() {
        Ok(Some(realm)) => Some(realm),
        Ok(None) => None,
        Err(e) => {
            eprintln!("no Kerberos realm ({e}); Koji builds will fail to log in");
            None
        }
    };
    if let Some(realm) = &realm {
        // SAFETY: single-threaded here; the runtime is built below.
        unsafe { std::env::set_var("KRB5_CONFIG", realm.krb5_config()) };
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(realm))
}

async fn run(realm: Option<TestRealm>) -> anyhow::Result<()> {
    let h = Harness::with_env(&[("KOJI_USERS", "packit-ci"), ("FEDORA_CI_POLL_GRACE_SECONDS", "60")]).await;
    let mut env = h.env();
    let mut hub = None;
    if let Some(realm) = &realm {
        let keytab = realm.service_keytab();
        let verifier: Verifier = Arc::new(move |token: &str| fedora_ci_tests::sandbox::spnego::accept(token, &keytab));
        let kerberized = KojiHub::start_with_verifier(verifier).await;
        env.retain(|(k, _)| k != "KOJI_HUB_URL");
        env.push(("KOJI_HUB_URL".into(), kerberized.url().replace("127.0.0.1", "localhost")));
        env.push(("KOJI_KEYTAB".into(), realm.client_keytab().display().to_string()));
        env.push(("KRB5_CONFIG".into(), realm.krb5_config().display().to_string()));
        hub = Some(kerberized);
    }
    let functions = fedora_ci_tests::stack::start_all(&env).await;
    let subscribers: HashMap<String, String> =
        functions.iter().map(|f| (f.name.to_owned(), f.process.url("/"))).collect();
    let routes = fedora_ci_tests::triggers::try_load(&fedora_ci_tests::triggers::overlay_dir("prod"))
        .context("reading the Trigger table in knative/overlays/prod")?;
    let broker = fedora_ci_tests::broker::start(routes, subscribers).await;
    // With a broker to read from, the bridge feeds the local broker like the
    // ContainerSource feeds the Knative one.
    let bridge = match std::env::var("AMQP_URL") {
        Ok(amqp) if !amqp.is_empty() => {
            let exe = fedora_ci_tests::stack::binary_path("fedmsg-bridge");
            let env = [
                ("AMQP_URL", amqp),
                ("FEDORA_MESSAGING_QUEUE", "fedora-ci-local".to_owned()),
                ("K_SINK", broker.clone()),
            ];
            Some(fedora_ci::testing::RunningBinary::start(exe.to_str().expect("utf-8 path"), &env).await)
        }
        _ => None,
    };

    println!(
        "database       {} ({})",
        h.db.name(),
        if realm.is_some() { "Kerberos realm up" } else { "no Kerberos realm" }
    );
    println!("broker         {broker}   <- POST CloudEvents here (routed by knative/ Triggers)");
    for f in &functions {
        println!("{:<14} {}   log: {}", f.name, f.process.url("/"), f.process.log.display());
    }
    match &bridge {
        Some(b) => {
            println!("fedmsg-bridge  {}   (queue fedora-ci-local → broker)   log: {}", b.url("/"), b.log.display())
        }
        None => println!("fedmsg-bridge  not started (set AMQP_URL to consume Fedora Messaging from a broker)"),
    }
    println!("koji hub       {}", hub.as_ref().map(|k| k.url()).unwrap_or_else(|| h.koji.url()));
    println!("pagure         {}", h.pagure.url);
    println!("fasjson        {}", h.fas.url);
    println!("testing farm   {}", h.tf.url);
    if std::env::args().any(|a| a == "--demo") {
        let hub = hub.as_ref().unwrap_or(&h.koji);
        let outcome = fedora_ci_tests::demo::play(&broker, hub, &h).await;
        drop(functions);
        return outcome;
    }
    println!("\nCtrl-C stops everything.");
    fedora_ci::serve::shutdown_signal().await;
    drop(bridge);
    drop(functions);
    println!("stopped");
    Ok(())
}
