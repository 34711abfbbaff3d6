//! The gate's outputs besides the ledger: the deployment's signing key, the record attached
//! to the head as git notes, `meta.yaml` on disk; and the blocking pool both halves run on.

use anyhow::{Context, Result};
use git2::{Oid, Repository};

use super::CheckRequest;
use crate::meta::notes;
use crate::meta::record::MetaRecord;

/// The deployment's record-signing key: `PATCHGATE_SIGNING_KEY` is an unencrypted OpenSSH
/// Ed25519 private key, as text or as the path of its file. `None` when unset. The error never
/// contains the key.
pub fn signing_key(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Option<crate::meta::sshsig::SigningKey>> {
    let Some(v) = env("PATCHGATE_SIGNING_KEY").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let text = if v.contains("-----BEGIN") {
        v
    } else {
        std::fs::read_to_string(v.trim())
            .map_err(|e| anyhow::anyhow!("PATCHGATE_SIGNING_KEY: cannot read the key file: {e}"))?
    };
    crate::meta::sshsig::SigningKey::from_openssh(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("PATCHGATE_SIGNING_KEY: {e}"))
}

/// Run `work` on tokio's blocking pool; a panic in it is re-raised here.
pub(super) async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(anyhow::anyhow!(
            "the gate's repository work was cancelled: {e}"
        )),
    }
}

/// Where the explanation texts of the record at `meta` are written: `<meta>.texts.json`.
pub fn texts_path(meta: &std::path::Path) -> std::path::PathBuf {
    let mut p = meta.as_os_str().to_owned();
    p.push(".texts.json");
    p.into()
}

/// Attach the sealed record (and its explanation texts, its signature, and the ledger's anchor)
/// to the head commit as git notes, and write `meta.yaml`, as `req` asks; the note (and the earlier record's
/// note it replaced, if any).
pub(super) fn write_out(
    req: &CheckRequest,
    head_id: Oid,
    record: &MetaRecord,
    yaml: &str,
    texts: &crate::meta::texts::ExplanationTexts,
    seq: i64,
    signer: Option<&crate::meta::sshsig::SigningKey>,
) -> Result<Option<notes::Attached>> {
    let note = if req.attach_note {
        let repo = Repository::discover(&req.repo)
            .with_context(|| format!("{} is not inside a git repository", req.repo.display()))?;
        let note = notes::attach_replacing(&repo, head_id, record)
            .context("attaching the record as a git note")?;
        // Its explanation texts (masked, as kept in the store and beside `meta.yaml`), for
        // `patchgate report <commit>` and the record page.
        notes::attach_texts(&repo, head_id, &texts.to_json())
            .context("attaching the record's explanation texts as a git note")?;
        // Signed with the deployment's key when one is configured (the note's exact text).
        if let Some(key) = signer {
            notes::attach_signature(&repo, head_id, yaml, key)
                .context("attaching the record's signature as a git note")?;
            let hash = record.record_hash.as_deref().unwrap_or_default();
            crate::meta::anchor::anchor(&repo, seq, hash, key)
                .context("anchoring the ledger head (refs/patchgate/ledger)")?;
        }
        Some(note)
    } else {
        None
    };
    if let Some(path) = &req.write_meta {
        std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))?;
        // The explanation texts (masked) beside it, for `patchgate report --html`.
        let texts_path = texts_path(path);
        std::fs::write(&texts_path, texts.to_json())
            .with_context(|| format!("writing {}", texts_path.display()))?;
        if let Some(key) = signer {
            // Beside it, as `ssh-keygen -Y sign` names a signature.
            let sig = key.sign(yaml.as_bytes(), crate::meta::sshsig::RECORD_NAMESPACE);
            let sig_path = format!("{}.sig", path.display());
            std::fs::write(&sig_path, sig).with_context(|| format!("writing {sig_path}"))?;
        }
    }
    Ok(note)
}
