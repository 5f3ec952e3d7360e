-- Log Detective analyses of failed scratch builds (issue #22).
--
-- Table and column names follow packit-service's alembic revisions 108167f43395
-- (log_detective_run), d408de018a66 (log_detective_run_groups, the run's group
-- and target, pipelines.log_detective_run_group_id — already in 0001) and
-- b4e11a52ea52 (error_msg), so the dashboard's Log Detective pages read the same
-- rows through our api. Type notes as in 0001: Enum -> TEXT + CHECK with the
-- same labels, DateTime -> TIMESTAMPTZ, JSON -> JSONB.

-- Mirrors packit-service LogDetectiveRunGroupModel: one group per failed build.
CREATE TABLE log_detective_run_groups (
    id                   SERIAL PRIMARY KEY,
    submitted_time       TIMESTAMPTZ DEFAULT now(),
    -- fedora-ci additions
    -- The build the group analyses: duplicate or concurrent deliveries of the
    -- build's failure find the one group instead of making another.
    koji_build_target_id INTEGER UNIQUE REFERENCES koji_build_targets (id) ON DELETE CASCADE
);

ALTER TABLE pipelines
    ADD CONSTRAINT fk_pipelines_log_detective_run_groups_id
    FOREIGN KEY (log_detective_run_group_id) REFERENCES log_detective_run_groups (id);

-- Mirrors packit-service LogDetectiveRunModel: one analysis of one failed
-- buildArch subtask.
CREATE TABLE log_detective_run (
    id                         SERIAL PRIMARY KEY,
    -- packit-service enum LogDetectiveResult (PostgreSQL type "logdetectiveresult").
    status                     TEXT NOT NULL CHECK (status IN ('complete', 'running', 'unknown', 'error')),
    identifier                 VARCHAR,
    -- The buildArch subtask id (what the interface server echoes back).
    target_build               VARCHAR,
    -- "<koji target>-<arch>", e.g. "rawhide-x86_64".
    target                     VARCHAR,
    log_detective_response     JSONB,
    error_msg                  VARCHAR,
    submitted_time             TIMESTAMPTZ DEFAULT now(),
    -- UUID the interface server answers /analyze with. NOT NULL upstream, where
    -- the row is written after the request; here the row is written first (the
    -- idempotency record) and the id filled in when the server answered.
    analysis_id                VARCHAR,
    -- packit-service enum LogDetectiveBuildSystem.
    build_system               TEXT CHECK (build_system IN ('copr', 'koji')),
    copr_build_target_id       INTEGER,
    koji_build_target_id       INTEGER REFERENCES koji_build_targets (id) ON DELETE CASCADE,
    log_detective_run_group_id INTEGER
        CONSTRAINT fk_log_detective_run_log_detective_run_groups_id REFERENCES log_detective_run_groups (id),
    -- fedora-ci additions
    -- "ld:<build id>:<subtask id>": one request per failed architecture, whatever
    -- the number of deliveries.
    idempotency_key            TEXT NOT NULL UNIQUE,
    arch                       TEXT,
    -- The logs sent (name -> URL), chosen by asking the log server which exist.
    artifacts                  JSONB,
    retry_count                INTEGER NOT NULL DEFAULT 0,
    next_attempt_at            TIMESTAMPTZ,
    -- When the request was accepted (the duration metric and the result timeout
    -- count from here) and when the result arrived.
    requested_time             TIMESTAMPTZ,
    finished_time              TIMESTAMPTZ,
    flag_uid                   TEXT,
    CONSTRAINT uq_log_detective_run_analysis_id UNIQUE (analysis_id)
);
CREATE INDEX ix_log_detective_run_log_detective_run_group_id ON log_detective_run (log_detective_run_group_id);
CREATE INDEX ix_log_detective_run_koji_build_target_id ON log_detective_run (koji_build_target_id);
CREATE INDEX ix_log_detective_run_unfinished ON log_detective_run (id) WHERE status = 'running';
