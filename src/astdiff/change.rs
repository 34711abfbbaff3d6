//! What the diff engine compares: the files of a change, each with its bytes in the base and in
//! each render. Plain data: [`input`](super::input) builds it from files, directories, git
//! revisions or patches (the I/O); [`diff`](super::diff) reads it.

/// One path of a change, with its content on each side (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersions {
    /// Relative path with `/` separators (for two bare files: render A's file name).
    pub path: String,
    /// Content in the base (`None`: no base, or absent there).
    pub base: Option<Vec<u8>>,
    /// Content in render A (the head in single-render mode).
    pub a: Option<Vec<u8>>,
    /// Content in render B (always `None` in single-render mode).
    pub b: Option<Vec<u8>>,
}

/// The files of a change as the loaders deliver them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeInput {
    /// Whether a base was given (or found): variance is then relative to the change.
    pub has_base: bool,
    /// One render against its base (`patchgate diff --base B --head H`): `b` is always `None`
    /// and `a` holds the head.
    pub single: bool,
    /// Human labels of the sides, e.g. the revisions or paths given (for reports).
    pub label_base: Option<String>,
    /// Label of render A (the head in single-render mode).
    pub label_a: String,
    /// Label of render B (empty in single-render mode).
    pub label_b: String,
    /// Sorted by path.
    pub files: Vec<FileVersions>,
}
