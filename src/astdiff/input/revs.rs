//! Two revisions of one git repository as a change (the base defaults to their merge base):
//! resolving revisions, diffing trees, reading blobs.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{DiffFile, DiffOptions, ErrorCode, FileMode, Oid, Repository};

use super::{side_a, InputError, Side};
use crate::astdiff::change::{ChangeInput, FileVersions};

/// Two revisions of the repository at (or above) `repo` (`b: None`: single-render mode, `a`
/// is the head and a base is required). The base defaults to the merge base of A and B.
///
/// Only paths changed between the base and A or the base and B are included, found with
/// tree-to-tree diffs; only their blobs are read. Renames count as a deletion and an addition.
pub fn from_revs(
    repo: &Path,
    base: Option<&str>,
    a: &str,
    b: Option<&str>,
) -> Result<ChangeInput, InputError> {
    let single = b.is_none();
    if single && base.is_none() {
        return Err(InputError::BaseRequired {
            what: "single-render mode (--head)",
        });
    }
    let sa = side_a(single);
    let git = open_repo(repo)?;
    let a_rev = resolve(&git, repo, sa, a, true)?;
    let b_rev = match b {
        Some(b) => Some(resolve(&git, repo, Side::B, b, true)?),
        None => None,
    };
    let (base_tree, label_base) = match base {
        Some(base) => {
            let r = resolve(&git, repo, Side::Base, base, false)?;
            (r.tree, r.label)
        }
        None => {
            let (Some(b), Some(b_rev)) = (b, &b_rev) else {
                return Err(InputError::BaseRequired {
                    what: "single-render mode (--head)",
                });
            };
            let oid = git.merge_base(a_rev.id, b_rev.id).map_err(|cause| {
                if cause.code() == ErrorCode::NotFound {
                    InputError::NoMergeBase {
                        a: a.to_owned(),
                        b: b.to_owned(),
                    }
                } else {
                    git_err(
                        Side::Base,
                        format!("finding the merge base of `{a}` and `{b}`"),
                        cause,
                    )
                }
            })?;
            let tree = git
                .find_commit(oid)
                .and_then(|c| c.tree())
                .map_err(|cause| git_err(Side::Base, "reading the merge base".into(), cause))?;
            (
                tree.id(),
                format!("merge base of {a} and {b} ({})", short(oid)),
            )
        }
    };

    // path → blob ids; `a`/`b` are `None` until that render's diff touches the path.
    #[derive(Default)]
    struct Entry {
        base: Option<Oid>,
        a: Option<Option<Oid>>,
        b: Option<Option<Oid>>,
    }
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let renders = [
        (sa, Some(a_rev.tree)),
        (Side::B, b_rev.as_ref().map(|r| r.tree)),
    ];
    for (side, tree) in renders {
        let Some(tree) = tree else { continue };
        let find = |id: Oid, what: &str| {
            git.find_tree(id)
                .map_err(|cause| git_err(side, format!("reading the {what} tree"), cause))
        };
        let (old, new) = (find(base_tree, "base")?, find(tree, "render")?);
        let mut opts = DiffOptions::new();
        opts.skip_binary_check(true).ignore_submodules(true);
        let diff = git
            .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
            .map_err(|cause| git_err(side, "diffing against the base".into(), cause))?;
        for delta in diff.deltas() {
            let Some(path) = delta.new_file().path().or(delta.old_file().path()) else {
                continue;
            };
            let entry = entries
                .entry(path.to_string_lossy().into_owned())
                .or_default();
            if let Some(id) = blob_id(&delta.old_file()) {
                entry.base = Some(id);
            }
            let slot = if side == Side::B {
                &mut entry.b
            } else {
                &mut entry.a
            };
            // A type change is reported as a deletion and an addition: keep any blob seen.
            let now = blob_id(&delta.new_file());
            *slot = Some(slot.flatten().or(now));
        }
    }

    let read = |side: Side, id: Option<Oid>, path: &str| -> Result<Option<Vec<u8>>, InputError> {
        id.map(|id| {
            git.find_blob(id)
                .map(|blob| blob.content().to_vec())
                .map_err(|cause| git_err(side, format!("reading `{path}`"), cause))
        })
        .transpose()
    };
    let mut files = Vec::new();
    for (path, e) in entries {
        let a_id = e.a.unwrap_or(e.base);
        let b_id = if single { None } else { e.b.unwrap_or(e.base) };
        if a_id == e.base && (single || b_id == e.base) {
            continue; // a mode change, or a symlink or submodule change: no content change
        }
        files.push(FileVersions {
            base: read(Side::Base, e.base, &path)?,
            a: read(sa, a_id, &path)?,
            b: read(Side::B, b_id, &path)?,
            path,
        });
    }
    Ok(ChangeInput {
        has_base: true,
        single,
        label_base: Some(label_base),
        label_a: a_rev.label,
        label_b: b_rev.map(|r| r.label).unwrap_or_default(),
        files,
    })
}

pub(super) fn resolves_as_revs(repo: &Path, revs: &[&str]) -> bool {
    Repository::discover(repo).is_ok_and(|git| {
        revs.iter()
            .all(|r| !r.is_empty() && git.revparse_single(r).is_ok())
    })
}

pub(super) fn open_repo(repo: &Path) -> Result<Repository, InputError> {
    Repository::discover(repo).map_err(|e| InputError::NotARepo {
        repo: repo.to_path_buf(),
        message: e.message().to_owned(),
    })
}

/// A resolved revision.
pub(super) struct Resolved {
    /// The commit (or, for a base given as a tree, the object) it names.
    pub(super) id: Oid,
    /// Its tree.
    pub(super) tree: Oid,
    /// `rev (short id)`.
    pub(super) label: String,
}

/// Resolves a revision; renders (`commit`) must name commits, a base may name a tree.
pub(super) fn resolve(
    git: &Repository,
    repo: &Path,
    side: Side,
    rev: &str,
    commit: bool,
) -> Result<Resolved, InputError> {
    let unknown = |message: String| InputError::UnknownRevision {
        side,
        rev: rev.to_owned(),
        repo: repo.to_path_buf(),
        message,
    };
    let object = git
        .revparse_single(rev)
        .map_err(|e| unknown(e.message().to_owned()))?;
    let (tree, id) = if commit {
        let c = object
            .peel_to_commit()
            .map_err(|_| unknown("it does not name a commit".into()))?;
        let tree = c
            .tree()
            .map_err(|cause| git_err(side, format!("reading the tree of `{rev}`"), cause))?;
        (tree.id(), c.id())
    } else {
        let tree = object
            .peel_to_tree()
            .map_err(|_| unknown("it does not name a commit or tree".into()))?;
        (tree.id(), object.id())
    };
    Ok(Resolved {
        id,
        tree,
        label: format!("{rev} ({})", short(id)),
    })
}

fn short(id: Oid) -> String {
    id.to_string().chars().take(12).collect()
}

pub(super) fn git_err(side: Side, context: String, cause: git2::Error) -> InputError {
    InputError::Git {
        side,
        context,
        cause,
    }
}

pub(super) fn is_blob_mode(mode: i32) -> bool {
    mode == i32::from(FileMode::Blob)
        || mode == i32::from(FileMode::BlobExecutable)
        || mode == i32::from(FileMode::BlobGroupWritable)
}

/// The blob id of a diff side if it is a regular file (not absent, a symlink or a submodule).
fn blob_id(file: &DiffFile<'_>) -> Option<Oid> {
    let regular = matches!(
        file.mode(),
        FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable
    );
    (regular && !file.id().is_zero()).then(|| file.id())
}
