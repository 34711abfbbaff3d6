//! One change, file by file: parse each side, map, measure, and fall back when a file cannot be
//! compared as syntax.
//!
//! This is the pure core of `patchgate diff`: a [`ChangeInput`] and options in, a [`DiffReport`]
//! out, no I/O. A file falls back to a line diff (with the `similar` crate) when no grammar is
//! registered for it, when tree-sitter cannot parse it cleanly, or when it is over the node or
//! time limit; the report says so and why. Binary files are reported, never diffed; a binary
//! file that differs between the renders escalates the change, since nothing can vouch for it.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::change::{ChangeInput, FileVersions};
use super::differences::{differences, Difference};
use super::exclude::{ExcludedFile, PathFilter};
use super::lines::{line_pair, norm_lines, Touched};
use super::matcher::{match_within, Budget, Mapping};
use super::measure::{
    classify_entities, compare_in, edit_script, ChangeClass, Comparison, Edit, EditOp,
    EntityChange, LineRange, Scope,
};
use super::registry::{Language, Registry};
use super::tree::{parse_ts_until, repair, Limits, SyntaxTree, TreeError, TreeOptions};

/// Version tag of the JSON report; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "patchgate.diff/v1";

/// What `patchgate diff` may be told.
#[derive(Debug, Clone, Copy)]
pub struct DiffOptions {
    /// Variance at or below which two renders agree, in percent.
    pub threshold_percent: f64,
    /// Count comment nodes (they never count by default).
    pub count_comments: bool,
    pub limits: Limits,
    /// Edits listed per file; the rest are counted in `edits_omitted`.
    pub max_edits_per_file: usize,
    /// Against a base, count only nodes on lines the change touched (see `measure`). Always on
    /// in `patchgate diff` and the gate; the benchmark turns it off to measure what it removes.
    pub touched_lines_only: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            threshold_percent: 3.0,
            count_comments: false,
            limits: Limits::default(),
            max_edits_per_file: 200,
            touched_lines_only: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Two renders, optionally against a base.
    Dual,
    /// One render against its base.
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agreement {
    Agreed,
    Escalate,
}

/// A file whose ERROR regions hold more than this share of its tokens is compared as lines:
/// with a quarter of the file unplaced there is too little sound tree to keep around them (the
/// everyday cases — a macro before a declaration, a construct the grammar lacks — are a few
/// tokens in a file).
pub const MAX_ERROR_SHARE_PERCENT: u64 = 25;

/// Rounds of repairs per side (`tree::repair`): each round makes every repair the last parse
/// shows; what is left after these is compared as error regions.
const MAX_REPAIR_ROUNDS: usize = 16;

/// A region of one side that tree-sitter could not parse, compared by its normalised tokens
/// while the rest of the file is compared as a syntax tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorRegionReport {
    /// `base`, `a`, `b` (dual) or `base`, `head` (single).
    pub side: &'static str,
    pub lines: LineRange,
    /// Normalised tokens in the region.
    pub tokens: u32,
    /// `true`: a whole entity compared by tokens because some render has an error region in it
    /// (this side may parse cleanly there); `false`: a region of this side tree-sitter could not
    /// parse.
    pub widened: bool,
}

/// What a file's counts are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Nodes,
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Compared (as syntax or, with `fallback`, as lines).
    Compared,
    /// Not diffed: binary on at least one side.
    Binary,
}

/// Size of each side, in the file's unit (`null`: absent on that side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sides {
    pub base: Option<u64>,
    pub a: Option<u64>,
    pub b: Option<u64>,
}

/// One file of the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// Registry name, or `null` when no grammar is registered for the file.
    pub language: Option<String>,
    pub status: FileStatus,
    /// Dual mode: this file's variance; `null` for binary files and single renders.
    pub variance_percent: Option<f64>,
    /// `null`, or why the file was compared as lines instead of syntax.
    pub fallback: Option<String>,
    /// Regions compared by tokens because tree-sitter could not parse them (the rest of the file
    /// is compared as a syntax tree); empty when the file parsed cleanly or fell back.
    pub error_regions: Vec<ErrorRegionReport>,
    /// Whether the last-resort wall-clock guard stopped this file's comparison: the result then
    /// depends on the machine's load, so the change escalates (never agrees) and says why.
    pub time_guard: bool,
    pub unit: Unit,
    /// Size of each side; absent sides are `null`.
    pub size: Sides,
    /// Weight on which the renders differ (dual) or head differs from base (single).
    pub differing: u64,
    /// Weight of the change against the base (dual with base), or of both files (no base).
    pub changed: u64,
    /// Single mode: whether only formatting and comments changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<ChangeClass>,
    /// Render A → render B (dual) or base → head (single).
    pub edits: Vec<Edit>,
    pub edits_omitted: usize,
    /// Single mode: every changed entity, cosmetic or semantic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityChange>,
    /// Dual mode: this file's share of [`DiffReport::differences`] (from all its edits, before
    /// `max_edits_per_file` cuts the list).
    #[serde(skip)]
    pub differences: Vec<Difference>,
}

/// The whole comparison. Serialised as the `--format json` schema (see `docs/diff-json.md`).
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub schema: &'static str,
    pub mode: Mode,
    pub base: Option<String>,
    pub a: String,
    pub b: Option<String>,
    /// Overall variance (weighted by each file's size of change); `null` for a single render.
    pub variance_percent: Option<f64>,
    pub similarity_percent: Option<f64>,
    pub threshold_percent: f64,
    pub verdict: Agreement,
    /// Reasons to escalate besides the variance (e.g. a binary file that differs).
    pub escalations: Vec<String>,
    pub differing: u64,
    pub changed: u64,
    pub files: Vec<FileReport>,
    /// Dual mode: every entity on which the renders differ, with both renders' lines — also
    /// when they agree, so a reviewer sees the one operator behind a small variance.
    pub differences: Vec<Difference>,
    /// Files taken out of the comparison by the exclude list (scratch scripts, backups…),
    /// reported apart; they count nowhere.
    pub excluded: Vec<ExcludedFile>,
}

impl DiffReport {
    /// Files with changes beyond formatting and comments (single mode: the others are cosmetic).
    pub fn semantic_files(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.class == Some(ChangeClass::Semantic))
            .count()
    }
}

/// Round to 3 decimals so reports are stable across platforms.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn percent(num: u64, den: u64) -> f64 {
    if den == 0 {
        if num == 0 {
            0.0
        } else {
            100.0
        }
    } else {
        round3((100.0 * num as f64 / den as f64).min(100.0))
    }
}

/// Whether bytes look binary: a NUL in the first 8 KiB, or not UTF-8.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0) || std::str::from_utf8(bytes).is_err()
}

/// Compare a change, leaving out (and reporting apart) the files `exclude` matches.
pub fn diff_change_excluding(
    input: &ChangeInput,
    registry: &Registry,
    opts: &DiffOptions,
    exclude: &PathFilter,
) -> DiffReport {
    diff_change_observed(input, registry, opts, exclude, &mut |_| {})
}

/// Where a long comparison is: told before each file and once when all are done, so a
/// front end can show progress (the core itself prints nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Files compared so far.
    pub done: usize,
    pub total: usize,
    /// The file being compared now; `None` once all are done.
    pub current: Option<&'a str>,
}

/// [`diff_change_excluding`], telling `observe` where it is (see [`Progress`]).
pub fn diff_change_observed(
    input: &ChangeInput,
    registry: &Registry,
    opts: &DiffOptions,
    exclude: &PathFilter,
    observe: &mut dyn FnMut(Progress<'_>),
) -> DiffReport {
    let mut kept = input.clone();
    let excluded = exclude.split(&mut kept);
    let mut report = diff_change_with(&kept, registry, opts, observe);
    report.excluded = excluded;
    report
}

/// Compare a change.
pub fn diff_change(input: &ChangeInput, registry: &Registry, opts: &DiffOptions) -> DiffReport {
    diff_change_with(input, registry, opts, &mut |_| {})
}

fn diff_change_with(
    input: &ChangeInput,
    registry: &Registry,
    opts: &DiffOptions,
    observe: &mut dyn FnMut(Progress<'_>),
) -> DiffReport {
    let total = input.files.len();
    let mut files: Vec<FileReport> = Vec::with_capacity(total);
    for (done, f) in input.files.iter().enumerate() {
        observe(Progress {
            done,
            total,
            current: Some(&f.path),
        });
        files.push(diff_file(f, input, registry, opts));
    }
    observe(Progress {
        done: total,
        total,
        current: None,
    });
    let mut escalations = Vec::new();
    for (f, fv) in files.iter().zip(&input.files) {
        if f.status == FileStatus::Binary && !input.single && fv.a != fv.b {
            escalations.push(format!(
                "{}: binary file differs between the renders and cannot be compared",
                f.path
            ));
        }
        if f.time_guard && !input.single {
            escalations.push(format!(
                "{}: the wall-clock guard ({} ms) stopped its comparison, so its figures depend \
                 on the machine's load; escalated rather than agreed",
                f.path, opts.limits.time_limit_ms
            ));
        }
    }
    let differing: u64 = files.iter().map(|f| f.differing).sum();
    let changed: u64 = files.iter().map(|f| f.changed).sum();
    let (variance, verdict) = if input.single {
        (None, Agreement::Agreed)
    } else {
        let v = percent(differing, changed);
        let agreed = v <= opts.threshold_percent && escalations.is_empty();
        (
            Some(v),
            if agreed {
                Agreement::Agreed
            } else {
                Agreement::Escalate
            },
        )
    };
    DiffReport {
        schema: REPORT_SCHEMA,
        mode: if input.single {
            Mode::Single
        } else {
            Mode::Dual
        },
        base: input.label_base.clone(),
        a: input.label_a.clone(),
        b: (!input.single).then(|| input.label_b.clone()),
        variance_percent: variance,
        similarity_percent: variance.map(|v| round3(100.0 - v)),
        threshold_percent: opts.threshold_percent,
        verdict,
        escalations,
        differing,
        changed,
        differences: files.iter().flat_map(|f| f.differences.clone()).collect(),
        files,
        excluded: Vec::new(),
    }
}

/// One side's text, or why it cannot be had.
fn text_of(bytes: &Option<Vec<u8>>) -> Option<&str> {
    bytes
        .as_deref()
        .map(|b| std::str::from_utf8(b).unwrap_or(""))
}

fn diff_file(
    fv: &FileVersions,
    input: &ChangeInput,
    reg: &Registry,
    opts: &DiffOptions,
) -> FileReport {
    // One wall-clock guard for the whole file: parse, match and, after a fallback, the line diff.
    let deadline = Instant::now() + Duration::from_millis(opts.limits.time_limit_ms);
    let lang = reg.for_path(std::path::Path::new(&fv.path));
    let mut report = FileReport {
        path: fv.path.clone(),
        language: lang.map(|l| l.name().to_string()),
        status: FileStatus::Compared,
        variance_percent: None,
        fallback: None,
        error_regions: Vec::new(),
        time_guard: false,
        unit: Unit::Nodes,
        size: Sides::default(),
        differing: 0,
        changed: 0,
        class: None,
        edits: Vec::new(),
        edits_omitted: 0,
        entities: Vec::new(),
        differences: Vec::new(),
    };
    let sides = [&fv.base, &fv.a, &fv.b];
    if sides.iter().any(|s| s.as_deref().is_some_and(is_binary)) {
        report.status = FileStatus::Binary;
        return report;
    }
    let base = if input.has_base {
        text_of(&fv.base)
    } else {
        None
    };
    let (a, b) = (
        text_of(&fv.a),
        if input.single { None } else { text_of(&fv.b) },
    );

    let outcome = match lang {
        None => Err(Fallback::from(format!(
            "no grammar is registered for `{}`",
            fv.path.rsplit('/').next().unwrap_or(&fv.path)
        ))),
        Some(lang) => syntax_diff(lang, base, a, b, input, opts, &mut report),
    };
    if let Err(reason) = outcome {
        if reason.time_guard {
            report.time_guard = true;
        }
        report.error_regions.clear();
        report.fallback = Some(reason.message);
        report.unit = Unit::Lines;
        line_diff(base, a, b, input, deadline, &mut report);
    }
    if !input.single {
        report.variance_percent = Some(percent(report.differing, report.changed));
        if report.differing > 0 {
            report.differences = differences(&fv.path, &report.edits, a, b);
        }
    }
    if report.edits.len() > opts.max_edits_per_file {
        report.edits_omitted = report.edits.len() - opts.max_edits_per_file;
        report.edits.truncate(opts.max_edits_per_file);
    }
    report
}

/// Why a file falls back to lines, and whether the wall-clock guard is the reason.
struct Fallback {
    message: String,
    time_guard: bool,
}

impl From<String> for Fallback {
    fn from(message: String) -> Self {
        Fallback {
            message,
            time_guard: false,
        }
    }
}

/// The syntax comparison of one file; `Err` carries the reason to fall back.
fn syntax_diff<'a>(
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
            started + Duration::from_millis(opts.limits.time_limit_ms),
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

fn line_diff(
    base: Option<&str>,
    a: Option<&str>,
    b: Option<&str>,
    input: &ChangeInput,
    deadline: Instant,
    report: &mut FileReport,
) {
    let deadline = Some(deadline);
    let count = |t: Option<&str>| t.map(|t| norm_lines(Some(t)).0.len() as u64);
    report.size = Sides {
        base: count(base),
        a: count(a),
        b: count(b),
    };
    if input.single {
        let d = line_pair(base, a, deadline);
        report.time_guard |= d.guard_hit;
        report.differing = d.weight;
        report.changed = d.weight;
        report.edits = d.edits;
        report.class = Some(if d.weight == 0 {
            ChangeClass::Cosmetic
        } else {
            ChangeClass::Semantic
        });
        return;
    }
    let d = line_pair(a, b, deadline);
    report.time_guard |= d.guard_hit;
    report.differing = d.weight;
    report.edits = d.edits;
    report.changed = if input.has_base {
        let (da, db) = (line_pair(base, a, deadline), line_pair(base, b, deadline));
        report.time_guard |= da.guard_hit || db.guard_hit;
        da.weight + db.weight
    } else {
        report.size.a.unwrap_or(0) + report.size.b.unwrap_or(0)
    };
}
