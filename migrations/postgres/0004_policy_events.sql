-- patchgate store, PostgreSQL: policy events and webhook ids of /webhook/meta (src/store/events.rs).
-- Times are BIGINT milliseconds since the Unix epoch, supplied by the caller (injected clock).
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

-- Standard Webhooks ids seen by /webhook/meta: durable replay protection. Rows older than the
-- timestamp tolerance (plus a margin) are pruned; a replay that old is refused by its timestamp.
CREATE TABLE IF NOT EXISTS webhook_ids (
    id         TEXT   PRIMARY KEY CHECK (id <> ''),
    seen_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_ids_seen ON webhook_ids (seen_at_ms);

-- One row per verified policy event (and per CI result turned into one).
CREATE TABLE IF NOT EXISTS policy_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo           TEXT   NOT NULL,
    commit_sha     TEXT   NOT NULL,                  -- lower-case hex, as sent (may be abbreviated)
    metric         TEXT   NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    check_name     TEXT,                             -- metric ci only
    at_ms          BIGINT NOT NULL,                  -- when it was measured
    received_at_ms BIGINT NOT NULL,
    merge_sha      TEXT,                             -- the merge it was attributed to, once judged
    decision       TEXT,                             -- the policy Decision as JSON, once judged
    verdict        TEXT,                             -- the Decision's tag ("ok", "violation", ...)
    webhook_id     TEXT                              -- webhook-id / X-GitHub-Delivery it came in
);
CREATE INDEX IF NOT EXISTS policy_events_merge ON policy_events (repo, merge_sha, metric);
CREATE INDEX IF NOT EXISTS policy_events_commit ON policy_events (repo, commit_sha, metric, at_ms);
