//! The gate: one pipeline from a change to a decision, shared by the CLI, the Action and the
//! server. Only the edges differ — where the change comes from and where the record goes.

pub mod actions;
pub mod audit;
pub mod auditors;
pub mod check;
pub mod escalation;
pub mod explain;
pub mod input;
pub mod render_b;
pub mod repo_config;
pub mod summary;
