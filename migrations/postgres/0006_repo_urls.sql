-- patchgate store, PostgreSQL: each repository's clone URL as its webhooks give it (src/store/links.rs).
-- Never edit an applied migration.

CREATE TABLE IF NOT EXISTS repo_urls (
    repo       TEXT    PRIMARY KEY,
    clone_url  TEXT    NOT NULL CHECK (clone_url <> ''),
    updated_at BIGINT  NOT NULL
);
