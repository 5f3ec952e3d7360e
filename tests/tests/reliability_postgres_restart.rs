//! Postgres goes away mid-run and comes back: while it is down the functions answer
//! 503 (so Knative redelivers) and `/readyz` says so; once it is back they serve
//! again without being restarted. A throwaway cluster of our own (initdb/pg_ctl,
//! `fedora_ci::dev::db::LocalCluster`) is stopped and started on the same port.

use std::time::{Duration, Instant};

use fedora_ci::dev::db::{LocalCluster, find_pg_bin};
use fedora_ci::dev::testing::{Fixture, RunningBinary, binary_request};
use fedora_ci_tests::harness::{Harness, WEBHOOK_SECRET};
use fedora_ci_tests::stack::binary_path;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

struct Cluster(LocalCluster);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.stop();
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The three ways an event makes a function use the database.
struct Probes {
    koji_finished: RunningBinary,
    tf_finished: RunningBinary,
    poller: RunningBinary,
    client: reqwest::Client,
}

impl Probes {
    /// (koji-finished with a task of ours it does not know, tf-finished with an
    /// authentic notification it does not know, one poller pass).
    async fn answers(&self) -> [StatusCode; 3] {
        let mut unknown = Fixture::load("koji_build_scratch_end.json");
        unknown.body["id"] = 777.into();
        let status = |r: reqwest::Result<reqwest::Response>| r.map(|r| r.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        [
            status(binary_request(&self.client, &self.koji_finished.url("/"), &unknown, "unknown").send().await),
            status(
                self.client
                    .post(self.tf_finished.url("/testing-farm/results"))
                    .json(&json!({ "request_id": "00000000-0000-0000-0000-000000000000", "token": WEBHOOK_SECRET }))
                    .send()
                    .await,
            ),
            status(self.client.post(self.poller.url("/")).send().await),
        ]
    }

    async fn ready(&self, p: &RunningBinary) -> StatusCode {
        self.client.get(p.url("/readyz")).send().await.map(|r| r.status()).unwrap_or(StatusCode::BAD_GATEWAY)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_answer_503_while_postgres_is_down_and_recover_without_a_restart() {
    let Some(bin) = find_pg_bin() else {
        return println!("skipped: initdb/pg_ctl not found (install Debian's postgresql package)");
    };
    let dir = std::env::temp_dir().join(format!("fci-restart-{}", std::process::id()));
    let cluster = Cluster(blocking(move || LocalCluster::new(dir, bin).ensure_running()).await.unwrap());
    let mut admin = PgConnection::connect(&cluster.0.url()).await.unwrap();
    sqlx::query("CREATE DATABASE fci_restart").execute(&mut admin).await.unwrap();
    drop(admin);
    let mut url = url::Url::parse(&cluster.0.url()).unwrap();
    url.set_path("/fci_restart");
    let url = url.to_string();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    fedora_ci::store::migrate(&pool).await.unwrap();
    pool.close().await;

    let h = Harness::with_env(&[("DATABASE_URL", &url)]).await;
    let owned = h.env();
    let env: Vec<(&str, String)> = owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let probes = Probes {
        koji_finished: start("koji-finished", &env).await,
        tf_finished: start("tf-finished", &env).await,
        poller: start("result-poller", &env).await,
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
    };
    // Up: the unknown task and request are acknowledged as nothing to do; the pass runs.
    let up = probes.answers().await;
    assert!(up.iter().all(StatusCode::is_success), "{up:?}");

    let c = cluster.0.clone();
    blocking(move || c.stop()).await.unwrap();
    let down = probes.answers().await;
    assert_eq!(down, [StatusCode::SERVICE_UNAVAILABLE; 3], "while Postgres is down");
    assert_eq!(probes.ready(&probes.koji_finished).await, StatusCode::SERVICE_UNAVAILABLE);
    // A foreign task needs no database: still answered.
    let r = binary_request(
        &probes.client,
        &probes.koji_finished.url("/"),
        &Fixture::load("koji_build_scratch_end.json"),
        "f",
    )
    .header("ce-kojiowner", "someone-else")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let c = cluster.0.clone();
    blocking(move || c.start_again()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answers = probes.answers().await;
        if answers.iter().all(StatusCode::is_success) {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered within 60 s: {answers:?}");
    }
    assert_eq!(probes.ready(&probes.tf_finished).await, StatusCode::OK);
    for mut p in [probes.koji_finished, probes.tf_finished, probes.poller] {
        assert_eq!(p.exited(), None, "a function exited instead of recovering: {}", p.logs());
    }
}

async fn start(name: &str, env: &[(&str, String)]) -> RunningBinary {
    RunningBinary::start(binary_path(name).to_str().unwrap(), env).await
}
