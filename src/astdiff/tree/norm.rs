//! The normalisations of [`SyntaxTree`] that read the tree-sitter tree around a node: a string's
//! escape sequences, a heredoc's opener and indentation, the parts of adjacent string literals,
//! the children that fill a sorted field. The text rules themselves are in [`super::text`].

use super::text;
use super::{string_content, string_label, string_parts, SyntaxTree};
use crate::astdiff::registry::{flag, Escapes};

impl SyntaxTree<'_> {
    /// A string literal's prefix and content. Where the grammar marks escape sequences
    /// (`escape_kinds`), each compares by what it denotes (per the language's `escapes`), so
    /// `'\xFF'` = `'\xff'`, and with Python's rules `'\033'` = `'\x1b'`; elsewhere only
    /// escaped quotes are unescaped. Raw strings have no escape nodes and stay as written.
    pub(super) fn string_value<'t>(
        &self,
        node: tree_sitter::Node<'_>,
        text: &'t str,
    ) -> (String, std::borrow::Cow<'t, str>) {
        if self.lang.spec.escape_kinds.is_empty() || !text.contains('\\') {
            return string_content(text);
        }
        let mut escs: Vec<(usize, usize)> = Vec::new();
        let mut cursor = node.walk();
        'walk: loop {
            let n = cursor.node();
            if n.id() != node.id() && self.lang.flags(n.kind_id()) & flag::ESCAPE != 0 {
                escs.push((n.start_byte(), n.end_byte()));
            } else if cursor.goto_first_child() {
                continue;
            }
            loop {
                if cursor.node().id() == node.id() {
                    break 'walk;
                }
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        if escs.is_empty() {
            return string_content(text);
        }
        let (prefix, body) = string_parts(text);
        let start = node.start_byte() + (body.as_ptr() as usize - text.as_ptr() as usize);
        let end = start + body.len();
        let bytes = prefix.contains('b');
        let escapes = self.lang.escapes;
        let mut out = String::with_capacity(body.len());
        let mut pos = start;
        let mut k = 0;
        while k < escs.len() {
            let (s, e) = escs[k];
            k += 1;
            if s < pos || e > end {
                continue;
            }
            out.push_str(&self.source[pos..s]);
            let e = e + text::cut_escape_digits(&self.source[s..e], &self.source[e..end]);
            let esc = &self.source[s..e];
            pos = e;
            if escapes == Escapes::Json {
                // The low half must lie in the body too: in a tree the parser recovered from
                // errors an escape can reach past the string's end (found by the astdiff fuzz
                // target: `"\"\u\"` read as JSON).
                if let Some(&(s2, e2)) = escs.get(k).filter(|&&(s2, e2)| s2 == e && e2 <= end) {
                    let e2 =
                        e2 + text::cut_escape_digits(&self.source[s2..e2], &self.source[e2..end]);
                    if let Some(c) = text::surrogate_pair(esc, &self.source[s2..e2]) {
                        out.push(c);
                        pos = e2;
                        k += 1;
                        continue;
                    }
                }
            }
            text::push_escape(&mut out, esc, escapes, bytes);
        }
        out.push_str(&self.source[pos..end]);
        (prefix, std::borrow::Cow::Owned(out))
    }

    /// A heredoc content piece as the language reads it (see [`text::heredoc_piece`]): the end
    /// marker's indentation goes, and in a squiggly body the common indentation.
    pub(super) fn heredoc_text(&self, node: tree_sitter::Node<'_>, text: &str) -> String {
        let is_end =
            |n: &tree_sitter::Node<'_>| self.lang.flags(n.kind_id()) & flag::HEREDOC_END != 0;
        let trailing_end = node.next_sibling().is_some_and(|n| is_end(&n));
        let starts_line = self.source[..node.start_byte()].ends_with('\n');
        let dedent = node
            .parent()
            .and_then(|body| {
                let end = (0..body.child_count())
                    .rev()
                    .filter_map(|i| body.child(i))
                    .find(is_end)?;
                self.squiggly(body, end).then(|| {
                    text::heredoc_indent(&self.source[body.start_byte()..end.start_byte()])
                })
            })
            .unwrap_or(0);
        text::heredoc_piece(text, starts_line, dedent, trailing_end)
    }

    /// Whether the heredoc `body` ending in `end` was opened by the language's squiggly marker:
    /// the nearest opener of its identifier before it (`<<~ID`, `<<-ID`, `<<ID`, quoted or not).
    pub(super) fn squiggly(&self, body: tree_sitter::Node<'_>, end: tree_sitter::Node<'_>) -> bool {
        let Some(spec) = &self.lang.spec.heredoc else {
            return false;
        };
        let id = self.source[end.byte_range()].trim();
        if id.is_empty() {
            return false;
        }
        let before = &self.source[..body.start_byte()];
        for (at, _) in before.rmatch_indices(id) {
            let head = before[..at].trim_end_matches(['\'', '"', '`']);
            if head.ends_with(spec.squiggly.as_str()) {
                return true;
            }
            if head.ends_with("<<") || head.ends_with("<<-") || head.ends_with("<<~") {
                return false;
            }
        }
        false
    }

    /// Put the children of `node` that fill `field` in hash order among themselves; the other
    /// children keep their places (`from a import c, b`: the names, not the module).
    pub(super) fn sort_field_children(
        &self,
        node: tree_sitter::Node<'_>,
        field: u16,
        kids: &mut [u32],
    ) {
        let Some(fid) = std::num::NonZeroU16::new(field) else {
            return;
        };
        let mut c = node.walk();
        let ranges: Vec<(u32, u32)> = node
            .children_by_field_id(fid, &mut c)
            .map(|n| (n.start_byte() as u32, n.end_byte() as u32))
            .collect();
        let slots: Vec<usize> = (0..kids.len())
            .filter(|&i| {
                let n = &self.nodes[kids[i] as usize];
                ranges
                    .iter()
                    .any(|&(s, e)| n.start_byte >= s && n.end_byte <= e)
            })
            .collect();
        let mut ids: Vec<u32> = slots.iter().map(|&i| kids[i]).collect();
        ids.sort_by_key(|&id| self.nodes[id as usize].hash);
        for (slot, id) in slots.into_iter().zip(ids) {
            kids[slot] = id;
        }
    }

    /// Adjacent string literals (`"a " "b"`) as the one string they make: the kind of the first
    /// part and the label of the joined content. `None` unless every part is a string of one
    /// prefix, or when a part ends in an escape the next part's digits would extend.
    pub(super) fn concat_label(
        &self,
        node: tree_sitter::Node<'_>,
        kids: &[u32],
    ) -> Option<(u16, u64)> {
        let mut c = node.walk();
        let parts: Vec<tree_sitter::Node<'_>> = node
            .named_children(&mut c)
            .filter(|n| self.lang.flags(n.kind_id()) & flag::COMMENT == 0)
            .collect();
        if parts.len() < 2 || parts.len() != kids.len() {
            return None;
        }
        let mut prefix0: Option<String> = None;
        let mut body = String::new();
        for part in &parts {
            if self.lang.flags(part.kind_id()) & flag::STRING == 0 {
                return None;
            }
            let (prefix, b) = self.string_value(*part, &self.source[part.byte_range()]);
            match &prefix0 {
                Some(p) if *p != prefix => return None,
                Some(_) => {}
                None => prefix0 = Some(prefix),
            }
            if text::ends_in_open_escape(&body) {
                return None;
            }
            body.push_str(&b);
        }
        let kind = self.lang.canon(parts[0].kind_id());
        Some((kind, string_label(&prefix0.unwrap_or_default(), &body)))
    }
}
