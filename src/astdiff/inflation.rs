//! How much matcher noise inflated "changed against the base", measured on real pairs.
//!
//! The change's weight against its base is the denominator of the renders' variance. Counted on
//! every node the matcher could not pair, it was inflated by noise — look-alike methods paired
//! crosswise, identical leaves of other methods counted as moves — which diluted real
//! differences. The diff now counts only nodes on lines the change touched (see `measure`).
//! `patchgate diff --bench` compares the two counts on every pair of a corpus (the before file
//! as the base, the after file as the head): weight, and entities reported changed.

use serde::Serialize;

use super::change::{ChangeInput, FileVersions};
use super::diff::{diff_change, DiffOptions};
use super::registry::Registry;

/// One pair's change weight and changed entities, counted on every node and on touched lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Inflation {
    pub changed_all: u64,
    pub changed_touched: u64,
    pub entities_all: usize,
    pub entities_touched: usize,
}

/// Measure one before → after pair; `None` when it is not compared as syntax.
pub fn measure(
    registry: &Registry,
    opts: &DiffOptions,
    path: &str,
    before: &[u8],
    after: &[u8],
) -> Option<Inflation> {
    let input = ChangeInput {
        has_base: true,
        single: true,
        label_base: Some("before".into()),
        label_a: "after".into(),
        label_b: String::new(),
        files: vec![FileVersions {
            path: path.to_string(),
            base: Some(before.to_vec()),
            a: Some(after.to_vec()),
            b: None,
        }],
    };
    let run = |touched_lines_only| {
        let o = DiffOptions {
            touched_lines_only,
            ..*opts
        };
        diff_change(&input, registry, &o)
    };
    let (all, touched) = (run(false), run(true));
    let (fa, ft) = (all.files.first()?, touched.files.first()?);
    if fa.fallback.is_some() || ft.fallback.is_some() {
        return None;
    }
    Some(Inflation {
        changed_all: fa.changed,
        changed_touched: ft.changed,
        entities_all: fa.entities.len(),
        entities_touched: ft.entities.len(),
    })
}

/// A corpus's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InflationSummary {
    /// Pairs compared as syntax.
    pub pairs: usize,
    pub changed_all: u64,
    pub changed_touched: u64,
    /// `100 · (changed_all − changed_touched) / changed_touched`.
    pub inflation_percent: f64,
    /// Pairs whose weight counted nodes on untouched lines.
    pub pairs_inflated: usize,
    pub entities_all: usize,
    pub entities_touched: usize,
    /// Pairs that reported an entity on untouched lines as changed.
    pub pairs_with_untouched_entities: usize,
}

impl InflationSummary {
    pub fn add(&mut self, i: &Inflation) {
        self.pairs += 1;
        self.changed_all += i.changed_all;
        self.changed_touched += i.changed_touched;
        self.pairs_inflated += (i.changed_all > i.changed_touched) as usize;
        self.entities_all += i.entities_all;
        self.entities_touched += i.entities_touched;
        self.pairs_with_untouched_entities += (i.entities_all > i.entities_touched) as usize;
        self.inflation_percent = if self.changed_touched == 0 {
            0.0
        } else {
            let extra = self.changed_all.saturating_sub(self.changed_touched);
            (100_000.0 * extra as f64 / self.changed_touched as f64).round() / 1000.0
        };
    }

    pub fn render_text(&self) -> String {
        format!(
            "change weight against the base ({} pairs compared as syntax): {} nodes counted on \
             every line, {} on touched lines only — inflation {:.2} %, in {} pairs; entities \
             reported changed: {} vs {} ({} pairs named an entity no changed line touches)\n",
            self.pairs,
            self.changed_all,
            self.changed_touched,
            self.inflation_percent,
            self.pairs_inflated,
            self.entities_all,
            self.entities_touched,
            self.pairs_with_untouched_entities
        )
    }
}
