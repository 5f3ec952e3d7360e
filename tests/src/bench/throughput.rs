//! Irrelevant Koji traffic: task messages for tasks we never submitted are most of
//! what a Koji topic carries. Measured through koji-finished (a real process) at
//! concurrency 32, next to `pgbench -S -c 32` on the same Postgres in the same run,
//! and counted through the Trigger table: how many would reach the function at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use fedmsg_bridge::config::DEFAULT_PROMOTE;
use fedmsg_bridge::mapping::Promotions;
use fedora_ci::dev::testing::Fixture;

use super::load::{MakeRequest, cloudevent};
use crate::triggers::{Routing, TriggerRoute};

/// Who owns a task in the measured traffic.
#[derive(Debug, Clone, Copy)]
pub enum Traffic {
    /// Another Koji user: decided from the CloudEvent extension, no database.
    ForeignOwner,
    /// Our user, a task id we never submitted: one lookup.
    UnknownTask,
}

/// A binary-mode CloudEvent of a Koji task state change, as the bridge sends it
/// (with the `kojiowner` extension promoted from the body). Each has a task id of
/// its own; the body is serialised once and only the id written in per request.
pub fn koji_request(url: &str, traffic: Traffic, our_user: &str) -> MakeRequest {
    let owner = match traffic {
        Traffic::ForeignOwner => "someone-else",
        Traffic::UnknownTask => our_user,
    };
    task_state_requests(url, owner, move |i| (900_000_000 + i as i64, format!("bench-{traffic:?}-{i}")))
}

/// The end of one of our builds: the state change of `tasks[i]` (a `build` task
/// by our Koji user, already CLOSED on the hub), as the bridge sends it.
pub fn our_task_request(url: &str, tasks: Vec<i64>, our_user: &str) -> MakeRequest {
    task_state_requests(url, our_user, move |i| {
        let task = tasks[i as usize % tasks.len()];
        (task, format!("bench-our-task-{task}"))
    })
}

/// The `i`-th request: the task `task_and_id(i)` names, owned by `owner`, under
/// the CloudEvent id it names.
fn task_state_requests(
    url: &str,
    owner: &str,
    task_and_id: impl Fn(u64) -> (i64, String) + Send + Sync + 'static,
) -> MakeRequest {
    const PLACEHOLDER: i64 = 987_654_321_987;
    let mut fixture = Fixture::load("koji_build_scratch_end.json");
    fixture.body["owner"] = owner.into();
    fixture.body["id"] = PLACEHOLDER.into();
    fixture.body["info"]["id"] = PLACEHOLDER.into();
    let template = String::from_utf8(fixture.body_bytes()).expect("JSON is UTF-8");
    let (url, owner) = (url.to_owned(), owner.to_owned());
    Arc::new(move |i: u64| {
        let (task, id) = task_and_id(i);
        cloudevent(&url, &fixture.topic, &id)
            .header("ce-kojiowner", owner.as_str())
            .header("ce-kojimethod", "build")
            .body(template.replace(&PLACEHOLDER.to_string(), &task.to_string()).into())
            .expect("a valid request")
    })
}

/// `pgbench` next to `initdb` (Debian: `/usr/lib/postgresql/*/bin`), else on `PATH`.
pub fn pgbench() -> Option<PathBuf> {
    let beside = fedora_ci::dev::db::find_pg_bin().map(|d| d.join("pgbench")).filter(|p| p.is_file());
    beside
        .or_else(|| std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("pgbench")).find(|p| p.is_file()))
}

/// Select-only TPS of `pgbench -S -c 32 -j 2 -T <seconds>` on a scale-10 database
/// of its own on the server at `admin_url` (created and dropped here).
pub fn pgbench_select_tps(pgbench: &std::path::Path, admin_url: &str, seconds: u64) -> Result<f64, String> {
    let u = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
    let db = format!("fci_bench_pgbench_{}", std::process::id());
    let base = |cmd: &mut Command| {
        cmd.args(["-h", u.host_str().unwrap_or("127.0.0.1")])
            .args(["-p", &u.port().unwrap_or(5432).to_string()])
            .args(["-U", if u.username().is_empty() { "postgres" } else { u.username() }]);
        if let Some(p) = u.password() {
            cmd.env("PGPASSWORD", p);
        }
    };
    let run = |args: &[&str]| -> Result<String, String> {
        let mut cmd = Command::new(pgbench);
        base(&mut cmd);
        let out = cmd.args(args).output().map_err(|e| format!("pgbench: {e}"))?;
        if !out.status.success() {
            return Err(format!("pgbench {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let psql = pgbench.with_file_name("psql");
    let sql = |statement: String| -> Result<(), String> {
        let mut cmd = Command::new(&psql);
        base(&mut cmd);
        let out = cmd.args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", &statement]).output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Err(format!("psql: {e}")),
        }
    };
    sql(format!("DROP DATABASE IF EXISTS {db}"))?;
    sql(format!("CREATE DATABASE {db}"))?;
    let result = run(&["-i", "-s", "10", "-q", "-n", &db])
        .and_then(|_| run(&["-S", "-n", "-c", "32", "-j", "2", "-T", &seconds.to_string(), &db]))
        .and_then(|out| parse_tps(&out).ok_or_else(|| format!("no tps in pgbench output: {out}")));
    let _ = sql(format!("DROP DATABASE IF EXISTS {db}"));
    result
}

/// `tps = 12345.678901 (without initial connection time)`.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines().filter_map(|l| l.strip_prefix("tps = ")).find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Koji events from the fixtures, under `prefix`, with owners other than
/// `our_user`, with the extensions the bridge's default promotion adds; returns
/// (foreign events replayed, how many reached a function).
pub fn foreign_koji_events_routed(routes: &[TriggerRoute], prefix: &str, our_user: &str) -> (usize, usize) {
    let promotions = Promotions::parse(DEFAULT_PROMOTE).expect("the bridge's default promotion table parses");
    let mut replayed = 0;
    let mut reached = 0;
    for fixture in Fixture::all().into_iter().filter(|f| f.topic.contains(".buildsys.")) {
        let fixture = fixture.with_prefix(prefix);
        let recorded_owner = fixture.body["owner"].as_str().unwrap_or_default().to_owned();
        let owners = [recorded_owner.as_str(), "someone-else", "kojira", "", "packit-ci-stg", "packit-ci"];
        for owner in owners.into_iter().filter(|o| *o != our_user) {
            let mut body = fixture.body.clone();
            body["owner"] = owner.into();
            let extensions: BTreeMap<String, String> =
                promotions.apply(&fixture.topic, &body).into_iter().map(|(k, v)| (k, v.to_string())).collect();
            replayed += 1;
            reached += routes.routes_to(&fixture.topic, &extensions).len();
        }
    }
    (replayed, reached)
}

/// The Koji user an overlay's koji-finished Trigger lets through.
pub fn overlay_koji_user(routes: &[TriggerRoute]) -> Option<String> {
    routes.iter().find_map(|r| r.filters.get("kojiowner").cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let out = "latency average = 1.2 ms\ntps = 27123.456789 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(27123.456789));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn foreign_koji_events_reach_nothing_and_ours_do() {
        for overlay in ["stg", "prod"] {
            let routes = crate::triggers::load(overlay);
            let user = overlay_koji_user(&routes).expect("a kojiowner filter");
            let prefix = format!("org.fedoraproject.{overlay}.");
            let (replayed, reached) = foreign_koji_events_routed(&routes, &prefix, &user);
            assert!(replayed >= 10, "{overlay}: {replayed}");
            assert_eq!(reached, 0, "{overlay}");
            // The same replay with our user must get through, or the count above
            // would be zero for the wrong reason.
            let (_, ours) = foreign_koji_events_routed(&routes, &prefix, "nobody-at-all");
            assert!(ours > 0, "{overlay}: no event reached a function even with our user");
        }
    }
}
