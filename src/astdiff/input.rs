//! Where the renders of a change come from: two files, two directories, two git revisions of
//! one repository, or two unified-diff patches applied to a base. Every source is turned into
//! one [`ChangeInput`]: for each path, its bytes in the base and in each render (or `None` when
//! the file does not exist on that side). Nothing here parses syntax.

/// One path of a change, with its content on each side (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersions {
    /// Relative path with `/` separators (for two bare files: render A's file name).
    pub path: String,
    pub base: Option<Vec<u8>>,
    pub a: Option<Vec<u8>>,
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
    pub label_a: String,
    pub label_b: String,
    /// Sorted by path.
    pub files: Vec<FileVersions>,
}
