//! `pr_ci_skips`: PRs whose packager asked for no CI (`[skip ci]`, `/packit-ci skip`).
//!
//! One row per PR; skipped while `resumed_at` is NULL. Every write is a single
//! statement keyed by the PR, so duplicate or concurrent deliveries converge.

use sqlx::PgConnection;

/// A `[skip ci]` marker in the PR's title or description: skips the PR unless it
/// was ever skipped or resumed before (a packager's later `rerun` wins over the
/// marker still sitting in the title).
pub async fn mark_once(conn: &mut PgConnection, pull_request_id: i32, by: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pr_ci_skips (pull_request_id, skipped_by) VALUES ($1, $2) ON CONFLICT (pull_request_id) DO NOTHING",
    )
    .bind(pull_request_id)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// `/packit-ci skip`: skipped from now on, whatever happened before.
pub async fn mark(conn: &mut PgConnection, pull_request_id: i32, by: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pr_ci_skips (pull_request_id, skipped_by) VALUES ($1, $2) \
         ON CONFLICT (pull_request_id) DO UPDATE SET skipped_by = EXCLUDED.skipped_by, skipped_at = now(), \
             resumed_by = NULL, resumed_at = NULL",
    )
    .bind(pull_request_id)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// `/packit-ci scratch-build` or `rerun`: CI runs again for this PR.
pub async fn resume(conn: &mut PgConnection, pull_request_id: i32, by: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pr_ci_skips SET resumed_by = $2, resumed_at = now() WHERE pull_request_id = $1 AND resumed_at IS NULL",
    )
    .bind(pull_request_id)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Who skipped the PR, while it is skipped.
pub async fn skipped_by(conn: &mut PgConnection, pull_request_id: i32) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT skipped_by FROM pr_ci_skips WHERE pull_request_id = $1 AND resumed_at IS NULL")
        .bind(pull_request_id)
        .fetch_optional(conn)
        .await
}
