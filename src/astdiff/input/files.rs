//! Two files or two directories (and an optional base of the same kind) as a change; what a
//! user-given path is, and the walk that keeps regular files only.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{side_a, InputError, Side};
use crate::astdiff::change::{ChangeInput, FileVersions};

/// Two files (`b: None`: single-render mode, `a` is the head), with an optional base file.
/// One [`FileVersions`], named after A's file name, whether the files differ or not.
pub fn from_files(
    base: Option<&Path>,
    a: &Path,
    b: Option<&Path>,
) -> Result<ChangeInput, InputError> {
    let single = b.is_none();
    if single && base.is_none() {
        return Err(InputError::BaseRequired {
            what: "single-render mode (--head)",
        });
    }
    let sa = side_a(single);
    let base_bytes = match base {
        Some(p) => Some(read_file_arg(
            Side::Base,
            p,
            "comparing two files needs a base file",
        )?),
        None => None,
    };
    let a_bytes = read_file_arg(sa, a, "")?;
    let b_bytes = match b {
        Some(p) => Some(read_file_arg(Side::B, p, "")?),
        None => None,
    };
    let path = a
        .file_name()
        .map_or_else(|| a.to_string_lossy(), |n| n.to_string_lossy())
        .into_owned();
    Ok(ChangeInput {
        has_base: base.is_some(),
        single,
        label_base: base.map(|p| p.display().to_string()),
        label_a: a.display().to_string(),
        label_b: b.map(|p| p.display().to_string()).unwrap_or_default(),
        files: vec![FileVersions {
            path,
            base: base_bytes,
            a: Some(a_bytes),
            b: b_bytes,
        }],
    })
}

/// Two directories holding the after-images of two renders (`b: None`: single-render mode),
/// with an optional base directory.
///
/// Walks each recursively (skipping `.git`, keeping regular files only, following no
/// symlinks) and takes the union of relative paths. Without a base every file is included;
/// with one, only the paths where a render differs from the base.
pub fn from_dirs(
    base: Option<&Path>,
    a: &Path,
    b: Option<&Path>,
) -> Result<ChangeInput, InputError> {
    let single = b.is_none();
    if single && base.is_none() {
        return Err(InputError::BaseRequired {
            what: "single-render mode (--head)",
        });
    }
    let sa = side_a(single);
    let base_files = match base {
        Some(p) => Some(walk(Side::Base, p)?),
        None => None,
    };
    let a_files = walk(sa, a)?;
    let b_files = match b {
        Some(p) => Some(walk(Side::B, p)?),
        None => None,
    };
    let mut paths: BTreeSet<&String> = a_files.keys().collect();
    paths.extend(base_files.iter().flat_map(|m| m.keys()));
    paths.extend(b_files.iter().flat_map(|m| m.keys()));

    let read = |side: Side, files: Option<&BTreeMap<String, PathBuf>>, path: &str| match files
        .and_then(|m| m.get(path))
    {
        Some(full) => fs::read(full)
            .map(Some)
            .map_err(|cause| InputError::Unreadable {
                side,
                path: full.clone(),
                cause,
            }),
        None => Ok(None),
    };
    let mut files = Vec::new();
    for path in paths {
        let base_c = read(Side::Base, base_files.as_ref(), path)?;
        let a_c = read(sa, Some(&a_files), path)?;
        let b_c = read(Side::B, b_files.as_ref(), path)?;
        if base.is_none() || base_c != a_c || (!single && base_c != b_c) {
            files.push(FileVersions {
                path: path.clone(),
                base: base_c,
                a: a_c,
                b: b_c,
            });
        }
    }
    Ok(ChangeInput {
        has_base: base.is_some(),
        single,
        label_base: base.map(|p| p.display().to_string()),
        label_a: a.display().to_string(),
        label_b: b.map(|p| p.display().to_string()).unwrap_or_default(),
        files,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathKind {
    Dir,
    File,
    Missing,
}

impl PathKind {
    pub(super) fn noun(self) -> &'static str {
        match self {
            PathKind::Dir => "directory",
            PathKind::File => "file",
            PathKind::Missing => "missing path",
        }
    }
}

/// What a user-given path is (following symlinks: the user named it).
pub(super) fn path_kind(side: Side, path: &Path) -> Result<PathKind, InputError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(PathKind::Dir),
        Ok(_) => Ok(PathKind::File),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(PathKind::Missing)
        }
        Err(cause) => Err(InputError::Unreadable {
            side,
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Reads a file argument; `base_hint` completes the message when the base is not a file.
fn read_file_arg(side: Side, path: &Path, base_hint: &str) -> Result<Vec<u8>, InputError> {
    match path_kind(side, path)? {
        PathKind::Missing => Err(InputError::Missing {
            side,
            path: path.to_path_buf(),
        }),
        PathKind::Dir if side == Side::Base => Err(InputError::BaseWrongKind {
            base: path.display().to_string(),
            problem: format!("is a directory; {base_hint}"),
        }),
        PathKind::Dir => Err(InputError::WrongKind {
            side,
            path: path.to_path_buf(),
            found: "directory",
            expected: "file",
        }),
        PathKind::File => fs::read(path).map_err(|cause| InputError::Unreadable {
            side,
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Regular files under `root`, by relative `/`-separated path.
pub(super) fn walk(side: Side, root: &Path) -> Result<BTreeMap<String, PathBuf>, InputError> {
    match path_kind(side, root)? {
        PathKind::Dir => {}
        PathKind::Missing => {
            return Err(InputError::Missing {
                side,
                path: root.to_path_buf(),
            })
        }
        PathKind::File if side == Side::Base => {
            return Err(InputError::BaseWrongKind {
                base: root.display().to_string(),
                problem: "is a file; comparing two directories needs a base directory".into(),
            })
        }
        PathKind::File => {
            return Err(InputError::WrongKind {
                side,
                path: root.to_path_buf(),
                found: "file",
                expected: "directory",
            })
        }
    }
    let mut files = BTreeMap::new();
    let walker = WalkDir::new(root).follow_links(false).into_iter();
    for entry in walker.filter_entry(|e| e.depth() == 0 || e.file_name() != ".git") {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            let cause = e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("filesystem loop"));
            InputError::Unreadable { side, path, cause }
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.insert(key, entry.into_path());
    }
    Ok(files)
}
