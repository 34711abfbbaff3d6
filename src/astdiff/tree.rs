//! A normalised syntax tree: what two renders are compared on.
//!
//! tree-sitter gives a concrete syntax tree, full of things a formatter may change: comments,
//! separators, delimiters, quote styles, redundant parentheses, the order of imports. This module
//! builds a compact arena tree from it with all of that removed, per the language's registry
//! entry, so that two trees differ only where the code's meaning may differ.
//!
//! Layout: nodes are stored in **post-order**. A node's descendants are therefore the
//! contiguous range `id + 1 - size .. id`, which makes "is X inside Y" an O(1) range check and
//! lets two identical subtrees be mapped node by node by offset. Every node carries two hashes:
//! `hash` (kinds, labels and children: identical subtrees) and `shape` (kinds and children only:
//! the same code with different names).
//!
//! It never fails silently. A tree with syntax errors is built strictly ([`SyntaxTree::from_ts`]:
//! an error) or tolerantly ([`SyntaxTree::from_ts_tolerant`]: each ERROR region of tree-sitter's
//! tree becomes one node over its normalised tokens, recorded in [`SyntaxTree::error_regions`],
//! and the sound tree around it is kept; see the `errors` submodule). A tree over the node limit
//! is an error the caller turns into a labelled line-diff fallback.

mod build;
mod entities;
mod errors;
mod inner;
mod parse;

pub use entities::Entity;
pub use errors::ErrorRegion;
pub use parse::{parse_ts, parse_ts_until};

mod norm;
mod repair;
pub use repair::repair;
mod text;

pub use text::{string_content, string_parts};

use std::hash::Hasher;

use rustc_hash::FxHasher;

use super::registry::{flag, Language};

/// Sentinel for "no node".
pub const NONE: u32 = u32::MAX;

/// One node of a normalised tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// tree-sitter kind id.
    pub kind: u16,
    /// Hash of the normalised text for leaves; 0 for inner nodes.
    pub label: u64,
    /// Hash of kind, label and children's hashes.
    pub hash: u64,
    /// Hash of kind and children's shapes (labels left out).
    pub shape: u64,
    pub parent: u32,
    /// Nodes in this subtree, itself included.
    pub size: u32,
    /// 1 for a leaf.
    pub height: u32,
    pub child_start: u32,
    pub child_len: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    /// 1-based lines.
    pub start_line: u32,
    pub end_line: u32,
    /// Innermost enclosing entity (itself included), index into [`SyntaxTree::entities`].
    pub entity: u32,
}

/// Bounds that keep a pathological input from exploding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum bytes of one side of a file; larger files are compared as lines without being
    /// parsed (parsing alone would take longer than the whole diff budget).
    pub max_bytes: usize,
    /// Maximum nodes in one normalised tree.
    pub max_nodes: usize,
    /// Steps of matcher work per pair of trees (deterministic: see the matcher's module doc).
    pub max_match_steps: u64,
    /// Last-resort wall-clock guard for one file's match and line diff, in milliseconds. It
    /// depends on the machine's load, so a file it stops is reported as such and the change is
    /// escalated, never agreed; the deterministic limits above are what bound the work.
    pub time_limit_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024,
            max_nodes: 200_000,
            max_match_steps: 50_000_000,
            time_limit_ms: 10_000,
        }
    }
}

impl Limits {
    /// When the wall-clock guard of work started at `start` fires. A limit too large for the
    /// clock (`--time-limit-ms` near `u64::MAX`) is a guard ~136 years away, never an overflow.
    pub fn deadline_from(&self, start: std::time::Instant) -> std::time::Instant {
        use std::time::Duration;
        start
            .checked_add(Duration::from_millis(self.time_limit_ms))
            .unwrap_or_else(|| start + Duration::from_secs(u64::from(u32::MAX)))
    }
}

/// Why a file could not be compared as a syntax tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("syntax error at line {line} (tree-sitter could not parse it cleanly)")]
    Syntax { line: u32 },
    #[error(
        "syntax errors from line {line} cover {percent} % of the file's tokens (tree-sitter could not parse most of it)"
    )]
    MostlySyntaxErrors { line: u32, percent: u32 },
    #[error("{nodes} syntax nodes exceed the node limit of {limit}")]
    TooManyNodes { nodes: usize, limit: usize },
    #[error("matching exceeded the work limit of {limit} steps")]
    StepLimit { limit: u64 },
    #[error(
        "the wall-clock guard of {limit_ms} ms stopped the comparison (a last resort that depends on the machine's load)"
    )]
    TimeLimit { limit_ms: u64 },
    #[error("the grammar could not parse the file")]
    ParseFailed,
    #[error("{bytes} bytes exceed the size limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
}

/// Options that change what a tree holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeOptions {
    /// Keep comment nodes (their text counts).
    pub count_comments: bool,
}

/// A normalised syntax tree over a source text.
#[derive(Debug)]
pub struct SyntaxTree<'s> {
    pub source: &'s str,
    pub lang: &'s Language,
    /// Post-order; the root is the last node.
    pub nodes: Vec<Node>,
    /// Child lists: `children[child_start .. child_start + child_len]`.
    pub children: Vec<u32>,
    pub entities: Vec<Entity>,
    /// ERROR regions compared by their tokens (tolerant builds only), in source order.
    pub error_regions: Vec<ErrorRegion>,
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// The label of a string: its prefix and its content.
fn string_label(prefix: &str, body: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(prefix.as_bytes());
    h.write_u8(0xff);
    h.write(body.as_bytes());
    h.finish() | 1
}

fn hash_text(text: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(text.as_bytes());
    // Never 0: 0 marks an inner node.
    h.finish() | 1
}

struct Frame<'t> {
    ts: tree_sitter::Node<'t>,
    /// Index into `pending` where this node's children start.
    start: usize,
}

impl<'s> SyntaxTree<'s> {
    pub fn root(&self) -> u32 {
        self.nodes.len() as u32 - 1
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    #[inline]
    pub fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    #[inline]
    pub fn children_of(&self, id: u32) -> &[u32] {
        let n = &self.nodes[id as usize];
        &self.children[n.child_start as usize..(n.child_start + n.child_len) as usize]
    }

    /// First id of the subtree rooted at `id` (post-order: descendants precede it).
    #[inline]
    pub fn first_descendant(&self, id: u32) -> u32 {
        id + 1 - self.nodes[id as usize].size
    }

    /// Whether `id` lies in the subtree of `root` (itself included).
    #[inline]
    pub fn contains(&self, root: u32, id: u32) -> bool {
        id <= root && id >= self.first_descendant(root)
    }

    pub fn kind_name(&self, id: u32) -> &'s str {
        self.lang
            .ts
            .node_kind_for_id(self.nodes[id as usize].kind)
            .unwrap_or("?")
    }

    /// The node's source text.
    pub fn text(&self, id: u32) -> &'s str {
        let n = &self.nodes[id as usize];
        &self.source[n.start_byte as usize..n.end_byte as usize]
    }

    /// The entity `id` itself names, if it is one.
    pub fn own_entity(&self, id: u32) -> Option<&Entity> {
        self.entity_of(id).filter(|e| e.node == id)
    }

    /// The innermost entity enclosing `id`, if any.
    pub fn entity_of(&self, id: u32) -> Option<&Entity> {
        let e = self.nodes[id as usize].entity;
        (e != NONE).then(|| &self.entities[e as usize])
    }
}

fn end_line(start_row: usize, end_row: usize, end_col: usize) -> u32 {
    // A node ending at column 0 ends on the previous line.
    if end_col == 0 && end_row > start_row {
        end_row as u32
    } else {
        end_row as u32 + 1
    }
}

#[cfg(test)]
mod tests;
