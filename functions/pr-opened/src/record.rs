//! The record step: everything an event decided, written in the event's one
//! transaction — the PR head, package settings, builds, test runs, skips, flags,
//! comments — and returned as [`Recorded`] for the dispatcher to send after the
//! commit. Idempotency keys make a redelivery record nothing twice.

use fedora_ci::Context;
use fedora_ci::HandlerError;
use fedora_ci::clients::forge::{FlagStatus, PrId};
use fedora_ci::config::koji::{self, PRIMARY};
use fedora_ci::dispatch::submit::{tests::test_flag, waiting};
use fedora_ci::dispatch::{Recorded, reporting};
use fedora_ci::messages::{PullRequestAction, PullRequestEvent};
use fedora_ci::rules::package_settings::{Loaded, PackageSettings};
use fedora_ci::rules::suite;
use fedora_ci::store::builds::{self, BuildData, BuildRow, NewBuild};
use fedora_ci::store::pipelines::{self, EventHead, PrHead, PrRows, PrSource};
use fedora_ci::store::skips;
use fedora_ci::store::status::BuildStatus;
use fedora_ci::store::test_runs::{self, NewTest, TestRequestData};
use fedora_ci::workflows::supersede::{self, Why};
use sqlx::PgConnection;

use crate::plan::{Plan, SkipIntent, Work};
use crate::skip_flags;

/// One PR event as the record step needs it: the PR's identity, its head as
/// stored, and the key that makes a command one request.
pub struct PrEvent<'a> {
    pub ctx: &'a Context,
    pub msg: &'a PullRequestEvent,
    pub id: PrId,
    pub head: PrHead,
    /// The request a command answers (its Pagure comment), or the event id.
    pub request: String,
}

impl<'a> PrEvent<'a> {
    pub fn new(ctx: &'a Context, msg: &'a PullRequestEvent, request: String) -> Self {
        let pr = &msg.pr;
        let id = PrId {
            forge: msg.forge,
            namespace: pr.namespace.clone().unwrap_or_default(),
            repo: pr.repo.clone(),
            id: pr.id,
        };
        // The forge's own URL makes the project (and so the PR) one of that
        // forge: a package with PRs on Pagure and Forgejo has two projects.
        let instance = ctx.config.forge_url(msg.forge).as_str().trim_end_matches('/');
        let head = PrHead {
            namespace: id.namespace.clone(),
            repo: id.repo.clone(),
            project_url: format!("{instance}/{}", id.path()),
            instance_url: instance.to_owned(),
            pr_id: pr.id as i64,
            commit_sha: pr.head_sha.clone(),
        };
        Self { ctx, msg, id, head, request }
    }

    /// The PR the work is for, as stored with each build and test run.
    fn source(&self) -> PrSource {
        let pr = &self.msg.pr;
        PrSource {
            forge: self.msg.forge,
            namespace: self.head.namespace.clone(),
            repo: self.head.repo.clone(),
            pr_id: self.head.pr_id,
            commit_sha: self.head.commit_sha.clone(),
            branch: pr.branch.clone(),
            source_repo_path: pr.source_repo_path.clone(),
            pr_uid: Some(pr.uid.clone()),
            pr_author: Some(pr.author.clone()),
        }
    }

    fn build_data(&self, trigger: &str) -> BuildData {
        let git_base = self.ctx.config.forge_git_url(self.msg.forge);
        BuildData {
            src: self.msg.pr.koji_source(git_base.as_str()),
            pr: self.source(),
            trigger: trigger.to_owned(),
            flag_label: None,
            requested_tests_only: false,
        }
    }

    fn test_request(&self, name: &str, koji_task_id: Option<i64>, requested_by: Option<String>) -> TestRequestData {
        TestRequestData {
            base_project_url: self.head.project_url.clone(),
            fedora_ci_test: name.to_owned(),
            pr: self.source(),
            koji_task_id,
            requested_by,
        }
    }

    fn docs_url(&self) -> String {
        self.ctx.config.docs_url.to_string()
    }
}

/// Records a PR event or command, after its head and settings
/// (`pipelines::record_event_head`, which gives `head`): the flag of broken
/// settings, the planned work, and — on a new head — the end of the older
/// heads' work.
pub async fn event(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    head: EventHead,
    plan: Plan,
) -> Result<Recorded, HandlerError> {
    let Plan { work, settings } = plan;
    let EventHead { rows, skipped_by } = head;
    if pr.msg.action == PullRequestAction::Reopened {
        pipelines::mark_closed(tx, rows.pull_request_id, false).await?;
    }
    let mut recorded = Recorded::default();
    let package = record_settings(tx, pr, settings, &mut recorded).await?;
    let skipped = Skipped(skipped_by);
    match work {
        Work::Build { targets, dedup, trigger, skip } => {
            let what = (&targets[..], &dedup[..], &trigger[..]);
            builds_for_targets(tx, pr, &rows, what, &skip, skipped, &package, &mut recorded).await?
        }
        Work::Tests { names, target, requested_by } => {
            tests_on_head(tx, pr, &rows, skipped, &names, &target, requested_by, &mut recorded).await?
        }
        Work::TestsRepository { skip, rerun_of } => {
            tests_repository(tx, pr, &rows, &skip, skipped, rerun_of.as_deref(), &mut recorded).await?
        }
        Work::Skip { targets, by } => skip(tx, pr, &rows, &targets, &by, &package, &mut recorded).await?,
        Work::Comment(body) => answer(tx, pr, &body, &mut recorded).await?,
    }
    if matches!(pr.msg.action, PullRequestAction::Updated | PullRequestAction::Rebased) {
        let why = Why::Superseded { new_sha: pr.head.commit_sha.clone() };
        end_work(tx, pr.ctx, rows.pull_request_id, &why, pr.ctx.config.cancel_superseded, &mut recorded).await?;
    }
    Ok(recorded)
}

/// Records `pull-request.closed`: the PR is closed and all its unfinished work ends.
pub async fn closed(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: PrRows,
    merged: bool,
) -> Result<Recorded, HandlerError> {
    pipelines::mark_closed(tx, rows.pull_request_id, true).await?;
    let why = Why::Closed { merged };
    let mut recorded = Recorded::default();
    recorded.note(why.reason());
    end_work(tx, pr.ctx, rows.pull_request_id, &why, true, &mut recorded).await?;
    Ok(recorded)
}

/// Every unfinished piece of the PR's work that `why` ends: what never reached
/// Koji or Testing Farm ends here, in this transaction; what runs there is
/// canceled by the dispatcher (`cancel_running` off: left to finish).
async fn end_work(
    tx: &mut PgConnection,
    ctx: &Context,
    pull_request_id: i32,
    why: &Why,
    cancel_running: bool,
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    recorded.flags.extend(supersede::end_unsubmitted(tx, ctx, pull_request_id, why).await?);
    if cancel_running {
        recorded.cancel = Some(supersede::running(tx, pull_request_id, why).await?);
    }
    Ok(())
}

/// The settings read at the head (stored by `pipelines::record_event_head`); a
/// broken `.fedora-ci.yaml` gets a neutral flag saying why. Returns the settings
/// in force.
async fn record_settings(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    settings: Option<Loaded>,
    recorded: &mut Recorded,
) -> Result<PackageSettings, sqlx::Error> {
    let Some(loaded) = settings else { return Ok(PackageSettings::default()) };
    if let Some(e) = &loaded.config_error {
        let key = reporting::FlagKey::config(pr.ctx.config.deployment, &pr.id, &pr.head.commit_sha);
        let comment = format!("config error: {e}");
        reporting::set_flag(tx, &pr.id, &key, reporting::NEUTRAL, &comment, &pr.docs_url()).await?;
        recorded.flag(key.uid);
    }
    Ok(loaded.settings)
}

/// Scratch builds for each target (and each extra Koji hub that builds it), or
/// the skip flags when the PR is skipped.
#[allow(clippy::too_many_arguments)]
async fn builds_for_targets(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    (targets, dedup, trigger): (&[String], &str, &str),
    intent: &SkipIntent,
    skipped: Skipped,
    package: &PackageSettings,
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    if let Some(by) = apply_skip_intent(tx, rows.pull_request_id, intent, skipped).await? {
        let checks = skip_flags::for_targets(&pr.ctx.config, &pr.id, targets, &pr.head.commit_sha, package);
        recorded.flags.extend(skip_flags::record(tx, &pr.id, &checks, &by, &pr.docs_url()).await?);
        recorded.note(format!("skipped by {by}"));
        return Ok(());
    }
    // (hub, target, key, data) of each build, in the order they are submitted.
    let mut planned: Vec<(&str, &str, String, BuildData)> = Vec::new();
    for target in targets {
        planned.push((PRIMARY, target, format!("{dedup}/{target}"), pr.build_data(trigger)));
        for (instance, its_target) in koji::builds_for(&pr.ctx.config.koji_instances, target) {
            let data = BuildData { flag_label: Some(instance.flag_label.clone()), ..pr.build_data(trigger) };
            planned.push((&instance.name, its_target, format!("{dedup}/{}:{its_target}", instance.name), data));
        }
    }
    let new: Vec<NewBuild<'_>> = planned
        .iter()
        .map(|(instance, target, key, data)| NewBuild { instance, target, idempotency_key: key, data })
        .collect();
    recorded.builds.extend(builds::create_many(tx, rows.project_event_id, &new).await?);
    Ok(())
}

/// `/packit-ci test`: the named tests on the head's last successful build for
/// `target`, or waiting for the build under way (or a new one that runs only them).
#[allow(clippy::too_many_arguments)]
async fn tests_on_head(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    skipped: Skipped,
    names: &[String],
    target: &str,
    requested_by: String,
    recorded: &mut Recorded,
) -> Result<(), HandlerError> {
    if let Some(by) = skipped.0 {
        let prefix = &pr.ctx.config.comment_prefix;
        let body = format!(
            "CI is skipped for this pull request (by {by}); comment `{prefix} rerun` or \
             `{prefix} scratch-build` to run it again."
        );
        return Ok(answer(tx, pr, &body, recorded).await?);
    }
    let distro = suite::distro_for_target(target);
    let requested = |key: &dyn Fn(&str) -> String, task: Option<i64>| -> Vec<NewTest<'_>> {
        let by = Some(requested_by.clone());
        names
            .iter()
            .map(|name| NewTest { distro: &distro, key: key(name), data: pr.test_request(name, task, by.clone()) })
            .collect()
    };
    match builds::for_test_request(tx, rows.project_event_id, target).await? {
        Some(build) if build.status == BuildStatus::Success => {
            let task = build.task_id.as_deref().and_then(|t| t.parse().ok());
            let tests = requested(&|name| format!("comment:{}/{name}/{distro}", pr.request), task);
            recorded
                .tests
                .extend(test_runs::record(tx, rows.project_event_id, build.koji_build_group_id, &tests).await?);
        }
        running => {
            let build = match running {
                Some(running) => running,
                None => build_for_tests(tx, pr, rows, target, recorded).await?,
            };
            let tests = requested(&|name| test_runs::after_build_key(build.id, name, &distro), None);
            wait_for_build(tx, pr, rows, &build, &tests, recorded).await?;
        }
    }
    Ok(())
}

/// A build of the head that runs only the tests asked for (nothing built yet).
async fn build_for_tests(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    target: &str,
    recorded: &mut Recorded,
) -> Result<BuildRow, HandlerError> {
    let data = BuildData { requested_tests_only: true, ..pr.build_data("comment") };
    let key = format!("comment:{}/{target}", pr.request);
    let Some(new) = builds::create(tx, rows.project_event_id, PRIMARY, target, &key, &data).await? else {
        return Err(HandlerError::Internal(format!("build key {key} taken by another event")));
    };
    recorded.builds.push(new.clone());
    Ok(new)
}

/// Tests recorded as waiting for `build`, each with a pending flag saying so.
async fn wait_for_build(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    build: &BuildRow,
    tests: &[NewTest<'_>],
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    let Some(group) = build.koji_build_group_id else { return Ok(()) };
    let waiting = test_runs::record_waiting(tx, rows.project_event_id, group, tests).await?;
    let url = reporting::pr_page_url(&pr.ctx.config.public_url, &pr.id);
    for row in &waiting {
        let key = test_flag(pr.ctx, row);
        test_runs::set_flag_uid(tx, row.id, &key.uid).await?;
        reporting::set_flag(tx, &pr.id, &key, FlagStatus::Pending, waiting::WAITING, &url).await?;
        recorded.flag(key.uid);
    }
    if !waiting.is_empty() && recorded.builds.is_empty() {
        recorded.note(format!("{} test(s) wait for build {}", waiting.len(), build.id));
    }
    Ok(())
}

/// A `tests/*` repository: its own tmt plans on rawhide, or the skip flags.
async fn tests_repository(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    intent: &SkipIntent,
    skipped: Skipped,
    rerun_of: Option<&str>,
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    if let Some(by) = apply_skip_intent(tx, rows.pull_request_id, intent, skipped).await? {
        let checks = skip_flags::for_tests_repository(pr.ctx.config.deployment, &pr.id, &pr.head.commit_sha);
        recorded.flags.extend(skip_flags::record(tx, &pr.id, &checks, &by, &pr.docs_url()).await?);
        recorded.note(format!("skipped by {by}"));
        return Ok(());
    }
    let key = match rerun_of {
        Some(command) => format!("{command}/custom/fedora-rawhide"),
        None => format!(
            "{}{}#{}@{}/custom/fedora-rawhide",
            crate::plan::dedup_prefix(pr.msg),
            pr.id.path(),
            pr.id.id,
            pr.head.commit_sha
        ),
    };
    let test = NewTest { distro: "fedora-rawhide", key, data: pr.test_request("custom", None, None) };
    recorded.tests.extend(test_runs::record(tx, rows.project_event_id, None, &[test]).await?);
    Ok(())
}

/// `/packit-ci skip`: the PR is skipped, with neutral flags on the checks that
/// would run.
async fn skip(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    rows: &PrRows,
    targets: &[String],
    by: &str,
    package: &PackageSettings,
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    skips::mark(tx, rows.pull_request_id, by).await?;
    let checks = if targets.is_empty() {
        skip_flags::for_tests_repository(pr.ctx.config.deployment, &pr.id, &pr.head.commit_sha)
    } else {
        skip_flags::for_targets(&pr.ctx.config, &pr.id, targets, &pr.head.commit_sha, package)
    };
    recorded.flags.extend(skip_flags::record(tx, &pr.id, &checks, by, &pr.docs_url()).await?);
    recorded.note(format!("skipped by {by}"));
    Ok(())
}

/// Queues the one comment that answers this request.
async fn answer(
    tx: &mut PgConnection,
    pr: &PrEvent<'_>,
    body: &str,
    recorded: &mut Recorded,
) -> Result<(), sqlx::Error> {
    let key = format!("answer:{}", pr.request);
    reporting::queue_comment(tx, &pr.id, &key, body).await?;
    recorded.comments.push(key);
    Ok(())
}

/// Who skipped the PR when this event's record began (read with its head):
/// still the answer until this event changes the skip.
struct Skipped(Option<String>);

/// Records what the event says about skipping, then answers whether the PR is
/// skipped now (and by whom).
async fn apply_skip_intent(
    tx: &mut PgConnection,
    pull_request_id: i32,
    intent: &SkipIntent,
    skipped: Skipped,
) -> Result<Option<String>, sqlx::Error> {
    match intent {
        SkipIntent::Keep => return Ok(skipped.0),
        SkipIntent::Marker(by) => skips::mark_once(tx, pull_request_id, by).await?,
        SkipIntent::Resume(by) => skips::resume(tx, pull_request_id, by).await?,
    }
    skips::skipped_by(tx, pull_request_id).await
}
