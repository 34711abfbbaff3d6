//! Pushing a branch to a remote after a rollback (`patchgate rollback --push`), and checking
//! that remote before anything is committed ([`check_remote`]).
//!
//! Must never force: a remote branch that moved rejects the push, and the error says so, once.

use git2::{Direction, Oid, PushOptions, Remote, RemoteCallbacks, Repository};

use super::{branch_ref, Result, RollbackError};

/// Does `name` look like a URL or a path rather than a remote's name?
fn looks_like_location(name: &str) -> bool {
    name.contains("://")
        || name.starts_with('/')
        || name.starts_with('.')
        || name.starts_with('~')
        || name.contains(':')
        || std::path::Path::new(name).is_dir()
}

/// The configured remote `name`, or an anonymous remote when `name` is a URL or a path; a name
/// that is neither is an error naming it.
fn resolve<'r>(repo: &'r Repository, name: &str) -> Result<Remote<'r>> {
    match repo.find_remote(name) {
        Ok(r) => Ok(r),
        Err(_) if looks_like_location(name) => {
            repo.remote_anonymous(name)
                .map_err(|e| RollbackError::Remote {
                    remote: name.to_string(),
                    message: e.message().to_string(),
                })
        }
        Err(_) => Err(RollbackError::Remote {
            remote: name.to_string(),
            message: "no remote of that name in this repository (`git remote -v` lists them): \
                      add it with `git remote add`, or pass --remote NAME or a URL"
                .to_string(),
        }),
    }
}

/// What the remote holds, seen before committing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteState {
    /// The remote's tip of the branch (`None`: the remote has no such branch yet).
    pub tip: Option<Oid>,
}

/// Connect to `remote` (a configured remote's name, or a URL/path) for a push and read where
/// its `branch` is, without changing anything: a missing, unreachable or unusable remote is a
/// [`RollbackError::Remote`] naming it, found before the revert is committed.
pub fn check_remote(repo: &Repository, remote: &str, branch: &str) -> Result<RemoteState> {
    let refname = branch_ref(branch)?;
    let mut r = resolve(repo, remote)?;
    let fail = |e: git2::Error| RollbackError::Remote {
        remote: remote.to_string(),
        message: e.message().to_string(),
    };
    r.connect(Direction::Push).map_err(fail)?;
    let tip = r
        .list()
        .map_err(fail)?
        .iter()
        .find(|h| h.name() == refname)
        .map(|h| h.oid());
    let _ = r.disconnect();
    Ok(RemoteState { tip })
}

/// Push `branch` to `remote` (a configured remote's name, or a URL/path such as `file:///…`),
/// fast-forward only. Authentication beyond what libgit2 does by itself (local paths) is not
/// handled here. A rejection is one [`RollbackError::PushRejected`] with the remote's reason.
pub fn push(repo: &Repository, remote: &str, branch: &str) -> Result<()> {
    let refname = branch_ref(branch)?;
    let mut r = resolve(repo, remote)?;
    let mut rejected: Option<(String, String)> = None;
    let result = {
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
        r.push(&[spec.as_str()], Some(&mut opts))
    };
    match (result, rejected) {
        (_, Some((refname, message))) => Err(RollbackError::PushRejected { refname, message }),
        (Err(e), None) if e.code() == git2::ErrorCode::NotFastForward => {
            Err(RollbackError::PushRejected {
                refname,
                message: format!(
                    "{} (the remote branch has commits this one lacks: fetch, then roll back again)",
                    e.message()
                ),
            })
        }
        (Err(e), None) => Err(RollbackError::Remote {
            remote: remote.to_string(),
            message: e.message().to_string(),
        }),
        (Ok(()), None) => Ok(()),
    }
}
