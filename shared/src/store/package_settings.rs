//! `package_settings`: the `.fedora-ci.yaml` in effect for a PR head, read once by
//! pr-opened and reused by everything that acts on that head later.

use sqlx::PgConnection;

use crate::rules::package_settings::{Loaded, PackageSettings};

/// Keeps the first reading of a head (the file at one commit never changes, so a
/// redelivery or a later command finds the same row).
pub async fn record(conn: &mut PgConnection, project_event_id: i32, loaded: &Loaded) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO package_settings (project_event_id, settings, config_error) VALUES ($1, $2, $3) \
         ON CONFLICT (project_event_id) DO NOTHING",
    )
    .bind(project_event_id)
    .bind(sqlx::types::Json(&loaded.settings))
    .bind(loaded.config_error.as_ref().map(|e| e.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The settings of a head; the defaults when none were recorded (work from before
/// the file existed, or a `tests/` repository).
pub async fn for_head(conn: &mut PgConnection, project_event_id: i32) -> Result<PackageSettings, sqlx::Error> {
    let row: Option<sqlx::types::Json<PackageSettings>> =
        sqlx::query_scalar("SELECT settings FROM package_settings WHERE project_event_id = $1")
            .bind(project_event_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|j| j.0).unwrap_or_default())
}
