//! The daily budget of the model auditors: a cap in USD per UTC day, shared by every model
//! auditor, kept in a durable [`SpendStore`] so it survives restarts.
//!
//! A call is reserved at its estimate before it is made and settled at its actual cost
//! after. It must never let a call through without a reservation, and never treat a store
//! failure as room in the budget (the caller abstains).
//!
//! # Never more than one call's overrun past the cap
//!
//! Reserving at the estimate alone bounds the overrun to one call only when calls run one
//! after the other: two calls in flight at once (two model auditors of one quorum) each fit
//! at reservation, then each costs more than its estimate, and their overruns add up. And
//! since an overrun has no hard limit, no two calls may be in flight together near the cap.
//! So the clones of one `Budget` share a gate, a read-write lock held from reservation to
//! settlement (by the [`Reserved`] ticket):
//!
//! * **Concurrent (shared) call** — admitted, one admission at a time, only when even if every
//!   call then in flight, this one included, cost [`overrun_factor`](Budget::overrun_factor)
//!   × its estimate, the day would stay within the cap:
//!   `settled + k × (in-flight estimates + estimate) ≤ cap`. Far from the cap, calls run
//!   concurrently.
//! * **Exclusive call** — otherwise (near the cap) the call waits until no call of this budget
//!   is in flight and holds the gate alone until it is settled; its reservation then sees every
//!   earlier call at its actual cost, so `settled + estimate ≤ cap` and it ends at
//!   `≤ cap + (its actual − its estimate)`. Calls that come after it wait for it, then see its
//!   actual cost.
//!
//! Proof sketch: while no exclusive call runs, `settled + k × in-flight ≤ cap` holds (each
//! admission checks it, each settlement at `actual ≤ k × estimate` keeps it), so the spend
//! stays within the cap; an exclusive call runs alone and passes the cap by at most its own
//! overrun, after which the cap refuses everything if it was passed. Hence the day's spend
//! never exceeds `cap + max(one call's actual − estimate)`.
//!
//! Assumptions, stated: a shared call whose actual cost is more than `k` × its estimate may
//! still stack with another call's overrun (the default `k` = 4: an estimate charges the
//! output limit in full, which the API enforces, and input at one token per 4 characters,
//! while byte-level tokenizers give at most one token per byte); `k = ∞` makes every call
//! exclusive, which holds unconditionally. The gate is in-process and shared by clones only:
//! every auditor must get a clone of ONE `Budget`, and two processes over one database each
//! keep their own gate (each still bounded by its reservations).

use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::spend::{Reservation, ReservationId, SpendError, SpendStore, Usage};

/// The default daily cap across all model auditors (`PATCHGATE_COST_DAILY_LIMIT_USD`).
pub const DEFAULT_DAILY_USD: f64 = 0.50;

/// The default bound assumed on `actual / estimate` for calls that run concurrently.
pub const DEFAULT_OVERRUN_FACTOR: f64 = 4.0;

/// The clock a budget reads the day from (injected for tests): the crate's one clock type.
pub use crate::util::Clock;

/// The gate shared by the clones of one budget.
#[derive(Debug, Default)]
struct Gate {
    /// Read: a concurrent call in flight; write: an exclusive call in flight.
    calls: Arc<RwLock<()>>,
    /// One admission decision at a time.
    admit: tokio::sync::Mutex<()>,
    /// The estimates of the concurrent calls in flight.
    in_flight_usd: Mutex<f64>,
}

impl Gate {
    fn in_flight(&self) -> f64 {
        *self.in_flight_usd.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, usd: f64) {
        let mut g = self.in_flight_usd.lock().unwrap_or_else(|e| e.into_inner());
        *g = (*g + usd).max(0.0);
    }
}

/// The shared daily budget. Clones share the store and the gate.
#[derive(Clone)]
pub struct Budget {
    cap_usd: f64,
    overrun_factor: f64,
    store: Arc<dyn SpendStore>,
    clock: Clock,
    gate: Arc<Gate>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("cap_usd", &self.cap_usd)
            .field("overrun_factor", &self.overrun_factor)
            .finish_non_exhaustive()
    }
}

/// A budget configuration that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("daily budget must be a finite number of USD >= 0, not {0}")]
pub struct BudgetError(pub f64);

enum Hold {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// A reservation in flight: holds the budget's gate until it is [settled](Budget::settle)
/// (or dropped, which releases the gate and leaves the reservation at its estimate).
pub struct Reserved {
    id: ReservationId,
    estimate_usd: f64,
    gate: Arc<Gate>,
    hold: Hold,
}

impl Reserved {
    pub fn id(&self) -> ReservationId {
        self.id
    }

    /// Whether the call holds the gate alone (it was reserved near the cap).
    pub fn is_exclusive(&self) -> bool {
        matches!(self.hold, Hold::Exclusive(_))
    }
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reserved")
            .field("id", &self.id)
            .field("estimate_usd", &self.estimate_usd)
            .field("exclusive", &self.is_exclusive())
            .finish()
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Hold::Shared(_) = self.hold {
            self.gate.add(-self.estimate_usd);
        }
    }
}

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
            overrun_factor: DEFAULT_OVERRUN_FACTOR,
            store,
            clock,
            gate: Arc::new(Gate::default()),
        })
    }

    /// Set the bound `k` assumed on `actual / estimate` for concurrent calls (at least 1;
    /// `f64::INFINITY` makes every call exclusive). See the module docs.
    pub fn with_overrun_factor(mut self, k: f64) -> Self {
        self.overrun_factor = if k.is_nan() {
            f64::INFINITY
        } else {
            k.max(1.0)
        };
        self
    }

    pub fn overrun_factor(&self) -> f64 {
        self.overrun_factor
    }

    pub fn cap_usd(&self) -> f64 {
        self.cap_usd
    }

    /// Today, UTC, as `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        (self.clock)().format("%Y-%m-%d").to_string()
    }

    /// Reserve a call's estimate under today's cap; `Ok(None)` when it would not fit. The
    /// ticket holds the gate until [`settle`](Self::settle): near the cap this waits until
    /// no other call of this budget is in flight (see the module docs).
    pub async fn reserve(
        &self,
        auditor: &str,
        model: &str,
        estimate_usd: f64,
    ) -> Result<Option<Reserved>, SpendError> {
        let r = Reservation {
            day: self.today(),
            auditor: auditor.to_string(),
            model: model.to_string(),
            estimate_usd,
        };
        let k = self.overrun_factor;
        // What does not fit now, reservations counted, is refused at once (not waited for).
        if self.store.spent(&r.day).await? + estimate_usd > self.cap_usd {
            return Ok(None);
        }
        {
            let read = self.gate.calls.clone().read_owned().await;
            let _admit = self.gate.admit.lock().await;
            let spent = self.store.spent(&r.day).await?;
            let in_flight = self.gate.in_flight();
            let worst = spent + estimate_usd + (k - 1.0) * (in_flight + estimate_usd);
            if worst <= self.cap_usd {
                let Some(id) = self.store.try_reserve(&r, self.cap_usd).await? else {
                    return Ok(None);
                };
                self.gate.add(estimate_usd);
                return Ok(Some(Reserved {
                    id,
                    estimate_usd,
                    gate: self.gate.clone(),
                    hold: Hold::Shared(read),
                }));
            }
        }
        // Near the cap: alone, after every call in flight has settled.
        let write = self.gate.calls.clone().write_owned().await;
        let Some(id) = self.store.try_reserve(&r, self.cap_usd).await? else {
            return Ok(None);
        };
        Ok(Some(Reserved {
            id,
            estimate_usd,
            gate: self.gate.clone(),
            hold: Hold::Exclusive(write),
        }))
    }

    /// Replace a reservation by the call's actual cost, then release the gate.
    pub async fn settle(&self, reserved: Reserved, actual: Usage) -> Result<(), SpendError> {
        let out = self.store.settle(reserved.id, actual).await;
        drop(reserved);
        out
    }

    /// Today's spend (settled and reserved).
    pub async fn spent_today(&self) -> Result<f64, SpendError> {
        let day = self.today();
        self.store.spent(&day).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::spend::MemorySpend;
    use chrono::DateTime;

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

    /// 50 calls on one budget (clones), concurrently, each reserving its estimate and
    /// settling a random actual in [0.5, 3] × estimate after a random short sleep: the day
    /// ends at most one call's overrun past the cap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_overruns_never_stack() {
        for round in 0..5u64 {
            let store = Arc::new(MemorySpend::new());
            let cap = 1.0;
            let budget =
                Budget::with_clock(cap, store.clone(), at("2026-11-23T12:00:00Z")).unwrap();
            let mut tasks = Vec::new();
            for i in 0..50u64 {
                let b = budget.clone();
                tasks.push(tokio::spawn(async move {
                    let estimate = 0.02 + 0.01 * ((i * 7 + round) % 5) as f64;
                    let t = b.reserve("a", "m", estimate).await.unwrap()?;
                    let sleep_ms = rand::random_range(1..=15u64);
                    tokio::time::sleep(std::time::Duration::from_millis(sleep_ms)).await;
                    let actual = estimate * rand::random_range(0.5..=3.0f64);
                    b.settle(
                        t,
                        Usage {
                            usd: actual,
                            ..Usage::default()
                        },
                    )
                    .await
                    .unwrap();
                    Some(actual - estimate)
                }));
            }
            let mut max_overrun = 0.0f64;
            let mut calls = 0;
            for t in tasks {
                if let Some(o) = t.await.unwrap() {
                    calls += 1;
                    max_overrun = max_overrun.max(o);
                }
            }
            let spent = budget.spent_today().await.unwrap();
            assert!(
                spent <= cap + max_overrun + 1e-9,
                "round {round}: {spent} > {cap} + {max_overrun} ({calls} calls)"
            );
            assert!(calls >= 5, "{calls}");
            assert!(budget.gate.in_flight().abs() < 1e-12);
        }
    }

    #[tokio::test]
    async fn far_from_the_cap_calls_are_concurrent_near_it_exclusive() {
        let store: Arc<dyn SpendStore> = Arc::new(MemorySpend::new());
        let b = Budget::with_clock(1.0, store, at("2026-11-23T12:00:00Z")).unwrap();
        let t1 = b.reserve("a", "m", 0.1).await.unwrap().unwrap();
        let t2 = b.clone().reserve("b", "m", 0.1).await.unwrap().unwrap();
        assert!(!t1.is_exclusive() && !t2.is_exclusive());
        // 4 × (0.2 + 0.2) > 1: this one must wait for both to settle.
        let b3 = b.clone();
        let third = tokio::spawn(async move { b3.reserve("c", "m", 0.2).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!third.is_finished());
        b.settle(t1, Usage::default()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!third.is_finished());
        b.settle(t2, Usage::default()).await.unwrap();
        let t3 = third.await.unwrap().unwrap().unwrap();
        assert!(t3.is_exclusive());
        // Nothing fits beside an exclusive call; a dropped ticket releases the gate.
        drop(t3);
        assert!(b.reserve("d", "m", 0.1).await.unwrap().is_some());
    }
}
