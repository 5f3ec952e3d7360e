//! Dist-git PR events in (Pagure or Forgejo) → scratch builds and flags or
//! commit statuses out.
//!
//! The five steps of every workflow (ARCHITECTURE.md): CloudEvent → typed message
//! → plan (`plan.rs`, no writes) → record the event and its effects in one
//! transaction (`record.rs`, idempotency keys) → commit → dispatch (Koji, Testing
//! Farm, flags, comments; `fedora_ci::dispatch`).

use axum::extract::State;
use fedora_ci::dispatch::dispatch;
use fedora_ci::messages::{EventMeta, Forge, PullRequestAction, PullRequestEvent};
use fedora_ci::rules::policy;
use fedora_ci::runtime::intake::Received;
use fedora_ci::store::pipelines;
use fedora_ci::{Context, HandlerError, Outcome};

use crate::command;
use crate::plan::{self, Plan};
use crate::record::{self, PrEvent};

pub async fn handle(State(ctx): State<Context>, event: Received<PullRequestEvent>) -> Result<Outcome, HandlerError> {
    let (meta, msg) = match event {
        Received::NotHandled { meta } => {
            return Ok(Outcome::ignored(format!("event type '{}' is not handled here", meta.event_type)));
        }
        Received::Message { meta, message, .. } => (meta, message),
    };
    if let Err(skip) = forge_enabled(&ctx, &msg) {
        tracing::debug!(%skip, "not acting on this event");
        return Ok(Outcome::ignored(skip));
    }
    // Identifiers that cannot be the forge's are never built into a Koji `src`, a
    // tmt URL or an API path: logged and ignored (a 2xx, not a redelivery); so is
    // an action or comment we do not act on.
    if let Some(why) = msg.ignored_because() {
        tracing::warn!(reason = %why, "not a dist-git PR event we can act on");
        return Ok(Outcome::ignored(why.to_owned()));
    }
    let pr = &msg.pr;
    let project = pr.project_path();
    if let Err(skip) = policy::project_enabled(&ctx.config, pr.namespace.as_deref(), &project) {
        tracing::debug!(%skip, "not acting on this PR");
        return Ok(Outcome::ignored(skip));
    }
    let planned = match msg.action {
        PullRequestAction::CommentAdded => command::comment(&ctx, &msg, &request_key(&meta, &msg)).await?,
        PullRequestAction::Closed => return closed(&ctx, &meta, &msg).await,
        _ => plan::pr_event(&ctx, &msg, &meta.id).await?,
    };
    match planned {
        Ok(plan) => execute(&ctx, &meta, &msg, plan).await,
        Err(skip) => {
            tracing::debug!(%skip, project = %project, "nothing to do");
            Ok(Outcome::ignored(skip))
        }
    }
}

/// Forgejo events are acted on only when Forgejo is turned on, for the
/// configured instance and organisations; Pagure's always.
fn forge_enabled(ctx: &Context, msg: &PullRequestEvent) -> Result<(), String> {
    if msg.forge == Forge::Pagure {
        return Ok(());
    }
    let forgejo = &ctx.config.forgejo;
    if !forgejo.enabled {
        return Err("Forgejo is not turned on here (FEDORA_CI_FORGEJO)".into());
    }
    let instance = forgejo.url.as_str().trim_end_matches('/');
    let url = msg.repository_url.as_deref().unwrap_or_default();
    if !url.strip_prefix(instance).is_some_and(|rest| rest.starts_with('/')) {
        return Err(format!("the repository is not on {instance}"));
    }
    match msg.pr.namespace.as_deref() {
        Some(ns) if forgejo.namespaces.contains(ns) => Ok(()),
        ns => Err(format!("'{}' is not a Forgejo organisation served here", ns.unwrap_or_default())),
    }
}

/// What makes a command one request: its comment (the id is unique on the forge
/// instance). Not the CloudEvent id, which a redelivery may change: keyed on it, ten
/// copies of one `/packit-ci help` under new ids were answered ten times.
fn request_key(meta: &EventMeta, msg: &PullRequestEvent) -> String {
    match (&msg.comment, msg.forge) {
        (Some(c), Forge::Pagure) => format!("pagure-comment-{}", c.id),
        (Some(c), Forge::Forgejo) => format!("forgejo-comment-{}", c.id),
        (None, _) => meta.id.clone(),
    }
}

/// plan → record (one transaction) → commit → dispatch.
async fn execute(ctx: &Context, meta: &EventMeta, msg: &PullRequestEvent, plan: Plan) -> Result<Outcome, HandlerError> {
    let pr = PrEvent::new(ctx, msg, request_key(meta, msg));
    let mut tx = ctx.pool.begin().await?;
    // The event's idempotency row first, with the PR head, settings and skip state.
    let Some(head) =
        pipelines::record_event_head(&mut tx, ctx.function, meta, &pr.head, plan.settings.as_ref()).await?
    else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    let recorded = record::event(&mut tx, &pr, head, plan).await?;
    tx.commit().await?;
    // Committed: from here on nothing is lost if we die; the poller finishes it.
    let mut summary = dispatch(ctx, recorded).await?;
    if summary.is_empty() {
        summary.push("nothing new (already built for this trigger)".into());
    }
    Ok(Outcome::done(format!("{}#{}: {}", pr.id.path(), msg.pr.id, summary.join("; "))))
}

/// `pull-request.closed`, merged or not: the PR's unfinished work ends. What never
/// reached Koji or Testing Farm (retries, waiting tests) ends in this transaction;
/// running Koji tasks and Testing Farm requests are canceled after it. Each ended
/// check gets a neutral flag saying the PR was merged or closed.
async fn closed(ctx: &Context, meta: &EventMeta, msg: &PullRequestEvent) -> Result<Outcome, HandlerError> {
    let pr = PrEvent::new(ctx, msg, request_key(meta, msg));
    let mut tx = ctx.pool.begin().await?;
    let Some(head) = pipelines::record_event_head(&mut tx, ctx.function, meta, &pr.head, None).await? else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    let recorded = record::closed(&mut tx, &pr, head.rows, msg.merged).await?;
    tx.commit().await?;
    let summary = dispatch(ctx, recorded).await?;
    Ok(Outcome::done(format!("{}#{}: {}", pr.id.path(), pr.id.id, summary.join("; "))))
}
