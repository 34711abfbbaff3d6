//! Durable state: SQLite in the data directory by default, PostgreSQL when `DATABASE_URL`
//! names one (several replicas share it).
//!
//! Consumers own the traits they need (`audit::spend::SpendStore`, `meta::ledger::LedgerStore`);
//! this module implements them over SQL. It never decides anything: no policy lives here.

pub mod error;

pub use error::StoreError;
