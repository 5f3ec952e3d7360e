//! The AMQP broker for the local stack and the tests (feature `dev`, never in a
//! production image), found the way [`crate::dev::db`] finds PostgreSQL: there is no
//! container engine on the development and CI machines, so a broker that is already
//! running is the default, and the error says how to get one.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

/// Debian's `rabbitmq-server` with its default `guest` user, which may log in from
/// the loopback interface only.
pub const LOCAL_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// `AMQP_URL` when set (not checked: the caller's connection reports what is wrong
/// with it); otherwise [`LOCAL_URL`] if a broker there lets `guest` in.
pub async fn amqp_url() -> Result<String, String> {
    if let Some(url) = std::env::var("AMQP_URL").ok().filter(|u| !u.trim().is_empty()) {
        return Ok(url);
    }
    if broker_answers(LOCAL_URL).await {
        return Ok(LOCAL_URL.to_owned());
    }
    Err("no AMQP broker found: set AMQP_URL=amqp://user:password@host:5672/%2f, or install and start \
         RabbitMQ on this machine (Debian: apt-get install rabbitmq-server) so guest/guest works on \
         127.0.0.1:5672"
        .to_owned())
}

/// A full login, not just an open port: a port that answers but refuses `guest`
/// would only fail later, less clearly.
async fn broker_answers(url: &str) -> bool {
    let attempt = async {
        let conn = Connection::connect(url, ConnectionProperties::default()).await.ok()?;
        let _ = conn.close(200, "probe".into()).await;
        Some(())
    };
    matches!(tokio::time::timeout(Duration::from_secs(3), attempt).await, Ok(Some(())))
}
