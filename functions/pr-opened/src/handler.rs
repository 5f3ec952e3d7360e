//! Pagure PR events in. For now the event is recorded exactly once and answered
//! 202; the build submission follows in the pr-opened issue.

use axum::extract::State;
use fedora_ci::intake::Received;
use fedora_ci::messages::PullRequestMessage;
use fedora_ci::store::events;
use fedora_ci::{Context, HandlerError, Outcome};

pub async fn handle(State(ctx): State<Context>, event: Received<PullRequestMessage>) -> Result<Outcome, HandlerError> {
    let (meta, message) = match event {
        Received::NotHandled { meta } => {
            return Ok(Outcome::ignored(format!("event type '{}' is not handled here", meta.event_type)));
        }
        Received::Message { meta, message, .. } => (meta, message),
    };
    let Some(tx) = events::begin_first_delivery(&ctx.pool, ctx.function, &meta).await? else {
        return Ok(Outcome::duplicate(format!("event {} was handled before", meta.id)));
    };
    tx.commit().await?;
    Ok(Outcome::ignored(format!(
        "recorded {} on PR #{}; builds are not submitted yet",
        message.pullrequest.project_path(),
        message.pullrequest.id
    )))
}

#[cfg(test)]
mod tests {
    use fedora_ci::devdb::TestDatabase;
    use fedora_ci::testing::{Fixture, binary_request, serve_router, structured_request};
    use reqwest::StatusCode;

    use super::*;

    async fn start(db: &TestDatabase) -> String {
        let config = fedora_ci::Config::from_source(&|k: &str| (k == "DATABASE_URL").then(|| db.url.clone())).unwrap();
        let ctx = Context::new("pr-opened", config, db.pool.clone());
        serve_router(fedora_ci::app::app(ctx, crate::routes)).await
    }

    async fn processed(db: &TestDatabase) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE consumer = 'pr-opened'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_fixture_is_accepted_in_both_modes() {
        let db = TestDatabase::fresh().await;
        let url = start(&db).await;
        let client = reqwest::Client::new();
        for (i, fixture) in Fixture::all().iter().enumerate() {
            for (mode, request) in [
                ("binary", binary_request(&client, &url, fixture, &format!("b-{i}"))),
                ("structured", structured_request(&client, &url, fixture, &format!("s-{i}"))),
            ] {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::ACCEPTED, "{} in {mode} mode", fixture.name);
            }
        }
        // 7 PR fixtures (new, new without fork, updated, 4 comments), each delivered
        // under two ids; the Koji fixtures are not this function's.
        assert_eq!(processed(&db).await, 14);
    }

    #[tokio::test]
    async fn the_same_event_delivered_twice_is_recorded_once() {
        let db = TestDatabase::fresh().await;
        let url = start(&db).await;
        let client = reqwest::Client::new();
        let fixture = Fixture::load("pagure_pr_new.json");
        let first = binary_request(&client, &url, &fixture, "dup-1").send().await.unwrap();
        let second = structured_request(&client, &url, &fixture, "dup-1").send().await.unwrap();
        assert_eq!(first.status(), StatusCode::ACCEPTED);
        assert_eq!(second.status(), StatusCode::ACCEPTED);
        let body: serde_json::Value = second.json().await.unwrap();
        assert_eq!(body["status"], "duplicate");
        assert_eq!(processed(&db).await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_copies_are_recorded_once() {
        let db = TestDatabase::fresh().await;
        let url = start(&db).await;
        let client = reqwest::Client::new();
        let fixture = Fixture::load("pagure_pr_updated.json");
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..10 {
            sends.spawn(binary_request(&client, &url, &fixture, "same-id").send());
        }
        while let Some(response) = sends.join_next().await {
            assert_eq!(response.unwrap().unwrap().status(), StatusCode::ACCEPTED);
        }
        assert_eq!(processed(&db).await, 1);
    }

    #[tokio::test]
    async fn other_deployment_and_unknown_types_change_nothing() {
        let db = TestDatabase::fresh().await;
        let url = start(&db).await;
        let client = reqwest::Client::new();
        let stg = Fixture::load("pagure_pr_new.json").with_prefix("org.fedoraproject.stg.");
        let response = binary_request(&client, &url, &stg, "stg-1").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let koji = Fixture::load("koji_build_scratch_end.json");
        let response = binary_request(&client, &url, &koji, "koji-1").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(processed(&db).await, 0);
    }

    #[tokio::test]
    async fn a_pr_topic_with_a_body_of_another_shape_is_a_400() {
        let db = TestDatabase::fresh().await;
        let url = start(&db).await;
        let client = reqwest::Client::new();
        let mut fixture = Fixture::load("pagure_pr_new.json");
        fixture.body = serde_json::json!({ "pullrequest": { "id": "not a number" } });
        let response = binary_request(&client, &url, &fixture, "bad-1").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["reason"].as_str().unwrap().contains("pagure.pull-request.new"), "{body}");
        assert_eq!(processed(&db).await, 0);
    }
}
