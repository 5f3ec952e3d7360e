-- Fedora CI result messages we owe the bus (an outbox): written in the same
-- transaction as the test state change, published with confirms afterwards,
-- re-published by the poller until the broker confirmed. dedup_key (run + state)
-- makes a duplicate notification produce no second message.
CREATE TABLE ci_messages (
    id         BIGSERIAL PRIMARY KEY,
    dedup_key  TEXT NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    body       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at    TIMESTAMPTZ,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX ix_ci_messages_unsent ON ci_messages (created_at) WHERE sent_at IS NULL;
