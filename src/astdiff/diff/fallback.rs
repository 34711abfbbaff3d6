//! The line-diff fallback: a file that cannot be compared as syntax is compared as lines.

use std::time::Instant;

use super::{FileReport, Sides};
use crate::astdiff::change::ChangeInput;
use crate::astdiff::lines::{line_pair, norm_lines};
use crate::astdiff::measure::ChangeClass;

/// Why a file falls back to lines, and whether the wall-clock guard is the reason.
pub(super) struct Fallback {
    pub(super) message: String,
    pub(super) time_guard: bool,
}

impl From<String> for Fallback {
    fn from(message: String) -> Self {
        Fallback {
            message,
            time_guard: false,
        }
    }
}

pub(super) fn line_diff(
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
