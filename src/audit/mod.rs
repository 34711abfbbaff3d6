//! The audit quorum and its auditors.
