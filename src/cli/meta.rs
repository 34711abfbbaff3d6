//! `patchgate meta verify` and `patchgate ledger verify`: recompute a decision record's hashes,
//! or walk the ledger's chain.

use std::path::Path;

use anyhow::{Context, Result};

use patchgate::meta::chain::verify_chain;
use patchgate::meta::ledger::LedgerStore;
use patchgate::meta::notes;
use patchgate::meta::record::verify_yaml;

use super::args::GlobalArgs;
use super::{open_store, settings};

pub(crate) fn cmd_meta_verify(target: &str, repo: &Path) -> Result<u8> {
    let (what, text) = if Path::new(target).is_file() {
        let text = std::fs::read_to_string(target).with_context(|| format!("reading {target}"))?;
        (target.to_string(), text)
    } else {
        let r = git2::Repository::discover(repo).with_context(|| {
            format!(
                "`{target}` is not a file, and {} is not a git repository",
                repo.display()
            )
        })?;
        let commit = r
            .revparse_single(target)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("`{target}` is neither a file nor a commit"))?;
        let text = notes::read_raw(&r, commit.id())?.with_context(|| {
            format!(
                "commit {} has no patchgate note (refs/notes/patchgate)",
                commit.id()
            )
        })?;
        (format!("note on {}", commit.id()), text)
    };
    match verify_yaml(&text) {
        Ok(record) => {
            println!(
                "OK  {what}: record_hash {} verifies (prev {}), quorum_passed: {}",
                record.record_hash.as_deref().unwrap_or("?"),
                record.prev_record_hash.as_deref().unwrap_or("?"),
                record.quorum_passed
            );
            Ok(0)
        }
        Err(e) => {
            println!("TAMPERED  {what}: {e}");
            Ok(1)
        }
    }
}

pub(crate) async fn cmd_ledger_verify(global: &GlobalArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let rows = store.all().await.context("reading the ledger")?;
    match verify_chain(&rows) {
        Ok(report) => {
            println!(
                "OK  ledger ({}, {}): {} record(s), chain intact, head {}",
                store.backend(),
                settings.data_dir.display(),
                report.rows,
                report.head_hash
            );
            Ok(0)
        }
        Err(e) => {
            println!("TAMPERED  ledger ({}): {e}", store.backend());
            Ok(1)
        }
    }
}
