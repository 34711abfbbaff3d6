//! The embedded schema migrations are the ones earlier builds applied, on both backends.
//!
//! Until December 2026 `sqlx::migrate!` embedded `migrations/<dialect>/`; now build.rs does
//! and `src/store/migrations.rs` builds sqlx's `Migration` values by sqlx's rules. sqlx records
//! each applied migration's version and SHA-384 checksum in `_sqlx_migrations` and refuses to
//! open a database whose recorded checksum differs from the embedded one, so the values must
//! not move. Pinned here: each version, description and checksum, computed independently of
//! sqlx (`sha384sum migrations/<dialect>/*.sql`, descriptions by hand). A migration added later
//! is appended to the lists; an applied one is never edited.

use crate::support::pg;

use std::path::Path;

use patchgate::store::{Store, StoreError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

use pg::Fixture;

both_backends!(
    "pgtest_mig";
    a_new_database_records_the_pinned_migrations,
    a_database_migrated_by_sqlx_migrate_opens_unchanged,
    a_modified_migration_is_refused,
);

/// `(version, description, SHA-384 of the file)`, by `sha384sum`: 1–11 from the files at commit
/// 30ff1d0, 12 (the explanation texts of the web view) when it was added.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "spend and ledger", "81bb73257cfe81c3f37d82f72544027e0d2e336176af4a3aa7ced3a81960b90d5cd7ab8f4607e025f0bd6ef8b72c0768"),
    (2, "jobs", "7ed699c61ec27e07b4f442dffea46f835f4367aa524063a564c3c08704d221666292d4a4d3bcd4c63024d31ef2a84c82"),
    (3, "pr links", "e99efc869d961fc25d14981d2c13214aaa4c5ff5bdc973a3f787ea9b0db2cefdc5715dcc714b0e8eba24692b729544f3"),
    (4, "policy events", "50b968d08d01931bd6e1f70f03ff84879c2deff1f17a1f5c0d55bafad5f9494baaca392be82d05b4a808a4e13ff6d2c3"),
    (5, "rollbacks", "13f1727bee3a3cc2ab93a55be85c17fdb36b181e71b9880d0f1226e38a5727b1135459ef6c7b5028638ff92aa6f7c912"),
    (6, "repo urls", "ce18fc8de0e2bfcecfb891b150698eb53595f6cf4af190bfae500e8a4b9883ad3ecf047fda08a6c92bed2fb08ada9137"),
    (7, "job retention", "80da2e3e1eb673b7c20d77c162776a7796f129829b0e8dd7b6b1a17a5356216758c708a89a863eddfd8a70aee0fe3fa6"),
    (8, "event batches", "470d2e395d3a6e8a9f82327de190e81cf1d59fba8cceadd85528072357f13e8236e18a28b51e58ecab46745d0b54cec8"),
    (10, "decisions", "4466d42559e2fdbbf787d0a6440ef0d0b24c26be759570a78bf86b1b2896334d233c8b6c019c0a421ff69bb72e09183d"),
    (11, "job traceparent", "7b3b5fd6bc06e9cc6c11059c75429669d5ddd1396095f5e7bf892ce26f320cf9d59fe15c57c621060c45f8f90f734c9f"),
    (12, "explanation texts", "1691c092f0cd0ae37bc887941a86a3a2d48162e65949ffbfd33583616655d9533da127324580c554c42a44f1fe9cef72"),
];

/// `(version, description, SHA-384 of the file)`, by `sha384sum`: 1–11 from the files at commit
/// 30ff1d0, 12 (the explanation texts of the web view) when it was added.
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "spend and ledger", "d85b06eaa16881bb54ed4543ea873de41812fa578a9f94c8ec2d02fb8e7f7e294d443cf5599e44387590dece70c92f93"),
    (2, "jobs", "971ccf5f601cf67bd10933bcb617ef570e505493bc69a1d05269db253b7b228b5447561aae7c02060e97cc519ccc5fd0"),
    (3, "pr links", "fd7f909fb682a6cbf1e88d382ffce24d01b287eef07a8a316e37a01e5bfeac8a0265fe6b5be14a07cec2659a2e47bff5"),
    (4, "policy events", "3359df35a090150c6b6982dc88b46533b71deeeb63e293a227dccf2f3a1fac3b107af580e18ace704ef6fc08e3a826a9"),
    (5, "rollbacks", "018c670d57e6482362893da16c132704a9dcb1588a61d1dccdc1379ed86592bb639250b530ba3e649547cf15ebce0cc9"),
    (6, "repo urls", "04d5a263df827a4e990ba9b36e7d2139d4471da8a580a0abc841c8324408bd4bb2fa6af942489ae5a9234ad29c36bf6a"),
    (7, "job retention", "5ec36eb5ff8d8fa5acf204761b48f92702a70883fb982a74e460908e6748aff82c90557fa42e03d8c04deb0c8e46189f"),
    (8, "event batches", "7b22a3dda2942730773138b4ccec055332a80abff122adb442c0a0f80e153d037dd95bc63d0304dd118693882c2c4b81"),
    (10, "decisions", "6be4f938a0038cbdaf8b4aa119311c9ce885533be734dbfc4b9d8daefb90f0cbf2439cdfe80d16afb3eb6b91e2749412"),
    (11, "job traceparent", "39fbf795af5db39f0ff982cfdd97fecfaac4624a3c5e3e3970014df012dfe9a2ced51c7da37536068b08e84a40b5c6b2"),
    (12, "explanation texts", "a4bae79c08b7435eb0d5045fcc082c5bfae12f918a3fd709f4843c6f6ec78dcd1c8a3ead5359a92982e4f4c6ea53ba49"),
];

/// One row of `_sqlx_migrations`: version, description, checksum (hex), success, installed at.
type Row = (i64, String, String, bool, String);

fn pinned(backend: &str) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        "sqlite" => SQLITE,
        _ => POSTGRES,
    }
}

fn sqlite_options(f: &Fixture) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(f.data_dir().join(patchgate::store::SQLITE_FILE))
        .create_if_missing(true)
}

/// What `_sqlx_migrations` holds, in version order.
async fn applied(f: &Fixture) -> Vec<Row> {
    match f.url() {
        None => {
            let mut c = sqlite_options(f).connect().await.unwrap();
            let rows = sqlx::query_as(
                "SELECT version, description, lower(hex(checksum)), success, \
                 CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
            rows
        }
        Some(url) => {
            let mut c = pg::connect_or_die(url).await;
            let rows = sqlx::query_as(
                "SELECT version, description, encode(checksum, 'hex'), success, \
                 installed_on::text FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
            rows
        }
    }
}

fn assert_pinned(rows: &[Row], backend: &str) {
    let got: Vec<(i64, &str, &str, bool)> = rows
        .iter()
        .map(|(v, d, c, ok, _)| (*v, d.as_str(), c.as_str(), *ok))
        .collect();
    let want: Vec<(i64, &str, &str, bool)> = pinned(backend)
        .iter()
        .map(|&(v, d, c)| (v, d, c, true))
        .collect();
    assert_eq!(got, want, "{backend}");
}

/// Migrate the fixture's database the way the released builds did: sqlx's reader of the
/// migrations directory, the code `sqlx::migrate!` ran at compile time.
async fn migrate_as_released(f: &Fixture, backend: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let migrator = Migrator::new(dir).await.unwrap();
    match f.url() {
        None => {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(sqlite_options(f))
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Some(url) => {
            let mut c = pg::connect_or_die(url).await;
            migrator.run(&mut c).await.unwrap();
            c.close().await.unwrap();
        }
    }
}

async fn a_new_database_records_the_pinned_migrations(f: &Fixture, backend: &str) {
    f.open().await.close().await;
    assert_pinned(&applied(f).await, backend);
}

async fn a_database_migrated_by_sqlx_migrate_opens_unchanged(f: &Fixture, backend: &str) {
    migrate_as_released(f, backend).await;
    let before = applied(f).await;
    assert_pinned(&before, backend);
    let s = f.open().await;
    s.ping().await.unwrap();
    s.close().await;
    // Nothing applied again, nothing added: the same rows, installed at the same times.
    assert_eq!(applied(f).await, before);
}

async fn a_modified_migration_is_refused(f: &Fixture, _: &str) {
    f.open().await.close().await;
    let tamper = "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2";
    match f.url() {
        None => {
            let mut c = sqlite_options(f).connect().await.unwrap();
            sqlx::query(tamper)
                .bind(vec![0u8; 48])
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        Some(url) => {
            let mut c = pg::connect_or_die(url).await;
            sqlx::query(tamper)
                .bind(vec![0u8; 48])
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
    }
    let e = Store::open(f.data_dir(), f.url()).await.unwrap_err();
    assert!(matches!(e, StoreError::Query(_)), "{e}");
    let text = e.to_string();
    assert!(text.contains("migrations failed"), "{text}");
    assert!(
        text.contains("migration 2 was previously applied but has been modified"),
        "{text}"
    );
}

#[test]
fn the_pinned_lists_name_every_migration_file() {
    for backend in ["sqlite", "postgres"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let named: Vec<String> = pinned(backend)
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{}.sql", d.replace(' ', "_")))
            .collect();
        assert_eq!(
            files, named,
            "{backend}: a new migration is appended to the list here"
        );
    }
}
