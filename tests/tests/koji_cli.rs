//! The real `koji` command-line client (PyPI `koji`, installed by
//! `scripts/koji-venv.sh`, which `make test` runs) against the sandbox hub, for
//! a task the product submitted: what a developer checks against `make run`'s
//! hub prints what it would against Fedora's.

use std::path::PathBuf;
use std::process::Output;

use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::harness::Harness;
use fedora_ci_tests::realm::in_realm;
use fedora_ci_tests::sandbox::koji::{KOJI_VERSION, KojiHub};
use fedora_ci_tests::sandbox::spnego;

/// The CLI of the pinned virtualenv; made here when missing (the script is a
/// no-op when it is there), and a failure to make it fails the test.
fn koji_cli() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/koji-venv.sh");
    let out = std::process::Command::new(&script)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} could not install the koji CLI from PyPI:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("venv-koji/bin/koji")
}

/// A `koji` profile for the hub, in its own directory (the CLI reads
/// `~/.koji/config` and `/etc/koji.conf` otherwise).
struct Cli {
    bin: PathBuf,
    dir: PathBuf,
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cli {
    fn new(hub: &KojiHub, auth: &str) -> Cli {
        Cli::with_server(hub, &hub.url(), auth)
    }

    /// `server` is the hub's URL as the CLI should reach it; `auth` more lines
    /// of the profile.
    fn with_server(hub: &KojiHub, server: &str, auth: &str) -> Cli {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("fci-koji-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config =
            format!("[sandbox]\nserver = {server}\nweburl = {}\ntopurl = {}\n{auth}\n", hub.web_url(), hub.pkgs_url());
        std::fs::write(dir.join("koji.conf"), config).unwrap();
        Cli { bin: koji_cli(), dir }
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_as(&["--noauth"], args).await
    }

    /// With `global` options (`--noauth`, or none to log in as the profile says).
    async fn run_as(&self, global: &[&str], args: &[&str]) -> Output {
        let config = self.dir.join("koji.conf");
        tokio::process::Command::new(&self.bin)
            .arg("--config")
            .arg(&config)
            .args(["-p", "sandbox"])
            .args(global)
            .args(args)
            .env("HOME", &self.dir)
            .env_remove("KOJI_CONFIG")
            .output()
            .await
            .expect("run koji")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shown(o: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", o.status.code(), stdout(o), stderr(o))
}

const TASK: i64 = 45270170;
const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

/// The recorded PR opened: the product logs in and submits build `TASK`.
async fn submitted() -> (Harness, Cli) {
    let h = Harness::start().await;
    h.koji.set_next_task_id(TASK);
    h.open_recorded_pr(pr_opened::routes).await;
    assert_eq!(h.koji.builds()[0].task_id, TASK);
    let cli = Cli::new(&h.koji, "");
    (h, cli)
}

/// `koji version`, `hello`, `list-tasks`, `taskinfo`, `call getTaskInfo`,
/// `cancel`, `watch-task` and `call getTaskResult` on the build the product
/// submitted, anonymously (`--noauth`), as a developer looks at `make run`'s hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_koji_cli_reads_a_task_the_product_submitted() {
    let (h, cli) = submitted().await;
    let label = format!("build (rawhide, /forks/zwhite/rpms/optee_os.git:{SHA})");

    let o = cli.run(&["version"]).await;
    assert_eq!(stdout(&o), format!("Client: {KOJI_VERSION}\nHub:    {KOJI_VERSION}\n"), "{}", shown(&o));

    let o = cli.run(&["hello"]).await;
    assert!(o.status.success(), "{}", shown(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Not authenticated\n") && out.contains(", anonymous user!\n"), "{}", shown(&o));
    assert!(out.contains(&format!("You are using the hub at {} (Koji {KOJI_VERSION})", h.koji.url())), "{out}");

    h.koji.set_task_state(TASK, KojiTaskState::Open);
    let o = cli.run(&["list-tasks"]).await;
    assert!(o.status.success(), "{}", shown(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "ID       Pri  Owner                State    Arch       Name\n\
             {TASK} 20   packit-ci            OPEN     noarch     {label}\n"
        ),
        "{}",
        shown(&o)
    );

    let o = cli.run(&["taskinfo", &TASK.to_string()]).await;
    assert!(o.status.success(), "{}", shown(&o));
    let out = stdout(&o);
    for line in [
        format!("Task: {TASK}\n"),
        "Type: build\n".into(),
        "Owner: packit-ci\n".into(),
        "State: open\n".into(),
        "Host: buildvm-x86-01.sandbox.example\n".into(),
    ] {
        assert!(out.contains(&line), "{line:?} missing:\n{out}");
    }

    let o = cli.run(&["call", "getTaskInfo", &TASK.to_string()]).await;
    assert!(o.status.success(), "{}", shown(&o));
    let out = stdout(&o);
    for field in [format!("'id': {TASK},"), "'method': 'build',".into(), "'state': 1,".into(), "'host_id': 1,".into()] {
        assert!(out.contains(&field), "{field:?} missing:\n{out}");
    }

    // kojihub's faults, as the CLI reports them.
    let o = cli.run(&["taskinfo", "999"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(stderr(&o).contains("GenericError: No such task: 999"), "{}", shown(&o));
    let o = cli.run(&["call", "getTaskInfo", "999", "strict=True"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(stderr(&o).contains("query returned no rows"), "{}", shown(&o));
    let o = cli.run(&["cancel", &TASK.to_string()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(stderr(&o).contains("Cannot cancel task, not owner"), "{}", shown(&o));
    assert_eq!(h.koji.task_state(TASK), Some(KojiTaskState::Open), "an anonymous cancel cancels nothing");

    h.koji.set_task_state(TASK, KojiTaskState::Closed);
    let x86 = h.koji.child(TASK, "buildArch", "x86_64").unwrap();
    let o = cli.run(&["watch-task", &TASK.to_string()]).await;
    assert!(o.status.success(), "{}", shown(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("{TASK} {label}: closed\n")), "{out}");
    assert!(out.contains(&format!("  {x86} buildArch (optee_os-1.0-1.src.rpm, x86_64): closed\n")), "{out}");
    assert!(out.contains(&format!("{TASK} {label} completed successfully\n")), "{out}");

    let o = cli.run(&["taskinfo", "-r", &TASK.to_string()]).await;
    assert!(o.status.success(), "{}", shown(&o));
    let log = format!("    /mnt/koji/work/tasks/{}/{x86}/build.log\n", x86 % 10000);
    assert!(stdout(&o).contains("State: closed\n") && stdout(&o).contains(&log), "{log:?} missing:\n{}", shown(&o));

    // A scratch build task keeps no result of its own.
    let o = cli.run(&["call", "getTaskResult", &TASK.to_string()]).await;
    assert_eq!(stdout(&o), "None\n", "{}", shown(&o));
}

/// A failed build: `watch-task` fails and names the failed arch with kojid's
/// `BuildError`, which `getTaskResult` raises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_koji_cli_shows_a_failed_build_s_fault() {
    let (h, cli) = submitted().await;
    h.koji.set_task_state(TASK, KojiTaskState::Failed);
    let x86 = h.koji.child(TASK, "buildArch", "x86_64").unwrap();
    let o = cli.run(&["watch-task", &TASK.to_string()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "  {x86} buildArch (optee_os-1.0-1.src.rpm, x86_64): FAILED: BuildError: error building package (arch x86_64)"
        )),
        "{}",
        shown(&o)
    );
    let o = cli.run(&["call", "getTaskResult", &x86.to_string()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(stderr(&o).contains("BuildError: error building package (arch x86_64)"), "{}", shown(&o));
    let o = cli.run(&["call", "getTaskResult", &x86.to_string(), "raise_fault=False"]).await;
    assert!(stdout(&o).contains("'faultCode': 1005"), "{}", shown(&o));
}

/// A self-signed certificate for `localhost` (the hub's Kerberos service is
/// `HTTP/localhost`), made with openssl into `dir`: (cert, key).
fn localhost_certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("hub-cert.pem"), dir.join("hub-key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Logged in with GSSAPI as our Koji user (its keytab, a real KDC): `koji hello`
/// greets our user, `list-tasks --mine` shows the build the product submitted,
/// and the owner's `koji cancel` cancels it.
#[test]
fn the_koji_cli_logs_in_as_our_user_and_cancels_its_build() {
    in_realm(
        |_| Vec::new(),
        |realm| {
            use fedora_ci::clients::koji::client::{Auth, KojiClient};
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let service_keytab = realm.service_keytab();
                let hub = KojiHub::start_with_verifier(std::sync::Arc::new(move |token: &str| {
                    spnego::accept(token, &service_keytab)
                }))
                .await;
                let (cert, key) = localhost_certificate(realm.dir());
                let tls_port = hub.serve_tls(&cert, &key).await;

                // The product submits a build as its Kerberos user.
                let product = KojiClient::new(
                    reqwest::Client::new(),
                    hub.url().replace("127.0.0.1", "localhost").parse().unwrap(),
                    hub.web_url().parse().unwrap(),
                    Auth::Kerberos(fedora_ci::clients::kerberos::Kerberos {
                        keytab: Some(realm.client_keytab()),
                        principal: None,
                    }),
                    None,
                );
                let task = product
                    .build(&format!("git+https://src.fedoraproject.org/rpms/optee_os.git#{SHA}"), "rawhide", true, None)
                    .await
                    .expect("the product's build");
                hub.set_task_state(task, KojiTaskState::Open);

                let cli = Cli::with_server(
                    &hub,
                    &format!("https://localhost:{tls_port}/kojihub"),
                    &format!(
                        "authtype = kerberos\nkeytab = {}\nprincipal = {}\nserverca = {}",
                        realm.client_keytab().display(),
                        realm.client_principal(),
                        cert.display()
                    ),
                );
                let o = cli.run_as(&[], &["hello"]).await;
                assert!(o.status.success(), "{}", shown(&o));
                assert!(stdout(&o).contains(", packit-ci!\n"), "{}", shown(&o));
                assert!(stdout(&o).contains("Authenticated via GSSAPI"), "{}", shown(&o));

                let o = cli.run_as(&[], &["list-tasks", "--mine", "--quiet"]).await;
                assert!(o.status.success(), "{}", shown(&o));
                assert!(stdout(&o).starts_with(&format!("{task} 20   packit-ci            OPEN")), "{}", shown(&o));

                let o = cli.run_as(&[], &["cancel", &task.to_string()]).await;
                assert!(o.status.success(), "{}", shown(&o));
                assert_eq!(hub.task_state(task), Some(KojiTaskState::Canceled));
                let o = cli.run_as(&[], &["list-tasks", "--mine"]).await;
                assert_eq!(stdout(&o), "(no tasks)\n", "{}", shown(&o));
            });
        },
    );
}
