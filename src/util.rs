//! Small helpers shared by several rooms, depending on nothing else in the crate (a leaf: see
//! `docs/architecture.md`): the boxed future of the object-safe async ports, the injected
//! clock, and the "did you mean" suggestion and the inline code span used by the command
//! parser and the repository-config checker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A boxed future, for object-safe async traits (the ports: spend, ledger, forge).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// "Now", injected so that tests control time: the one clock of the rollback orchestrator, the
/// policy-event receiver and the audit budget (each re-exports it as its own `Clock`).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The candidate closest to `word` (ASCII case ignored): within edit distance 2 (a swap of two
/// neighbours counts as one edit), or a candidate that `word` (2 characters or more) begins.
/// Ties go to the earlier candidate. Words longer than 64 bytes get no suggestion.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if word.is_empty() || word.len() > 64 {
        return None;
    }
    let word = word.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for &c in candidates {
        let d = edit_distance(&word, &c.to_ascii_lowercase());
        let prefix = word.chars().count() >= 2 && c.to_ascii_lowercase().starts_with(&word);
        if (d <= 2 || prefix) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `text` as an inline code span that survives backticks inside it.
pub fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{text}{fence}")
    } else {
        format!("{fence} {text} {fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let words = ["recheck", "rollback", "help"];
        assert_eq!(did_you_mean("rollbakc", &words), Some("rollback"));
        assert_eq!(did_you_mean("RECHECK", &words), Some("recheck"));
        assert_eq!(did_you_mean("r", &words), None);
        assert_eq!(did_you_mean("", &words), None);
        assert_eq!(did_you_mean("he", &words), Some("help"));
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code_span("a"), "`a`");
        assert_eq!(code_span("a`b"), "`` a`b ``");
    }
}
