//! The embedded-default database for `make run` and the tests (feature `dev`,
//! never in a production image).
//!
//! Finding a Postgres, in order:
//! 1. `DATABASE_URL`, when set;
//! 2. a server already on `127.0.0.1:5432` that lets the `postgres` role in
//!    without a password (Debian's default cluster with trust auth, as on the CI
//!    machines) — found, not started;
//! 3. a testcontainers Postgres, when a container engine answers;
//! 4. a throwaway cluster of our own under `target/devdb/` started with
//!    `initdb` + `pg_ctl` when those are on `PATH` or in `/usr/lib/postgresql/*/bin`
//!    (kept running between runs so tests start fast; `make db-stop` stops it);
//! 5. otherwise an error that says what to install or set.
//!
//! Tests then get a fresh database each ([`TestDatabase`]) so they run in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    #[error(
        "no PostgreSQL found: set DATABASE_URL=postgres://user@host:5432/db, or start a container engine \
         (podman/docker) for testcontainers, or install the PostgreSQL server (Debian: apt-get install postgresql) \
         so initdb and pg_ctl can start a throwaway cluster"
    )]
    NothingFound,
    #[error("local cluster in {dir}: {step} failed: {detail}")]
    Cluster { dir: String, step: &'static str, detail: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Where the found server came from, for the message `make run` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    LocalServer,
    Container,
    LocalCluster(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Server {
    /// Admin URL (a role that may create databases).
    pub url: String,
    pub origin: Origin,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The Postgres server for this process, found (or started) once.
pub async fn server() -> Result<&'static Server, DevDbError> {
    SERVER.get_or_try_init(find_server).await
}

async fn find_server() -> Result<Server, DevDbError> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return Ok(Server { url, origin: Origin::Environment });
    }
    if local_server_answers(LOCAL_URL).await {
        return Ok(Server { url: LOCAL_URL.to_owned(), origin: Origin::LocalServer });
    }
    if let Some(url) = container::start().await {
        return Ok(Server { url, origin: Origin::Container });
    }
    if let Some(bin) = find_pg_bin() {
        let cluster = LocalCluster::new(default_cluster_dir(), bin);
        let url = tokio::task::spawn_blocking(move || cluster.ensure_running().map(|c| (c.url(), c.dir.clone())))
            .await
            .map_err(|e| DevDbError::Cluster { dir: "?".into(), step: "start", detail: e.to_string() })??;
        return Ok(Server { url: url.0, origin: Origin::LocalCluster(url.1) });
    }
    Err(DevDbError::NothingFound)
}

const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn local_server_answers(url: &str) -> bool {
    let Ok(options) = url.parse::<PgConnectOptions>() else { return false };
    let attempt = async {
        let mut conn = PgConnection::connect_with(&options).await.ok()?;
        let can_create: bool =
            sqlx::query_scalar("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut conn)
                .await
                .ok()?;
        let _ = conn.close().await;
        Some(can_create)
    };
    matches!(tokio::time::timeout(std::time::Duration::from_secs(3), attempt).await, Ok(Some(true)))
}

#[cfg(feature = "containers")]
mod container {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::ContainerAsync;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use tokio::sync::OnceCell;

    /// Kept for the life of the process; testcontainers removes it on drop.
    static CONTAINER: OnceCell<ContainerAsync<Postgres>> = OnceCell::const_new();

    fn engine_present() -> bool {
        std::env::var_os("DOCKER_HOST").is_some()
            || ["/var/run/docker.sock", "/run/podman/podman.sock"].iter().any(|p| std::path::Path::new(p).exists())
            || std::env::var_os("XDG_RUNTIME_DIR")
                .is_some_and(|d| std::path::Path::new(&d).join("podman/podman.sock").exists())
    }

    /// `None` when no engine answers; the caller then tries the next option.
    pub async fn start() -> Option<String> {
        if !engine_present() {
            return None;
        }
        let container = CONTAINER.get_or_try_init(|| Postgres::default().start()).await.ok()?;
        let host = container.get_host().await.ok()?;
        let port = container.get_host_port_ipv4(5432).await.ok()?;
        Some(format!("postgres://postgres:postgres@{host}:{port}/postgres"))
    }
}

/// Built without the `containers` feature (the bench tool): no container is tried.
#[cfg(not(feature = "containers"))]
mod container {
    pub async fn start() -> Option<String> {
        None
    }
}

/// `target/devdb/pg` of this workspace (or `$FEDORA_CI_DEVDB_DIR`).
pub fn default_cluster_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FEDORA_CI_DEVDB_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("devdb").join("pg")
}

/// The directory holding `initdb` and `pg_ctl`: `PATH` first, then Debian's layout.
pub fn find_pg_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
            .collect();
        dirs.sort();
        dirs.pop()
    })
}

/// A Postgres cluster in a directory of ours, reachable on 127.0.0.1 with trust auth.
/// Postgres refuses to run as root, so as root the cluster runs as the `postgres`
/// system user (via `runuser`), which Debian's server package creates.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    pub dir: PathBuf,
    bin: PathBuf,
}

impl LocalCluster {
    pub fn new(dir: PathBuf, bin: PathBuf) -> Self {
        Self { dir, bin }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn err(&self, step: &'static str, detail: impl Into<String>) -> DevDbError {
        DevDbError::Cluster { dir: self.dir.display().to_string(), step, detail: detail.into() }
    }

    fn is_root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if Self::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Runs a tool with its output in a file, not a pipe: `pg_ctl start` leaves the
    /// server holding the inherited descriptors, and reading a pipe to its end would
    /// then wait for the server to exit.
    fn run(&self, step: &'static str, cmd: &mut Command) -> Result<(), DevDbError> {
        let out_path = self.dir.join(format!("{}.out", step.replace(' ', "-")));
        let out = std::fs::File::create(&out_path).map_err(|e| self.err(step, e.to_string()))?;
        let err = out.try_clone().map_err(|e| self.err(step, e.to_string()))?;
        let status = cmd
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| self.err(step, e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.err(step, std::fs::read_to_string(&out_path).unwrap_or_default().trim().to_owned()))
        }
    }

    pub fn port(&self) -> Option<u16> {
        std::fs::read_to_string(self.dir.join("port")).ok()?.trim().parse().ok()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port().unwrap_or(5432))
    }

    pub fn is_running(&self) -> bool {
        self.data().join("PG_VERSION").exists()
            && self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("status")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Initialises (first time) and starts the cluster unless it already runs.
    /// A lock file makes concurrent test processes agree on one start.
    pub fn ensure_running(self) -> Result<Self, DevDbError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err("mkdir", e.to_string()))?;
        let lock = std::fs::File::create(self.dir.join("lock")).map_err(|e| self.err("lock", e.to_string()))?;
        lock.lock().map_err(|e| self.err("lock", e.to_string()))?;
        if self.is_running() {
            return Ok(self);
        }
        if Self::is_root() {
            self.run("chown", Command::new("chown").args(["-R", "postgres:"]).arg(&self.dir))?;
        }
        if !self.data().join("PG_VERSION").exists() {
            self.run(
                "initdb",
                self.command("initdb")
                    .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
                    .arg(self.data()),
            )?;
        }
        self.start()?;
        Ok(self)
    }

    /// Starts on a fresh free port (the old one may have been taken meanwhile).
    pub fn start(&self) -> Result<(), DevDbError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| self.err("pick port", e.to_string()))?
            .port();
        self.start_on(port)
    }

    /// Starts again on the port it last had, so clients' URLs still work: the
    /// second half of an outage with a gap, for tests (`stop`, then this).
    pub fn start_again(&self) -> Result<(), DevDbError> {
        let port = self.port().ok_or_else(|| self.err("start again", "no port recorded"))?;
        self.start_on(port)
    }

    fn start_on(&self, port: u16) -> Result<(), DevDbError> {
        std::fs::write(self.dir.join("port"), port.to_string()).map_err(|e| self.err("write port", e.to_string()))?;
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c fsync=off \
             -c max_connections=300",
            self.data().display()
        );
        self.run(
            "pg_ctl start",
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &opts, "-l"])
                .arg(self.data().join("server.log"))
                .args(["-w", "start"]),
        )
    }

    pub fn stop(&self) -> Result<(), DevDbError> {
        if !self.is_running() {
            return Ok(());
        }
        self.run("pg_ctl stop", self.command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "fast", "-w", "stop"]))
    }

    /// Stop and start again on the same port: for tests of a database outage.
    pub fn restart(&self) -> Result<(), DevDbError> {
        self.run(
            "pg_ctl restart",
            self.command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "fast", "-w", "restart"]),
        )
    }
}

/// A database of its own for one test (or one `make run`), with the schema applied.
/// Dropped (with `FORCE`, closing stray connections) when the value is dropped.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
    name: String,
    admin_url: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDatabase {
    pub async fn new() -> Result<Self, DevDbError> {
        let server = server().await?;
        let name = format!(
            "fci_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or("0")
        );
        let admin: PgConnectOptions = server.url.parse()?;
        let mut conn = PgConnection::connect_with(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
        conn.close().await?;
        let options = admin.clone().database(&name);
        let url = options.to_url_lossy().to_string();
        let pool = PgPoolOptions::new().max_connections(20).connect_with(options).await?;
        crate::store::migrate(&pool).await?;
        Ok(Self { url, pool, name, admin_url: server.url.clone() })
    }

    /// Panics with the reason: a test without a database cannot say anything useful.
    pub async fn fresh() -> Self {
        match Self::new().await {
            Ok(db) => db,
            Err(e) => panic!("test database: {e}"),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside or outside a runtime; a thread with its own runtime works in
        // both. The test's pool is not closed here (its connections belong to the
        // test's runtime, which is blocked on this join); FORCE ends them instead.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
