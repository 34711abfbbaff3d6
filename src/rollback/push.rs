//! Pushing a branch to a remote after a rollback (`patchgate rollback --push`).
//!
//! Must never force: a remote branch that moved rejects the push, and the error says so.

use git2::{PushOptions, RemoteCallbacks, Repository};

use super::{branch_ref, Result, RollbackError};

/// Push `branch` to `remote` (a configured remote's name, or a URL/path such as `file:///…`),
/// fast-forward only. Authentication beyond what libgit2 does by itself (local paths) is not
/// handled here.
pub fn push(repo: &Repository, remote: &str, branch: &str) -> Result<()> {
    let refname = branch_ref(branch)?;
    let mut remote = match repo.find_remote(remote) {
        Ok(r) => r,
        Err(_) => repo.remote_anonymous(remote)?,
    };
    let mut rejected: Option<(String, String)> = None;
    {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.push_update_reference(|name, status| {
            if let Some(msg) = status {
                rejected = Some((name.to_string(), msg.to_string()));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        let spec = format!("{refname}:{refname}");
        remote.push(&[spec.as_str()], Some(&mut opts))?;
    }
    match rejected {
        Some((refname, message)) => Err(RollbackError::PushRejected { refname, message }),
        None => Ok(()),
    }
}
