//! ERROR regions of a tolerant tree: where tree-sitter could not parse, compare tokens.
//!
//! Valid, everyday code trips tree-sitter's grammars — a C macro before a declaration
//! (`Z_INTERNAL uint32_t f(int x)`), a namespace macro pair around a function, Bash `for arg do`,
//! TypeScript variance annotations. tree-sitter then wraps what it could not place in an ERROR
//! node and parses the rest soundly. Instead of giving the whole file up, a tolerant build keeps
//! the sound tree and turns each ERROR node into one node whose children are its tokens, in
//! order, all of one kind, so that two renders' regions align token by token and a formatter's
//! line breaks and indentation inside a region change nothing. Tokens are normalised: comments
//! and the registry's ignored punctuation dropped, a string literal one token by its content,
//! and any other leaf split into words (runs of letters, digits and `_`) and single symbols — in
//! a region it could not parse, tree-sitter's lexer cuts the same text differently depending on
//! the state it guessed, and this way the cut does not matter.
//!
//! A formatter may also rewrite the construct that tripped the grammar into one it parses
//! (`for arg do` → `for arg; do`): one render then has an ERROR region where the other has a
//! sound subtree. So an entity (function, method…) that holds an error region in any render is
//! compared by its tokens as a whole in every render (`widen`, decided by the caller), and the
//! two token lists line up again.

use super::{flag, hash_text, mix, Node, SyntaxTree, TreeError, NONE};

/// One ERROR region of a tolerant tree, compared by its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRegion {
    /// The region's node in the arena.
    pub node: u32,
    /// 1-based lines.
    pub start_line: u32,
    pub end_line: u32,
    /// Normalised tokens in the region.
    pub tokens: u32,
    /// A whole entity compared by tokens because a render has an error region in it (this
    /// side may have none); `false`: an ERROR node of this side.
    pub widened: bool,
}

/// The kind every token of a region gets (tree-sitter's ERROR symbol).
const TOKEN_KIND: u16 = u16::MAX;

impl SyntaxTree<'_> {
    /// Push the node standing for the ERROR node `node` over its tokens; [`NONE`] when nothing
    /// but comments or ignored punctuation is left of it.
    pub(super) fn push_error_region(
        &mut self,
        node: tree_sitter::Node<'_>,
        skip_mask: u16,
        widened: bool,
    ) -> Result<u32, TreeError> {
        let mut kids: Vec<u32> = Vec::new();
        let mut cursor = node.walk();
        'walk: loop {
            let n = cursor.node();
            let f = self.lang.flags(n.kind_id());
            let top = n.id() == node.id();
            let skip = !top
                && (f & (skip_mask | flag::IGNORE) != 0
                    || n.is_missing()
                    || n.byte_range().is_empty());
            if !skip {
                let token = !top && (f & (flag::STRING | flag::LEAF) != 0 || n.child_count() == 0);
                if token && f & flag::STRING != 0 {
                    let id = self.push_leaf(n, f & !flag::ENTITY)?;
                    self.retag(id, TOKEN_KIND);
                    kids.push(id);
                } else if token {
                    self.push_words(n, &mut kids);
                } else if cursor.goto_first_child() {
                    continue 'walk;
                }
            }
            loop {
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        if kids.is_empty() && !widened {
            return Ok(NONE);
        }
        let id = self.push_inner(node, &kids);
        if widened {
            self.record_entity(node, id);
        }
        let n: &Node = &self.nodes[id as usize];
        self.error_regions.push(ErrorRegion {
            node: id,
            start_line: n.start_line,
            end_line: n.end_line,
            tokens: kids.len() as u32,
            widened,
        });
        Ok(id)
    }

    /// Push the words and symbols of leaf `n` as tokens.
    fn push_words(&mut self, n: tree_sitter::Node<'_>, kids: &mut Vec<u32>) {
        let start = n.start_byte();
        let text = &self.source[n.byte_range()];
        let first_row = n.start_position().row;
        let mut row = first_row;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\n' {
                row += 1;
                continue;
            }
            if c.is_whitespace() {
                continue;
            }
            let mut end = i + c.len_utf8();
            if c.is_alphanumeric() || c == '_' {
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || d == '_') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
            }
            let word = &text[i..end];
            let label = hash_text(word);
            let id = self.nodes.len() as u32;
            self.nodes.push(Node {
                kind: TOKEN_KIND,
                label,
                hash: mix(mix(0x9e37_79b9, TOKEN_KIND as u64), label),
                shape: mix(0x7f4a_7c15, TOKEN_KIND as u64),
                parent: NONE,
                size: 1,
                height: 1,
                child_start: self.children.len() as u32,
                child_len: 0,
                start_byte: (start + i) as u32,
                end_byte: (start + end) as u32,
                start_line: row as u32 + 1,
                end_line: row as u32 + 1,
                entity: NONE,
            });
            kids.push(id);
        }
    }

    /// Give a token of a region the one token kind: tree-sitter's guess at what a token in a
    /// region it could not parse is differs with the text around it, its text does not.
    fn retag(&mut self, id: u32, kind: u16) {
        let n = &mut self.nodes[id as usize];
        n.kind = kind;
        n.hash = mix(mix(0x9e37_79b9, kind as u64), n.label);
        n.shape = mix(0x7f4a_7c15, kind as u64);
    }

    /// Tokens in ERROR regions (widened entities not counted), and all leaves of the tree.
    pub fn error_share(&self) -> (u64, u64) {
        let in_errors: u64 = self
            .error_regions
            .iter()
            .filter(|r| !r.widened)
            .map(|r| r.tokens as u64)
            .sum();
        let leaves = self.nodes.iter().filter(|n| n.child_len == 0).count() as u64;
        (in_errors, leaves)
    }
}
