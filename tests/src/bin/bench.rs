//! `make bench`: cold start, memory, irrelevant-event throughput, end-to-end
//! latency and a reconciliation pass, each next to a baseline from the same run
//! (see `fedora_ci_tests::bench`). Prints a Markdown table and writes
//! `target/bench/report.json`.
//!
//! `BENCH_SECONDS` (default 30) is the length of each latency window and
//! `BENCH_THROUGHPUT_SECONDS` (default 10) of each throughput run; shorter values
//! make a quick smoke run. `BENCH_PACKIT_VENV` adds the anchor: packit-service's
//! worker import (time and peak RSS) paired with pr-opened's cold start, and the
//! ratios with their targets (`--only anchor` runs just that).
//!
//! `--only koji` runs just the koji-finished section (irrelevant-event throughput
//! and its round trips per event), `--only latency` just the PR → build + flag
//! windows, `--only curves` just the cost curves (reconciliation by pending rows,
//! the status page and `/api/runs` by pipelines): a quick before/after without the
//! rest of the run. `--long` adds the large sizes to the curves (100k pending
//! rows, 2M pipelines); `make bench-long` is `--only curves --long`, and writes
//! `target/bench/report-long.json`. `--only trips` counts just the database round
//! trips per event (any profile: the count does not depend on optimisation).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fedora_ci::dev::testing::RunningBinary;
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::bench::history::{self, History};
use fedora_ci_tests::bench::load::{self, Outcome};
use fedora_ci_tests::bench::pgwire::Proxy;
use fedora_ci_tests::bench::throughput::Traffic;
use fedora_ci_tests::bench::{
    Curve, Line, Report, cold_start, count, latency, memory, percentile, reconcile, spread, throughput,
};
use fedora_ci_tests::harness::{Harness, kerberized_koji};
use fedora_ci_tests::realm::TestRealm;
use fedora_ci_tests::sandbox::koji::KojiHub;
use fedora_ci_tests::stack::binary_path;

/// The functions that serve events (the bridge is a consumer, measured with AMQP).
const FUNCTIONS: [&str; 5] = ["pr-opened", "koji-finished", "tf-finished", "result-poller", "api"];
const COLD_STARTS: usize = 20;
const CONCURRENCY: usize = 32;
const KOJI_USER: &str = "packit-ci";
/// Pending builds per reconciliation pass: `make bench`, then `--long`'s.
const RECONCILE_SIZES: [i64; 2] = [1_000, 10_000];
const RECONCILE_SIZES_LONG: [i64; 1] = [100_000];
/// Pipelines in the database for the read curve: `make bench`, then `--long`'s.
const READ_SIZES: [i64; 2] = [20_000, 200_000];
const READ_SIZES_LONG: [i64; 1] = [2_000_000];
/// Requests measured per read, after a few unmeasured ones (connection, caches).
const READ_REQUESTS: usize = 50;
const READ_WARMUP: usize = 3;
/// The PR whose event makes the build row the reconciliation copies when no
/// other section made one (`--only curves`).
const TEMPLATE_PR: u64 = 700_000;

fn main() -> anyhow::Result<()> {
    let realm = fedora_ci_tests::realm::start_for_this_process();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(realm))
}

/// One section alone, for working on it (nothing written to report.json, which
/// stays the record of a full run).
#[derive(Clone, Copy, PartialEq)]
enum Only {
    /// `--only koji`: irrelevant Koji events through koji-finished.
    Koji,
    /// `--only latency`: PR → build + flag through pr-opened.
    Latency,
    /// `--only curves`: reconciliation and reads at several sizes.
    Curves,
    /// `--only trips`: database round trips per event, every function measured.
    Trips,
    /// `--only anchor`: packit-service's import against pr-opened's start
    /// (`BENCH_PACKIT_VENV` required).
    Anchor,
    /// `--only starts`: cold starts and the first PR event after one (and the
    /// anchor when `BENCH_PACKIT_VENV` is set).
    Starts,
}

/// `--only <section>` and `--long`.
struct Args {
    only: Option<Only>,
    long: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args { only: None, long: false };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--long" => args.long = true,
            "--only" => {
                args.only = Some(match given.next().as_deref() {
                    Some("koji") => Only::Koji,
                    Some("latency") => Only::Latency,
                    Some("curves") => Only::Curves,
                    Some("trips") => Only::Trips,
                    Some("anchor") => Only::Anchor,
                    Some("starts") => Only::Starts,
                    other => bail!("--only takes koji, latency, curves, trips, anchor or starts, not {other:?}"),
                })
            }
            other => {
                bail!(
                    "unknown argument {other:?}; the options are `--only koji|latency|curves|trips|anchor|starts` and `--long`"
                )
            }
        }
    }
    Ok(args)
}

/// The sizes of `make bench`, and with `long` the large ones after them.
fn curve_sizes(small: &[i64], large: &[i64], long: bool) -> Vec<i64> {
    small.iter().chain(large.iter().filter(|_| long)).copied().collect()
}

fn seconds(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).filter(|s| *s > 0).unwrap_or(default)
}

/// Everything the sections share: the sandboxes, one database, the environment of
/// the function processes and the Koji hub they log in to.
struct Bench {
    h: Harness,
    env: Vec<(String, String)>,
    koji: KojiHub,
    report: Report,
}

impl Bench {
    fn push(&mut self, line: Line) {
        eprintln!("  {}: {} {}", line.metric, fedora_ci_tests::bench::number(line.value), line.unit);
        self.report.lines.push(line);
    }

    fn env_with(&self, overrides: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push(((*k).to_owned(), v.clone()));
        }
        env
    }

    /// Starts a function as the cluster runs it: with `RUST_LOG=info` (the value in
    /// `knative/base/kustomization.yaml`), not the tests' `debug`, which writes
    /// several log lines per event.
    async fn start(&self, name: &str, env: &[(String, String)]) -> RunningBinary {
        let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        env.push(("RUST_LOG", "info".to_owned()));
        let process = RunningBinary::start(path_str(&binary_path(name)), &env).await;
        // Ready means the database answered too; "idle" is measured from here.
        let ready = reqwest::get(process.url("/readyz")).await.map(|r| r.status().is_success());
        assert!(matches!(ready, Ok(true)), "{name} is not ready");
        process
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

async fn run(realm: Option<TestRealm>) -> anyhow::Result<()> {
    let Some(realm) = realm else {
        bail!("make bench needs a throwaway Kerberos realm (apt-get install krb5-kdc krb5-admin-server krb5-user)")
    };
    let started = Instant::now();
    let args = args()?;
    let exe = std::env::current_exe()?;
    let profile = exe.parent().and_then(Path::file_name).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let h = Harness::with_env(&[("KOJI_USERS", KOJI_USER), ("FEDORA_CI_POLL_GRACE_SECONDS", "0")]).await;
    h.pagure.set_branches(latency::PROJECT, &["rawhide"]);
    let mut env = h.env();
    let koji = kerberized_koji(&realm, &mut env).await;
    let report = Report {
        machine: machine(),
        profile,
        started: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        seconds: 0.0,
        lines: Vec::new(),
        curves: Vec::new(),
        skipped: Vec::new(),
    };
    let mut b = Bench { h, env, koji, report };
    if args.only == Some(Only::Curves) {
        let poller = b.start("result-poller", &b.env.clone()).await;
        let api = b.start("api", &b.env.clone()).await;
        cost_curves(&mut b, &poller, &api, args.long).await?;
        b.report.seconds = started.elapsed().as_secs_f64();
        println!("{}", b.report.markdown());
        if args.long {
            let path = target_dir().join("bench").join("report-long.json");
            b.report.write_json(&path).with_context(|| format!("writing {}", path.display()))?;
            println!("\nwritten: {}", path.display());
        }
        return Ok(());
    }
    if args.only == Some(Only::Trips) {
        eprintln!("database round trips (--only trips)");
        round_trips(&mut b, &["pr-opened", "koji-finished", "tf-finished"]).await?;
        b.report.seconds = started.elapsed().as_secs_f64();
        println!("{}", b.report.markdown());
        return Ok(());
    }
    if args.only == Some(Only::Starts) {
        eprintln!("cold start (--only starts)");
        cold_starts(&mut b).await?;
        b.report.seconds = started.elapsed().as_secs_f64();
        println!("{}", b.report.markdown());
        return Ok(());
    }
    if args.only == Some(Only::Anchor) {
        let venv = std::env::var_os("BENCH_PACKIT_VENV")
            .context("--only anchor needs BENCH_PACKIT_VENV (a venv with packit-service)")?;
        eprintln!("packit-service anchor (--only anchor)");
        packit_anchor(&mut b, PathBuf::from(venv)).await?;
        b.report.seconds = started.elapsed().as_secs_f64();
        println!("{}", b.report.markdown());
        return Ok(());
    }
    if let Some(section) = args.only {
        let function = if section == Only::Koji { "koji-finished" } else { "pr-opened" };
        let process = b.start(function, &b.env.clone()).await;
        if section == Only::Koji {
            eprintln!("irrelevant Koji events (--only koji)");
            irrelevant_events(&mut b, &process).await?;
        } else {
            eprintln!("end-to-end latency (--only latency)");
            end_to_end(&mut b, &process).await?;
        }
        drop(process);
        eprintln!("database round trips ({function})");
        round_trips(&mut b, &[function]).await?;
        b.report.seconds = started.elapsed().as_secs_f64();
        println!("{}", b.report.markdown());
        return Ok(());
    }

    eprintln!("cold start");
    cold_starts(&mut b).await?;
    eprintln!("memory and sizes");
    let mut running = Vec::new();
    for name in FUNCTIONS {
        let process = b.start(name, &b.env.clone()).await;
        let idle = memory::rss_mib(process.child.id()).context("reading VmRSS")?;
        b.push(Line::info(format!("idle RSS {name}"), idle, "MiB").at_most(15.0));
        running.push((name, process));
    }
    sizes(&mut b);
    eprintln!("irrelevant Koji events");
    let koji_finished = &running.iter().find(|(n, _)| *n == "koji-finished").expect("started").1;
    irrelevant_events(&mut b, koji_finished).await?;
    let rss = memory::rss_mib(koji_finished.child.id()).context("reading VmRSS")?;
    b.push(Line::info("loaded RSS koji-finished (after the throughput runs)", rss, "MiB"));
    eprintln!("end-to-end latency");
    let pr_opened = &running.iter().find(|(n, _)| *n == "pr-opened").expect("started").1;
    end_to_end(&mut b, pr_opened).await?;
    let rss = memory::rss_mib(pr_opened.child.id()).context("reading VmRSS")?;
    b.push(Line::info("loaded RSS pr-opened (after the latency runs)", rss, "MiB"));
    eprintln!("database round trips");
    round_trips(&mut b, &["pr-opened", "koji-finished", "tf-finished"]).await?;
    let poller = &running.iter().find(|(n, _)| *n == "result-poller").expect("started").1;
    let api = &running.iter().find(|(n, _)| *n == "api").expect("started").1;
    cost_curves(&mut b, poller, api, args.long).await?;
    let rss = memory::rss_mib(poller.child.id()).context("reading VmRSS")?;
    b.push(Line::info("loaded RSS result-poller (after the passes)", rss, "MiB"));
    drop(running);

    b.report.seconds = started.elapsed().as_secs_f64();
    println!("{}", b.report.markdown());
    let path = target_dir().join("bench").join("report.json");
    b.report.write_json(&path).with_context(|| format!("writing {}", path.display()))?;
    println!("\nwritten: {}", path.display());
    Ok(())
}

/// `target/` of this build (the bench runs from `target/<profile>/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"))
}

/// CPU count, memory and OS, for the README's "measured on".
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|r| r.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|s| s.trim_matches('"').to_owned()))
        .unwrap_or_default();
    format!("{cpus} CPUs, {mem_gib:.0} GiB, {os}")
}

async fn cold_starts(b: &mut Bench) -> anyhow::Result<()> {
    let python = cold_start::python3().context("python3 is needed for the cold-start baseline")?;
    let p = python.clone();
    let mut base = tokio::task::spawn_blocking(move || cold_start::process_runs(&p, &["-c", "pass"], COLD_STARTS))
        .await?
        .map_err(anyhow::Error::msg)?;
    let (_, python_median, _) = spread(&mut base);
    b.push(Line::info("python3 -c pass (baseline)", python_median, "ms"));
    match std::env::var_os("BENCH_PACKIT_VENV") {
        Some(venv) => packit_anchor(b, PathBuf::from(venv)).await?,
        None => {
            let why = "packit-service import baseline: BENCH_PACKIT_VENV is not set (a venv with packit-service)";
            eprintln!("  skipped: {why}");
            b.report.skipped.push(why.into());
        }
    }
    for name in FUNCTIONS {
        let (exe, env) = (binary_path(name), b.env.clone());
        let mut samples = tokio::task::spawn_blocking(move || cold_start::series(&exe, &env, COLD_STARTS))
            .await?
            .map_err(anyhow::Error::msg)?;
        let (min, median, max) = spread(&mut samples);
        b.push(
            Line::info(
                format!("cold start {name} (median of {COLD_STARTS}; min {min:.1}, max {max:.1})"),
                median,
                "ms",
            )
            .with_baseline("python3 -c pass", python_median)
            .at_most(20.0),
        );
    }
    first_event_after_cold_start(b).await
}

/// Pairs of packit-service's worker import and our pr-opened's cold start.
const ANCHOR_PAIRS: usize = 5;

/// One pair: milliseconds and peak RSS (MiB) of each side; `after_import_ms` is
/// pr-opened's first start after the import, `ready_ms` its next one.
struct AnchorPair {
    import_ms: f64,
    import_mib: f64,
    after_import_ms: f64,
    ready_ms: f64,
    ready_mib: f64,
}

/// The anchor (issue #25): what the function we replaced costs to start, in
/// the same run. packit-service's worker imports its task module
/// (`import packit_service.worker.tasks`, in a venv built as
/// `../shared/reference/packit-anchor.md` says) before it takes any task; our
/// pr-opened is ready at its first `/readyz` 200 (the database answered too).
/// Each pair runs back to back, so a busy moment of the machine slows both; the
/// ratios are the median of the pairs' own ratios. Both sides are timed warm:
/// the import with the bytecode caches an image ships (one untimed import
/// first), pr-opened on its second start after the import. Its first start
/// right after the 230 MiB interpreter exits is slower here (18–19 ms against
/// about 10 ms) and is shown on a line of its own, unjudged. The import runs in an empty
/// directory (it runs `git describe` where it stands) with
/// `PACKIT_SERVICE_CONFIG` naming a `deployment: dev` file when unset.
async fn packit_anchor(b: &mut Bench, venv: PathBuf) -> anyhow::Result<()> {
    let python = venv.join("bin").join("python");
    let dir = std::env::temp_dir().join(format!("fedora-ci-bench-anchor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = match std::env::var_os("PACKIT_SERVICE_CONFIG") {
        Some(path) => PathBuf::from(path),
        None => {
            let path = dir.join("packit-service.yaml");
            std::fs::write(&path, "deployment: dev\n")?;
            path
        }
    };
    let (exe, env) = (binary_path("pr-opened"), b.env.clone());
    let pairs = tokio::task::spawn_blocking(move || {
        let import = || {
            let env = [("PACKIT_SERVICE_CONFIG", config.as_path())];
            cold_start::python_import(&python, "packit_service.worker.tasks", &dir, &env)
        };
        // Untimed: writes the bytecode caches a worker image would ship.
        let pairs = import().and_then(|_| {
            (0..ANCHOR_PAIRS)
                .map(|i| {
                    let (import_ms, import_mib) = import()?;
                    let (after_import_ms, _) = cold_start::start_to_ready_with_peak(&exe, &env)?;
                    let (ready_ms, ready_mib) = cold_start::start_to_ready_with_peak(&exe, &env)?;
                    eprintln!(
                        "  pair {i}: import {import_ms:.0} ms, {import_mib:.1} MiB; pr-opened ready \
                         {after_import_ms:.1} ms right after it, then {ready_ms:.1} ms, {ready_mib:.1} MiB"
                    );
                    Ok(AnchorPair { import_ms, import_mib, after_import_ms, ready_ms, ready_mib })
                })
                .collect::<Result<Vec<_>, String>>()
        });
        let _ = std::fs::remove_dir_all(&dir);
        pairs
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    let median = |f: fn(&AnchorPair) -> f64| spread(&mut pairs.iter().map(f).collect::<Vec<_>>()).1;
    let n = ANCHOR_PAIRS;
    b.push(Line::info(format!("packit-service worker import (median of {n})"), median(|p| p.import_ms), "ms"));
    let import_mib = median(|p| p.import_mib);
    b.push(Line::info(format!("packit-service worker import, peak RSS (median of {n})"), import_mib, "MiB"));
    let after_import = median(|p| p.after_import_ms);
    b.push(Line::info(format!("pr-opened exec → /readyz right after the import (median of {n})"), after_import, "ms"));
    b.push(Line::info(format!("pr-opened exec → /readyz, paired (median of {n})"), median(|p| p.ready_ms), "ms"));
    let ready_mib = median(|p| p.ready_mib);
    b.push(Line::info(format!("pr-opened peak RSS at ready, paired (median of {n})"), ready_mib, "MiB"));
    let start_ratio = median(|p| p.import_ms / p.ready_ms);
    b.push(
        Line::info("start: packit-service import ÷ pr-opened ready (paired median)", start_ratio, "×").at_least(300.0),
    );
    let memory_ratio = median(|p| p.import_mib / p.ready_mib);
    b.push(
        Line::info("peak memory: packit-service import ÷ pr-opened (paired median)", memory_ratio, "×").at_least(20.0),
    );
    Ok(())
}

/// What a packager waits for beyond the pod start when pr-opened scales from
/// zero: exec → its first PR event answered (a Koji build submitted, with the
/// Kerberos login, and the flag set), the first database connection included.
async fn first_event_after_cold_start(b: &mut Bench) -> anyhow::Result<()> {
    const FIRST_PR: u64 = 800_000;
    latency::open_prs(&b.h.pagure, FIRST_PR, COLD_STARTS as u64);
    let (exe, env) = (binary_path("pr-opened"), b.env.clone());
    let mut samples = tokio::task::spawn_blocking(move || {
        (0..COLD_STARTS as u64)
            .map(|i| cold_start::start_to_first_answer(&exe, &env, &latency::pr_request_bytes(FIRST_PR + i)))
            .collect::<Result<Vec<f64>, String>>()
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    let (min, median, max) = spread(&mut samples);
    b.push(
        Line::info(
            format!("exec → first PR event answered, pr-opened (median of {COLD_STARTS}; min {min:.1}, max {max:.1})"),
            median,
            "ms",
        )
        .at_most(40.0),
    );
    Ok(())
}

fn sizes(b: &mut Bench) {
    for name in FUNCTIONS.iter().copied().chain(["fedmsg-bridge"]) {
        if let Some(size) = memory::file_mib(&binary_path(name)) {
            b.push(Line::info(format!("binary size {name}"), size, "MiB"));
        }
    }
    match memory::container_tool() {
        Some(tool) => {
            for name in FUNCTIONS {
                match memory::image_mib(tool, &format!("quay.io/packit/fedora-ci-{name}:dev")) {
                    Some(size) => b.push(Line::info(format!("image size {name}"), size, "MiB")),
                    None => b.report.skipped.push(format!("image size {name}: no image (run `make image` first)")),
                }
            }
        }
        None => b.report.skipped.push("image sizes: no container tool (podman, buildah, docker) here".into()),
    }
}

fn check(what: &str, out: &Outcome) -> anyhow::Result<()> {
    if out.failed > 0 {
        bail!("{what}: {} of {} requests failed, e.g. {:?}", out.failed, out.sent, out.failures);
    }
    Ok(())
}

async fn irrelevant_events(b: &mut Bench, koji_finished: &RunningBinary) -> anyhow::Result<()> {
    let secs = seconds("BENCH_THROUGHPUT_SECONDS", 10);
    let admin = fedora_ci::dev::db::server().await?.url.clone();
    let pgbench = throughput::pgbench().context("pgbench not found (apt-get install postgresql-contrib)")?;
    let tps = tokio::task::spawn_blocking(move || throughput::pgbench_select_tps(&pgbench, &admin, secs))
        .await?
        .map_err(anyhow::Error::msg)?;
    b.push(Line::info("pgbench -S -c 32 select-only (baseline)", tps, "tx/s"));
    let url = koji_finished.url("/");
    for (traffic, label, target) in [
        (Traffic::ForeignOwner, "foreign owner, no database", 1.0),
        (Traffic::UnknownTask, "our owner, unknown task (one lookup)", 0.5),
    ] {
        let make = throughput::koji_request(&url, traffic, KOJI_USER);
        let out = load::closed_loop(CONCURRENCY, 2_000_000, Duration::from_secs(secs), make).await;
        check(label, &out)?;
        b.push(
            Line::info(format!("koji-finished, {label}, c=32"), out.rate(), "ev/s")
                .with_baseline("pgbench -S", tps)
                .ratio_at_least(target),
        );
    }
    for overlay in ["stg", "prod"] {
        let routes = fedora_ci_tests::triggers::load(overlay);
        let user = throughput::overlay_koji_user(&routes).context("no kojiowner filter in the Trigger table")?;
        let prefix = format!("org.fedoraproject.{overlay}.");
        let (replayed, reached) = throughput::foreign_koji_events_routed(&routes, &prefix, &user);
        b.push(
            Line::info(
                format!("foreign Koji events reaching a function ({overlay}, of {replayed} replayed)"),
                reached as f64,
                "",
            )
            .at_most(0.0),
        );
    }
    Ok(())
}

async fn end_to_end(b: &mut Bench, pr_opened: &RunningBinary) -> anyhow::Result<()> {
    let secs = seconds("BENCH_SECONDS", 30);
    let url = pr_opened.url("/");
    let mut first = 1_000;
    for rate in [50u32, 200] {
        let builds_before = b.koji.builds().len();
        let retries_before = retry_rows(&b.h.db.pool).await?;
        // Every event the open loop may send, and some: it sends on schedule.
        latency::open_prs(&b.h.pagure, first, u64::from(rate) * secs * 2);
        let flags_before = b.h.pagure.flag_posts().len();
        let make = latency::pr_request(&url, first);
        let mut out = load::open_loop(rate, Duration::from_secs(secs), 1024, make).await;
        let flags = b.h.pagure.flag_posts().len() - flags_before;
        first += out.sent + 1;
        let builds = b.koji.builds().len() - builds_before;
        // A submission that failed transiently (e.g. the hub timed out under the
        // load) is answered 2xx with its build recorded for a retry by the poller:
        // by design, not lost. Counted so a gap between events and builds is told
        // apart from a lost event.
        let retries = retry_rows(&b.h.db.pool).await? - retries_before;
        out.latencies_ms.sort_by(f64::total_cmp);
        let achieved = out.ok as f64 / secs as f64;
        b.push(Line::info(
            format!("PR → Koji build + flag, {rate} ev/s for {secs} s: p50"),
            percentile(&out.latencies_ms, 50.0),
            "ms",
        ));
        b.push(
            Line::info(
                format!("PR → Koji build + flag, {rate} ev/s for {secs} s: p99"),
                percentile(&out.latencies_ms, 99.0),
                "ms",
            )
            .at_most(50.0),
        );
        out.send_lag_ms.sort_by(f64::total_cmp);
        b.push(Line::info(
            format!(
                "  how late the generator sent, {rate} ev/s: p99 (max {:.1} ms)",
                out.send_lag_ms.last().copied().unwrap_or_default()
            ),
            percentile(&out.send_lag_ms, 99.0),
            "ms",
        ));
        b.push(
            Line::info(format!("  answered 2xx at {rate} ev/s ({} failed)", out.failed), achieved, "ev/s")
                .at_least(f64::from(rate) * 0.99),
        );
        b.push(
            Line::info(
                format!("  Koji builds submitted at {rate} ev/s, + {retries} recorded for retry (one per event)"),
                (builds + retries) as f64,
                "",
            )
            .at_least(out.ok as f64),
        );
        b.push(
            Line::info(format!("  flags Pagure accepted at {rate} ev/s (one per event)"), flags as f64, "")
                .at_least(out.ok as f64),
        );
        if out.failed > 0 {
            eprintln!("  failures at {rate} ev/s: {:?}", out.failures);
        }
    }
    Ok(())
}

/// Builds waiting for a resubmission (`status = 'retry'`).
async fn retry_rows(pool: &sqlx::PgPool) -> anyhow::Result<usize> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM koji_build_targets WHERE status = 'retry'").fetch_one(pool).await?;
    Ok(n as usize)
}

/// Database round trips per event of each function and event type (issue #25),
/// counted on the wire by a proxy in front of Postgres. With pr-opened,
/// koji-finished and tf-finished all measured, the events follow one PR's life:
/// opened (a build), the build finished (the tests submitted), a test's result,
/// a new commit pushed (the old run superseded, a new build).
async fn round_trips(b: &mut Bench, functions: &[&str]) -> anyhow::Result<()> {
    let db = url::Url::parse(&b.h.db.url)?;
    let upstream = format!("{}:{}", db.host_str().unwrap_or("127.0.0.1"), db.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await?;
    let env = b.env_with(&[("DATABASE_URL", proxy.url_for(&b.h.db.url))]);
    const PRS: u64 = 100;
    const FIRST: u64 = 900_000;
    latency::open_prs(&b.h.pagure, FIRST, PRS);
    // A package in the ELN lists without an `eln` branch: two builds, two flags.
    b.h.pagure.set_branches("rpms/glibc", &["rawhide"]);
    latency::open_prs_on(&b.h.pagure, "glibc", 910_000, PRS);
    let measured = |f: &str| functions.contains(&f);
    let whole_life = ["pr-opened", "koji-finished", "tf-finished"].iter().all(|f| measured(f));
    let koji_finished = match measured("koji-finished") {
        true => Some(b.start("koji-finished", &env).await),
        false => None,
    };
    if measured("pr-opened") {
        let pr_opened = b.start("pr-opened", &env).await;
        let url = pr_opened.url("/");
        trips_per_event(b, &proxy, "PR event (pr-opened)", latency::pr_request(&url, FIRST), 1, PRS).await?;
        let eln = latency::pr_request_on(&url, "glibc", 910_000);
        trips_per_event(b, &proxy, "PR event with an ELN build (pr-opened)", eln, 1, PRS).await?;
        if let (true, Some(koji_finished)) = (whole_life, &koji_finished) {
            let tasks = bench_tasks(&b.koji, FIRST, PRS);
            for task in &tasks {
                b.koji.set_task_state(*task, KojiTaskState::Closed);
            }
            let finished = throughput::our_task_request(&koji_finished.url("/"), tasks, KOJI_USER);
            let label = "Koji build finished, its tests submitted (koji-finished)";
            trips_per_event(b, &proxy, label, finished, 1, PRS).await?;
            let tf_finished = b.start("tf-finished", &env).await;
            let requests: Vec<String> = b.h.tf.requests().into_iter().map(|r| r.id).take(PRS as usize).collect();
            for id in &requests {
                b.h.tf.set_state(id, "complete", Some("passed"), Some("all tests passed"));
            }
            let results = latency::tf_notification_request(&tf_finished.url("/testing-farm/results"), requests);
            trips_per_event(b, &proxy, "Testing Farm result (tf-finished)", results, 1, PRS).await?;
            for n in FIRST..FIRST + PRS {
                b.h.pagure.push(latency::PROJECT, n, &latency::updated_commit(n));
            }
            let updated = latency::pr_updated_request(&url, FIRST);
            trips_per_event(b, &proxy, "PR updated, the old run superseded (pr-opened)", updated, 1, PRS).await?;
        }
    }
    if let Some(koji_finished) = &koji_finished {
        let url = koji_finished.url("/");
        let foreign = throughput::koji_request(&url, Traffic::ForeignOwner, KOJI_USER);
        trips_per_event(b, &proxy, "foreign Koji event (koji-finished)", foreign, 1, PRS).await?;
        // Concurrent unknown-task lookups are merged into one query
        // (shared/src/store/build_lookup.rs): counted alone and at the
        // throughput run's concurrency.
        let unknown = || throughput::koji_request(&url, Traffic::UnknownTask, KOJI_USER);
        trips_per_event(b, &proxy, "unknown-task Koji event (koji-finished)", unknown(), 1, PRS).await?;
        let label = "unknown-task Koji event, c=32 (koji-finished)";
        trips_per_event(b, &proxy, label, unknown(), CONCURRENCY, 20_000).await?;
    }
    Ok(())
}

/// The Koji tasks of the bench's PRs `first..first + count` (their commits are
/// the PR numbers, `latency::pr_message_on`).
fn bench_tasks(koji: &KojiHub, first: u64, count: u64) -> Vec<i64> {
    let commits: Vec<String> = (first..first + count).map(|n| format!("#{n:040x}")).collect();
    koji.builds().into_iter().filter(|b| commits.iter().any(|c| b.src().ends_with(c))).map(|b| b.task_id).collect()
}

/// Round trips counted by the proxy, per answered event: `events` requests of
/// `make` at `concurrency`, pushed as a line labelled `label`.
async fn trips_per_event(
    b: &mut Bench,
    proxy: &Proxy,
    label: &str,
    make: load::MakeRequest,
    concurrency: usize,
    events: u64,
) -> anyhow::Result<()> {
    let counts = &proxy.counts;
    let (before, statements_before) = (counts.round_trips(), counts.statements());
    let out = load::closed_loop(concurrency, events, Duration::from_secs(60), make).await;
    check(label, &out)?;
    if out.ok < events {
        bail!("{label}: {} of {events} events answered in time", out.ok);
    }
    let per_event = (counts.round_trips() - before) as f64 / out.ok as f64;
    let statements = (counts.statements() - statements_before) as f64 / out.ok as f64;
    b.push(Line::info(format!("DB round trips per {label}"), per_event, ""));
    // The rest are sqlx's pings; it pings every connection given back to the
    // pool (after the answer, not configurable in sqlx 0.8).
    b.push(Line::info("  of which ran a statement", statements, ""));
    Ok(())
}

/// The cost curves of issue #25: reconciliation by pending rows, then the status
/// page and `/api/runs` by pipelines (in that order: the read side's history is
/// all finished work, which the poller never claims).
async fn cost_curves(b: &mut Bench, poller: &RunningBinary, api: &RunningBinary, long: bool) -> anyhow::Result<()> {
    eprintln!("reconciliation");
    reconciliation(b, poller, &curve_sizes(&RECONCILE_SIZES, &RECONCILE_SIZES_LONG, long)).await?;
    eprintln!("status page and /api/runs");
    reads(b, api, &curve_sizes(&READ_SIZES, &READ_SIZES_LONG, long)).await
}

/// A build row with a Koji task to copy: the first the latency runs made, or,
/// when they did not run, one made by a PR event through pr-opened.
async fn template_build(b: &mut Bench) -> anyhow::Result<i32> {
    let first = || {
        sqlx::query_scalar::<_, Option<i32>>("SELECT min(id) FROM koji_build_targets WHERE task_id IS NOT NULL")
            .fetch_one(&b.h.db.pool)
    };
    if let Some(id) = first().await? {
        return Ok(id);
    }
    latency::open_prs(&b.h.pagure, TEMPLATE_PR, 1);
    let pr_opened = b.start("pr-opened", &b.env.clone()).await;
    let out =
        load::closed_loop(1, 1, Duration::from_secs(60), latency::pr_request(&pr_opened.url("/"), TEMPLATE_PR)).await;
    check("the PR event that makes the build to copy", &out)?;
    first().await?.context("pr-opened recorded no build with a Koji task")
}

/// One result-poller pass per size over that many pending builds, each a copy of
/// a real build whose Koji task is still running: the pass checks every row and
/// changes none. The rows of one size are finished before the next size's.
async fn reconciliation(b: &mut Bench, poller: &RunningBinary, sizes: &[i64]) -> anyhow::Result<()> {
    let pool = b.h.db.pool.clone();
    let template = template_build(b).await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let mut first_task = 2_000_000_000;
    let mut rows = Vec::new();
    for &n in sizes {
        sqlx::query(
            "UPDATE koji_build_targets SET status = 'success' \
             WHERE id <> $1 AND status IN ('pending', 'running', 'retry')",
        )
        .bind(template)
        .execute(&pool)
        .await?;
        reconcile::copy_pending_builds(&pool, &b.koji, template, first_task, n - 1).await?;
        first_task += n;
        // The statistics autovacuum gives a table that grew; the pass's claims
        // use a partial index either way.
        sqlx::query("ANALYZE koji_build_targets").execute(&pool).await?;
        let started = Instant::now();
        let response = client.post(poller.url("/")).send().await?;
        let elapsed = started.elapsed().as_secs_f64();
        let status = response.status();
        let summary: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("result-poller answered {status}: {summary}");
        }
        let checked = summary["koji_checked"].as_f64().unwrap_or(0.0);
        let rate = checked / elapsed;
        b.push(Line::info(format!("reconciliation pass over {} pending builds", count(n)), elapsed, "s"));
        let per_second = Line::info("  rows checked per second", rate, "rows/s");
        // The target is for large passes; a small one is mostly the pass's fixed part.
        b.push(if n >= 10_000 { per_second.at_least(5_000.0) } else { per_second });
        b.push(Line::info("  rows checked (must be all)", checked, "").at_least(n as f64));
        rows.push(vec![
            count(n),
            format!("{elapsed:.2} s"),
            format!("{} rows/s", fedora_ci_tests::bench::number(rate)),
            format!("{:.0} µs", elapsed * 1e6 / checked.max(1.0)),
        ]);
    }
    b.report.curves.push(Curve {
        title: "Reconciliation: one result-poller pass over n pending builds, Koji answering \"running\" for each \
                (target ≥ 5,000 rows/s, flat per row)"
            .into(),
        columns: ["pending builds", "pass", "rows checked per second", "per row"].map(String::from).to_vec(),
        rows,
    });
    Ok(())
}

/// The status page and `/api/runs` with `sizes` pipelines in the database (a
/// history written in SQL, `bench::history`): p50 and p99 of
/// [`READ_REQUESTS`] sequential requests per page. Flat with size means every
/// query is on an index.
async fn reads(b: &mut Bench, api: &RunningBinary, sizes: &[i64]) -> anyhow::Result<()> {
    let pool = b.h.db.pool.clone();
    let mut history = History::begin(&pool).await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let labels = ["`/`", "`/?state=failure`", "`/?package=…`", "`/pr/…`", "`/api/runs`", "`/api/runs/merged/…`"];
    // (p50, p99) per page, per size.
    let mut figures: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut seeded = Vec::new();
    for &size in sizes {
        let started = Instant::now();
        history.grow_to(&pool, size).await?;
        seeded.push(started.elapsed().as_secs_f64());
        // A package and a PR in the middle of the history, and a run in the middle.
        let package = history::package(history.packages() / 2);
        let run: i64 =
            sqlx::query_scalar("SELECT (min(id) + max(id))::bigint / 2 FROM pipelines").fetch_one(&pool).await?;
        let paths = [
            "/".to_owned(),
            "/?state=failure".to_owned(),
            format!("/?package={package}"),
            format!("/pr/rpms/{package}/3"),
            "/api/runs".to_owned(),
            format!("/api/runs/merged/{run}"),
        ];
        let mut at_size = Vec::new();
        for path in &paths {
            let url = api.url(path);
            let mut samples = Vec::new();
            for i in 0..READ_WARMUP + READ_REQUESTS {
                let started = Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                let took = fedora_ci_tests::bench::ms(started.elapsed());
                if !status.is_success() || body.is_empty() {
                    bail!("GET {path} with {size} pipelines answered {status}");
                }
                if i >= READ_WARMUP {
                    samples.push(took);
                }
            }
            samples.sort_by(f64::total_cmp);
            at_size.push((percentile(&samples, 50.0), percentile(&samples, 99.0)));
        }
        figures.push(at_size);
    }
    let (first, last) = (0, sizes.len() - 1);
    for (i, label) in labels.iter().enumerate() {
        let (small, large) = (figures[first][i], figures[last][i]);
        b.push(
            Line::info(format!("GET {label} with {} pipelines: p50", count(sizes[last])), large.0, "ms")
                .with_baseline(&format!("with {}", count(sizes[first])), small.0)
                .ratio_at_most(2.0),
        );
        b.push(Line::info(format!("  p99 of {READ_REQUESTS}"), large.1, "ms"));
    }
    let mut rows: Vec<Vec<String>> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            std::iter::once(format!("GET {label}"))
                .chain(figures.iter().map(|f| format!("{:.1} / {:.1} ms", f[i].0, f[i].1)))
                .collect()
        })
        .collect();
    rows.push(
        std::iter::once("(history written in)".to_owned()).chain(seeded.iter().map(|s| format!("{s:.1} s"))).collect(),
    );
    b.report.curves.push(Curve {
        title: format!(
            "Status page and `/api/runs`: p50 / p99 of {READ_REQUESTS} requests by pipelines in the database \
             (target: flat with size, p50 at the largest ≤ 2× the smallest)"
        ),
        columns: std::iter::once("request".to_owned())
            .chain(sizes.iter().map(|n| format!("{} pipelines", count(*n))))
            .collect(),
        rows,
    });
    Ok(())
}
