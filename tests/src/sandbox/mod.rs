//! Sandbox servers that speak the real wire protocols of the services we cannot
//! reach from tests (Pagure REST, Forgejo REST, FASJSON, Koji XML-RPC and its log server, Testing Farm REST, the Log Detective
//! interface server, and
//! Sentry's and an OpenTelemetry collector's ingest endpoints). They
//! keep what they were asked in memory so tests can assert on it, and can be told
//! to fail.

pub mod fasjson;
pub mod faults;
pub mod forgejo;
pub mod koji;
pub mod log_detective;
pub mod otlp;
pub mod pagure;
pub mod sentry;
pub mod spnego;
pub mod static_files;
pub mod testing_farm;

/// Serves `router` on a free loopback port; returns the base URL (no trailing slash).
pub async fn spawn(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind sandbox");
    let addr = listener.local_addr().expect("sandbox addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}
