-- State of our own beyond packit-service's tables.

-- Idempotency keys: one build / one test request per (trigger, target), enforced
-- by the database so duplicate or concurrent deliveries cannot double-submit.
ALTER TABLE koji_build_targets ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX ux_koji_build_targets_idempotency_key
    ON koji_build_targets (idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE tft_test_run_targets ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX ux_tft_test_run_targets_idempotency_key
    ON tft_test_run_targets (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The desired state of every Pagure PR flag we own (an outbox): written in the same
-- transaction as the state change it reports, sent afterwards, re-sent by the
-- poller while sent_version < version. One row per flag uid, so a flag has exactly
-- one state and create/update can never diverge.
CREATE TABLE pr_flags (
    uid          TEXT PRIMARY KEY,
    namespace    TEXT NOT NULL,
    repo_name    TEXT NOT NULL,
    pr_id        INTEGER NOT NULL,
    check_name   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failure', 'error', 'canceled')),
    comment      TEXT NOT NULL,
    url          TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    version      BIGINT NOT NULL DEFAULT 1,
    sent_version BIGINT NOT NULL DEFAULT 0,
    sent_at      TIMESTAMPTZ,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX ix_pr_flags_unsent ON pr_flags (updated_at) WHERE sent_version < version;
CREATE INDEX ix_pr_flags_pr ON pr_flags (namespace, repo_name, pr_id);

-- PR comments we owe (answers to commands, refusals), same outbox idea; dedup_key
-- makes a redelivered command answer once.
CREATE TABLE pr_comments (
    id         BIGSERIAL PRIMARY KEY,
    dedup_key  TEXT NOT NULL UNIQUE,
    namespace  TEXT NOT NULL,
    repo_name  TEXT NOT NULL,
    pr_id      INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at    TIMESTAMPTZ,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX ix_pr_comments_unsent ON pr_comments (created_at) WHERE sent_at IS NULL;

-- Small TTL caches shared by all replicas (FAS groups, ELN package lists, build
-- target names, Testing Farm composes): a scale-to-zero function has no memory.
CREATE TABLE cache_entries (
    key        TEXT PRIMARY KEY,
    value      JSONB NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
