//! The web view's pages under a full store: 10,000 decision records in the ledger (SQLite, then
//! PostgreSQL), the `/ui` routes served on loopback by the same router `serve` mounts, requested
//! by one signed-in reader; p50/p95/max per page (target: p95 < 50 ms) for a record page (a
//! random record each time), the decisions list's first page and a filtered page.
//!
//! Run: `cargo bench --bench web_pages` (see benches/README.md, "Web view pages"). PostgreSQL at
//! `PATCHGATE_TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test), in a schema
//! of its own that is dropped afterwards; `--sqlite-only` skips it.
//!
//! Not timed: GitHub's answer to "can this reader read the repository?" — the server remembers
//! it per session for a minute, and the bench fills that memory before each request (nothing
//! here reaches GitHub; the OAuth client points at a closed port).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use patchgate::config::Permission;
use patchgate::meta::ledger::{LedgerStore, GENESIS};
use patchgate::meta::record::MetaRecord;
use patchgate::server::web::oauth::OAuth;
use patchgate::server::web::session::{Sessions, COOKIE};
use patchgate::server::web::{web_routes, WebState};
use patchgate::store::Store;
use sqlx::{ConnectOptions, Connection};

const RECORDS: usize = 10_000;
const REPOS: usize = 20;
const REQUESTS: usize = 300;

/// A page to time: its name, its path (given a random number), what its answer must contain.
type Page<'a> = (&'a str, &'a dyn Fn(usize) -> String, &'a str);

fn repo(i: usize) -> String {
    format!("octo/service-{:02}", i % REPOS)
}

/// Record `i`: a pull request with three votes, most with a render B, a fifth escalated.
fn record_yaml(i: usize) -> String {
    let pr = 1000 + i;
    let escalated = i.is_multiple_of(5);
    let passed = !i.is_multiple_of(3);
    let b = if i.is_multiple_of(7) {
        String::new()
    } else {
        format!(
            "  b: {{commit: {:040x}, source: \"pr#{}\"}}\n",
            i * 31 + 7,
            pr + 1
        )
    };
    let agreed = !escalated;
    let variance = if escalated { 7.5 } else { 1.25 };
    format!(
        "version: 1\nrepo: {repo}\nchange: {{pr: {pr}, base: {base:040x}, head: {head:040x}}}\n\
         renders:\n  a: {{commit: {head:040x}}}\n{b}\
         ast_diff: {{variance_percent: {variance}, threshold_percent: 3.0, agreed: {agreed}}}\n\
         audit:\n  required: 2\n  votes:\n\
         \x20 - {{auditor: rule-guard, verdict: approve, findings: 0, cost_usd: 0.0}}\n\
         \x20 - {{auditor: reviewer-1, verdict: {v1}, findings: 1, cost_usd: 0.004}}\n\
         \x20 - {{auditor: reviewer-2, verdict: abstain, reason: daily budget spent, findings: 0}}\n\
         decision: {{reason: \"{reason}\", decided_by: [rule-guard, reviewer-1]}}\n\
         quorum_passed: {passed}\ncreated_at: \"2026-12-{day:02}T{h:02}:{m:02}:{s:02}Z\"\n",
        repo = repo(i),
        base = i * 17 + 1,
        head = i * 13 + 3,
        v1 = if passed { "approve" } else { "reject" },
        reason = if passed { "2 of 3 approved" } else { "1 of 3 approved" },
        day = 1 + (i / 2000) % 28,
        h = (i / 60) % 24,
        m = i % 60,
        s = (i * 7) % 60,
    )
}

async fn fill(store: &Store) {
    let t = Instant::now();
    let mut prev = GENESIS.to_string();
    for i in 0..RECORDS {
        let row = MetaRecord::from_yaml(&record_yaml(i))
            .expect("a valid record")
            .seal(&prev.parse().expect("hash"))
            .expect("seal")
            .ledger_row()
            .expect("row");
        prev = row.record_hash.clone();
        store.append(&row).await.expect("append");
    }
    let indexed = store.index_decisions().await.expect("index");
    assert_eq!(indexed as usize, RECORDS);
    println!(
        "  filled: {RECORDS} records in {REPOS} repositories, appended and indexed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Serve the `/ui` routes over `store` on loopback; returns (base URL, cookie header, sessions,
/// session id).
async fn serve(store: Store) -> (String, String, Arc<WebState>, String) {
    let oauth = OAuth::new(
        "Iv1.bench".into(),
        "bench-secret".into(),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )
    .expect("oauth");
    let state = Arc::new(WebState {
        store,
        oauth,
        sessions: Sessions::new(),
        daily_cap_usd: 25.0,
        votes: None,
        // No mirror: a record page looks for its signature notes and finds none.
        mirrors: Arc::new(patchgate::github::mirror::Mirrors::new(
            &std::env::temp_dir().join("patchgate-bench-no-mirrors"),
        )),
        allowed_signers: None,
    });
    let cookie = state.sessions.start("bench".into(), "ghu_bench".into());
    let (id, _) = state.sessions.get(&cookie).expect("a session");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = web_routes(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, format!("{COOKIE}={cookie}"), state, id)
}

fn remember(state: &WebState, id: &str) {
    for i in 0..REPOS {
        state
            .sessions
            .remember(id, &repo(i), Some(Permission::Read));
    }
}

async fn measure(backend: &str, store: Store) {
    println!("== {backend}");
    fill(&store).await;
    let (base, cookie, state, id) = serve(store).await;
    let http = reqwest::Client::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let pages: [Page; 3] = [
        (
            "record page (random record)",
            &|r| format!("/ui/decisions/{}", 1 + r % RECORDS),
            "id=\"verdict\"",
        ),
        (
            "decisions, first page",
            &|_| "/ui/decisions".into(),
            "class=\"decision\"",
        ),
        (
            "decisions, filtered (repo, blocked, escalated)",
            &|_| {
                format!(
                    "/ui/decisions?repo={}&verdict=blocked&path=escalated",
                    repo(5).replace('/', "%2F")
                )
            },
            "class=\"decision\"",
        ),
    ];
    for (name, path, must) in pages {
        let mut ms = Vec::with_capacity(REQUESTS);
        for k in 0..REQUESTS + 20 {
            remember(&state, &id);
            let url = format!("{base}{}", path(next()));
            let t = Instant::now();
            let r = http
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .expect("request");
            let status = r.status();
            let body = r.text().await.expect("body");
            let took = t.elapsed().as_secs_f64() * 1000.0;
            assert!(status.is_success(), "{url}: {status}\n{body}");
            assert!(body.contains(must), "{url}: no {must}\n{body}");
            if k >= 20 {
                ms.push(took);
            }
        }
        ms.sort_by(f64::total_cmp);
        let p95 = pct(&ms, 0.95);
        println!(
            "  {name:<48} n={REQUESTS} p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms  {}",
            pct(&ms, 0.5),
            p95,
            ms[ms.len() - 1],
            if p95 < 50.0 {
                "ok (< 50 ms)"
            } else {
                "OVER the 50 ms target"
            }
        );
    }
}

fn main() {
    let sqlite_only = std::env::args().any(|a| a == "--sqlite-only");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), None).await.expect("sqlite store");
        measure("SQLite", store).await;
        if sqlite_only {
            return;
        }
        let base = std::env::var("PATCHGATE_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_web_{}", std::process::id());
        let opts = sqlx::postgres::PgConnectOptions::from_str(&base).expect("database URL");
        let mut admin = opts.connect().await.expect("PostgreSQL is not reachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let pg_dir = tempfile::tempdir().expect("tempdir");
        let result = async {
            let store = Store::open(pg_dir.path(), Some(&url))
                .await
                .expect("pg store");
            measure("PostgreSQL", store).await;
        };
        result.await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .expect("drop schema");
        admin.close().await.ok();
    });
}
