//! What an event asks for, decided before anything is written: builds for which
//! Koji targets, test requests, a skip, or an answer comment.

use fedora_ci::lookups;
use fedora_ci::messages::{PullRequestAction, PullRequestEvent};
use fedora_ci::rules::commands;
use fedora_ci::rules::package_settings::{FILE_NAME, Loaded, PackageSettings};
use fedora_ci::rules::policy::{self, Skip};
use fedora_ci::{Context, HandlerError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Scratch builds for these Koji targets; `dedup` names the trigger so the same
    /// trigger never builds twice (a PR head for PR events, the event for commands).
    Build { targets: Vec<String>, dedup: String, trigger: String, skip: SkipIntent },
    /// Test requests on the PR head's last successful build for the Koji `target`
    /// (the PR branch's, or `eln`).
    Tests { names: Vec<String>, target: String, requested_by: String },
    /// A `tests/` repository: its own tmt plans on rawhide, nothing to build.
    /// `rerun_of`: the command asking for it (its plans run again), `None` for a
    /// PR event (once per head).
    TestsRepository { skip: SkipIntent, rerun_of: Option<String> },
    /// `/packit-ci skip`: neutral flags for these targets' checks, nothing submitted.
    Skip { targets: Vec<String>, by: String },
    /// Answer with a comment (help, a mistake in the command, a refusal).
    Comment(String),
}

/// What the event says about skipping CI for the PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipIntent {
    /// Whatever the PR's state is (skipped or not) stays.
    Keep,
    /// `[skip ci]` in the title or description, by the PR's author.
    Marker(String),
    /// `scratch-build` / `rerun` by this packager end a skip.
    Resume(String),
}

/// The work, and the package settings read for it (recorded with the work).
#[derive(Debug, Clone)]
pub struct Plan {
    pub work: Work,
    pub settings: Option<Loaded>,
}

impl Plan {
    pub(crate) fn new(work: Work, settings: Option<Loaded>) -> Self {
        Self { work, settings }
    }
}

/// `.fedora-ci.yaml` at the PR head, read from the PR's forge.
pub(crate) async fn settings(ctx: &Context, msg: &PullRequestEvent) -> Result<Loaded, HandlerError> {
    let pr = &msg.pr;
    lookups::package_settings(&ctx.clients.forges, msg.forge, &pr.source_repo_path, &pr.head_sha)
        .await
        .map_err(|e| HandlerError::Upstream { service: msg.forge.name(), reason: e.to_string() })
}

pub(crate) fn disabled() -> String {
    format!("Fedora CI is turned off for this package in `{FILE_NAME}` (`enabled: false`).")
}

/// PR opened, updated or rebased.
/// `event_id` is the CloudEvent's: a reopened PR runs CI again once per reopening.
pub async fn pr_event(
    ctx: &Context,
    msg: &PullRequestEvent,
    event_id: &str,
) -> Result<Result<Plan, Skip>, HandlerError> {
    let pr = &msg.pr;
    let loaded = settings(ctx, msg).await?;
    if !loaded.settings.enabled {
        return Ok(Err(disabled()));
    }
    let marked =
        commands::has_skip_marker(&pr.title) || pr.description.as_deref().is_some_and(commands::has_skip_marker);
    let skip = if marked { SkipIntent::Marker(pr.author.clone()) } else { SkipIntent::Keep };
    let rerun_of = (msg.action == PullRequestAction::Reopened).then(|| format!("reopened:{event_id}"));
    if pr.namespace.as_deref() == Some("tests") {
        return Ok(Ok(Plan::new(Work::TestsRepository { skip, rerun_of }, Some(loaded))));
    }
    let targets = match targets_for_branch(ctx, msg, &loaded.settings).await? {
        Ok(t) => t,
        Err(skip) => return Ok(Err(skip)),
    };
    let action = match msg.action {
        PullRequestAction::New => "pull-request.new",
        PullRequestAction::Updated => "pull-request.updated",
        PullRequestAction::Rebased => "pull-request.rebased",
        PullRequestAction::Reopened => "pull-request.reopened",
        PullRequestAction::CommentAdded | PullRequestAction::Closed => "comment",
    };
    let dedup = match msg.action {
        PullRequestAction::Reopened => format!("reopened:{event_id}"),
        _ => format!("{}{}#{}@{}", dedup_prefix(msg), pr.project_path(), pr.id, pr.head_sha),
    };
    let work = Work::Build { targets, dedup, trigger: action.to_owned(), skip };
    Ok(Ok(Plan::new(work, Some(loaded))))
}

/// `pr:` for Pagure (the keys rows have had since the start), `forgejo:pr:` for
/// Forgejo: the same PR number and head on the two forges are two triggers.
pub(crate) fn dedup_prefix(msg: &PullRequestEvent) -> &'static str {
    match msg.forge {
        fedora_ci::messages::Forge::Pagure => "pr:",
        fedora_ci::messages::Forge::Forgejo => "forgejo:pr:",
    }
}

/// The PR branch's build target, plus `eln` when `PackageNeedsELNBuildFromRawhide`
/// and the package's settings do not turn ELN off.
pub(crate) async fn targets_for_branch(
    ctx: &Context,
    msg: &PullRequestEvent,
    settings: &PackageSettings,
) -> Result<Result<Vec<String>, Skip>, HandlerError> {
    let pr = &msg.pr;
    let Some(main) = lookups::resolve_build_target(&ctx.pool, &ctx.clients.koji, &pr.branch).await? else {
        return Ok(Err(format!("no Koji build target for branch '{}'", pr.branch)));
    };
    let mut targets = vec![main];
    if why_no_eln(ctx, msg, settings).await?.is_none() {
        targets.push("eln".to_owned());
    }
    Ok(Ok(targets))
}

/// Why this PR gets no ELN build (`None`: it does), in the words a comment
/// answer uses: each condition of `PackageNeedsELNBuildFromRawhide` and the
/// package's own `eln: false`, checked in that order.
pub(crate) async fn why_no_eln(
    ctx: &Context,
    msg: &PullRequestEvent,
    settings: &PackageSettings,
) -> Result<Option<String>, HandlerError> {
    let pr = &msg.pr;
    let project = pr.project_path();
    Ok(if !settings.eln {
        Some("the package turns ELN off (`eln: false` in .fedora-ci.yaml)".to_owned())
    } else if !policy::is_rawhide_branch(&pr.branch) {
        Some("ELN builds only follow rawhide pull requests".to_owned())
    } else if !project.starts_with("rpms/") {
        Some("ELN builds only packages (rpms/)".to_owned())
    } else if !policy::may_need_eln_build(&ctx.config, &project, &pr.branch) {
        Some(format!("{} is on the ELN deny list", commands::inert(&project)))
    } else if !lookups::is_eln_package(
        &ctx.pool,
        &ctx.eln_packages,
        &ctx.clients.http,
        &ctx.config.eln_list_urls,
        &pr.repo,
    )
    .await?
    {
        Some(format!("{} is not in the ELN package lists", commands::inert(&pr.repo)))
    } else if lookups::has_eln_branch(&ctx.clients.forges, msg.forge, "rpms", &pr.repo).await? {
        Some("the package has its own `eln` branch, which ELN builds from".to_owned())
    } else {
        None
    })
}

/// The answer to a command naming a target the PR does not build: for `eln`,
/// why this PR has no ELN build; otherwise the valid targets.
pub(crate) async fn unknown_target(
    ctx: &Context,
    msg: &PullRequestEvent,
    settings: &PackageSettings,
    asked: &commands::CommandTarget,
    reason: String,
) -> Result<String, HandlerError> {
    if asked.as_str() == "eln"
        && let Some(why) = why_no_eln(ctx, msg, settings).await?
    {
        return Ok(format!("No ELN build for this pull request: {why}."));
    }
    Ok(format!("Could not understand the command: {reason}."))
}
