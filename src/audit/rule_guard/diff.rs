//! Which lines of a file a change added or modified.
//!
//! Rule-Guard judges the change, not the file: a rule fires only on syntax that overlaps an
//! added or modified line, and regular expressions look at added lines only. This module turns
//! a before/after pair into that set of lines with a line diff (`similar`).
//!
//! It must never report a line the change did not touch: an untouched `unsafe` block or an old
//! credential that is merely still there is the base branch's business, not this change's.

use std::time::Duration;

use similar::{Algorithm, DiffOp, TextDiff};

/// The added or modified lines of a file's after-image, 0-based, sorted and disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddedLines {
    ranges: Vec<std::ops::Range<usize>>,
}

impl AddedLines {
    /// Every line of `new` (an added file).
    pub fn all(new: &str) -> Self {
        let n = line_count(new);
        let mut ranges = Vec::new();
        if n > 0 {
            ranges.push(0..n);
        }
        AddedLines { ranges }
    }

    /// The lines of `new` that a line diff from `old` marks inserted or replaced.
    pub fn between(old: &str, new: &str) -> Self {
        // A missing final newline must not make the old last line look modified when lines
        // are appended after it.
        let old = with_final_newline(old);
        let new_n = with_final_newline(new);
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Patience)
            .timeout(Duration::from_secs(2))
            .diff_lines(old.as_ref(), new_n.as_ref());
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for op in diff.ops() {
            let r = match *op {
                DiffOp::Insert {
                    new_index, new_len, ..
                }
                | DiffOp::Replace {
                    new_index, new_len, ..
                } => new_index..new_index + new_len,
                _ => continue,
            };
            if r.is_empty() {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => ranges.push(r),
            }
        }
        AddedLines { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether 0-based `line` was added or modified.
    pub fn contains(&self, line: usize) -> bool {
        self.overlaps(line, line)
    }

    /// Whether any line of the inclusive 0-based span `first..=last` was added or modified.
    pub fn overlaps(&self, first: usize, last: usize) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= first);
        self.ranges.get(i).is_some_and(|r| r.start <= last)
    }

    /// The added lines, 0-based.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }
}

fn with_final_newline(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_empty() || s.ends_with('\n') {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(format!("{s}\n"))
    }
}

fn line_count(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.lines().count().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_file_is_all_lines() {
        let a = AddedLines::all("a\nb\nc");
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(AddedLines::all("").is_empty());
    }

    #[test]
    fn inserted_and_replaced_lines_only() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nB\nc\nx\nd\ne";
        let a = AddedLines::between(old, new);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, 3, 5]);
        assert!(a.overlaps(0, 1));
        assert!(!a.overlaps(2, 2));
        assert!(a.overlaps(2, 3));
        assert!(!a.contains(4));
    }

    #[test]
    fn deletions_and_identity_add_nothing() {
        assert!(AddedLines::between("a\nb\n", "a\n").is_empty());
        assert!(AddedLines::between("a\nb", "a\nb").is_empty());
        // appending after a last line without newline leaves that line untouched
        let a = AddedLines::between("a\nb", "a\nb\nc\n");
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![2]);
    }
}
