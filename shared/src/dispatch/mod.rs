//! Sending what a workflow step recorded, after its commit: Koji builds, cancels,
//! Log Detective requests, Testing Farm requests, PR flags and comments, Fedora
//! CI messages. Every workflow (the functions' handlers and the poller) ends in
//! the one [`dispatch`], so an effect is sent the same way whichever event or
//! pass recorded it. Each sender records the upstream's answer in its own short
//! transaction; a crash between the commit and a send leaves an unsent row that
//! the poller's pass dispatches later.

pub mod cancel;
pub mod ci_messages;
pub mod log_detective;
pub mod reporting;
pub mod submit;

use crate::context::Context;
use crate::store::builds::BuildRow;
use crate::store::test_runs::TestRunRow;

use cancel::Cancel;

/// What a step recorded in its transaction and what is to be sent once that
/// transaction commits. Every item is a committed row (or names one), so
/// nothing here is lost if the process dies before [`dispatch`] runs.
#[derive(Debug, Default)]
#[must_use = "what was recorded is sent only by dispatch()"]
pub struct Recorded {
    /// Builds to submit to their Koji hub.
    pub builds: Vec<BuildRow>,
    /// Running Koji tasks and Testing Farm requests to cancel.
    pub cancel: Option<Cancel>,
    /// `log_detective_run` ids to request an analysis for.
    pub analyses: Vec<i32>,
    /// Test runs to submit to Testing Farm.
    pub tests: Vec<TestRunRow>,
    /// Flags (uids) whose stored state changed.
    pub flags: Vec<String>,
    /// Queued PR comments (dedup keys).
    pub comments: Vec<String>,
    /// Fedora CI messages were queued.
    pub messages: bool,
    /// What the step decided, for the handler's answer ("skipped by mjones").
    pub summary: Vec<String>,
}

impl Recorded {
    pub fn flag(&mut self, uid: impl Into<String>) {
        self.flags.push(uid.into());
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.summary.push(line.into());
    }
}

/// Sends everything `recorded` holds, in the order a packager expects to see it:
/// builds first, then cancels of replaced work, analyses and tests, then the
/// flags every one of them changed, comments, and messages. Returns the summary
/// lines (the step's own first, then one per item sent). A database error ends
/// the dispatch early; what was not sent stays unsent for the poller.
pub async fn dispatch(ctx: &Context, recorded: Recorded) -> Result<Vec<String>, sqlx::Error> {
    let Recorded { builds, cancel, analyses, tests, mut flags, comments, messages, mut summary } = recorded;
    for build in &builds {
        let (submitted, changed) = submit::build::submit_build(ctx, build).await?;
        summary.push(format!("{}: {submitted:?}", build.target));
        flags.extend(changed);
    }
    if let Some(cancel) = &cancel {
        let (changed, done) = cancel::cancel_running(ctx, cancel).await?;
        flags.extend(changed);
        summary.extend(done);
    }
    // One request per failed arch, at once: the handler's time stays that of one
    // (bounded by the upstream timeout) however many arches failed.
    let requests = analyses.into_iter().map(|run| log_detective::request_run(ctx, run));
    for requested in futures_util::future::join_all(requests).await {
        flags.extend(requested?.1);
    }
    for test in &tests {
        let (submitted, key) = submit::tests::submit_test(ctx, test).await?;
        summary.push(format!("{}: {submitted:?}", test.test_name));
        flags.push(key.uid);
    }
    let mut seen = std::collections::HashSet::new();
    flags.retain(|uid| seen.insert(uid.clone()));
    if !flags.is_empty() {
        reporting::flush_flags(&ctx.pool, &ctx.clients.forges, Some(&flags)).await?;
    }
    if !comments.is_empty() {
        reporting::flush_comments(&ctx.pool, &ctx.clients.forges, Some(&comments)).await?;
        summary.push("answered with a comment".into());
    }
    // A submitted test publishes its own message; these are the step's.
    if messages {
        ci_messages::flush(ctx).await;
    }
    Ok(summary)
}

/// Everything still unsent, whoever recorded it: flags, comments and Fedora CI
/// messages whose send failed or never ran (a crash after a commit, an outage).
/// The poller's pass ends with it.
pub async fn flush_unsent(ctx: &Context) -> Result<(), sqlx::Error> {
    reporting::flush_flags(&ctx.pool, &ctx.clients.forges, None).await?;
    reporting::flush_comments(&ctx.pool, &ctx.clients.forges, None).await?;
    ci_messages::flush(ctx).await;
    Ok(())
}
