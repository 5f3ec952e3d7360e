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

/// The head (project event) a build belongs to and its settings, in one query;
/// the defaults when none were recorded (work from before the file existed, or
/// a `tests/` repository); `None` for a build with no pipeline.
pub async fn for_build(conn: &mut PgConnection, build_id: i32) -> Result<Option<(i32, PackageSettings)>, sqlx::Error> {
    let row: Option<(i32, Option<sqlx::types::Json<PackageSettings>>)> = sqlx::query_as(
        "SELECT h.project_event_id, s.settings FROM \
           (SELECT p.project_event_id FROM koji_build_targets k \
            JOIN pipelines p ON p.koji_build_group_id = k.koji_build_group_id WHERE k.id = $1 LIMIT 1) h \
         LEFT JOIN package_settings s ON s.project_event_id = h.project_event_id",
    )
    .bind(build_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(head, settings)| (head, settings.map(|j| j.0).unwrap_or_default())))
}
