//! The ledger's head, anchored in the repository as a signed commit: `refs/patchgate/ledger`.
//!
//! What it is for: the ledger's rows prove that no record *inside* the chain was edited,
//! deleted or reordered, but deleting the newest rows leaves a shorter chain that still
//! verifies. So each record sealed with a signing key also moves `refs/patchgate/ledger` to a
//! new commit — SSH-signed with the deployment's key the way git signs (`gpgsig`, namespace
//! `git`), so `git verify-commit` with `gpg.format=ssh` checks it — whose tree holds one file,
//! `head`: `seq: N` and `record_hash: sha256:…`. Its parent is the previous anchor, so the
//! anchor's own history is a signed chain too. [`check_anchor`] compares a ledger with the
//! anchor: a ledger whose row N is missing or has another hash was cut or rewritten.
//!
//! What it must never do: move the ref to an unsigned commit, or accept an anchor whose
//! signature does not verify against the allowed keys.

use git2::{ErrorCode, Oid, Repository};

use super::ledger::LedgerRow;
use super::sshsig::{verify, PublicKey, SigningKey};

/// The ref that holds the anchored ledger head.
pub const LEDGER_REF: &str = "refs/patchgate/ledger";

/// The namespace git uses for SSH-signed commits.
const GIT_NAMESPACE: &str = "git";

/// An anchored ledger head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub record_hash: String,
    /// The anchor commit.
    pub commit: Oid,
}

/// Write a commit by `who` with `tree` and `parents`, SSH-signed with `key` as git signs
/// commits (`gpgsig`, namespace `git`: `git verify-commit` with `gpg.format=ssh` checks it).
/// No ref is moved.
pub fn signed_commit(
    repo: &Repository,
    who: &git2::Signature<'_>,
    tree: &git2::Tree<'_>,
    parents: &[&git2::Commit<'_>],
    message: &str,
    key: &SigningKey,
) -> Result<Oid, git2::Error> {
    let buf = repo.commit_create_buffer(who, who, message, tree, parents)?;
    let content = std::str::from_utf8(&buf)
        .map_err(|_| git2::Error::from_str("the commit is not UTF-8"))?
        .to_string();
    let armored = key.sign(content.as_bytes(), GIT_NAMESPACE);
    repo.commit_signed(&content, armored.trim_end(), Some("gpgsig"))
}

/// Move [`LEDGER_REF`] to a new signed commit recording `seq` and `record_hash`.
pub fn anchor(
    repo: &Repository,
    seq: i64,
    record_hash: &str,
    key: &SigningKey,
) -> Result<Oid, git2::Error> {
    let parent = match repo.find_reference(LEDGER_REF) {
        Ok(r) => Some(r.peel_to_commit()?),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(e),
    };
    let blob = repo.blob(format!("seq: {seq}\nrecord_hash: {record_hash}\n").as_bytes())?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("head", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let who = super::notes::signature(repo)?;
    let oid = signed_commit(
        repo,
        &who,
        &tree,
        &parents,
        &format!("patchgate ledger head: #{seq} {record_hash}\n"),
        key,
    )?;
    repo.reference(LEDGER_REF, oid, true, "patchgate: ledger head")?;
    Ok(oid)
}

/// Read the anchor and check its commit's signature against `allowed`. `Ok(None)` when the
/// repository has no anchor.
pub fn read_anchor(repo: &Repository, allowed: &[PublicKey]) -> Result<Option<Anchor>, String> {
    let commit = match repo.find_reference(LEDGER_REF) {
        Ok(r) => r.peel_to_commit().map_err(|e| e.message().to_string())?,
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e.message().to_string()),
    };
    let (sig, data) = repo
        .extract_signature(&commit.id(), Some("gpgsig"))
        .map_err(|_| format!("the anchor {} is not signed", commit.id()))?;
    let sig = std::str::from_utf8(&sig).map_err(|_| "the anchor's signature is not text")?;
    verify(sig, &data, GIT_NAMESPACE, allowed)
        .map_err(|e| format!("the anchor {}: {e}", commit.id()))?;
    let tree = commit.tree().map_err(|e| e.message().to_string())?;
    let entry = tree
        .get_name("head")
        .ok_or_else(|| format!("the anchor {} has no head file", commit.id()))?;
    let blob = repo
        .find_blob(entry.id())
        .map_err(|e| e.message().to_string())?;
    let text = std::str::from_utf8(blob.content()).map_err(|_| "the anchor is not text")?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("the anchor has no {name}"))
    };
    let seq = field("seq:")?
        .parse::<i64>()
        .map_err(|_| "the anchor's seq is not a number")?;
    Ok(Some(Anchor {
        seq,
        record_hash: field("record_hash:")?,
        commit: commit.id(),
    }))
}

/// Whether `rows` (the ledger, by seq) still hold the anchored head: row `anchor.seq` exists
/// with the anchored hash. Rows after it (records sealed since) are fine.
pub fn check_anchor(anchor: &Anchor, rows: &[LedgerRow]) -> Result<(), String> {
    match rows.iter().find(|r| r.seq == anchor.seq) {
        Some(r) if r.record_hash == anchor.record_hash => Ok(()),
        Some(r) => Err(format!(
            "record #{} is {} but the signed anchor says {}: the ledger was rewritten",
            anchor.seq, r.record_hash, anchor.record_hash
        )),
        None => Err(format!(
            "the signed anchor names record #{} ({}), which the ledger no longer has \
             (it ends at #{}): records were deleted",
            anchor.seq,
            anchor.record_hash,
            rows.last().map(|r| r.seq).unwrap_or(0)
        )),
    }
}

/// `patchgate ledger verify --anchor REPO --key ALLOWED_SIGNERS`: read the anchor of the
/// repository at `repo`, check its signature against the keys of `allowed_signers`, and check
/// `rows` against it. `Ok` describes the anchor; `Err` says what is wrong, in one line.
pub fn verify_against_anchor(
    repo: &std::path::Path,
    allowed_signers: &str,
    rows: &[LedgerRow],
) -> Result<String, String> {
    let repo = Repository::discover(repo)
        .map_err(|_| format!("{} is not a git repository", repo.display()))?;
    let allowed = super::sshsig::allowed_keys(allowed_signers)
        .map_err(|e| format!("the allowed keys: {e}"))?;
    let Some(a) = read_anchor(&repo, &allowed)? else {
        return Err(format!("the repository has no {LEDGER_REF}"));
    };
    check_anchor(&a, rows)?;
    Ok(format!(
        "holds the signed anchor #{} {} ({})",
        a.seq, a.record_hash, a.commit
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, hash: &str) -> LedgerRow {
        LedgerRow {
            seq,
            record_hash: hash.into(),
            prev_record_hash: String::new(),
            repo: "r".into(),
            head: "h".into(),
            record_yaml: String::new(),
        }
    }

    #[test]
    fn a_cut_or_rewritten_ledger_misses_the_anchor() {
        let a = Anchor {
            seq: 2,
            record_hash: "sha256:b".into(),
            commit: Oid::ZERO_SHA1,
        };
        assert!(check_anchor(&a, &[row(1, "sha256:a"), row(2, "sha256:b")]).is_ok());
        assert!(check_anchor(&a, &[row(1, "sha256:a"), row(2, "sha256:b"), row(3, "x")]).is_ok());
        let e = check_anchor(&a, &[row(1, "sha256:a")]).unwrap_err();
        assert!(e.contains("deleted") && e.contains("ends at #1"), "{e}");
        let e = check_anchor(&a, &[row(1, "sha256:a"), row(2, "sha256:c")]).unwrap_err();
        assert!(e.contains("rewritten"), "{e}");
    }
}
