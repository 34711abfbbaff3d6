//! The ledger: every decision record, in order, each carrying the previous one's hash.
//!
//! This file holds the interface to durable storage; the chain rules (what verifies, what a
//! tamper looks like) sit beside it in the meta module. Appending is atomic: a record whose
//! `prev_record_hash` is no longer the last record's hash is refused, never forked.

use crate::util::BoxFuture;

/// What can go wrong with the ledger: the [`LedgerStore`] port's own error (the store maps its
/// errors into it).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An append lost the race or broke the chain: its `prev_record_hash` is not the last
    /// record's hash (or not the genesis value on an empty ledger), or the record is already
    /// there. Nothing was written; re-seal on the new head and retry.
    #[error("ledger conflict: {0}")]
    Conflict(String),
    /// The storage behind the ledger failed (unreachable, a query failed, bad data).
    #[error("{0}")]
    Storage(String),
}

pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// 1, 2, 3, … in append order.
    pub seq: i64,
    /// `sha256:<hex>` of the record.
    pub record_hash: String,
    /// `sha256:<hex>` of the previous record, or the genesis value for the first.
    pub prev_record_hash: String,
    pub repo: String,
    pub head: String,
    /// The record exactly as written (`meta.yaml`).
    pub record_yaml: String,
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLedgerRow {
    pub record_hash: String,
    pub prev_record_hash: String,
    pub repo: String,
    pub head: String,
    pub record_yaml: String,
}

/// Durable ledger storage.
pub trait LedgerStore: Send + Sync {
    /// The last record, if any.
    fn last(&self) -> BoxFuture<'_, Result<Option<LedgerRow>, LedgerError>>;
    /// Append atomically; `LedgerError::Conflict` when `row.prev_record_hash` is not the last
    /// record's hash (or not the genesis value on an empty ledger). Returns the new `seq`.
    fn append<'a>(&'a self, row: &'a NewLedgerRow) -> BoxFuture<'a, Result<i64, LedgerError>>;
    /// Every record, by `seq`.
    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerRow>, LedgerError>>;
    /// Keep the explanation texts of record `seq` beside it (the JSON of
    /// [`super::texts::ExplanationTexts`]; the record holds only their hashes). Writing them
    /// again for the same `seq` replaces them.
    fn keep_texts<'a>(&'a self, seq: i64, texts: &'a str)
        -> BoxFuture<'a, Result<(), LedgerError>>;
}
