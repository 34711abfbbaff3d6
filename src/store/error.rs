//! Errors of the durable store.

/// What can go wrong reading or writing durable state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(String),
    /// A write lost a race or broke an invariant (e.g. a ledger append whose previous hash is
    /// no longer the last record's).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// Stored data is not what it should be (corrupt or edited by hand).
    #[error("stored data is invalid: {0}")]
    Invalid(String),
}
