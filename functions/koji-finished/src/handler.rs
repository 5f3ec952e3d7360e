//! Koji task state changes in → build status, flags, and the test suite.
//!
//! This is the hot path: Koji announces every task of every user, so a foreign
//! task must cost as little as possible — decided from the `kojiowner` extension
//! (set by the bridge) or by reading just the owner from the body, with no
//! database access and no outbound call. Then one indexed lookup by task id,
//! merged with the lookups of concurrent messages (`store::build_lookup`).

use axum::extract::State;
use fedora_ci::config::koji::PRIMARY;
use fedora_ci::messages::koji::TaskHeader;
use fedora_ci::messages::log_detective::AnalysisResult;
use fedora_ci::messages::{KojiTaskStateChange, Topic};
use fedora_ci::runtime::intake::CloudEventRequest;
use fedora_ci::workflows::build_state::{self, Applied};
use fedora_ci::workflows::log_analysis;
use fedora_ci::workflows::task_update::TaskUpdate;
use fedora_ci::{Context, HandlerError, Outcome};

/// Log Detective's answer about a failed build of ours (the interface server's
/// `logdetective.analysis` message). Here because it finishes what a failed Koji
/// build started: same tables, same flags, one Knative service less to run.
/// An analysis id we never asked for (Copr's, or another service's) is 202.
async fn log_detective_result(ctx: &Context, event: &CloudEventRequest) -> Result<Outcome, HandlerError> {
    let message = AnalysisResult::parse(event.require_data()?)?;
    let id = &message.log_detective_analysis_id;
    Ok(match log_analysis::apply_result(ctx, &message).await? {
        log_analysis::Applied::NotOurs => Outcome::ignored(format!("analysis {id} is not one of ours")),
        log_analysis::Applied::Unchanged => {
            Outcome::duplicate(format!("analysis {id}: {} changes nothing", message.status))
        }
        log_analysis::Applied::Updated { status } => Outcome::done(format!("analysis {id}: {status}")),
    })
}

pub async fn handle(State(ctx): State<Context>, event: CloudEventRequest) -> Result<Outcome, HandlerError> {
    if event.topic == Some(Topic::LogDetectiveAnalysis) {
        return log_detective_result(&ctx, &event).await;
    }
    // The hub is told by the topic: the primary one under our prefix, an extra
    // instance under its own.
    let instance = if event.topic == Some(Topic::KojiTaskStateChange) {
        PRIMARY
    } else if let Some(extra) = ctx.config.koji_instance_by_task_topic(&event.meta.event_type) {
        extra.name.as_str()
    } else {
        return Ok(Outcome::ignored(format!("event type '{}' is not handled here", event.meta.event_type)));
    };
    // The owner before anything else: the extension costs nothing, and without it
    // (an event not sent by our bridge) the body is checked and only `owner` read.
    let header;
    let owner = match event.meta.extension("kojiowner") {
        Some(owner) => owner,
        None => {
            header = TaskHeader::parse(event.require_data()?)?;
            header.owner.as_str()
        }
    };
    if !ctx.config.koji_users(instance).iter().any(|user| user == owner) {
        return Ok(Outcome::ignored(format!("task of {owner}, not ours")));
    }
    let message = KojiTaskStateChange::parse(event.require_data()?)?;
    // Our builds are `build` tasks; their `buildArch` children change state too.
    if message.method.as_deref().is_some_and(|m| m != "build") {
        return Ok(Outcome::ignored(format!("{} task, not a build", message.method.as_deref().unwrap_or("?"))));
    }
    let Some(update) = TaskUpdate::from_message(&message) else {
        return Ok(Outcome::ignored(format!("unknown task state '{}'", message.new.0)));
    };
    // A finished task is confirmed with its hub before anything follows from it
    // (tests, log analysis); one the hub still runs is left to the poller.
    let applied = if update.state.is_done() {
        build_state::apply_confirmed(&ctx, instance, &update).await?
    } else {
        build_state::apply(&ctx, instance, &update).await?
    };
    Ok(match applied {
        Applied::NotOurs => Outcome::ignored(format!("task {} is not one of our builds", update.task_id)),
        Applied::NotFinished(state) => Outcome::ignored(format!(
            "task {}: the message says {} but the hub reports {state:?}; the poller will follow the hub",
            update.task_id, message.new.0
        )),
        Applied::UnknownToHub => Outcome::ignored(format!("task {}: the hub does not know it", update.task_id)),
        Applied::Unchanged => {
            Outcome::duplicate(format!("task {} already at or past {}", update.task_id, message.new.0))
        }
        Applied::Updated { status, tests_submitted } => {
            Outcome::done(format!("task {}: build {status}, {tests_submitted} test(s) submitted", update.task_id))
        }
    })
}
