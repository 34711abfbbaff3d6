//! Finishing an inner node of a [`SyntaxTree`]: sorting its children, unwrapping redundant
//! wrappers, dropping blank ones, joining adjacent strings, and pushing it with its hashes.

use super::{end_line, mix, string_content, Frame, Node, SyntaxTree, TreeError, NONE};
use crate::astdiff::registry::flag;

impl SyntaxTree<'_> {
    /// Whether an anonymous token whose parent frame is the top of `stack` belongs to a wrapper
    /// nested in a parent of its own kind where an unwrap rule applies: such a wrapper's tokens
    /// say nothing its parent does not (TS `| 'a' | 'b'`, a leading `|`, nests a union_type of
    /// `|` and `'a'` that should unwrap to `'a'`).
    ///
    /// Also a token an unwrap rule ignores (`ignore_tokens`) in a wrapper holding one named
    /// child: the leading `|` of a one-member union (`type T =\n  | readonly A[]`).
    pub(super) fn nested_wrapper_token(&self, stack: &[Frame<'_>], token: u16) -> bool {
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
    pub(super) fn finish_inner(
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
    pub(super) fn ensure_root(&mut self, root: tree_sitter::Node<'_>, only: u32) {
        let kids: Vec<u32> = if only == NONE { vec![] } else { vec![only] };
        self.push_inner(root, &kids);
    }

    /// Push the inner node for `node` over `kids` (already in their final order) and make it
    /// their parent; its hashes cover its (canonical) kind, its children and their number.
    pub(super) fn push_inner(&mut self, node: tree_sitter::Node<'_>, kids: &[u32]) -> u32 {
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
}
