//! The durable store against both backends: SQLite in a temporary directory and the real
//! PostgreSQL at `postgres://postgres@127.0.0.1:5432/test` (override with
//! `PATCHGATE_TEST_DATABASE_URL`).
//!
//! Every behaviour runs twice (`<behaviour>::sqlite`, `<behaviour>::postgres`). Each
//! PostgreSQL test gets its own schema (`pgtest_<pid>_<nanos>_<n>`; PostgreSQL reserves `pg_`), selected through the URL's
//! `options=-c search_path=…`, and drops it when done (also on panic), so tests running in
//! parallel — or in other processes — never see each other's rows. These tests must never
//! skip: an unreachable PostgreSQL fails them loudly.

use crate::support::pg;

use std::sync::Arc;

use patchgate::audit::spend::{Reservation, SpendError, SpendStore, Usage};
use patchgate::meta::ledger::{LedgerError, LedgerStore, NewLedgerRow, GENESIS};
use patchgate::store::StoreError;

use pg::Fixture;

both_backends!(
    "pgtest";
    open_is_idempotent,
    spend_reserve_settle_spent,
    spend_cap_holds_across_two_stores,
    spend_survives_reopen,
    ledger_chain_and_conflicts,
    ledger_concurrent_appends_one_wins,
    ledger_survives_reopen,
);

const DAY: &str = "2026-11-23";

fn reservation(auditor: &str, estimate_usd: f64) -> Reservation {
    Reservation {
        day: DAY.into(),
        auditor: auditor.into(),
        model: "m-1".into(),
        estimate_usd,
    }
}

fn usd(x: f64) -> Usage {
    Usage {
        usd: x,
        input_tokens: 1200,
        output_tokens: 300,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn record(n: u32, prev: &str) -> NewLedgerRow {
    NewLedgerRow {
        record_hash: format!("sha256:{n:064x}"),
        prev_record_hash: prev.to_string(),
        repo: "owner/name".into(),
        head: format!("{n:040x}"),
        record_yaml: format!("version: 1\nrepo: owner/name\nn: {n}\n"),
    }
}

async fn open_is_idempotent(f: &Fixture, backend: &str) {
    let s = f.open().await;
    assert_eq!(s.backend(), backend);
    s.ping().await.unwrap();
    let id = s.try_reserve(&reservation("a", 0.25), 1.0).await.unwrap();
    assert!(id.is_some());
    // Migrating again (a second process, or a restart) changes nothing.
    let t = f.open().await;
    t.ping().await.unwrap();
    let u = f.open().await;
    assert!(close(u.spent(DAY).await.unwrap(), 0.25));
    if backend == "sqlite" {
        assert!(f.data_dir().join("patchgate.db").is_file());
    }
}

async fn spend_reserve_settle_spent(f: &Fixture, _: &str) {
    let s = f.open().await;
    assert_eq!(s.spent(DAY).await.unwrap(), 0.0);
    let a = s
        .try_reserve(&reservation("r1", 0.2), 0.5)
        .await
        .unwrap()
        .unwrap();
    let b = s
        .try_reserve(&reservation("r2", 0.2), 0.5)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a, b);
    assert!(close(s.spent(DAY).await.unwrap(), 0.4));
    // 0.4 + 0.2 > 0.5: refused, and nothing is recorded for it.
    assert!(s
        .try_reserve(&reservation("r1", 0.2), 0.5)
        .await
        .unwrap()
        .is_none());
    assert!(close(s.spent(DAY).await.unwrap(), 0.4));
    // Settling replaces the estimate by the actual cost.
    s.settle(a, usd(0.05)).await.unwrap();
    assert!(close(s.spent(DAY).await.unwrap(), 0.25));
    assert!(s
        .try_reserve(&reservation("r1", 0.2), 0.5)
        .await
        .unwrap()
        .is_some());
    // Exactly at the cap fits, even with floating-point sums (0.45 + 0.05 == 0.5).
    assert!(s
        .try_reserve(&reservation("r1", 0.05), 0.5)
        .await
        .unwrap()
        .is_some());
    assert!(s
        .try_reserve(&reservation("r1", 0.01), 0.5)
        .await
        .unwrap()
        .is_none());
    // A failed call settles at zero.
    s.settle(b, Usage::default()).await.unwrap();
    assert!(close(s.spent(DAY).await.unwrap(), 0.3));
    // Days are separate.
    assert_eq!(s.spent("2026-11-24").await.unwrap(), 0.0);
    // Unknown reservation: Invalid.
    let missing = patchgate::audit::spend::ReservationId(a.0 + 1_000_000);
    assert!(matches!(
        s.settle(missing, usd(0.1)).await,
        Err(SpendError::Invalid(_))
    ));
    // Amounts that could defeat the cap are refused.
    assert!(matches!(
        s.try_reserve(&reservation("r1", -1.0), 0.5).await,
        Err(SpendError::Invalid(_))
    ));
    assert!(matches!(
        s.try_reserve(&reservation("r1", f64::NAN), 0.5).await,
        Err(SpendError::Invalid(_))
    ));
    assert!(matches!(
        s.try_reserve(&reservation("r1", 0.1), f64::NAN).await,
        Err(SpendError::Invalid(_))
    ));
}

async fn spend_cap_holds_across_two_stores(f: &Fixture, _: &str) {
    // Two pools on one database: two "processes".
    let one = Arc::new(f.open().await);
    let two = Arc::new(f.open().await);
    let cap = 1.0;
    let estimate = 0.125; // exact in binary: exactly 8 reservations fit
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            s.try_reserve(&reservation(&format!("r{i}"), estimate), cap)
                .await
        }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            granted += 1;
        }
    }
    assert_eq!(granted, 8, "reservations granted");
    let spent_one = one.spent(DAY).await.unwrap();
    let spent_two = two.spent(DAY).await.unwrap();
    assert_eq!(spent_one, spent_two);
    assert!(spent_one <= cap, "spent {spent_one} > cap {cap}");
    assert!(close(spent_one, 1.0));
}

async fn spend_survives_reopen(f: &Fixture, _: &str) {
    let s = f.open().await;
    let a = s
        .try_reserve(&reservation("r1", 0.3), 1.0)
        .await
        .unwrap()
        .unwrap();
    let _open = s
        .try_reserve(&reservation("r2", 0.2), 1.0)
        .await
        .unwrap()
        .unwrap();
    s.settle(a, usd(0.1)).await.unwrap();
    s.close().await;
    drop(s);
    let s = f.open().await;
    assert!(close(s.spent(DAY).await.unwrap(), 0.3));
    // The open reservation still counts against the cap after a restart.
    assert!(s
        .try_reserve(&reservation("r1", 0.75), 1.0)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .try_reserve(&reservation("r1", 0.7), 1.0)
        .await
        .unwrap()
        .is_some());
    // And the settled row can still be found (settling it again overwrites, no Invalid).
    s.settle(a, usd(0.1)).await.unwrap();
}

async fn ledger_chain_and_conflicts(f: &Fixture, _: &str) {
    let s = f.open().await;
    assert_eq!(s.last().await.unwrap(), None);
    assert!(s.all().await.unwrap().is_empty());
    // The first record must point at the genesis value.
    assert!(matches!(
        s.append(&record(1, "sha256:beef")).await,
        Err(LedgerError::Conflict(_))
    ));
    let mut prev = GENESIS.to_string();
    for n in 1..=5 {
        let r = record(n, &prev);
        assert_eq!(s.append(&r).await.unwrap(), i64::from(n));
        prev = r.record_hash;
    }
    // A stale prev (the chain has moved on) and an unknown prev: Conflict, nothing written.
    assert!(matches!(
        s.append(&record(6, &record(3, "").record_hash)).await,
        Err(LedgerError::Conflict(_))
    ));
    assert!(matches!(
        s.append(&record(6, GENESIS)).await,
        Err(LedgerError::Conflict(_))
    ));
    // Re-appending the last record's own hash is a conflict too (record_hash is unique).
    let mut dup = record(5, &prev);
    dup.prev_record_hash = prev.clone();
    assert!(matches!(
        s.append(&dup).await,
        Err(LedgerError::Conflict(_))
    ));

    let all = s.all().await.unwrap();
    assert_eq!(all.len(), 5);
    let mut expect_prev = GENESIS.to_string();
    for (i, row) in all.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(row.seq, i64::from(n));
        assert_eq!(row.prev_record_hash, expect_prev);
        let want = record(n, &expect_prev);
        assert_eq!(row.record_hash, want.record_hash);
        assert_eq!(row.repo, want.repo);
        assert_eq!(row.head, want.head);
        assert_eq!(row.record_yaml, want.record_yaml);
        expect_prev = row.record_hash.clone();
    }
    assert_eq!(s.last().await.unwrap().as_ref(), all.last());
}

async fn ledger_concurrent_appends_one_wins(f: &Fixture, _: &str) {
    let one = Arc::new(f.open().await);
    let two = Arc::new(f.open().await);
    let first = record(1, GENESIS);
    one.append(&first).await.unwrap();
    // Several rounds: each time, two processes race to append after the same last record.
    let mut prev = first.record_hash.clone();
    for round in 0..5u32 {
        let a = record(100 + 2 * round, &prev);
        let b = record(101 + 2 * round, &prev);
        let (ra, rb) = {
            let (one, two) = (one.clone(), two.clone());
            let (a2, b2) = (a.clone(), b.clone());
            let ta = tokio::spawn(async move { one.append(&a2).await });
            let tb = tokio::spawn(async move { two.append(&b2).await });
            (ta.await.unwrap(), tb.await.unwrap())
        };
        let seq = i64::from(round) + 2;
        match (&ra, &rb) {
            (Ok(s), Err(LedgerError::Conflict(_))) => {
                assert_eq!(*s, seq);
                prev = a.record_hash.clone();
            }
            (Err(LedgerError::Conflict(_)), Ok(s)) => {
                assert_eq!(*s, seq);
                prev = b.record_hash.clone();
            }
            other => panic!("round {round}: expected exactly one winner, got {other:?}"),
        }
    }
    let all = one.all().await.unwrap();
    assert_eq!(all.len(), 6);
    for (i, w) in all.windows(2).enumerate() {
        assert_eq!(w[0].seq, i as i64 + 1);
        assert_eq!(w[1].seq, w[0].seq + 1, "no gaps");
        assert_eq!(w[1].prev_record_hash, w[0].record_hash, "no forks");
    }
    assert_eq!(all, two.all().await.unwrap());
}

async fn ledger_survives_reopen(f: &Fixture, _: &str) {
    let s = f.open().await;
    let a = record(1, GENESIS);
    let b = record(2, &a.record_hash);
    s.append(&a).await.unwrap();
    s.append(&b).await.unwrap();
    s.close().await;
    drop(s);
    let s = f.open().await;
    let all = s.all().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].record_hash, b.record_hash);
    assert_eq!(s.last().await.unwrap().unwrap().seq, 2);
    // The chain continues where it left off.
    let c = record(3, &b.record_hash);
    assert_eq!(s.append(&c).await.unwrap(), 3);
}

/// PostgreSQL over TLS (rustls). The local server has `ssl = on` with a self-signed
/// certificate: `sslmode=require` — what managed PostgreSQL asks for — connects encrypted;
/// `disable` connects in the clear; `verify-full` refuses the certificate (no trusted root
/// signed it) with an error that names the problem. SQLite has no connection to encrypt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls() {
    let schema = pg::PgSchema::new("pgtest_tls").await;
    let dir = tempfile::tempdir().unwrap();
    let url = |mode: &str| format!("{}&sslmode={mode}", schema.url);

    let s = patchgate::store::Store::open(dir.path(), Some(&url("require")))
        .await
        .unwrap_or_else(|e| panic!("sslmode=require: {e}"));
    assert_eq!(s.encrypted().await.unwrap(), Some(true));
    // Migrated and usable over the encrypted connection.
    let id = s.try_reserve(&reservation("tls", 0.25), 1.0).await.unwrap();
    assert!(id.is_some());
    assert!(close(s.spent(DAY).await.unwrap(), 0.25));
    s.close().await;

    let s = patchgate::store::Store::open(dir.path(), Some(&url("disable")))
        .await
        .unwrap();
    assert_eq!(s.encrypted().await.unwrap(), Some(false));
    assert!(close(s.spent(DAY).await.unwrap(), 0.25));
    s.close().await;

    let e = patchgate::store::Store::open(dir.path(), Some(&url("verify-full")))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    assert!(
        e.to_string().contains("cannot connect to PostgreSQL"),
        "{e}"
    );

    let sqlite = patchgate::store::Store::open(dir.path(), None)
        .await
        .unwrap();
    assert_eq!(sqlite.encrypted().await.unwrap(), None);
}
