//! The last resort of the embedded default: a throwaway cluster of our own,
//! started with initdb/pg_ctl, that survives a restart (the outage tests use it).

use fedora_ci::dev::db::{LocalCluster, find_pg_bin};
use sqlx::Connection;

#[tokio::test]
async fn a_throwaway_cluster_starts_restarts_and_stops() {
    let Some(bin) = find_pg_bin() else {
        eprintln!("skipped: initdb/pg_ctl not found (install Debian's postgresql package)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("fci-cluster-{}", std::process::id()));
    let cluster = tokio::task::spawn_blocking(move || LocalCluster::new(dir, bin).ensure_running())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.url();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.unwrap();
    assert_eq!(one, 1);
    drop(conn);

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart()).await.unwrap().unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("same URL after restart");
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    drop(conn);

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap().unwrap();
    assert!(!cluster.is_running());
    assert!(sqlx::PgConnection::connect(&url).await.is_err());
    let _ = std::fs::remove_dir_all(&cluster.dir);
}
