-- 0001_init.sql -- initial schema for the Fedora CI functions.
--
-- Table and column names mirror packit-service's SQLAlchemy models
-- (packit_service/models.py) so the Packit dashboard and existing queries keep
-- working. Type notes:
--   * packit-service declares DateTime without timezone (naive
--     "timestamp without time zone", written as UTC via datetime.utcnow);
--     here every such column is TIMESTAMPTZ.
--   * packit-service String -> VARCHAR, Text -> TEXT, JSON -> JSONB here.
--   * packit-service Enum(...) columns are PostgreSQL ENUM types there; here
--     they are TEXT + CHECK with the same labels (SQLAlchemy stores the
--     enum member *names*, e.g. 'cancel_requested').
--   * packit-service sets timestamp defaults in Python (datetime.utcnow);
--     here they are server-side DEFAULT now().
-- Columns added for this service are grouped under "-- fedora-ci additions".

-- Mirrors packit-service GitProjectModel.
CREATE TABLE git_projects (
    id                   SERIAL PRIMARY KEY,
    namespace            VARCHAR,
    repo_name            VARCHAR,
    project_url          VARCHAR,
    instance_url         VARCHAR NOT NULL,
    onboarded_downstream BOOLEAN DEFAULT false,
    -- fedora-ci additions
    -- Natural key used by packit-service GitProjectModel.get_or_create;
    -- concurrent deliveries must resolve to one row.
    CONSTRAINT uq_git_projects_namespace_repo_url
        UNIQUE NULLS NOT DISTINCT (namespace, repo_name, project_url)
);
CREATE INDEX ix_git_projects_namespace ON git_projects (namespace);
CREATE INDEX ix_git_projects_repo_name ON git_projects (repo_name);

-- Mirrors packit-service PullRequestModel.
CREATE TABLE pull_requests (
    id         SERIAL PRIMARY KEY,
    pr_id      INTEGER,
    project_id INTEGER REFERENCES git_projects (id),
    -- fedora-ci additions
    -- Natural key used by packit-service PullRequestModel.get_or_create.
    CONSTRAINT uq_pull_requests_pr_id_project_id
        UNIQUE NULLS NOT DISTINCT (pr_id, project_id)
);
CREATE INDEX ix_pull_requests_pr_id ON pull_requests (pr_id);
CREATE INDEX ix_pull_requests_project_id ON pull_requests (project_id);

-- Mirrors packit-service ProjectEventModel.
CREATE TABLE project_events (
    id              SERIAL PRIMARY KEY,
    -- packit-service enum ProjectEventModelType (PostgreSQL type
    -- "projecteventmodeltype", named "projecteventtype" before alembic
    -- revision d4fcd3075c10).
    type            TEXT CHECK (type IN (
                        'pull_request', 'branch_push', 'release', 'issue',
                        'koji_build_tag', 'anitya_version',
                        'anitya_multiple_versions')),
    -- id of the row in the table selected by "type" (e.g. pull_requests.id);
    -- polymorphic, so no foreign key (same as packit-service).
    event_id        INTEGER,
    commit_sha      VARCHAR,
    packages_config JSONB,
    -- fedora-ci additions
    -- Natural key used by packit-service ProjectEventModel.get_or_create;
    -- commit_sha is NULL for issue/anitya/koji-tag events.
    CONSTRAINT uq_project_events_type_event_id_commit_sha
        UNIQUE NULLS NOT DISTINCT (type, event_id, commit_sha)
);
CREATE INDEX ix_project_events_event_id ON project_events (event_id);
CREATE INDEX ix_project_events_commit_sha ON project_events (commit_sha);

-- Mirrors packit-service KojiBuildGroupModel.
CREATE TABLE koji_build_groups (
    id             SERIAL PRIMARY KEY,
    submitted_time TIMESTAMPTZ DEFAULT now()
);

-- Mirrors packit-service TFTTestRunGroupModel.
CREATE TABLE tft_test_run_groups (
    id             SERIAL PRIMARY KEY,
    submitted_time TIMESTAMPTZ DEFAULT now(),
    ranch          VARCHAR
);

-- Mirrors packit-service PipelineModel.
CREATE TABLE pipelines (
    id                         SERIAL PRIMARY KEY,
    datetime                   TIMESTAMPTZ DEFAULT now(),
    project_event_id           INTEGER REFERENCES project_events (id),
    package_name               VARCHAR,
    koji_build_group_id        INTEGER REFERENCES koji_build_groups (id),
    test_run_group_id          INTEGER REFERENCES tft_test_run_groups (id),
    -- The following reference tables this service does not create
    -- (srpm_builds, copr_build_groups, koji_tag_request_groups,
    -- vm_image_build_targets, sync_release_runs, bodhi_update_groups,
    -- log_detective_run_groups); kept as plain nullable integers, no FK.
    srpm_build_id              INTEGER,
    copr_build_group_id        INTEGER,
    koji_tag_request_group_id  INTEGER,
    vm_image_build_id          INTEGER,
    sync_release_run_id        INTEGER,
    bodhi_update_group_id      INTEGER,
    -- added upstream by alembic revision d408de018a66
    log_detective_run_group_id INTEGER
);
CREATE INDEX ix_pipelines_project_event_id ON pipelines (project_event_id);
CREATE INDEX ix_pipelines_package_name ON pipelines (package_name);
CREATE INDEX ix_pipelines_koji_build_group_id ON pipelines (koji_build_group_id);
CREATE INDEX ix_pipelines_test_run_group_id ON pipelines (test_run_group_id);
CREATE INDEX ix_pipelines_srpm_build_id ON pipelines (srpm_build_id);
CREATE INDEX ix_pipelines_copr_build_group_id ON pipelines (copr_build_group_id);
CREATE INDEX ix_pipelines_koji_tag_request_group_id ON pipelines (koji_tag_request_group_id);
CREATE INDEX ix_pipelines_vm_image_build_id ON pipelines (vm_image_build_id);
CREATE INDEX ix_pipelines_sync_release_run_id ON pipelines (sync_release_run_id);
CREATE INDEX ix_pipelines_bodhi_update_group_id ON pipelines (bodhi_update_group_id);
CREATE INDEX ix_pipelines_log_detective_run_group_id ON pipelines (log_detective_run_group_id);

-- Mirrors packit-service KojiBuildTargetModel.
CREATE TABLE koji_build_targets (
    id                      SERIAL PRIMARY KEY,
    task_id                 VARCHAR,
    -- plain String in packit-service (no PostgreSQL enum there); values
    -- restricted here to one list shared with tft_test_run_targets.status:
    -- packit-service TestingFarmResult labels + koji/build statuses.
    status                  TEXT CHECK (status IN (
                                'new', 'queued', 'pending', 'running', 'retry',
                                'success', 'failure', 'error', 'canceled',
                                'passed', 'failed', 'skipped', 'unknown',
                                'needs_inspection', 'complete',
                                'cancel_requested', 'cancel-requested')),
    target                  VARCHAR,
    web_url                 VARCHAR,
    build_logs_urls         JSONB,
    build_submitted_time    TIMESTAMPTZ DEFAULT now(),
    build_start_time        TIMESTAMPTZ,
    build_finished_time     TIMESTAMPTZ,
    build_submission_stdout TEXT,
    data                    JSONB,
    sidetag                 VARCHAR,
    nvr                     VARCHAR,
    scratch                 BOOLEAN,
    koji_build_group_id     INTEGER REFERENCES koji_build_groups (id),
    -- fedora-ci additions
    retry_count             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at         TIMESTAMPTZ,
    last_checked_at         TIMESTAMPTZ,
    status_reason           TEXT,
    flag_uid                TEXT,
    koji_instance           TEXT NOT NULL DEFAULT 'primary'
);
-- One row per Koji task. Partial index: upserts must use
-- ON CONFLICT (task_id) WHERE task_id IS NOT NULL.
CREATE UNIQUE INDEX ix_koji_build_targets_task_id
    ON koji_build_targets (task_id) WHERE task_id IS NOT NULL;
-- Not indexed in packit-service; added for group -> targets lookups.
CREATE INDEX ix_koji_build_targets_koji_build_group_id
    ON koji_build_targets (koji_build_group_id);
-- fedora-ci additions: poller work queue.
CREATE INDEX ix_koji_build_targets_status_active
    ON koji_build_targets (status)
    WHERE status IN ('pending', 'running', 'retry');

-- Mirrors packit-service TFTTestRunTargetModel.
CREATE TABLE tft_test_run_targets (
    id                    SERIAL PRIMARY KEY,
    -- Testing Farm request id
    pipeline_id           VARCHAR,
    identifier            VARCHAR,
    -- packit-service enum TestingFarmResult (PostgreSQL type
    -- "testingfarmresult"), widened to the same combined list as
    -- koji_build_targets.status.
    status                TEXT CHECK (status IN (
                              'new', 'queued', 'pending', 'running', 'retry',
                              'success', 'failure', 'error', 'canceled',
                              'passed', 'failed', 'skipped', 'unknown',
                              'needs_inspection', 'complete',
                              'cancel_requested', 'cancel-requested')),
    target                VARCHAR,
    web_url               VARCHAR,
    submitted_time        TIMESTAMPTZ DEFAULT now(),
    data                  JSONB,
    tft_test_run_group_id INTEGER REFERENCES tft_test_run_groups (id),
    -- fedora-ci additions
    retry_count           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       TIMESTAMPTZ,
    last_checked_at       TIMESTAMPTZ,
    status_reason         TEXT,
    flag_uid              TEXT,
    test_name             TEXT
);
-- One row per Testing Farm request. Partial index: upserts must use
-- ON CONFLICT (pipeline_id) WHERE pipeline_id IS NOT NULL.
CREATE UNIQUE INDEX ix_tft_test_run_targets_pipeline_id
    ON tft_test_run_targets (pipeline_id) WHERE pipeline_id IS NOT NULL;
CREATE INDEX ix_tft_test_run_targets_tft_test_run_group_id
    ON tft_test_run_targets (tft_test_run_group_id);
-- fedora-ci additions: poller work queue.
CREATE INDEX ix_tft_test_run_targets_status_active
    ON tft_test_run_targets (status)
    WHERE status IN ('new', 'queued', 'running', 'retry');

-- fedora-ci addition (no packit-service counterpart): records the CloudEvent
-- id handled by each function (consumer) so redelivered events are handled
-- once (idempotent handling).
CREATE TABLE processed_events (
    id          BIGSERIAL PRIMARY KEY,
    consumer    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_processed_events_consumer_event_id UNIQUE (consumer, event_id)
);
