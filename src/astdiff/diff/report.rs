//! The diff report: what `patchgate diff` says about each file and the change as a whole.

use serde::Serialize;

use super::{Agreement, Mode};
use crate::astdiff::differences::Difference;
use crate::astdiff::exclude::ExcludedFile;
use crate::astdiff::measure::{ChangeClass, Edit, EntityChange, LineRange};

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
pub(super) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub(super) fn percent(num: u64, den: u64) -> f64 {
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
