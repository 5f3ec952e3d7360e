//! "Is this Koji task one of our builds?", asked for every task message of our
//! Koji user — and most of those tasks (tagging, other tools running as the same
//! user, builds submitted by hand) are not. Under a burst the answers are merged:
//! one query answers every task id that arrived while the previous query ran, so
//! the database sees a handful of statements where it would see one per message,
//! and each message skips a pool checkout (sqlx 0.8 pings a connection on every
//! return). A lone message waits for nothing: its query starts at once.

use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::builds::{self, BuildRow};

/// At most this many task ids per query: the statement stays an index lookup
/// with a small array, and a long queue is worked off in a few round trips.
const MAX_BATCH: usize = 256;
/// Messages waiting for the next query; past this, senders wait (backpressure
/// instead of unbounded memory).
const QUEUE: usize = 4096;

type Answer = Result<Option<BuildRow>, Arc<sqlx::Error>>;

struct Pending {
    instance: String,
    task_id: i64,
    reply: oneshot::Sender<Answer>,
}

/// Cheap to clone; one batching task per process, started by the first lookup
/// (so on the runtime that serves the requests).
#[derive(Clone)]
pub struct BuildLookup {
    pool: PgPool,
    queue: Arc<OnceLock<mpsc::Sender<Pending>>>,
}

impl BuildLookup {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, queue: Arc::new(OnceLock::new()) }
    }

    /// The build of Koji `instance` with this task id. A database error is shared
    /// by every lookup of the failed query, hence the `Arc`.
    pub async fn by_task_id(&self, instance: &str, task_id: i64) -> Answer {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(answer_batches(self.pool.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        let pending = Pending { instance: instance.to_owned(), task_id, reply };
        if queue.send(pending).await.is_ok()
            && let Ok(answer) = answer.await
        {
            return answer;
        }
        // The batching task is gone (its runtime shut down under a clone of this
        // lookup): ask directly rather than fail the message.
        let mut conn = self.pool.acquire().await.map_err(Arc::new)?;
        builds::by_task_id(&mut conn, instance, task_id).await.map_err(Arc::new)
    }
}

async fn answer_batches(pool: PgPool, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let keys: Vec<(&str, i64)> = batch.iter().map(|p| (p.instance.as_str(), p.task_id)).collect();
        let found = builds::by_task_ids(&pool, &keys).await.map_err(Arc::new);
        for pending in batch.drain(..) {
            let answer = match &found {
                Ok(rows) => Ok(rows.iter().find(|r| r.is_task(&pending.instance, pending.task_id)).cloned()),
                Err(e) => Err(e.clone()),
            };
            // The asker may have gone (its delivery was cancelled): nothing to do.
            let _ = pending.reply.send(answer);
        }
    }
}
