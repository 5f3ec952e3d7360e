//! The narrow interface where the two dist-git forges really differ: report a
//! check, comment on a PR, read a file at a commit, ask for a branch. Everything
//! above it (store, rules, workflows, dispatch) names a PR by [`PrId`] and a
//! check by [`FlagStatus`], whichever forge the PR is on.
//!
//! | | Pagure | Forgejo |
//! |---|---|---|
//! | check | PR flag (`uid` updates it in place) | commit status on the head (`context` = check name) |
//! | neutral (skipped, ended) | `canceled` | `warning` (Forgejo has no `canceled`) |
//! | comment | `…/pull-request/<id>/comment` | `…/issues/<number>/comments` |
//! | file at a commit | `<repo>/raw/<sha>/f/<path>` | `/api/v1/repos/<o>/<r>/raw/<path>?ref=<sha>` |

pub use super::check::{FlagStatus, PrId};
use super::forgejo::{CreateStatusOption, ForgejoClient, ForgejoError};
use super::pagure::{Flag, PagureClient, PagureError};
pub use crate::config::Forge;

/// One check's state as it is to be shown on the PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The check's name (Pagure flag `username`, Forgejo status `context`).
    pub name: String,
    /// Pagure's flag uid (same uid = same flag, updated in place).
    pub uid: String,
    pub status: FlagStatus,
    pub comment: String,
    pub url: String,
    /// The commit the check is about. Forgejo statuses live on it; Pagure puts a
    /// PR flag on whatever the PR's head is when it is posted. `None` only for
    /// rows written before the commit was kept.
    pub commit: Option<String>,
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(transparent)]
    Pagure(#[from] PagureError),
    #[error(transparent)]
    Forgejo(#[from] ForgejoError),
    /// A Forgejo check recorded without its commit (cannot happen for rows
    /// written since Forgejo support): nothing to post it on.
    #[error("no commit to put the Forgejo status on")]
    NoCommit,
}

impl ForgeError {
    /// The forge refused our token: renewing it is the only fix.
    pub fn is_token_rejected(&self) -> bool {
        match self {
            ForgeError::Pagure(e) => e.is_token_rejected(),
            ForgeError::Forgejo(e) => e.is_token_rejected(),
            ForgeError::NoCommit => false,
        }
    }

    /// Sending the same request again can never succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            ForgeError::Pagure(e) => e.is_permanent(),
            ForgeError::Forgejo(e) => e.is_permanent(),
            ForgeError::NoCommit => true,
        }
    }
}

/// Both forges' clients; each call goes to the PR's own forge.
#[derive(Clone)]
pub struct Forges {
    pub pagure: PagureClient,
    pub forgejo: ForgejoClient,
    /// The longest one call to a forge can take: the HTTP client's whole-request
    /// timeout (`FEDORA_CI_UPSTREAM_TIMEOUT_SECONDS`), since a forge call is never
    /// retried in place. A flush claims flags for this long per flag it sends.
    pub call_limit: std::time::Duration,
}

impl Forges {
    /// Shows a check's state on the PR.
    pub async fn report(&self, pr: &PrId, check: &Check) -> Result<(), ForgeError> {
        match pr.forge {
            Forge::Pagure => {
                let flag = Flag {
                    username: check.name.clone(),
                    comment: check.comment.clone(),
                    url: check.url.clone(),
                    status: check.status,
                    uid: check.uid.clone(),
                };
                Ok(self.pagure.set_flag(pr, &flag).await?)
            }
            Forge::Forgejo => {
                let commit = check.commit.as_deref().ok_or(ForgeError::NoCommit)?;
                let status = CreateStatusOption {
                    state: check.status.forgejo_state(),
                    context: check.name.clone(),
                    description: check.comment.clone(),
                    target_url: check.url.clone(),
                };
                Ok(self.forgejo.create_status(&pr.namespace, &pr.repo, commit, &status).await?)
            }
        }
    }

    pub async fn comment(&self, pr: &PrId, body: &str) -> Result<(), ForgeError> {
        match pr.forge {
            Forge::Pagure => Ok(self.pagure.comment(pr, body).await?),
            Forge::Forgejo => Ok(self.forgejo.comment(&pr.namespace, &pr.repo, pr.id, body).await?),
        }
    }

    /// A file at a commit, `None` when it does not exist; `repo_path` as
    /// [`crate::messages::PullRequestInfo::source_repo_path`] gives it.
    pub async fn raw_file(
        &self,
        forge: Forge,
        repo_path: &str,
        commit: &str,
        file: &str,
    ) -> Result<Option<String>, ForgeError> {
        match forge {
            Forge::Pagure => Ok(self.pagure.raw_file(repo_path, commit, file).await?),
            Forge::Forgejo => Ok(self.forgejo.raw_file(repo_path, commit, file).await?),
        }
    }

    /// Does `namespace/repo` have `branch`? (A missing repository has none.)
    pub async fn has_branch(
        &self,
        forge: Forge,
        namespace: &str,
        repo: &str,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        match forge {
            Forge::Pagure => match self.pagure.branches(namespace, repo).await {
                Ok(branches) => Ok(branches.iter().any(|b| b == branch)),
                Err(PagureError::Http { status: 404, .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
            Forge::Forgejo => Ok(self.forgejo.has_branch(namespace, repo, branch).await?),
        }
    }
}
