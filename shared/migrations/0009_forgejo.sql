-- Fedora dist-git on Forgejo (issue #23): a PR is (forge, namespace, repo, id).
--
-- The same package can have PRs on Pagure (src.fedoraproject.org) and on Forgejo
-- (forge.fedoraproject.org) while dist-git moves, with the same namespace, name
-- and even number: every row we keep about a flag or comment names its forge,
-- and the keys include it. Rows from before are Pagure's.

ALTER TABLE pr_flags ADD COLUMN forge TEXT NOT NULL DEFAULT 'pagure'
    CHECK (forge IN ('pagure', 'forgejo'));
-- The commit a check is about: a Forgejo commit status is posted on it (Pagure
-- puts a PR flag on the PR's head of the moment). NULL for older rows.
ALTER TABLE pr_flags ADD COLUMN commit_sha TEXT CHECK (length(commit_sha) <= 64);
ALTER TABLE pr_flags DROP CONSTRAINT pr_flags_pkey;
ALTER TABLE pr_flags ADD CONSTRAINT pr_flags_pkey PRIMARY KEY (forge, namespace, repo_name, pr_id, uid);

ALTER TABLE pr_comments ADD COLUMN forge TEXT NOT NULL DEFAULT 'pagure'
    CHECK (forge IN ('pagure', 'forgejo'));
ALTER TABLE pr_comments DROP CONSTRAINT uq_pr_comments_pr_dedup_key;
ALTER TABLE pr_comments ADD CONSTRAINT uq_pr_comments_pr_dedup_key
    UNIQUE (forge, namespace, repo_name, pr_id, dedup_key);
