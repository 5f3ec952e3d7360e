//! What an event asks for, decided before anything is written: builds for which
//! Koji targets, test requests, or an answer comment.

use fedora_ci::commands::{self, Command, CommandTarget};
use fedora_ci::messages::{PullRequestAction, PullRequestMessage};
use fedora_ci::policy::{self, Skip};
use fedora_ci::{Context, HandlerError, lookups};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Scratch builds for these Koji targets; `dedup` names the trigger so the same
    /// trigger never builds twice (a PR head for PR events, the event for commands).
    Build { targets: Vec<String>, dedup: String, trigger: String },
    /// Test requests on the PR head's last successful build for `target`.
    Tests { names: Vec<String>, target: CommandTarget, requested_by: String },
    /// A `tests/` repository: its own tmt plans on rawhide, nothing to build.
    TestsRepository,
    /// Answer with a comment (help, a mistake in the command, a refusal).
    Comment(String),
}

/// PR opened, updated or rebased.
pub async fn pr_event(ctx: &Context, msg: &PullRequestMessage) -> Result<Result<Work, Skip>, HandlerError> {
    let pr = &msg.pullrequest;
    if pr.project.namespace.as_deref() == Some("tests") {
        return Ok(Ok(Work::TestsRepository));
    }
    let targets = match targets_for_branch(ctx, msg).await? {
        Ok(t) => t,
        Err(skip) => return Ok(Err(skip)),
    };
    let action = match msg.action {
        PullRequestAction::New => "pull-request.new",
        PullRequestAction::Updated => "pull-request.updated",
        PullRequestAction::Rebased => "pull-request.rebased",
        PullRequestAction::CommentAdded => "comment",
    };
    Ok(Ok(Work::Build {
        targets,
        dedup: format!("pr:{}#{}@{}", pr.project_path(), pr.id, pr.commit_stop),
        trigger: action.to_owned(),
    }))
}

/// The PR branch's build target, plus `eln` when `PackageNeedsELNBuildFromRawhide`.
async fn targets_for_branch(
    ctx: &Context,
    msg: &PullRequestMessage,
) -> Result<Result<Vec<String>, Skip>, HandlerError> {
    let pr = &msg.pullrequest;
    let Some(main) = lookups::resolve_build_target(&ctx.pool, &ctx.clients.koji, &pr.branch).await? else {
        return Ok(Err(format!("no Koji build target for branch '{}'", pr.branch)));
    };
    let mut targets = vec![main];
    let project = pr.project_path();
    if policy::may_need_eln_build(&ctx.config, &project, &pr.branch)
        && lookups::is_eln_package(&ctx.pool, &ctx.clients.http, &ctx.config.eln_list_urls, &pr.project.name).await?
        && !lookups::has_eln_branch(&ctx.clients.pagure, "rpms", &pr.project.name).await?
    {
        targets.push("eln".to_owned());
    }
    Ok(Ok(targets))
}

/// A comment: a command from a packager, help for anyone, or nothing.
pub async fn comment(
    ctx: &Context,
    msg: &PullRequestMessage,
    event_id: &str,
) -> Result<Result<Work, Skip>, HandlerError> {
    let Some(comment) = msg.new_comment() else { return Ok(Err("comment message without a comment".into())) };
    let author = comment.user.name.as_str();
    if policy::is_our_bot(&ctx.config, author) {
        return Ok(Err("our own comment".into()));
    }
    let prefix = ctx.config.comment_prefix.as_str();
    let Some(command) = commands::parse(prefix, &comment.comment) else {
        return Ok(Err("not a command for us".into()));
    };
    let help = || commands::help_text(prefix, ctx.config.docs_url.as_str());
    let wants_work = matches!(command, Command::ScratchBuild { .. } | Command::Test { .. });
    if wants_work && !lookups::is_packager(&ctx.pool, &ctx.clients.fasjson, author).await? {
        return Ok(Ok(Work::Comment(format!("{author} is not a packager, retriggering is not allowed."))));
    }
    let pr = &msg.pullrequest;
    let work = match command {
        Command::Help => Work::Comment(help()),
        Command::Invalid { reason } => {
            Work::Comment(format!("Could not understand the command: {reason}.\n\n{}", help()))
        }
        Command::ScratchBuild { target } => {
            let targets = match target {
                Some(t) => vec![t.koji_target().to_owned()],
                None => match targets_for_branch(ctx, msg).await? {
                    Ok(t) => t,
                    Err(skip) => return Ok(Ok(Work::Comment(format!("Cannot build: {skip}.")))),
                },
            };
            Work::Build { targets, dedup: format!("comment:{event_id}"), trigger: "comment".into() }
        }
        Command::Test { name, target } => {
            let target = target.unwrap_or(CommandTarget::Rawhide);
            let names = match name {
                Some(n) => vec![n],
                None => commands::TEST_NAMES.iter().map(|s| s.to_string()).collect(),
            };
            if pr.project.namespace.as_deref() == Some("tests") {
                Work::TestsRepository
            } else {
                Work::Tests { names, target, requested_by: author.to_owned() }
            }
        }
    };
    Ok(Ok(work))
}
