//! Spend of model auditors against the daily budget: the interface to durable storage.
//!
//! A call is **reserved** at its estimated cost before it is made — atomically refused when the
//! day's spend plus the estimate would pass the cap — and **settled** at its actual cost after.
//! So the cap can only be passed by the difference between one call's actual cost and its
//! estimate. Spend is durable (it survives restarts) in the store; [`MemorySpend`] is the
//! in-process implementation for tests. It must never lose a reservation silently.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::util::BoxFuture;

/// What can go wrong with spend accounting: the [`SpendStore`] port's own error (the store
/// maps its errors into it).
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// The request is wrong: an amount that is not finite and non-negative, or a reservation
    /// that does not exist.
    #[error("spend refused: {0}")]
    Invalid(String),
    /// The storage behind the accounting failed (unreachable, a query failed, bad data).
    #[error("{0}")]
    Storage(String),
}

/// A reservation to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationId(pub i64);

/// What one model call is reserved as.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub auditor: String,
    pub model: String,
    pub estimate_usd: f64,
}

/// What one model call actually cost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Durable spend accounting.
pub trait SpendStore: Send + Sync {
    /// Reserve `r.estimate_usd` on `r.day` unless the day's spend (settled and reserved) plus
    /// the estimate would exceed `cap_usd`; `None` when it would. Atomic against concurrent
    /// reservations, across processes for a shared database.
    fn try_reserve<'a>(
        &'a self,
        r: &'a Reservation,
        cap_usd: f64,
    ) -> BoxFuture<'a, Result<Option<ReservationId>, SpendError>>;

    /// Replace a reservation by the call's actual cost (0 for a call that failed before
    /// anything was billed).
    fn settle(&self, id: ReservationId, actual: Usage) -> BoxFuture<'_, Result<(), SpendError>>;

    /// The day's spend: settled costs plus open reservations.
    fn spent<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<f64, SpendError>>;
}

/// In-memory spend, for tests and single short-lived processes.
#[derive(Debug, Default)]
pub struct MemorySpend {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    next: i64,
    /// id -> (day, usd)
    rows: HashMap<i64, (String, f64)>,
}

impl MemorySpend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SpendStore for MemorySpend {
    fn try_reserve<'a>(
        &'a self,
        r: &'a Reservation,
        cap_usd: f64,
    ) -> BoxFuture<'a, Result<Option<ReservationId>, SpendError>> {
        Box::pin(async move {
            let mut g = self.inner.lock().expect("spend lock");
            let spent: f64 = g
                .rows
                .values()
                .filter(|(d, _)| *d == r.day)
                .map(|(_, u)| u)
                .sum();
            if spent + r.estimate_usd > cap_usd {
                return Ok(None);
            }
            g.next += 1;
            let id = g.next;
            g.rows.insert(id, (r.day.clone(), r.estimate_usd));
            Ok(Some(ReservationId(id)))
        })
    }

    fn settle(&self, id: ReservationId, actual: Usage) -> BoxFuture<'_, Result<(), SpendError>> {
        Box::pin(async move {
            let mut g = self.inner.lock().expect("spend lock");
            match g.rows.get_mut(&id.0) {
                Some(row) => {
                    row.1 = actual.usd;
                    Ok(())
                }
                None => Err(SpendError::Invalid(format!("no reservation {}", id.0))),
            }
        })
    }

    fn spent<'a>(&'a self, day: &'a str) -> BoxFuture<'a, Result<f64, SpendError>> {
        Box::pin(async move {
            let g = self.inner.lock().expect("spend lock");
            Ok(g.rows
                .values()
                .filter(|(d, _)| d == day)
                .map(|(_, u)| u)
                .sum())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_never_pass_the_cap() {
        let s = MemorySpend::new();
        let r = Reservation {
            day: "2026-11-23".into(),
            auditor: "reviewer-1".into(),
            model: "m".into(),
            estimate_usd: 0.2,
        };
        let a = s.try_reserve(&r, 0.5).await.unwrap().unwrap();
        let _b = s.try_reserve(&r, 0.5).await.unwrap().unwrap();
        assert!(s.try_reserve(&r, 0.5).await.unwrap().is_none());
        s.settle(
            a,
            Usage {
                usd: 0.05,
                ..Usage::default()
            },
        )
        .await
        .unwrap();
        assert!((s.spent("2026-11-23").await.unwrap() - 0.25).abs() < 1e-9);
        assert!(s.try_reserve(&r, 0.5).await.unwrap().is_some());
        assert_eq!(s.spent("2026-11-24").await.unwrap(), 0.0);
    }
}
