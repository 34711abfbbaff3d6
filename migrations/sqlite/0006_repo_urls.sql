-- patchgate store, SQLite: each repository's clone URL as its webhooks give it (src/store/links.rs),
-- so a policy event or a resumed rollback, which name only `owner/name`, mirror the right remote
-- after a restart. Never edit an applied migration.

CREATE TABLE IF NOT EXISTS repo_urls (
    repo       TEXT    PRIMARY KEY,
    clone_url  TEXT    NOT NULL CHECK (clone_url <> ''),
    updated_at INTEGER NOT NULL
);
