//! Where the renders of a change come from: two files, two directories, two git revisions of
//! one repository, or two unified-diff patches applied to a base. Every source is turned into
//! one [`ChangeInput`]: for each path, its bytes in the base and in each render (or `None` when
//! the file does not exist on that side). Nothing here parses syntax.
//!
//! This is the one place that knows about the user's arguments, so its errors name the side
//! they concern ("render B: …") and say what to do. Contents stay bytes: deciding what is
//! text, binary or parseable happens later. Only regular files count everywhere — symlinks
//! and submodules are skipped, as absent.
//!
//! The parts: `kind` tells the kinds apart ([`detect`]); `files` reads two files or two
//! directories, `revs` two git revisions, `patches` applies two patches to a base;
//! [`InputError`] (in `error`) is what any of them refuses with.

mod error;
mod files;
mod kind;
mod patches;
mod revs;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use super::change::ChangeInput;

pub use error::InputError;
pub use files::{from_dirs, from_files};
pub use kind::detect;
pub use patches::from_patches;
pub use revs::from_revs;

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

fn side_a(single: bool) -> Side {
    if single {
        Side::Head
    } else {
        Side::A
    }
}
