//! The schema and the idempotency records against a real Postgres.

use fedora_ci::dev::db::TestDatabase;
use fedora_ci::messages::EventMeta;
use fedora_ci::store::events;

fn meta(id: &str) -> EventMeta {
    EventMeta {
        id: id.to_owned(),
        event_type: "org.fedoraproject.prod.pagure.pull-request.new".into(),
        source: "/test".into(),
        time: None,
        extensions: Default::default(),
    }
}

#[tokio::test]
async fn migrations_create_packit_service_tables() {
    let db = TestDatabase::fresh().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for t in [
        "git_projects",
        "koji_build_groups",
        "koji_build_targets",
        "pipelines",
        "processed_events",
        "project_events",
        "pull_requests",
        "tft_test_run_groups",
        "tft_test_run_targets",
    ] {
        assert!(tables.iter().any(|x| x == t), "missing table {t}: {tables:?}");
    }
    // Running the migrations again is a no-op (every function may run --migrate).
    fedora_ci::store::migrate(&db.pool).await.unwrap();
}

#[tokio::test]
async fn the_same_event_is_recorded_once_per_consumer() {
    let db = TestDatabase::fresh().await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(events::record_once(&mut conn, "pr-opened", &meta("e1")).await.unwrap());
    assert!(!events::record_once(&mut conn, "pr-opened", &meta("e1")).await.unwrap());
    // Another function handling the same message is a separate record.
    assert!(events::record_once(&mut conn, "koji-finished", &meta("e1")).await.unwrap());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events").fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_deliveries_let_exactly_one_through() {
    let db = TestDatabase::fresh().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let pool = db.pool.clone();
        tasks.spawn(async move {
            match events::begin_first_delivery(&pool, "pr-opened", &meta("race")).await.unwrap() {
                Some(tx) => {
                    tx.commit().await.unwrap();
                    1
                }
                None => 0,
            }
        });
    }
    let mut winners = 0;
    while let Some(r) = tasks.join_next().await {
        winners += r.unwrap();
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn a_rolled_back_delivery_can_be_handled_again() {
    let db = TestDatabase::fresh().await;
    let tx = events::begin_first_delivery(&db.pool, "pr-opened", &meta("retry-me")).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    // The handler failed before committing: the redelivery must do the work.
    let tx = events::begin_first_delivery(&db.pool, "pr-opened", &meta("retry-me")).await.unwrap();
    assert!(tx.is_some());
}

fn head(sha: &str) -> fedora_ci::store::pipelines::PrHead {
    fedora_ci::store::pipelines::PrHead {
        namespace: "rpms".into(),
        repo: "optee_os".into(),
        project_url: "https://src.fedoraproject.org/rpms/optee_os".into(),
        instance_url: "https://src.fedoraproject.org".into(),
        pr_id: 7,
        commit_sha: sha.into(),
    }
}

/// pr-opened's first statement: the idempotency row gates the head, settings and
/// skip read; concurrent deliveries of one event (one PR head, so the same rows)
/// let exactly one through, and the others wrote nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_event_head_lets_one_delivery_through_and_reads_the_skip() {
    use fedora_ci::rules::package_settings::{Loaded, PackageSettings};
    use fedora_ci::store::pipelines;
    let db = TestDatabase::fresh().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let pool = db.pool.clone();
        tasks.spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let loaded = Loaded { settings: PackageSettings::default(), config_error: None };
            let head = pipelines::record_event_head(&mut tx, "pr-opened", &meta("race"), &head("a1"), Some(&loaded))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            head
        });
    }
    let mut through = Vec::new();
    while let Some(r) = tasks.join_next().await {
        through.extend(r.unwrap());
    }
    assert_eq!(through.len(), 1, "{through:?}");
    assert_eq!(through[0].skipped_by, None);
    let count = |table: &'static str| {
        let pool = db.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}")).fetch_one(&pool).await.unwrap() }
    };
    for table in ["processed_events", "git_projects", "pull_requests", "project_events", "package_settings"] {
        assert_eq!(count(table).await, 1, "{table}");
    }
    // Another event on the same PR finds the same rows, and the PR's skip.
    let rows = through[0].rows;
    let mut conn = db.pool.acquire().await.unwrap();
    fedora_ci::store::skips::mark(&mut conn, rows.pull_request_id, "mjones").await.unwrap();
    let again =
        pipelines::record_event_head(&mut conn, "pr-opened", &meta("e2"), &head("a1"), None).await.unwrap().unwrap();
    assert_eq!((again.rows, again.skipped_by.as_deref()), (rows, Some("mjones")));
    // And agrees with record_pr_head, which the other writers use.
    assert_eq!(pipelines::record_pr_head(&mut conn, &head("a1")).await.unwrap(), rows);
    let next = pipelines::record_pr_head(&mut conn, &head("b2")).await.unwrap();
    assert_eq!((next.project_id, next.pull_request_id), (rows.project_id, rows.pull_request_id));
    assert_ne!(next.project_event_id, rows.project_event_id);
}
