//! koji-finished's "is this task one of our builds?" merges concurrent lookups
//! into one query (`shared/src/store/build_lookup.rs`). Merged or not, each
//! message must get its own answer: the build of its own hub and task, or none.

use fedora_ci::Secret;
use fedora_ci::store::build_lookup::BuildLookup;
use fedora_ci_tests::harness::Harness;
use tokio::task::JoinSet;

/// Tasks `task + 1 ..= task + COPIES` are builds of ours on the primary hub too.
const COPIES: i64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_each_get_their_own_build_or_none() {
    let h = Harness::start().await;
    h.open_recorded_pr(pr_opened::routes).await;
    let task = h.koji.builds()[0].task_id;
    let copy = |instance: &str, task_id: i64| {
        sqlx::query(
            "INSERT INTO koji_build_targets (status, target, scratch, data, koji_instance, task_id) \
             SELECT status, target, scratch, data, $1, $2 FROM koji_build_targets WHERE task_id = $3",
        )
        .bind(instance.to_owned())
        .bind(task_id.to_string())
        .bind(task.to_string())
        .execute(&h.db.pool)
    };
    for n in 1..=COPIES {
        copy("primary", task + n).await.unwrap();
    }
    // The same task id on another hub is another build: task ids are per hub.
    copy("riscv", task).await.unwrap();

    let ctx = h.context("koji-finished");
    let mut lookups = JoinSet::new();
    for i in 0..400i64 {
        let (instance, task_id, ours) = match i % 4 {
            0 => ("primary", task + i % (COPIES + 1), true),
            1 => ("riscv", task, true),
            2 => ("riscv", task + 1, false),
            _ => ("primary", task + 10_000 + i, false),
        };
        let lookup = ctx.builds_by_task.clone();
        lookups.spawn(async move {
            let found = lookup.by_task_id(instance, task_id).await.expect("the database answers");
            (instance, task_id, ours, found)
        });
    }
    let mut answered = 0;
    while let Some(joined) = lookups.join_next().await {
        let (instance, task_id, ours, found) = joined.unwrap();
        match found {
            Some(build) => {
                assert!(ours, "{instance} task {task_id} is not ours, yet got build {}", build.id);
                assert_eq!(build.koji_instance, instance);
                assert_eq!(build.task_id, Some(task_id.to_string()));
            }
            None => assert!(!ours, "{instance} task {task_id} is ours, yet no build"),
        }
        answered += 1;
    }
    assert_eq!(answered, 400);
}

#[tokio::test]
async fn a_database_outage_fails_every_waiting_lookup() {
    let pool = fedora_ci::store::connect_lazy(&Secret::new("postgres://ci@127.0.0.1:1/nothing"), 1).unwrap();
    let lookup = BuildLookup::new(pool);
    let mut lookups = JoinSet::new();
    for task in 0..10 {
        let lookup = lookup.clone();
        lookups.spawn(async move { lookup.by_task_id("primary", task).await });
    }
    while let Some(joined) = lookups.join_next().await {
        assert!(joined.unwrap().is_err(), "a lookup without a database must fail (503), not answer 'not ours'");
    }
}
