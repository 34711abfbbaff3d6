//! Queueing deliveries: [`Store::enqueue`], and [`Store::enqueue_many`] / [`Store::enqueue_prepared`]
//! (one transaction per batch, duplicates answered from the `delivery_id` index).

use super::{Enqueued, NewJob, PreparedJob};
use crate::store::{map_err, Store, StoreError};

const ENQUEUE_EXISTING: &str = "SELECT id FROM jobs WHERE delivery_id = $1";

/// Rows per multi-row INSERT in [`Store::enqueue_prepared`]: 5 parameters each, far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
const ENQUEUE_ROWS_PER_STATEMENT: usize = 512;

/// `INSERT … VALUES ($1, $2, $3, $4, $5), ($6, …) ON CONFLICT (delivery_id) DO NOTHING RETURNING
/// id, delivery_id` for `rows` jobs: only the rows actually inserted come back, in no
/// particular order.
fn enqueue_insert_rows(rows: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(96 + rows * 30);
    sql.push_str("INSERT INTO jobs (delivery_id, event, repo, payload, traceparent) VALUES ");
    for r in 0..rows {
        let p = r * 5;
        let sep = if r == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{sep}(${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        );
    }
    sql.push_str(" ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id");
    sql
}

impl Store {
    /// Queue a delivery. Returns once the row is committed (answer `202` only after this).
    /// A delivery id seen before — whatever its job's state — is a `Duplicate` that changes
    /// nothing.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        if job.delivery_id.trim().is_empty() {
            return Err(StoreError::Invalid(
                "enqueue: empty delivery id".to_string(),
            ));
        }
        let done = self
            .enqueue_prepared(&[PreparedJob::new(job.clone())])
            .await?;
        Ok(done[0])
    }

    /// Queue several deliveries in ONE transaction (group commit: one `fsync` for the batch).
    /// Returns once the transaction committed, one [`Enqueued`] per job in order, with the
    /// semantics of [`enqueue`](Self::enqueue): a delivery id seen before — in an existing row
    /// or earlier in the same batch — is a `Duplicate` of that job. All or nothing: on an error
    /// no job of the batch was queued. An empty delivery id anywhere refuses the whole batch
    /// (`Invalid`) before anything is written; an empty batch does nothing.
    pub async fn enqueue_many(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let prepared: Vec<PreparedJob> = jobs.iter().cloned().map(PreparedJob::new).collect();
        self.enqueue_prepared(&prepared).await
    }

    /// [`enqueue_many`](Self::enqueue_many) for jobs already [prepared](PreparedJob::new):
    /// the transaction only writes.
    pub async fn enqueue_prepared(
        &self,
        jobs: &[PreparedJob],
    ) -> Result<Vec<Enqueued>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(i) = jobs.iter().position(|j| j.delivery_id.trim().is_empty()) {
            return Err(StoreError::Invalid(format!(
                "enqueue_many: job {i} of the batch has an empty delivery id"
            )));
        }
        // Inserted in delivery-id order (a stable sort: within one id, the batch's own order),
        // so two transactions inserting overlapping batches take the unique index's locks in
        // the same order and cannot deadlock on PostgreSQL.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by(|&a, &b| jobs[a].delivery_id.cmp(&jobs[b].delivery_id));
        // One multi-row INSERT per chunk (not one statement per job): the SQLite driver runs
        // each statement on its connection's thread, so every statement is a round trip
        // between threads, and on PostgreSQL one over the network.
        let out = in_tx!(self, "enqueue_many", |tx, sql| {
            let existing = sql(ENQUEUE_EXISTING);
            let mut out = vec![Enqueued::Duplicate(0); jobs.len()];
            let mut inserted: std::collections::HashMap<String, i64> =
                std::collections::HashMap::with_capacity(jobs.len());
            for chunk in order.chunks(ENQUEUE_ROWS_PER_STATEMENT) {
                let text = sql(&enqueue_insert_rows(chunk.len()));
                let mut insert = sqlx::query_as::<_, (i64, String)>(&text);
                for &i in chunk {
                    let job = &jobs[i];
                    insert = insert
                        .bind(&job.delivery_id)
                        .bind(&job.event)
                        .bind(&job.repo)
                        .bind(&job.stored)
                        .bind(&job.traceparent);
                }
                let rows = insert
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| map_err("enqueue_many", e))?;
                inserted.extend(rows.into_iter().map(|(id, delivery_id)| (delivery_id, id)));
            }
            // The first job of each inserted delivery id is new; any other is a duplicate —
            // of a row committed before this transaction (PostgreSQL waits for a concurrent
            // insert of the same key to commit before skipping it) or of this batch's own.
            let mut claimed = std::collections::HashSet::with_capacity(jobs.len());
            for &i in &order {
                let d = jobs[i].delivery_id.as_str();
                out[i] = match inserted.get(d) {
                    Some(&id) if claimed.insert(d) => Enqueued::New(id),
                    Some(&id) => Enqueued::Duplicate(id),
                    None => Enqueued::Duplicate(
                        sqlx::query_scalar(&existing)
                            .bind(d)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| map_err("enqueue_many: existing", e))?,
                    ),
                };
            }
            out
        });
        Ok(out)
    }
}
