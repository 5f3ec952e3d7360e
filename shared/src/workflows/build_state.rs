//! What a Koji task's state change does to our build: the one code path for both
//! the `buildsys.task.state.change` message (koji-finished) and the poller's
//! `getTaskInfo` answer, so a lost message is repaired by exactly the same logic.

use serde_json::json;

use crate::clients::forge::FlagStatus;
use crate::config::koji::PRIMARY;
use crate::context::Context;
use crate::dispatch::submit::build::{build_flag, build_koji, build_pr};
use crate::dispatch::submit::waiting;
use crate::dispatch::{Recorded, dispatch, reporting};
use crate::messages::KojiTaskState;
use crate::rules::package_settings::PackageSettings;
use crate::rules::suite;
use crate::store::builds::{self, BuildRow};
use crate::store::package_settings;
use crate::store::status::BuildStatus;
use crate::store::test_runs::{self, NewTest, TestRequestData, TestRunRow};
use crate::workflows::WorkflowError;
use crate::workflows::task_update::TaskUpdate;

/// Our build status for a Koji state, and the states it may come from (never
/// backwards: a late OPEN after CLOSED changes nothing).
fn transition(state: KojiTaskState) -> Option<(BuildStatus, &'static [BuildStatus])> {
    use BuildStatus::{Canceled, Failure, Pending, Running, Success};
    match state {
        KojiTaskState::Open => Some((Running, &[Pending])),
        KojiTaskState::Closed => Some((Success, &[Pending, Running])),
        KojiTaskState::Failed => Some((Failure, &[Pending, Running])),
        KojiTaskState::Canceled => Some((Canceled, &[Pending, Running])),
        KojiTaskState::Free | KojiTaskState::Assigned => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// No build of ours has this task id.
    NotOurs,
    /// Already in this state or beyond: a duplicate, late or out-of-order update.
    Unchanged,
    /// A message called the task finished; its hub still reports this state.
    NotFinished(KojiTaskState),
    /// A message called the task finished; its hub does not know it.
    UnknownToHub,
    Updated {
        status: BuildStatus,
        tests_submitted: usize,
    },
}

pub async fn find_build(ctx: &Context, instance: &str, task_id: i64) -> Result<Option<BuildRow>, WorkflowError> {
    Ok(ctx.builds_by_task.by_task_id(instance, task_id).await?)
}

/// What the hub says about a task a message called finished.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmation {
    /// The hub agrees the task is finished: apply this (the message's update, or
    /// the hub's own when it names another final state — the hub is the truth).
    Apply(TaskUpdate),
    /// The hub still reports the task in this unfinished state.
    NotFinished(KojiTaskState),
    /// The hub does not know the task.
    Unknown,
}

/// Asks the build's own hub (`getTaskInfo`) whether a task a message reports as
/// CLOSED, FAILED or CANCELED has really finished, before tests are requested or
/// logs analysed on the message's word: a message can be forged, replayed from
/// another deployment or simply wrong. Not finished there → the message is not
/// acted on, and the build stays as it is: the poller asks the hub again for
/// every pending or running build (`result-poller`'s Koji pass) and applies the
/// hub's state through [`apply_to`] once it is final, so tests go out once, then.
pub async fn confirm(ctx: &Context, build: &BuildRow, update: &TaskUpdate) -> Result<Confirmation, WorkflowError> {
    let koji = build_koji(ctx, build)?;
    let upstream =
        |e: crate::clients::koji::KojiError| WorkflowError::Upstream { service: "Koji", reason: e.to_string() };
    let info = koji.get_task_info(&[update.task_id]).await.map_err(upstream)?.into_iter().next().flatten();
    let Some(info) = info else { return Ok(Confirmation::Unknown) };
    if !info.state.is_done() {
        return Ok(Confirmation::NotFinished(info.state));
    }
    if info.state == update.state {
        return Ok(Confirmation::Apply(update.clone()));
    }
    let children = koji.get_task_children(info.id).await.map_err(upstream)?;
    Ok(Confirmation::Apply(TaskUpdate::from_task_info(&info, &children)))
}

/// Applies a finished-task message of Koji `instance` once the build's hub
/// confirms it ([`confirm`]); a build already final changes nothing.
pub async fn apply_confirmed(ctx: &Context, instance: &str, update: &TaskUpdate) -> Result<Applied, WorkflowError> {
    let Some(build) = find_build(ctx, instance, update.task_id).await? else { return Ok(Applied::NotOurs) };
    crate::telemetry::annotate_pr(
        &format!("{}/{}", build.data.pr.namespace, build.data.pr.repo),
        build.data.pr.pr_id as u64,
    );
    if !matches!(build.status, BuildStatus::Pending | BuildStatus::Running) {
        return Ok(Applied::Unchanged);
    }
    match confirm(ctx, &build, update).await? {
        Confirmation::Apply(confirmed) => apply_to(ctx, &build, &confirmed).await,
        Confirmation::NotFinished(state) => Ok(Applied::NotFinished(state)),
        Confirmation::Unknown => Ok(Applied::UnknownToHub),
    }
}

/// Applies a task update of Koji `instance` to the build with that task id.
pub async fn apply(ctx: &Context, instance: &str, update: &TaskUpdate) -> Result<Applied, WorkflowError> {
    let Some(build) = find_build(ctx, instance, update.task_id).await? else { return Ok(Applied::NotOurs) };
    crate::telemetry::annotate_pr(
        &format!("{}/{}", build.data.pr.namespace, build.data.pr.repo),
        build.data.pr.pr_id as u64,
    );
    apply_to(ctx, &build, update).await
}

/// Applies a task update to a known build (the poller already has the row).
pub async fn apply_to(ctx: &Context, build: &BuildRow, update: &TaskUpdate) -> Result<Applied, WorkflowError> {
    let Some((status, from)) = transition(update.state) else { return Ok(Applied::Unchanged) };
    // Already in this state or beyond as the caller read the row: no lookup and no
    // transaction to find that out (the poller's every running build, every pass).
    // A build's status never goes back to one of `from` once past it (a build with
    // a task is resubmitted only from `retry`), so the stored status would refuse
    // the transition below too.
    if !from.contains(&build.status) {
        return Ok(Applied::Unchanged);
    }
    // Whether the PR carries its own tmt plans decides the `custom` test; asked
    // before the transaction so no lock is held over the network.
    // Testing Farm has no machines for the extra instances' architectures: only
    // primary builds are tested.
    let tested = status == BuildStatus::Success && build.koji_instance == PRIMARY;
    let has_fmf = if tested && !build.data.requested_tests_only {
        crate::lookups::has_fmf_tree(
            &ctx.clients.forges,
            build.data.pr.forge,
            &build.data.pr.source_repo_path,
            &build.data.pr.commit_sha,
        )
        .await?
    } else {
        false
    };

    let key = build_flag(ctx, build);
    let pr = build_pr(build);
    let task_url = match build_koji(ctx, build) {
        Ok(koji) => koji.task_url(update.task_id),
        Err(unconfigured) => return Err(unconfigured.into()),
    };
    let logs = build_logs(ctx, build, update);
    let mut tx = ctx.pool.begin().await?;
    let moved =
        builds::transition(&mut tx, build.id, status, from, update.start_time, update.completion_time, logs.as_ref())
            .await?;
    if !moved {
        return Ok(Applied::Unchanged);
    }
    let (flag_status, comment) = build_flag_state(status, update);
    reporting::set_flag(&mut tx, &pr, &key, flag_status, &comment, &task_url).await?;
    let mut recorded = Recorded::default();
    recorded.flag(key.uid);
    record_follow_ups(&mut tx, ctx, build, update, status, tested.then_some(has_fmf), &mut recorded).await?;
    tx.commit().await?;
    if status != BuildStatus::Running {
        crate::telemetry::metrics::build_finished(status.as_str());
    }
    let tests = recorded.tests.len();
    dispatch(ctx, recorded).await?;
    Ok(Applied::Updated { status, tests_submitted: tests })
}

/// What the PR shows for a build in `status`: the flag's state and words.
fn build_flag_state(status: BuildStatus, update: &TaskUpdate) -> (FlagStatus, String) {
    match status {
        BuildStatus::Running => (FlagStatus::Pending, "RPM build is in progress…".to_owned()),
        BuildStatus::Success => (FlagStatus::Success, "RPM build succeeded.".to_owned()),
        BuildStatus::Failure => {
            let failed: Vec<&str> = update
                .build_arches()
                .filter(|c| c.state == Some(KojiTaskState::Failed))
                .filter_map(|c| c.arch.as_deref())
                .collect();
            let comment = if failed.is_empty() {
                "RPM build failed.".to_owned()
            } else {
                format!("RPM build failed for {}.", failed.join(", "))
            };
            (FlagStatus::Failure, comment)
        }
        _ => (FlagStatus::Canceled, "RPM build was canceled.".to_owned()),
    }
}

/// What follows from the new state, in the same transaction: Log Detective runs
/// for a failed build (when wanted), the tests of a successful one when it is
/// tested (`tests`: `Some(has_fmf)`; the suite and those that waited for it), or
/// the end of the waiting tests.
async fn record_follow_ups(
    tx: &mut sqlx::PgConnection,
    ctx: &Context,
    build: &BuildRow,
    update: &TaskUpdate,
    status: BuildStatus,
    tests: Option<bool>,
    recorded: &mut Recorded,
) -> Result<(), WorkflowError> {
    let (head, settings) = match package_settings::for_build(tx, build.id).await? {
        Some((head, settings)) => (Some(head), settings),
        None => (None, Default::default()),
    };
    if status == BuildStatus::Failure && crate::workflows::log_analysis::wanted(ctx, build, &settings) {
        let (runs, run_flags) = crate::workflows::log_analysis::record_runs(tx, ctx, build, &update.children).await?;
        recorded.analyses = runs;
        recorded.flags.extend(run_flags);
    }
    if let Some(has_fmf) = tests {
        if let (false, Some(project_event_id)) = (build.data.requested_tests_only, head) {
            recorded.tests = record_tests(tx, build, project_event_id, update.task_id, has_fmf, &settings).await?;
        }
        if let Some(group) = build.koji_build_group_id {
            recorded.tests.extend(test_runs::release_waiting(tx, group, update.task_id).await?);
        }
    } else if matches!(status, BuildStatus::Failure | BuildStatus::Canceled) {
        recorded.flags.extend(waiting::abandon(tx, ctx, build, status).await?);
    }
    Ok(())
}

/// The Fedora CI test requests for a successful build (status `new`), keyed by the
/// build so a repeated CLOSED can never request them twice.
async fn record_tests(
    conn: &mut sqlx::PgConnection,
    build: &BuildRow,
    project_event_id: i32,
    task_id: i64,
    has_fmf: bool,
    settings: &PackageSettings,
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    let distro = suite::distro_for_target(&build.target);
    let d = &build.data.pr;
    // Only the tests of the deployment's suite; staging or prod does not change the names.
    let tests: Vec<NewTest<'_>> = suite::suite(crate::config::Deployment::Prod, has_fmf)
        .iter()
        .filter(|t| settings.runs_test(t.name))
        .map(|t| NewTest {
            distro: &distro,
            key: test_runs::after_build_key(build.id, t.name, &distro),
            data: TestRequestData {
                base_project_url: format!("{}/{}", d.namespace, d.repo),
                fedora_ci_test: t.name.to_owned(),
                pr: d.clone(),
                koji_task_id: Some(task_id),
                requested_by: None,
            },
        })
        .collect();
    test_runs::record(conn, project_event_id, build.koji_build_group_id, &tests).await
}

/// `{arch: build.log URL}` for the `buildArch` subtasks.
fn build_logs(ctx: &Context, build: &BuildRow, update: &TaskUpdate) -> Option<serde_json::Value> {
    // The build's own hub keeps its logs.
    let pkgs = match ctx.config.koji_instance(&build.koji_instance) {
        Some(instance) => instance.koji.pkgs_url.as_str(),
        None => ctx.config.koji.pkgs_url.as_str(),
    };
    let pkgs = pkgs.trim_end_matches('/');
    let logs: serde_json::Map<String, serde_json::Value> = update
        .build_arches()
        .filter_map(|c| {
            let arch = c.arch.clone()?;
            Some((arch, json!(format!("{pkgs}/work/tasks/{}/{}/build.log", c.id % 10000, c.id))))
        })
        .collect();
    (!logs.is_empty()).then_some(serde_json::Value::Object(logs))
}
