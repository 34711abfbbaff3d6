//! The audit quorum and its auditors.
pub mod rule_guard;
