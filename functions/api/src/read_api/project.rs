//! Where a build or test came from: packit-service's `get_project_info_from_build`
//! (utils.py), which walks group → its first pipeline → project event → PR →
//! project.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The columns [`origin_join`] adds, read with `#[sqlx(flatten)]`.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Origin {
    pub commit_sha: Option<String>,
    pub pr_id: Option<i64>,
    pub repo_namespace: Option<String>,
    pub repo_name: Option<String>,
    pub project_url: Option<String>,
    pub has_project: Option<bool>,
}

/// `LEFT JOIN LATERAL` giving the [`Origin`] columns of the group in
/// `group_expr` (a column of `pipelines` named by `group_column`), through the
/// group's first pipeline — packit-service's `runs[0]`.
pub fn origin_join(group_column: &str, group_expr: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (\
           SELECT e.commit_sha, pr.pr_id, g.namespace AS repo_namespace, g.repo_name, g.project_url, \
                  g.id IS NOT NULL AS has_project \
           FROM pipelines p JOIN project_events e ON e.id = p.project_event_id \
           LEFT JOIN pull_requests pr ON e.type = 'pull_request' AND pr.id = e.event_id \
           LEFT JOIN git_projects g ON g.id = pr.project_id \
           WHERE p.{group_column} = {group_expr} ORDER BY p.id LIMIT 1) o ON true"
    )
}

/// The `Origin` columns in a SELECT list.
pub const ORIGIN_COLUMNS: &str = "o.commit_sha, o.pr_id, o.repo_namespace, o.repo_name, o.project_url, o.has_project";

/// packit-service's project info. Fedora CI only ever runs for pull requests on
/// dist-git, so the fields of other triggers (issues, branch pushes, releases,
/// Anitya upstreams) are always null here, as packit-service gives them for a PR.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectInfo {
    pub pr_id: Option<i64>,
    pub issue_id: Option<i32>,
    pub branch_name: Option<String>,
    pub release: Option<String>,
    pub anitya_version: Option<String>,
    pub repo_namespace: Option<String>,
    pub repo_name: Option<String>,
    pub project_url: Option<String>,
    pub anitya_project_id: Option<i32>,
    pub anitya_project_name: Option<String>,
    pub anitya_package: Option<String>,
    pub non_git_upstream: bool,
}

impl Origin {
    /// `None` when no project is known, where packit-service adds no keys at all.
    pub fn project_info(&self) -> Option<ProjectInfo> {
        if self.has_project != Some(true) {
            return None;
        }
        Some(ProjectInfo {
            pr_id: self.pr_id,
            issue_id: None,
            branch_name: None,
            release: None,
            anitya_version: None,
            repo_namespace: self.repo_namespace.clone(),
            repo_name: self.repo_name.clone(),
            project_url: self.project_url.clone(),
            anitya_project_id: None,
            anitya_project_name: None,
            anitya_package: None,
            non_git_upstream: false,
        })
    }

    /// The `trigger` object of a run: the project info, or `{}` without a project.
    pub fn trigger(&self) -> serde_json::Value {
        self.project_info().and_then(|p| serde_json::to_value(p).ok()).unwrap_or_else(|| serde_json::json!({}))
    }
}

/// packit-service's `optional_timestamp`: whole Unix seconds, or null.
pub fn timestamp(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp())
}
