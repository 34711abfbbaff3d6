//! The audit quorum and its auditors.
pub mod budget;
pub mod command;
pub mod decide;
pub mod llm;
pub mod quorum;
pub mod rule_guard;
pub mod rule_scan;
pub mod rules_auditor;
pub mod spend;
pub mod vote;
