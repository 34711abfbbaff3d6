//! [`SpendStore`] over SQL: the `spend` table, one row per model call.
//!
//! A row is `reserved` at its estimate, then `settled` at its actual cost. The day's spend is
//! the sum of settled costs and open estimates. A reservation is checked and inserted in one
//! atomic section that holds across processes: `BEGIN IMMEDIATE` on SQLite (one writer at a
//! time on the file), a transaction holding `pg_advisory_xact_lock` on a key derived from the
//! schema and the day on PostgreSQL. This module must never reserve past the cap, never
//! accept a non-finite or negative amount, and never settle a reservation that does not exist.

use crate::audit::spend::{Reservation, ReservationId, SpendError, SpendStore, Usage};
use crate::util::BoxFuture;

use super::{map_err, Pool, Store, StoreError};

/// Slack for floating-point sums (a nano-dollar): `0.1 + 0.2` must fit under a cap of `0.3`.
const EPSILON_USD: f64 = 1e-9;

const SQLITE_SPENT: &str = "SELECT COALESCE(SUM(CASE WHEN state = 'reserved' THEN estimate_usd \
     ELSE usd END), 0.0) FROM spend WHERE day = ?1";
const PG_SPENT: &str = "SELECT COALESCE(SUM(CASE WHEN state = 'reserved' THEN estimate_usd \
     ELSE usd END), 0)::float8 FROM spend WHERE day = $1";

/// Whether `spent + estimate` stays within `cap` (with [`EPSILON_USD`] of slack).
fn fits(spent: f64, estimate: f64, cap: f64) -> bool {
    spent + estimate <= cap + EPSILON_USD
}

fn check_amount(what: &str, usd: f64) -> Result<(), StoreError> {
    if usd.is_finite() && usd >= 0.0 {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} must be a finite, non-negative amount, got {usd}"
        )))
    }
}

fn tokens(what: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is out of range")))
}

impl Store {
    async fn reserve(&self, r: &Reservation, cap_usd: f64) -> Result<Option<i64>, StoreError> {
        check_amount("estimate_usd", r.estimate_usd)?;
        if cap_usd.is_nan() {
            return Err(StoreError::Invalid("cap_usd is NaN".into()));
        }
        match self.pool() {
            Pool::Sqlite(p) => {
                let mut tx = p
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| map_err("spend reserve: begin", e))?;
                let spent: f64 = sqlx::query_scalar(SQLITE_SPENT)
                    .bind(&r.day)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| map_err("spend reserve: sum", e))?;
                if !fits(spent, r.estimate_usd, cap_usd) {
                    return Ok(None); // the transaction rolls back on drop
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO spend (day, auditor, model, estimate_usd, state) \
                     VALUES (?1, ?2, ?3, ?4, 'reserved') RETURNING id",
                )
                .bind(&r.day)
                .bind(&r.auditor)
                .bind(&r.model)
                .bind(r.estimate_usd)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_err("spend reserve: insert", e))?;
                tx.commit()
                    .await
                    .map_err(|e| map_err("spend reserve: commit", e))?;
                Ok(Some(id))
            }
            Pool::Postgres(p) => {
                let mut tx = p
                    .begin()
                    .await
                    .map_err(|e| map_err("spend reserve: begin", e))?;
                // Serialises reservations of one day in this schema, across every process
                // sharing the database; released at commit or rollback. Under READ COMMITTED
                // the sum below then sees every reservation committed before the lock.
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(\
                     'patchgate.spend:' || current_schema() || ':' || $1, 0))",
                )
                .bind(&r.day)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("spend reserve: lock", e))?;
                let spent: f64 = sqlx::query_scalar(PG_SPENT)
                    .bind(&r.day)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| map_err("spend reserve: sum", e))?;
                if !fits(spent, r.estimate_usd, cap_usd) {
                    return Ok(None);
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO spend (day, auditor, model, estimate_usd, state) \
                     VALUES ($1, $2, $3, $4, 'reserved') RETURNING id",
                )
                .bind(&r.day)
                .bind(&r.auditor)
                .bind(&r.model)
                .bind(r.estimate_usd)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_err("spend reserve: insert", e))?;
                tx.commit()
                    .await
                    .map_err(|e| map_err("spend reserve: commit", e))?;
                Ok(Some(id))
            }
        }
    }

    async fn settle_row(&self, id: i64, actual: Usage) -> Result<(), StoreError> {
        check_amount("usd", actual.usd)?;
        let input = tokens("input_tokens", actual.input_tokens)?;
        let output = tokens("output_tokens", actual.output_tokens)?;
        let affected = match self.pool() {
            Pool::Sqlite(p) => sqlx::query(
                "UPDATE spend SET usd = ?1, input_tokens = ?2, output_tokens = ?3, \
                 state = 'settled' WHERE id = ?4",
            )
            .bind(actual.usd)
            .bind(input)
            .bind(output)
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
            Pool::Postgres(p) => sqlx::query(
                "UPDATE spend SET usd = $1, input_tokens = $2, output_tokens = $3, \
                 state = 'settled' WHERE id = $4",
            )
            .bind(actual.usd)
            .bind(input)
            .bind(output)
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        }
        .map_err(|e| map_err("spend settle", e))?;
        if affected == 0 {
            return Err(StoreError::Invalid(format!("no reservation {id}")));
        }
        Ok(())
    }

    async fn spent_on(&self, day: &str) -> Result<f64, StoreError> {
        match self.pool() {
            Pool::Sqlite(p) => {
                sqlx::query_scalar(SQLITE_SPENT)
                    .bind(day)
                    .fetch_one(p)
                    .await
            }
            Pool::Postgres(p) => sqlx::query_scalar(PG_SPENT).bind(day).fetch_one(p).await,
        }
        .map_err(|e| map_err("spend sum", e))
    }
}

/// The store's errors as the spend port's: a refused request stays `Invalid`, anything else is
/// a storage failure (its text kept).
impl From<StoreError> for SpendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => SpendError::Invalid(m),
            other => SpendError::Storage(other.to_string()),
        }
    }
}

impl SpendStore for Store {
    fn try_reserve<'a>(
        &'a self,
        r: &'a Reservation,
        cap_usd: f64,
    ) -> BoxFuture<'a, Result<Option<ReservationId>, SpendError>> {
        Box::pin(async move { Ok(self.reserve(r, cap_usd).await?.map(ReservationId)) })
    }

    fn settle(&self, id: ReservationId, actual: Usage) -> BoxFuture<'_, Result<(), SpendError>> {
        Box::pin(async move { Ok(self.settle_row(id.0, actual).await?) })
    }

    fn spent<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<f64, SpendError>> {
        Box::pin(async move { Ok(self.spent_on(day).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_sums_fit_exact_caps() {
        assert!(fits(0.1 + 0.1, 0.1, 0.3));
        assert!(fits(0.0, 0.5, 0.5));
        assert!(!fits(0.5, 0.000_001, 0.5));
        assert!(!fits(0.0, 0.1, -1.0));
    }

    #[test]
    fn amounts_must_be_finite_and_non_negative() {
        assert!(check_amount("x", 0.0).is_ok());
        for bad in [-0.01, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                check_amount("x", bad),
                Err(StoreError::Invalid(_))
            ));
        }
        assert!(tokens("t", u64::MAX).is_err());
    }

    #[tokio::test]
    async fn sqlite_refuses_bad_amounts_and_unknown_ids() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), None).await.unwrap();
        let r = Reservation {
            day: "2026-11-23".into(),
            auditor: "a".into(),
            model: "m".into(),
            estimate_usd: -1.0,
        };
        assert!(matches!(
            s.try_reserve(&r, 1.0).await,
            Err(SpendError::Invalid(_))
        ));
        assert!(matches!(
            s.settle(ReservationId(42), Usage::default()).await,
            Err(SpendError::Invalid(_))
        ));
    }
}
