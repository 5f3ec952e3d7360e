-- Bad and hostile input (issue #24).

-- Ids that are not ours get the width of the widest forge we serve: Pagure's PR id
-- is an INTEGER there (pagure/lib/model.py, PullRequest.id), Forgejo's PR index a
-- BIGINT (models/issues/pull.go, Index int64). Messages are range-checked against
-- their own forge before anything is written (shared/src/messages); the columns
-- only must never wrap. Column names stay packit-service's.
ALTER TABLE pull_requests ALTER COLUMN pr_id TYPE BIGINT;
ALTER TABLE pr_flags ALTER COLUMN pr_id TYPE BIGINT;
ALTER TABLE pr_comments ALTER COLUMN pr_id TYPE BIGINT;

-- CloudEvents identify an event by `source` + `id` (CloudEvents 1.0, "id":
-- "Producers MUST ensure that source + id is unique for each distinct event"), so
-- two producers' events with the same id are two events. Rows from before this
-- migration keep an empty source: their redeliveries are long over.
ALTER TABLE processed_events ADD COLUMN event_source TEXT NOT NULL DEFAULT '';
ALTER TABLE processed_events ALTER COLUMN event_source DROP DEFAULT;
ALTER TABLE processed_events DROP CONSTRAINT uq_processed_events_consumer_event_id;
ALTER TABLE processed_events ADD CONSTRAINT uq_processed_events_consumer_source_id
    UNIQUE (consumer, event_source, event_id);

-- The Fedora CI messages' `msg_id`: consumers deduplicate by it across every
-- producer, so it must be unique across databases (staging and production), not a
-- row number; drawn once per outbox row, so every retry of one message repeats it.
ALTER TABLE ci_messages ADD COLUMN message_id UUID NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX ux_ci_messages_message_id ON ci_messages (message_id);
