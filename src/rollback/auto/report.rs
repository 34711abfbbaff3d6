//! What a rollback leaves behind besides the revert: its ledger entry (a record chained into
//! the decision ledger) and the comment on the reverted pull request.
//!
//! The ledger entry is a YAML object the chain verifier accepts (`repo`, `change.head` — the
//! revert commit —, `prev_record_hash`, `record_hash` over the canonical form) with
//! `kind: rollback` and a `rollback` section naming the reverted merge. Appending is
//! idempotent: an entry for the same `(repo, merge)` already in the ledger (a process killed
//! between the append and recording it) is found and reused, never appended twice.
//!
//! Must never put a token or an internal error chain into a comment.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::meta::canonical::hash_record;
use crate::meta::ledger::{LedgerError, LedgerStore, NewLedgerRow, GENESIS};
use crate::store::rollbacks::RollbackRow;
use crate::store::Store;

/// The marker that ties a comment to a rollback (so a forge can find an earlier one).
pub fn marker(merge: &str) -> String {
    format!("<!-- patchgate-rollback:{merge} -->")
}

/// The ledger entry of `row` already in the ledger, if any: its record hash.
pub async fn find_entry(
    store: &Store,
    repo: &str,
    merge: &str,
) -> Result<Option<String>, LedgerError> {
    let rows = LedgerStore::all(store).await?;
    for r in rows.iter().rev() {
        if r.repo != repo {
            continue;
        }
        let Ok(v) = serde_yaml::from_str::<Value>(&r.record_yaml) else {
            continue;
        };
        if v.get("kind").and_then(Value::as_str) == Some("rollback")
            && v.pointer("/rollback/reverts").and_then(Value::as_str) == Some(merge)
        {
            return Ok(Some(r.record_hash.clone()));
        }
    }
    Ok(None)
}

/// The entry's content, before sealing.
fn entry(row: &RollbackRow, branch: &str, reason: &str, at: DateTime<Utc>) -> Value {
    let revert = row.revert_sha.clone().unwrap_or_default();
    json!({
        "version": 1,
        "kind": "rollback",
        "repo": row.repo,
        "change": {
            "pr": row.pr,
            "base": row.merge_sha,
            "head": revert,
        },
        "rollback": {
            "reverts": row.merge_sha,
            "revert": revert,
            "branch": branch,
            "trigger": row.trigger,
            "action": row.action,
            "reason": reason,
            "audit": row.record_hash,
            "revert_pr": row.revert_pr,
        },
        "created_at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "patchgate_version": env!("CARGO_PKG_VERSION"),
    })
}

/// Append the rollback's entry to the ledger (or find the one already there); returns its
/// record hash. Retries a lost race on the chain's head a few times.
pub async fn append_entry(
    store: &Store,
    row: &RollbackRow,
    branch: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<String> {
    if let Some(h) = find_entry(store, &row.repo, &row.merge_sha).await? {
        return Ok(h);
    }
    let mut last_err = None;
    for _ in 0..8 {
        let prev = LedgerStore::last(store)
            .await?
            .map(|r| r.record_hash)
            .unwrap_or_else(|| GENESIS.to_string());
        let mut v = entry(row, branch, reason, at);
        if let Some(o) = v.as_object_mut() {
            o.insert("prev_record_hash".into(), Value::String(prev.clone()));
        }
        let hash = hash_record(&v)?.to_string();
        if let Some(o) = v.as_object_mut() {
            o.insert("record_hash".into(), Value::String(hash.clone()));
        }
        let new = NewLedgerRow {
            record_hash: hash.clone(),
            prev_record_hash: prev,
            repo: row.repo.clone(),
            head: row.revert_sha.clone().unwrap_or_default(),
            record_yaml: serde_yaml::to_string(&v)?,
        };
        match LedgerStore::append(store, &new).await {
            Ok(_) => return Ok(hash),
            Err(LedgerError::Conflict(e)) => last_err = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(
        "ledger append kept losing the race: {}",
        last_err.unwrap_or_default()
    )
}

/// The comment on the reverted pull request once the rollback is done.
pub fn done_comment(row: &RollbackRow, branch: &str, reason: &str) -> String {
    let revert = row.revert_sha.as_deref().unwrap_or("?");
    let what = match (row.action.as_str(), row.revert_pr) {
        ("pull-request", Some(n)) => format!("A revert pull request is open: #{n} (`{revert}`)."),
        ("pull-request", None) => format!("The revert `{revert}` is on its own branch."),
        ("comment", _) => format!(
            "The repository's configuration asks for a comment only: the revert `{revert}` was \
             prepared on patchgate's mirror and **not** pushed."
        ),
        _ => format!("The revert `{revert}` was pushed to `{branch}`."),
    };
    let audit = match &row.record_hash {
        Some(h) => format!("\nDecision record of the merge: `{h}`."),
        None => String::new(),
    };
    format!(
        "**patchgate rolled back this pull request** (merge `{}`, trigger: {}).\n\n\
         Reason: {reason}\n\n{what}{audit}\n\n{}",
        row.merge_sha,
        row.trigger,
        marker(&row.merge_sha)
    )
}

/// The comment on the reverted pull request when the rollback failed (nothing was pushed).
pub fn failed_comment(row: &RollbackRow, reason: &str, error: &str) -> String {
    format!(
        "**patchgate could not roll back this pull request** (merge `{}`, trigger: {}).\n\n\
         Reason for the rollback: {reason}\n\nWhat stopped it: {error}\n\n\
         Nothing was pushed. Revert it by hand, or resolve and ask again.\n\n{}",
        row.merge_sha,
        row.trigger,
        marker(&row.merge_sha)
    )
}
