//! Pagure PR events in → scratch builds and flags out.
//!
//! CloudEvent → typed message → policy → plan (no writes yet) → record the event
//! and the builds in one transaction (idempotency keys) → submit to Koji → flags.

use axum::extract::State;
use fedora_ci::intake::{EventMeta, Received};
use fedora_ci::messages::{PullRequestAction, PullRequestMessage};
use fedora_ci::pagure::PrId;
use fedora_ci::store::pipelines::{self, PrHead};
use fedora_ci::store::test_runs::{self, NewTest, TestRequestData};
use fedora_ci::store::{builds, events};
use fedora_ci::{Context, HandlerError, Outcome, policy, reporting, submit};

use crate::plan::{self, Work};

pub async fn handle(State(ctx): State<Context>, event: Received<PullRequestMessage>) -> Result<Outcome, HandlerError> {
    let (meta, msg) = match event {
        Received::NotHandled { meta } => {
            return Ok(Outcome::ignored(format!("event type '{}' is not handled here", meta.event_type)));
        }
        Received::Message { meta, message, .. } => (meta, message),
    };
    let pr = &msg.pullrequest;
    let project = pr.project_path();
    if let Err(skip) = policy::project_enabled(&ctx.config, pr.project.namespace.as_deref(), &project) {
        tracing::debug!(%skip, "not acting on this PR");
        return Ok(Outcome::ignored(skip));
    }
    let planned = match msg.action {
        PullRequestAction::CommentAdded => plan::comment(&ctx, &msg, &request_key(&meta, &msg)).await?,
        _ => plan::pr_event(&ctx, &msg).await?,
    };
    match planned {
        Ok(work) => execute(&ctx, &meta, &msg, work).await,
        Err(skip) => {
            tracing::debug!(%skip, pr = %project, "nothing to do");
            Ok(Outcome::ignored(skip))
        }
    }
}

/// What makes a command one request: its Pagure comment (the id is unique on the
/// instance). Not the CloudEvent id, which a redelivery may change: keyed on it, ten
/// copies of one `/packit-ci help` under new ids were answered ten times.
fn request_key(meta: &EventMeta, msg: &PullRequestMessage) -> String {
    msg.new_comment().map(|c| format!("pagure-comment-{}", c.id)).unwrap_or_else(|| meta.id.clone())
}

async fn execute(
    ctx: &Context,
    meta: &EventMeta,
    msg: &PullRequestMessage,
    work: Work,
) -> Result<Outcome, HandlerError> {
    let pr = &msg.pullrequest;
    let pr_id =
        PrId { namespace: pr.project.namespace.clone().unwrap_or_default(), repo: pr.project.name.clone(), id: pr.id };
    let distgit = ctx.config.distgit_url.as_str().trim_end_matches('/');
    let head = PrHead {
        namespace: pr_id.namespace.clone(),
        repo: pr_id.repo.clone(),
        project_url: format!("{distgit}/{}", pr_id.path()),
        instance_url: distgit.to_owned(),
        pr_id: pr.id as i64,
        commit_sha: pr.commit_stop.clone(),
    };
    let source_repo_path = match pr.fork() {
        // Pagure serves a fork `forks/<user>/rpms/foo` under `fork/<user>/rpms/foo`.
        Some(fork) => fork.fullname.replacen("forks/", "fork/", 1),
        None => pr_id.path(),
    };

    let Some(mut tx) = events::begin_first_delivery(&ctx.pool, ctx.function, meta).await? else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    let rows = pipelines::record_pr_head(&mut tx, &head).await?;
    let mut created = Vec::new();
    let mut comment_keys = Vec::new();
    let mut recorded_tests = Vec::new();
    let test_request = |name: &str, koji_task_id: Option<i64>, requested_by: Option<String>| TestRequestData {
        base_project_url: head.project_url.clone(),
        fedora_ci_test: name.to_owned(),
        namespace: head.namespace.clone(),
        repo: head.repo.clone(),
        pr_id: head.pr_id,
        commit_sha: head.commit_sha.clone(),
        branch: pr.branch.clone(),
        source_repo_path: source_repo_path.clone(),
        koji_task_id,
        requested_by,
        pr_uid: Some(pr.uid.clone()),
        pr_author: Some(pr.user.name.clone()),
    };
    let build_data = |trigger: &str| builds::BuildData {
        src: pr.koji_source(distgit),
        namespace: head.namespace.clone(),
        repo: head.repo.clone(),
        pr_id: head.pr_id,
        commit_sha: head.commit_sha.clone(),
        branch: pr.branch.clone(),
        source_repo_path: source_repo_path.clone(),
        trigger: trigger.to_owned(),
        pr_uid: Some(pr.uid.clone()),
        pr_author: Some(pr.user.name.clone()),
    };
    match &work {
        Work::Build { targets, dedup, trigger } => {
            for target in targets {
                let data = build_data(trigger);
                if let Some(build) =
                    builds::create(&mut tx, rows.project_event_id, target, &format!("{dedup}/{target}"), &data).await?
                {
                    created.push(build);
                }
            }
        }
        Work::Tests { names, target, requested_by } => {
            let koji_target = target.koji_target();
            match builds::latest_success(&mut tx, rows.project_event_id, koji_target).await? {
                Some(build) => {
                    let task = build.task_id.as_deref().and_then(|t| t.parse().ok());
                    let distro = fedora_ci::suite::distro_for_target(koji_target);
                    let tests: Vec<NewTest<'_>> = names
                        .iter()
                        .map(|name| NewTest {
                            distro: &distro,
                            key: format!("comment:{}/{name}/{distro}", request_key(meta, msg)),
                            data: test_request(name, task, Some(requested_by.clone())),
                        })
                        .collect();
                    recorded_tests.extend(
                        test_runs::record(&mut tx, rows.project_event_id, build.koji_build_group_id, &tests).await?,
                    );
                }
                None => {
                    // Nothing built yet for this head: build first; the tests follow
                    // the successful build.
                    let data = build_data("comment");
                    let key = format!("comment:{}/{koji_target}", request_key(meta, msg));
                    created.extend(builds::create(&mut tx, rows.project_event_id, koji_target, &key, &data).await?);
                }
            }
        }
        Work::TestsRepository => {
            let test = NewTest {
                distro: "fedora-rawhide",
                key: format!("pr:{}#{}@{}/custom/fedora-rawhide", pr_id.path(), pr.id, pr.commit_stop),
                data: test_request("custom", None, None),
            };
            recorded_tests.extend(test_runs::record(&mut tx, rows.project_event_id, None, &[test]).await?);
        }
        Work::Comment(body) => {
            let key = format!("answer:{}", request_key(meta, msg));
            reporting::queue_comment(&mut tx, &pr_id, &key, body).await?;
            comment_keys.push(key);
        }
    }
    let superseded = if matches!(msg.action, PullRequestAction::Updated | PullRequestAction::Rebased)
        && ctx.config.cancel_superseded
    {
        builds::superseded(&mut tx, rows.pull_request_id, &head.commit_sha).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;

    // Committed: from here on nothing is lost if we die; the poller finishes it.
    let mut flags = Vec::new();
    let mut summary = Vec::new();
    for build in &created {
        let (submitted, key) = submit::submit_build(ctx, build).await?;
        summary.push(format!("{}: {submitted:?}", build.target));
        flags.push(key.uid);
    }
    for old in &superseded {
        if let Some(key) = submit::cancel_superseded(ctx, old, &head.commit_sha).await? {
            summary.push(format!("canceled task {}", old.task_id.as_deref().unwrap_or("?")));
            flags.push(key.uid);
        }
    }
    for test in &recorded_tests {
        let (submitted, key) = fedora_ci::submit::tests::submit_test(ctx, test).await?;
        summary.push(format!("{}: {submitted:?}", test.test_name));
        flags.push(key.uid);
    }
    if !flags.is_empty() {
        reporting::flush_flags(&ctx.pool, &ctx.clients.pagure, Some(&flags)).await?;
    }
    if !comment_keys.is_empty() {
        reporting::flush_comments(&ctx.pool, &ctx.clients.pagure, Some(&comment_keys)).await?;
        summary.push("answered with a comment".into());
    }
    if summary.is_empty() {
        summary.push("nothing new (already built for this trigger)".into());
    }
    Ok(Outcome::done(format!("{}#{}: {}", pr_id.path(), pr.id, summary.join("; "))))
}
