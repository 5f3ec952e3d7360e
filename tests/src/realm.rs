//! A throwaway MIT Kerberos realm, `TEST.LOCAL`, for tests: its own KDC on a free
//! loopback port, database, configuration and keytabs in a temporary directory.
//! Nothing touches /etc, DNS, or the environment of the test process.
//!
//! # Why the GSSAPI checks run in a child process
//!
//! MIT Kerberos finds its configuration only through `KRB5_CONFIG` in the process
//! environment; there is no per-call way to name it. Setting that variable in a
//! test binary is a data race: libtest runs tests on several threads, any of which
//! (and the Kerberos library itself) may read the environment meanwhile, which is
//! why `std::env::set_var` is `unsafe` in Rust 2024. So the test that owns a realm
//! never changes its own environment. [`TestRealm::run_in_child`] re-executes the
//! current test binary with `<test> --exact` and the variables set on the
//! `Command`; in that child the same test function finds the realm again with
//! [`TestRealm::from_parent`] and runs its checks in a process whose environment was
//! right before its first instruction. No `unsafe`, no global lock, tests stay
//! parallel, and each test can give its child a different environment (e.g. a
//! configuration whose KDC is unreachable).
//!
//! [`in_realm`] and [`in_realm_async`] wrap that for a test; the test's name
//! (for `--exact`) is the name libtest gives the thread running it:
//!
//! ```ignore
//! #[test]
//! fn my_kerberos_test() {
//!     in_realm_async(async {
//!         // The child: KRB5_CONFIG names the realm; `Harness::start` finds it.
//!     });
//! }
//! ```
//!
//! # One realm per test
//!
//! A realm costs about 0.1 s to start (database, keys, KDC), less than the test's
//! own database; so each test gets its own, stopped and removed when the test
//! ends, and no test can see another's tickets, keys or replay cache.
//!
//! # No realm, no pass
//!
//! Without the MIT KDC tools [`TestRealm::start`] fails, naming `scripts/deps.sh`:
//! the tests that need a realm fail rather than skip, so CI cannot pass them
//! without running them.

use std::{
    ffi::{OsStr, OsString},
    fs,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

pub const REALM: &str = "TEST.LOCAL";
const CLIENT: &str = "packit-ci@TEST.LOCAL";
const SERVICE: &str = "HTTP/localhost@TEST.LOCAL";
const ROTATED: &str = "rotated-ci@TEST.LOCAL";
const ELSEWHERE_HOST: &str = "elsewhere";
const ELSEWHERE: &str = "HTTP/elsewhere@TEST.LOCAL";

/// Names the realm directory for a child process started by [`TestRealm::run_in_child`].
const CHILD_MARKER: &str = "FEDORA_CI_TEST_REALM_DIR";

/// Variables a developer's shell may carry that would make a child use credentials
/// other than the realm's.
const KRB5_ENV: &[&str] =
    &["KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME", "KRB5_CLIENT_KTNAME", "KRB5_KTNAME", "KRB5RCACHENAME"];

/// (binary, Debian package providing it)
const TOOLS: &[(&str, &str)] = &[
    ("krb5kdc", "krb5-kdc"),
    ("kdb5_util", "krb5-kdc"),
    ("kadmin.local", "krb5-admin-server"),
    ("klist", "krb5-user"),
];

#[derive(Debug)]
pub struct TestRealm {
    dir: PathBuf,
    kdc: Option<Child>,
    /// Only the process that created the realm stops the KDC and removes the directory.
    owned: bool,
}

impl TestRealm {
    /// Starts a realm. Fails, saying which tools are missing and that
    /// `scripts/deps.sh` installs them, when the MIT KDC tools are not installed.
    pub fn start() -> Result<TestRealm, String> {
        if let Some(reason) = Self::missing_tools() {
            return Err(reason);
        }
        let tool = |name: &str| find_tool(name).expect("checked by missing_tools");
        let mut realm = TestRealm { dir: make_temp_dir()?, kdc: None, owned: true };
        let port = free_port()?;
        realm.write_configs(port)?;

        realm.run(&tool("kdb5_util"), &["create", "-s", "-r", REALM, "-P", "throwaway-master-key"], None)?;
        let d = |f: &str| realm.dir.join(f).display().to_string();
        // One kadmin.local session for every change: each start of it costs a
        // database open. `ktadd` re-keys the principal (new key version) as it exports.
        let script = [
            format!("addprinc -randkey {CLIENT}"),
            format!("addprinc -randkey {SERVICE}"),
            format!("addprinc -randkey {ROTATED}"),
            format!("addprinc -randkey {ELSEWHERE}"),
            format!("ktadd -k {} {CLIENT}", d("client.keytab")),
            format!("ktadd -k {} {SERVICE}", d("service.keytab")),
            format!("ktadd -k {} {ELSEWHERE}", d("elsewhere.keytab")),
            format!("ktadd -k {} {ROTATED}", d("rotated.keytab")),
            // The second export re-keys the principal again: rotated.keytab is now
            // a keytab whose keys the KDC no longer has, like one left over after
            // a rotation.
            format!("ktadd -k {} {ROTATED}", d("rotated-current.keytab")),
        ]
        .join("\n");
        realm.run(&tool("kadmin.local"), &[], Some(&script))?;
        for keytab in ["client", "service", "elsewhere", "rotated", "rotated-current"] {
            let path = realm.dir.join(format!("{keytab}.keytab"));
            if fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true) {
                return Err(format!("kadmin.local did not export {}", path.display()));
            }
        }
        fs::remove_file(realm.dir.join("rotated-current.keytab")).map_err(|e| format!("removing a keytab: {e}"))?;

        let stderr = fs::File::create(realm.dir.join("krb5kdc.stderr")).map_err(|e| format!("krb5kdc stderr: {e}"))?;
        let kdc = realm
            .command(&tool("krb5kdc"))
            .args(["-n", "-r", REALM])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting krb5kdc: {e}"))?;
        realm.kdc = Some(kdc);
        realm.wait_for_kdc(port)?;
        Ok(realm)
    }

    /// Why [`start`](Self::start) would fail: the missing binaries and the Debian
    /// packages that provide them; `None` when everything is there.
    pub fn missing_tools() -> Option<String> {
        let missing: Vec<_> = TOOLS.iter().filter(|(bin, _)| find_tool(bin).is_none()).collect();
        if missing.is_empty() {
            return None;
        }
        let bins: Vec<_> = missing.iter().map(|(b, _)| *b).collect();
        let mut pkgs: Vec<_> = missing.iter().map(|(_, p)| *p).collect();
        pkgs.dedup();
        Some(format!(
            "MIT Kerberos KDC tools not found ({}), which the tests' Kerberos realm needs; \
             run scripts/deps.sh (make test does), or apt-get install {}",
            bins.join(", "),
            pkgs.join(" ")
        ))
    }

    /// The realm this process was started for by [`run_in_child`](Self::run_in_child),
    /// if it is such a child. The parent keeps owning the KDC and the directory.
    pub fn from_parent() -> Option<TestRealm> {
        let dir = PathBuf::from(std::env::var_os(CHILD_MARKER)?);
        Some(TestRealm { dir, kdc: None, owned: false })
    }

    /// Runs `test` of the current test binary in a child process with `KRB5_CONFIG`
    /// and `KRB5_KDC_PROFILE` pointing at this realm, `LC_ALL=C`, no other Kerberos
    /// variables from our environment, then `env` (which may override those). Fails unless the
    /// child ran exactly that test and it passed, so a misspelt name cannot pass
    /// silently.
    pub fn run_in_child(&self, test: &str, env: &[(&str, &OsStr)]) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("locating the test binary: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.args([test, "--exact", "--test-threads=1"]).env(CHILD_MARKER, &self.dir);
        for var in KRB5_ENV {
            cmd.env_remove(var);
        }
        // Untranslated library messages, so tests may look for them.
        cmd.env("LC_ALL", "C").env("KRB5_CONFIG", self.krb5_config()).env("KRB5_KDC_PROFILE", self.kdc_profile());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("running {test} in a child: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains(&format!("test {test} ... ok")) && stdout.contains("1 passed") {
            return Ok(());
        }
        Err(format!(
            "{test} failed in its child process ({}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- kdc.log\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(self.dir.join("kdc.log")).unwrap_or_default()
        ))
    }

    /// The environment a child needs to use this realm, for tests that spawn
    /// other programs.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![("KRB5_CONFIG", self.krb5_config().into()), ("KRB5_KDC_PROFILE", self.kdc_profile().into())]
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn krb5_config(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }
    /// The same realm, but its KDC address is a port where nothing listens.
    pub fn krb5_config_unreachable_kdc(&self) -> PathBuf {
        self.dir.join("krb5-unreachable.conf")
    }
    pub fn kdc_profile(&self) -> PathBuf {
        self.dir.join("kdc.conf")
    }
    /// Keys of [`client_principal`](Self::client_principal).
    pub fn client_keytab(&self) -> PathBuf {
        self.dir.join("client.keytab")
    }
    /// Keys of `HTTP/localhost@TEST.LOCAL`, the acceptor's side.
    pub fn service_keytab(&self) -> PathBuf {
        self.dir.join("service.keytab")
    }
    /// A keytab the KDC no longer accepts: [`other_principal`](Self::other_principal)
    /// was re-keyed after it was exported.
    pub fn other_keytab(&self) -> PathBuf {
        self.dir.join("rotated.keytab")
    }
    pub fn client_principal(&self) -> &'static str {
        CLIENT
    }
    pub fn service_principal(&self) -> &'static str {
        SERVICE
    }
    pub fn other_principal(&self) -> &'static str {
        ROTATED
    }
    /// A second host with an `HTTP/` service in the realm, for "token for another
    /// service" checks; its keys are in [`elsewhere_keytab`](Self::elsewhere_keytab).
    pub fn elsewhere_host(&self) -> &'static str {
        ELSEWHERE_HOST
    }
    pub fn elsewhere_keytab(&self) -> PathBuf {
        self.dir.join("elsewhere.keytab")
    }

    /// The keys in `keytab`, read with `klist -kK`, so tests can check that no error
    /// message carries them.
    pub fn keytab_keys(&self, keytab: &Path) -> Result<Vec<Vec<u8>>, String> {
        let klist = find_tool("klist").ok_or("klist not found")?;
        let out = self.command(&klist).arg("-kK").arg(keytab).output().map_err(|e| format!("klist: {e}"))?;
        if !out.status.success() {
            return Err(format!("klist -kK {}: {}", keytab.display(), String::from_utf8_lossy(&out.stderr)));
        }
        let keys: Vec<Vec<u8>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.rsplit_once("(0x").and_then(|(_, k)| k.strip_suffix(')')))
            .map(|hex| (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect())
            .collect();
        if keys.is_empty() {
            return Err(format!("klist -kK {} listed no keys", keytab.display()));
        }
        Ok(keys)
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for var in KRB5_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env());
        cmd
    }

    fn run(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
        use std::io::Write as _;
        let what = format!("{} {}", program.display(), args.join(" "));
        let mut child = self
            .command(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        let mut input = child.stdin.take().expect("piped");
        input.write_all(stdin.unwrap_or("").as_bytes()).map_err(|e| format!("{what}: writing stdin: {e}"))?;
        drop(input);
        let out = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kadmin.local exits 0 even when a query fails; its errors say "while ...".
        if !out.status.success() || stderr.contains(" while ") {
            return Err(format!("{what} failed ({}):\n{}{stderr}", out.status, String::from_utf8_lossy(&out.stdout)));
        }
        Ok(())
    }

    fn write_configs(&self, port: u16) -> Result<(), String> {
        let d = |f: &str| self.dir.join(f).display().to_string();
        let krb5_conf = |kdc_port: u16| {
            format!(
                "[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    # No ccache or keytab outside this directory, whatever the machine has.
    default_ccache_name = FILE:{ccache}
    default_client_keytab_name = FILE:{client_kt}
    default_keytab_name = FILE:{kt}

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{kdc_port}
    }}

[domain_realm]
    localhost = {REALM}
    {ELSEWHERE_HOST} = {REALM}
",
                ccache = d("no-default.ccache"),
                client_kt = d("no-default-client.keytab"),
                kt = d("no-default.keytab"),
            )
        };
        let kdc_conf = format!(
            "[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {REALM} = {{
        database_name = {db}
        key_stash_file = {stash}
        acl_file = {acl}
        # Like Fedora's realm: a wrong key is refused by the KDC at once.
        default_principal_flags = +preauth
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{kdc_log}
    admin_server = FILE:{kadmin_log}
    default = FILE:{kdc_log}
",
            db = d("principal"),
            stash = d("stash"),
            acl = d("kadm5.acl"),
            kdc_log = d("kdc.log"),
            kadmin_log = d("kadmin.log"),
        );
        let write = |name: &str, text: &str| fs::write(self.dir.join(name), text).map_err(|e| format!("{name}: {e}"));
        write("krb5.conf", &krb5_conf(port))?;
        // Port 1 (tcpmux) is refused on any machine we run on, so the library gives
        // up at once instead of timing out; a random free port could be taken by a
        // realm of a test running in parallel.
        write("krb5-unreachable.conf", &krb5_conf(1))?;
        write("kdc.conf", &kdc_conf)?;
        write("kadm5.acl", "")
    }

    /// Polls until the KDC accepts TCP connections (it opens UDP and TCP together),
    /// failing early with its log if it exits.
    fn wait_for_kdc(&mut self, port: u16) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let kdc = self.kdc.as_mut().expect("started");
            if let Ok(Some(status)) = kdc.try_wait() {
                return Err(format!("krb5kdc exited ({status}):\n{}", self.logs()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("krb5kdc did not listen on {addr} within 15 s:\n{}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        ["krb5kdc.stderr", "kdc.log"]
            .iter()
            .map(|f| format!("--- {f}\n{}", fs::read_to_string(self.dir.join(f)).unwrap_or_default()))
            .collect()
    }
}

impl Drop for TestRealm {
    fn drop(&mut self) {
        if let Some(mut kdc) = self.kdc.take() {
            let _ = kdc.kill();
            let _ = kdc.wait();
        }
        if self.owned {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// PATH first, then the sbin directories Debian installs the KDC tools in, which
/// are not on a non-root user's PATH.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn make_temp_dir() -> Result<PathBuf, String> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        // A leftover of a dead process with our pid is skipped, not reused.
        let dir = base.join(format!("fedora-ci-realm-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating {}: {e}", dir.display())),
        }
    }
    Err(format!("no free temporary directory name under {}", base.display()))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

/// For a binary (not a test) that verifies Kerberos tickets in-process, such as
/// `make run`'s Koji hub: starts a realm and names it in `KRB5_CONFIG` of this
/// process. Call it first thing in `main`, before any thread exists, so setting
/// the variable races with nothing. `None`, with the reason on stderr, when the
/// KDC tools are missing or the realm does not start.
pub fn start_for_this_process() -> Option<TestRealm> {
    let realm = match TestRealm::start() {
        Ok(realm) => realm,
        Err(e) => {
            eprintln!("no Kerberos realm ({e}); Koji builds will fail to log in and FASJSON refuses every request");
            return None;
        }
    };
    // SAFETY: called before any other thread is started (see above).
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("KRB5_CONFIG", realm.krb5_config())
    };
    Some(realm)
}

/// A test body run against a fresh realm: `checks` runs in a child process
/// (the calling test, run alone) whose `KRB5_CONFIG` names the realm, plus `env`
/// computed from it; the test fails if the child fails, and when no realm can be
/// started (e.g. the KDC tools are missing: see [`TestRealm::start`]). In the
/// child, which finds the realm from its parent, `checks` runs itself.
///
/// Call it from the test function itself: the test's name is the name of the
/// thread libtest runs it on.
pub fn in_realm(env: impl FnOnce(&TestRealm) -> Vec<(&'static str, OsString)>, checks: impl FnOnce(&TestRealm)) {
    if let Some(realm) = TestRealm::from_parent() {
        return checks(&realm);
    }
    let test = current_test();
    let realm = TestRealm::start().unwrap_or_else(|e| panic!("{test}: starting the test realm: {e}"));
    let env = env(&realm);
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    if let Err(e) = realm.run_in_child(&test, &env) {
        panic!("{e}");
    }
}

/// [`in_realm`] for an async test body, run in the child on a current-thread
/// runtime (as `#[tokio::test]` would). The body finds the realm with
/// [`TestRealm::from_parent`], as [`crate::harness::Harness`] does; in the
/// parent it is dropped without being run.
pub fn in_realm_async(body: impl std::future::Future<Output = ()>) {
    in_realm(
        |_| Vec::new(),
        |_| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(body),
    );
}

/// The running test's name, as `--exact` takes it: libtest names the thread it
/// runs each test on after the test (also with `--test-threads=1`).
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        other => panic!("in_realm must be called from a test's own thread (libtest names it), not {other:?}"),
    }
}
