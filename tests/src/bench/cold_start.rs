//! Cold start: process exec → first `GET /readyz` answered 200 (the database
//! answered too), as Knative would see a scaled-from-zero replica become ready.
//! Baselines: how long a bare `python3 -c pass` takes to run, and, with
//! `BENCH_PACKIT_VENV` naming a virtualenv with packit-service, how long its worker
//! takes to import its task module.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest we wait for one start before calling it failed.
const START_LIMIT: Duration = Duration::from_secs(10);

/// One start of `exe`: milliseconds from spawn to the first 200 on `/readyz`.
pub fn start_to_ready(exe: &Path, env: &[(String, String)]) -> Result<f64, String> {
    Ok(start_to_ready_with_peak(exe, env)?.0)
}

/// [`start_to_ready`], and the process's peak resident memory by then
/// (`VmHWM`, MiB): what a replica needed to become ready.
pub fn start_to_ready_with_peak(exe: &Path, env: &[(String, String)]) -> Result<(f64, f64), String> {
    let (ms, peak) = timed_start(exe, env, |port| readyz_ok(port).then_some(Ok(())), "ready")?;
    Ok((ms, peak.ok_or_else(|| format!("no VmHWM for {}", exe.display()))?))
}

/// One start of `exe` as a scale-from-zero replica meets its first event:
/// milliseconds from spawn to the answer to `request` (a whole HTTP/1.1 request,
/// sent as soon as the port accepts), its first database connection included.
/// The answer must be 2xx.
pub fn start_to_first_answer(exe: &Path, env: &[(String, String)], request: &[u8]) -> Result<f64, String> {
    let connect = |port| TcpStream::connect(("127.0.0.1", port)).ok().map(|s| answer(s, request));
    Ok(timed_start(exe, env, connect, "listening")?.0)
}

/// Spawns `exe` on a free port and polls `done(port)` until it answers
/// (`Some`): milliseconds from spawn to then and the peak RSS (MiB) by then, or
/// why it failed.
fn timed_start(
    exe: &Path,
    env: &[(String, String)],
    done: impl Fn(u16) -> Option<Result<(), String>>,
    what: &str,
) -> Result<(f64, Option<f64>), String> {
    let port = fedora_ci::dev::testing::free_port();
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
    let result = loop {
        if let Some(outcome) = done(port) {
            let elapsed = super::ms(started.elapsed());
            break outcome.map(|()| (elapsed, super::memory::peak_rss_mib(child.id())));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("{} exited with {status} before it was {what}", exe.display()));
        }
        if started.elapsed() > START_LIMIT {
            break Err(format!("{} not {what} within {START_LIMIT:?}", exe.display()));
        }
        // Polling, not synchronising: a connection refused returns at once, and a
        // short pause keeps the poller from taking the CPU the start needs.
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Sends `request` and reads the status line: `Ok` for a 2xx.
fn answer(mut stream: TcpStream, request: &[u8]) -> Result<(), String> {
    let _ = stream.set_read_timeout(Some(START_LIMIT));
    stream.write_all(request).map_err(|e| format!("sending the event: {e}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| format!("reading the answer: {e}"))?;
    if head.starts_with(b"HTTP/1.1 2") {
        Ok(())
    } else {
        Err(format!("the first event was answered {}", String::from_utf8_lossy(&head)))
    }
}

/// A bare HTTP/1.1 request: a client library's own setup would be measured too.
fn readyz_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// `runs` starts; the first error ends the series.
pub fn series(exe: &Path, env: &[(String, String)], runs: usize) -> Result<Vec<f64>, String> {
    (0..runs).map(|_| start_to_ready(exe, env)).collect()
}

/// Milliseconds to run `program args` to its end, `runs` times.
pub fn process_runs(program: &Path, args: &[&str], runs: usize) -> Result<Vec<f64>, String> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("{}: {e}", program.display()))?;
            if !status.success() {
                return Err(format!("{} {args:?} exited with {status}", program.display()));
            }
            Ok(super::ms(started.elapsed()))
        })
        .collect()
}

/// One import of `module` by `python` (a venv's interpreter) in `dir`, with
/// `env` added: milliseconds from spawn to exit, and the interpreter's peak RSS
/// (MiB, `ru_maxrss` as it reports it itself after the import, so the `git`
/// processes it starts are not counted against it).
///
/// Python may write its bytecode caches (`PYTHONDONTWRITEBYTECODE` is removed):
/// a worker image has them, and without them every import compiles every
/// module again (5–9 s instead of about 4 here). Call it once untimed first.
pub fn python_import(python: &Path, module: &str, dir: &Path, env: &[(&str, &Path)]) -> Result<(f64, f64), String> {
    let code =
        format!("import resource, sys; import {module}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)");
    let started = Instant::now();
    let out = Command::new(python)
        .args(["-c", &code])
        .current_dir(dir)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let elapsed = super::ms(started.elapsed());
    if !out.status.success() {
        return Err(format!("{} -c 'import {module}' exited with {}", python.display(), out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kib: f64 = stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no ru_maxrss printed by the import: {stdout:?}"))?;
    Ok((elapsed, kib / 1024.0))
}

/// The interpreter `python3` on `PATH` runs: a version manager's shim (pyenv) is a
/// shell script whose own start would be counted against Python otherwise.
pub fn python3() -> Option<std::path::PathBuf> {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().ok()?;
    let exe = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    exe.is_file().then_some(exe)
}
