-- What the status page shows beyond packit-service's columns.
--
-- upstream_checked_at: when the result-poller last got an answer from Koji / Testing
-- Farm about an unfinished row. Not last_checked_at: that one is the poller's claim
-- (set before asking, put back when upstream is down) and is also moved by
-- koji-finished, so it cannot say "Koji was asked at <time>".
ALTER TABLE koji_build_targets ADD COLUMN upstream_checked_at TIMESTAMPTZ;
ALTER TABLE tft_test_run_targets ADD COLUMN upstream_checked_at TIMESTAMPTZ;

-- finished_time: when a test run reached a final state, so the status page can show
-- how long it took (builds have build_finished_time; packit-service's test table
-- has no such column).
ALTER TABLE tft_test_run_targets ADD COLUMN finished_time TIMESTAMPTZ;

-- The status page's index walks the newest pipelines.
CREATE INDEX ix_pipelines_datetime ON pipelines (datetime);
