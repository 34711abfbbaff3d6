//! The line view of a comparison: the fallback line diff, and which lines a change touched.
//!
//! Lines are compared trimmed, blank lines left out, so indentation and spacing between blocks do
//! not count here either. Two uses: a file that cannot be compared as syntax is compared as lines
//! ([`line_pair`]); and a syntax comparison against the base asks [`Touched`] which lines of each
//! side the change really touched, so that matcher noise on untouched lines (a node paired with a
//! look-alike elsewhere) never counts as changed.

use std::time::Instant;

use super::measure::{Edit, EditOp, LineRange};

/// Non-blank lines, trimmed, with their 1-based line numbers.
pub fn norm_lines(text: Option<&str>) -> (Vec<&str>, Vec<u32>) {
    let mut lines = Vec::new();
    let mut numbers = Vec::new();
    for (i, l) in text.unwrap_or("").lines().enumerate() {
        let t = l.trim();
        if !t.is_empty() {
            lines.push(t);
            numbers.push(i as u32 + 1);
        }
    }
    (lines, numbers)
}

/// What a line diff found.
#[derive(Debug, Default)]
pub struct LineDiff {
    /// Lines deleted plus lines inserted.
    pub weight: u64,
    pub edits: Vec<Edit>,
    /// Whether the wall-clock guard was reached (the diff may then be coarser than the best).
    pub guard_hit: bool,
}

/// The line diff of two texts; `deadline` is a last-resort guard only.
pub fn line_pair(l: Option<&str>, r: Option<&str>, deadline: Option<Instant>) -> LineDiff {
    let (ll, ln) = norm_lines(l);
    let (rl, rn) = norm_lines(r);
    let ops = similar::capture_diff_slices_deadline(similar::Algorithm::Myers, &ll, &rl, deadline);
    let guard_hit = deadline.is_some_and(|d| Instant::now() > d);
    let mut out = LineDiff {
        guard_hit,
        ..LineDiff::default()
    };
    let lr = |nums: &[u32], start: usize, len: usize| LineRange {
        start: nums[start],
        end: nums[start + len - 1],
    };
    for op in ops {
        let (old_index, old_len, new_index, new_len) = match op {
            similar::DiffOp::Equal { .. } => continue,
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index, old_len, 0, 0),
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => (0, 0, new_index, new_len),
            similar::DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index, old_len, new_index, new_len),
        };
        out.weight += (old_len + new_len) as u64;
        if old_len > 0 {
            out.edits.push(line_edit(
                EditOp::Delete,
                Some(lr(&ln, old_index, old_len)),
                None,
                old_len,
            ));
        }
        if new_len > 0 {
            out.edits.push(line_edit(
                EditOp::Insert,
                None,
                Some(lr(&rn, new_index, new_len)),
                new_len,
            ));
        }
    }
    out
}

fn line_edit(op: EditOp, a: Option<LineRange>, b: Option<LineRange>, n: usize) -> Edit {
    Edit {
        op,
        kind: "line".into(),
        entity: None,
        a,
        b,
        from: None,
        to: None,
        nodes: n as u32,
    }
}

/// The lines of one side that a line diff against the other side marks as changed, for O(1)
/// "does this line range contain a touched line" questions.
#[derive(Debug, Clone)]
pub struct Touched {
    /// `prefix[i]`: touched lines among lines `1..=i`.
    prefix: Vec<u32>,
}

impl Touched {
    /// Every line of `text` counts as touched (a side with no counterpart).
    pub fn all() -> Touched {
        Touched { prefix: Vec::new() }
    }

    /// The touched lines of `left` and of `right` under their line diff.
    pub fn of(left: &str, right: &str) -> (Touched, Touched) {
        let (ll, ln) = norm_lines(Some(left));
        let (rl, rn) = norm_lines(Some(right));
        let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &ll, &rl);
        let mut tl = vec![false; left.lines().count() + 2];
        let mut tr = vec![false; right.lines().count() + 2];
        for op in ops {
            let (o, on, n, nn) = match op {
                similar::DiffOp::Equal { .. } => continue,
                similar::DiffOp::Delete {
                    old_index, old_len, ..
                } => (old_index, old_len, 0, 0),
                similar::DiffOp::Insert {
                    new_index, new_len, ..
                } => (0, 0, new_index, new_len),
                similar::DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => (old_index, old_len, new_index, new_len),
            };
            for &line in &ln[o..o + on] {
                tl[line as usize] = true;
            }
            for &line in &rn[n..n + nn] {
                tr[line as usize] = true;
            }
        }
        (Touched::from_flags(&tl), Touched::from_flags(&tr))
    }

    fn from_flags(flags: &[bool]) -> Touched {
        let mut prefix = Vec::with_capacity(flags.len());
        let mut n = 0;
        for &f in flags {
            n += f as u32;
            prefix.push(n);
        }
        // An empty prefix means "everything"; a side with no touched line must still say no.
        if prefix.is_empty() {
            prefix.push(0);
        }
        Touched { prefix }
    }

    /// Whether any of lines `start..=end` (1-based) is touched.
    pub fn any(&self, start: u32, end: u32) -> bool {
        if self.prefix.is_empty() {
            return true;
        }
        let last = self.prefix.len() - 1;
        let (s, e) = ((start as usize).min(last), (end as usize).min(last));
        if e < s {
            return false;
        }
        let before = if s == 0 { 0 } else { self.prefix[s - 1] };
        self.prefix[e] > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_lines_follow_the_line_diff() {
        let (l, r) = Touched::of("a\nb\nc\n\nd\n", "a\nB\nc\n\nd\ne\n");
        assert!(!l.any(1, 1) && l.any(2, 2) && !l.any(3, 5));
        assert!(r.any(2, 2) && r.any(6, 6) && !r.any(3, 5));
        assert!(l.any(1, 3));
        assert!(Touched::all().any(7, 9));
    }

    #[test]
    fn indentation_alone_touches_nothing() {
        let (l, r) = Touched::of("f(x)\n  g(y)\n", "f(x)\n      g(y)\n");
        assert!(!l.any(1, 2) && !r.any(1, 2));
    }

    #[test]
    fn a_line_pair_counts_deleted_and_inserted_lines() {
        let d = line_pair(Some("a\nb\nc\n"), Some("a\nx\nc\ny\n"), None);
        assert_eq!(d.weight, 3);
        assert_eq!(d.edits.len(), 3);
        assert!(!d.guard_hit);
    }
}
