-- patchgate store, SQLite: what the job queue needs to bound itself (src/store/jobs.rs).
-- `lost` counts the attempts whose worker vanished (its lease ran out before the job ended):
-- a job that kills its worker each time is parked once its attempts reach the limit, and its
-- last error says how many of them were lost. The partial index lets retention find old done
-- jobs (`updated_at`: when the job was done) without reading the open ones.
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

ALTER TABLE jobs ADD COLUMN lost INTEGER NOT NULL DEFAULT 0 CHECK (lost >= 0);
CREATE INDEX IF NOT EXISTS jobs_done_updated ON jobs (updated_at, id) WHERE state = 'done';
