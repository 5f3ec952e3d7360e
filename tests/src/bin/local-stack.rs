//! `make run`: the whole service on one machine. A fresh database on the embedded
//! default Postgres, the Koji (with its log server), Pagure, Forgejo, FASJSON, Testing Farm
//! and Log Detective sandboxes, every
//! function as its own process, a local broker routing by the Trigger table in
//! `knative/`, the result-poller on a schedule, and a throwaway Kerberos realm
//! (the MIT KDC tools, which `make run`'s scripts/deps.sh installs) so the
//! functions log in to the sandbox Koji hub and FASJSON with a real keytab; FASJSON,
//! like Fedora's, answers no one else, so without a realm every packager command
//! waits for a retry. Ctrl-C stops everything.

use std::collections::HashMap;

use anyhow::Context as _;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::TestRealm;

fn main() -> anyhow::Result<()> {
    let realm = fedora_ci_tests::realm::start_for_this_process();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(realm))
}

async fn run(realm: Option<TestRealm>) -> anyhow::Result<()> {
    let h = Harness::with_env(&[
        ("KOJI_USERS", "packit-ci"),
        ("FEDORA_CI_POLL_GRACE_SECONDS", "60"),
        // Failed builds go to the Log Detective sandbox.
        ("FEDORA_CI_LOG_DETECTIVE", "true"),
    ])
    .await;
    let mut env = h.env();
    let mut hub = None;
    if let Some(realm) = &realm {
        hub = Some(fedora_ci_tests::harness::kerberized_koji(realm, &mut env).await);
        fedora_ci_tests::harness::kerberized_fasjson(realm, &h.fas, &mut env);
    }
    // The hub in use serves its tasks' logs, which Log Detective is sent.
    env.retain(|(k, _)| k != "KOJI_PKGS_URL");
    env.push(("KOJI_PKGS_URL".into(), hub.as_ref().unwrap_or(&h.koji).pkgs_url()));
    // With a broker, the functions publish the Fedora CI messages to it as in
    // the cluster (the bridge consumes from it, below).
    let amqp = std::env::var("AMQP_URL").ok().filter(|u| !u.is_empty());
    if let Some(url) = &amqp {
        env.push(("AMQP_URL".to_owned(), url.clone()));
    }
    let functions = fedora_ci_tests::stack::start_all(&env).await;
    let subscribers: HashMap<String, String> =
        functions.iter().map(|f| (f.name.to_owned(), f.process.url("/"))).collect();
    let routes = fedora_ci_tests::triggers::try_load(&fedora_ci_tests::triggers::overlay_dir("prod"))
        .context("reading the Trigger table in knative/overlays/prod")?;
    // Both forges learn the PRs the broker carries, as the real ones have them.
    let (pagure, forgejo) = (h.pagure.event_observer(), h.forgejo.event_observer());
    let observer: fedora_ci_tests::broker::EventObserver = std::sync::Arc::new(move |topic, body| {
        pagure(topic, body);
        forgejo(topic, body);
    });
    let broker = fedora_ci_tests::broker::start_observed(routes, subscribers.clone(), Some(observer)).await;
    // With a broker to read from, the bridge feeds the local broker like the
    // ContainerSource feeds the Knative one.
    let bridge = match amqp {
        Some(amqp) => {
            let exe = fedora_ci_tests::stack::binary_path("fedmsg-bridge");
            let env = [
                ("AMQP_URL", amqp),
                ("FEDORA_MESSAGING_QUEUE", "fedora-ci-local".to_owned()),
                // A broker of our own: the bridge creates its queues (in the
                // cluster the playbook does, and the bridge only checks them).
                ("FEDMSG_BRIDGE_DECLARE", "create".to_owned()),
                ("K_SINK", broker.clone()),
            ];
            Some(fedora_ci::dev::testing::RunningBinary::start(exe.to_str().expect("utf-8 path"), &env).await)
        }
        _ => None,
    };
    // Log Detective's results: on the broker when there is one (the bridge brings
    // them back, as in production), else straight to the local Knative broker.
    let amqp = fedora_ci::config::amqp::AmqpSettings::from_source(&|k: &str| {
        if k == "AMQP_URL" { std::env::var("AMQP_URL").ok().filter(|u| !u.is_empty()) } else { None }
    })?;
    match amqp {
        Some(settings) if bridge.is_some() => h.ld.set_sink(fedora_ci_tests::sandbox::log_detective::Sink::Amqp(
            std::sync::Arc::new(fedora_ci::clients::bus::Bus::new(settings, "amq.topic".to_owned())),
        )),
        _ => h.ld.set_sink(fedora_ci_tests::sandbox::log_detective::Sink::CloudEvents(broker.clone())),
    }

    println!(
        "database       {} ({})",
        h.db.name(),
        if realm.is_some() { "Kerberos realm up" } else { "no Kerberos realm: Koji and FASJSON refuse the functions" }
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
    println!("forgejo        {}   (FEDORA_CI_FORGEJO=true)", h.forgejo.url);
    println!("fasjson        {}", h.fas.url);
    println!("testing farm   {}", h.tf.url);
    println!(
        "log detective  {}   (results {})",
        h.ld.url,
        if bridge.is_some() { "published on AMQP_URL's amq.topic" } else { "POSTed to the broker" }
    );
    if std::env::args().any(|a| a == "--demo") {
        let hub = hub.as_ref().unwrap_or(&h.koji);
        let mut outcome = fedora_ci_tests::demo::play(&broker, &subscribers["tf-finished"], hub, &h).await;
        if outcome.is_ok() {
            outcome = fedora_ci_tests::demo::play_log_detective(&broker, hub, &h).await;
        }
        drop(functions);
        return outcome;
    }
    println!("\nCtrl-C stops everything.");
    fedora_ci::runtime::serve::shutdown_signal().await;
    drop(bridge);
    drop(functions);
    println!("stopped");
    Ok(())
}
