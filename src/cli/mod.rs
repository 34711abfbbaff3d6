//! The command line's bodies: one file per command or family, each a thin shell that turns its
//! arguments (`args.rs`) into calls of the library and prints the outcome. Shared here: the
//! dispatch, the async runtime, the resolved settings and the store.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};

use patchgate::config::{resolve, AuditMode, Flags, Settings};
use patchgate::store::Store;

pub(crate) mod args;
mod audit;
mod check;
mod config;
mod diff;
mod event;
mod jobs;
mod meta;
pub(crate) mod out;
mod progress;
mod render;
mod report;
mod rollback;
mod rules;
mod serve;

use args::{
    Cli, Color, Command, ConfigCommand, GlobalArgs, LedgerCommand, MetaCommand, OtherCommand,
    RulesCommand,
};

/// Run one parsed command line; the exit status (0, 1) or the error (exit 2).
pub(crate) fn run(cli: Cli) -> Result<u8> {
    let global = cli.global;
    let other = match cli.command {
        Command::Diff(args) => return diff::cmd_diff(*args),
        Command::Other(other) => other,
    };
    match other {
        OtherCommand::Check(args) => runtime()?.block_on(check::cmd_check(&global, *args)),
        OtherCommand::Render(args) => runtime()?.block_on(render::cmd_render(&global, args)),
        OtherCommand::Audit(args) => runtime()?.block_on(audit::cmd_audit(&global, args)),
        OtherCommand::Meta(MetaCommand::Verify {
            target,
            repo,
            format,
            key,
        }) => meta::cmd_meta_verify(&target, &repo, key.as_deref(), format),
        OtherCommand::Ledger(LedgerCommand::Verify {
            format,
            anchor,
            key,
        }) => runtime()?.block_on(meta::cmd_ledger_verify(&global, anchor.zip(key), format)),
        OtherCommand::Report(args) => report::cmd_report(&args),
        OtherCommand::Rollback(args) if args.github.is_some() => {
            runtime()?.block_on(rollback::cmd_rollback_github(&global, args))
        }
        OtherCommand::Rollback(args) => rollback::cmd_rollback(args),
        OtherCommand::Rules(RulesCommand::Test { dir, format }) => {
            rules::cmd_rules_test(dir, format)
        }
        OtherCommand::Config(ConfigCommand::Explain) => config::cmd_config_explain(&global),
        OtherCommand::Config(ConfigCommand::Check { file, format }) => {
            config::cmd_config_check(&global, file, format)
        }
        OtherCommand::Serve(args) => serve::cmd_serve(&global, args),
        OtherCommand::Jobs(args) => runtime()?.block_on(jobs::cmd_jobs(&global, args)),
        OtherCommand::Event(args) => runtime()?.block_on(event::cmd_event(args)),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn settings(global: &GlobalArgs, threshold: Option<f64>) -> Result<Settings> {
    let audit_mode = match &global.audit_mode {
        Some(m) => Some(m.parse::<AuditMode>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let flags = Flags {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        config: global.config.clone(),
        threshold_percent: threshold,
        audit_mode,
    };
    if let Some(t) = threshold {
        if !(t.is_finite() && (0.0..=100.0).contains(&t)) {
            bail!("--threshold must be a percentage between 0 and 100, got {t}");
        }
    }
    Ok(resolve(&flags, &env_var)?)
}

pub(crate) async fn open_store(s: &Settings) -> Result<Store> {
    Store::open(&s.data_dir, s.database_url.as_deref())
        .await
        .with_context(|| format!("opening the store ({})", s.store_place()))
}

/// Print a JSON document on stdout, pretty, with a final newline.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value always serialises")
    );
}

pub(crate) fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}
