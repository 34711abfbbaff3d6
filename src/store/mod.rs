//! Durable state: SQLite in the data directory by default, PostgreSQL when `DATABASE_URL`
//! names one (several replicas share it).
//!
//! Consumers own the traits they need (`audit::spend::SpendStore`, `meta::ledger::LedgerStore`);
//! this module implements them over SQL. It never decides anything: no policy lives here. It
//! must never lose a write silently, never report success for a write that did not commit, and
//! never put a database URL (which may carry a password) into an error or a log line.
//!
//! [`Store`] is an enum over one `SqlitePool` or one `PgPool` rather than `sqlx::Any`: the
//! atomic sections differ by backend anyway (`BEGIN IMMEDIATE` on SQLite, transaction-scoped
//! advisory locks on PostgreSQL), each backend keeps its native types (`BIGINT` identity,
//! `DOUBLE PRECISION`, `TIMESTAMPTZ`), and no runtime driver registry is needed.
//!
//! PostgreSQL connections use TLS (rustls) as the URL's `sslmode` asks: `require` encrypts
//! without checking the certificate, `verify-ca` / `verify-full` check it against the Mozilla
//! roots or `sslrootcert`; the default, `prefer`, encrypts when the server offers it.
//!
//! The schema lives in `migrations/sqlite/` and `migrations/postgres/` (one file per version,
//! the same tables in each dialect), embedded at build time with `sqlx::migrate!` and applied
//! by [`Store::open`]. Cargo does not notice a *new* file there: after adding a migration,
//! touch this file so the next build embeds it.

// The statements are written once, for PostgreSQL; these run them on either backend. Defined
// before the submodules so that each of them can use them.

/// One SQL text for both backends: written for PostgreSQL (`$n`, `FOR UPDATE …`); SQLite gets
/// `?n` and no row locks (its `BEGIN IMMEDIATE` already serialises writers).
pub(crate) fn sqlite_sql(sql: &str) -> String {
    sql.replace(" FOR UPDATE SKIP LOCKED", "")
        .replace(" FOR UPDATE", "")
        .replace('$', "?")
}

/// Run `$body` with `$sql` bound to the backend's SQL text and `$p` to its pool.
macro_rules! on_pool {
    ($store:expr, $text:expr, |$p:ident, $sql:ident| $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($p) => {
                let owned = $crate::store::sqlite_sql($text);
                let $sql: &str = &owned;
                $body
            }
            $crate::store::Pool::Postgres($p) => {
                let $sql: &str = $text;
                $body
            }
        }
    };
}

/// Run `$body` in a transaction (`BEGIN IMMEDIATE` on SQLite), committing after it; `$sql`
/// maps a PostgreSQL SQL text to the backend's. An `Err` returned by `?` in `$body` rolls back.
macro_rules! in_tx {
    ($store:expr, $what:expr, |$tx:ident, $sql:ident| $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite(p) => {
                let mut $tx = p
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| $crate::store::map_err(concat!($what, ": begin"), e))?;
                let $sql = |s: &str| $crate::store::sqlite_sql(s);
                let out = $body;
                $tx.commit()
                    .await
                    .map_err(|e| $crate::store::map_err(concat!($what, ": commit"), e))?;
                out
            }
            $crate::store::Pool::Postgres(p) => {
                let mut $tx = p
                    .begin()
                    .await
                    .map_err(|e| $crate::store::map_err(concat!($what, ": begin"), e))?;
                let $sql = |s: &str| s.to_string();
                let out = $body;
                $tx.commit()
                    .await
                    .map_err(|e| $crate::store::map_err(concat!($what, ": commit"), e))?;
                out
            }
        }
    };
}

pub mod error;
pub mod events;
pub mod jobs;
mod ledger;
pub mod links;
pub mod rollbacks;
mod spend;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use error::StoreError;
pub use jobs::{
    Claim, Enqueued, FailOutcome, Job, JobSummary, LostJob, NewJob, PreparedJob, RetryPolicy,
};

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "patchgate.db";

/// How long a SQLite connection waits for another writer (another process) before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// WAL pages after which a commit checkpoints by itself: a backstop, far above what the
/// server's background [`Store::checkpoint`] lets the WAL reach.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 50_000;
/// How long to wait for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The durable store: one connection pool to SQLite or PostgreSQL. Cheap to clone (the pool
/// is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a URL names (or none: the embedded default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlKind {
    Sqlite,
    Postgres,
}

/// Classify a database URL by its scheme; `Unavailable` for a scheme we cannot open. The error
/// names only the scheme, never the URL.
pub(crate) fn url_kind(url: &str) -> Result<UrlKind, StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok(UrlKind::Postgres),
        "sqlite" => Ok(UrlKind::Sqlite),
        _ => Err(StoreError::Unavailable(format!(
            "unsupported database URL scheme {scheme:?} (expected postgres://, postgresql:// or sqlite:)"
        ))),
    }
}

impl Store {
    /// Open the store and bring its schema up to date.
    ///
    /// With no `database_url`: the SQLite file `<data_dir>/patchgate.db` (directory and file
    /// created when missing) in WAL mode with a busy timeout, so several processes may share
    /// it. With a `postgres://` (or `postgresql://`) URL: that PostgreSQL database; tables
    /// go into the first schema of the connection's `search_path` (set one with
    /// `?options=-c%20search_path%3Dname`). A `sqlite:` URL opens that SQLite database
    /// instead of the data directory's.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Store, StoreError> {
        let pool = match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create data directory {}: {e}",
                        data_dir.display()
                    ))
                })?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join(SQLITE_FILE));
                Pool::Sqlite(open_sqlite(opts).await?)
            }
            Some(url) => match url_kind(url)? {
                UrlKind::Sqlite => {
                    let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
                        StoreError::Unavailable(format!("invalid sqlite: URL: {e}"))
                    })?;
                    Pool::Sqlite(open_sqlite(opts).await?)
                }
                UrlKind::Postgres => {
                    let opts = PgConnectOptions::from_str(url).map_err(|e| {
                        StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}"))
                    })?;
                    Pool::Postgres(open_postgres(opts).await?)
                }
            },
        };
        Ok(Store { pool })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Whether the connection to the database is encrypted (TLS): `None` for SQLite (a local
    /// file), else what PostgreSQL reports for one pooled connection (`pg_stat_ssl`). With
    /// `sslmode=require` (or `verify-ca`, `verify-full`) in the URL, a connection that cannot be
    /// encrypted is refused; the default (`prefer`) encrypts when the server offers TLS.
    pub async fn encrypted(&self) -> Result<Option<bool>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(p) => {
                sqlx::query_scalar::<_, bool>(
                    "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                )
                .fetch_one(p)
                .await
                .map(Some)
                .map_err(|e| map_err("encrypted", e))
            }
        }
    }

    /// One round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let r = match &self.pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        };
        r.map_err(|e| StoreError::Unavailable(format!("ping: {e}")))
    }

    /// Copy the SQLite write-ahead log back into the database (`PRAGMA wal_checkpoint(PASSIVE)`:
    /// never blocks writers). A long-running process calls it periodically, off the path of
    /// any request. PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(p)
                .await
                .map(drop)
                .map_err(|e| StoreError::Unavailable(format!("checkpoint: {e}"))),
            Pool::Postgres(_) => Ok(()),
        }
    }

    /// Close every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

async fn open_sqlite(opts: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
        // Folding the WAL back into the database is left to `checkpoint` (the server runs it in
        // the background) rather than done inside whichever commit crosses 1,000 pages; every
        // commit stays durable (`synchronous=FULL`). The last connection to close checkpoints
        // too, so short-lived commands leave no large WAL behind.
        .pragma(
            "wal_autocheckpoint",
            SQLITE_AUTOCHECKPOINT_PAGES.to_string(),
        );
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database: {e}")))?;
    // SQLite has no migration lock: two processes opening a fresh file at once may race on
    // the first migration. The loser fails; a retry then finds the migration applied.
    let mut attempt = 0;
    loop {
        match SQLITE_MIGRATIONS.run(&pool).await {
            Ok(()) => return Ok(pool),
            Err(e) if attempt >= 3 => {
                return Err(StoreError::Query(format!("SQLite migrations failed: {e}")))
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
        }
    }
}

async fn open_postgres(opts: PgConnectOptions) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
    // sqlx holds a PostgreSQL advisory lock while migrating: replicas starting together
    // apply each migration once.
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|e| StoreError::Query(format!("PostgreSQL migrations failed: {e}")))?;
    Ok(pool)
}

/// Map a driver error: connectivity problems are `Unavailable`, unique violations
/// `Conflict`, anything else `Query`. `what` says which operation failed.
pub(crate) fn map_err(what: &str, e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("{what}: {e}")),
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("{what}: {e}"))
        }
        // SQLITE_BUSY / SQLITE_LOCKED (and their extended codes): another writer held the
        // database past the busy timeout.
        sqlx::Error::Database(d)
            if d.code().is_some_and(|c| {
                c.parse::<i32>()
                    .is_ok_and(|n| n & 0xff == 5 || n & 0xff == 6)
            }) && d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
        {
            StoreError::Unavailable(format!("{what}: {e}"))
        }
        _ => StoreError::Query(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(url_kind("postgres://u@h/db").unwrap(), UrlKind::Postgres);
        assert_eq!(url_kind("postgresql://u@h/db").unwrap(), UrlKind::Postgres);
        assert_eq!(url_kind("sqlite:///tmp/x.db").unwrap(), UrlKind::Sqlite);
        assert_eq!(url_kind("sqlite::memory:").unwrap(), UrlKind::Sqlite);
        let e = url_kind("mysql://root:hunter2@h/db").unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[tokio::test]
    async fn opens_sqlite_in_a_new_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        let s = Store::open(&data, None).await.unwrap();
        assert_eq!(s.backend(), "sqlite");
        s.ping().await.unwrap();
        assert!(data.join(SQLITE_FILE).is_file());
        let Pool::Sqlite(p) = s.pool() else {
            unreachable!()
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(p)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        s.close().await;
        // An empty URL is the embedded default too.
        let s = Store::open(&data, Some("")).await.unwrap();
        assert_eq!(s.backend(), "sqlite");
    }

    #[tokio::test]
    async fn unsupported_url_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let e = Store::open(dir.path(), Some("mysql://x@h/db"))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    }
}
