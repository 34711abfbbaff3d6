//! The integration tests, one binary: each file beside this one is a module of it, and
//! `support/` (the fake GitHub, its REST-description check, the PostgreSQL fixture, the
//! running-server world) is compiled once for all of them instead of once per test binary.

#[macro_use]
mod support;

mod actions;
mod architecture;
mod astdiff;
mod auto_rollback;
mod browser;
mod check;
mod check_edges;
mod cli;
mod config_doc;
mod decisions;
mod denominator;
mod diff_cli;
mod errortol;
mod escalate;
mod events;
mod events_durable;
mod fake_github;
mod format;
mod fuzz_corpus;
mod github_app;
mod inputs;
mod intake;
mod jobs;
mod judge;
mod listen;
mod listen_peers;
mod llm;
mod meta_record;
mod meta_vectors;
mod otel;
mod otel_builders;
mod policy;
mod quorum;
mod redeliver;
mod render_b;
mod render_b_model;
mod render_b_request;
mod render_b_serve;
mod repo_config;
mod report;
mod rollback;
mod rollback_cli;
mod rollback_git;
mod rule_guard;
mod server;
mod server_lease;
mod server_pg;
mod server_publish;
mod server_rollback;
mod server_votes;
mod sshsig;
mod store;
mod store_migrations;
mod web;
mod web_votes;
