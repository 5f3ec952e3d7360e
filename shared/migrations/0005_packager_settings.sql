-- What packagers control per PR and per package (issue #13).

-- `[skip ci]` / `/packit-ci skip`: one row per PR. The PR stays skipped while
-- `resumed_at` is NULL; `/packit-ci scratch-build` or `rerun` resume it. A title
-- marker only ever inserts (ON CONFLICT DO NOTHING), so after a packager resumed
-- the PR the marker still in its title does not skip it again.
CREATE TABLE pr_ci_skips (
    pull_request_id INTEGER PRIMARY KEY REFERENCES pull_requests (id),
    skipped_by      TEXT NOT NULL,
    skipped_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resumed_by      TEXT,
    resumed_at      TIMESTAMPTZ
);

-- The package's `.fedora-ci.yaml` as read at a PR head commit: one row per head
-- (project event), written once, so every function acting on that head (pr-opened,
-- koji-finished, the poller) applies the same settings without asking Pagure again.
CREATE TABLE package_settings (
    project_event_id INTEGER PRIMARY KEY REFERENCES project_events (id),
    settings         JSONB NOT NULL,
    -- "<line>: <reason>" when the file was invalid (the defaults then apply).
    config_error     TEXT,
    fetched_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Task ids are per hub: two Koji instances may both have a task 123.
DROP INDEX ix_koji_build_targets_task_id;
CREATE UNIQUE INDEX ix_koji_build_targets_instance_task_id
    ON koji_build_targets (koji_instance, task_id) WHERE task_id IS NOT NULL;
