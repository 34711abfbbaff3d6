//! The schema migrations, embedded in the binary: `migrations/sqlite/` and
//! `migrations/postgres/`, listed by build.rs (each file's text through `include_str!`).
//!
//! Until December 2026 `sqlx::migrate!` embedded them. That proc macro's crate links sqlx's
//! database drivers, rustls and tokio into the compiler, so a cold build compiled each of them
//! twice (once for the macro, once for the program); it was the only macro the project used.
//! This builds the same `Migration` values at run time from sqlx's public API instead, by the
//! rules of sqlx's own directory reader (`resolve_blocking`, which the macro ran at compile
//! time): version = the number before the first `_`, description = the rest without its
//! `.sql` / `.up.sql` / `.down.sql` suffix and with `_` read as a space, `-- no-transaction` at
//! the very start opts out of the transaction, checksum = SHA-384 of the text. A database
//! migrated by an earlier build therefore opens unchanged: sqlx compares the checksum of every
//! applied version. `tests/store_migrations.rs` pins the values.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::StoreError;

mod files {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Which directory of migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::Sqlite => files::SQLITE,
            Dialect::Postgres => files::POSTGRES,
        }
    }
}

/// The migrator for one dialect: sqlx's defaults (locking, each migration in a transaction
/// unless it opts out, an applied version missing here is an error), as `migrate!` built it.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, StoreError> {
    Migrator::new(Embedded(dialect.files()))
        .await
        .map_err(|e| StoreError::Query(format!("embedded migrations: {e}")))
}

/// A list of `(file name, text)` as a source of migrations for sqlx.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embedded(pub(crate) &'static [(&'static str, &'static str)]);

impl Embedded {
    /// The migrations in version order, or which file name does not parse.
    pub(crate) fn migrations(self) -> Result<Vec<Migration>, String> {
        let mut all = self
            .0
            .iter()
            .filter_map(|&(name, sql)| migration(name, sql).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        // Stable, as sqlx's: an `.up.sql` / `.down.sql` pair keeps its order.
        all.sort_by_key(|m| m.version);
        Ok(all)
    }
}

/// What [`MigrationSource::resolve`] returns (sqlx's `BoxFuture`).
type Resolved<'s> = Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>>;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Resolved<'s> {
        Box::pin(std::future::ready(
            self.migrations().map_err(BoxDynError::from),
        ))
    }
}

/// One file as sqlx reads it: `None` for a name that is not `<VERSION>_<DESCRIPTION>.sql`
/// (sqlx ignores such files), an error for a version that is not an integer.
pub(crate) fn migration(name: &str, sql: &'static str) -> Result<Option<Migration>, String> {
    let Some((version, rest)) = name.split_once('_') else {
        return Ok(None);
    };
    if !rest.ends_with(".sql") {
        return Ok(None);
    }
    let version: i64 = version.parse().map_err(|_| {
        format!("migration file name {name:?}: expected an integer version prefix (e.g. `0012_name.sql`)")
    })?;
    let migration_type = MigrationType::from_filename(rest);
    let description = rest
        .trim_end_matches(migration_type.suffix())
        .replace('_', " ");
    let no_tx = sql.starts_with("-- no-transaction");
    Ok(Some(Migration::new(
        version,
        Cow::Owned(description),
        migration_type,
        Cow::Borrowed(sql),
        no_tx,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn same(a: &Migration, b: &Migration) {
        assert_eq!(a.version, b.version);
        assert_eq!(a.description, b.description, "version {}", a.version);
        assert_eq!(a.migration_type, b.migration_type, "version {}", a.version);
        assert_eq!(a.sql, b.sql, "version {}", a.version);
        assert_eq!(a.checksum, b.checksum, "version {}", a.version);
        assert_eq!(a.no_tx, b.no_tx, "version {}", a.version);
    }

    /// What the embedded list gives is what sqlx's own reader of a directory — the code
    /// `sqlx::migrate!` ran at compile time — gives for the same directory, field by field.
    #[tokio::test]
    async fn embedded_migrations_equal_sqlx_reading_the_directory() {
        for (dialect, dir) in [(Dialect::Sqlite, "sqlite"), (Dialect::Postgres, "postgres")] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let by_sqlx = Migrator::new(path.as_path()).await.unwrap();
            let ours = migrator(dialect).await.unwrap();
            assert_eq!(ours.iter().count(), by_sqlx.iter().count(), "{dir}");
            assert!(ours.iter().count() >= 10, "{dir}");
            for (a, b) in ours.iter().zip(by_sqlx.iter()) {
                same(a, b);
            }
        }
    }

    /// The naming rules beyond today's files (reversible pairs, `-- no-transaction`, files sqlx
    /// ignores, a bad version), against sqlx's reader on the same files.
    #[tokio::test]
    async fn file_names_are_read_as_sqlx_reads_them() {
        const FILES: &[(&str, &str)] = &[
            (
                "0003_add_users_table.sql",
                "CREATE TABLE users (id INTEGER);\n",
            ),
            ("20_two__underscores_.sql", "SELECT 1;"),
            ("0004_pair.up.sql", "CREATE TABLE p (x INTEGER);"),
            ("0004_pair.down.sql", "DROP TABLE p;"),
            (
                "0005_concurrent.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
            ),
            ("0006_late_marker.sql", "SELECT 1;\n-- no-transaction\n"),
            ("0007_x.sql.sql", "SELECT 2;"),
            ("README.md", "not a migration"),
            ("0008-no-underscore.sql", "ignored"),
            ("0009_not_sql.txt", "ignored"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, sql) in FILES {
            std::fs::write(dir.path().join(name), sql).unwrap();
        }
        let by_sqlx = Migrator::new(dir.path()).await.unwrap();
        let ours = Migrator::new(Embedded(FILES)).await.unwrap();
        let mut a: Vec<&Migration> = ours.iter().collect();
        let mut b: Vec<&Migration> = by_sqlx.iter().collect();
        // sqlx's order within one version follows the directory listing; compare by type.
        a.sort_by_key(|m| (m.version, m.migration_type.suffix()));
        b.sort_by_key(|m| (m.version, m.migration_type.suffix()));
        assert_eq!(a.len(), 7);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            same(x, y);
        }
        let concurrent = a.iter().find(|m| m.version == 5).unwrap();
        assert!(concurrent.no_tx);
        assert_eq!(
            a.iter().find(|m| m.version == 20).unwrap().description,
            "two  underscores "
        );

        // A version that is not a number: sqlx refuses the directory, and so does this.
        let bad: &[(&str, &str)] = &[("v1_first.sql", "SELECT 1;")];
        let e = Embedded(bad).migrations().unwrap_err();
        assert!(
            e.contains("v1_first.sql") && e.contains("integer version"),
            "{e}"
        );
        std::fs::write(dir.path().join("v1_first.sql"), "SELECT 1;").unwrap();
        assert!(Migrator::new(dir.path()).await.is_err());
    }
}
