//! One result-poller pass over many pending builds while Koji answers: the rows
//! are copies of one real build row (made by pr-opened), each with a Koji task of
//! its own that is still running, so the pass checks every row and changes none.

use sqlx::PgPool;

use crate::sandbox::koji::KojiHub;

/// Copies build row `template` `copies` times with task ids `first_task..`, and
/// gives each copy a running task on `koji` cloned from the template's task. A
/// later call with a task range of its own adds another set (the earlier copies
/// are the caller's to finish first).
pub async fn copy_pending_builds(
    pool: &PgPool,
    koji: &KojiHub,
    template: i32,
    first_task: i64,
    copies: i64,
) -> Result<(), sqlx::Error> {
    let template_task: String = sqlx::query_scalar("SELECT task_id FROM koji_build_targets WHERE id = $1")
        .bind(template)
        .fetch_one(pool)
        .await?;
    let template_task: i64 = template_task.parse().map_err(|_| sqlx::Error::RowNotFound)?;
    koji.set_task_state(template_task, fedora_ci::messages::KojiTaskState::Open);
    koji.clone_task(template_task, first_task..first_task + copies);
    // Every column but the unique ones (key, task id, idempotency key), so the
    // copies are whatever a real row is, including columns added later.
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(column_name) FROM information_schema.columns \
         WHERE table_name = 'koji_build_targets' AND table_schema = current_schema() \
           AND column_name NOT IN ('id', 'task_id', 'idempotency_key') ORDER BY ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    let columns = columns.join(", ");
    sqlx::query(&format!(
        "INSERT INTO koji_build_targets (task_id, idempotency_key, {columns}) \
         SELECT ($2 + g)::text, 'bench-copy-' || ($2 + g), {columns} FROM koji_build_targets, generate_series(0, $3 - 1) AS g WHERE id = $1"
    ))
    .bind(template)
    .bind(first_task)
    .bind(copies)
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE koji_build_targets SET status = 'running', last_checked_at = NULL, \
           build_submitted_time = now() - interval '1 hour' \
         WHERE id = $1 OR (task_id ~ '^[0-9]+$' AND task_id::bigint >= $2 AND task_id::bigint < $2 + $3)",
    )
    .bind(template)
    .bind(first_task)
    .bind(copies)
    .execute(pool)
    .await?;
    Ok(())
}
