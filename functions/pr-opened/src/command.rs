//! What a `/packit-ci` comment asks for: who may ask (help for anyone, `skip`
//! for the PR's author, the rest for packagers), then the work each command
//! means on this PR — or the one comment that answers it.

use fedora_ci::lookups;
use fedora_ci::messages::{PrState, PullRequestEvent};
use fedora_ci::rules::commands::{self, Command, CommandTarget};
use fedora_ci::rules::package_settings::Loaded;
use fedora_ci::rules::policy::{self, Skip};
use fedora_ci::{Context, HandlerError};

use crate::plan::{self, Plan, SkipIntent, Work};

/// A comment: a command from a packager, help for anyone, or nothing.
pub async fn comment(
    ctx: &Context,
    msg: &PullRequestEvent,
    event_id: &str,
) -> Result<Result<Plan, Skip>, HandlerError> {
    let Some(comment) = msg.comment.as_ref() else { return Ok(Err("comment message without a comment".into())) };
    let author = comment.author.as_str();
    if policy::is_our_bot(&ctx.config, author) {
        return Ok(Err("our own comment".into()));
    }
    let Some(command) = commands::parse(&ctx.config.comment_prefix, &comment.body) else {
        return Ok(Err("not a command for us".into()));
    };
    if let Some(answer) = gate(ctx, msg, &command, author).await? {
        return Ok(Ok(Plan::new(Work::Comment(answer), None)));
    }
    let loaded = plan::settings(ctx, msg).await?;
    if !loaded.settings.enabled {
        return Ok(Ok(Plan::new(Work::Comment(plan::disabled()), None)));
    }
    let on = CommandOn {
        ctx,
        msg,
        author,
        loaded: &loaded,
        request: format!("comment:{event_id}"),
        is_tests_repo: msg.pr.namespace.as_deref() == Some("tests"),
    };
    let work = on.work(command).await?;
    Ok(Ok(Plan::new(work, Some(loaded))))
}

fn help(ctx: &Context) -> String {
    commands::help_text(&ctx.config.comment_prefix, ctx.config.docs_url.as_str())
}

/// Who may be answered comes first: help (which quotes nothing) is for anyone,
/// the PR's author may skip their own PR, and everything else, a mistaken
/// command included, needs a packager. A stranger's words are never echoed.
/// `Some`: the answer, and nothing else happens.
async fn gate(
    ctx: &Context,
    msg: &PullRequestEvent,
    command: &Command,
    author: &str,
) -> Result<Option<String>, HandlerError> {
    let pr = &msg.pr;
    match command {
        Command::Help => return Ok(Some(help(ctx))),
        Command::Skip if author == pr.author => {}
        _ => {
            if !lookups::is_packager(&ctx.pool, &ctx.clients.fasjson, author).await? {
                let refusal = format!("{} is not a packager, retriggering is not allowed.", commands::inert(author));
                return Ok(Some(refusal));
            }
        }
    }
    if let Command::Invalid { reason } = command {
        return Ok(Some(format!("Could not understand the command: {reason}.\n\n{}", help(ctx))));
    }
    // A closed or merged PR runs nothing; say so rather than stay silent.
    if !pr.is_open() {
        let state = if pr.state == PrState::Merged { "merged" } else { "closed" };
        return Ok(Some(format!("This pull request is {state}: reopen it to run Fedora CI again.")));
    }
    Ok(None)
}

/// An admitted command on one PR, with the package's settings at its head.
struct CommandOn<'a> {
    ctx: &'a Context,
    msg: &'a PullRequestEvent,
    author: &'a str,
    loaded: &'a Loaded,
    /// What makes this command one request (its comment).
    request: String,
    is_tests_repo: bool,
}

impl CommandOn<'_> {
    async fn work(&self, command: Command) -> Result<Work, HandlerError> {
        Ok(match command {
            // Answered by the gate; repeated so the match stays total without a panic.
            Command::Help | Command::Invalid { .. } => Work::Comment(help(self.ctx)),
            Command::Skip => match self.targets().await? {
                Ok(targets) => Work::Skip { targets, by: self.author.to_owned() },
                Err(skip) => Work::Comment(format!("Cannot skip: {skip}.")),
            },
            Command::ScratchBuild { .. } | Command::Rerun if self.is_tests_repo => Work::TestsRepository {
                skip: SkipIntent::Resume(self.author.to_owned()),
                rerun_of: Some(self.request.clone()),
            },
            Command::ScratchBuild { target } => self.build(target.as_ref(), "comment").await?,
            Command::Rerun => self.build(None, "rerun").await?,
            Command::Test { name, target } => self.test(name, target.as_ref()).await?,
        })
    }

    /// Every target the PR builds (none for a `tests/` repository).
    async fn targets(&self) -> Result<Result<Vec<String>, Skip>, HandlerError> {
        if self.is_tests_repo {
            return Ok(Ok(Vec::new()));
        }
        plan::targets_for_branch(self.ctx, self.msg, &self.loaded.settings).await
    }

    /// The named target among those the PR builds, or the answer saying why not.
    async fn resolve(&self, asked: &CommandTarget, builds: &[String]) -> Result<Result<String, Work>, HandlerError> {
        match commands::resolve_target(asked, &self.msg.pr.branch, builds) {
            Ok(target) => Ok(Ok(target)),
            Err(reason) => {
                let answer = plan::unknown_target(self.ctx, self.msg, &self.loaded.settings, asked, reason).await?;
                Ok(Err(Work::Comment(answer)))
            }
        }
    }

    /// `scratch-build [--target …]` and `rerun`: builds of the head, ending a skip.
    async fn build(&self, asked: Option<&CommandTarget>, trigger: &str) -> Result<Work, HandlerError> {
        let targets = match self.targets().await? {
            Ok(targets) => targets,
            Err(skip) => return Ok(Work::Comment(format!("Cannot build: {skip}."))),
        };
        let targets = match asked {
            None => targets,
            Some(asked) => match self.resolve(asked, &targets).await? {
                Ok(target) => vec![target],
                Err(answer) => return Ok(answer),
            },
        };
        Ok(Work::Build {
            targets,
            dedup: self.request.clone(),
            trigger: trigger.into(),
            skip: SkipIntent::Resume(self.author.to_owned()),
        })
    }

    /// `test [name] [--target …]`: the PR's own branch target unless the
    /// packager names another one the PR builds (`eln` on a rawhide PR of an
    /// ELN package).
    async fn test(&self, name: Option<String>, asked: Option<&CommandTarget>) -> Result<Work, HandlerError> {
        if self.is_tests_repo {
            // A tests/ repository has only its own plans (`custom`) to run.
            if name.as_deref().is_some_and(|n| n != "custom") {
                let prefix = &self.ctx.config.comment_prefix;
                return Ok(Work::Comment(format!(
                    "A `tests/` repository runs only its own tmt plans: comment `{prefix} test` or \
                     `{prefix} test custom`."
                )));
            }
            return Ok(Work::TestsRepository { skip: SkipIntent::Keep, rerun_of: Some(self.request.clone()) });
        }
        let builds = match self.targets().await? {
            Ok(targets) => targets,
            Err(skip) => return Ok(Work::Comment(format!("Cannot test: {skip}."))),
        };
        let target = match asked {
            Some(asked) => match self.resolve(asked, &builds).await? {
                Ok(target) => target,
                Err(answer) => return Ok(answer),
            },
            None => builds.first().cloned().unwrap_or_default(),
        };
        let names = match name {
            // Asked for by name: runs even when the package skips it.
            Some(n) => vec![n],
            None => self.suite().await?,
        };
        Ok(Work::Tests { names, target, requested_by: self.author.to_owned() })
    }

    /// The package's suite, as a build would run it: `custom` only when the PR
    /// has its own tmt plans.
    async fn suite(&self) -> Result<Vec<String>, HandlerError> {
        let pr = &self.msg.pr;
        let has_fmf =
            lookups::has_fmf_tree(&self.ctx.clients.forges, self.msg.forge, &pr.source_repo_path, &pr.head_sha).await?;
        Ok(commands::TEST_NAMES
            .iter()
            .filter(|t| self.loaded.settings.runs_test(t) && (**t != "custom" || has_fmf))
            .map(|s| s.to_string())
            .collect())
    }
}
