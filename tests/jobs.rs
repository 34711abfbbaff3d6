//! The durable job queue against both backends: SQLite in a temporary directory and the real
//! PostgreSQL at `postgres://postgres@127.0.0.1:5432/test` (override with
//! `PATCHGATE_TEST_DATABASE_URL`), with the isolation of `tests/store.rs`: each PostgreSQL test
//! gets its own schema (`pgtest_<pid>_<nanos>_<n>`), dropped when done. Time is injected (no
//! wall clock). These tests must never skip: an unreachable PostgreSQL fails them loudly.

use crate::support::pg;

use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use patchgate::server::metrics::Metrics;
use patchgate::server::worker::{run_worker, JobHandler, WorkerOptions};
use patchgate::store::{Enqueued, FailOutcome, Job, LostJob, NewJob, RetryPolicy, Store};
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
    lost_worker_on_the_last_attempt_parks_the_job,
    lost_workers_across_two_stores_park_once,
    retention_prunes_only_old_done_jobs,
    discard_gives_up_on_a_parked_job,
    a_job_longer_than_its_lease_runs_once,
);

const LEASE: Duration = Duration::from_secs(30);
/// The attempt limit of [`claim`]: higher than any test below reaches through it.
const MAX_ATTEMPTS: u32 = 5;

/// Claim as a worker does, with [`MAX_ATTEMPTS`]; these claims never park anything.
async fn claim(s: &Store, worker: &str, now: DateTime<Utc>) -> Option<Job> {
    let c = s.claim(worker, LEASE, MAX_ATTEMPTS, now).await.unwrap();
    assert!(c.parked.is_empty(), "unexpected parks: {:?}", c.parked);
    c.job
}

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
    let j = claim(&s, "w1", t(0)).await.unwrap();
    assert_eq!((j.id, j.payload.clone()), (id, job(1).payload));
    assert_eq!(j.delivery_id, job(1).delivery_id);
    assert!(s.complete(j.id, "w1", t(0)).await.unwrap());
    assert_eq!(t2.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
    assert!(claim(&s, "w1", t(1)).await.is_none());
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
    let a = claim(&s, "w1", t(0)).await.unwrap();
    let b = claim(&s, "w2", t(0)).await.unwrap();
    let c = claim(&s, "w1", t(0)).await.unwrap();
    assert_eq!(vec![a.id, b.id, c.id], ids);
    assert_eq!(a.attempts, 1);
    assert_eq!(a.lease_until, t(30));
    assert!(claim(&s, "w3", t(1)).await.is_none());
}

async fn expired_lease_is_reclaimed_and_old_owner_is_powerless(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let other = f.open().await; // another process
    let id = s.enqueue(&job(1)).await.unwrap().id();
    let a = claim(&s, "w1", t(0)).await.unwrap();
    assert_eq!(a.id, id);
    // Within the lease nobody else gets it.
    assert!(claim(&other, "w2", t(29)).await.is_none());
    // w1 was killed: at lease end another worker takes it, as a second attempt.
    let b = claim(&other, "w2", t(30)).await.unwrap();
    assert_eq!((b.id, b.attempts), (id, 2));
    // w1 comes back: it can neither complete, extend, fail nor release the job.
    assert!(!s.complete(id, "w1", t(0)).await.unwrap());
    assert!(!s.heartbeat(id, "w1", LEASE, t(31)).await.unwrap());
    assert!(!s.release(id, "w1").await.unwrap());
    assert_eq!(
        s.fail(id, "w1", "late", &policy(5), t(31)).await.unwrap(),
        FailOutcome::NotOwner
    );
    let c = s.counts().await.unwrap();
    assert_eq!((c["running"], c["done"], c["queued"]), (1, 0, 0));
    // The lease is still w2's (not reset by the failed calls), and w2 completes.
    assert!(claim(&s, "w3", t(59)).await.is_none());
    assert!(other.complete(id, "w2", t(0)).await.unwrap());
    assert!(
        !other.complete(id, "w2", t(0)).await.unwrap(),
        "completes once"
    );
    assert_eq!(s.counts().await.unwrap()["done"], 1);
    assert!(claim(&s, "w3", t(1000)).await.is_none());
}

async fn heartbeat_extends_only_for_owner(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let id = s.enqueue(&job(1)).await.unwrap().id();
    claim(&s, "w1", t(0)).await.unwrap();
    assert!(s.heartbeat(id, "w1", LEASE, t(20)).await.unwrap());
    assert!(!s.heartbeat(id, "w2", LEASE, t(45)).await.unwrap());
    // Extended to t(50): not claimable at t(45), claimable at t(50).
    assert!(claim(&s, "w2", t(45)).await.is_none());
    assert_eq!(claim(&s, "w2", t(50)).await.map(|j| j.id), Some(id));
}

async fn fail_backs_off_then_parks_and_requeue(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let p = policy(3);
    let id = s.enqueue(&job(1)).await.unwrap().id();
    // Attempt 1 fails: back off 10 s.
    claim(&s, "w1", t(0)).await.unwrap();
    assert_eq!(
        s.fail(id, "w1", "boom 1", &p, t(5)).await.unwrap(),
        FailOutcome::Retry {
            attempts: 1,
            run_after: t(15)
        }
    );
    assert!(
        !s.complete(id, "w1", t(0)).await.unwrap(),
        "no longer running"
    );
    assert!(claim(&s, "w1", t(14)).await.is_none());
    // Attempt 2 fails: back off 20 s.
    let j = claim(&s, "w2", t(15)).await.unwrap();
    assert_eq!(j.attempts, 2);
    assert_eq!(
        s.fail(id, "w2", "boom 2", &p, t(16)).await.unwrap(),
        FailOutcome::Retry {
            attempts: 2,
            run_after: t(36)
        }
    );
    assert!(claim(&s, "w1", t(35)).await.is_none());
    // Attempt 3 fails: parked, never claimed again.
    let j = claim(&s, "w1", t(36)).await.unwrap();
    assert_eq!(j.attempts, 3);
    let long = format!("boom 3 {}", "x".repeat(10_000));
    assert_eq!(
        s.fail(id, "w1", &long, &p, t(40)).await.unwrap(),
        FailOutcome::Parked { attempts: 3 }
    );
    assert!(claim(&s, "w1", t(100_000)).await.is_none());
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
    assert!(s.requeue(id, t(41)).await.unwrap());
    assert!(!s.requeue(id, t(41)).await.unwrap());
    assert!(s.parked().await.unwrap().is_empty());
    let j = claim(&s, "w1", t(41)).await.unwrap();
    assert_eq!((j.id, j.attempts), (id, 1));
    assert!(!s.requeue(id, t(41)).await.unwrap(), "running, not parked");
    assert!(s.complete(id, "w1", t(0)).await.unwrap());
    // The delivery stays a duplicate after all this.
    assert_eq!(s.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
}

async fn release_returns_job_without_counting(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let id = s.enqueue(&job(1)).await.unwrap().id();
    let j = claim(&s, "w1", t(0)).await.unwrap();
    assert_eq!(j.attempts, 1);
    assert!(!s.release(id, "w2").await.unwrap(), "not the owner");
    assert!(s.release(id, "w1").await.unwrap());
    assert!(!s.release(id, "w1").await.unwrap(), "already released");
    assert!(!s.complete(id, "w1", t(0)).await.unwrap());
    // Ready at once (no lease to wait out), and the released attempt does not count.
    let j = claim(&s, "w2", t(1)).await.unwrap();
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
    let a = claim(&s, "w", t(0)).await.unwrap();
    let b = claim(&s, "w", t(0)).await.unwrap();
    let c = claim(&s, "w", t(0)).await.unwrap();
    assert!(s.complete(a.id, "w", t(0)).await.unwrap());
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
                while let Some(j) = claim(&store, &worker, t(0)).await {
                    assert_eq!(j.attempts, 1, "job {} claimed twice", j.id);
                    tokio::task::yield_now().await;
                    assert!(store.complete(j.id, &worker, t(0)).await.unwrap());
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

/// A job whose worker dies on every attempt (killed, out of memory): each expired lease is a
/// new attempt, and once the attempts reach the limit the next claim parks it instead of
/// running it again — logged and counted by the worker from `Claim::parked`.
async fn lost_worker_on_the_last_attempt_parks_the_job(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let p = policy(3);
    let id = s.enqueue(&job(1)).await.unwrap().id();
    // Attempt 1 fails properly (backs off 10 s) ...
    let c = s.claim("w1", LEASE, 3, t(0)).await.unwrap();
    assert_eq!(c.job.map(|j| (j.id, j.attempts)), Some((id, 1)));
    assert!(matches!(
        s.fail(id, "w1", "boom 1", &p, t(1)).await.unwrap(),
        FailOutcome::Retry { .. }
    ));
    // ... attempts 2 and 3 lose their worker: the lease of each runs out.
    let c = s.claim("w2", LEASE, 3, t(11)).await.unwrap();
    assert_eq!(c.job.map(|j| (j.id, j.attempts)), Some((id, 2)));
    assert!(c.parked.is_empty());
    let c = s.claim("w3", LEASE, 3, t(41)).await.unwrap();
    assert_eq!(c.job.map(|j| (j.id, j.attempts)), Some((id, 3)));
    assert!(c.parked.is_empty());
    // Within the last lease nothing happens; another job queued meanwhile is still served.
    let other = s.enqueue(&job(2)).await.unwrap().id();
    let c = s.claim("w4", LEASE, 3, t(70)).await.unwrap();
    assert_eq!(c.job.map(|j| j.id), Some(other));
    assert!(c.parked.is_empty());
    // The last lease ran out: the next claim parks the job (and takes nothing else: none ready).
    let c = s.claim("w5", LEASE, 3, t(71)).await.unwrap();
    assert!(c.job.is_none(), "{:?}", c.job);
    assert_eq!(
        c.parked,
        vec![LostJob {
            id,
            delivery_id: job(1).delivery_id,
            event: "pull_request".into(),
            repo: "owner/name".into(),
            attempts: 3,
            lost: 2,
        }]
    );
    assert!(s.complete(other, "w4", t(72)).await.unwrap());
    // Parked for good: never claimed or parked again, the lost owner is powerless.
    let c = s.claim("w5", LEASE, 3, t(100_000)).await.unwrap();
    assert!(c.job.is_none() && c.parked.is_empty(), "{c:?}");
    assert!(!s.complete(id, "w3", t(72)).await.unwrap());
    assert!(!s.heartbeat(id, "w3", LEASE, t(72)).await.unwrap());
    let parked = s.parked().await.unwrap();
    assert_eq!(parked.len(), 1);
    let pj = &parked[0];
    assert_eq!((pj.id, pj.attempts, pj.lost), (id, 3, 2));
    assert_eq!(pj.updated_at, t(71));
    let err = pj.last_error.as_deref().unwrap();
    assert!(err.starts_with("worker lost on 2 of 3 attempts"), "{err}");
    assert!(err.ends_with("earlier error: boom 1"), "{err}");
    let m = s.counts().await.unwrap();
    assert_eq!((m["parked"], m["running"], m["done"]), (1, 0, 1));
    // Requeued: attempts, lost workers and the error start over.
    assert!(s.requeue(id, t(80)).await.unwrap());
    let j = claim(&s, "w6", t(81)).await.unwrap();
    assert_eq!((j.id, j.attempts), (id, 1));
    assert_eq!(
        s.fail(id, "w6", "boom again", &policy(1), t(82))
            .await
            .unwrap(),
        FailOutcome::Parked { attempts: 1 }
    );
    let pj = &s.parked().await.unwrap()[0];
    assert_eq!((pj.attempts, pj.lost), (1, 0));
    assert_eq!(pj.last_error.as_deref(), Some("boom again"));
    // With a limit of one attempt, a single lost worker parks the job.
    let id3 = s.enqueue(&job(3)).await.unwrap().id();
    let c = s.claim("w7", LEASE, 1, t(200)).await.unwrap();
    assert_eq!(c.job.map(|j| j.id), Some(id3));
    let c = s.claim("w8", LEASE, 1, t(230)).await.unwrap();
    assert_eq!(
        c.parked.iter().map(|j| (j.id, j.lost)).collect::<Vec<_>>(),
        [(id3, 1)]
    );
    let err = s.parked().await.unwrap()[1].last_error.clone().unwrap();
    assert!(err.starts_with("worker lost on 1 of 1 attempts"), "{err}");
    assert!(!err.contains("earlier error"), "{err}");
}

/// Lost jobs are parked exactly once, whichever process claims first, and each claim still
/// takes a ready job.
async fn lost_workers_across_two_stores_park_once(f: &Fixture, _backend: &str) {
    const JOBS: u32 = 20;
    let stores = [f.open().await, f.open().await];
    for n in 0..JOBS {
        stores[0].enqueue(&job(n)).await.unwrap();
    }
    // Every job's one and only attempt loses its worker.
    for n in 0..JOBS {
        let c = stores[(n % 2) as usize]
            .claim("dead", LEASE, 1, t(0))
            .await
            .unwrap();
        assert!(c.job.is_some());
    }
    let fresh = stores[0].enqueue(&job(1000)).await.unwrap().id();
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        for w in 0..3 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .claim(&format!("p{i}-w{w}"), LEASE, 1, t(30))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut parked = Vec::new();
    let mut taken = Vec::new();
    for task in tasks {
        let c = task.await.unwrap();
        parked.extend(c.parked.into_iter().map(|j| j.id));
        taken.extend(c.job.map(|j| j.id));
    }
    parked.sort_unstable();
    let before = parked.len();
    parked.dedup();
    assert_eq!(before, parked.len(), "a job parked twice");
    // Claims that skipped rows another one held leave them to the next claim.
    let c = stores[1].claim("late", LEASE, 1, t(31)).await.unwrap();
    parked.extend(c.parked.into_iter().map(|j| j.id));
    assert_eq!(parked.len(), JOBS as usize);
    assert_eq!(taken, vec![fresh], "the ready job is taken once");
    let m = stores[0].counts().await.unwrap();
    assert_eq!((m["parked"], m["running"]), (i64::from(JOBS), 1));
}

/// Retention: done jobs done before the cutoff go, in batches; recent done jobs and every
/// queued, running or parked job stay; a redelivery of a kept done job is still a duplicate.
async fn retention_prunes_only_old_done_jobs(f: &Fixture, _backend: &str) {
    const DAY: i64 = 86_400;
    let s = f.open().await;
    let mut old = Vec::new();
    for n in 0..5 {
        let id = s.enqueue(&job(n)).await.unwrap().id();
        let j = claim(&s, "w", t(i64::from(n))).await.unwrap();
        assert_eq!(j.id, id);
        assert!(s.complete(id, "w", t(i64::from(n) + 1)).await.unwrap());
        old.push(id);
    }
    let recent = s.enqueue(&job(10)).await.unwrap().id();
    claim(&s, "w", t(6 * DAY)).await.unwrap();
    assert!(s.complete(recent, "w", t(6 * DAY + 1)).await.unwrap());
    // A parked and a queued job, both untouched for longer than the retention.
    let parked = s.enqueue(&job(11)).await.unwrap().id();
    claim(&s, "w", t(10)).await.unwrap();
    assert_eq!(
        s.fail(parked, "w", "e", &policy(1), t(11)).await.unwrap(),
        FailOutcome::Parked { attempts: 1 }
    );
    let running = s.enqueue(&job(12)).await.unwrap().id();
    claim(&s, "w", t(8 * DAY - 5)).await.unwrap();
    let queued = s.enqueue(&job(13)).await.unwrap().id();
    let before = s.counts().await.unwrap();
    assert_eq!(
        (
            before["done"],
            before["parked"],
            before["running"],
            before["queued"]
        ),
        (6, 1, 1, 1)
    );
    // Keep 7 days at day 8: the five done on day 0 go, two rows per statement.
    let keep = Duration::from_secs(7 * DAY as u64);
    let gone = patchgate::server::prune_done_jobs(&s, keep, t(8 * DAY), 2)
        .await
        .unwrap();
    assert_eq!(gone, 5);
    let after = s.counts().await.unwrap();
    assert_eq!(
        (
            after["done"],
            after["parked"],
            after["running"],
            after["queued"]
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        patchgate::server::prune_done_jobs(&s, keep, t(8 * DAY), 2)
            .await
            .unwrap(),
        0,
        "nothing left to prune"
    );
    // The kept done delivery is still a duplicate; a pruned one is new again (GitHub
    // redelivers for 3 days only, which is why retention is at least that).
    assert_eq!(
        s.enqueue(&job(10)).await.unwrap(),
        Enqueued::Duplicate(recent)
    );
    assert!(matches!(s.enqueue(&job(0)).await.unwrap(), Enqueued::New(id) if !old.contains(&id)));
    // Parked, running and queued jobs are never pruned, however old.
    assert_eq!(
        patchgate::server::prune_done_jobs(&s, keep, t(1000 * DAY), 1000)
            .await
            .unwrap(),
        1,
        "only the recent done job"
    );
    assert_eq!(s.parked().await.unwrap()[0].id, parked);
    let m = s.counts().await.unwrap();
    assert_eq!(
        (m["done"], m["parked"], m["running"], m["queued"]),
        (0, 1, 1, 2)
    );
    assert_eq!(
        s.enqueue(&job(12)).await.unwrap(),
        Enqueued::Duplicate(running)
    );
    assert_eq!(
        s.enqueue(&job(13)).await.unwrap(),
        Enqueued::Duplicate(queued)
    );
    // A batch of nothing is a mistake, not a no-op.
    assert!(matches!(
        s.prune_done(t(0), 0).await,
        Err(patchgate::store::StoreError::Invalid(_))
    ));
}

/// `patchgate jobs discard`: a parked job becomes done without running, stays a duplicate, and
/// is pruned like any done job.
async fn discard_gives_up_on_a_parked_job(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let id = s.enqueue(&job(1)).await.unwrap().id();
    assert!(!s.discard(id, t(0)).await.unwrap(), "queued, not parked");
    claim(&s, "w", t(0)).await.unwrap();
    assert!(!s.discard(id, t(0)).await.unwrap(), "running, not parked");
    s.fail(id, "w", "boom", &policy(1), t(1)).await.unwrap();
    assert!(s.discard(id, t(2)).await.unwrap());
    assert!(!s.discard(id, t(3)).await.unwrap(), "already discarded");
    assert!(!s.requeue(id, t(3)).await.unwrap(), "done, not parked");
    assert!(s.parked().await.unwrap().is_empty());
    let m = s.counts().await.unwrap();
    assert_eq!((m["done"], m["parked"]), (1, 0));
    assert!(claim(&s, "w", t(4)).await.is_none());
    assert_eq!(s.enqueue(&job(1)).await.unwrap(), Enqueued::Duplicate(id));
    // Retention counts from the discard.
    let keep = Duration::from_secs(3 * 86_400);
    assert_eq!(
        patchgate::server::prune_done_jobs(&s, keep, t(2 + 3 * 86_400), 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        patchgate::server::prune_done_jobs(&s, keep, t(3 + 3 * 86_400), 10)
            .await
            .unwrap(),
        1
    );
}

/// Runs every job it is given by blocking its thread (as a long synchronous gate would) for
/// `hold`, and counts the runs.
struct BlockingHandler {
    hold: Duration,
    runs: Arc<std::sync::atomic::AtomicU32>,
}

impl JobHandler for BlockingHandler {
    fn handle<'a>(
        &'a self,
        _job: &'a Job,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(async move {
            self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(self.hold);
            Ok(())
        })
    }
}

/// A job whose handler blocks its thread for three leases, with a second worker (another
/// process's store) polling all along: the heartbeat keeps the lease, so the job runs once
/// and is done once.
///
/// The lease is 1.5 s (a beat every 0.5 s), not a few hundred milliseconds: on a loaded 2-core
/// machine running the whole suite a thread can wait that long for a core, and then the lease
/// runs out for a reason that has nothing to do with the heartbeat being starved by the job.
async fn a_job_longer_than_its_lease_runs_once(f: &Fixture, _backend: &str) {
    let lease = Duration::from_millis(1_500);
    let stores = [f.open().await, f.open().await];
    let id = stores[0].enqueue(&job(1)).await.unwrap().id();
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let opts = WorkerOptions {
        lease,
        poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        let handler = Arc::new(BlockingHandler {
            hold: 3 * lease,
            runs: Arc::clone(&runs),
        });
        workers.push(tokio::spawn(run_worker(
            format!("w-{n}"),
            store.clone(),
            handler,
            Metrics::new(),
            opts.clone(),
            Arc::new(tokio::sync::Notify::new()),
            stop_rx.clone(),
        )));
        if n == 0 {
            // The first worker takes the job before the second starts polling.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while runs.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the job never started"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = stores[1].counts().await.unwrap();
        if c.get("done") == Some(&1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never completed: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long enough for a second run to have started, had the lease been lost.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    stop_tx.send(true).unwrap();
    for w in workers {
        w.await.expect("worker");
    }
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "job {id} ran more than once"
    );
    let c = stores[0].counts().await.unwrap();
    assert_eq!((c["done"], c["queued"], c["running"]), (1, 0, 0), "{c:?}");
}
