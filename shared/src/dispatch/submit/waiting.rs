//! Tests asked for (`/packit-ci test …`) while their build is still under way.
//! They wait as `pending` rows; the build's end either releases them for
//! submission or ends them with a reason, so their flags never stay pending.

use sqlx::PgConnection;

use crate::clients::forge::FlagStatus;
use crate::context::Context;
use crate::dispatch::reporting;
use crate::store::builds::BuildRow;
use crate::store::status::{BuildStatus, TestStatus};
use crate::store::test_runs;

use super::tests::{test_flag, test_pr};

/// The flag a waiting test shows until its build ends.
pub const WAITING: &str = "Waiting for the RPM build to finish.";

/// Ends the waiting tests of `build`, which ended in `build_status` (`failure`,
/// `error`, `canceled`) without a successful build to test; returns their flag uids.
pub async fn abandon(
    conn: &mut PgConnection,
    ctx: &Context,
    build: &BuildRow,
    build_status: BuildStatus,
) -> Result<Vec<String>, sqlx::Error> {
    let Some(group) = build.koji_build_group_id else { return Ok(Vec::new()) };
    let (status, flag_status, reason) = match build_status {
        BuildStatus::Canceled => (TestStatus::Canceled, FlagStatus::Canceled, "the RPM build was canceled"),
        BuildStatus::Failure => (TestStatus::Error, FlagStatus::Error, "the RPM build failed"),
        _ => (TestStatus::Error, FlagStatus::Error, "the RPM build could not be done"),
    };
    let ended = test_runs::end_waiting(conn, group, status, reason).await?;
    let mut uids = Vec::new();
    for row in &ended {
        let key = test_flag(ctx, row);
        let pr = test_pr(row);
        let url = reporting::pr_page_url(&ctx.config.public_url, &pr);
        let comment = format!("Not run: {reason}.");
        reporting::set_flag(conn, &pr, &key, flag_status, &comment, &url).await?;
        uids.push(key.uid);
    }
    Ok(uids)
}
