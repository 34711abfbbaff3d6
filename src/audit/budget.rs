//! The daily budget of the model auditors: a cap in USD per UTC day, shared by every model
//! auditor, kept in a durable [`SpendStore`] so it survives restarts.
//!
//! A call is reserved at its estimate before it is made and settled at its actual cost
//! after, so the cap is never passed by more than one call's actual cost beyond its
//! estimate. It must never let a call through without a reservation, and never treat a store
//! failure as room in the budget (the caller abstains).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::spend::{Reservation, ReservationId, SpendStore, Usage};
use crate::store::StoreError;

/// The default daily cap across all model auditors (`PATCHGATE_COST_DAILY_LIMIT_USD`).
pub const DEFAULT_DAILY_USD: f64 = 0.50;

/// The clock a budget reads the day from (injected for tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The shared daily budget.
#[derive(Clone)]
pub struct Budget {
    cap_usd: f64,
    store: Arc<dyn SpendStore>,
    clock: Clock,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("cap_usd", &self.cap_usd)
            .finish_non_exhaustive()
    }
}

/// A budget configuration that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("daily budget must be a finite number of USD >= 0, not {0}")]
pub struct BudgetError(pub f64);

impl Budget {
    /// A budget of `cap_usd` per UTC day over `store`, on the system clock.
    pub fn new(cap_usd: f64, store: Arc<dyn SpendStore>) -> Result<Self, BudgetError> {
        Self::with_clock(cap_usd, store, Arc::new(Utc::now))
    }

    /// The same with an injected clock.
    pub fn with_clock(
        cap_usd: f64,
        store: Arc<dyn SpendStore>,
        clock: Clock,
    ) -> Result<Self, BudgetError> {
        if !cap_usd.is_finite() || cap_usd < 0.0 {
            return Err(BudgetError(cap_usd));
        }
        Ok(Budget {
            cap_usd,
            store,
            clock,
        })
    }

    pub fn cap_usd(&self) -> f64 {
        self.cap_usd
    }

    /// Today, UTC, as `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        (self.clock)().format("%Y-%m-%d").to_string()
    }

    /// Reserve a call's estimate under today's cap; `Ok(None)` when it would not fit.
    pub async fn reserve(
        &self,
        auditor: &str,
        model: &str,
        estimate_usd: f64,
    ) -> Result<Option<ReservationId>, StoreError> {
        let r = Reservation {
            day: self.today(),
            auditor: auditor.to_string(),
            model: model.to_string(),
            estimate_usd,
        };
        self.store.try_reserve(&r, self.cap_usd).await
    }

    /// Replace a reservation by the call's actual cost.
    pub async fn settle(&self, id: ReservationId, actual: Usage) -> Result<(), StoreError> {
        self.store.settle(id, actual).await
    }

    /// Today's spend (settled and reserved).
    pub async fn spent_today(&self) -> Result<f64, StoreError> {
        let day = self.today();
        self.store.spent(&day).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::spend::MemorySpend;

    fn at(s: &str) -> Clock {
        let t = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Arc::new(move || t)
    }

    #[tokio::test]
    async fn day_is_utc_and_spend_is_per_day() {
        let store: Arc<dyn SpendStore> = Arc::new(MemorySpend::new());
        let late = Budget::with_clock(0.5, store.clone(), at("2026-11-23T23:30:00-02:00")).unwrap();
        assert_eq!(late.today(), "2026-11-24");
        let id = late.reserve("a", "m", 0.4).await.unwrap().unwrap();
        assert!(late.reserve("a", "m", 0.2).await.unwrap().is_none());
        late.settle(
            id,
            Usage {
                usd: 0.1,
                ..Usage::default()
            },
        )
        .await
        .unwrap();
        assert!(late.reserve("a", "m", 0.2).await.unwrap().is_some());
        let next = Budget::with_clock(0.5, store, at("2026-11-25T00:00:00Z")).unwrap();
        assert_eq!(next.spent_today().await.unwrap(), 0.0);
        assert!(Budget::new(f64::NAN, Arc::new(MemorySpend::new())).is_err());
        assert!(Budget::new(-1.0, Arc::new(MemorySpend::new())).is_err());
    }
}
