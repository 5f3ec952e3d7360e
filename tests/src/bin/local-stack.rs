//! `make run`: the whole service on one machine. Finds or starts Postgres (the
//! embedded default), applies the schema, starts every function, prints the URLs,
//! and stops everything on Ctrl-C.

use anyhow::Context as _;
use fedora_ci::devdb::{self, Origin};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = devdb::server().await.context("finding a PostgreSQL for the local stack")?;
    let origin = match &server.origin {
        Origin::Environment => "DATABASE_URL".to_owned(),
        Origin::LocalServer => "the PostgreSQL on 127.0.0.1:5432".to_owned(),
        Origin::Container => "a testcontainers PostgreSQL".to_owned(),
        Origin::LocalCluster(dir) => format!("a local cluster in {}", dir.display()),
    };
    // A database of its own, so a demo never mixes with test data; dropped on exit.
    let db = devdb::TestDatabase::new().await.context("creating the local database")?;
    println!("database: {} on {origin}", db.name());
    let functions = fedora_ci_tests::stack::start_all(&db.url).await;
    for f in &functions {
        println!("{:<14} {}", f.name, f.process.url("/"));
    }
    println!("\nPOST CloudEvents to a function's URL; Ctrl-C stops everything.");
    fedora_ci::serve::shutdown_signal().await;
    drop(functions);
    drop(db);
    println!("stopped");
    Ok(())
}
