//! Where the renders of a change come from: two files, two directories, two git revisions of
//! one repository, or two unified-diff patches applied to a base. Every source is turned into
//! one [`ChangeInput`]: for each path, its bytes in the base and in each render (or `None` when
//! the file does not exist on that side). Nothing here parses syntax.
//!
//! This is the one place that knows about the user's arguments, so its errors name the side
//! they concern ("render B: …") and say what to do. Contents stay bytes: deciding what is
//! text, binary or parseable happens later. Only regular files count everywhere — symlinks
//! and submodules are skipped, as absent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use git2::{DiffFile, DiffOptions, ErrorCode, FileMode, Oid, Repository};
use walkdir::WalkDir;

use super::change::{ChangeInput, FileVersions};
use super::patch::{self, ApplyError, ParseError};

/// How the sides of a change are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// Two files (and optionally a base file).
    Files,
    /// Two directories holding the after-images of two renders (and optionally a base one).
    Dirs,
    /// Two revisions of one git repository (the base defaults to their merge base).
    Revs,
    /// Two unified-diff patch files applied to a base directory or revision.
    Patches,
}

/// What the user asked to compare, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The repository revisions are read from (for revisions and for a revision base);
    /// discovered upwards from this path. Default `.`.
    pub repo: PathBuf,
    /// The base: a file, a directory or a revision, depending on the kind.
    pub base: Option<String>,
    /// Render A (the head in single-render mode).
    pub a: String,
    /// Render B; `None` is single-render mode, where `a` is the head and a base is required.
    pub b: Option<String>,
    /// A forced kind; `None` detects it (see [`detect`]).
    pub kind: Option<InputKind>,
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec {
            repo: PathBuf::from("."),
            base: None,
            a: String::new(),
            b: None,
            kind: None,
        }
    }
}

/// Which side of the change an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The base the renders are compared against.
    Base,
    /// Render A.
    A,
    /// Render B.
    B,
    /// The head, in single-render mode (stored as render A).
    Head,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::A => "render A",
            Side::B => "render B",
            Side::Head => "head",
        })
    }
}

/// Why the input could not be loaded. Every message names the side and says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Two unified-diff patches and no base to apply them to: comparing them as text would
    /// measure the patches, not the changes.
    #[error(
        "`{}` and `{}` are unified-diff patches: give --base (the directory or revision they \
         apply to), or --input files to compare the patch files themselves as text",
        a.display(),
        b.display()
    )]
    PatchesNeedBase {
        /// Render A's patch.
        a: PathBuf,
        /// Render B's patch.
        b: PathBuf,
    },
    /// An empty argument.
    #[error("{side}: nothing given (expected a path or a revision)")]
    Empty {
        /// The side left empty.
        side: Side,
    },
    /// A path that does not exist.
    #[error("{side}: `{}` does not exist", path.display())]
    Missing {
        /// The side of the path.
        side: Side,
        /// The path as given.
        path: PathBuf,
    },
    /// One render is a directory and the other a file.
    #[error(
        "{side}: `{}` is a {found}, but {other_side}: `{}` is a {other_found}; give two files or \
         two directories",
        path.display(),
        other_path.display()
    )]
    KindMix {
        /// The first side.
        side: Side,
        /// Its path.
        path: PathBuf,
        /// `file` or `directory`.
        found: &'static str,
        /// The other side.
        other_side: Side,
        /// Its path.
        other_path: PathBuf,
        /// `file` or `directory`.
        other_found: &'static str,
    },
    /// A render path of the wrong kind for the (forced or detected) input kind.
    #[error("{side}: `{}` is a {found}, expected a {expected}", path.display())]
    WrongKind {
        /// The side of the path.
        side: Side,
        /// The path as given.
        path: PathBuf,
        /// What it is.
        found: &'static str,
        /// What was needed.
        expected: &'static str,
    },
    /// The base is not what this kind of input needs.
    #[error("base: `{base}` {problem}")]
    BaseWrongKind {
        /// The base as given.
        base: String,
        /// What is wrong with it, and what would do.
        problem: String,
    },
    /// A base is needed but none was given.
    #[error("{what} needs a base: give it with --base")]
    BaseRequired {
        /// The mode that needs it.
        what: &'static str,
    },
    /// No git repository at or above the repository path.
    #[error(
        "`{}` is not in a git repository ({message}); revisions need a repository (--repo), \
         otherwise give existing files or directories",
        repo.display()
    )]
    NotARepo {
        /// The repository path given.
        repo: PathBuf,
        /// libgit2's reason.
        message: String,
    },
    /// A revision that does not resolve to a commit (or, for a base, a tree).
    #[error(
        "{side}: unknown revision `{rev}` in `{}` ({message}); if it was meant as a path, it does \
         not exist",
        repo.display()
    )]
    UnknownRevision {
        /// The side of the revision.
        side: Side,
        /// The revision as given.
        rev: String,
        /// The repository searched.
        repo: PathBuf,
        /// Why it did not resolve.
        message: String,
    },
    /// Two revisions without a common ancestor and no explicit base.
    #[error(
        "render A `{a}` and render B `{b}` have no common ancestor, so there is no merge base to \
         compare against; give the base explicitly with --base"
    )]
    NoMergeBase {
        /// Render A's revision.
        a: String,
        /// Render B's revision.
        b: String,
    },
    /// A patch file that is not a well-formed unified diff.
    #[error("{side}: patch `{}` is malformed at {cause}", patch.display())]
    PatchParse {
        /// The side of the patch.
        side: Side,
        /// The patch file.
        patch: PathBuf,
        /// Where and what.
        cause: ParseError,
    },
    /// A patch that does not apply to the base.
    #[error("{side}: patch `{}` does not apply to `{file}`: {cause}", patch.display())]
    PatchApply {
        /// The side of the patch.
        side: Side,
        /// The patch file.
        patch: PathBuf,
        /// The file being patched.
        file: String,
        /// Which hunk failed and how (expected vs found).
        cause: Box<ApplyError>,
    },
    /// A patch with a binary section.
    #[error(
        "{side}: patch `{}` changes binary file `{file}`, and binary patches are not supported; \
         leave binary files out of the patch",
        patch.display()
    )]
    BinaryPatch {
        /// The side of the patch.
        side: Side,
        /// The patch file.
        patch: PathBuf,
        /// The binary file.
        file: String,
    },
    /// A file or directory that exists but cannot be read.
    #[error("{side}: cannot read `{}`: {cause}", path.display())]
    Unreadable {
        /// The side of the path.
        side: Side,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        cause: io::Error,
    },
    /// Any other git failure (corrupt object, unreadable repository).
    #[error("{side}: git error while {context}: {cause}")]
    Git {
        /// The side concerned.
        side: Side,
        /// What was being done.
        context: String,
        /// libgit2's error.
        cause: git2::Error,
    },
}

/// Loads the change `spec` describes, detecting its kind unless forced.
pub fn load(spec: &InputSpec) -> Result<ChangeInput, InputError> {
    let single = spec.b.is_none();
    if spec.a.is_empty() {
        return Err(InputError::Empty {
            side: side_a(single),
        });
    }
    if spec.b.as_deref() == Some("") {
        return Err(InputError::Empty { side: Side::B });
    }
    if spec.base.as_deref() == Some("") {
        return Err(InputError::Empty { side: Side::Base });
    }
    let kind = match spec.kind {
        Some(kind) => kind,
        None => detect(spec)?,
    };
    let base = spec.base.as_deref();
    let b = spec.b.as_deref();
    match kind {
        InputKind::Files => from_files(base.map(Path::new), Path::new(&spec.a), b.map(Path::new)),
        InputKind::Dirs => from_dirs(base.map(Path::new), Path::new(&spec.a), b.map(Path::new)),
        InputKind::Revs => from_revs(&spec.repo, base, &spec.a, b),
        InputKind::Patches => {
            let base = base.ok_or(InputError::BaseRequired {
                what: "applying patches",
            })?;
            from_patches(&spec.repo, base, Path::new(&spec.a), b.map(Path::new))
        }
    }
}

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

fn side_a(single: bool) -> Side {
    if single {
        Side::Head
    } else {
        Side::A
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Dir,
    File,
    Missing,
}

impl PathKind {
    fn noun(self) -> &'static str {
        match self {
            PathKind::Dir => "directory",
            PathKind::File => "file",
            PathKind::Missing => "missing path",
        }
    }
}

/// What a user-given path is (following symlinks: the user named it).
fn path_kind(side: Side, path: &Path) -> Result<PathKind, InputError> {
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
fn walk(side: Side, root: &Path) -> Result<BTreeMap<String, PathBuf>, InputError> {
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

/// Whether the file starts like a unified diff (reads at most 64 KiB; unreadable → no).
fn sniff_patch(path: &Path) -> bool {
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

fn resolves_as_revs(repo: &Path, revs: &[&str]) -> bool {
    Repository::discover(repo).is_ok_and(|git| {
        revs.iter()
            .all(|r| !r.is_empty() && git.revparse_single(r).is_ok())
    })
}

fn open_repo(repo: &Path) -> Result<Repository, InputError> {
    Repository::discover(repo).map_err(|e| InputError::NotARepo {
        repo: repo.to_path_buf(),
        message: e.message().to_owned(),
    })
}

/// A resolved revision.
struct Resolved {
    /// The commit (or, for a base given as a tree, the object) it names.
    id: Oid,
    /// Its tree.
    tree: Oid,
    /// `rev (short id)`.
    label: String,
}

/// Resolves a revision; renders (`commit`) must name commits, a base may name a tree.
fn resolve(
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

fn git_err(side: Side, context: String, cause: git2::Error) -> InputError {
    InputError::Git {
        side,
        context,
        cause,
    }
}

fn is_blob_mode(mode: i32) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    #[test]
    fn sides_read_as_users_name_them() {
        assert_eq!(Side::A.to_string(), "render A");
        assert_eq!(Side::B.to_string(), "render B");
        assert_eq!(Side::Base.to_string(), "base");
        assert_eq!(Side::Head.to_string(), "head");
        assert_eq!(side_a(true), Side::Head);
        assert_eq!(side_a(false), Side::A);
    }

    #[test]
    fn spec_defaults_to_the_current_directory_and_detection() {
        let spec = InputSpec::default();
        assert_eq!(spec.repo, PathBuf::from("."));
        assert_eq!((spec.base, spec.b, spec.kind), (None, None, None));
    }

    #[test]
    fn empty_arguments_are_refused_by_side() {
        let spec = InputSpec {
            a: "x".into(),
            b: Some(String::new()),
            ..InputSpec::default()
        };
        assert!(matches!(
            load(&spec),
            Err(InputError::Empty { side: Side::B })
        ));
        let spec = InputSpec {
            a: String::new(),
            base: Some("b".into()),
            ..InputSpec::default()
        };
        let err = load(&spec).unwrap_err();
        assert!(matches!(err, InputError::Empty { side: Side::Head }));
        assert_eq!(
            err.to_string(),
            "head: nothing given (expected a path or a revision)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn walk_keeps_regular_files_only_and_skips_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.rs", "a");
        write(root, "sub/deep/b.rs", "b");
        write(root, ".git/config", "x");
        write(root, "sub/.git", "gitdir: elsewhere");
        write(root, ".gitignore", "kept");
        std::os::unix::fs::symlink(root.join("a.rs"), root.join("link.rs")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("linkdir")).unwrap();
        let files = walk(Side::A, root).unwrap();
        assert_eq!(
            files.keys().map(String::as_str).collect::<Vec<_>>(),
            [".gitignore", "a.rs", "sub/deep/b.rs"]
        );
    }

    #[test]
    fn walk_names_the_side_of_a_bad_root() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "f", "x");
        let missing = dir.path().join("nope");
        assert!(matches!(
            walk(Side::B, &missing),
            Err(InputError::Missing { side: Side::B, .. })
        ));
        let f = dir.path().join("f");
        assert!(matches!(
            walk(Side::A, &f),
            Err(InputError::WrongKind {
                side: Side::A,
                expected: "directory",
                ..
            })
        ));
        assert!(matches!(
            walk(Side::Base, &f),
            Err(InputError::BaseWrongKind { .. })
        ));
    }

    #[test]
    fn sniffs_patches_by_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "p.diff", "\ndiff --git a/x b/x\n");
        write(dir.path(), "q.rs", "fn main() {}\n");
        assert!(sniff_patch(&dir.path().join("p.diff")));
        assert!(!sniff_patch(&dir.path().join("q.rs")));
        assert!(!sniff_patch(&dir.path().join("missing")));
    }

    #[test]
    fn blob_modes() {
        assert!(is_blob_mode(0o100644) && is_blob_mode(0o100755));
        assert!(!is_blob_mode(0o120000) && !is_blob_mode(0o160000) && !is_blob_mode(0o040000));
    }
}
