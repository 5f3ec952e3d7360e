//! A CI history of any size for the read side's cost curve: pipelines, each with
//! one Koji build (its own group) and one test run (its own group), as pr-opened
//! records them, written in SQL (`generate_series`), not row by row. Two pipelines
//! per PR head (project event), four heads per PR, ten PRs per package.
//!
//! [`History::grow_to`] only adds the pipelines beyond the current size, so one
//! database goes 20k → 200k → 2M. Ids are explicit (after whatever the database
//! held when the history began) and the sequences are moved past them after, so
//! rows the functions record later do not collide.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Pipelines per project event (PR head), heads per PR, PRs per package.
const PIPELINES_PER_HEAD: i64 = 2;
const HEADS_PER_PR: i64 = 4;
const PRS_PER_PACKAGE: i64 = 10;
/// Pipelines per package: sizes are multiples of it.
pub const PIPELINES_PER_PACKAGE: i64 = PIPELINES_PER_HEAD * HEADS_PER_PR * PRS_PER_PACKAGE;

/// The tables the history writes, with the id each starts after.
const TABLES: [&str; 8] = [
    "git_projects",
    "pull_requests",
    "project_events",
    "koji_build_groups",
    "tft_test_run_groups",
    "pipelines",
    "koji_build_targets",
    "tft_test_run_targets",
];

pub struct History {
    /// Pipelines written so far.
    pub size: i64,
    /// `max(id)` of each of [`TABLES`] when the history began.
    base: Vec<i64>,
    /// The oldest pipeline's time; pipeline `k` is `k` seconds younger.
    start: DateTime<Utc>,
}

/// Package `n`'s name (`bench-pkg-<n>`): the package filter's and PR page's target.
pub fn package(n: i64) -> String {
    format!("bench-pkg-{n}")
}

impl History {
    pub async fn begin(pool: &PgPool) -> Result<History, sqlx::Error> {
        let mut base = Vec::new();
        for table in TABLES {
            base.push(
                sqlx::query_scalar(&format!("SELECT COALESCE(max(id), 0)::bigint FROM {table}"))
                    .fetch_one(pool)
                    .await?,
            );
        }
        Ok(History { size: 0, base, start: Utc::now() - chrono::Duration::days(60) })
    }

    fn base(&self, table: &str) -> i64 {
        self.base[TABLES.iter().position(|t| *t == table).expect("a table of the history")]
    }

    /// Packages in the history so far.
    pub fn packages(&self) -> i64 {
        self.size / PIPELINES_PER_PACKAGE
    }

    /// Adds pipelines until there are `size` (a multiple of
    /// [`PIPELINES_PER_PACKAGE`]), in one transaction. Foreign keys are not
    /// checked row by row (`session_replication_role = replica`, the way
    /// `pg_restore` loads data): the ids are consistent by construction.
    pub async fn grow_to(&mut self, pool: &PgPool, size: i64) -> Result<(), sqlx::Error> {
        assert_eq!(size % PIPELINES_PER_PACKAGE, 0, "a size of whole packages");
        if size <= self.size {
            return Ok(());
        }
        let (from, to) = (self.size, size);
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await?;
        // (table, SQL over k in [$1, $2) of that table's own numbering, $3 its id base).
        let b = |t: &str| self.base(t);
        let statements = [
            format!(
                "INSERT INTO git_projects (id, namespace, repo_name, project_url, instance_url) \
                 SELECT {g} + k + 1, 'rpms', 'bench-pkg-' || k, 'https://src.fedoraproject.org/rpms/bench-pkg-' || k, \
                        'https://src.fedoraproject.org' \
                 FROM generate_series($1 / {PIPELINES_PER_PACKAGE}, $2 / {PIPELINES_PER_PACKAGE} - 1) k",
                g = b("git_projects")
            ),
            format!(
                "INSERT INTO pull_requests (id, pr_id, project_id) \
                 SELECT {p} + k + 1, k % {PRS_PER_PACKAGE} + 1, {g} + k / {PRS_PER_PACKAGE} + 1 \
                 FROM generate_series($1 / {per_pr}, $2 / {per_pr} - 1) k",
                p = b("pull_requests"),
                g = b("git_projects"),
                per_pr = PIPELINES_PER_HEAD * HEADS_PER_PR,
            ),
            format!(
                "INSERT INTO project_events (id, type, event_id, commit_sha) \
                 SELECT {e} + k + 1, 'pull_request', {p} + k / {HEADS_PER_PR} + 1, lpad(to_hex(k), 40, 'c') \
                 FROM generate_series($1 / {PIPELINES_PER_HEAD}, $2 / {PIPELINES_PER_HEAD} - 1) k",
                e = b("project_events"),
                p = b("pull_requests"),
            ),
            format!(
                "INSERT INTO koji_build_groups (id, submitted_time) \
                 SELECT {kg} + k + 1, $3::timestamptz + make_interval(secs => k) FROM generate_series($1, $2 - 1) k",
                kg = b("koji_build_groups")
            ),
            format!(
                "INSERT INTO tft_test_run_groups (id, submitted_time) \
                 SELECT {tg} + k + 1, $3::timestamptz + make_interval(secs => k) FROM generate_series($1, $2 - 1) k",
                tg = b("tft_test_run_groups")
            ),
            format!(
                "INSERT INTO pipelines (id, datetime, project_event_id, package_name, koji_build_group_id, test_run_group_id) \
                 SELECT {pl} + k + 1, $3::timestamptz + make_interval(secs => k), {e} + k / {PIPELINES_PER_HEAD} + 1, \
                        'bench-pkg-' || k / {PIPELINES_PER_PACKAGE}, {kg} + k + 1, {tg} + k + 1 \
                 FROM generate_series($1, $2 - 1) k",
                pl = b("pipelines"),
                e = b("project_events"),
                kg = b("koji_build_groups"),
                tg = b("tft_test_run_groups"),
            ),
            // One build in ten failed, the rest succeeded: nothing for the poller.
            format!(
                "INSERT INTO koji_build_targets (id, task_id, status, target, web_url, build_submitted_time, \
                   build_start_time, build_finished_time, data, scratch, koji_build_group_id, koji_instance, \
                   pull_request_id) \
                 SELECT {kt} + k + 1, (3000000000 + k)::text, CASE WHEN k % 10 = 0 THEN 'failure' ELSE 'success' END, \
                        CASE WHEN k % 2 = 0 THEN 'rawhide' ELSE 'eln' END, \
                        'https://koji.fedoraproject.org/koji/taskinfo?taskID=' || (3000000000 + k), \
                        $3::timestamptz + make_interval(secs => k), $3::timestamptz + make_interval(secs => k + 60), \
                        $3::timestamptz + make_interval(secs => k + 1200), \
                        jsonb_build_object('flag_label', NULL), true, {kg} + k + 1, 'primary', \
                        {p} + k / {per_pr} + 1 \
                 FROM generate_series($1, $2 - 1) k",
                kt = b("koji_build_targets"),
                kg = b("koji_build_groups"),
                p = b("pull_requests"),
                per_pr = PIPELINES_PER_HEAD * HEADS_PER_PR,
            ),
            format!(
                "INSERT INTO tft_test_run_targets (id, pipeline_id, status, target, web_url, submitted_time, \
                   finished_time, test_name, tft_test_run_group_id, pull_request_id) \
                 SELECT {tt} + k + 1, 'bench-' || k, CASE WHEN k % 7 = 0 THEN 'failed' ELSE 'passed' END, \
                        'fedora-rawhide', 'https://artifacts.example/' || k, \
                        $3::timestamptz + make_interval(secs => k + 1300), \
                        $3::timestamptz + make_interval(secs => k + 1900), 'rpmlint', {tg} + k + 1, \
                        {p} + k / {per_pr} + 1 \
                 FROM generate_series($1, $2 - 1) k",
                tt = b("tft_test_run_targets"),
                tg = b("tft_test_run_groups"),
                p = b("pull_requests"),
                per_pr = PIPELINES_PER_HEAD * HEADS_PER_PR,
            ),
        ];
        for sql in &statements {
            sqlx::query(sql).bind(from).bind(to).bind(self.start).execute(&mut *tx).await?;
        }
        for table in TABLES {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // Fresh statistics, as autovacuum would give a database that grew slowly.
        for table in TABLES {
            sqlx::query(&format!("ANALYZE {table}")).execute(pool).await?;
        }
        self.size = size;
        Ok(())
    }
}
