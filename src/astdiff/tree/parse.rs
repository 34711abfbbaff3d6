//! Parsing with tree-sitter: incrementally from an earlier text, under the byte limit and the
//! wall-clock guard.

use super::{Limits, TreeError};
use crate::astdiff::registry::Language;

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
