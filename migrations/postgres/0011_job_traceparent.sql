-- patchgate store: the trace a queued job continues (src/store/jobs.rs, src/server/otel).
-- `traceparent` is the W3C trace context (`00-<trace id>-<span id>-01`) of the intake span
-- that queued the delivery, so the worker's span joins the delivery's trace across the queue.
-- NULL when traces are not exported, and for jobs queued by reconciliation or redelivery
-- passes (their worker starts a trace of its own). It holds ids only, never a secret.
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS traceparent TEXT;
