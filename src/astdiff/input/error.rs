//! [`InputError`]: why the input of a change could not be loaded, naming the side and what
//! to fix.

use std::io;
use std::path::PathBuf;

use super::Side;
use crate::astdiff::patch::{ApplyError, ParseError};

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
