-- patchgate store, PostgreSQL: rollbacks, one row per reverted (or attempted) merge
-- (src/store/rollbacks.rs, driven by src/rollback/auto).
-- UNIQUE (repo, merge_sha) makes a merge reverted at most once: a second attempt finds the
-- first's row and resumes it instead of starting a revert of its own.
-- Times (created_at, updated_at) are BIGINT milliseconds since the Unix epoch, supplied by
-- the caller (injected clock).
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS rollbacks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo        TEXT   NOT NULL,
    merge_sha   TEXT   NOT NULL,
    state       TEXT   NOT NULL DEFAULT 'planned'
                       CHECK (state IN ('planned', 'committed', 'pushed', 'reported', 'failed')),
    "trigger"   TEXT   NOT NULL,              -- policy | comment | check_action | cli
    action      TEXT   NOT NULL,              -- push | pull-request | comment
    reason      TEXT   NOT NULL,
    pr          BIGINT,                       -- the reverted pull request, when known
    revert_sha  TEXT,                         -- set once committed
    record_hash TEXT,                         -- the merge's decision record (Patchgate-Audit)
    ledger_hash TEXT,                         -- the rollback's own ledger entry, once appended
    comment_id  BIGINT,                       -- the comment on the original PR, once posted
    revert_pr   BIGINT,                       -- action pull-request: the revert PR, once opened
    error       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (repo, merge_sha)
);
-- Recovery scans the unfinished rows; the daily cap counts a repository's rows of a day.
CREATE INDEX IF NOT EXISTS rollbacks_open ON rollbacks (id)
    WHERE state IN ('planned', 'committed', 'pushed');
CREATE INDEX IF NOT EXISTS rollbacks_repo_created ON rollbacks (repo, created_at);
