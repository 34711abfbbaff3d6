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
//! the same tables in each dialect), embedded at build time (build.rs lists them; see
//! `migrations.rs`, which reads them as `sqlx::migrate!` did) and applied by [`Store::open`].
//! A new file there is embedded by the next build.

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

pub mod board;
pub mod decisions;
pub mod error;
pub mod events;
pub mod jobs;
mod ledger;
pub mod links;
mod migrations;
pub mod rollbacks;
mod spend;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

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
                    Pool::Postgres(open_postgres(url, opts).await?)
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
    let migrator = migrations::migrator(migrations::Dialect::Sqlite).await?;
    let mut attempt = 0;
    loop {
        match migrator.run(&pool).await {
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

/// How long the first connection to PostgreSQL may take before the store gives up on it.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

async fn open_postgres(url: &str, opts: PgConnectOptions) -> Result<PgPool, StoreError> {
    // One direct connection first: a pool retries a refused connection until its acquire
    // timeout and then reports only "pool timed out", which names neither the server nor why.
    let shown = redacted_url(url);
    let at = format!("{}:{}", opts.get_host(), opts.get_port());
    match tokio::time::timeout(PG_CONNECT_TIMEOUT, opts.connect()).await {
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {at}: no answer within {}s ({shown})",
                PG_CONNECT_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => {
            return Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {at}: {} ({shown})",
                connect_failure(&e)
            )))
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {at}: {e} ({shown})"
            ))
        })?;
    // sqlx holds a PostgreSQL advisory lock while migrating: replicas starting together
    // apply each migration once.
    migrations::migrator(migrations::Dialect::Postgres)
        .await?
        .run(&pool)
        .await
        .map_err(|e| StoreError::Query(format!("PostgreSQL migrations failed: {e}")))?;
    Ok(pool)
}

/// Why a first connection failed, in the words an operator searches for: "connection refused",
/// "host not found", or the driver's own message.
fn connect_failure(e: &sqlx::Error) -> String {
    if let sqlx::Error::Io(io) = e {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
            _ if io.to_string().contains("failed to lookup address") => {
                format!("host not found ({io})")
            }
            _ => io.to_string(),
        };
    }
    e.to_string()
}

/// A database URL as it may be shown in an error or a log: the password replaced by `***`.
/// A URL that does not parse is shown as its scheme only.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split(':').next().unwrap_or("").to_string() + ":…";
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    // The query may carry a password too (`?password=…`): keep only its keys.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let keys: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", keys.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
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
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redacted_url("postgres://app:hunter2@db.example:5432/pg?sslmode=require"),
            "postgres://app:***@db.example:5432/pg?sslmode=require"
        );
        assert_eq!(
            redacted_url("postgres://app@h/db?password=hunter2&sslmode=disable"),
            "postgres://app@h/db?password=***&sslmode=disable"
        );
        assert_eq!(redacted_url("postgres://h"), "postgres://h");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_named_at_once() {
        // A port nothing listens on: bind one, learn its number, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("postgres://app:hunter2@127.0.0.1:{port}/test");
        let started = std::time::Instant::now();
        let e = Store::open(dir.path(), Some(&url))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(e.contains("connection refused"), "{e}");
        assert!(e.contains("postgres://app:***@"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

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
