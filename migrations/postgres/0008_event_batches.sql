-- patchgate store, PostgreSQL: /webhook/meta batches stored all at once and judged durably
-- (src/store/events.rs, src/server/judge.rs).
-- `line` is the event's line in its request (NULL for events that did not come in a batch);
-- the index finds a batch's events (and those not judged yet) by its webhook id.
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

ALTER TABLE policy_events ADD COLUMN IF NOT EXISTS line BIGINT;
CREATE INDEX IF NOT EXISTS policy_events_webhook ON policy_events (webhook_id, id);
