//! `patchgate meta verify` and `patchgate ledger verify`: recompute a decision record's hashes
//! (and, with `--key`, check its SSH signature), or walk the ledger's chain (and, with
//! `--anchor`, check it against the signed head anchored in a repository).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use patchgate::meta::chain::verify_chain;
use patchgate::meta::ledger::LedgerStore;
use patchgate::meta::notes;
use patchgate::meta::record::{verify_yaml, MetaRecord};
use serde_json::json;

use super::args::{Format, GlobalArgs};
use super::{open_store, print_json, settings};

/// What `meta verify` found: a record that verifies, one that does not (tampered), or text
/// that is no decision record at all — an input error, never reported as tampering.
enum Finding {
    /// The record, and who signed it (`, signed by …`, or empty when no key was given).
    Verified(Box<MetaRecord>, String),
    Tampered(String),
    NotARecord(String),
}

/// Whether YAML text claims to be a decision record: a mapping that carries the chain's
/// fields. Only such text can be tampered with; anything else is the wrong input.
fn claims_to_be_a_record(text: &str) -> bool {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(m)) => ["record_hash", "prev_record_hash"]
            .iter()
            .any(|k| m.contains_key(serde_yaml::Value::from(*k))),
        _ => false,
    }
}

fn examine(text: &str) -> Finding {
    if !claims_to_be_a_record(text) {
        let why = if text.trim().is_empty() {
            "it is empty".to_string()
        } else {
            "it is not a YAML mapping with record_hash and prev_record_hash".to_string()
        };
        return Finding::NotARecord(why);
    }
    match verify_yaml(text) {
        Ok(record) => Finding::Verified(Box::new(record), String::new()),
        Err(e) => Finding::Tampered(e.to_string()),
    }
}

/// A record to read: a file (and its signature beside it, `FILE.sig`), or the git note on a
/// commit of `repo` (and its signature note). Returns what it is, its text and the signature.
pub(crate) fn read_target(target: &str, repo: &Path) -> Result<(String, String, Option<String>)> {
    Ok(if Path::new(target).is_file() {
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
    })
}

pub(crate) fn cmd_meta_verify(
    target: &str,
    repo: &Path,
    key: Option<&Path>,
    format: Format,
) -> Result<u8> {
    let (what, text, sig) = read_target(target, repo)?;
    let signed = match key {
        None => Ok(String::new()),
        Some(k) => std::fs::read_to_string(k)
            .with_context(|| format!("reading {}", k.display()))
            .map(|keys| notes::check_signature(&text, sig.as_deref(), &keys))?
            .map(|by| format!(", signed by {by}")),
    };
    let finding = match (examine(&text), signed) {
        (Finding::Verified(..), Err(e)) => Finding::Tampered(e.to_string()),
        (Finding::Verified(r, _), Ok(by)) => Finding::Verified(r, by),
        (other, _) => other,
    };
    if let Format::Json = format {
        let doc = match &finding {
            Finding::Verified(r, signed) => json!({
                "target": what, "status": "verified",
                "signed_by": signed.strip_prefix(", signed by "),
                "record_hash": r.record_hash, "prev_record_hash": r.prev_record_hash,
                "quorum_passed": r.quorum_passed, "problems": [],
            }),
            Finding::Tampered(p) => json!({"target": what, "status": "tampered", "problems": [p]}),
            Finding::NotARecord(p) => {
                json!({"target": what, "status": "not_a_record", "problems": [p]})
            }
        };
        print_json(&doc);
    }
    match finding {
        Finding::Verified(record, signed) => {
            if let Format::Text = format {
                println!(
                    "OK  {what}: record_hash {} verifies (prev {}), quorum_passed: {}{signed}",
                    record.record_hash.as_deref().unwrap_or("?"),
                    record.prev_record_hash.as_deref().unwrap_or("?"),
                    record.quorum_passed
                );
            }
            Ok(0)
        }
        Finding::Tampered(e) => {
            if let Format::Text = format {
                println!("TAMPERED  {what}: {e}");
            }
            Ok(1)
        }
        Finding::NotARecord(why) => {
            if let Format::Text = format {
                eprintln!(
                    "error: {what} is not a patchgate decision record ({why}); give a meta.yaml \
                     that `patchgate check --write-meta` wrote, or a commit with a patchgate note"
                );
            }
            Ok(2)
        }
    }
}

pub(crate) async fn cmd_ledger_verify(
    global: &GlobalArgs,
    anchor: Option<(PathBuf, PathBuf)>,
    format: Format,
) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let rows = store.all().await.context("reading the ledger")?;
    let mut anchored = None;
    if let Some((repo, key)) = anchor {
        let keys =
            std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
        match patchgate::meta::anchor::verify_against_anchor(&repo, &keys, &rows) {
            Ok(what) => anchored = Some(what),
            Err(e) => {
                match format {
                    Format::Text => println!("TAMPERED  ledger ({}): {e}", store.backend()),
                    Format::Json => print_json(&json!({
                        "status": "tampered", "backend": store.backend(),
                        "records": rows.len(), "head_hash": null, "problem": e.to_string(),
                    })),
                }
                return Ok(1);
            }
        }
    }
    if let (Some(what), Format::Text) = (&anchored, format) {
        println!("OK  ledger {what}");
    }
    let verdict = verify_chain(&rows);
    if let Format::Json = format {
        let doc = match &verdict {
            Ok(report) => json!({
                "status": "intact", "backend": store.backend(),
                "records": report.rows, "head_hash": report.head_hash.to_string(), "problem": null,
                "anchor": anchored,
            }),
            Err(e) => json!({
                "status": "tampered", "backend": store.backend(),
                "records": rows.len(), "head_hash": null, "problem": e.to_string(),
            }),
        };
        print_json(&doc);
        return Ok(u8::from(verdict.is_err()));
    }
    match verdict {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_that_claims_the_chain_fields_can_be_tampered() {
        assert!(matches!(examine(""), Finding::NotARecord(_)));
        assert!(matches!(examine("fn main() {}\n"), Finding::NotARecord(_)));
        assert!(matches!(examine("a: 1\n"), Finding::NotARecord(_)));
        assert!(matches!(
            examine("record_hash: sha256:00\nprev_record_hash: x\n"),
            Finding::Tampered(_)
        ));
    }
}
