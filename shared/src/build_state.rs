//! What a Koji task's state change does to our build: the one code path for both
//! the `buildsys.task.state.change` message (koji-finished) and the poller's
//! `getTaskInfo` answer, so a lost message is repaired by exactly the same logic.

use serde_json::json;

use crate::app::Context;
use crate::error::HandlerError;
use crate::koji::client::TaskInfo;
use crate::koji_instances::PRIMARY;
use crate::messages::{KojiTaskState, KojiTaskStateChange};
use crate::package_settings::PackageSettings;
use crate::pagure::FlagStatus;
use crate::reporting;
use crate::store::builds::{self, BuildRow};
use crate::store::package_settings;
use crate::store::test_runs::{self, NewTest, TestRequestData, TestRunRow};
use crate::submit::build::{build_flag, build_koji, build_pr};
use crate::submit::tests::submit_test;
use crate::submit::waiting;
use crate::suite;

#[derive(Debug, Clone, PartialEq)]
pub struct ChildTask {
    pub id: i64,
    pub method: String,
    pub arch: Option<String>,
    pub state: Option<KojiTaskState>,
}

/// A task's state, wherever we learned it from.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub task_id: i64,
    pub state: KojiTaskState,
    pub start_time: Option<f64>,
    pub completion_time: Option<f64>,
    pub children: Vec<ChildTask>,
}

impl TaskUpdate {
    /// `None` for a state name Koji may add later: ignored rather than refused.
    pub fn from_message(msg: &KojiTaskStateChange) -> Option<Self> {
        Some(Self {
            task_id: msg.id,
            state: msg.new.state()?,
            start_time: msg.info.start_time,
            completion_time: msg.info.completion_time,
            children: msg
                .info
                .children
                .iter()
                .map(|c| ChildTask {
                    id: c.id,
                    method: c.method.clone(),
                    arch: c.arch.clone(),
                    state: c.state.and_then(KojiTaskState::from_number),
                })
                .collect(),
        })
    }

    pub fn from_task_info(info: &TaskInfo, children: &[TaskInfo]) -> Self {
        Self {
            task_id: info.id,
            state: info.state,
            start_time: info.start_time,
            completion_time: info.completion_time,
            children: children
                .iter()
                .map(|c| ChildTask { id: c.id, method: c.method.clone(), arch: c.arch.clone(), state: Some(c.state) })
                .collect(),
        }
    }

    fn build_arches(&self) -> impl Iterator<Item = &ChildTask> {
        self.children.iter().filter(|c| c.method == "buildArch")
    }
}

/// Our build status for a Koji state, and the states it may come from (never
/// backwards: a late OPEN after CLOSED changes nothing).
fn transition(state: KojiTaskState) -> Option<(&'static str, &'static [&'static str])> {
    match state {
        KojiTaskState::Open => Some(("running", &["pending"])),
        KojiTaskState::Closed => Some(("success", &["pending", "running"])),
        KojiTaskState::Failed => Some(("failure", &["pending", "running"])),
        KojiTaskState::Canceled => Some(("canceled", &["pending", "running"])),
        KojiTaskState::Free | KojiTaskState::Assigned => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// No build of ours has this task id.
    NotOurs,
    /// Already in this state or beyond: a duplicate, late or out-of-order update.
    Unchanged,
    Updated {
        status: &'static str,
        tests_submitted: usize,
    },
}

pub async fn find_build(ctx: &Context, instance: &str, task_id: i64) -> Result<Option<BuildRow>, HandlerError> {
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
pub async fn confirm(ctx: &Context, build: &BuildRow, update: &TaskUpdate) -> Result<Confirmation, HandlerError> {
    let koji = build_koji(ctx, build).map_err(HandlerError::Internal)?;
    let upstream = |e: crate::koji::KojiError| HandlerError::Upstream { service: "Koji", reason: e.to_string() };
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

/// Applies a task update of Koji `instance` to the build with that task id.
pub async fn apply(ctx: &Context, instance: &str, update: &TaskUpdate) -> Result<Applied, HandlerError> {
    let Some(build) = find_build(ctx, instance, update.task_id).await? else { return Ok(Applied::NotOurs) };
    crate::telemetry::annotate_pr(&format!("{}/{}", build.data.namespace, build.data.repo), build.data.pr_id as u64);
    apply_to(ctx, &build, update).await
}

/// Applies a task update to a known build (the poller already has the row).
pub async fn apply_to(ctx: &Context, build: &BuildRow, update: &TaskUpdate) -> Result<Applied, HandlerError> {
    let Some((status, from)) = transition(update.state) else { return Ok(Applied::Unchanged) };
    // Whether the PR carries its own tmt plans decides the `custom` test; asked
    // before the transaction so no lock is held over the network.
    // Testing Farm has no machines for the extra instances' architectures: only
    // primary builds are tested.
    let tested = status == "success" && build.koji_instance == PRIMARY;
    let has_fmf = if tested && !build.data.requested_tests_only {
        crate::lookups::has_fmf_tree(&ctx.clients.pagure, &build.data.source_repo_path, &build.data.commit_sha).await?
    } else {
        false
    };

    let key = build_flag(ctx, build);
    let pr = build_pr(build);
    let task_url = match build_koji(ctx, build) {
        Ok(koji) => koji.task_url(update.task_id),
        Err(reason) => return Err(HandlerError::Internal(reason)),
    };
    let logs = build_logs(ctx, build, update);
    let mut tx = ctx.pool.begin().await?;
    let moved =
        builds::transition(&mut tx, build.id, status, from, update.start_time, update.completion_time, logs.as_ref())
            .await?;
    if !moved {
        return Ok(Applied::Unchanged);
    }
    let (flag_status, comment) = match status {
        "running" => (FlagStatus::Pending, "RPM build is in progress…".to_owned()),
        "success" => (FlagStatus::Success, "RPM build succeeded.".to_owned()),
        "failure" => {
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
    };
    reporting::set_flag(&mut tx, &pr, &key, flag_status, &comment, &task_url).await?;
    let settings = match builds::project_event_id(&mut tx, build.id).await? {
        Some(head) => package_settings::for_head(&mut tx, head).await?,
        None => Default::default(),
    };
    let mut flags = vec![key.uid];
    let mut analyses = Vec::new();
    if status == "failure" && crate::log_analysis::wanted(ctx, build, &settings) {
        let (runs, run_flags) = crate::log_analysis::record_runs(&mut tx, ctx, build, &update.children).await?;
        analyses = runs;
        flags.extend(run_flags);
    }
    let mut tests = Vec::new();
    if tested {
        if !build.data.requested_tests_only {
            tests = record_tests(&mut tx, build, update.task_id, has_fmf, &settings).await?;
        }
        if let Some(group) = build.koji_build_group_id {
            tests.extend(test_runs::release_waiting(&mut tx, group, update.task_id).await?);
        }
    } else if matches!(status, "failure" | "canceled") {
        flags.extend(waiting::abandon(&mut tx, ctx, build, status).await?);
    }
    tx.commit().await?;
    if status != "running" {
        crate::telemetry::metrics::build_finished(status);
    }

    // One request per failed arch, at once: the handler's time stays that of one
    // (bounded by the upstream timeout) however many arches failed.
    let requests = analyses.into_iter().map(|run| crate::log_analysis::request_run(ctx, run));
    for requested in futures_util::future::join_all(requests).await {
        let (_, run_flags) = requested?;
        flags.extend(run_flags.into_iter().filter(|uid| !flags.contains(uid)).collect::<Vec<_>>());
    }
    for test in &tests {
        let (_, test_key) = submit_test(ctx, test).await?;
        flags.push(test_key.uid);
    }
    reporting::flush_flags(&ctx.pool, &ctx.clients.pagure, Some(&flags)).await?;
    Ok(Applied::Updated { status, tests_submitted: tests.len() })
}

/// The Fedora CI test requests for a successful build (status `new`), keyed by the
/// build so a repeated CLOSED can never request them twice.
async fn record_tests(
    conn: &mut sqlx::PgConnection,
    build: &BuildRow,
    task_id: i64,
    has_fmf: bool,
    settings: &PackageSettings,
) -> Result<Vec<TestRunRow>, sqlx::Error> {
    let Some(project_event_id) = builds::project_event_id(conn, build.id).await? else { return Ok(Vec::new()) };
    let distro = suite::distro_for_target(&build.target);
    let d = &build.data;
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
                namespace: d.namespace.clone(),
                repo: d.repo.clone(),
                pr_id: d.pr_id,
                commit_sha: d.commit_sha.clone(),
                branch: d.branch.clone(),
                source_repo_path: d.source_repo_path.clone(),
                koji_task_id: Some(task_id),
                requested_by: None,
                pr_uid: d.pr_uid.clone(),
                pr_author: d.pr_author.clone(),
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
