//! The durable job queue against both backends: SQLite in a temporary directory and the real
//! PostgreSQL at `postgres://postgres@127.0.0.1:5432/test` (override with
//! `PATCHGATE_TEST_DATABASE_URL`), with the isolation of `tests/store.rs`: each PostgreSQL test
//! gets its own schema (`pgtest_<pid>_<nanos>_<n>`), dropped when done. Time is injected (no
//! wall clock). These tests must never skip: an unreachable PostgreSQL fails them loudly.

#[path = "support/pg.rs"]
mod pg;

use std::sync::Arc;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use patchgate::store::{Enqueued, FailOutcome, NewJob, RetryPolicy};
use tokio::sync::Mutex;

use pg::Fixture;

both_backends!(
    "pgtest";
    enqueue_dedupes_durably,
    claim_takes_oldest_ready,
    expired_lease_is_reclaimed_and_old_owner_is_powerless,
    heartbeat_extends_only_for_owner,
    fail_backs_off_then_parks_and_requeue,
    release_returns_job_without_counting,
    counts_per_state,
    exactly_once_across_two_stores,
);

const LEASE: Duration = Duration::from_secs(30);

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0).unwrap()
}

fn job(n: u32) -> NewJob {
    NewJob {
        delivery_id: format!("72d3162e-cc78-11e3-81ab-{n:012x}"),
        event: "pull_request".into(),
        payload: format!("{{\"number\":{n},\"bytes\":\"\u{e9}\\u0000\"}}").into_bytes(),
        repo: "owner/name".into(),
    }
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(25),
    }
}

async fn enqueue_dedupes_durably(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let first = s.enqueue(&job(1)).await.unwrap();
    let Enqueued::New(id) = first else {
        panic!("first enqueue: {first:?}")
    };
    assert_eq!(s.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
    // Even with another body, and from another process after a restart.
    let t2 = f.open().await;
    let mut other = job(1);
    other.payload = b"different".to_vec();
    assert_eq!(t2.enqueue(&other).await.unwrap(), Enqueued::Duplicate(id));
    assert_eq!(s.counts().await.unwrap()["queued"], 1);
    // Stored as received; still a duplicate once done.
    let j = s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert_eq!((j.id, j.payload.clone()), (id, job(1).payload));
    assert_eq!(j.delivery_id, job(1).delivery_id);
    assert!(s.complete(j.id, "w1").await.unwrap());
    assert_eq!(t2.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
    assert!(s.claim("w1", LEASE, t(1)).await.unwrap().is_none());
    // An empty delivery id is refused, not stored.
    let mut bad = job(2);
    bad.delivery_id = " ".into();
    assert!(s.enqueue(&bad).await.is_err());
    let c = s.counts().await.unwrap();
    assert_eq!((c["queued"], c["done"]), (0, 1));
}

async fn claim_takes_oldest_ready(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let ids: Vec<i64> = {
        let mut v = Vec::new();
        for n in 0..3 {
            v.push(s.enqueue(&job(n)).await.unwrap().id());
        }
        v
    };
    let a = s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    let b = s.claim("w2", LEASE, t(0)).await.unwrap().unwrap();
    let c = s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert_eq!(vec![a.id, b.id, c.id], ids);
    assert_eq!(a.attempts, 1);
    assert_eq!(a.lease_until, t(30));
    assert!(s.claim("w3", LEASE, t(1)).await.unwrap().is_none());
}

async fn expired_lease_is_reclaimed_and_old_owner_is_powerless(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let other = f.open().await; // another process
    let id = s.enqueue(&job(1)).await.unwrap().id();
    let a = s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert_eq!(a.id, id);
    // Within the lease nobody else gets it.
    assert!(other.claim("w2", LEASE, t(29)).await.unwrap().is_none());
    // w1 was killed: at lease end another worker takes it, as a second attempt.
    let b = other.claim("w2", LEASE, t(30)).await.unwrap().unwrap();
    assert_eq!((b.id, b.attempts), (id, 2));
    // w1 comes back: it can neither complete, extend, fail nor release the job.
    assert!(!s.complete(id, "w1").await.unwrap());
    assert!(!s.heartbeat(id, "w1", LEASE, t(31)).await.unwrap());
    assert!(!s.release(id, "w1").await.unwrap());
    assert_eq!(
        s.fail(id, "w1", "late", &policy(5), t(31)).await.unwrap(),
        FailOutcome::NotOwner
    );
    let c = s.counts().await.unwrap();
    assert_eq!((c["running"], c["done"], c["queued"]), (1, 0, 0));
    // The lease is still w2's (not reset by the failed calls), and w2 completes.
    assert!(s.claim("w3", LEASE, t(59)).await.unwrap().is_none());
    assert!(other.complete(id, "w2").await.unwrap());
    assert!(!other.complete(id, "w2").await.unwrap(), "completes once");
    assert_eq!(s.counts().await.unwrap()["done"], 1);
    assert!(s.claim("w3", LEASE, t(1000)).await.unwrap().is_none());
}

async fn heartbeat_extends_only_for_owner(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let id = s.enqueue(&job(1)).await.unwrap().id();
    s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert!(s.heartbeat(id, "w1", LEASE, t(20)).await.unwrap());
    assert!(!s.heartbeat(id, "w2", LEASE, t(45)).await.unwrap());
    // Extended to t(50): not claimable at t(45), claimable at t(50).
    assert!(s.claim("w2", LEASE, t(45)).await.unwrap().is_none());
    assert_eq!(
        s.claim("w2", LEASE, t(50)).await.unwrap().map(|j| j.id),
        Some(id)
    );
}

async fn fail_backs_off_then_parks_and_requeue(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let p = policy(3);
    let id = s.enqueue(&job(1)).await.unwrap().id();
    // Attempt 1 fails: back off 10 s.
    s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert_eq!(
        s.fail(id, "w1", "boom 1", &p, t(5)).await.unwrap(),
        FailOutcome::Retry {
            attempts: 1,
            run_after: t(15)
        }
    );
    assert!(!s.complete(id, "w1").await.unwrap(), "no longer running");
    assert!(s.claim("w1", LEASE, t(14)).await.unwrap().is_none());
    // Attempt 2 fails: back off 20 s.
    let j = s.claim("w2", LEASE, t(15)).await.unwrap().unwrap();
    assert_eq!(j.attempts, 2);
    assert_eq!(
        s.fail(id, "w2", "boom 2", &p, t(16)).await.unwrap(),
        FailOutcome::Retry {
            attempts: 2,
            run_after: t(36)
        }
    );
    assert!(s.claim("w1", LEASE, t(35)).await.unwrap().is_none());
    // Attempt 3 fails: parked, never claimed again.
    let j = s.claim("w1", LEASE, t(36)).await.unwrap().unwrap();
    assert_eq!(j.attempts, 3);
    let long = format!("boom 3 {}", "x".repeat(10_000));
    assert_eq!(
        s.fail(id, "w1", &long, &p, t(40)).await.unwrap(),
        FailOutcome::Parked { attempts: 3 }
    );
    assert!(s.claim("w1", LEASE, t(100_000)).await.unwrap().is_none());
    let parked = s.parked().await.unwrap();
    assert_eq!(parked.len(), 1);
    let pj = &parked[0];
    assert_eq!((pj.id, pj.attempts, pj.state.as_str()), (id, 3, "parked"));
    assert_eq!(pj.delivery_id, job(1).delivery_id);
    assert_eq!(pj.updated_at, t(40));
    let err = pj.last_error.as_deref().unwrap();
    assert!(err.starts_with("boom 3"));
    assert_eq!(err.chars().count(), patchgate::store::jobs::MAX_ERROR_CHARS);
    assert_eq!(s.counts().await.unwrap()["parked"], 1);
    // Requeue: ready at once, attempts reset; only parked jobs can be requeued.
    assert!(s.requeue(id).await.unwrap());
    assert!(!s.requeue(id).await.unwrap());
    assert!(s.parked().await.unwrap().is_empty());
    let j = s.claim("w1", LEASE, t(41)).await.unwrap().unwrap();
    assert_eq!((j.id, j.attempts), (id, 1));
    assert!(!s.requeue(id).await.unwrap(), "running, not parked");
    assert!(s.complete(id, "w1").await.unwrap());
    // The delivery stays a duplicate after all this.
    assert_eq!(s.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
}

async fn release_returns_job_without_counting(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let id = s.enqueue(&job(1)).await.unwrap().id();
    let j = s.claim("w1", LEASE, t(0)).await.unwrap().unwrap();
    assert_eq!(j.attempts, 1);
    assert!(!s.release(id, "w2").await.unwrap(), "not the owner");
    assert!(s.release(id, "w1").await.unwrap());
    assert!(!s.release(id, "w1").await.unwrap(), "already released");
    assert!(!s.complete(id, "w1").await.unwrap());
    // Ready at once (no lease to wait out), and the released attempt does not count.
    let j = s.claim("w2", LEASE, t(1)).await.unwrap().unwrap();
    assert_eq!((j.id, j.attempts), (id, 1));
}

async fn counts_per_state(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let c = s.counts().await.unwrap();
    assert_eq!(
        c.into_iter().collect::<Vec<_>>(),
        vec![
            ("done".to_string(), 0),
            ("parked".to_string(), 0),
            ("queued".to_string(), 0),
            ("running".to_string(), 0)
        ]
    );
    for n in 0..5 {
        s.enqueue(&job(n)).await.unwrap();
    }
    let a = s.claim("w", LEASE, t(0)).await.unwrap().unwrap();
    let b = s.claim("w", LEASE, t(0)).await.unwrap().unwrap();
    let c = s.claim("w", LEASE, t(0)).await.unwrap().unwrap();
    assert!(s.complete(a.id, "w").await.unwrap());
    assert_eq!(
        s.fail(b.id, "w", "e", &policy(1), t(1)).await.unwrap(),
        FailOutcome::Parked { attempts: 1 }
    );
    let _ = c;
    let m = s.counts().await.unwrap();
    assert_eq!(
        (m["queued"], m["running"], m["done"], m["parked"]),
        (2, 1, 1, 1)
    );
}

/// Two stores (two pools: two `serve` processes), four workers each, 200 deliveries: every
/// job completed exactly once, none lost.
async fn exactly_once_across_two_stores(f: &Fixture, _backend: &str) {
    const JOBS: u32 = 200;
    let stores = [f.open().await, f.open().await];
    let mut all = Vec::new();
    for n in 0..JOBS {
        // Every delivery arrives twice, at either process.
        let a = stores[(n % 2) as usize].enqueue(&job(n)).await.unwrap();
        let b = stores[((n + 1) % 2) as usize]
            .enqueue(&job(n))
            .await
            .unwrap();
        assert!(matches!(a, Enqueued::New(_)), "{a:?}");
        assert_eq!(b, Enqueued::Duplicate(a.id()));
        all.push(a.id());
    }
    let done: Arc<Mutex<Vec<(i64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (si, store) in stores.iter().enumerate() {
        for wi in 0..4 {
            let store = store.clone();
            let done = Arc::clone(&done);
            let worker = format!("p{si}-w{wi}");
            tasks.push(tokio::spawn(async move {
                let mut mine = 0u32;
                while let Some(j) = store.claim(&worker, LEASE, t(0)).await.unwrap() {
                    assert_eq!(j.attempts, 1, "job {} claimed twice", j.id);
                    tokio::task::yield_now().await;
                    assert!(store.complete(j.id, &worker).await.unwrap());
                    done.lock().await.push((j.id, worker.clone()));
                    mine += 1;
                }
                mine
            }));
        }
    }
    let mut per_worker = Vec::new();
    for t in tasks {
        per_worker.push(t.await.expect("worker task"));
    }
    let mut ids: Vec<i64> = done.lock().await.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), JOBS as usize, "completions: {per_worker:?}");
    ids.sort_unstable();
    all.sort_unstable();
    assert_eq!(ids, all, "every job exactly once");
    assert_eq!(per_worker.iter().sum::<u32>(), JOBS);
    let m = stores[0].counts().await.unwrap();
    assert_eq!(
        (m["done"], m["queued"], m["running"]),
        (i64::from(JOBS), 0, 0)
    );
}
