-- patchgate store, PostgreSQL: model-auditor spend and the decision-record ledger.
-- Applied by sqlx's migrator (src/store/mod.rs embeds this directory at build time), in the
-- first schema of the connection's search_path. Never edit an applied migration (its checksum
-- is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS spend (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day           TEXT             NOT NULL,        -- UTC day, YYYY-MM-DD
    auditor       TEXT             NOT NULL,
    model         TEXT             NOT NULL,
    estimate_usd  DOUBLE PRECISION NOT NULL CHECK (estimate_usd >= 0),
    usd           DOUBLE PRECISION          CHECK (usd IS NULL OR usd >= 0),  -- NULL while reserved
    input_tokens  BIGINT           NOT NULL DEFAULT 0,
    output_tokens BIGINT           NOT NULL DEFAULT 0,
    state         TEXT             NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'settled')),
    created_at    TIMESTAMPTZ      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS spend_day ON spend (day);

CREATE TABLE IF NOT EXISTS ledger (
    seq              BIGINT PRIMARY KEY CHECK (seq >= 1),   -- 1, 2, 3, ... no gaps
    record_hash      TEXT NOT NULL UNIQUE,
    prev_record_hash TEXT NOT NULL UNIQUE,                  -- a chain never forks
    repo             TEXT NOT NULL,
    head             TEXT NOT NULL,
    record_yaml      TEXT NOT NULL,
    appended_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
