//! Render A beside render B, line by line: the lines the two renders differ on (the record's
//! `ast_diff.differences`: per entity, both renders' first differing lines) aligned as a
//! line diff, and, within a pair of lines that differ, the differing tokens marked.
//!
//! Pure: lines in, rows of marked segments out. Nothing here escapes text; the templates do.

use similar::{capture_diff_slices, Algorithm, DiffOp};

/// A run of text, marked when it differs from the other render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub mark: bool,
}

/// One side of a row: its segments and how the line compares (`same`, `changed`, `only`,
/// `gap` for no line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub class: &'static str,
    pub segments: Vec<Segment>,
}

/// One row of the side-by-side view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub a: Cell,
    pub b: Cell,
}

impl Row {
    /// Whether either side differs (what a reader scans for).
    pub fn differs(&self) -> bool {
        self.a.class != "same" || self.b.class != "same"
    }
}

fn whole(class: &'static str, text: &str, mark: bool) -> Cell {
    Cell {
        class,
        segments: vec![Segment {
            text: text.to_string(),
            mark,
        }],
    }
}

fn gap() -> Cell {
    Cell {
        class: "gap",
        segments: Vec::new(),
    }
}

/// Words, runs of spaces, runs of operator characters (`>=`, `->`) and single brackets,
/// quotes and separators: the units a change is marked in.
fn tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let kind = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c.is_whitespace() {
            1
        } else if "()[]{}\"'`,;:".contains(c) {
            3
        } else {
            2
        }
    };
    let mut prev: Option<u8> = None;
    for (i, c) in line.char_indices() {
        let k = kind(c);
        if let Some(p) = prev {
            if p != k || k == 3 {
                out.push(&line[start..i]);
                start = i;
            }
        }
        prev = Some(k);
    }
    if start < line.len() {
        out.push(&line[start..]);
    }
    out
}

/// Push `text` onto `segs`, merging with the last segment when the mark is the same.
fn push(segs: &mut Vec<Segment>, text: &str, mark: bool) {
    match segs.last_mut() {
        Some(last) if last.mark == mark => last.text.push_str(text),
        _ => segs.push(Segment {
            text: text.to_string(),
            mark,
        }),
    }
}

/// A pair of differing lines with the differing tokens of each marked.
fn changed_pair(a: &str, b: &str) -> Row {
    let (ta, tb) = (tokens(a), tokens(b));
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for op in capture_diff_slices(Algorithm::Myers, &ta, &tb) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                push(&mut sa, &ta[old_index..old_index + len].concat(), false);
                push(&mut sb, &tb[new_index..new_index + len].concat(), false);
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => push(&mut sa, &ta[old_index..old_index + old_len].concat(), true),
            DiffOp::Insert {
                new_index, new_len, ..
            } => push(&mut sb, &tb[new_index..new_index + new_len].concat(), true),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                push(&mut sa, &ta[old_index..old_index + old_len].concat(), true);
                push(&mut sb, &tb[new_index..new_index + new_len].concat(), true);
            }
        }
    }
    Row {
        a: Cell {
            class: "changed",
            segments: sa,
        },
        b: Cell {
            class: "changed",
            segments: sb,
        },
    }
}

/// Render A's lines beside render B's, aligned.
pub fn rows(a: &[String], b: &[String]) -> Vec<Row> {
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, a, b) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for i in 0..len {
                    out.push(Row {
                        a: whole("same", &a[old_index + i], false),
                        b: whole("same", &b[new_index + i], false),
                    });
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for line in &a[old_index..old_index + old_len] {
                    out.push(Row {
                        a: whole("only", line, true),
                        b: gap(),
                    });
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for line in &b[new_index..new_index + new_len] {
                    out.push(Row {
                        a: gap(),
                        b: whole("only", line, true),
                    });
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                for i in 0..old_len.max(new_len) {
                    out.push(match (a.get(old_index + i), b.get(new_index + i)) {
                        (Some(x), Some(y)) if i < old_len && i < new_len => changed_pair(x, y),
                        (Some(x), _) if i < old_len => Row {
                            a: whole("only", x, true),
                            b: gap(),
                        },
                        (_, Some(y)) => Row {
                            a: gap(),
                            b: whole("only", y, true),
                        },
                        _ => continue,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn marked(c: &Cell) -> String {
        c.segments
            .iter()
            .filter(|s| s.mark)
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn an_operator_that_differs_is_the_only_thing_marked() {
        let r = rows(&s(&["if n > 3:"]), &s(&["if n >= 3:"]));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].a.class, "changed");
        assert_eq!(marked(&r[0].a), ">");
        assert_eq!(marked(&r[0].b), ">=");
        let text: String = r[0].b.segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "if n >= 3:", "segments keep the whole line");
    }

    #[test]
    fn equal_lines_stay_unmarked_and_lines_of_one_side_face_a_gap() {
        let r = rows(&s(&["a = 1", "b = 2"]), &s(&["a = 1", "b = 2", "c = 3"]));
        assert_eq!(r.len(), 3);
        assert!(!r[0].differs() && !r[1].differs());
        assert_eq!(r[2].a.class, "gap");
        assert_eq!(r[2].b.class, "only");
        assert_eq!(marked(&r[2].b), "c = 3");
        let r = rows(&s(&["x()"]), &[]);
        assert_eq!((r[0].a.class, r[0].b.class), ("only", "gap"));
    }

    #[test]
    fn replaced_blocks_of_unequal_length_pair_then_overhang() {
        let r = rows(
            &s(&["for i in range(3):"]),
            &s(&["while True:", "    retry()"]),
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].a.class, "changed");
        assert_eq!((r[1].a.class, r[1].b.class), ("gap", "only"));
    }
}
