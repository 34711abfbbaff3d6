//! The orchestrator's access to a repository: a mirror it may write objects and private refs
//! into, fetched from and pushed to a remote ([`GitAccess`]); [`LocalGit`] is a bare mirror of a
//! remote on disk (a bare repository path or `file://` URL) — the command line's and the tests'.
//!
//! What it is for: one small blocking interface (call it through `spawn_blocking`) that the
//! server implements over its GitHub mirrors (with the installation token) and the tests over
//! a directory, so the exactly-once flow is the same code everywhere.
//!
//! What it must never do: force-push a branch (every push is fast-forward only, and a remote
//! that moved answers [`PushError::Rejected`]), or put a token in an error.

use std::path::PathBuf;

use git2::{ErrorCode, FetchOptions, PushOptions, RemoteCallbacks, Repository};

/// A push that did not land.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote refused it: the branch moved (someone pushed meanwhile), or a hook said no.
    #[error("push of {refname} rejected: {message}")]
    Rejected {
        /// The remote ref.
        refname: String,
        /// Why.
        message: String,
    },
    /// Anything else (transport, local repository).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A repository's mirror and its remote. Blocking.
pub trait GitAccess: Send + Sync {
    /// The remote's default branch (short name, e.g. `main`).
    fn default_branch(&self, repo: &str) -> anyhow::Result<String>;
    /// Bring the mirror up to date with the remote (every branch, and `refs/notes/*`, forced:
    /// the mirror follows the remote) and open it.
    fn fetch(&self, repo: &str) -> anyhow::Result<Repository>;
    /// Open the mirror as it is (no fetch).
    fn open(&self, repo: &str) -> anyhow::Result<Repository>;
    /// Push `local_ref` of the mirror to `remote_ref` of the remote, fast-forward only.
    fn push(&self, repo: &str, local_ref: &str, remote_ref: &str) -> Result<(), PushError>;
}

/// A bare mirror at `mirror` of the remote at `remote`, default branch `branch`.
#[derive(Debug, Clone)]
pub struct LocalGit {
    mirror: PathBuf,
    remote: String,
    branch: String,
}

/// What a fetch takes: every branch, and the notes (decision records).
const FETCH_SPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/notes/*:refs/notes/*"];

impl LocalGit {
    /// A mirror directory (created on first fetch), a remote (a path or URL git2 can reach
    /// without credentials) and the default branch.
    pub fn new(mirror: impl Into<PathBuf>, remote: impl Into<String>, branch: &str) -> LocalGit {
        LocalGit {
            mirror: mirror.into(),
            remote: remote.into(),
            branch: branch.to_string(),
        }
    }

    fn open_or_init(&self) -> anyhow::Result<Repository> {
        match Repository::open_bare(&self.mirror) {
            Ok(r) => Ok(r),
            Err(_) => {
                std::fs::create_dir_all(&self.mirror)?;
                Ok(Repository::init_bare(&self.mirror)?)
            }
        }
    }
}

impl GitAccess for LocalGit {
    fn default_branch(&self, _repo: &str) -> anyhow::Result<String> {
        Ok(self.branch.clone())
    }

    fn fetch(&self, _repo: &str) -> anyhow::Result<Repository> {
        let repo = self.open_or_init()?;
        {
            let mut remote = repo.remote_anonymous(&self.remote)?;
            let mut opts = FetchOptions::new();
            opts.download_tags(git2::AutotagOption::None);
            remote.fetch(&FETCH_SPECS, Some(&mut opts), None)?;
        }
        Ok(repo)
    }

    fn open(&self, _repo: &str) -> anyhow::Result<Repository> {
        self.open_or_init()
    }

    fn push(&self, _repo: &str, local_ref: &str, remote_ref: &str) -> Result<(), PushError> {
        let repo = self.open_or_init()?;
        push_to(&repo, &self.remote, local_ref, remote_ref)
    }
}

/// Push `local_ref:remote_ref` (never forced) to `url` from `repo`.
pub fn push_to(
    repo: &Repository,
    url: &str,
    local_ref: &str,
    remote_ref: &str,
) -> Result<(), PushError> {
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| PushError::Other(e.into()))?;
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
        let spec = format!("{local_ref}:{remote_ref}");
        remote.push(&[spec.as_str()], Some(&mut opts))
    };
    match result {
        Err(e) if e.code() == ErrorCode::NotFastForward => Err(PushError::Rejected {
            refname: remote_ref.to_string(),
            message: e.message().to_string(),
        }),
        Err(e) => Err(PushError::Other(e.into())),
        Ok(()) => match rejected {
            Some((refname, message)) => Err(PushError::Rejected { refname, message }),
            None => Ok(()),
        },
    }
}
