//! The dual-render AST diff: two renders of one change, compared as syntax trees.
//!
//! See `DESIGN.md` ("variance"). The pipeline is pure: [`input`] turns files, directories, git
//! revisions or patches into a [`input::ChangeInput`]; [`tree`] parses each side with tree-sitter
//! into a normalised arena tree (comments, separators and formatter choices removed, per the
//! [`registry`]); [`matcher`] maps two trees onto each other; [`measure`] turns the mappings into
//! variance and an edit script. Files that cannot be parsed cleanly fall back to a line diff.

pub mod input;
pub mod patch;
pub mod registry;
