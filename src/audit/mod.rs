//! The audit quorum and its auditors.
pub mod command;
pub mod quorum;
pub mod rule_guard;
pub mod rules_auditor;
pub mod spend;
pub mod vote;
