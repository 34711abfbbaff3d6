//! `patchgate meta verify` and `patchgate ledger verify`: recompute a decision record's hashes
//! (and, with `--key`, check its SSH signature), or walk the ledger's chain (and, with
//! `--anchor`, check it against the signed head anchored in a repository).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use patchgate::meta::chain::verify_chain;
use patchgate::meta::ledger::LedgerStore;
use patchgate::meta::notes;
use patchgate::meta::record::verify_yaml;

use super::args::GlobalArgs;
use super::{open_store, settings};

pub(crate) fn cmd_meta_verify(target: &str, repo: &Path, key: Option<&Path>) -> Result<u8> {
    let (what, text, sig) = if Path::new(target).is_file() {
        let text = std::fs::read_to_string(target).with_context(|| format!("reading {target}"))?;
        let sig = std::fs::read_to_string(format!("{target}.sig")).ok();
        (target.to_string(), text, sig)
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
        let sig = notes::read_signature(&r, commit.id())?;
        (format!("note on {}", commit.id()), text, sig)
    };
    let signed = match key {
        None => Ok(String::new()),
        Some(k) => std::fs::read_to_string(k)
            .with_context(|| format!("reading {}", k.display()))
            .map(|keys| notes::check_signature(&text, sig.as_deref(), &keys))?
            .map(|by| format!(", signed by {by}")),
    };
    match verify_yaml(&text)
        .map_err(|e| e.to_string())
        .and_then(|r| signed.map(|s| (r, s)))
    {
        Ok((record, signed)) => {
            println!(
                "OK  {what}: record_hash {} verifies (prev {}), quorum_passed: {}{signed}",
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

pub(crate) async fn cmd_ledger_verify(
    global: &GlobalArgs,
    anchor: Option<(PathBuf, PathBuf)>,
) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let rows = store.all().await.context("reading the ledger")?;
    if let Some((repo, key)) = anchor {
        let keys =
            std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
        match patchgate::meta::anchor::verify_against_anchor(&repo, &keys, &rows) {
            Ok(what) => println!("OK  ledger {what}"),
            Err(e) => {
                println!("TAMPERED  ledger ({}): {e}", store.backend());
                return Ok(1);
            }
        }
    }
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
