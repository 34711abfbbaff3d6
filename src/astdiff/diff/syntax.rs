//! The syntax comparison of one file: parse (and repair) each side, map the trees, measure the
//! edits and classify the entities.

use std::time::Instant;

use super::fallback::Fallback;
use super::{
    DiffOptions, ErrorRegionReport, FileReport, Sides, MAX_ERROR_SHARE_PERCENT, MAX_REPAIR_ROUNDS,
};
use crate::astdiff::change::ChangeInput;
use crate::astdiff::lines::Touched;
use crate::astdiff::matcher::{match_within, Budget, Mapping};
use crate::astdiff::measure::{
    classify_entities, compare_in, edit_script, ChangeClass, Comparison, Edit, EditOp, LineRange,
    Scope,
};
use crate::astdiff::registry::Language;
use crate::astdiff::tree::{parse_ts_until, repair, SyntaxTree, TreeError, TreeOptions};

/// The syntax comparison of one file; `Err` carries the reason to fall back.
pub(super) fn syntax_diff<'a>(
    lang: &'a Language,
    base: Option<&'a str>,
    a: Option<&'a str>,
    b: Option<&'a str>,
    input: &ChangeInput,
    opts: &DiffOptions,
    report: &mut FileReport,
) -> Result<(), Fallback> {
    let started = Instant::now();
    let budget = Budget {
        max_steps: opts.limits.max_match_steps,
        deadline: Some((
            opts.limits.deadline_from(started),
            opts.limits.time_limit_ms,
        )),
    };
    // One side is parsed from scratch; the others reuse its tree-sitter tree (incremental
    // parsing), since renders of one change share most of their text.
    let sources = [base, a, b];
    let names = [
        if input.has_base { "base" } else { "" },
        if input.single { "head" } else { "render A" },
        "render B",
    ];
    let side = |i: usize, e: TreeError| Fallback {
        time_guard: matches!(e, TreeError::TimeLimit { .. }),
        message: if names[i].is_empty() {
            e.to_string()
        } else {
            format!("{}: {e}", names[i])
        },
    };
    let mut ts_trees: [Option<tree_sitter::Tree>; 3] = [None, None, None];
    let mut repaired: [Option<String>; 3] = [None, None, None];
    let mut anchor: Option<usize> = None;
    for (i, text) in sources.iter().enumerate() {
        let Some(text) = *text else { continue };
        let old = anchor.and_then(|k| {
            let old_text = repaired[k].as_deref().or(sources[k])?;
            Some((ts_trees[k].as_ref()?, old_text))
        });
        let mut ts = parse_ts_until(lang, text, old, &opts.limits, budget.deadline)
            .map_err(|e| side(i, e))?;
        // Text the language allows and the grammar lacks, put back (`tree::repair`). Once a
        // repair is made, tree-sitter recovers differently from the errors after it, so the
        // next ones show only in the new parse: repeat (each reparse is incremental).
        for _ in 0..MAX_REPAIR_ROUNDS {
            let now = repaired[i].as_deref().unwrap_or(text);
            let Some(fixed) = repair(lang, now, &ts) else {
                break;
            };
            ts = parse_ts_until(
                lang,
                &fixed,
                Some((&ts, now)),
                &opts.limits,
                budget.deadline,
            )
            .map_err(|e| side(i, e))?;
            repaired[i] = Some(fixed);
        }
        ts_trees[i] = Some(ts);
        anchor.get_or_insert(i);
    }
    let sources: [Option<&str>; 3] = std::array::from_fn(|i| repaired[i].as_deref().or(sources[i]));
    compare_parsed(lang, sources, ts_trees, input, opts, report, budget)
}

/// The comparison of one file's parsed sides (`sources`: the texts the trees were parsed from).
fn compare_parsed<'a>(
    lang: &'a Language,
    sources: [Option<&'a str>; 3],
    ts_trees: [Option<tree_sitter::Tree>; 3],
    input: &ChangeInput,
    opts: &DiffOptions,
    report: &mut FileReport,
    budget: Budget,
) -> Result<(), Fallback> {
    let [base, a, b] = sources;
    let topts = TreeOptions {
        count_comments: opts.count_comments,
    };
    let names = [
        if input.has_base { "base" } else { "" },
        if input.single { "head" } else { "render A" },
        "render B",
    ];
    let side_names = ["base", if input.single { "head" } else { "a" }, "b"];
    let side = |i: usize, e: TreeError| {
        Fallback::from(if names[i].is_empty() {
            e.to_string()
        } else {
            format!("{}: {e}", names[i])
        })
    };
    let build = |widen: &[String]| -> Result<[Option<SyntaxTree<'a>>; 3], Fallback> {
        let mut trees: [Option<SyntaxTree<'a>>; 3] = [None, None, None];
        for i in 0..3 {
            let (Some(text), Some(ts)) = (sources[i], ts_trees[i].as_ref()) else {
                continue;
            };
            let tree = SyntaxTree::from_ts_tolerant(lang, text, ts, &opts.limits, topts, widen)
                .map_err(|e| side(i, e))?;
            let (in_errors, leaves) = tree.error_share();
            if in_errors * 100 > leaves * MAX_ERROR_SHARE_PERCENT {
                let line = tree.error_regions.first().map_or(1, |r| r.start_line);
                return Err(side(
                    i,
                    TreeError::MostlySyntaxErrors {
                        line,
                        percent: (in_errors * 100 / leaves.max(1)) as u32,
                    },
                ));
            }
            trees[i] = Some(tree);
        }
        Ok(trees)
    };
    let mut trees = build(&[])?;
    // An entity with an error region in any render is compared by its tokens in every render
    // (see `tree::errors`): a formatter may have rewritten the construct the grammar trips on.
    let mut widen: Vec<String> = trees
        .iter()
        .flatten()
        .flat_map(|t| {
            t.error_regions
                .iter()
                .filter_map(|r| t.entity_of(r.node).map(|e| e.display()))
        })
        .collect();
    widen.sort();
    widen.dedup();
    if !widen.is_empty() {
        trees = build(&widen)?;
    }
    for (i, tree) in trees.iter().enumerate() {
        for r in tree.iter().flat_map(|t| &t.error_regions) {
            report.error_regions.push(ErrorRegionReport {
                side: side_names[i],
                lines: LineRange {
                    start: r.start_line,
                    end: r.end_line,
                },
                tokens: r.tokens,
                widened: r.widened,
            });
        }
    }
    let [tbase, ta, tb] = trees;
    report.size = Sides {
        base: tbase.as_ref().map(|t| t.len() as u64),
        a: ta.as_ref().map(|t| t.len() as u64),
        b: tb.as_ref().map(|t| t.len() as u64),
    };
    let pair = |l: Option<&SyntaxTree<'_>>,
                r: Option<&SyntaxTree<'_>>,
                scope: Scope<'_>|
     -> Result<Pair, Fallback> {
        Pair::new(l, r, budget, scope).map_err(|e| Fallback {
            message: e.to_string(),
            time_guard: matches!(e, TreeError::TimeLimit { .. }),
        })
    };
    // Against the base, the lines each side's change touched (see `measure::compare_in`).
    let touched = |side: Option<&str>| match (base, side) {
        (Some(l), Some(r)) if opts.touched_lines_only => Some(Touched::of(l, r)),
        _ => None,
    };

    if input.single {
        let t = touched(a);
        let scope = t.as_ref().map(|(l, r)| (l, r));
        let p = pair(tbase.as_ref(), ta.as_ref(), scope)?;
        report.differing = p.weight();
        report.changed = p.weight();
        if let (Some(l), Some(r), Some(m)) = (tbase.as_ref(), ta.as_ref(), p.mapping.as_ref()) {
            report.edits = edit_script(l, r, m, &p.cmp);
            if let Some((tl, tr)) = scope {
                let on =
                    |t: &Touched, lr: Option<LineRange>| lr.is_some_and(|x| t.any(x.start, x.end));
                report.edits.retain(|e| on(tl, e.a) || on(tr, e.b));
            }
            report.entities = classify_entities(l, r, m, scope);
            report.class = Some(if l.node(l.root()).hash == r.node(r.root()).hash {
                ChangeClass::Cosmetic
            } else {
                ChangeClass::Semantic
            });
        } else {
            report.class = Some(ChangeClass::Semantic);
            report.edits = whole_side_edits(tbase.as_ref(), ta.as_ref());
        }
        return Ok(());
    }

    let ab = if a.is_some() && a == b {
        Pair::identical(ta.as_ref())
    } else {
        pair(ta.as_ref(), tb.as_ref(), None)?
    };
    report.differing = ab.weight();
    if let (Some(l), Some(r), Some(m)) = (ta.as_ref(), tb.as_ref(), ab.mapping.as_ref()) {
        report.edits = edit_script(l, r, m, &ab.cmp);
    } else {
        report.edits = whole_side_edits(ta.as_ref(), tb.as_ref());
    }
    report.changed = if input.has_base {
        let weigh = |t: Option<&SyntaxTree<'_>>, text: Option<&str>| -> Result<u64, Fallback> {
            let touched = touched(text);
            let scope = touched.as_ref().map(|(l, r)| (l, r));
            Ok(pair(tbase.as_ref(), t, scope)?.weight())
        };
        let xa = weigh(ta.as_ref(), a)?;
        let xb = if a == b { xa } else { weigh(tb.as_ref(), b)? };
        xa + xb
    } else {
        ta.as_ref().map_or(0, |t| t.len() as u64) + tb.as_ref().map_or(0, |t| t.len() as u64)
    };
    Ok(())
}

/// A comparison of two optional trees (an absent side is an empty tree).
struct Pair {
    cmp: Comparison,
    mapping: Option<Mapping>,
    /// Weight when one side is absent.
    absent_weight: u64,
}

impl Pair {
    fn new(
        l: Option<&SyntaxTree<'_>>,
        r: Option<&SyntaxTree<'_>>,
        budget: Budget,
        scope: Scope<'_>,
    ) -> Result<Pair, TreeError> {
        match (l, r) {
            (Some(l), Some(r)) => {
                // Matching is direction-dependent; matching in a canonical order makes the
                // measure symmetric: variance(A, B) == variance(B, A).
                let (hl, hr) = (l.node(l.root()).hash, r.node(r.root()).hash);
                let m = if hl <= hr {
                    match_within(l, r, budget)?.0
                } else {
                    let m = match_within(r, l, budget)?.0;
                    Mapping {
                        a2b: m.b2a,
                        b2a: m.a2b,
                    }
                };
                Ok(Pair {
                    cmp: compare_in(l, r, &m, scope),
                    mapping: Some(m),
                    absent_weight: 0,
                })
            }
            (l, r) => Ok(Pair {
                cmp: Comparison::default(),
                mapping: None,
                absent_weight: l.map_or(0, |t| t.len() as u64) + r.map_or(0, |t| t.len() as u64),
            }),
        }
    }

    fn identical(_t: Option<&SyntaxTree<'_>>) -> Pair {
        Pair {
            cmp: Comparison::default(),
            mapping: None,
            absent_weight: 0,
        }
    }

    fn weight(&self) -> u64 {
        if self.mapping.is_some() {
            self.cmp.weight()
        } else {
            self.absent_weight
        }
    }
}

/// Edits for a file present on one side only: the whole file inserted or deleted.
fn whole_side_edits(l: Option<&SyntaxTree<'_>>, r: Option<&SyntaxTree<'_>>) -> Vec<Edit> {
    let whole = |t: &SyntaxTree<'_>| LineRange {
        start: 1,
        end: t.node(t.root()).end_line.max(1),
    };
    match (l, r) {
        (Some(l), None) => vec![Edit {
            op: EditOp::Delete,
            kind: "file".into(),
            entity: None,
            a: Some(whole(l)),
            b: None,
            from: None,
            to: None,
            nodes: l.len() as u32,
        }],
        (None, Some(r)) => vec![Edit {
            op: EditOp::Insert,
            kind: "file".into(),
            entity: None,
            a: None,
            b: Some(whole(r)),
            from: None,
            to: None,
            nodes: r.len() as u32,
        }],
        _ => Vec::new(),
    }
}
