//! Unified-diff patches: parsing and applying them to a base.
//!
//! A render may arrive as a patch file rather than as a tree of files (`git diff`, `git
//! format-patch` or `diff -u` output). To compare renders as syntax trees we need their
//! after-images, so this module parses such patches and applies them to the base content
//! itself — no `patch` or `git apply` on the machine, and the same behaviour everywhere.
//!
//! Applying is strict about content and lenient about position, like `patch` without fuzz:
//! every context and removed line must match exactly (bytes, line endings included), but a
//! hunk may be found at an offset from the line its `@@` header states. Binary sections are
//! recognised and reported, never applied.
//!
//! The parts: `parser` reads a patch file into a [`Patch`] (with `names` decoding the file
//! names of its headers), `apply` applies one file section to the base content ([`apply()`],
//! [`apply_hunks`]); the types they share are here, and the unit tests in `tests`.

mod apply;
mod names;
mod parser;
#[cfg(test)]
mod tests;

pub use apply::{apply, apply_hunks};
pub use parser::{looks_like_patch, parse};

/// A parsed patch file: the file sections in the order they appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// One entry per file section (`diff --git …` or a `---`/`+++` pair).
    pub files: Vec<FilePatch>,
}

/// The change a patch makes to one file.
///
/// Paths are relative, with `/` separators and the first component of `---`/`+++` and
/// `diff --git` names stripped (like `patch -p1` / `git apply`); a name without any `/` is
/// kept as it is. `rename from`/`copy from` names are used unstripped, as git writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// The file in the base; `None` when the patch creates the file (`/dev/null`).
    pub old_path: Option<String>,
    /// The file after the patch; `None` when the patch deletes the file (`/dev/null`).
    pub new_path: Option<String>,
    /// Whether the section came with a `diff --git` header (renames and copies are git-only).
    pub git: bool,
    /// A git copy (`copy from`/`copy to`): the old file stays in place.
    pub copy: bool,
    /// A binary section (`GIT binary patch` or `Binary files … differ`): cannot be applied.
    pub binary: bool,
    /// The hunks, in file order.
    pub hunks: Vec<Hunk>,
    /// 1-based line of the patch file where the section starts.
    pub line: usize,
}

impl FilePatch {
    /// The most meaningful name of the file, for messages (the new path, else the old one).
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("<unnamed>")
    }
}

/// One `@@ -l,s +l,s @@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The `@@` line as written (without the line ending), for messages.
    pub header: String,
    /// First line of the old side (1-based; for an empty old side, the line after which the
    /// new lines go, 0 at the top of the file).
    pub old_start: usize,
    /// Number of old-side lines (context + removed).
    pub old_len: usize,
    /// First line of the new side (1-based).
    pub new_start: usize,
    /// Number of new-side lines (context + added).
    pub new_len: usize,
    /// The body. Each line's bytes include its `\n`, unless a `\ No newline at end of file`
    /// marker followed it.
    pub lines: Vec<HunkLine>,
}

impl Hunk {
    /// The lines the hunk expects in the file (context and removed lines).
    pub fn old_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().filter_map(|l| match l {
            HunkLine::Context(b) | HunkLine::Remove(b) => Some(b.as_slice()),
            HunkLine::Add(_) => None,
        })
    }

    /// The lines the hunk leaves in the file (context and added lines).
    pub fn new_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().filter_map(|l| match l {
            HunkLine::Context(b) | HunkLine::Add(b) => Some(b.as_slice()),
            HunkLine::Remove(_) => None,
        })
    }
}

/// One line of a hunk body, with its bytes (line ending included unless marked otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    /// ` line`: present before and after.
    Context(Vec<u8>),
    /// `-line`: removed.
    Remove(Vec<u8>),
    /// `+line`: added.
    Add(Vec<u8>),
}

/// A patch file that is not a well-formed unified diff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the patch file where the problem was found.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Why a file patch does not apply to the content it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A hunk's context and removed lines were found nowhere at or after the previous hunk.
    #[error(
        "hunk #{hunk} `{header}` does not match: at line {line} expected {expected}, found {found}"
    )]
    HunkMismatch {
        /// 1-based number of the hunk within its file section.
        hunk: usize,
        /// The hunk's `@@` line.
        header: String,
        /// 1-based line of the file where the first mismatch was seen (at the stated position,
        /// adjusted by the offset of the previous hunk).
        line: usize,
        /// The line the hunk expected there (quoted).
        expected: String,
        /// The line found there (quoted), or `end of file`.
        found: String,
    },
    /// The patch creates a file that already exists.
    #[error("the patch creates the file, but it already exists in the base")]
    AlreadyExists,
    /// The patch modifies or deletes a file that does not exist.
    #[error("the file does not exist in the base")]
    Missing,
    /// The patch deletes a file but its hunks do not remove all of it.
    #[error("the patch deletes the file, but {remaining} bytes are left after removing its lines")]
    NotEmptyAfterDelete {
        /// Bytes left after applying the hunks.
        remaining: usize,
    },
    /// Binary sections are never applied.
    #[error("binary patches are not supported")]
    Binary,
}
