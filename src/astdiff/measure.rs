//! What a mapping between two trees says: how many nodes differ, and the edit script.
//!
//! The **weight** of a comparison is the number of node positions on which the two trees
//! differ, counted on both sides: every unmapped node of either tree counts 1, and every mapped
//! pair whose label changed (an update) or that moved counts 2 (one node on each side). With it
//! the two variance formulas of `docs/architecture.md` (glossary) are one: without a base, `weight(A, B) / (|A| + |B|)`
//! is exactly `1 − 2·matched / (|A| + |B|)`; with a base it is
//! `weight(A, B) / (weight(base, A) + weight(base, B))` — the nodes on which the renders differ
//! over the nodes that either changed, so the unchanged file around a change cannot dilute it.
//!
//! Against a base, only what the change touched counts: a [`Scope`] gives, for each side, the
//! lines a line diff of the two texts marks as changed, and a node on none of them weighs
//! nothing and names no changed entity. Without it, matcher noise inflated the change's weight —
//! in a file of near-identical one-line methods a method no changed line touches could be paired
//! with its look-alike and counted as modified, and identical `int` leaves of other methods
//! counted as moves — and so diluted the renders' real differences.
//!
//! A *move* is a mapped node whose parent is mapped elsewhere, or which left the longest
//! increasing run of its siblings' order. Reordering entities (functions, methods, classes)
//! within the same parent is listed as a move but weighs nothing: it is presentation. A node whose parent was inserted or deleted around it
//! (code wrapped in a new `if`) is not counted as a move: the wrapper already is.

use serde::Serialize;

use super::lines::Touched;
use super::matcher::Mapping;
use super::tree::{SyntaxTree, NONE};

/// The lines of the left and the right side that the change touched; `None`: every line.
pub type Scope<'t> = Option<(&'t Touched, &'t Touched)>;

/// Whether node `id` of `t` lies on a touched line of its side.
fn in_scope(t: &SyntaxTree<'_>, id: u32, touched: Option<&Touched>) -> bool {
    touched.is_none_or(|tt| {
        let n = t.node(id);
        tt.any(n.start_line, n.end_line)
    })
}

/// The kind of an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EditOp {
    Insert,
    Delete,
    Update,
    Move,
}

/// Lines `start..=end`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineRange {
    pub start: u32,
    pub end: u32,
}

/// One edit of the script that turns the left tree into the right one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edit {
    pub op: EditOp,
    /// Syntax node kind (`line` in a line-diff fallback).
    pub kind: String,
    /// The enclosing entity, e.g. `fn parse_config`.
    pub entity: Option<String>,
    /// Lines on the left (render A, or the base for a single render); absent for inserts.
    pub a: Option<LineRange>,
    /// Lines on the right (render B, or the head); absent for deletes.
    pub b: Option<LineRange>,
    /// For updates: the text before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Nodes the edit covers.
    pub nodes: u32,
}

/// The result of comparing two trees.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub unmapped_left: u64,
    pub unmapped_right: u64,
    pub updates: u64,
    /// Moves that weigh: entities (functions, classes…) reordered among their siblings are
    /// listed in the edit script but weigh nothing — declaration order is presentation.
    pub moves: u64,
    /// Left-side move roots (parallel to `moves`).
    move_roots: Vec<u32>,
}

impl Comparison {
    /// Differing node positions counted on both sides (see the module doc).
    pub fn weight(&self) -> u64 {
        self.unmapped_left + self.unmapped_right + 2 * (self.updates + self.moves)
    }
}

/// Count what differs between `l` and `r` under `m`.
pub fn compare(l: &SyntaxTree<'_>, r: &SyntaxTree<'_>, m: &Mapping) -> Comparison {
    compare_in(l, r, m, None)
}

/// Count what differs between `l` and `r` under `m`, on the touched lines of `scope` only: an
/// unmapped node counts when it lies on a touched line of its side, an update or a move when
/// either of its two nodes does.
pub fn compare_in(
    l: &SyntaxTree<'_>,
    r: &SyntaxTree<'_>,
    m: &Mapping,
    scope: Scope<'_>,
) -> Comparison {
    let (tl, tr) = (scope.map(|s| s.0), scope.map(|s| s.1));
    let mut c = Comparison::default();
    for (x, &y) in m.a2b.iter().enumerate() {
        let x = x as u32;
        if y == NONE {
            c.unmapped_left += in_scope(l, x, tl) as u64;
        } else if l.node(x).label != r.node(y).label && (in_scope(l, x, tl) || in_scope(r, y, tr)) {
            c.updates += 1;
        }
    }
    c.unmapped_right = m
        .b2a
        .iter()
        .enumerate()
        .filter(|&(y, &x)| x == NONE && in_scope(r, y as u32, tr))
        .count() as u64;
    c.move_roots = moves(l, r, m);
    if scope.is_some() {
        c.move_roots
            .retain(|&x| in_scope(l, x, tl) || in_scope(r, m.a2b[x as usize], tr));
    }
    c.moves = c
        .move_roots
        .iter()
        .filter(|&&x| {
            let y = m.a2b[x as usize];
            let entity_reordered =
                l.own_entity(x).is_some() && m.a2b[l.node(x).parent as usize] == r.node(y).parent;
            !entity_reordered
        })
        .count() as u64;
    c
}

/// Move roots on the left side.
fn moves(l: &SyntaxTree<'_>, r: &SyntaxTree<'_>, m: &Mapping) -> Vec<u32> {
    let mut out = Vec::new();
    // Parent mapped elsewhere.
    for (x, &y) in m.a2b.iter().enumerate() {
        if y == NONE {
            continue;
        }
        let (px, py) = (l.nodes[x].parent, r.node(y).parent);
        if px == NONE || py == NONE {
            continue;
        }
        // Both parents mapped, not to each other (a node wrapped in a new parent is not a
        // move: the wrapper is the edit). Requiring both keeps the count symmetric.
        let mp = m.a2b[px as usize];
        if mp != NONE && m.b2a[py as usize] != NONE && mp != py {
            out.push(x as u32);
        }
    }
    // Reordered among siblings: children of a mapped pair outside the longest increasing run.
    let mut pos_in_parent = vec![0u32; r.len()];
    for id in 0..r.len() as u32 {
        for (i, &c) in r.children_of(id).iter().enumerate() {
            pos_in_parent[c as usize] = i as u32;
        }
    }
    let mut seq: Vec<(u32, u32)> = Vec::new();
    for px in 0..l.len() as u32 {
        let py = m.a2b[px as usize];
        if py == NONE || l.node(px).child_len < 2 {
            continue;
        }
        seq.clear();
        for &c in l.children_of(px) {
            let y = m.a2b[c as usize];
            if y != NONE && r.node(y).parent == py {
                seq.push((c, pos_in_parent[y as usize]));
            }
        }
        if seq.len() < 2 || seq.windows(2).all(|w| w[0].1 < w[1].1) {
            continue;
        }
        let keep = lis(&seq);
        for (i, &(c, _)) in seq.iter().enumerate() {
            if !keep[i] {
                out.push(c);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Marks the members of one longest strictly increasing subsequence of `seq[..].1`.
fn lis(seq: &[(u32, u32)]) -> Vec<bool> {
    let n = seq.len();
    let mut tails: Vec<usize> = Vec::new(); // indices into seq
    let mut prev = vec![usize::MAX; n];
    for i in 0..n {
        let v = seq[i].1;
        let k = tails.partition_point(|&t| seq[t].1 < v);
        if k > 0 {
            prev[i] = tails[k - 1];
        }
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = vec![false; n];
    let mut cur = tails.last().copied().unwrap_or(usize::MAX);
    while cur != usize::MAX {
        keep[cur] = true;
        cur = prev[cur];
    }
    keep
}

fn range(t: &SyntaxTree<'_>, id: u32) -> LineRange {
    let n = t.node(id);
    LineRange {
        start: n.start_line,
        end: n.end_line,
    }
}

fn short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(79).collect::<String>())
    } else {
        one_line
    }
}

/// The edit script from `l` to `r`: one entry per maximal inserted or deleted subtree, per
/// updated leaf and per moved subtree, in line order.
pub fn edit_script(
    l: &SyntaxTree<'_>,
    r: &SyntaxTree<'_>,
    m: &Mapping,
    cmp: &Comparison,
) -> Vec<Edit> {
    let entity = |t: &SyntaxTree<'_>, id: u32| t.entity_of(id).map(|e| e.display());
    let mut edits = Vec::new();
    let unmapped_in = |t: &SyntaxTree<'_>, map: &[u32], id: u32| -> u32 {
        let first = t.first_descendant(id);
        map[first as usize..=id as usize]
            .iter()
            .filter(|&&v| v == NONE)
            .count() as u32
    };
    for (x, &y) in m.a2b.iter().enumerate() {
        let x = x as u32;
        if y == NONE {
            let p = l.node(x).parent;
            if p == NONE || m.a2b[p as usize] != NONE {
                edits.push(Edit {
                    op: EditOp::Delete,
                    kind: l.kind_name(x).to_string(),
                    entity: entity(l, x),
                    a: Some(range(l, x)),
                    b: None,
                    from: None,
                    to: None,
                    nodes: unmapped_in(l, &m.a2b, x),
                });
            }
        } else if l.node(x).label != r.node(y).label {
            edits.push(Edit {
                op: EditOp::Update,
                kind: l.kind_name(x).to_string(),
                entity: entity(l, x),
                a: Some(range(l, x)),
                b: Some(range(r, y)),
                from: Some(short(l.text(x))),
                to: Some(short(r.text(y))),
                nodes: 1,
            });
        }
    }
    for &x in &cmp.move_roots {
        let y = m.a2b[x as usize];
        edits.push(Edit {
            op: EditOp::Move,
            kind: l.kind_name(x).to_string(),
            entity: entity(l, x),
            a: Some(range(l, x)),
            b: Some(range(r, y)),
            from: None,
            to: None,
            nodes: l.node(x).size,
        });
    }
    for (y, &x) in m.b2a.iter().enumerate() {
        let y = y as u32;
        if x == NONE {
            let p = r.node(y).parent;
            if p == NONE || m.b2a[p as usize] != NONE {
                edits.push(Edit {
                    op: EditOp::Insert,
                    kind: r.kind_name(y).to_string(),
                    entity: entity(r, y),
                    a: None,
                    b: Some(range(r, y)),
                    from: None,
                    to: None,
                    nodes: unmapped_in(r, &m.b2a, y),
                });
            }
        }
    }
    edits.sort_by_key(|e| {
        let line = e.a.or(e.b).map(|r| r.start).unwrap_or(0);
        (line, e.b.map(|r| r.start).unwrap_or(0))
    });
    edits
}

/// How a changed entity of a single render changed against its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeClass {
    /// Only formatting or comments changed.
    Cosmetic,
    /// The code changed.
    Semantic,
}

/// An entity whose text changed between base and head.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityChange {
    /// e.g. `fn parse_config`
    pub entity: String,
    /// `modified`, `added` or `removed`.
    pub status: &'static str,
    pub class: ChangeClass,
    pub base: Option<LineRange>,
    pub head: Option<LineRange>,
}

/// Classify every entity whose text differs between `base` and `head` and that lies on a line
/// the change touched (`scope`; `None`: every line).
pub fn classify_entities(
    base: &SyntaxTree<'_>,
    head: &SyntaxTree<'_>,
    m: &Mapping,
    scope: Scope<'_>,
) -> Vec<EntityChange> {
    let (tb, th) = (scope.map(|s| s.0), scope.map(|s| s.1));
    let mut out = Vec::new();
    for e in &head.entities {
        let y = e.node;
        let x = m.b2a[y as usize];
        if !in_scope(head, y, th) && (x == NONE || !in_scope(base, x, tb)) {
            // Lines no change touched: a pairing with a look-alike, not a change.
            continue;
        }
        if x == NONE {
            out.push(EntityChange {
                entity: e.display(),
                status: "added",
                class: ChangeClass::Semantic,
                base: None,
                head: Some(range(head, y)),
            });
            continue;
        }
        if base.text(x) == head.text(y) {
            continue;
        }
        let class = if base.node(x).hash == head.node(y).hash {
            ChangeClass::Cosmetic
        } else {
            ChangeClass::Semantic
        };
        out.push(EntityChange {
            entity: e.display(),
            status: "modified",
            class,
            base: Some(range(base, x)),
            head: Some(range(head, y)),
        });
    }
    for e in &base.entities {
        if m.a2b[e.node as usize] == NONE && in_scope(base, e.node, tb) {
            out.push(EntityChange {
                entity: e.display(),
                status: "removed",
                class: ChangeClass::Semantic,
                base: Some(range(base, e.node)),
                head: None,
            });
        }
    }
    out.sort_by_key(|c| {
        c.head
            .or(c.base)
            .map(|r| (r.start, r.end))
            .unwrap_or((0, 0))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lis_keeps_the_longest_increasing_run() {
        let seq = [(10, 0), (11, 3), (12, 1), (13, 2)];
        assert_eq!(lis(&seq), vec![true, false, true, true]);
    }
}
