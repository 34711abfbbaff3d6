-- patchgate store, SQLite: model-auditor spend and the decision-record ledger.
-- Applied by sqlx's migrator (src/store/mod.rs embeds this directory at build time).
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS spend (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    day           TEXT    NOT NULL,                 -- UTC day, YYYY-MM-DD
    auditor       TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    estimate_usd  REAL    NOT NULL CHECK (estimate_usd >= 0),
    usd           REAL             CHECK (usd IS NULL OR usd >= 0),  -- NULL while reserved
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'settled')),
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS spend_day ON spend (day);

CREATE TABLE IF NOT EXISTS ledger (
    seq              INTEGER PRIMARY KEY CHECK (seq >= 1),  -- 1, 2, 3, ... no gaps
    record_hash      TEXT NOT NULL UNIQUE,
    prev_record_hash TEXT NOT NULL UNIQUE,                  -- a chain never forks
    repo             TEXT NOT NULL,
    head             TEXT NOT NULL,
    record_yaml      TEXT NOT NULL,
    appended_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
