//! PR flags and comments: what a packager sees.
//!
//! Every flag's check name and uid come from [`FlagKey`], computed from stored
//! data, for every state of that flag — so creating and updating can never use two
//! different names (a bug the old service had). The desired state is written to
//! `pr_flags` in the same transaction as the change it reports and sent after the
//! commit (see [`flush_flags`]); anything that could not be sent stays marked
//! unsent for the poller.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::clients::forge::{Check, FlagStatus, Forge, ForgeError, Forges, PrId};
use crate::config::Deployment;

/// The identity of one flag on one PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagKey {
    pub check_name: String,
    pub uid: String,
    /// The commit the check is about (a Forgejo status is posted on it).
    pub commit: String,
}

/// `Fedora CI` in production, `Fedora CI (staging)` on staging, so a PR tested by
/// both shows both.
pub fn check_prefix(deployment: Deployment) -> &'static str {
    match deployment {
        Deployment::Prod => "Fedora CI",
        Deployment::Stg => "Fedora CI (staging)",
    }
}

impl FlagKey {
    /// uid = first 32 hex chars of SHA-256 of
    /// "<forge>:<namespace>/<repo>#<PR id> <check name> - <target> [<short sha>]"
    /// (`<forge>` is `pagure` or `forgejo`).
    ///
    /// The PR is part of it: Pagure stores a flag on the commit that is the PR's
    /// head when it is posted, so two PRs with the same head (a PR reopened as a new
    /// one, one branch proposed to two branches, two forks) would otherwise share
    /// every flag, and one PR's results would overwrite the other's.
    fn new(pr: &PrId, check_name: String, target: &str, commit_sha: &str) -> Self {
        let short: String = commit_sha.chars().take(7).collect();
        let identity = format!("{}:{}/{}#{}", pr.forge.as_str(), pr.namespace, pr.repo, pr.id);
        let digest = Sha256::digest(format!("{identity} {check_name} - {target} [{short}]").as_bytes());
        let uid = digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..32].to_owned();
        Self { check_name, uid, commit: commit_sha.to_owned() }
    }

    /// The scratch build flag; builds for another target than rawhide say which.
    pub fn build(deployment: Deployment, pr: &PrId, koji_target: &str, commit_sha: &str) -> Self {
        let prefix = check_prefix(deployment);
        let name = if koji_target == "rawhide" {
            format!("{prefix} - scratch build")
        } else {
            format!("{prefix} - scratch build ({koji_target})")
        };
        Self::new(pr, name, koji_target, commit_sha)
    }

    /// A build on an extra Koji instance: the flag names the instance's label
    /// ("Fedora CI - scratch build (riscv64)").
    pub fn instance_build(deployment: Deployment, pr: &PrId, label: &str, koji_target: &str, commit_sha: &str) -> Self {
        let name = format!("{} - scratch build ({label})", check_prefix(deployment));
        Self::new(pr, name, &format!("{label}:{koji_target}"), commit_sha)
    }

    /// One Log Detective analysis: per build target and failed architecture
    /// ("Fedora CI - Log Detective analysis (x86_64)", "… (eln, x86_64)").
    pub fn log_detective(deployment: Deployment, pr: &PrId, target: &str, arch: &str, commit_sha: &str) -> Self {
        let prefix = check_prefix(deployment);
        let name = if target == "rawhide" {
            format!("{prefix} - Log Detective analysis ({arch})")
        } else {
            format!("{prefix} - Log Detective analysis ({target}, {arch})")
        };
        Self::new(pr, name, &format!("log-detective:{target}-{arch}"), commit_sha)
    }

    /// The `.fedora-ci.yaml` check: shown only when the file at that commit is invalid.
    pub fn config(deployment: Deployment, pr: &PrId, commit_sha: &str) -> Self {
        Self::new(pr, format!("{} - config", check_prefix(deployment)), "config", commit_sha)
    }

    /// One flag per test; `distro` is the Testing Farm target (`fedora-rawhide`).
    pub fn test(deployment: Deployment, pr: &PrId, test: &str, distro: &str, commit_sha: &str) -> Self {
        let prefix = check_prefix(deployment);
        let name = if distro == "fedora-rawhide" {
            format!("{prefix} - {test}")
        } else {
            format!("{prefix} - {test} ({distro})")
        };
        Self::new(pr, name, distro, commit_sha)
    }
}

/// The PR's page on our status page: where a flag links while it has no Koji task
/// or Testing Farm request of its own (retry scheduled, error before submission,
/// timed out), so the packager still lands on the overall view.
pub fn pr_page_url(public_url: &url::Url, pr: &PrId) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    match pr.forge {
        Forge::Pagure => format!("{base}/pr/{}/{}/{}", pr.namespace, pr.repo, pr.id),
        Forge::Forgejo => format!("{base}/forgejo/pr/{}/{}/{}", pr.namespace, pr.repo, pr.id),
    }
}

/// Pagure has no neutral flag status; `canceled` is the one that says "not run"
/// without claiming success or failure, so skipped checks and config errors use it
/// (Forgejo shows it as `warning`, see [`FlagStatus::forgejo_state`]).
pub const NEUTRAL: FlagStatus = FlagStatus::Canceled;

/// Records a flag's state only when the flag has none yet (a skip must not
/// overwrite the result of work that already ran for that commit); `true` when
/// it was recorded.
pub async fn set_flag_if_absent(
    conn: &mut PgConnection,
    pr: &PrId,
    key: &FlagKey,
    status: FlagStatus,
    comment: &str,
    url: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = insert_flag(conn, pr, key, status, comment, url, "DO NOTHING").await?;
    Ok(inserted == 1)
}

/// Records the state a flag should have. A no-op when it already has exactly
/// that state (so duplicates change nothing and are not re-sent).
pub async fn set_flag(
    conn: &mut PgConnection,
    pr: &PrId,
    key: &FlagKey,
    status: FlagStatus,
    comment: &str,
    url: &str,
) -> Result<(), sqlx::Error> {
    insert_flag(conn, pr, key, status, comment, url, UPDATE_WHEN_CHANGED).await?;
    Ok(())
}

const UPDATE_WHEN_CHANGED: &str = "DO UPDATE SET status = EXCLUDED.status, comment = EXCLUDED.comment, \
     url = EXCLUDED.url, check_name = EXCLUDED.check_name, updated_at = now(), version = pr_flags.version + 1 \
     WHERE (pr_flags.status, pr_flags.comment, pr_flags.url, pr_flags.check_name) \
         IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.comment, EXCLUDED.url, EXCLUDED.check_name)";

/// [`set_flag`]'s statement with its parameters from `$first` on (ten of them,
/// bound by [`bind_set_flag`]), for a caller that makes its own change a CTE
/// of the same statement: the change and its flag in one round trip.
pub fn set_flag_sql(first: usize) -> String {
    flag_sql(&format!("VALUES ({})", flag_params(first)), UPDATE_WHEN_CHANGED)
}

/// [`set_flag_sql`] written only when `guard` (a condition over the caller's
/// CTEs, never input) holds: a caller whose change may turn out a no-op makes
/// it, its flag and the guard one statement.
pub fn set_flag_sql_if(first: usize, guard: &str) -> String {
    flag_sql(&format!("SELECT {} WHERE {guard}", flag_params(first)), UPDATE_WHEN_CHANGED)
}

/// `$first, …, $first+9`: the placeholders [`bind_set_flag`] binds.
fn flag_params(first: usize) -> String {
    (first..first + 10).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Binds [`set_flag_sql`]'s ten parameters, after the caller's.
pub fn bind_set_flag<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    pr: &'q PrId,
    key: &'q FlagKey,
    status: FlagStatus,
    comment: &'q str,
    url: &'q str,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&key.uid)
        .bind(&pr.namespace)
        .bind(&pr.repo)
        .bind(pr.id as i64)
        .bind(&key.check_name)
        .bind(status.as_str())
        .bind(comment)
        .bind(url)
        .bind(pr.forge.as_str())
        .bind(&key.commit)
}

/// The flag insert; `rows` is its `VALUES (…)` or `SELECT … WHERE …`.
fn flag_sql(rows: &str, on_conflict: &str) -> String {
    format!(
        "INSERT INTO pr_flags (uid, namespace, repo_name, pr_id, check_name, status, comment, url, forge, commit_sha) \
         {rows} ON CONFLICT (forge, namespace, repo_name, pr_id, uid) {on_conflict}"
    )
}

/// The one outbox insert behind both setters; `on_conflict` is a constant of
/// theirs (never input), everything else is bound.
async fn insert_flag(
    conn: &mut PgConnection,
    pr: &PrId,
    key: &FlagKey,
    status: FlagStatus,
    comment: &str,
    url: &str,
    on_conflict: &'static str,
) -> Result<u64, sqlx::Error> {
    let sql = flag_sql(&format!("VALUES ({})", flag_params(1)), on_conflict);
    let done = bind_set_flag(sqlx::query(&sql), pr, key, status, comment, url).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Queues a comment; `dedup_key` (e.g. the event id) makes a redelivery answer once.
pub async fn queue_comment(conn: &mut PgConnection, pr: &PrId, dedup_key: &str, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pr_comments (dedup_key, namespace, repo_name, pr_id, body, forge) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (forge, namespace, repo_name, pr_id, dedup_key) DO NOTHING",
    )
    .bind(dedup_key)
    .bind(&pr.namespace)
    .bind(&pr.repo)
    .bind(pr.id as i64)
    .bind(body)
    .bind(pr.forge.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// What a flush did, for logs and the poller's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub sent: u32,
    pub failed: u32,
}

#[derive(sqlx::FromRow)]
struct FlagRow {
    uid: String,
    forge: String,
    commit_sha: Option<String>,
    namespace: String,
    repo_name: String,
    pr_id: i64,
    check_name: String,
    status: String,
    comment: String,
    url: String,
    version: i64,
}

/// Flags claimed at once. A claim lasts as long as sending all of them can take
/// ([`Forges::call_limit`] each), so a small batch keeps a dead flusher's claim
/// short; an event's flags fit in one.
const FLUSH_BATCH: usize = 16;

/// What a claim outlasts its sends by: the time to record them. A record that
/// lands later than this only costs a duplicate send of the same state.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// Sends the current state of the given flags (all unsent ones when `uids` is
/// `None`), so the PR shows each flag's newest state last.
///
/// A batch is claimed with one `UPDATE … RETURNING` (`sending_by`,
/// `sending_until`, migration 0011) and sent with no transaction or connection
/// held while the forge answers; one more statement records every send and
/// releases the claim. A flag claimed by another flusher is skipped: the
/// record of that flusher returns (still claimed) every flag whose state moved
/// on while it was sending, and it sends those again, so the newer state is
/// never overtaken by the older one. A claim whose flusher died expires, and
/// the poller's flush of everything unsent takes it then.
pub async fn flush_flags(pool: &PgPool, forges: &Forges, uids: Option<&[String]>) -> Result<Sent, sqlx::Error> {
    let pending: Vec<String> = match uids {
        Some(uids) => uids.to_vec(),
        None => {
            sqlx::query_scalar(
                "SELECT uid FROM pr_flags WHERE sent_version < version \
                 AND (sending_until IS NULL OR sending_until < now()) ORDER BY updated_at LIMIT 500",
            )
            .fetch_all(pool)
            .await?
        }
    };
    let mut outcome = Sent::default();
    for batch in pending.chunks(FLUSH_BATCH) {
        if flush_batch(pool, forges, batch, &mut outcome).await? {
            // The rest would fail the same way; they stay unsent for the poller.
            break;
        }
    }
    Ok(outcome)
}

/// The flags among `uids` that are unsent and unclaimed, claimed for
/// `claim_secs`. Rows are locked in key order and those another statement
/// holds are skipped (they are being claimed or changed, and whoever holds
/// them flushes them), so two claims never wait for each other.
const CLAIM_SQL: &str = "WITH free AS ( \
         SELECT forge, namespace, repo_name, pr_id, uid FROM pr_flags \
         WHERE uid = ANY($1) AND sent_version < version AND (sending_until IS NULL OR sending_until < now()) \
         ORDER BY forge, namespace, repo_name, pr_id, uid FOR UPDATE SKIP LOCKED) \
     UPDATE pr_flags f SET sending_until = now() + make_interval(secs => $2), sending_by = $3 \
     FROM free WHERE (f.forge, f.namespace, f.repo_name, f.pr_id, f.uid) \
         = (free.forge, free.namespace, free.repo_name, free.pr_id, free.uid) \
     RETURNING f.uid, f.forge, f.commit_sha, f.namespace, f.repo_name, f.pr_id, f.check_name, f.status, \
         f.comment, f.url, f.version";

/// Flushes one batch; `true` when the forge rejected our token (stop there).
async fn flush_batch(pool: &PgPool, forges: &Forges, uids: &[String], outcome: &mut Sent) -> Result<bool, sqlx::Error> {
    let flusher = uuid::Uuid::new_v4();
    let sends = forges.call_limit * uids.len() as u32;
    let claim_secs = (sends + CLAIM_MARGIN).as_secs_f64();
    let mut claimed_at = Instant::now();
    let mut rows: Vec<FlagRow> =
        sqlx::query_as(CLAIM_SQL).bind(uids).bind(claim_secs).bind(flusher).fetch_all(pool).await?;
    let mut stop = false;
    while !rows.is_empty() {
        // In the order asked for, as one flush per flag sent them.
        rows.sort_by_key(|row| uids.iter().position(|u| *u == row.uid));
        let mut attempts = Attempts::default();
        for row in rows {
            let pr = PrId {
                forge: Forge::parse(&row.forge).unwrap_or_default(),
                namespace: row.namespace,
                repo: row.repo_name,
                id: row.pr_id as u64,
            };
            // A send that could end after the claim does is left for the poller:
            // another flusher may own the flag by then. (Half the margin is kept
            // for the record.)
            if stop || claimed_at.elapsed() + forges.call_limit > sends + CLAIM_MARGIN / 2 {
                attempts.push(&pr, &row.uid, row.version, None);
                continue;
            }
            let check = Check {
                name: row.check_name,
                uid: row.uid.clone(),
                status: FlagStatus::parse(&row.status).unwrap_or(FlagStatus::Error),
                comment: row.comment,
                url: row.url,
                commit: row.commit_sha,
            };
            let result = forges.report(&pr, &check).await;
            attempts.push(&pr, &row.uid, row.version, Some(&result));
            match result {
                Ok(()) => outcome.sent += 1,
                Err(e) => {
                    report_failure("flag", &pr, &e);
                    outcome.failed += 1;
                    stop = e.is_token_rejected();
                }
            }
        }
        claimed_at = Instant::now();
        rows = attempts.record(pool, flusher, (!stop).then_some(claim_secs)).await?;
    }
    Ok(stop)
}

/// Only a success or a permanent refusal ([`ForgeError::is_permanent`]: the PR
/// is gone, the form can never be taken) settles a flag or comment. A rejected
/// token (401/403) and a transient failure keep it unsent, so the poller sends
/// it once the forge or the renewed token works again: an expired token must
/// never drop packagers' results.
fn settled(result: &Result<(), ForgeError>) -> (bool, Option<String>) {
    match result {
        Ok(()) => (true, None),
        Err(e) => (e.is_permanent(), Some(e.to_string())),
    }
}

/// Counts and logs a failed flag or comment; a rejected token is named, since
/// only renewing `PAGURE_TOKEN` (or `FORGEJO_TOKEN`) fixes it.
fn report_failure(call: &'static str, pr: &PrId, error: &ForgeError) {
    let forge = pr.forge.name();
    // Forgejo's checks are commit statuses.
    let call = match (pr.forge, call) {
        (Forge::Forgejo, "flag") => "status",
        _ => call,
    };
    crate::telemetry::metrics::upstream_failure(pr.forge.as_str(), call);
    if error.is_token_rejected() {
        let variable = match pr.forge {
            Forge::Pagure => {
                crate::telemetry::metrics::pagure_token_rejected(call);
                "PAGURE_TOKEN"
            }
            Forge::Forgejo => {
                crate::telemetry::metrics::forgejo_token_rejected(call);
                "FORGEJO_TOKEN"
            }
        };
        tracing::error!(
            pr = %pr.path(),
            error = %error,
            "{forge} rejected {variable}: {call} kept unsent until the token is renewed"
        );
    } else if error.is_permanent() {
        tracing::warn!(pr = %pr.path(), error = %error, "{call} refused for good by {forge}, not retried");
    } else {
        tracing::warn!(pr = %pr.path(), error = %error, "{call} not sent, left for the poller");
    }
}

/// What each send of a batch did (`None`: not tried), written in one statement.
#[derive(Default)]
struct Attempts {
    uids: Vec<String>,
    errors: Vec<Option<String>>,
    done: Vec<bool>,
    tried: Vec<bool>,
    versions: Vec<i64>,
    namespaces: Vec<String>,
    repos: Vec<String>,
    pr_ids: Vec<i64>,
    forges: Vec<&'static str>,
}

impl Attempts {
    fn push(&mut self, pr: &PrId, uid: &str, version: i64, result: Option<&Result<(), ForgeError>>) {
        let (done, error) = result.map(settled).unwrap_or((false, None));
        self.uids.push(uid.to_owned());
        self.errors.push(error);
        self.done.push(done);
        self.tried.push(result.is_some());
        self.versions.push(version);
        self.namespaces.push(pr.namespace.clone());
        self.repos.push(pr.repo.clone());
        self.pr_ids.push(pr.id as i64);
        self.forges.push(pr.forge.as_str());
    }

    /// Records the sends and releases `flusher`'s claim, in one statement. With
    /// `renew_secs`, a flag sent successfully whose state moved on while it was
    /// sent stays claimed that much longer and is returned, to be sent again.
    async fn record(
        self,
        pool: &PgPool,
        flusher: uuid::Uuid,
        renew_secs: Option<f64>,
    ) -> Result<Vec<FlagRow>, sqlx::Error> {
        if self.uids.is_empty() {
            return Ok(Vec::new());
        }
        // SET sees the row as it was (sent_version before this send), RETURNING
        // as it is now.
        sqlx::query_as(
            "WITH recorded AS ( \
                 UPDATE pr_flags f SET attempts = f.attempts + a.tried::int, \
                 last_error = CASE WHEN a.tried THEN a.error ELSE f.last_error END, \
                 sent_version = CASE WHEN a.done THEN GREATEST(f.sent_version, a.version) ELSE f.sent_version END, \
                 sent_at = CASE WHEN a.done THEN now() ELSE f.sent_at END, \
                 sending_until = CASE WHEN $10::float8 IS NOT NULL AND a.done \
                     AND f.version > GREATEST(f.sent_version, a.version) \
                     THEN now() + make_interval(secs => $10::float8) END, \
                 sending_by = CASE WHEN $10::float8 IS NOT NULL AND a.done \
                     AND f.version > GREATEST(f.sent_version, a.version) THEN f.sending_by END \
                 FROM unnest($1::text[], $2::text[], $3::bool[], $4::bool[], $5::int8[], $6::text[], $7::text[], \
                     $8::int8[], $9::text[]) AS a(uid, error, done, tried, version, namespace, repo_name, pr_id, forge) \
                 WHERE f.uid = a.uid AND f.namespace = a.namespace AND f.repo_name = a.repo_name \
                   AND f.pr_id = a.pr_id AND f.forge = a.forge AND f.sending_by = $11 \
                 RETURNING f.uid, f.forge, f.commit_sha, f.namespace, f.repo_name, f.pr_id, f.check_name, f.status, \
                     f.comment, f.url, f.version, f.sending_by) \
             SELECT uid, forge, commit_sha, namespace, repo_name, pr_id, check_name, status, comment, url, version \
             FROM recorded WHERE sending_by IS NOT NULL",
        )
        .bind(&self.uids)
        .bind(&self.errors)
        .bind(&self.done)
        .bind(&self.tried)
        .bind(&self.versions)
        .bind(&self.namespaces)
        .bind(&self.repos)
        .bind(&self.pr_ids)
        .bind(&self.forges)
        .bind(renew_secs)
        .bind(flusher)
        .fetch_all(pool)
        .await
    }
}

async fn mark_comment_attempt(
    tx: &mut PgConnection,
    id: i64,
    result: &Result<(), ForgeError>,
) -> Result<(), sqlx::Error> {
    let (done, error) = settled(result);
    sqlx::query(
        "UPDATE pr_comments SET attempts = attempts + 1, last_error = $2, \
         sent_at = CASE WHEN $3 THEN now() ELSE sent_at END WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(done)
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CommentRow {
    id: i64,
    forge: String,
    namespace: String,
    repo_name: String,
    pr_id: i64,
    body: String,
}

/// Sends queued comments (the given dedup keys, or all unsent). A row lock held
/// during the POST keeps two flushers from posting one comment twice.
pub async fn flush_comments(pool: &PgPool, forges: &Forges, keys: Option<&[String]>) -> Result<Sent, sqlx::Error> {
    let mut outcome = Sent::default();
    loop {
        let mut tx = pool.begin().await?;
        let row: Option<CommentRow> = sqlx::query_as(
            "SELECT id, forge, namespace, repo_name, pr_id, body FROM pr_comments \
             WHERE sent_at IS NULL AND ($1::text[] IS NULL OR dedup_key = ANY($1)) \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .bind(keys)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(outcome) };
        let pr = PrId {
            forge: Forge::parse(&row.forge).unwrap_or_default(),
            namespace: row.namespace,
            repo: row.repo_name,
            id: row.pr_id as u64,
        };
        let result = forges.comment(&pr, &row.body).await;
        mark_comment_attempt(&mut tx, row.id, &result).await?;
        tx.commit().await?;
        match result {
            Ok(()) => outcome.sent += 1,
            Err(e) => {
                report_failure("comment", &pr, &e);
                outcome.failed += 1;
                // Leave the rest for the poller rather than hammering a failing
                // forge or sending a refused token again.
                if !e.is_permanent() {
                    return Ok(outcome);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_success_and_refusals_that_can_never_succeed_settle() {
        use crate::clients::forgejo::ForgejoError;
        use crate::clients::pagure::PagureError;
        let http = |status: u16| Err(ForgeError::Pagure(PagureError::Http { status, message: "m".into() }));
        assert!(settled(&Ok(())).0);
        for status in [400, 404, 410, 413, 414, 422] {
            assert!(settled(&http(status)).0, "{status} settles");
        }
        // A rejected token (expired, revoked, missing ACL, blocked user), and
        // anything unknown or transient, keeps the flag unsent.
        for status in [401, 403, 405, 408, 409, 418] {
            let (done, error) = settled(&http(status));
            assert!(!done && error.is_some(), "{status} stays unsent");
        }
        assert!(!settled(&Err(PagureError::Unreachable("down".into()).into())).0);
        assert!(!settled(&Err(PagureError::Decode("?".into()).into())).0);
        let forgejo = |status: u16| ForgeError::Forgejo(ForgejoError::Http { status, message: "m".into() });
        for status in [400, 404, 410, 422] {
            assert!(settled(&Err(forgejo(status))).0, "Forgejo {status} settles");
        }
        for status in [401, 403, 409] {
            assert!(!settled(&Err(forgejo(status))).0, "Forgejo {status} stays unsent");
        }
        assert!(forgejo(401).is_token_rejected() && forgejo(403).is_token_rejected());
        assert!(!settled(&Err(ForgejoError::Unreachable("down".into()).into())).0);
        assert!(PagureError::Http { status: 401, message: String::new() }.is_token_rejected());
        assert!(PagureError::Http { status: 403, message: String::new() }.is_token_rejected());
        assert!(!PagureError::Http { status: 404, message: String::new() }.is_token_rejected());
    }

    #[test]
    fn uid_is_stable_and_depends_on_pr_name_target_and_short_sha() {
        let pr = PrId::pagure("rpms", "optee_os", 2);
        let a = FlagKey::build(Deployment::Prod, &pr, "rawhide", "889f07af35d27bbcaf9c535c17a63b974aa42ee3");
        let again = FlagKey::build(Deployment::Prod, &pr, "rawhide", "889f07a");
        assert_eq!((&a.uid, &a.check_name), (&again.uid, &again.check_name));
        assert_eq!(a.uid.len(), 32);
        assert_eq!(a.check_name, "Fedora CI - scratch build");
        let expected = Sha256::digest(b"pagure:rpms/optee_os#2 Fedora CI - scratch build - rawhide [889f07a]");
        assert_eq!(a.uid, expected.iter().map(|b| format!("{b:02x}")).collect::<String>()[..32]);
        let eln = FlagKey::build(Deployment::Prod, &pr, "eln", "889f07a");
        assert_eq!(eln.check_name, "Fedora CI - scratch build (eln)");
        assert_ne!(eln.uid, a.uid);
        assert_ne!(FlagKey::build(Deployment::Stg, &pr, "rawhide", "889f07a").uid, a.uid);
        assert_ne!(FlagKey::build(Deployment::Prod, &pr, "rawhide", "889f07b").uid, a.uid);
        // Another PR with the same head commit, in the same or another repository.
        let other = PrId { id: 3, ..pr.clone() };
        assert_ne!(FlagKey::build(Deployment::Prod, &other, "rawhide", "889f07a").uid, a.uid);
        let fork = PrId { repo: "optee_os2".into(), ..pr.clone() };
        assert_ne!(FlagKey::build(Deployment::Prod, &fork, "rawhide", "889f07a").uid, a.uid);
        let t = FlagKey::test(Deployment::Prod, &pr, "rpmlint", "fedora-rawhide", "889f07a");
        assert_eq!(t.check_name, "Fedora CI - rpmlint");
        let ld = FlagKey::log_detective(Deployment::Prod, &pr, "rawhide", "x86_64", "889f07a");
        assert_eq!(ld.check_name, "Fedora CI - Log Detective analysis (x86_64)");
        let eln = FlagKey::log_detective(Deployment::Stg, &pr, "eln", "aarch64", "889f07a");
        assert_eq!(eln.check_name, "Fedora CI (staging) - Log Detective analysis (eln, aarch64)");
        assert_ne!(ld.uid, FlagKey::log_detective(Deployment::Prod, &pr, "rawhide", "aarch64", "889f07a").uid);
        assert_ne!(ld.uid, a.uid);
        // The same PR number of the same repository on Forgejo is another PR.
        let forgejo = PrId { forge: Forge::Forgejo, ..pr.clone() };
        let on_forgejo = FlagKey::build(Deployment::Prod, &forgejo, "rawhide", "889f07a");
        assert_eq!(on_forgejo.check_name, a.check_name);
        assert_ne!(on_forgejo.uid, a.uid);
    }
}
