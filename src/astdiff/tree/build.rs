//! Building a [`SyntaxTree`]: the walk over tree-sitter's tree that keeps, skips or unwraps each
//! node, and the normalised labels of its leaves.

use super::text::{self, collapse_ws, flow_scalar_content, fold_flow_lines};
use super::{
    end_line, hash_text, mix, parse_ts, string_label, Entity, Frame, Limits, Node, SyntaxTree,
    TreeError, TreeOptions, NONE,
};
use crate::astdiff::registry::{flag, Language};

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

    pub(super) fn push_leaf(
        &mut self,
        node: tree_sitter::Node<'_>,
        f: u16,
    ) -> Result<u32, TreeError> {
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

    pub(super) fn push_leaf_node(
        &mut self,
        node: tree_sitter::Node<'_>,
        kind: u16,
        label: u64,
    ) -> u32 {
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
