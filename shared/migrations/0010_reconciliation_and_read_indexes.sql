-- Indexes for costs that stay flat with the size of the history (issue #25).

-- The result-poller's checks walk the unfinished rows in id order from where its
-- last batch ended (functions/result-poller/src/pass.rs, claim_unchecked). These
-- hold exactly those rows, under the same predicates as the claims, so a batch
-- reads its own rows and not every finished or already-checked one before them.
CREATE INDEX ix_koji_build_targets_unchecked ON koji_build_targets (id)
    WHERE status IN ('pending', 'running') AND task_id IS NOT NULL;
CREATE INDEX ix_tft_test_run_targets_unchecked ON tft_test_run_targets (id)
    WHERE status IN ('queued', 'running') AND pipeline_id IS NOT NULL;
