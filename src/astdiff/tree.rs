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

mod errors;

pub use errors::ErrorRegion;

mod norm;
mod repair;
pub use repair::repair;
mod text;

pub use text::{string_content, string_parts};

use std::hash::Hasher;

use rustc_hash::FxHasher;

use super::registry::{flag, Language};
use text::{collapse_ws, flow_scalar_content, fold_flow_lines};

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

/// A named entity: a function, method, class, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Reader label from the registry, e.g. `fn`.
    pub label: String,
    pub name: String,
    /// The entity's node.
    pub node: u32,
    /// Enclosing entity, or [`NONE`].
    pub parent: u32,
}

impl Entity {
    /// `fn parse_config`
    pub fn display(&self) -> String {
        Entity::display_of(&self.label, &self.name)
    }

    fn display_of(label: &str, name: &str) -> String {
        if name.is_empty() {
            label.to_string()
        } else {
            format!("{label} {name}")
        }
    }
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
    /// Parse `source` and build its normalised tree.
    pub fn parse(
        lang: &'s Language,
        source: &'s str,
        limits: &Limits,
        opts: TreeOptions,
    ) -> Result<Self, TreeError> {
        let tree = parse_ts(lang, source, None, limits)?;
        Self::from_ts(lang, source, &tree, limits, opts)
    }

    /// Build the normalised tree of `source` from its tree-sitter tree.
    pub fn from_ts(
        lang: &'s Language,
        source: &'s str,
        tree: &tree_sitter::Tree,
        limits: &Limits,
        opts: TreeOptions,
    ) -> Result<Self, TreeError> {
        let root = tree.root_node();
        if root.has_error() {
            return Err(TreeError::Syntax {
                line: first_error_line(root),
            });
        }
        Self::build(lang, source, root, limits, opts, &[])
    }

    /// Build the normalised tree of `source` even where tree-sitter found syntax errors: each
    /// ERROR region becomes one node over its normalised tokens (listed in `error_regions`), the
    /// rest is the usual tree. The caller decides how much error it accepts.
    /// Entities whose display name (`fn parse`) is in `widen` are compared by their tokens as
    /// a whole (see the `errors` submodule: used when some render has an error region in them).
    pub fn from_ts_tolerant(
        lang: &'s Language,
        source: &'s str,
        tree: &tree_sitter::Tree,
        limits: &Limits,
        opts: TreeOptions,
        widen: &[String],
    ) -> Result<Self, TreeError> {
        let root = tree.root_node();
        if root.is_error() {
            // Nothing of the file parsed as a whole: there is no sound tree to keep.
            return Err(TreeError::Syntax {
                line: first_error_line(root),
            });
        }
        Self::build(lang, source, root, limits, opts, widen)
    }

    fn build(
        lang: &'s Language,
        source: &'s str,
        root: tree_sitter::Node<'_>,
        limits: &Limits,
        opts: TreeOptions,
        widen: &[String],
    ) -> Result<Self, TreeError> {
        let mut t = SyntaxTree {
            source,
            lang,
            nodes: Vec::with_capacity(source.len() / 6 + 16),
            children: Vec::with_capacity(source.len() / 6 + 16),
            entities: Vec::new(),
            error_regions: Vec::new(),
        };
        // Entity names found while building, keyed by node id; parents are resolved after.
        let mut pending: Vec<u32> = Vec::with_capacity(64);
        let mut stack: Vec<Frame<'_>> = Vec::with_capacity(64);
        let mut cursor = root.walk();
        // IGNORE is not in the mask: an ignored kind is skipped only outside a field (below).
        let skip_mask = flag::DROP
            | if opts.count_comments {
                0
            } else {
                flag::COMMENT
            };

        'walk: loop {
            let node = cursor.node();
            let kind = node.kind_id();
            let f = lang.flags(kind);
            let is_root = stack.is_empty() && node.id() == root.id();
            let skip = !is_root
                && (f & skip_mask != 0
                    // An ignored kind that fills a field of its parent is a part of it, not
                    // noise: JS `;` is nothing in a statement list, but the body of `if (x);`
                    // or the empty init/condition of `for (;;)`, whose place carries meaning.
                    || (f & flag::IGNORE != 0 && cursor.field_id().is_none())
                    || (!node.is_named() && t.nested_wrapper_token(&stack, kind))
                    || node.is_missing()
                    || (!node.is_named() && node.byte_range().is_empty()));
            let widened = !skip
                && !is_root
                && !widen.is_empty()
                && f & flag::ENTITY != 0
                && t.entity_label_and_name(node).is_some_and(|(label, name)| {
                    widen.iter().any(|w| Entity::display_of(label, &name) == *w)
                });
            if !skip && !is_root && (node.is_error() || widened) {
                let id = t.push_error_region(node, skip_mask, widened)?;
                if t.nodes.len() > limits.max_nodes {
                    return Err(TreeError::TooManyNodes {
                        nodes: t.nodes.len(),
                        limit: limits.max_nodes,
                    });
                }
                if id != NONE {
                    pending.push(id);
                }
            } else if !skip {
                let leafish = f & (flag::STRING | flag::LEAF) != 0
                    || (f & flag::COMMENT != 0)
                    || node.child_count() == 0;
                if leafish {
                    let id = t.push_leaf(node, f)?;
                    if t.nodes.len() > limits.max_nodes {
                        return Err(TreeError::TooManyNodes {
                            nodes: t.nodes.len(),
                            limit: limits.max_nodes,
                        });
                    }
                    if is_root {
                        break 'walk;
                    }
                    pending.push(id);
                } else {
                    stack.push(Frame {
                        ts: node,
                        start: pending.len(),
                    });
                    let went = cursor.goto_first_child();
                    debug_assert!(went);
                    continue 'walk;
                }
            }
            // Advance: next sibling, or finish parents.
            loop {
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
                let frame = stack.pop().expect("frame for every parent");
                let parent_kind = stack.last().map(|p| p.ts.kind_id());
                let made = t.finish_inner(frame, &mut pending, parent_kind)?;
                if t.nodes.len() > limits.max_nodes {
                    return Err(TreeError::TooManyNodes {
                        nodes: t.nodes.len(),
                        limit: limits.max_nodes,
                    });
                }
                if stack.is_empty() {
                    // Finished the root.
                    if t.nodes.last().map(|_| made) != Some(t.nodes.len() as u32 - 1) {
                        // The root unwrapped into its child or vanished: wrap it again.
                        t.ensure_root(root, made);
                    }
                    break 'walk;
                }
                if made != NONE {
                    pending.push(made);
                }
            }
        }
        if t.nodes.is_empty() {
            t.ensure_root(root, NONE);
        }
        t.resolve_entities();
        Ok(t)
    }

    fn push_leaf(&mut self, node: tree_sitter::Node<'_>, f: u16) -> Result<u32, TreeError> {
        let text = &self.source[node.byte_range()];
        let fold = self.lang.spec.fold_string_whitespace;
        let label = if f & flag::STRING != 0 {
            let (prefix, body) = if fold {
                flow_scalar_content(text)
            } else {
                self.string_value(node, text)
            };
            string_label(&prefix, &body)
        } else if f & flag::MACRO != 0 {
            hash_text(&text::c_macro_tokens(text))
        } else if f & flag::HEREDOC_CONTENT != 0 {
            hash_text(&self.heredoc_text(node, text))
        } else if f & flag::VALUE != 0 {
            hash_text(&text::number_value(text))
        } else if f & flag::CASE_INSENSITIVE != 0 {
            hash_text(&text.to_ascii_lowercase())
        } else if f & flag::LEAF != 0 && fold {
            hash_text(&fold_flow_lines(text))
        } else if f & (flag::LEAF | flag::COMMENT) != 0 {
            hash_text(&collapse_ws(text))
        } else {
            hash_text(text)
        };
        let id = self.push_leaf_node(node, self.lang.canon(node.kind_id()), label);
        if f & flag::ENTITY != 0 {
            self.record_entity(node, id);
        }
        Ok(id)
    }

    fn push_leaf_node(&mut self, node: tree_sitter::Node<'_>, kind: u16, label: u64) -> u32 {
        let id = self.nodes.len() as u32;
        let (start, end) = (node.start_position(), node.end_position());
        self.nodes.push(Node {
            kind,
            label,
            hash: mix(mix(0x9e37_79b9, kind as u64), label),
            shape: mix(0x7f4a_7c15, kind as u64),
            parent: NONE,
            size: 1,
            height: 1,
            child_start: self.children.len() as u32,
            child_len: 0,
            start_byte: node.start_byte() as u32,
            end_byte: node.end_byte() as u32,
            start_line: start.row as u32 + 1,
            end_line: end_line(start.row, end.row, end.column),
            entity: NONE,
        });
        id
    }

    /// Whether an anonymous token whose parent frame is the top of `stack` belongs to a wrapper
    /// nested in a parent of its own kind where an unwrap rule applies: such a wrapper's tokens
    /// say nothing its parent does not (TS `| 'a' | 'b'`, a leading `|`, nests a union_type of
    /// `|` and `'a'` that should unwrap to `'a'`).
    ///
    /// Also a token an unwrap rule ignores (`ignore_tokens`) in a wrapper holding one named
    /// child: the leading `|` of a one-member union (`type T =\n  | readonly A[]`).
    fn nested_wrapper_token(&self, stack: &[Frame<'_>], token: u16) -> bool {
        let Some(parent) = stack.last() else {
            return false;
        };
        let kind = parent.ts.kind_id();
        if self.lang.flags(kind) & flag::UNWRAP == 0 {
            return false;
        }
        let grand_kind = stack.len().checked_sub(2).map(|i| stack[i].ts.kind_id());
        if grand_kind == Some(kind) && self.lang.unwraps(kind, grand_kind) {
            return true;
        }
        parent.ts.named_child_count() == 1
            && self
                .lang
                .unwrap_rules(kind, grand_kind)
                .any(|r| r.ignore.contains(&token))
    }

    /// Finish an inner node whose children are `pending[frame.start..]`. Returns the id that
    /// stands for it in its parent: its own, its only child's when it unwraps, or [`NONE`] when
    /// nothing is left of it.
    fn finish_inner(
        &mut self,
        frame: Frame<'_>,
        pending: &mut Vec<u32>,
        parent_kind: Option<u16>,
    ) -> Result<u32, TreeError> {
        let node = frame.ts;
        let kind = node.kind_id();
        let f = self.lang.flags(kind);
        let kids = &mut pending[frame.start..];
        if f & flag::SORTED_CHILDREN != 0 {
            let nodes = &self.nodes;
            kids.sort_by_key(|&c| nodes[c as usize].hash);
        }
        if let Some(field) = self.lang.sorted_field(kind) {
            self.sort_field_children(node, field, kids);
        }
        // Runs of consecutive sortable siblings (imports, attributes) are put in hash order: a
        // run is one kind, or any mix of the kinds of one `sorted_groups` entry.
        let mut i = 0;
        while i < kids.len() {
            let group = self.lang.sort_group(self.nodes[kids[i] as usize].kind);
            if group != 0 {
                let mut j = i + 1;
                while j < kids.len()
                    && self.lang.sort_group(self.nodes[kids[j] as usize].kind) == group
                {
                    j += 1;
                }
                if j - i > 1 {
                    let nodes = &self.nodes;
                    kids[i..j].sort_by_key(|&c| nodes[c as usize].hash);
                }
                i = j;
            } else {
                i += 1;
            }
        }
        if f & flag::UNWRAP != 0 && kids.len() == 1 {
            // A `,` after the only element makes a one-element sequence, not redundant
            // parentheses: Python `(a,) = x` unpacks, `(a) = x` does not. (Unless the rule
            // says the comma is only a trailing one: a parameter list.)
            let comma = || {
                let mut c = node.walk();
                let found = node
                    .children(&mut c)
                    .any(|ch| !ch.is_named() && ch.kind() == ",");
                found
            };
            let only = kids[0];
            let only_kind = self.nodes[only as usize].kind;
            let fits = self.lang.unwrap_rules(kind, parent_kind).any(|r| {
                r.child.is_none_or(|c| self.lang.canon(c) == only_kind) && (r.comma_ok || !comma())
            });
            if fits {
                pending.truncate(frame.start);
                return Ok(only);
            }
        }
        if self.lang.is_space_kind(kind) && kids.len() == 1 {
            // JSX `{" "}`: nothing but a whitespace string, the last leaf pushed.
            let only = kids[0] as usize;
            let blank = self.nodes[only].size == 1
                && only + 1 == self.nodes.len()
                && self.lang.flags(self.nodes[only].kind) & flag::STRING != 0
                && string_content(self.text(kids[0])).1.trim().is_empty();
            if blank {
                self.nodes.truncate(only);
                pending.truncate(frame.start);
                return Ok(NONE);
            }
        }
        if f & flag::CONCAT != 0 {
            if let Some((leaf_kind, label)) = self.concat_label(node, kids) {
                // The parts are the last leaves pushed: replace them by the one string.
                if kids[0] as usize + kids.len() == self.nodes.len()
                    && kids.iter().all(|&k| self.nodes[k as usize].size == 1)
                {
                    self.nodes.truncate(kids[0] as usize);
                    let id = self.push_leaf_node(node, leaf_kind, label);
                    pending.truncate(frame.start);
                    return Ok(id);
                }
            }
        }

        let id = self.push_inner(node, kids);
        pending.truncate(frame.start);
        if f & flag::ENTITY != 0 {
            self.record_entity(node, id);
        }
        Ok(id)
    }

    /// Make sure the last node is a root over everything: used when the root itself unwrapped
    /// or only had comments.
    fn ensure_root(&mut self, root: tree_sitter::Node<'_>, only: u32) {
        let kids: Vec<u32> = if only == NONE { vec![] } else { vec![only] };
        self.push_inner(root, &kids);
    }

    /// Push the inner node for `node` over `kids` (already in their final order) and make it
    /// their parent; its hashes cover its (canonical) kind, its children and their number.
    fn push_inner(&mut self, node: tree_sitter::Node<'_>, kids: &[u32]) -> u32 {
        let kind = self.lang.canon(node.kind_id());
        let id = self.nodes.len() as u32;
        let child_start = self.children.len() as u32;
        let mut hash = mix(0x9e37_79b9, kind as u64);
        let mut shape = mix(0x7f4a_7c15, kind as u64);
        let mut size = 1u32;
        let mut height = 0u32;
        for &c in kids {
            let cn = &mut self.nodes[c as usize];
            cn.parent = id;
            hash = mix(hash, cn.hash);
            shape = mix(shape, cn.shape);
            size += cn.size;
            height = height.max(cn.height);
        }
        hash = mix(hash, kids.len() as u64);
        shape = mix(shape, kids.len() as u64);
        self.children.extend_from_slice(kids);
        let (start, end) = (node.start_position(), node.end_position());
        self.nodes.push(Node {
            kind,
            label: 0,
            hash,
            shape,
            parent: NONE,
            size,
            height: height + 1,
            child_start,
            child_len: kids.len() as u32,
            start_byte: node.start_byte() as u32,
            end_byte: node.end_byte() as u32,
            start_line: start.row as u32 + 1,
            end_line: end_line(start.row, end.row, end.column),
            entity: NONE,
        });
        id
    }

    /// The entity label and name `node` would get, when its kind names an entity.
    fn entity_label_and_name(&self, node: tree_sitter::Node<'_>) -> Option<(&'s str, String)> {
        let (label, field) = self.lang.entity(node.kind_id())?;
        let name_node = field.and_then(|f| node.child_by_field_id(f)).or_else(|| {
            let mut c = node.walk();
            let found = node.named_children(&mut c).find(|n| {
                let k = n.kind();
                k.contains("identifier") || k.contains("name")
            });
            found
        });
        let name = name_node
            .map(|n| collapse_ws(&self.source[n.byte_range()]))
            .unwrap_or_default();
        let name = if name.chars().count() > 80 {
            format!("{}…", name.chars().take(80).collect::<String>())
        } else {
            name
        };
        Some((label, name))
    }

    fn record_entity(&mut self, node: tree_sitter::Node<'_>, id: u32) {
        let Some((label, name)) = self.entity_label_and_name(node) else {
            return;
        };
        self.entities.push(Entity {
            label: label.to_string(),
            name,
            node: id,
            parent: NONE,
        });
    }

    /// Give every node its innermost enclosing entity, and every entity its parent.
    fn resolve_entities(&mut self) {
        let mut own: Vec<u32> = vec![NONE; self.nodes.len()];
        for (i, e) in self.entities.iter().enumerate() {
            own[e.node as usize] = i as u32;
        }
        // Reverse post-order visits parents before children.
        for id in (0..self.nodes.len()).rev() {
            let parent = self.nodes[id].parent;
            let inherited = if parent == NONE {
                NONE
            } else {
                self.nodes[parent as usize].entity
            };
            if own[id] != NONE {
                self.entities[own[id] as usize].parent = inherited;
                self.nodes[id].entity = own[id];
            } else {
                self.nodes[id].entity = inherited;
            }
        }
    }

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

/// Parse `source` with tree-sitter. Given the tree of an earlier text `old`, the tree is edited
/// where the texts differ (common prefix and suffix kept) and reparsed incrementally, which
/// tree-sitter guarantees gives the same tree as a fresh parse, in a fraction of the time when
/// the texts share most of their bytes — as two renders of one change do.
pub fn parse_ts(
    lang: &Language,
    source: &str,
    old: Option<(&tree_sitter::Tree, &str)>,
    limits: &Limits,
) -> Result<tree_sitter::Tree, TreeError> {
    parse_ts_until(lang, source, old, limits, None)
}

/// [`parse_ts`] under the wall-clock guard: past `deadline` (the instant, and the limit in ms
/// it stands for) the parse stops with [`TreeError::TimeLimit`]. tree-sitter asks the guard
/// every hundred or so parse steps, so it stops within a fraction of a millisecond.
pub fn parse_ts_until(
    lang: &Language,
    source: &str,
    old: Option<(&tree_sitter::Tree, &str)>,
    limits: &Limits,
    deadline: Option<(std::time::Instant, u64)>,
) -> Result<tree_sitter::Tree, TreeError> {
    let limit = limits.max_bytes.min(u32::MAX as usize - 1);
    if source.len() > limit {
        return Err(TreeError::TooLarge {
            bytes: source.len(),
            limit,
        });
    }
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&lang.ts)
        .map_err(|_| TreeError::ParseFailed)?;
    let edited = old.map(|(tree, old_src)| {
        let mut t = tree.clone();
        t.edit(&text_edit(old_src, source));
        t
    });
    let Some((at, limit_ms)) = deadline else {
        return parser
            .parse(source, edited.as_ref())
            .ok_or(TreeError::ParseFailed);
    };
    let bytes = source.as_bytes();
    let mut calls = 0u32;
    let mut past = false;
    let mut guard = |_: &tree_sitter::ParseState| {
        calls = calls.wrapping_add(1);
        if calls.is_multiple_of(8) && std::time::Instant::now() > at {
            past = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    };
    let parsed = parser.parse_with_options(
        &mut |i, _| bytes.get(i..).unwrap_or_default(),
        edited.as_ref(),
        Some(tree_sitter::ParseOptions::new().progress_callback(&mut guard)),
    );
    match parsed {
        Some(tree) => Ok(tree),
        None if past => Err(TreeError::TimeLimit { limit_ms }),
        None => Err(TreeError::ParseFailed),
    }
}

/// The single edit turning `old` into `new`: everything between their common prefix and suffix.
fn text_edit(old: &str, new: &str) -> tree_sitter::InputEdit {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let prefix = o.iter().zip(n).take_while(|(a, b)| a == b).count();
    let max_suffix = o.len().min(n.len()) - prefix;
    let suffix = o
        .iter()
        .rev()
        .zip(n.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let point = |text: &[u8], at: usize| {
        let before = &text[..at];
        let row = before.iter().filter(|&&c| c == b'\n').count();
        let col = at
            - before
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1);
        tree_sitter::Point { row, column: col }
    };
    tree_sitter::InputEdit {
        start_byte: prefix,
        old_end_byte: o.len() - suffix,
        new_end_byte: n.len() - suffix,
        start_position: point(o, prefix),
        old_end_position: point(o, o.len() - suffix),
        new_end_position: point(n, n.len() - suffix),
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

fn first_error_line(root: tree_sitter::Node<'_>) -> u32 {
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            return node.start_position().row as u32 + 1;
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return root.start_position().row as u32 + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::registry::Registry;

    fn tree<'s>(reg: &'s Registry, lang: &str, src: &'s str) -> SyntaxTree<'s> {
        SyntaxTree::parse(
            reg.by_name(lang).unwrap(),
            src,
            &Limits::default(),
            TreeOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn postorder_layout_and_ranges() {
        let reg = Registry::embedded().unwrap();
        let t = tree(&reg, "rust", "fn main() { let x = 1 + 2; }");
        let root = t.root();
        assert_eq!(t.node(root).size as usize, t.len());
        for id in 0..t.len() as u32 {
            let n = t.node(id);
            if n.parent != NONE {
                assert!(n.parent > id, "parent after child in post-order");
                assert!(t.contains(n.parent, id));
            }
        }
    }

    #[test]
    fn formatting_comments_and_quotes_do_not_change_the_hash() {
        let reg = Registry::embedded().unwrap();
        let a = tree(
            &reg,
            "python",
            "import os\nimport sys\ndef f(a, b):\n    return (a + 'x')\n",
        );
        let b = tree(
            &reg,
            "python",
            "import sys\nimport os\n# hi\ndef f(\n    a,\n    b,\n):\n    return a + \"x\"  # trailing\n",
        );
        assert_eq!(a.node(a.root()).hash, b.node(b.root()).hash);
    }

    #[test]
    fn a_real_difference_changes_the_hash_but_not_the_shape_for_a_rename() {
        let reg = Registry::embedded().unwrap();
        let a = tree(&reg, "rust", "fn f() { let count = 0; }");
        let b = tree(&reg, "rust", "fn f() { let total = 0; }");
        assert_ne!(a.node(a.root()).hash, b.node(b.root()).hash);
        assert_eq!(a.node(a.root()).shape, b.node(b.root()).shape);
    }

    #[test]
    fn entities_are_named() {
        let reg = Registry::embedded().unwrap();
        let t = tree(
            &reg,
            "rust",
            "impl Foo { fn parse_config(&self) -> u8 { 1 } }",
        );
        let names: Vec<String> = t.entities.iter().map(|e| e.display()).collect();
        assert!(names.contains(&"fn parse_config".to_string()), "{names:?}");
        assert!(names.contains(&"impl Foo".to_string()), "{names:?}");
        let f = t
            .entities
            .iter()
            .find(|e| e.name == "parse_config")
            .unwrap();
        assert_eq!(t.entities[f.parent as usize].name, "Foo");
    }

    #[test]
    fn syntax_errors_are_reported_with_a_line() {
        let reg = Registry::embedded().unwrap();
        let err = SyntaxTree::parse(
            reg.by_name("rust").unwrap(),
            "fn ok() {}\nfn broken( {\n",
            &Limits::default(),
            TreeOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, TreeError::Syntax { line: 2 }), "{err:?}");
    }

    #[test]
    fn node_limit_is_enforced() {
        let reg = Registry::embedded().unwrap();
        let src = "fn f() { 1; 2; 3; 4; 5; 6; 7; 8; }";
        let err = SyntaxTree::parse(
            reg.by_name("rust").unwrap(),
            src,
            &Limits {
                max_nodes: 5,
                ..Limits::default()
            },
            TreeOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, TreeError::TooManyNodes { .. }));
    }

    #[test]
    fn an_incremental_parse_equals_a_fresh_one() {
        let reg = Registry::embedded().unwrap();
        let lang = reg.by_name("python").unwrap();
        let old = "import os\n\ndef f(a):\n    return a + 1\n\nx = f(2)\n";
        let new = "import os\n\ndef f(a, b=3):\n    total = a + b\n    return total\n\nx = f(2)\n";
        let limits = Limits::default();
        let old_tree = parse_ts(lang, old, None, &limits).unwrap();
        let inc = parse_ts(lang, new, Some((&old_tree, old)), &limits).unwrap();
        let fresh = parse_ts(lang, new, None, &limits).unwrap();
        assert_eq!(inc.root_node().to_sexp(), fresh.root_node().to_sexp());
        let a = SyntaxTree::from_ts(lang, new, &inc, &limits, TreeOptions::default()).unwrap();
        let b = SyntaxTree::from_ts(lang, new, &fresh, &limits, TreeOptions::default()).unwrap();
        assert_eq!(a.node(a.root()).hash, b.node(b.root()).hash);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn byte_limit_is_enforced_before_parsing() {
        let reg = Registry::embedded().unwrap();
        let err = SyntaxTree::parse(
            reg.by_name("rust").unwrap(),
            "fn f() {}",
            &Limits {
                max_bytes: 4,
                ..Limits::default()
            },
            TreeOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, TreeError::TooLarge { bytes: 9, limit: 4 });
    }

    #[test]
    fn string_content_strips_quotes_and_keeps_prefixes() {
        let c = |t: &str| {
            let (p, b) = string_content(t);
            (p, b.into_owned())
        };
        assert_eq!(c("'it\\'s'"), ("".into(), "it's".into()));
        assert_eq!(c("\"it's\""), ("".into(), "it's".into()));
        assert_eq!(c("r#\"raw\"#"), ("r".into(), "raw".into()));
        assert_eq!(c("B'x'"), ("b".into(), "x".into()));
        assert_eq!(c("\"\"\"doc\"\"\""), ("".into(), "doc".into()));
        assert_eq!(c("`tpl`"), ("".into(), "tpl".into()));
        assert_eq!(c("plain scalar"), ("".into(), "plain scalar".into()));
    }
}
