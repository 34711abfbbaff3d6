//! Telling the kinds of input apart: directories, files, patches (files that look like
//! unified diffs, with a base) or revisions.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::files::{path_kind, PathKind};
use super::revs::resolves_as_revs;
use super::{side_a, InputError, InputKind, InputSpec, Side};
use crate::astdiff::patch;

/// Detects the kind of input: A and B both existing directories → [`InputKind::Dirs`]; both
/// existing files → [`InputKind::Patches`] if a base is given, the base is a directory or a
/// revision of the repository, and both files look like unified diffs (first non-blank line
/// starts with `diff `, `--- ` or `Index:`), else [`InputKind::Files`]; neither existing →
/// [`InputKind::Revs`]. In single-render mode only A (the head) is looked at.
///
/// A directory and a file is an error; one existing path and one missing is an error naming
/// the missing one, unless both resolve as revisions of the repository.
pub fn detect(spec: &InputSpec) -> Result<InputKind, InputError> {
    let single = spec.b.is_none();
    let sa = side_a(single);
    let a = Path::new(&spec.a);
    let ka = path_kind(sa, a)?;
    let kb = match spec.b.as_deref() {
        Some(b) => Some(path_kind(Side::B, Path::new(b))?),
        None => None,
    };
    use PathKind::{Dir, File, Missing};
    Ok(match (ka, kb) {
        (Dir, None | Some(Dir)) => InputKind::Dirs,
        (File, Some(File))
            if spec.base.is_none()
                && sniff_patch(a)
                && spec.b.as_deref().is_some_and(|b| sniff_patch(Path::new(b))) =>
        {
            return Err(InputError::PatchesNeedBase {
                a: a.to_path_buf(),
                b: PathBuf::from(spec.b.as_deref().unwrap_or_default()),
            });
        }
        (File, None | Some(File)) => {
            let patches = spec
                .base
                .as_deref()
                .is_some_and(|base| base_is_dir_or_rev(&spec.repo, base))
                && sniff_patch(a)
                && spec.b.as_deref().is_none_or(|b| sniff_patch(Path::new(b)));
            if patches {
                InputKind::Patches
            } else {
                InputKind::Files
            }
        }
        (Dir | File, Some(Dir | File)) => {
            let b = spec.b.as_deref().unwrap_or_default();
            return Err(InputError::KindMix {
                side: sa,
                path: a.to_path_buf(),
                found: ka.noun(),
                other_side: Side::B,
                other_path: PathBuf::from(b),
                other_found: kb.map_or("", PathKind::noun),
            });
        }
        (Missing, None | Some(Missing)) => InputKind::Revs,
        (Missing, Some(_)) | (_, Some(Missing)) => {
            let b = spec.b.as_deref().unwrap_or_default();
            if resolves_as_revs(&spec.repo, &[&spec.a, b]) {
                InputKind::Revs
            } else if ka == Missing {
                return Err(InputError::Missing {
                    side: sa,
                    path: a.to_path_buf(),
                });
            } else {
                return Err(InputError::Missing {
                    side: Side::B,
                    path: PathBuf::from(b),
                });
            }
        }
    })
}

/// Whether the file starts like a unified diff (reads at most 64 KiB; unreadable → no).
pub(super) fn sniff_patch(path: &Path) -> bool {
    let mut head = Vec::new();
    match fs::File::open(path) {
        Ok(f) => f.take(64 * 1024).read_to_end(&mut head).is_ok() && patch::looks_like_patch(&head),
        Err(_) => false,
    }
}

fn base_is_dir_or_rev(repo: &Path, base: &str) -> bool {
    match fs::metadata(base) {
        Ok(m) => m.is_dir(),
        Err(_) => resolves_as_revs(repo, &[base]),
    }
}
