//! Maps the nodes of one normalised syntax tree onto another's.
//!
//! The algorithm follows GumTree (Falleri et al., "Fine-grained and accurate source code
//! differencing", ASE 2014), in three phases, tuned to stay near-linear on real files:
//!
//! 1. **Top-down, identical subtrees.** Render A is walked from the root; a subtree of height ≥ 2
//!    whose hash occurs in B is mapped as a whole (node by node, by post-order offset) and not
//!    descended into. When the hash occurs several times in B, the candidate at the closest
//!    relative position wins. This is what makes a moved function a *move*: its subtree is found
//!    wherever it went.
//! 2. **Bottom-up, containers.** In post-order, an unmapped inner node of A is mapped to an
//!    unmapped B node of the same kind that holds most of its mapped descendants, when their
//!    Dice coefficient (`2·common / (descendants_A + descendants_B)`) reaches 0.5. Candidates
//!    come from the partners of its mapped children (their ancestors of the same kind), so
//!    the cost is proportional to the subtree, not the tree. The roots are always mapped.
//! 3. **Recovery.** Under every pair mapped in phase 2, the still-unmapped children are aligned
//!    by longest common subsequence: first identical subtrees, then subtrees of the same shape
//!    (the same code with other names: mapped node by node, so a renamed local becomes
//!    *updates*), then nodes of the same kind, recursively. Large child lists use a bounded
//!    greedy alignment instead of the quadratic LCS.
//!
//! The matcher counts its work in **steps** (a node visited, a descendant scanned, a cell of an
//! alignment table) and gives up with [`TreeError::StepLimit`] past [`Budget::max_steps`]: an
//! amount of work, so the same input gives the same result on any machine under any load. A
//! wall-clock deadline may be given as well, as a last resort against a pathological input; when
//! it stops the matcher, the error is [`TreeError::TimeLimit`], which the caller reports as
//! machine-dependent and never lets agree. It never maps nodes of different kinds.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::tree::{SyntaxTree, TreeError, NONE};

/// Subtrees lower than this are left to recovery: leaves alone are too ambiguous top-down.
const MIN_HEIGHT: u32 = 2;
/// Minimum Dice coefficient for a container mapping.
const MIN_DICE: f64 = 0.5;
/// LCS tables above this many cells use the greedy alignment.
const MAX_LCS_CELLS: usize = 1 << 14;
/// Candidates examined per ambiguous hash.
const MAX_CANDIDATE_SCAN: usize = 48;

/// A node-to-node mapping between trees A and B (`NONE` when unmapped).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub a2b: Vec<u32>,
    pub b2a: Vec<u32>,
}

impl Mapping {
    pub fn mapped_pairs(&self) -> usize {
        self.a2b.iter().filter(|&&b| b != NONE).count()
    }
}

/// What one matching may spend.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Steps of work (deterministic): past them matching stops with [`TreeError::StepLimit`].
    pub max_steps: u64,
    /// Last-resort wall-clock guard and its limit in milliseconds (machine-dependent).
    pub deadline: Option<(Instant, u64)>,
}

impl Budget {
    /// No limit at all.
    pub const UNLIMITED: Budget = Budget {
        max_steps: u64::MAX,
        deadline: None,
    };
}

struct Matcher<'x, 's> {
    a: &'x SyntaxTree<'s>,
    b: &'x SyntaxTree<'s>,
    m: Mapping,
    budget: Budget,
    steps: u64,
    ticks: u32,
}

/// Map tree `a` onto tree `b`. `deadline`, when given, is a wall-clock guard; the work itself
/// is not bounded (see [`match_within`]).
pub fn match_trees(
    a: &SyntaxTree<'_>,
    b: &SyntaxTree<'_>,
    deadline: Option<(Instant, u64)>,
) -> Result<Mapping, TreeError> {
    match_within(
        a,
        b,
        Budget {
            deadline,
            ..Budget::UNLIMITED
        },
    )
    .map(|(m, _)| m)
}

/// Map tree `a` onto tree `b` within `budget`; also returns the steps spent.
pub fn match_within(
    a: &SyntaxTree<'_>,
    b: &SyntaxTree<'_>,
    budget: Budget,
) -> Result<(Mapping, u64), TreeError> {
    let mut m = Matcher {
        a,
        b,
        m: Mapping {
            a2b: vec![NONE; a.len()],
            b2a: vec![NONE; b.len()],
        },
        budget,
        steps: 0,
        ticks: 0,
    };
    if a.is_empty() || b.is_empty() {
        return Ok((m.m, 0));
    }
    m.top_down()?;
    m.bottom_up()?;
    Ok((m.m, m.steps))
}

impl Matcher<'_, '_> {
    #[inline]
    fn tick(&mut self, cost: u32) -> Result<(), TreeError> {
        self.steps += cost as u64;
        if self.steps > self.budget.max_steps {
            return Err(TreeError::StepLimit {
                limit: self.budget.max_steps,
            });
        }
        self.ticks = self.ticks.wrapping_add(cost);
        if self.ticks >= 4096 {
            self.ticks = 0;
            if let Some((d, limit_ms)) = self.budget.deadline {
                if Instant::now() > d {
                    return Err(TreeError::TimeLimit { limit_ms });
                }
            }
        }
        Ok(())
    }

    fn link(&mut self, x: u32, y: u32) {
        self.m.a2b[x as usize] = y;
        self.m.b2a[y as usize] = x;
    }

    /// Whether no node of either subtree is mapped yet.
    fn both_free(&self, x: u32, y: u32) -> bool {
        let (fx, fy) = (self.a.first_descendant(x), self.b.first_descendant(y));
        self.m.a2b[fx as usize..=x as usize]
            .iter()
            .all(|&v| v == NONE)
            && self.m.b2a[fy as usize..=y as usize]
                .iter()
                .all(|&v| v == NONE)
    }

    /// Map two subtrees of identical shape node by node, walking their child lists together
    /// (not by arena offset: sorted children, such as imports, sit in source order there).
    fn link_subtree(&mut self, x: u32, y: u32) {
        let (a, b) = (self.a, self.b);
        let mut stack = vec![(x, y)];
        while let Some((p, q)) = stack.pop() {
            self.link(p, q);
            stack.extend(
                a.children_of(p)
                    .iter()
                    .copied()
                    .zip(b.children_of(q).iter().copied()),
            );
        }
    }

    /// Whether two nodes may be paired by kind alone: entities (functions, classes…) only when
    /// their names agree, so unrelated functions are never paired as one "modified" function.
    fn same_entity_name(&self, p: u32, q: u32) -> bool {
        match (self.a.own_entity(p), self.b.own_entity(q)) {
            (Some(ea), Some(eb)) => ea.name == eb.name,
            _ => true,
        }
    }

    fn top_down(&mut self) -> Result<(), TreeError> {
        let (a, b) = (self.a, self.b);
        let mut buckets: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
        for (id, n) in b.nodes.iter().enumerate() {
            if n.height >= MIN_HEIGHT {
                buckets.entry(n.hash).or_default().push(id as u32);
            }
        }
        let (la, lb) = (a.len() as f64, b.len() as f64);
        let mut stack = vec![a.root()];
        while let Some(x) = stack.pop() {
            self.tick(1)?;
            let n = a.node(x);
            if n.height < MIN_HEIGHT {
                continue;
            }
            if let Some(cands) = buckets.get(&n.hash) {
                let want = (x as f64 / la * lb) as u32;
                if let Some(y) = self.closest_free(cands, want, x) {
                    self.link_subtree(x, y);
                    continue;
                }
            }
            stack.extend(a.children_of(x).iter().rev());
        }
        Ok(())
    }

    /// The best free candidate for `x` (candidates are sorted by id): one inside an entity of
    /// the same name (the `pub` of `fn fetch` belongs to `fn fetch`, wherever it moved), else
    /// the one nearest to position `want`.
    fn closest_free(&self, cands: &[u32], want: u32, x: u32) -> Option<u32> {
        if cands.len() == 1 {
            let y = cands[0];
            return self.both_free(x, y).then_some(y);
        }
        let home = self.a.entity_of(x).map(|e| e.name.as_str());
        let mid = cands.partition_point(|&c| c < want);
        let (mut lo, mut hi) = (mid, mid);
        let mut nearest: Option<u32> = None;
        let mut scanned = 0;
        while scanned < MAX_CANDIDATE_SCAN && (lo > 0 || hi < cands.len()) {
            let pick_lo = hi >= cands.len()
                || (lo > 0 && want.abs_diff(cands[lo - 1]) <= want.abs_diff(cands[hi]));
            let y = if pick_lo {
                lo -= 1;
                cands[lo]
            } else {
                hi += 1;
                cands[hi - 1]
            };
            scanned += 1;
            if self.m.b2a[y as usize] == NONE && self.both_free(x, y) {
                if home.is_none() || self.b.entity_of(y).map(|e| e.name.as_str()) == home {
                    return Some(y);
                }
                nearest.get_or_insert(y);
            }
        }
        nearest
    }

    fn bottom_up(&mut self) -> Result<(), TreeError> {
        let (a, b) = (self.a, self.b);
        let (ra, rb) = (a.root(), b.root());
        for x in 0..a.len() as u32 {
            if self.m.a2b[x as usize] != NONE || a.node(x).child_len == 0 {
                continue;
            }
            if x == ra {
                if self.m.b2a[rb as usize] == NONE && a.node(ra).kind == b.node(rb).kind {
                    self.link(ra, rb);
                    self.recover(ra, rb)?;
                }
                continue;
            }
            let cands = self.candidates(x)?;
            let mut best: Option<(f64, u32)> = None;
            for y in cands {
                let d = self.dice(x, y)?;
                if d >= MIN_DICE && best.is_none_or(|(bd, _)| d > bd) {
                    best = Some((d, y));
                }
            }
            if let Some((_, y)) = best {
                self.link(x, y);
                self.recover(x, y)?;
            }
        }
        Ok(())
    }

    /// Unmapped B nodes of x's kind that hold partners of x's mapped descendants.
    fn candidates(&mut self, x: u32) -> Result<Vec<u32>, TreeError> {
        let (a, b) = (self.a, self.b);
        let kind = a.node(x).kind;
        let mut out: Vec<u32> = Vec::new();
        let consider = |start: u32, max_up: usize, out: &mut Vec<u32>, m: &Mapping| {
            let mut p = b.node(start).parent;
            let mut up = 0;
            while p != NONE && up < max_up {
                if b.node(p).kind == kind && m.b2a[p as usize] == NONE {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                    return;
                }
                p = b.node(p).parent;
                up += 1;
            }
        };
        for &c in a.children_of(x) {
            let y = self.m.a2b[c as usize];
            if y != NONE {
                consider(y, 3, &mut out, &self.m);
                if out.len() >= 8 {
                    break;
                }
            }
        }
        if out.is_empty() {
            // Mapped nodes deeper down: look from a few of them, further up.
            let first = a.first_descendant(x);
            let mut seen = 0;
            for d in first..x {
                self.tick(1)?;
                let y = self.m.a2b[d as usize];
                if y != NONE {
                    consider(y, 16, &mut out, &self.m);
                    seen += 1;
                    if seen >= 8 {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    fn dice(&mut self, x: u32, y: u32) -> Result<f64, TreeError> {
        let (a, b) = (self.a, self.b);
        let (fx, fy) = (a.first_descendant(x), b.first_descendant(y));
        let mut common = 0u32;
        for d in fx..x {
            let p = self.m.a2b[d as usize];
            if p != NONE && p >= fy && p < y {
                common += 1;
            }
        }
        self.tick(x - fx)?;
        let total = (x - fx) + (y - fy);
        Ok(if total == 0 {
            0.0
        } else {
            2.0 * common as f64 / total as f64
        })
    }

    /// Align the unmapped children of a mapped pair, recursively.
    fn recover(&mut self, x: u32, y: u32) -> Result<(), TreeError> {
        let (a, b) = (self.a, self.b);
        let mut work = vec![(x, y)];
        while let Some((x, y)) = work.pop() {
            self.tick(1)?;
            let free_a: Vec<u32> = a
                .children_of(x)
                .iter()
                .copied()
                .filter(|&c| self.m.a2b[c as usize] == NONE)
                .collect();
            let free_b: Vec<u32> = b
                .children_of(y)
                .iter()
                .copied()
                .filter(|&c| self.m.b2a[c as usize] == NONE)
                .collect();
            if free_a.is_empty() || free_b.is_empty() {
                continue;
            }
            // Every alignment below costs at most this many steps.
            self.tick(align_cost(free_a.len(), free_b.len()).saturating_mul(4))?;
            // 1. identical subtrees
            for (p, q) in align(&free_a, &free_b, |p, q| a.node(p).hash == b.node(q).hash) {
                if self.both_free(p, q) {
                    self.link_subtree(p, q);
                }
            }
            // 2. the same shape: the same code under other names
            let (fa, fb) = self.still_free(&free_a, &free_b);
            for (p, q) in align(&fa, &fb, |p, q| a.node(p).shape == b.node(q).shape) {
                if self.both_free(p, q) {
                    self.link_subtree(p, q);
                }
            }
            // 3. inner nodes of the same kind and leaves with the same text
            let (fa, fb) = self.still_free(&fa, &fb);
            for (p, q) in align(&fa, &fb, |p, q| {
                let (np, nq) = (a.node(p), b.node(q));
                np.kind == nq.kind && np.label == nq.label && self.same_entity_name(p, q)
            }) {
                self.link(p, q);
                work.push((p, q));
            }
            // 4. anything of the same kind (leaves: updates)
            let (fa, fb) = self.still_free(&fa, &fb);
            for (p, q) in align(&fa, &fb, |p, q| {
                a.node(p).kind == b.node(q).kind && self.same_entity_name(p, q)
            }) {
                self.link(p, q);
                work.push((p, q));
            }
        }
        Ok(())
    }

    fn still_free(&self, fa: &[u32], fb: &[u32]) -> (Vec<u32>, Vec<u32>) {
        (
            fa.iter()
                .copied()
                .filter(|&c| self.m.a2b[c as usize] == NONE)
                .collect(),
            fb.iter()
                .copied()
                .filter(|&c| self.m.b2a[c as usize] == NONE)
                .collect(),
        )
    }
}

/// Steps of one [`align`] of `n` and `m` items: the table's cells, or the greedy look-ahead.
fn align_cost(n: usize, m: usize) -> u32 {
    let cells = if n * m > MAX_LCS_CELLS { n * 64 } else { n * m };
    cells.min(u32::MAX as usize) as u32
}

/// Pairs of a longest common subsequence of `xs` and `ys` under `eq`; a greedy monotone
/// alignment when the table would be too large.
fn align(xs: &[u32], ys: &[u32], eq: impl Fn(u32, u32) -> bool) -> Vec<(u32, u32)> {
    if xs.is_empty() || ys.is_empty() {
        return Vec::new();
    }
    let (n, m) = (xs.len(), ys.len());
    if n * m > MAX_LCS_CELLS {
        let mut out = Vec::new();
        let mut j0 = 0;
        for &x in xs {
            // Bounded look-ahead keeps this linear.
            if let Some(k) = ys[j0..].iter().take(64).position(|&y| eq(x, y)) {
                out.push((x, ys[j0 + k]));
                j0 += k + 1;
                if j0 >= m {
                    break;
                }
            }
        }
        return out;
    }
    // dp[i][j] = LCS length of xs[i..], ys[j..]
    let w = m + 1;
    let mut dp = vec![0u16; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[i * w + j] = if eq(xs[i], ys[j]) {
                dp[(i + 1) * w + j + 1] + 1
            } else {
                dp[(i + 1) * w + j].max(dp[i * w + j + 1])
            };
        }
    }
    let mut out = Vec::with_capacity(dp[0] as usize);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if eq(xs[i], ys[j]) && dp[i * w + j] == dp[(i + 1) * w + j + 1] + 1 {
            out.push((xs[i], ys[j]));
            i += 1;
            j += 1;
        } else if dp[(i + 1) * w + j] >= dp[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::registry::Registry;
    use crate::astdiff::tree::{Limits, TreeOptions};

    fn parse<'s>(reg: &'s Registry, lang: &str, src: &'s str) -> SyntaxTree<'s> {
        SyntaxTree::parse(
            reg.by_name(lang).unwrap(),
            src,
            &Limits::default(),
            TreeOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn identical_trees_map_completely() {
        let reg = Registry::embedded().unwrap();
        let src = "fn a() { let x = 1; }\nfn b(y: u8) -> u8 { y + 1 }\n";
        let (ta, tb) = (parse(&reg, "rust", src), parse(&reg, "rust", src));
        let m = match_trees(&ta, &tb, None).unwrap();
        assert_eq!(m.mapped_pairs(), ta.len());
    }

    #[test]
    fn a_moved_function_stays_mapped() {
        let reg = Registry::embedded().unwrap();
        let a = "fn a() { let x = 1; call(x); }\nfn b(y: u8) -> u8 { y + 1 }\n";
        let b = "fn b(y: u8) -> u8 { y + 1 }\nfn a() { let x = 1; call(x); }\n";
        let (ta, tb) = (parse(&reg, "rust", a), parse(&reg, "rust", b));
        let m = match_trees(&ta, &tb, None).unwrap();
        assert_eq!(m.mapped_pairs(), ta.len());
    }

    #[test]
    fn a_rename_maps_the_identifier_as_an_update() {
        let reg = Registry::embedded().unwrap();
        let a = "fn f() { let count = 0; g(count); }";
        let b = "fn f() { let total = 0; g(total); }";
        let (ta, tb) = (parse(&reg, "rust", a), parse(&reg, "rust", b));
        let m = match_trees(&ta, &tb, None).unwrap();
        assert_eq!(m.mapped_pairs(), ta.len());
        let updates = (0..ta.len() as u32)
            .filter(|&x| ta.node(x).label != tb.node(m.a2b[x as usize]).label)
            .count();
        assert_eq!(updates, 2);
    }

    #[test]
    fn lcs_alignment() {
        let xs = [1, 2, 3, 4, 5];
        let ys = [2, 4, 5, 6];
        let pairs = align(&xs, &ys, |a, b| a == b);
        assert_eq!(pairs, vec![(2, 2), (4, 4), (5, 5)]);
    }

    #[test]
    fn a_deadline_in_the_past_stops_the_matcher() {
        let reg = Registry::embedded().unwrap();
        let a: String = (0..3000)
            .map(|i| format!("fn f{i}() {{ g({i}); }}\n"))
            .collect();
        let b: String = (0..3000)
            .map(|i| format!("fn h{i}() {{ k({i}); }}\n"))
            .collect();
        let (ta, tb) = (parse(&reg, "rust", &a), parse(&reg, "rust", &b));
        let past = Instant::now() - std::time::Duration::from_secs(1);
        let err = match_trees(&ta, &tb, Some((past, 5))).unwrap_err();
        assert_eq!(err, TreeError::TimeLimit { limit_ms: 5 });
    }
}
