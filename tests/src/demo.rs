//! `make demo`: one whole PR story through the local stack, from the recorded
//! fixtures — PR opened → scratch build → build finished → the test suite → results,
//! then a new commit whose build fails → Log Detective's explanations — delivered
//! through the local broker exactly as the cluster would route them, except
//! Testing Farm's notifications, which go to tf-finished's webhook as in the
//! cluster (its own host, a DomainMapping; no Trigger).

use anyhow::{Context as _, bail};
use fedora_ci::dev::testing::Fixture;
use fedora_ci::messages::KojiTaskState;
use serde_json::{Value, json};

use crate::harness::Harness;
use crate::sandbox::koji::KojiHub;

async fn send(broker: &str, fixture: &Fixture, id: &str, extensions: &[(&str, &str)]) -> anyhow::Result<Value> {
    let mut request = fedora_ci::dev::testing::binary_request(&reqwest::Client::new(), broker, fixture, id);
    for (name, value) in extensions {
        request = request.header(format!("ce-{name}"), *value);
    }
    let response = request.send().await.context("posting to the local broker")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{}: broker answered {status}: {body}", fixture.topic);
    }
    Ok(body)
}

/// Plays the story and checks its end state in the database and on the Pagure
/// sandbox; prints what a packager would see.
/// `tf_finished` is the base URL of tf-finished (ending in `/`).
pub async fn play(broker: &str, tf_finished: &str, koji: &KojiHub, h: &Harness) -> anyhow::Result<()> {
    h.pagure.set_branches("rpms/optee_os", &["rawhide"]);
    println!("1. PR rpms/optee_os#2 opened");
    send(broker, &Fixture::load("pagure_pr_new.json"), "demo-pr", &[("pagurenamespace", "rpms")]).await?;
    let task = koji.builds().first().map(|b| b.task_id).context("no scratch build was submitted")?;
    println!("2. scratch build submitted: Koji task {task}");

    koji.set_task_state(task, KojiTaskState::Closed);
    let mut closed = Fixture::load("koji_build_scratch_end.json");
    closed.body["id"] = task.into();
    closed.body["info"]["id"] = task.into();
    closed.body["owner"] = "packit-ci".into();
    send(broker, &closed, "demo-closed", &[("kojiowner", "packit-ci"), ("kojimethod", "build")]).await?;
    let requests = h.tf.requests();
    println!("3. build finished; {} tests submitted to Testing Farm", requests.len());
    if requests.len() < 5 {
        bail!("expected the Fedora CI suite, got {} requests", requests.len());
    }

    for (i, request) in requests.iter().enumerate() {
        h.tf.set_state(&request.id, "complete", Some("passed"), None);
        let token = request.payload["notification"]["webhook"]["token"].clone();
        // What Testing Farm POSTs to the webhook URL of the request.
        let response = reqwest::Client::new()
            .post(format!("{tf_finished}testing-farm/results"))
            .json(&json!({ "request_id": request.id, "token": token }))
            .send()
            .await
            .context("posting to tf-finished's webhook")?;
        if !response.status().is_success() {
            bail!("tf-finished's webhook answered {} to request {i}", response.status());
        }
    }
    println!("4. Testing Farm reported back");

    let build: String = sqlx::query_scalar("SELECT status FROM koji_build_targets").fetch_one(&h.db.pool).await?;
    let passed: i64 = sqlx::query_scalar("SELECT count(*) FROM tft_test_run_targets WHERE status = 'passed'")
        .fetch_one(&h.db.pool)
        .await?;
    // What the PR shows (Pagure's read-back: the flags of its head commit).
    let shown = h.pagure.shown("rpms/optee_os", 2);
    println!("\nFlags on the PR:");
    for flag in &shown {
        println!("  {:<32} {:<8} {}", flag.username, flag.status, flag.comment);
    }
    if build != "success"
        || passed != requests.len() as i64
        || shown.is_empty()
        || shown.iter().any(|f| f.status != "success")
    {
        bail!("demo did not end green: build {build}, {passed} of {} tests passed", requests.len());
    }
    // With AMQP_URL the functions publish the Fedora CI messages as in production;
    // tf-finished sends them once its flag is set, so every one is out by now.
    let (queued, unsent): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL) FROM ci_messages")
            .fetch_one(&h.db.pool)
            .await?;
    if std::env::var("AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        if queued == 0 || unsent > 0 {
            bail!("with AMQP_URL set, {unsent} of {queued} Fedora CI messages were not published");
        }
        println!("Fedora CI messages published: {queued}");
    }
    println!("\ndemo OK: build success, {passed} tests passed, every flag green");
    Ok(())
}

/// The second act (`make demo` plays it after [`play`]; it needs
/// `FEDORA_CI_LOG_DETECTIVE=true` and the sandbox's results routed back): a new
/// commit whose build fails on two architectures; Log Detective (the sandbox) is
/// sent each one's logs and its explanations come back through the broker to the
/// PR's flags.
pub async fn play_log_detective(broker: &str, koji: &KojiHub, h: &Harness) -> anyhow::Result<()> {
    const SHA: &str = "3c0ffee0000000000000000000000000000000ab";
    let updated = crate::story::pr_event("updated", SHA);
    send(broker, &updated, "demo-pr-updated", &[("pagurenamespace", "rpms")]).await?;
    let task = koji.builds().last().map(|b| b.task_id).context("no build of the new commit")?;
    println!("5. PR updated to {}; scratch build: Koji task {task}", &SHA[..7]);
    koji.set_failing_arches(task, &["x86_64", "aarch64"]);
    koji.set_task_state(task, KojiTaskState::Failed);
    let mut failed = crate::story::task_message("org.fedoraproject.prod.", task, KojiTaskState::Failed, "packit-ci");
    failed.body["info"]["children"] = json!(koji.children_json(task));
    send(broker, &failed, "demo-failed", &[("kojiowner", "packit-ci"), ("kojimethod", "build")]).await?;
    println!("6. build failed on x86_64 and aarch64; {} analyses sent to Log Detective", h.ld.analyses().len());
    let analysis = |arch: &str| {
        let name = format!("Fedora CI - Log Detective analysis ({arch})");
        h.pagure.shown("rpms/optee_os", 2).into_iter().find(|f| f.username == name && f.status == "success")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while analysis("x86_64").is_none() || analysis("aarch64").is_none() {
        if std::time::Instant::now() > deadline {
            bail!("Log Detective's explanations did not reach the PR within 60 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!("7. Log Detective's results came back through the broker\n\nFlags on the new commit:");
    for flag in h
        .pagure
        .shown("rpms/optee_os", 2)
        .iter()
        .filter(|f| f.username.contains("scratch build") || f.username.contains("Log Detective"))
    {
        println!("  {:<45} {:<8} {}", flag.username, flag.status, flag.comment);
    }
    println!("\ndemo OK: Log Detective explained the failed build on x86_64 and aarch64");
    Ok(())
}
