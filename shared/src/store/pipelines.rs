//! `git_projects` → `pull_requests` → `project_events` → `pipelines`: the chain the
//! dashboard walks, written the way packit-service writes it (get-or-create on the
//! natural keys, so concurrent writers converge on the same rows).

use sqlx::PgConnection;

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
pub async fn record_pr_head(conn: &mut PgConnection, head: &PrHead) -> Result<PrRows, sqlx::Error> {
    // `DO UPDATE … SET x = x` makes RETURNING give the existing row's id on conflict.
    let project_id: i32 = sqlx::query_scalar(
        "INSERT INTO git_projects (namespace, repo_name, project_url, instance_url) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (namespace, repo_name, project_url) DO UPDATE SET instance_url = EXCLUDED.instance_url \
         RETURNING id",
    )
    .bind(&head.namespace)
    .bind(&head.repo)
    .bind(&head.project_url)
    .bind(&head.instance_url)
    .fetch_one(&mut *conn)
    .await?;
    let pull_request_id: i32 = sqlx::query_scalar(
        "INSERT INTO pull_requests (pr_id, project_id) VALUES ($1, $2) \
         ON CONFLICT (pr_id, project_id) DO UPDATE SET pr_id = EXCLUDED.pr_id RETURNING id",
    )
    .bind(head.pr_id as i32)
    .bind(project_id)
    .fetch_one(&mut *conn)
    .await?;
    let project_event_id: i32 = sqlx::query_scalar(
        "INSERT INTO project_events (type, event_id, commit_sha) VALUES ('pull_request', $1, $2) \
         ON CONFLICT (type, event_id, commit_sha) DO UPDATE SET commit_sha = EXCLUDED.commit_sha RETURNING id",
    )
    .bind(pull_request_id)
    .bind(&head.commit_sha)
    .fetch_one(&mut *conn)
    .await?;
    Ok(PrRows { project_id, pull_request_id, project_event_id })
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
