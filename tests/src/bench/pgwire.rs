//! Counts database round trips on the wire: a loopback TCP proxy in front of
//! Postgres that reads the frontend protocol and counts every `Sync` (the end of
//! an extended-protocol query, which is what sqlx sends) and every simple `Query`.
//! Each of those waits for the server's `ReadyForQuery`, so the count is the
//! number of round trips the function paid for, whatever the statements were.
//!
//! Postgres statistics (`pg_stat_database.xact_commit`) would count transactions,
//! which misses the statements inside one; `pg_stat_statements` is not always
//! loaded. The proxy needs `sslmode=disable` to see the messages.
//!
//! With `BENCH_TRACE_SQL` set, every round trip is printed to stderr with the
//! statements it ran (`ping` for a bare `Sync`): where a count comes from.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The counters of one proxy.
#[derive(Default, Debug)]
pub struct Counts {
    pub round_trips: AtomicU64,
    /// Round trips that ran a statement: a `Sync` after an `Execute`, or a
    /// `Query`. The rest are bare `Sync`s: sqlx's connection checks (pings).
    pub statements: AtomicU64,
    pub connections: AtomicU64,
}

impl Counts {
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }

    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }
}

pub struct Proxy {
    pub port: u16,
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (c, upstream) = (c.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        c.connections.fetch_add(1, Ordering::SeqCst);
                        let _ = relay(client, server, c).await;
                    }
                });
            }
        });
        Ok(Proxy { port, counts, task })
    }

    /// `url` (a `postgres://` URL) pointed at this proxy, without TLS.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("database URL");
        let _ = u.set_host(Some("127.0.0.1"));
        let _ = u.set_port(Some(self.port));
        let query: Vec<(String, String)> =
            u.query_pairs().filter(|(k, _)| k != "sslmode").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        u.query_pairs_mut().clear().extend_pairs(query).append_pair("sslmode", "disable");
        u.to_string()
    }
}

async fn relay(client: TcpStream, server: TcpStream, counts: Arc<Counts>) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let back = tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut parser =
        Frontend { trace: std::env::var_os("BENCH_TRACE_SQL").map(|_| Trace::default()), ..Default::default() };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = client_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        server_write.write_all(&buf[..n]).await?;
        let (trips, statements) = parser.feed(&buf[..n]);
        counts.round_trips.fetch_add(trips, Ordering::SeqCst);
        counts.statements.fetch_add(statements, Ordering::SeqCst);
    }
    let _ = server_write.shutdown().await;
    back.abort();
    Ok(())
}

/// The client side of the protocol, incrementally: untyped startup packets
/// (`SSLRequest`, `StartupMessage`) first, then typed messages.
#[derive(Default)]
struct Frontend {
    pending: Vec<u8>,
    started: bool,
    /// An `Execute` since the last `Sync`.
    executed: bool,
    trace: Option<Trace>,
}

/// The statements' text by prepared-statement name, and those bound since the
/// last `Sync`.
#[derive(Default)]
struct Trace {
    prepared: std::collections::HashMap<String, String>,
    bound: Vec<String>,
}

fn cstrings(payload: &[u8]) -> Vec<String> {
    payload.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect()
}

impl Frontend {
    /// Consumes bytes; returns how many round-trip messages completed in them,
    /// and how many of those ran a statement.
    fn feed(&mut self, bytes: &[u8]) -> (u64, u64) {
        self.pending.extend_from_slice(bytes);
        let (mut trips, mut statements) = (0, 0);
        loop {
            let header = if self.started { 5 } else { 4 };
            if self.pending.len() < header {
                break;
            }
            let len_at = if self.started { 1 } else { 0 };
            let len = u32::from_be_bytes(self.pending[len_at..len_at + 4].try_into().expect("4 bytes")) as usize;
            let total = len_at + len;
            if len < 4 || self.pending.len() < total {
                break;
            }
            if self.started {
                if let Some(t) = self.trace.as_mut() {
                    let payload = &self.pending[5..total];
                    match self.pending[0] {
                        b'P' => {
                            let s = cstrings(payload);
                            t.prepared.insert(s[0].clone(), s.get(1).cloned().unwrap_or_default());
                        }
                        b'B' => {
                            let s = cstrings(payload);
                            let name = s.get(1).cloned().unwrap_or_default();
                            t.bound.push(t.prepared.get(&name).cloned().unwrap_or(name));
                        }
                        b'S' => {
                            let bound = std::mem::take(&mut t.bound);
                            let text = if bound.is_empty() {
                                "ping".to_owned()
                            } else {
                                bound.iter().map(|b| one_line(b)).collect::<Vec<_>>().join(" ; ")
                            };
                            eprintln!("pgwire: {text}");
                        }
                        b'Q' => eprintln!("pgwire: Q {}", one_line(&cstrings(payload)[0])),
                        _ => {}
                    }
                }
                match self.pending[0] {
                    b'E' => self.executed = true,
                    b'S' => {
                        trips += 1;
                        statements += u64::from(std::mem::take(&mut self.executed));
                    }
                    b'Q' => {
                        trips += 1;
                        statements += 1;
                    }
                    _ => {}
                }
            } else {
                // 196608 is protocol 3.0: the StartupMessage; anything else here
                // (SSLRequest, GSSENCRequest) is followed by another untyped packet.
                let code = u32::from_be_bytes(self.pending[4..8].try_into().expect("4 bytes"));
                self.started = code == 196_608;
            }
            self.pending.drain(..total);
        }
        (trips, statements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((payload.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn counts_syncs_and_queries_after_startup_even_when_split() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&8u32.to_be_bytes());
        wire.extend_from_slice(&80_877_103u32.to_be_bytes()); // SSLRequest
        let startup = b"\0\x03\0\0user\0postgres\0\0";
        wire.extend_from_slice(&((startup.len() + 4) as u32).to_be_bytes());
        wire.extend_from_slice(startup);
        for m in [typed(b'P', b"\0SELECT 1\0\0\0"), typed(b'B', &[0; 10]), typed(b'E', &[0; 5]), typed(b'S', &[])] {
            wire.extend(m);
        }
        wire.extend(typed(b'Q', b"BEGIN\0"));
        wire.extend(typed(b'S', &[])); // a ping
        let mut f = Frontend::default();
        let (trips, statements) = wire.chunks(3).map(|c| f.feed(c)).fold((0, 0), |(t, s), (ct, cs)| (t + ct, s + cs));
        assert_eq!((trips, statements), (3, 2));
        assert!(f.pending.is_empty());
    }
}
