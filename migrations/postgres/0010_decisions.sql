-- patchgate store, PostgreSQL: an index of the ledger's decision records for the web view
-- (src/store/decisions.rs): one row per ledger row, written from the record's YAML by the
-- server (the ledger row is the record; this table only lists, filters and pages it).
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS decisions (
    seq        BIGINT  PRIMARY KEY,         -- the ledger row's seq
    repo       TEXT    NOT NULL,
    pr         BIGINT,                       -- NULL for a local range
    head       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,             -- decision | other (a row that is no decision record)
    passed     BOOLEAN NOT NULL,             -- quorum_passed
    path       TEXT    NOT NULL,             -- agreed | escalated | one_render
    created_at TEXT    NOT NULL              -- the record's created_at, else the ledger's appended_at
);
-- Lists are newest first, per repository and overall.
CREATE INDEX IF NOT EXISTS decisions_repo_seq ON decisions (repo, seq);
