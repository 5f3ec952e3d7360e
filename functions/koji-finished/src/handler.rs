//! Koji task state changes in. For now the event is recorded exactly once and
//! answered 202; the state handling follows in the koji-finished issue.

use axum::extract::State;
use fedora_ci::intake::Received;
use fedora_ci::messages::KojiTaskStateChange;
use fedora_ci::store::events;
use fedora_ci::{Context, HandlerError, Outcome};

pub async fn handle(State(ctx): State<Context>, event: Received<KojiTaskStateChange>) -> Result<Outcome, HandlerError> {
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
        "recorded task {} ({}); state handling is not implemented yet",
        message.id, message.new.0
    )))
}

#[cfg(test)]
mod tests {
    use fedora_ci::devdb::TestDatabase;
    use fedora_ci::testing::{Fixture, binary_request, serve_router};
    use reqwest::StatusCode;

    use super::*;

    #[tokio::test]
    async fn koji_task_messages_are_accepted_and_build_messages_ignored() {
        let db = TestDatabase::fresh().await;
        let config = fedora_ci::Config::from_source(&|k: &str| (k == "DATABASE_URL").then(|| db.url.clone())).unwrap();
        let url = serve_router(fedora_ci::app::app(
            Context::new("koji-finished", config, db.pool.clone()).unwrap(),
            crate::routes,
        ))
        .await;
        let client = reqwest::Client::new();
        for (i, name) in
            ["koji_build_scratch_start.json", "koji_build_scratch_end.json", "koji_build_completed_rawhide.json"]
                .iter()
                .enumerate()
        {
            let response = binary_request(&client, &url, &Fixture::load(name), &i.to_string()).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED, "{name}");
        }
        let recorded: Vec<String> = sqlx::query_scalar("SELECT event_type FROM processed_events ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(recorded, ["org.fedoraproject.prod.buildsys.task.state.change"; 2]);
    }
}
