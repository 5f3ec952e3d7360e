//! Postgres: the only state of the service.
//!
//! Queries are runtime-checked (`sqlx::query` with bound parameters, never string
//! building) so the build needs no database; the integration tests run every query
//! against a real Postgres instead.

pub mod build_lookup;
pub mod builds;
pub mod cache;
pub mod events;
pub mod package_settings;
pub mod pipelines;
pub mod skips;
pub mod status;
pub mod test_runs;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::config::secret::Secret;

/// The schema, embedded in every binary so `--migrate` needs no files at run time.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A connection idle at least this long is pinged before use; one used more
/// recently is handed out as is.
const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// A pool sized for a scale-to-zero function: lazy (a cold start opens no
/// connection until the first event needs one), small (many replicas share one
/// Postgres), and quick to give idle connections back.
///
/// sqlx pings every connection it hands out by default: a round trip per event
/// on top of the query. sqlx also pings each connection as it is returned (off
/// the request's path, not configurable in 0.8), so a connection that was just
/// returned is known good and is used without a ping; only one idle for
/// [`PING_IF_IDLE`] or more (e.g. across a Postgres restart) is checked first.
/// A connection that breaks in between fails its query: 503, and the Broker
/// redelivers.
pub fn connect_lazy(url: &Secret, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy(url.expose())
}

/// Brings the schema up to date. Safe to run from several processes at once: sqlx
/// takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// A `COLUMNS` list (`"a, b"`) qualified with a table alias (`"t.a, t.b"`), for
/// queries that join the table.
fn prefixed(columns: &str, alias: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

/// One cheap round trip, for `/readyz`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}
