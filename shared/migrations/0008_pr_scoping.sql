-- One PR's results never reach another PR (issue #19).
--
-- Two PRs may share a head commit (a PR reopened as a new one, one branch proposed
-- to two branches, two forks). Pagure keeps a flag per (commit, uid), so flag uids
-- now hash the PR identity too (shared/src/reporting.rs); here every row we keep
-- about a flag, build, test or comment is tied to exactly one PR.

-- The flag outbox: one row per PR and uid. Rows from before keep their old uid
-- under the PR they were posted to.
ALTER TABLE pr_flags DROP CONSTRAINT pr_flags_pkey;
ALTER TABLE pr_flags ADD CONSTRAINT pr_flags_pkey PRIMARY KEY (namespace, repo_name, pr_id, uid);
DROP INDEX ix_pr_flags_pr;

-- Answers to commands: one per PR and command.
ALTER TABLE pr_comments DROP CONSTRAINT pr_comments_dedup_key_key;
ALTER TABLE pr_comments ADD CONSTRAINT uq_pr_comments_pr_dedup_key
    UNIQUE (namespace, repo_name, pr_id, dedup_key);

-- Builds and test runs belong to one pull_requests row, set when they are recorded
-- (the chain pipelines → project_events says the same, but a column with a foreign
-- key is what every lookup can be scoped by).
ALTER TABLE koji_build_targets ADD COLUMN pull_request_id INTEGER REFERENCES pull_requests (id);
ALTER TABLE tft_test_run_targets ADD COLUMN pull_request_id INTEGER REFERENCES pull_requests (id);
UPDATE koji_build_targets k SET pull_request_id = e.event_id
  FROM pipelines p JOIN project_events e ON e.id = p.project_event_id AND e.type = 'pull_request'
 WHERE p.koji_build_group_id = k.koji_build_group_id AND k.pull_request_id IS NULL;
UPDATE tft_test_run_targets t SET pull_request_id = e.event_id
  FROM pipelines p JOIN project_events e ON e.id = p.project_event_id AND e.type = 'pull_request'
 WHERE p.test_run_group_id = t.tft_test_run_group_id AND t.pull_request_id IS NULL;
CREATE INDEX ix_koji_build_targets_pull_request_id ON koji_build_targets (pull_request_id);
CREATE INDEX ix_tft_test_run_targets_pull_request_id ON tft_test_run_targets (pull_request_id);

-- Superseded and closed work (issue #19, kinds 3 and 7): why a row ended without
-- a result of its own.
ALTER TABLE pull_requests ADD COLUMN closed_at TIMESTAMPTZ;
