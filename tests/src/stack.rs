//! The functions as processes on one machine, the way `make run` starts them.

use std::path::{Path, PathBuf};

use fedora_ci::testing::RunningBinary;

/// Every function binary, with the port offset `make run` gives it.
pub const FUNCTIONS: [&str; 6] = ["pr-opened", "koji-finished", "tf-finished", "result-poller", "api", "fedmsg-bridge"];

/// Binaries sit next to the running executable (`target/<profile>/`), or one level
/// up for test executables (`target/<profile>/deps/`).
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let candidates = [dir.join(name), dir.parent().map(|p| p.join(name)).unwrap_or_default()];
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("{name} is not built next to {}; run `cargo build --workspace --bins` first", dir.display())
    })
}

pub fn binaries_built(dir: &Path) -> bool {
    FUNCTIONS.iter().all(|f| dir.join(f).is_file())
}

/// One running function.
pub struct Function {
    pub name: &'static str,
    pub process: RunningBinary,
}

/// Starts every function against `database_url`; each gets a free port. The
/// bridge is left out: it needs a broker, a queue and a sink (`AMQP_URL`,
/// `FEDORA_MESSAGING_QUEUE`, `K_SINK`), which the local stack does not wire yet.
pub async fn start_all(database_url: &str) -> Vec<Function> {
    let mut out = Vec::new();
    for name in FUNCTIONS.into_iter().filter(|f| *f != "fedmsg-bridge") {
        let exe = binary_path(name);
        let process =
            RunningBinary::start(exe.to_str().expect("utf-8 path"), &[("DATABASE_URL", database_url.to_owned())]).await;
        out.push(Function { name, process });
    }
    out
}
