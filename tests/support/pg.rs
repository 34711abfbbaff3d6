//! The real PostgreSQL for tests: `postgres://postgres@127.0.0.1:5432/test`, or
//! `PATCHGATE_TEST_DATABASE_URL`. Each test gets a schema of its own (`<prefix>_<pid>_<nanos>_<n>`;
//! PostgreSQL reserves `pg_`), selected through the URL's `options=-c search_path=…` and dropped
//! when the test is done — also on panic — so tests in parallel, or in other processes, never
//! see each other's rows. Never skips: an unreachable PostgreSQL fails the test loudly.
//!
//! Included by path (`#[path = "support/pg.rs"] mod pg;`) by the store tests, which need nothing
//! else of `support`, and as `support::pg` by the server tests.
#![allow(dead_code)]

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use patchgate::store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The database the tests use.
pub fn base_url() -> String {
    std::env::var("PATCHGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_string())
}

/// A connection, or a panic that says how to start PostgreSQL.
pub async fn connect_or_die(url: &str) -> sqlx::PgConnection {
    let opts = PgConnectOptions::from_str(url).expect("PATCHGATE_TEST_DATABASE_URL parses");
    match opts.connect().await {
        Ok(c) => c,
        Err(e) => panic!(
            "\n\n*** PostgreSQL is UNREACHABLE at {}:{} ({e}).\n*** These tests need it; they \
             never skip (CI provides it).\n*** Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set \
             PATCHGATE_TEST_DATABASE_URL.\n\n",
            opts.get_host(),
            opts.get_port()
        ),
    }
}

/// One test's schema, dropped when this is dropped.
pub struct PgSchema {
    pub name: String,
    /// The database URL scoped to the schema (`search_path`), e.g. as `DATABASE_URL`.
    pub url: String,
}

impl PgSchema {
    pub async fn new(prefix: &str) -> PgSchema {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let base = base_url();
        let mut conn = connect_or_die(&base).await;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test schema {name}: {e}"));
        conn.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        PgSchema { name, url }
    }

    /// A connection inside the schema.
    pub async fn connect(&self) -> sqlx::PgConnection {
        connect_or_die(&self.url).await
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime (or while unwinding): do the async cleanup on
        // a thread of its own.
        let base = base_url();
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut conn = connect_or_die(&base).await;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            })
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("warning: could not drop test schema: {e}");
        }
    }
}

/// Where one test's store lives: SQLite in a temporary directory, or PostgreSQL in a schema of
/// its own (the directory is still there: the data directory).
pub struct Fixture {
    dir: tempfile::TempDir,
    pg: Option<PgSchema>,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            pg: None,
        }
    }

    pub async fn postgres(prefix: &str) -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            pg: Some(PgSchema::new(prefix).await),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `None` for SQLite.
    pub fn url(&self) -> Option<&str> {
        self.pg.as_ref().map(|s| s.url.as_str())
    }

    pub async fn open(&self) -> Store {
        Store::open(self.data_dir(), self.url())
            .await
            .unwrap_or_else(|e| panic!("Store::open: {e}"))
    }
}

/// Run each behaviour `async fn name(f: &Fixture, backend: &str)` on both backends, as
/// `<name>::sqlite` and `<name>::postgres` (schemas named `<prefix>_…`). `Fixture` must be in
/// scope where this is used.
#[macro_export]
macro_rules! both_backends {
    ($prefix:literal; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let f = super::Fixture::sqlite();
                super::$name(&f, "sqlite").await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let f = super::Fixture::postgres($prefix).await;
                super::$name(&f, "postgres").await;
            }
        }
    )*};
}
