//! Two unified-diff patches applied to a base (a directory, or a revision of the repository)
//! as a change.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository};

use super::files::{path_kind, PathKind};
use super::revs::{git_err, is_blob_mode, open_repo, resolve};
use super::{side_a, InputError, Side};
use crate::astdiff::change::{ChangeInput, FileVersions};
use crate::astdiff::patch::{self, ApplyError};

/// Two unified-diff patch files (`b: None`: single-render mode, `a` is the head's patch)
/// applied to `base`: an existing directory, or else a revision of the repository at `repo`.
///
/// Only paths whose content a patch changes are included; a path one patch leaves alone keeps
/// the base content on that side. See [`patch`] for what is parsed and how hunks are matched.
pub fn from_patches(
    repo: &Path,
    base: &str,
    a: &Path,
    b: Option<&Path>,
) -> Result<ChangeInput, InputError> {
    let single = b.is_none();
    let sa = side_a(single);
    let (source, label_base) = BaseSource::open(repo, base)?;
    let a_state = apply_patch_file(&source, sa, a)?;
    let b_state = match b {
        Some(p) => Some(apply_patch_file(&source, Side::B, p)?),
        None => None,
    };
    let mut paths: BTreeSet<&String> = a_state.keys().collect();
    paths.extend(b_state.iter().flat_map(|m| m.keys()));
    let mut files = Vec::new();
    for path in paths {
        let base_c = source.read(path)?;
        let a_c = a_state.get(path).cloned().unwrap_or_else(|| base_c.clone());
        let b_c = match &b_state {
            Some(m) => m.get(path).cloned().unwrap_or_else(|| base_c.clone()),
            None => None,
        };
        if base_c != a_c || (!single && base_c != b_c) {
            files.push(FileVersions {
                path: path.clone(),
                base: base_c,
                a: a_c,
                b: b_c,
            });
        }
    }
    Ok(ChangeInput {
        has_base: true,
        single,
        label_base: Some(label_base),
        label_a: a.display().to_string(),
        label_b: b.map(|p| p.display().to_string()).unwrap_or_default(),
        files,
    })
}

/// Where patches are applied: a directory, or a tree of a repository.
enum BaseSource {
    Dir(PathBuf),
    Tree { repo: Repository, tree: Oid },
}

impl BaseSource {
    fn open(repo: &Path, base: &str) -> Result<(BaseSource, String), InputError> {
        let path = Path::new(base);
        match path_kind(Side::Base, path)? {
            PathKind::Dir => Ok((BaseSource::Dir(path.to_path_buf()), base.to_owned())),
            PathKind::File => Err(InputError::BaseWrongKind {
                base: base.to_owned(),
                problem: "is a file; patches apply to a directory or a git revision".into(),
            }),
            PathKind::Missing => {
                let git = open_repo(repo)?;
                let r = resolve(&git, repo, Side::Base, base, false)?;
                Ok((
                    BaseSource::Tree {
                        repo: git,
                        tree: r.tree,
                    },
                    r.label,
                ))
            }
        }
    }

    /// A regular file's content in the base, `None` if absent (or not a regular file).
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, InputError> {
        match self {
            BaseSource::Dir(root) => {
                let full = root.join(path);
                match fs::symlink_metadata(&full) {
                    Ok(m) if m.is_file() => {
                        fs::read(&full)
                            .map(Some)
                            .map_err(|cause| InputError::Unreadable {
                                side: Side::Base,
                                path: full,
                                cause,
                            })
                    }
                    Ok(_) => Ok(None),
                    Err(e)
                        if e.kind() == io::ErrorKind::NotFound
                            || e.kind() == io::ErrorKind::NotADirectory =>
                    {
                        Ok(None)
                    }
                    Err(cause) => Err(InputError::Unreadable {
                        side: Side::Base,
                        path: full,
                        cause,
                    }),
                }
            }
            BaseSource::Tree { repo, tree } => {
                let err = |cause| git_err(Side::Base, format!("reading `{path}`"), cause);
                let tree = repo.find_tree(*tree).map_err(err)?;
                let entry = match tree.get_path(Path::new(path)) {
                    Ok(e) => e,
                    Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
                    Err(cause) => return Err(err(cause)),
                };
                if !is_blob_mode(entry.filemode()) {
                    return Ok(None);
                }
                let blob = repo.find_blob(entry.id()).map_err(err)?;
                Ok(Some(blob.content().to_vec()))
            }
        }
    }
}

/// Parses and applies one patch file; returns the content of every path it touched.
fn apply_patch_file(
    source: &BaseSource,
    side: Side,
    patch_path: &Path,
) -> Result<BTreeMap<String, Option<Vec<u8>>>, InputError> {
    let bytes = match fs::read(patch_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(InputError::Missing {
                side,
                path: patch_path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
            return Err(InputError::WrongKind {
                side,
                path: patch_path.to_path_buf(),
                found: "directory",
                expected: "patch file",
            });
        }
        Err(cause) => {
            return Err(InputError::Unreadable {
                side,
                path: patch_path.to_path_buf(),
                cause,
            })
        }
    };
    let parsed = patch::parse(&bytes).map_err(|cause| InputError::PatchParse {
        side,
        patch: patch_path.to_path_buf(),
        cause,
    })?;
    if let Some(fp) = parsed.files.iter().find(|f| f.binary) {
        return Err(InputError::BinaryPatch {
            side,
            patch: patch_path.to_path_buf(),
            file: fp.display_path().to_owned(),
        });
    }
    let mut state: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let current = |state: &BTreeMap<String, Option<Vec<u8>>>,
                   path: &str|
     -> Result<Option<Vec<u8>>, InputError> {
        match state.get(path) {
            Some(c) => Ok(c.clone()),
            None => source.read(path),
        }
    };
    let fail = |file: &str, cause: ApplyError| InputError::PatchApply {
        side,
        patch: patch_path.to_path_buf(),
        file: file.to_owned(),
        cause: Box::new(cause),
    };
    for fp in &parsed.files {
        match (&fp.old_path, &fp.new_path) {
            (Some(old), Some(new)) if old != new && fp.git => {
                // Rename or copy: the new path must be free.
                if current(&state, new)?.is_some() {
                    return Err(fail(new, ApplyError::AlreadyExists));
                }
                let orig = current(&state, old)?;
                let out = patch::apply(orig.as_deref(), fp).map_err(|c| fail(old, c))?;
                if !fp.copy {
                    state.insert(old.clone(), None);
                }
                state.insert(new.clone(), out);
            }
            (Some(old), Some(new)) => {
                // `diff -u file.orig file`: the name that exists in the base is the target.
                let target = if old == new || current(&state, old)?.is_some() {
                    old
                } else {
                    new
                };
                let orig = current(&state, target)?;
                let out = patch::apply(orig.as_deref(), fp).map_err(|c| fail(target, c))?;
                state.insert(target.clone(), out);
            }
            (None, Some(path)) | (Some(path), None) => {
                let orig = current(&state, path)?;
                let out = patch::apply(orig.as_deref(), fp).map_err(|c| fail(path, c))?;
                state.insert(path.clone(), out);
            }
            (None, None) => {}
        }
    }
    Ok(state)
}
