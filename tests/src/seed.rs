//! A database with one PR's CI history, written through the same store functions
//! the functions use, for the api's golden tests and the status page's browser
//! test. Times are pinned relative to `base` afterwards (the store stamps
//! `now()`), so a golden file can hold exact values.
//!
//! The story, PR `rpms/bash#7`:
//! - commit `1111111…`: rawhide build (task 1001) canceled, superseded;
//! - commit `2222222…`: rawhide build (task 1002) succeeded in 20 minutes, with
//!   x86_64 and aarch64 logs; installability passed, rpmlint failed, rpminspect
//!   still running (last checked by the poller); the ELN build is waiting for a
//!   retry because Koji was unreachable.

use chrono::{DateTime, Duration, Utc};
use fedora_ci::config::koji::PRIMARY;
use fedora_ci::store::builds::{self, BuildData};
use fedora_ci::store::pipelines::{self, PrHead, PrSource};
use fedora_ci::store::status::{BuildStatus, TestStatus};
use fedora_ci::store::test_runs::{self, NewTest, TestRequestData};
use sqlx::PgPool;

pub const NAMESPACE: &str = "rpms";
pub const REPO: &str = "bash";
pub const PR_ID: i64 = 7;
pub const OLD_SHA: &str = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const HEAD_SHA: &str = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const DISTGIT: &str = "https://src.fedoraproject.org";
/// Testing Farm request ids of installability, rpmlint, rpminspect.
pub const REQUESTS: [&str; 3] = [
    "0b4c5a9e-0000-4000-8000-000000000001",
    "0b4c5a9e-0000-4000-8000-000000000002",
    "0b4c5a9e-0000-4000-8000-000000000003",
];

fn source(sha: &str) -> PrSource {
    PrSource {
        forge: Default::default(),
        namespace: NAMESPACE.into(),
        repo: REPO.into(),
        pr_id: PR_ID,
        commit_sha: sha.into(),
        branch: "rawhide".into(),
        source_repo_path: format!("fork/alice/{NAMESPACE}/{REPO}"),
        pr_uid: None,
        pr_author: Some("alice".into()),
    }
}

fn build_data(sha: &str) -> BuildData {
    BuildData {
        src: format!("git+{DISTGIT}/{NAMESPACE}/{REPO}.git#{sha}"),
        pr: source(sha),
        trigger: "pull-request.new".into(),
        flag_label: None,
        requested_tests_only: false,
    }
}

fn test_data(test: &str, task: i64) -> TestRequestData {
    TestRequestData {
        base_project_url: format!("{DISTGIT}/{NAMESPACE}/{REPO}"),
        fedora_ci_test: test.into(),
        pr: source(HEAD_SHA),
        koji_task_id: Some(task),
        requested_by: None,
    }
}

fn head(sha: &str) -> PrHead {
    PrHead {
        namespace: NAMESPACE.into(),
        repo: REPO.into(),
        project_url: format!("{DISTGIT}/{NAMESPACE}/{REPO}"),
        instance_url: DISTGIT.into(),
        pr_id: PR_ID,
        commit_sha: sha.into(),
    }
}

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

/// Writes the story above into a fresh (migrated, empty) database: ids start at 1.
pub async fn pr_story(pool: &PgPool, koji_web: &str, artifacts: &str, base: DateTime<Utc>) {
    let mut tx = pool.begin().await.expect("begin");
    let task_url = |task: i64| format!("{}/taskinfo?taskID={task}", koji_web.trim_end_matches('/'));
    let at = |minutes: i64| base + Duration::minutes(minutes);

    // The old commit: build 1, group 1, pipeline 1.
    let old = pipelines::record_pr_head(&mut tx, &head(OLD_SHA)).await.expect("old head");
    let b1 = builds::create(&mut tx, old.project_event_id, PRIMARY, "rawhide", "seed:b1", &build_data(OLD_SHA))
        .await
        .expect("build")
        .expect("new build");
    builds::mark_submitted(&mut tx, b1.id, 1001, &task_url(1001), "uid-b1").await.expect("submitted");
    builds::transition(&mut tx, b1.id, BuildStatus::Running, &[BuildStatus::Pending], Some(epoch(at(1))), None, None)
        .await
        .expect("run");
    builds::mark_final(&mut tx, b1.id, BuildStatus::Canceled, "superseded by 2222222", "uid-b1").await.expect("cancel");

    // The head: build 2 (group 2, pipeline 2), build 3 (group 3, pipeline 3).
    let new = pipelines::record_pr_head(&mut tx, &head(HEAD_SHA)).await.expect("head");
    let b2 = builds::create(&mut tx, new.project_event_id, PRIMARY, "rawhide", "seed:b2", &build_data(HEAD_SHA))
        .await
        .expect("build")
        .expect("new build");
    builds::mark_submitted(&mut tx, b2.id, 1002, &task_url(1002), "uid-b2").await.expect("submitted");
    builds::transition(&mut tx, b2.id, BuildStatus::Running, &[BuildStatus::Pending], Some(epoch(at(11))), None, None)
        .await
        .expect("run");
    let logs = serde_json::json!({
        "x86_64": "https://kojipkgs.sandbox.example/work/tasks/1003/1003/build.log",
        "aarch64": "https://kojipkgs.sandbox.example/work/tasks/1004/1004/build.log",
    });
    builds::transition(
        &mut tx,
        b2.id,
        BuildStatus::Success,
        &[BuildStatus::Running],
        None,
        Some(epoch(at(31))),
        Some(&logs),
    )
    .await
    .expect("success");
    let b3 = builds::create(&mut tx, new.project_event_id, PRIMARY, "eln", "seed:b3", &build_data(HEAD_SHA))
        .await
        .expect("build")
        .expect("new build");
    builds::mark_retry(&mut tx, b3.id, at(45), "Koji hub unreachable: connection refused", "uid-b3")
        .await
        .expect("retry");

    // Tests of build 2: runs 1-3, test group 1, on build 2's pipeline 2 (as
    // packit-service joins a build's tests to its pipeline).
    let tests: Vec<NewTest<'_>> = ["installability", "rpmlint", "rpminspect"]
        .iter()
        .map(|t| NewTest { distro: "fedora-rawhide", key: format!("seed:{t}"), data: test_data(t, 1002) })
        .collect();
    let runs = test_runs::record(&mut tx, new.project_event_id, b2.koji_build_group_id, &tests).await.expect("tests");
    for (run, request) in runs.iter().zip(REQUESTS) {
        let url = format!("{}/{request}", artifacts.trim_end_matches('/'));
        let uid = format!("uid-t{}", run.id);
        let queued = test_runs::bind_mark_queued(sqlx::query(test_runs::MARK_QUEUED), run.id, request, &url, &uid);
        queued.execute(&mut *tx).await.expect("queued");
    }
    for (run, status) in runs.iter().zip([TestStatus::Passed, TestStatus::Failed, TestStatus::Running]) {
        let reason = (status == TestStatus::Failed).then_some("2 of 40 checks failed");
        test_runs::transition(&mut tx, run.id, status, reason, None, &format!("uid-t{}", run.id))
            .await
            .expect("transition");
    }

    // Pin every time the store stamped with now().
    let pins: [(&str, DateTime<Utc>); 11] = [
        ("UPDATE pipelines SET datetime = $1 WHERE id = 1", at(0)),
        ("UPDATE pipelines SET datetime = $1 WHERE id IN (2, 3)", at(10)),
        ("UPDATE koji_build_groups SET submitted_time = $1 WHERE id = 1", at(0)),
        ("UPDATE koji_build_groups SET submitted_time = $1 WHERE id IN (2, 3)", at(10)),
        ("UPDATE tft_test_run_groups SET submitted_time = $1", at(32)),
        (
            "UPDATE koji_build_targets SET build_submitted_time = $1, build_finished_time = $1 + interval '4 minutes' WHERE id = 1",
            at(0),
        ),
        ("UPDATE koji_build_targets SET build_submitted_time = $1 WHERE id IN (2, 3)", at(10)),
        ("UPDATE tft_test_run_targets SET submitted_time = $1", at(32)),
        ("UPDATE tft_test_run_targets SET finished_time = $1 + interval '6 minutes' WHERE id = 1", at(32)),
        ("UPDATE tft_test_run_targets SET finished_time = $1 + interval '9 minutes' WHERE id = 2", at(32)),
        // What the poller's pass writes when Testing Farm answered about a running request.
        ("UPDATE tft_test_run_targets SET upstream_checked_at = $1 WHERE id = 3", at(38)),
    ];
    for (sql, t) in pins {
        sqlx::query(sql).bind(t).execute(&mut *tx).await.expect(sql);
    }
    tx.commit().await.expect("commit");
}

/// Log Detective on top of [`pr_story`]: a second rawhide build of the head (task
/// 1005; build 4, group 4, pipeline 4) failed on x86_64 and aarch64, and both were
/// analysed (group 1): x86_64 explained, aarch64 an error from Log Detective.
/// Written as `log_analysis` and koji-finished write it; times pinned to `base`.
pub async fn log_detective_story(pool: &PgPool, base: DateTime<Utc>) {
    let at = |minutes: i64| base + Duration::minutes(minutes);
    let mut tx = pool.begin().await.expect("begin");
    let head = pipelines::record_pr_head(&mut tx, &head(HEAD_SHA)).await.expect("head");
    let b4 = builds::create(&mut tx, head.project_event_id, PRIMARY, "rawhide", "seed:b4", &build_data(HEAD_SHA))
        .await
        .expect("build")
        .expect("new build");
    builds::mark_submitted(&mut tx, b4.id, 1005, "https://koji.sandbox.example/koji/taskinfo?taskID=1005", "uid-b4")
        .await
        .expect("submitted");
    builds::transition(
        &mut tx,
        b4.id,
        BuildStatus::Failure,
        &[BuildStatus::Pending],
        Some(epoch(at(50))),
        Some(epoch(at(60))),
        None,
    )
    .await
    .expect("failure");
    let group: i32 = sqlx::query_scalar(
        "INSERT INTO log_detective_run_groups (koji_build_target_id, submitted_time) VALUES ($1, $2) RETURNING id",
    )
    .bind(b4.id)
    .bind(at(61))
    .fetch_one(&mut *tx)
    .await
    .expect("group");
    sqlx::query("UPDATE pipelines SET log_detective_run_group_id = $1 WHERE koji_build_group_id = $2")
        .bind(group)
        .bind(b4.koji_build_group_id)
        .execute(&mut *tx)
        .await
        .expect("pipeline");
    let explained = serde_json::json!({
        "explanation": {"text": "The %check section failed: test_io timed out."},
        "no_issue_found": false,
        "snippets": [
            {"source_file": "build.log", "line_number": 812, "text": "FAIL: test_io (timeout after 300 s)"},
            {"source_file": "root.log", "line_number": 3, "text": "Mock version: 6.1"}
        ]
    });
    let runs = [
        ("1006", "x86_64", "complete", "4f2fa9aa-8fe6-4325-a317-473ca180e75d", Some(explained), None),
        (
            "1007",
            "aarch64",
            "error",
            "0c1d2e3f-0000-4000-8000-000000000007",
            None,
            Some(
                "Request to Log Detective API failed with HTTP status error: Server error '500 Internal Server Error'",
            ),
        ),
    ];
    for (task, arch, status, analysis, response, error) in runs {
        sqlx::query(
            "INSERT INTO log_detective_run (status, target_build, target, build_system, koji_build_target_id, \
               log_detective_run_group_id, idempotency_key, arch, analysis_id, log_detective_response, error_msg, \
               submitted_time, requested_time, finished_time) \
             VALUES ($1, $2, $3, 'koji', $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        )
        .bind(status)
        .bind(task)
        .bind(format!("rawhide-{arch}"))
        .bind(b4.id)
        .bind(group)
        .bind(format!("ld:{}:{task}", b4.id))
        .bind(arch)
        .bind(analysis)
        .bind(response)
        .bind(error)
        .bind(at(61))
        .bind(at(63))
        .execute(&mut *tx)
        .await
        .expect("run");
    }
    sqlx::query("UPDATE pipelines SET datetime = $1 WHERE koji_build_group_id = $2")
        .bind(at(50))
        .bind(b4.koji_build_group_id)
        .execute(&mut *tx)
        .await
        .expect("pin");
    sqlx::query("UPDATE koji_build_groups SET submitted_time = $1 WHERE id = $2")
        .bind(at(50))
        .bind(b4.koji_build_group_id)
        .execute(&mut *tx)
        .await
        .expect("pin");
    sqlx::query("UPDATE koji_build_targets SET build_submitted_time = $1 WHERE id = $2")
        .bind(at(50))
        .bind(b4.id)
        .execute(&mut *tx)
        .await
        .expect("pin");
    tx.commit().await.expect("commit");
}
