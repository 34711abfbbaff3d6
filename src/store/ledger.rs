//! [`LedgerStore`] over SQL: the `ledger` table, one row per decision record.
//!
//! `seq` is 1, 2, 3, … with no gaps; every row's `prev_record_hash` is the previous row's
//! `record_hash` (the first row's is [`GENESIS`]). An append reads the last row and inserts
//! the next in one atomic section that holds across processes (`BEGIN IMMEDIATE` on SQLite,
//! `pg_advisory_xact_lock` on PostgreSQL); the table's primary key on `seq` and unique
//! `record_hash` / `prev_record_hash` back it up. This module must never fork the chain,
//! never leave a gap, and never rewrite or delete a row.

use crate::meta::ledger::{LedgerError, LedgerRow, LedgerStore, NewLedgerRow, GENESIS};
use crate::util::BoxFuture;

use super::{map_err, Pool, Store, StoreError};

type Row = (i64, String, String, String, String, String);

const SELECT_ROWS: &str =
    "SELECT seq, record_hash, prev_record_hash, repo, head, record_yaml FROM ledger";

fn to_row((seq, record_hash, prev_record_hash, repo, head, record_yaml): Row) -> LedgerRow {
    LedgerRow {
        seq,
        record_hash,
        prev_record_hash,
        repo,
        head,
        record_yaml,
    }
}

/// The `seq` a new row gets after `last` (`(seq, record_hash)` of the last row), or a
/// `Conflict` when `prev` does not continue the chain.
fn next_seq(last: Option<(i64, String)>, prev: &str) -> Result<i64, StoreError> {
    let (seq, expected) = match &last {
        Some((seq, hash)) => (*seq, hash.as_str()),
        None => (0, GENESIS),
    };
    if prev != expected {
        return Err(StoreError::Conflict(format!(
            "ledger append: prev_record_hash {prev} is not the last record's hash {expected} \
             (seq {seq})"
        )));
    }
    Ok(seq + 1)
}

impl Store {
    async fn ledger_last(&self) -> Result<Option<LedgerRow>, StoreError> {
        let sql = format!("{SELECT_ROWS} ORDER BY seq DESC LIMIT 1");
        let row: Option<Row> = match self.pool() {
            Pool::Sqlite(p) => sqlx::query_as(&sql).fetch_optional(p).await,
            Pool::Postgres(p) => sqlx::query_as(&sql).fetch_optional(p).await,
        }
        .map_err(|e| map_err("ledger last", e))?;
        Ok(row.map(to_row))
    }

    async fn ledger_all(&self) -> Result<Vec<LedgerRow>, StoreError> {
        let sql = format!("{SELECT_ROWS} ORDER BY seq");
        let rows: Vec<Row> = match self.pool() {
            Pool::Sqlite(p) => sqlx::query_as(&sql).fetch_all(p).await,
            Pool::Postgres(p) => sqlx::query_as(&sql).fetch_all(p).await,
        }
        .map_err(|e| map_err("ledger all", e))?;
        Ok(rows.into_iter().map(to_row).collect())
    }

    /// Every record for `head` of `repo`, by `seq` (what
    /// [`crate::meta::human::standing_vote`] reads: the vote standing on a head).
    pub async fn ledger_rows_for_head(
        &self,
        repo: &str,
        head: &str,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        let sql = format!("{SELECT_ROWS} WHERE repo = $1 AND head = $2 ORDER BY seq");
        let rows: Vec<Row> = match self.pool() {
            Pool::Sqlite(p) => {
                sqlx::query_as(&sql.replace('$', "?"))
                    .bind(repo)
                    .bind(head)
                    .fetch_all(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_as(&sql)
                    .bind(repo)
                    .bind(head)
                    .fetch_all(p)
                    .await
            }
        }
        .map_err(|e| map_err("ledger rows for head", e))?;
        Ok(rows.into_iter().map(to_row).collect())
    }

    async fn ledger_append(&self, row: &NewLedgerRow) -> Result<i64, StoreError> {
        const LAST: &str = "SELECT seq, record_hash FROM ledger ORDER BY seq DESC LIMIT 1";
        match self.pool() {
            Pool::Sqlite(p) => {
                let mut tx = p
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| map_err("ledger append: begin", e))?;
                let last: Option<(i64, String)> = sqlx::query_as(LAST)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| map_err("ledger append: last", e))?;
                let seq = next_seq(last, &row.prev_record_hash)?;
                sqlx::query(
                    "INSERT INTO ledger (seq, record_hash, prev_record_hash, repo, head, \
                     record_yaml) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(seq)
                .bind(&row.record_hash)
                .bind(&row.prev_record_hash)
                .bind(&row.repo)
                .bind(&row.head)
                .bind(&row.record_yaml)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("ledger append: insert", e))?;
                tx.commit()
                    .await
                    .map_err(|e| map_err("ledger append: commit", e))?;
                Ok(seq)
            }
            Pool::Postgres(p) => {
                let mut tx = p
                    .begin()
                    .await
                    .map_err(|e| map_err("ledger append: begin", e))?;
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(\
                     'patchgate.ledger:' || current_schema(), 0))",
                )
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("ledger append: lock", e))?;
                let last: Option<(i64, String)> = sqlx::query_as(LAST)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| map_err("ledger append: last", e))?;
                let seq = next_seq(last, &row.prev_record_hash)?;
                sqlx::query(
                    "INSERT INTO ledger (seq, record_hash, prev_record_hash, repo, head, \
                     record_yaml) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(seq)
                .bind(&row.record_hash)
                .bind(&row.prev_record_hash)
                .bind(&row.repo)
                .bind(&row.head)
                .bind(&row.record_yaml)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("ledger append: insert", e))?;
                tx.commit()
                    .await
                    .map_err(|e| map_err("ledger append: commit", e))?;
                Ok(seq)
            }
        }
    }
}

/// The store's errors as the ledger port's: a lost race stays a `Conflict`, anything else is
/// a storage failure (its text kept).
impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => LedgerError::Conflict(m),
            other => LedgerError::Storage(other.to_string()),
        }
    }
}

impl LedgerStore for Store {
    fn last(&self) -> BoxFuture<'_, Result<Option<LedgerRow>, LedgerError>> {
        Box::pin(async move { Ok(self.ledger_last().await?) })
    }

    fn append<'a>(&'a self, row: &'a NewLedgerRow) -> BoxFuture<'a, Result<i64, LedgerError>> {
        Box::pin(async move { Ok(self.ledger_append(row).await?) })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerRow>, LedgerError>> {
        Box::pin(async move { Ok(self.ledger_all().await?) })
    }

    fn keep_texts<'a>(
        &'a self,
        seq: i64,
        texts: &'a str,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move { Ok(self.keep_explanation_texts(seq, texts).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_rules() {
        assert_eq!(next_seq(None, GENESIS).unwrap(), 1);
        assert!(matches!(
            next_seq(None, "sha256:ab"),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            next_seq(Some((7, "sha256:x".into())), "sha256:x").unwrap(),
            8
        );
        assert!(matches!(
            next_seq(Some((7, "sha256:x".into())), GENESIS),
            Err(StoreError::Conflict(_))
        ));
    }
}
