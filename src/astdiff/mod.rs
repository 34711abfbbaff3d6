//! The dual-render AST diff: two renders of one change, compared as syntax trees.
//!
//! See `docs/architecture.md` ("variance"). The pipeline is pure: [`input`] turns files, directories, git
//! revisions or patches into a [`change::ChangeInput`]; [`tree`] parses each side with tree-sitter
//! into a normalised arena tree (comments, separators and formatter choices removed, per the
//! [`registry`]); [`matcher`] maps two trees onto each other; [`measure`] turns mappings into
//! weights, an edit script and entity classes; [`diff`] runs it file by file, with a line-diff
//! fallback, into a [`diff::DiffReport`].

pub mod bench;
pub mod change;
pub mod diff;
pub mod differences;
pub mod exclude;
pub mod inflation;
pub mod input;
pub mod lines;
pub mod matcher;
pub mod measure;
pub mod patch;
pub mod registry;
pub mod report;
mod simple_glob;
pub mod tree;

pub use diff::{diff_change, diff_change_excluding, Agreement, DiffOptions, DiffReport};
