//! The functions as processes on one machine, the way `make run` starts them.

use std::path::{Path, PathBuf};

use fedora_ci::dev::testing::RunningBinary;

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

/// Starts every function with `env`; each gets a free port. The result-poller
/// also runs on its own schedule (every minute). The bridge is left out: it needs
/// a Fedora Messaging queue (`AMQP_URL`, `FEDORA_MESSAGING_QUEUE`) and the broker
/// as its sink, which `make run` wires only when `AMQP_URL` is set.
pub async fn start_all(env: &[(String, String)]) -> Vec<Function> {
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut out = Vec::new();
    for name in FUNCTIONS.into_iter().filter(|f| *f != "fedmsg-bridge") {
        let exe = binary_path(name);
        let exe = exe.to_str().expect("utf-8 path");
        let process = if name == "result-poller" {
            RunningBinary::start_with_args(exe, &["--schedule", "0 * * * * *"], &env).await
        } else {
            RunningBinary::start(exe, &env).await
        };
        out.push(Function { name, process });
    }
    out
}
