//! Pagure PR events in → scratch builds and flags out.
//!
//! CloudEvent → typed message → policy → plan (no writes yet) → record the event
//! and the builds in one transaction (idempotency keys) → submit to Koji → flags.

use axum::extract::State;
use fedora_ci::intake::{EventMeta, Received};
use fedora_ci::koji_instances::{self, PRIMARY};
use fedora_ci::messages::{PullRequestAction, PullRequestMessage};
use fedora_ci::pagure::PrId;
use fedora_ci::store::pipelines::{self, PrHead};
use fedora_ci::store::test_runs::{self, NewTest, TestRequestData};
use fedora_ci::store::{builds, events, package_settings, skips};
use fedora_ci::{Context, HandlerError, Outcome, policy, reporting, submit, supersede};

use crate::plan::{self, Plan, SkipIntent, Work};
use crate::skip_flags;

pub async fn handle(State(ctx): State<Context>, event: Received<PullRequestMessage>) -> Result<Outcome, HandlerError> {
    let (meta, msg) = match event {
        Received::NotHandled { meta } => {
            return Ok(Outcome::ignored(format!("event type '{}' is not handled here", meta.event_type)));
        }
        Received::Message { meta, message, .. } => (meta, message),
    };
    // Identifiers that cannot be Pagure's are never built into a Koji `src`, a
    // tmt URL or an API path: logged and ignored (a 2xx, not a redelivery).
    if let Err(why) = msg.check_identifiers() {
        tracing::warn!(reason = %why, "not a dist-git PR we can act on");
        return Ok(Outcome::ignored(why));
    }
    let pr = &msg.pullrequest;
    let project = pr.project_path();
    if let Err(skip) = policy::project_enabled(&ctx.config, pr.project.namespace.as_deref(), &project) {
        tracing::debug!(%skip, "not acting on this PR");
        return Ok(Outcome::ignored(skip));
    }
    let planned = match msg.action {
        PullRequestAction::CommentAdded => plan::comment(&ctx, &msg, &request_key(&meta, &msg)).await?,
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
    plan: Plan,
) -> Result<Outcome, HandlerError> {
    let Plan { work, settings } = plan;
    let pr = &msg.pullrequest;
    let (pr_id, head) = pr_head(ctx, msg);
    let distgit = ctx.config.distgit_url.as_str().trim_end_matches('/');
    let source_repo_path = pr.source_repo_path();

    let Some(mut tx) = events::begin_first_delivery(&ctx.pool, ctx.function, meta).await? else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    let rows = pipelines::record_pr_head(&mut tx, &head).await?;
    if msg.action == PullRequestAction::Reopened {
        pipelines::mark_closed(&mut tx, rows.pull_request_id, false).await?;
    }
    let mut created = Vec::new();
    let mut comment_keys = Vec::new();
    let mut recorded_tests = Vec::new();
    let mut flags = Vec::new();
    let mut summary = Vec::new();
    let docs_url = ctx.config.docs_url.to_string();
    if let Some(loaded) = &settings {
        package_settings::record(&mut tx, rows.project_event_id, loaded).await?;
        if let Some(e) = &loaded.config_error {
            let key = reporting::FlagKey::config(ctx.config.deployment, &pr_id, &head.commit_sha);
            let comment = format!("config error: {e}");
            reporting::set_flag(&mut tx, &pr_id, &key, reporting::NEUTRAL, &comment, &docs_url).await?;
            flags.push(key.uid);
        }
    }
    let package = settings.map(|l| l.settings).unwrap_or_default();
    let request = request_key(meta, msg);
    let answer = |body: String| (format!("answer:{request}"), body);
    let mut refusal = None;
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
        flag_label: None,
        requested_tests_only: false,
    };
    match &work {
        Work::Build { targets, dedup, trigger, skip } => {
            let skipped_by = apply_skip_intent(&mut tx, rows.pull_request_id, skip).await?;
            if let Some(by) = &skipped_by {
                let checks = skip_flags::for_targets(&ctx.config, &pr_id, targets, &head.commit_sha, &package);
                flags.extend(skip_flags::record(&mut tx, &pr_id, &checks, by, &docs_url).await?);
                summary.push(format!("skipped by {by}"));
            }
            for target in targets.iter().filter(|_| skipped_by.is_none()) {
                let data = build_data(trigger);
                let key = format!("{dedup}/{target}");
                created.extend(builds::create(&mut tx, rows.project_event_id, PRIMARY, target, &key, &data).await?);
                for (instance, its_target) in koji_instances::builds_for(&ctx.config.koji_instances, target) {
                    let data =
                        builds::BuildData { flag_label: Some(instance.flag_label.clone()), ..build_data(trigger) };
                    let key = format!("{dedup}/{}:{its_target}", instance.name);
                    created.extend(
                        builds::create(&mut tx, rows.project_event_id, &instance.name, its_target, &key, &data).await?,
                    );
                }
            }
        }
        Work::Tests { names, target, requested_by } => {
            let koji_target = target.as_str();
            let skipped_by = skips::skipped_by(&mut tx, rows.pull_request_id).await?;
            let build = builds::for_test_request(&mut tx, rows.project_event_id, koji_target).await?;
            let distro = fedora_ci::suite::distro_for_target(koji_target);
            let requested = |key: &dyn Fn(&str) -> String, task: Option<i64>| -> Vec<NewTest<'_>> {
                names
                    .iter()
                    .map(|name| NewTest {
                        distro: &distro,
                        key: key(name),
                        data: test_request(name, task, Some(requested_by.clone())),
                    })
                    .collect()
            };
            match build {
                _ if skipped_by.is_some() => {
                    let prefix = &ctx.config.comment_prefix;
                    refusal = Some(answer(format!(
                        "CI is skipped for this pull request (by {}); comment `{prefix} rerun` or \
                         `{prefix} scratch-build` to run it again.",
                        skipped_by.unwrap_or_default()
                    )));
                }
                Some(build) if build.status == "success" => {
                    let task = build.task_id.as_deref().and_then(|t| t.parse().ok());
                    let tests = requested(&|name| format!("comment:{request}/{name}/{distro}"), task);
                    recorded_tests.extend(
                        test_runs::record(&mut tx, rows.project_event_id, build.koji_build_group_id, &tests).await?,
                    );
                }
                // Nothing built yet for this head: the tests wait for a build, the
                // one under way or a new one that runs only them.
                build => {
                    let build = match build {
                        Some(running) => running,
                        None => {
                            let data = builds::BuildData { requested_tests_only: true, ..build_data("comment") };
                            let key = format!("comment:{request}/{koji_target}");
                            let new = builds::create(&mut tx, rows.project_event_id, PRIMARY, koji_target, &key, &data)
                                .await?;
                            let Some(new) = new else {
                                return Err(HandlerError::Internal(format!("build key {key} taken by another event")));
                            };
                            created.push(new.clone());
                            new
                        }
                    };
                    if let Some(group) = build.koji_build_group_id {
                        let tests = requested(&|name| test_runs::after_build_key(build.id, name, &distro), None);
                        let waiting = test_runs::record_waiting(&mut tx, rows.project_event_id, group, &tests).await?;
                        for row in &waiting {
                            let key = submit::tests::test_flag(ctx, row);
                            test_runs::set_flag_uid(&mut tx, row.id, &key.uid).await?;
                            let url = reporting::pr_page_url(&ctx.config.public_url, &pr_id);
                            reporting::set_flag(
                                &mut tx,
                                &pr_id,
                                &key,
                                fedora_ci::pagure::FlagStatus::Pending,
                                submit::waiting::WAITING,
                                &url,
                            )
                            .await?;
                            flags.push(key.uid);
                        }
                        if !waiting.is_empty() && created.is_empty() {
                            summary.push(format!("{} test(s) wait for build {}", waiting.len(), build.id));
                        }
                    }
                }
            }
        }
        Work::TestsRepository { skip, rerun_of } => {
            if let Some(by) = apply_skip_intent(&mut tx, rows.pull_request_id, skip).await? {
                let checks = skip_flags::for_tests_repository(ctx.config.deployment, &pr_id, &head.commit_sha);
                flags.extend(skip_flags::record(&mut tx, &pr_id, &checks, &by, &docs_url).await?);
                summary.push(format!("skipped by {by}"));
            } else {
                let test = NewTest {
                    distro: "fedora-rawhide",
                    key: match rerun_of {
                        Some(command) => format!("{command}/custom/fedora-rawhide"),
                        None => format!("pr:{}#{}@{}/custom/fedora-rawhide", pr_id.path(), pr.id, pr.commit_stop),
                    },
                    data: test_request("custom", None, None),
                };
                recorded_tests.extend(test_runs::record(&mut tx, rows.project_event_id, None, &[test]).await?);
            }
        }
        Work::Skip { targets, by } => {
            skips::mark(&mut tx, rows.pull_request_id, by).await?;
            let checks = if targets.is_empty() {
                skip_flags::for_tests_repository(ctx.config.deployment, &pr_id, &head.commit_sha)
            } else {
                skip_flags::for_targets(&ctx.config, &pr_id, targets, &head.commit_sha, &package)
            };
            flags.extend(skip_flags::record(&mut tx, &pr_id, &checks, by, &docs_url).await?);
            summary.push(format!("skipped by {by}"));
        }
        Work::Comment(body) => refusal = Some(answer(body.clone())),
    }
    if let Some((key, body)) = refusal {
        reporting::queue_comment(&mut tx, &pr_id, &key, &body).await?;
        comment_keys.push(key);
    }
    // A new head: every unfinished piece of older heads' work ends. What never
    // reached Koji or Testing Farm ends here, in this transaction; what runs there
    // is canceled after the commit (`cancel_superseded` off: left to finish).
    let superseded = if matches!(msg.action, PullRequestAction::Updated | PullRequestAction::Rebased) {
        let why = supersede::Why::Superseded { new_sha: head.commit_sha.clone() };
        flags.extend(supersede::end_unsubmitted(&mut tx, ctx, rows.pull_request_id, &why).await?);
        let running = if ctx.config.cancel_superseded {
            supersede::running(&mut tx, rows.pull_request_id, &why).await?
        } else {
            supersede::Running::default()
        };
        Some((why, running))
    } else {
        None
    };
    tx.commit().await?;

    // Committed: from here on nothing is lost if we die; the poller finishes it.
    for build in &created {
        let (submitted, changed) = submit::submit_build(ctx, build).await?;
        summary.push(format!("{}: {submitted:?}", build.target));
        flags.extend(changed);
    }
    if let Some((why, running)) = &superseded {
        let (changed, done) = supersede::cancel_running(ctx, running, why).await?;
        flags.extend(changed);
        summary.extend(done);
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

/// The PR's identity and its head as stored.
fn pr_head(ctx: &Context, msg: &PullRequestMessage) -> (PrId, PrHead) {
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
    (pr_id, head)
}

/// `pull-request.closed`, merged or not: the PR's unfinished work ends. What never
/// reached Koji or Testing Farm (retries, waiting tests) ends in this transaction;
/// running Koji tasks and Testing Farm requests are canceled after it. Each ended
/// check gets a neutral flag saying the PR was merged or closed.
async fn closed(ctx: &Context, meta: &EventMeta, msg: &PullRequestMessage) -> Result<Outcome, HandlerError> {
    let (pr_id, head) = pr_head(ctx, msg);
    let Some(mut tx) = events::begin_first_delivery(&ctx.pool, ctx.function, meta).await? else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    let rows = pipelines::record_pr_head(&mut tx, &head).await?;
    pipelines::mark_closed(&mut tx, rows.pull_request_id, true).await?;
    let merged = msg.merged.unwrap_or(msg.pullrequest.status.eq_ignore_ascii_case("merged"));
    let why = supersede::Why::Closed { merged };
    let mut flags = supersede::end_unsubmitted(&mut tx, ctx, rows.pull_request_id, &why).await?;
    let running = supersede::running(&mut tx, rows.pull_request_id, &why).await?;
    tx.commit().await?;
    let (changed, mut summary) = supersede::cancel_running(ctx, &running, &why).await?;
    flags.extend(changed);
    if !flags.is_empty() {
        reporting::flush_flags(&ctx.pool, &ctx.clients.pagure, Some(&flags)).await?;
    }
    summary.insert(0, why.reason());
    Ok(Outcome::done(format!("{}#{}: {}", pr_id.path(), pr_id.id, summary.join("; "))))
}

/// Records what the event says about skipping, then answers whether the PR is
/// skipped now (and by whom).
async fn apply_skip_intent(
    tx: &mut sqlx::PgConnection,
    pull_request_id: i32,
    intent: &SkipIntent,
) -> Result<Option<String>, sqlx::Error> {
    match intent {
        SkipIntent::Keep => {}
        SkipIntent::Marker(by) => skips::mark_once(tx, pull_request_id, by).await?,
        SkipIntent::Resume(by) => skips::resume(tx, pull_request_id, by).await?,
    }
    skips::skipped_by(tx, pull_request_id).await
}
