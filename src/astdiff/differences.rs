//! What differs between two renders, named: per file and entity, both renders' lines.
//!
//! A variance under the threshold means "agreed", and the audit goes on — but two renders that
//! insert the same 15-line block, one with `>` and one with `>=`, agree at about 1 %, and that
//! one operator is exactly what a reviewer needs to see. So the report (and from it the gate's
//! record and check run) lists every entity on which the renders differ, with the lines of each
//! render, whatever the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use super::measure::{Edit, LineRange};

/// Lines of each render shown per difference.
pub const MAX_LINES: usize = 3;
/// Characters per line shown.
const MAX_CHARS: usize = 120;

/// One entity (or the top level of a file) on which the renders differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub path: String,
    /// e.g. `def load`; `null` for the top level of the file.
    pub entity: Option<String>,
    /// Lines of render A the differing edits cover (`null`: only insertions in B).
    pub a: Option<LineRange>,
    /// Lines of render B (`null`: only deletions from A).
    pub b: Option<LineRange>,
    /// The first differing lines of render A and of render B, trimmed (at most 3 each).
    pub a_lines: Vec<String>,
    pub b_lines: Vec<String>,
    /// Edits of the file's script in this entity.
    pub edits: usize,
}

fn union(x: Option<LineRange>, y: Option<LineRange>) -> Option<LineRange> {
    match (x, y) {
        (Some(x), Some(y)) => Some(LineRange {
            start: x.start.min(y.start),
            end: x.end.max(y.end),
        }),
        (x, y) => x.or(y),
    }
}

/// The text of lines `first` (1-based) of `text` touched by `ranges`, at most [`MAX_LINES`].
fn lines_of(text: Option<&str>, ranges: &[LineRange]) -> Vec<String> {
    let Some(text) = text else {
        return Vec::new();
    };
    let all: Vec<&str> = text.lines().collect();
    let mut wanted: Vec<u32> = Vec::new();
    for r in ranges {
        for l in r.start..=r.end {
            if wanted.len() >= MAX_LINES * 4 {
                break;
            }
            if !wanted.contains(&l) {
                wanted.push(l);
            }
        }
    }
    wanted.sort_unstable();
    let mut out = Vec::new();
    for l in wanted {
        let Some(line) = all.get(l as usize - 1).map(|s| s.trim()) else {
            continue;
        };
        if line.is_empty() {
            continue;
        }
        out.push(if line.chars().count() > MAX_CHARS {
            format!("{}…", line.chars().take(MAX_CHARS - 1).collect::<String>())
        } else {
            line.to_string()
        });
        if out.len() == MAX_LINES {
            break;
        }
    }
    out
}

/// Group a file's A → B edit script by entity, in line order, with both renders' lines.
pub fn differences(
    path: &str,
    edits: &[Edit],
    a_text: Option<&str>,
    b_text: Option<&str>,
) -> Vec<Difference> {
    struct Group {
        order: usize,
        a: Option<LineRange>,
        b: Option<LineRange>,
        a_ranges: Vec<LineRange>,
        b_ranges: Vec<LineRange>,
        edits: usize,
    }
    let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
    for e in edits {
        let n = groups.len();
        let g = groups.entry(e.entity.clone()).or_insert(Group {
            order: n,
            a: None,
            b: None,
            a_ranges: Vec::new(),
            b_ranges: Vec::new(),
            edits: 0,
        });
        g.a = union(g.a, e.a);
        g.b = union(g.b, e.b);
        g.a_ranges.extend(e.a);
        g.b_ranges.extend(e.b);
        g.edits += 1;
    }
    let mut out: Vec<(usize, Difference)> = groups
        .into_iter()
        .map(|(entity, g)| {
            (
                g.order,
                Difference {
                    path: path.to_string(),
                    entity,
                    a: g.a,
                    b: g.b,
                    a_lines: lines_of(a_text, &g.a_ranges),
                    b_lines: lines_of(b_text, &g.b_ranges),
                    edits: g.edits,
                },
            )
        })
        .collect();
    out.sort_by_key(|(o, _)| *o);
    out.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::measure::EditOp;

    fn edit(entity: Option<&str>, a: Option<(u32, u32)>, b: Option<(u32, u32)>) -> Edit {
        let r = |(start, end)| LineRange { start, end };
        Edit {
            op: EditOp::Update,
            kind: "x".into(),
            entity: entity.map(str::to_string),
            a: a.map(r),
            b: b.map(r),
            from: None,
            to: None,
            nodes: 1,
        }
    }

    #[test]
    fn one_operator_is_named_with_both_lines() {
        let a = "def f(x):\n    if x > 3:\n        return 1\n";
        let b = "def f(x):\n    if x >= 3:\n        return 1\n";
        let d = differences(
            "m.py",
            &[edit(Some("def f"), Some((2, 2)), Some((2, 2)))],
            Some(a),
            Some(b),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].entity.as_deref(), Some("def f"));
        assert_eq!(d[0].a_lines, vec!["if x > 3:"]);
        assert_eq!(d[0].b_lines, vec!["if x >= 3:"]);
    }

    #[test]
    fn edits_group_by_entity_in_order_of_appearance() {
        let d = differences(
            "m.py",
            &[
                edit(Some("def g"), Some((9, 9)), None),
                edit(None, None, Some((1, 1))),
                edit(Some("def g"), None, Some((12, 14))),
            ],
            None,
            None,
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].entity.as_deref(), Some("def g"));
        assert_eq!(d[0].edits, 2);
        assert_eq!(d[0].a, Some(LineRange { start: 9, end: 9 }));
        assert_eq!(d[0].b, Some(LineRange { start: 12, end: 14 }));
        assert_eq!(d[1].entity, None);
    }
}
