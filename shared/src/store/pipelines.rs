//! `git_projects` → `pull_requests` → `project_events` → `pipelines`: the chain the
//! dashboard walks, written the way packit-service writes it (get-or-create on the
//! natural keys, so concurrent writers converge on the same rows).

use sqlx::PgConnection;

/// The PR a build or test run is for, kept in the row's `data` JSON. Flattened
/// there, so the keys stay the ones packit-service's dashboard and our earlier
/// rows have (`namespace`, `repo`, `pr_id`, `commit_sha`, …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrSource {
    /// Rows written before Forgejo have none: they are Pagure's.
    #[serde(default)]
    pub forge: crate::config::Forge,
    pub namespace: String,
    pub repo: String,
    pub pr_id: i64,
    /// The PR head the work is for.
    pub commit_sha: String,
    /// The PR's target branch.
    pub branch: String,
    /// Where the forge serves the head's files: on Pagure `fork/<user>/rpms/foo`
    /// when the PR comes from a fork, else `rpms/foo`; on Forgejo the head
    /// repository's `owner/name`.
    pub source_repo_path: String,
    /// The forge's own PR id (Pagure's uid, Forgejo's global id) and the PR's
    /// author, for Fedora CI messages (`artifact.uid`, `issuer`).
    #[serde(default)]
    pub pr_uid: Option<String>,
    #[serde(default)]
    pub pr_author: Option<String>,
}

impl PrSource {
    pub fn pr(&self) -> crate::clients::forge::PrId {
        crate::clients::forge::PrId {
            forge: self.forge,
            namespace: self.namespace.clone(),
            repo: self.repo.clone(),
            id: self.pr_id as u64,
        }
    }

    /// The git URL holding the PR head under the forge's git base URL
    /// (`Config::forge_git_url`): what Koji builds and `custom` tests clone.
    pub fn git_url(&self, git_base: &str) -> String {
        let path = match (self.forge, self.source_repo_path.strip_prefix("fork/")) {
            // Pagure's web routes say `fork/<user>/…`, its git URLs `forks/<user>/…`.
            (crate::config::Forge::Pagure, Some(rest)) => format!("forks/{rest}"),
            _ => self.source_repo_path.clone(),
        };
        format!("{}/{path}.git", git_base.trim_end_matches('/'))
    }
}

/// A PR head commit on dist-git.
#[derive(Debug, Clone)]
pub struct PrHead {
    pub namespace: String,
    pub repo: String,
    /// `https://src.fedoraproject.org/rpms/foo`
    pub project_url: String,
    /// `https://src.fedoraproject.org`
    pub instance_url: String,
    pub pr_id: i64,
    pub commit_sha: String,
}

/// Ids of the rows a PR head maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrRows {
    pub project_id: i32,
    pub pull_request_id: i32,
    pub project_event_id: i32,
}

/// Gets or creates the project, PR and project-event rows of a PR head.
///
/// Each is read first and inserted only when missing: a plain upsert
/// (`ON CONFLICT … DO UPDATE`, to get the id back) locks the existing row until
/// the transaction ends, so concurrent events of one package (replicas, a burst
/// of pushes) would wait for each other's whole transaction, and each would leave
/// a dead row version behind. The `DO UPDATE` remains only for two writers
/// creating the same row at once, where it hands the second one the first one's id.
pub async fn record_pr_head(conn: &mut PgConnection, head: &PrHead) -> Result<PrRows, sqlx::Error> {
    // The three get-or-creates in one statement (one round trip), each as it was
    // alone: read, insert when missing, `DO UPDATE` for a concurrent creator.
    let sql = format!("WITH {} SELECT project.id, pr.id, event.id FROM project, pr, event", head_ctes("", ""));
    let (project_id, pull_request_id, project_event_id): (i32, i32, i32) =
        bind_head(sqlx::query_as(&sql), head).fetch_one(&mut *conn).await?;
    Ok(PrRows { project_id, pull_request_id, project_event_id })
}

/// What [`record_event_head`] wrote and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHead {
    pub rows: PrRows,
    /// Who skips the PR (`store::skips::skipped_by`), read in the same statement.
    pub skipped_by: Option<String>,
}

/// The start of a PR event's record, in one statement: the event's first
/// delivery (`store::events::record_once`), then the PR head
/// ([`record_pr_head`]), the package settings read at it
/// (`store::package_settings::record`, when given), and who skips the PR.
/// `None` when the event was handled before: then nothing else was written
/// (every insert reads the `processed_events` one, so it runs first and waits
/// for a concurrent delivery's transaction as the insert alone did).
pub async fn record_event_head(
    conn: &mut PgConnection,
    consumer: &str,
    meta: &crate::messages::EventMeta,
    head: &PrHead,
    settings: Option<&crate::rules::package_settings::Loaded>,
) -> Result<Option<EventHead>, sqlx::Error> {
    let sql = format!(
        "WITH first AS (INSERT INTO processed_events (consumer, event_source, event_id, event_type) \
           VALUES ($7, $8, $9, $10) ON CONFLICT (consumer, event_source, event_id) DO NOTHING RETURNING 1), \
         {}, \
         settings AS (INSERT INTO package_settings (project_event_id, settings, config_error) \
           SELECT event.id, $11, $12 FROM event WHERE $13 ON CONFLICT (project_event_id) DO NOTHING) \
         SELECT project.id, pr.id, event.id, \
           (SELECT skipped_by FROM pr_ci_skips WHERE pull_request_id = pr.id AND resumed_at IS NULL) \
         FROM project, pr, event",
        head_ctes(", first", " FROM first")
    );
    let row: Option<(i32, i32, i32, Option<String>)> = bind_head(sqlx::query_as(&sql), head)
        .bind(consumer)
        .bind(&meta.source)
        .bind(&meta.id)
        .bind(&meta.event_type)
        .bind(settings.map(|l| sqlx::types::Json(&l.settings)))
        .bind(settings.and_then(|l| l.config_error.as_ref().map(|e| e.to_string())))
        .bind(settings.is_some())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|(project_id, pull_request_id, project_event_id, skipped_by)| EventHead {
        rows: PrRows { project_id, pull_request_id, project_event_id },
        skipped_by,
    }))
}

/// The get-or-create CTEs of a PR head (`project`, `pr`, `event`), parameters
/// `$1`..`$6` ([`bind_head`]). `found_from` / `created_from` join every read
/// and insert with a gate CTE (or nothing).
fn head_ctes(found_from: &str, created_from: &str) -> String {
    format!(
        "found_project AS (SELECT id FROM git_projects{found_from} \
           WHERE namespace = $1 AND repo_name = $2 AND project_url = $3), \
         created_project AS (INSERT INTO git_projects (namespace, repo_name, project_url, instance_url) \
           SELECT $1, $2, $3, $4{created_from} WHERE NOT EXISTS (SELECT 1 FROM found_project) \
           ON CONFLICT (namespace, repo_name, project_url) DO UPDATE SET instance_url = EXCLUDED.instance_url \
           RETURNING id), \
         project AS (SELECT id FROM found_project UNION ALL SELECT id FROM created_project), \
         found_pr AS (SELECT p.id FROM pull_requests p, project WHERE p.pr_id = $5 AND p.project_id = project.id), \
         created_pr AS (INSERT INTO pull_requests (pr_id, project_id) \
           SELECT $5, project.id FROM project WHERE NOT EXISTS (SELECT 1 FROM found_pr) \
           ON CONFLICT (pr_id, project_id) DO UPDATE SET pr_id = EXCLUDED.pr_id RETURNING id), \
         pr AS (SELECT id FROM found_pr UNION ALL SELECT id FROM created_pr), \
         found_event AS (SELECT e.id FROM project_events e, pr \
           WHERE e.type = 'pull_request' AND e.event_id = pr.id AND e.commit_sha = $6), \
         created_event AS (INSERT INTO project_events (type, event_id, commit_sha) \
           SELECT 'pull_request', pr.id, $6 FROM pr WHERE NOT EXISTS (SELECT 1 FROM found_event) \
           ON CONFLICT (type, event_id, commit_sha) DO UPDATE SET commit_sha = EXCLUDED.commit_sha RETURNING id), \
         event AS (SELECT id FROM found_event UNION ALL SELECT id FROM created_event)"
    )
}

fn bind_head<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    head: &'q PrHead,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(&head.namespace)
        .bind(&head.repo)
        .bind(&head.project_url)
        .bind(&head.instance_url)
        .bind(head.pr_id)
        .bind(&head.commit_sha)
}

/// A PR closed (or merged: `true`), or reopened (`false`).
pub async fn mark_closed(conn: &mut PgConnection, pull_request_id: i32, closed: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE pull_requests SET closed_at = CASE WHEN $2 THEN COALESCE(closed_at, now()) END WHERE id = $1")
        .bind(pull_request_id)
        .bind(closed)
        .execute(conn)
        .await?;
    Ok(())
}

/// A new pipeline (one run of CI for a project event) for a package.
pub async fn create_pipeline(
    conn: &mut PgConnection,
    project_event_id: i32,
    package: &str,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO pipelines (project_event_id, package_name) VALUES ($1, $2) RETURNING id")
        .bind(project_event_id)
        .bind(package)
        .fetch_one(conn)
        .await
}
