//! One change, file by file: parse each side, map, measure, and fall back when a file cannot be
//! compared as syntax.
//!
//! This is the pure core of `patchgate diff`: a [`ChangeInput`] and options in, a [`DiffReport`]
//! out, no I/O. A file falls back to a line diff (with the `similar` crate) when no grammar is
//! registered for it, when tree-sitter cannot parse it cleanly, or when it is over the node or
//! time limit; the report says so and why. Binary files are reported, never diffed; a binary
//! file that differs between the renders escalates the change, since nothing can vouch for it.

use std::time::Instant;

use serde::Serialize;

mod fallback;
mod report;
mod syntax;

pub use report::{DiffReport, ErrorRegionReport, FileReport, FileStatus, Sides, Unit};

use fallback::{line_diff, Fallback};
use report::{percent, round3};
use syntax::syntax_diff;

use super::change::{ChangeInput, FileVersions};
use super::differences::differences;
use super::exclude::PathFilter;
use super::registry::Registry;
use super::tree::Limits;

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
    let deadline = opts.limits.deadline_from(Instant::now());
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
