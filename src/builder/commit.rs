//! Render B as a commit: the builder's change applied to the base's tree, committed on the base
//! with the builder's explanation as its message, kept under hidden refs, with the facts of the
//! build (builder, model or command, cost, seconds, request hash) in a git note
//! (`refs/notes/patchgate-render-b`), so that a later run reuses it without building again.
//!
//! Refs: `refs/patchgate/render-b/by-request/<builder>/<base>/<request hash>` always (the key of
//! reuse), and `refs/patchgate/render-b/<pr>/<head>` for a pull request.

use git2::{FileMode, Oid, Repository, Signature};
use serde::{Deserialize, Serialize};

use super::worktree::FileChange;

/// The notes ref holding each render B's build facts.
pub const NOTES_REF: &str = "refs/notes/patchgate-render-b";

/// What is known of a build, kept in the note and written into the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildFacts {
    pub builder: String,
    pub kind: String,
    /// Model builders: the model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Command builders: the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub cost_usd: f64,
    pub seconds: f64,
    pub request_hash: String,
    pub request_source: String,
    pub base: String,
    pub files: usize,
}

/// The reuse ref of a base, request and builder.
pub fn request_ref(builder: &str, base: &str, request_hash: &str) -> String {
    let hex = request_hash.trim_start_matches("sha256:");
    format!("refs/patchgate/render-b/by-request/{builder}/{base}/{hex}")
}

/// The ref of a pull request's render B for a head.
pub fn pr_ref(pr: u64, head: &str) -> String {
    format!("refs/patchgate/render-b/{pr}/{head}")
}

/// A render B built before for this key, with its facts.
pub fn lookup(repo: &Repository, key_ref: &str) -> Option<(Oid, BuildFacts)> {
    let oid = repo.refname_to_id(key_ref).ok()?;
    let note = repo.find_note(Some(NOTES_REF), oid).ok()?;
    let facts = serde_json::from_str(note.message().ok()?).ok()?;
    Some((oid, facts))
}

/// Apply `changes` to `base`'s tree and commit the result on `base`; refs and note written.
/// A change that does not apply (a file under a path that is a file in the base, a deletion of
/// a file the base lacks) is an error saying so.
pub fn commit(
    repo: &Repository,
    base: Oid,
    changes: &[FileChange],
    message: &str,
    facts: &BuildFacts,
    refs: &[String],
) -> Result<Oid, String> {
    let git = |what: &str, e: git2::Error| format!("{what}: {}", e.message());
    let base_commit = repo.find_commit(base).map_err(|e| git("the base", e))?;
    let base_tree = base_commit.tree().map_err(|e| git("the base's tree", e))?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    let deleted: std::collections::BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            FileChange::Delete { path } => Some(path.as_str()),
            FileChange::Write { .. } => None,
        })
        .collect();
    for c in changes {
        match c {
            FileChange::Write {
                path,
                bytes,
                executable,
            } => {
                conflicts(&base_tree, path, &deleted)?;
                let blob = repo.blob(bytes).map_err(|e| git("writing a blob", e))?;
                let mode = if *executable {
                    FileMode::BlobExecutable
                } else {
                    FileMode::Blob
                };
                update.upsert(path.as_str(), blob, mode);
            }
            FileChange::Delete { path } => {
                let present = base_tree
                    .get_path(std::path::Path::new(path))
                    .is_ok_and(|e| e.kind() == Some(git2::ObjectType::Blob));
                if !present {
                    return Err(format!(
                        "the change does not apply: it deletes {path}, which the base does not have"
                    ));
                }
                update.remove(path.as_str());
            }
        }
    }
    let tree_id = update
        .create_updated(repo, &base_tree)
        .map_err(|e| format!("the change does not apply: {}", e.message()))?;
    if tree_id == base_tree.id() {
        return Err("the builder changed nothing".into());
    }
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| git("the new tree", e))?;
    let sig = Signature::now(
        &format!("patchgate render B ({})", facts.builder),
        "patchgate@localhost",
    )
    .map_err(|e| git("signature", e))?;
    let oid = repo
        .commit(None, &sig, &sig, message, &tree, &[&base_commit])
        .map_err(|e| git("committing render B", e))?;
    let note = serde_json::to_string(facts).map_err(|e| e.to_string())?;
    repo.note(&sig, &sig, Some(NOTES_REF), oid, &note, true)
        .map_err(|e| git("noting the build", e))?;
    for r in refs {
        repo.reference(r, oid, true, "patchgate render B")
            .map_err(|e| git(r, e))?;
    }
    Ok(oid)
}

/// A file at `path` would not fit the base's tree: a directory there, or a file where one of
/// its parent directories should be.
fn conflicts(
    tree: &git2::Tree<'_>,
    path: &str,
    deleted: &std::collections::BTreeSet<&str>,
) -> Result<(), String> {
    let kind = |p: &str| {
        tree.get_path(std::path::Path::new(p))
            .ok()
            .and_then(|e| e.kind())
    };
    if kind(path) == Some(git2::ObjectType::Tree) {
        return Err(format!(
            "the change does not apply: {path} is a directory in the base"
        ));
    }
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let parent = &path[..at + i];
        if !deleted.contains(parent)
            && matches!(kind(parent), Some(k) if k != git2::ObjectType::Tree)
        {
            return Err(format!(
                "the change does not apply: {parent} is a file in the base, not a directory"
            ));
        }
        at += i + 1;
    }
    Ok(())
}

/// Point `refs` at an existing render B.
pub fn point(repo: &Repository, oid: Oid, refs: &[String]) -> Result<(), String> {
    for r in refs {
        repo.reference(r, oid, true, "patchgate render B (reused)")
            .map_err(|e| format!("{r}: {}", e.message()))?;
    }
    Ok(())
}
