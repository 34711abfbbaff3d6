-- patchgate store, PostgreSQL: render-B links set by `/patchgate render-b <ref or #PR>` (src/store/links.rs).
-- One row per pull request; the latest command wins. Never edit an applied migration.

CREATE TABLE IF NOT EXISTS pr_links (
    repo       TEXT    NOT NULL,
    pr         BIGINT  NOT NULL CHECK (pr > 0),
    render_b   TEXT    NOT NULL CHECK (render_b <> ''),
    set_by     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (repo, pr)
);
