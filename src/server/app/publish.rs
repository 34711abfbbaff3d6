//! Publishing what the gate wrote into the mirror: with a signing key configured, the record
//! notes (`refs/notes/patchgate`), their signatures (`refs/notes/patchgate-signatures`), their
//! explanation texts (`refs/notes/patchgate-texts`, masked) and the ledger's anchor
//! (`refs/patchgate/ledger`) are pushed from the mirror to the repository after each decision,
//! so anyone with a clone can fetch and verify them (`patchgate meta verify --key`, `patchgate
//! ledger verify --anchor`, `git verify-commit`) and read the record with its texts
//! (`patchgate report <commit> --html`).
//!
//! Each ref is pushed fast-forward only, never forced: a remote ref that was moved by someone
//! else (another deployment writing the same refs, a person rewriting notes) is not
//! overwritten — the push is refused, logged as a warning with the ref and the reason, and
//! the job still succeeds (the record is in the ledger and on the check run; the refs carry
//! their whole history, so the next push after the conflict is resolved publishes everything
//! that was missed). Without a signing key nothing is pushed (the notes stay in the mirror,
//! as before).

use anyhow::{Context, Result};
use tracing::{info, warn};

use super::{AppHandler, Target};
use crate::meta::anchor::LEDGER_REF;
use crate::meta::notes::{NOTES_REF, SIGNATURES_REF, TEXTS_REF};

/// The refs published, in order (the anchor last: it names the newest record).
pub const PUBLISHED_REFS: [&str; 4] = [NOTES_REF, SIGNATURES_REF, TEXTS_REF, LEDGER_REF];

impl AppHandler {
    /// Whether a record-signing key is configured (then the records are published).
    pub(super) fn signs_records(&self) -> bool {
        (self.gate.env)(crate::gate::check::SIGNING_KEY_VAR).is_some_and(|v| !v.trim().is_empty())
    }

    /// Push [`PUBLISHED_REFS`] (those the mirror has) from the mirror to the repository;
    /// failures are logged, never returned (see the module documentation). The refs pushed.
    pub(super) async fn publish_records(&self, t: &Target) -> Vec<&'static str> {
        match self.try_publish(t).await {
            Ok(pushed) => pushed,
            Err(e) => {
                warn!(repo = %t.repo, error = %format!("{e:#}"), "the signed records could not be pushed to the repository");
                Vec::new()
            }
        }
    }

    async fn try_publish(&self, t: &Target) -> Result<Vec<&'static str>> {
        let token = t.inst.token().await.context("installation token")?;
        let mirrors = self.mirrors.clone();
        let repo = t.repo.clone();
        let url = t.clone_url.clone();
        let pushed = tokio::task::spawn_blocking(move || -> Result<Vec<&'static str>> {
            let git = mirrors.open(&repo)?;
            let mut pushed = Vec::new();
            for r in PUBLISHED_REFS {
                if git.find_reference(r).is_err() {
                    continue;
                }
                match mirrors.push(&repo, &url, Some(&token), &format!("{r}:{r}")) {
                    Ok(()) => pushed.push(r),
                    Err(e) => {
                        warn!(repo = %repo, refname = r, error = %format!("{e:#}"), "a signed-record ref was not pushed (the remote's is not an ancestor of the mirror's)");
                    }
                }
            }
            Ok(pushed)
        })
        .await
        .context("pushing the records")??;
        info!(repo = %t.repo, refs = pushed.join(" "), "signed records pushed");
        Ok(pushed)
    }
}
