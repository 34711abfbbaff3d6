-- patchgate store, SQLite: the durable job queue (src/store/jobs.rs).
-- One row per GitHub delivery, kept after completion so a redelivery stays a duplicate.
-- Times (run_after, lease_until, updated_at) are integer milliseconds since the Unix epoch,
-- supplied by the caller (injected clock); run_after 0 means "ready now".
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT    NOT NULL UNIQUE CHECK (delivery_id <> ''),  -- X-GitHub-Delivery
    event       TEXT    NOT NULL,                                   -- X-GitHub-Event
    repo        TEXT    NOT NULL,
    payload     BLOB    NOT NULL,                                   -- body as received
    state       TEXT    NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'done', 'parked')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_after   INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,                                            -- set while running
    worker      TEXT,                                               -- set while running
    last_error  TEXT,
    enqueued_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  INTEGER NOT NULL DEFAULT 0
);
-- Claims scan only open jobs, oldest first.
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (id) WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
