-- patchgate store, SQLite: render-B links set by `/patchgate render-b <ref or #PR>` (src/store/links.rs).
-- One row per pull request; the latest command wins. Never edit an applied migration.

CREATE TABLE IF NOT EXISTS pr_links (
    repo       TEXT    NOT NULL,
    pr         INTEGER NOT NULL CHECK (pr > 0),
    render_b   TEXT    NOT NULL CHECK (render_b <> ''),  -- "#124" or a git ref
    set_by     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,                         -- ms since the Unix epoch
    PRIMARY KEY (repo, pr)
);
