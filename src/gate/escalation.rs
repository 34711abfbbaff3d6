//! What the escalated path shows: the entities on which two renders differ (the edit script
//! between them, grouped by entity, with both renders' lines) and render B's own change against
//! the base — for the auditors ([`EscalationView`]) and for the person reading the check.
//!
//! Pure: it reads a dual-render change and its diff report and returns text. Every text that
//! leaves it has gone through the secret rules' mask.

use std::collections::BTreeMap;

use crate::astdiff::change::ChangeInput;
use crate::astdiff::diff::DiffReport;
use crate::audit::rule_guard::{mask_secrets, FileStatus, RuleSet};
use crate::audit::vote::{ChangedFileView, Difference, EscalationView};
use crate::gate::input::unified_hunks;

/// The most lines of one render shown for one entity.
pub const MAX_LINES_SHOWN: usize = 30;
/// The most entities listed.
pub const MAX_DIFFERENCES: usize = 50;

fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Lines `start..=end` (1-based) of `text`, at most [`MAX_LINES_SHOWN`], marked when cut.
fn lines_of(text: &str, start: u32, end: u32) -> String {
    let start = start.max(1) as usize;
    let end = (end as usize).max(start);
    let mut out = String::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .skip(start - 1)
        .take(end - start + 1)
    {
        if i + 1 - start >= MAX_LINES_SHOWN {
            out.push_str(&format!("… {} more lines\n", end + 1 - (i + 1)));
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One entity's edits: counts by kind, and the line span in render A and in render B.
type Group = (
    BTreeMap<String, usize>,
    Option<(u32, u32)>,
    Option<(u32, u32)>,
);

/// The entities on which render A and render B differ, from the dual report's edit script.
pub fn differences(dual: &ChangeInput, report: &DiffReport, rules: &RuleSet) -> Vec<Difference> {
    let mut out = Vec::new();
    for (fv, fr) in dual.files.iter().zip(&report.files) {
        if fr.edits.is_empty() {
            if fv.a != fv.b && fr.differing > 0 {
                out.push(Difference {
                    path: fr.path.clone(),
                    entity: "(whole file)".into(),
                    edits: match (&fv.a, &fv.b) {
                        (None, Some(_)) => "only in render B".into(),
                        (Some(_), None) => "only in render A".into(),
                        _ => "differs (not diffed)".into(),
                    },
                    ..Difference::default()
                });
            }
            continue;
        }
        let (a_text, b_text) = (
            text(&fv.a).unwrap_or_default(),
            text(&fv.b).unwrap_or_default(),
        );
        // entity → (op counts, A range, B range), in order of first appearance.
        let mut order: Vec<String> = Vec::new();
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for e in &fr.edits {
            let entity = e.entity.clone().unwrap_or_else(|| "(top level)".into());
            if !groups.contains_key(&entity) {
                order.push(entity.clone());
            }
            let g = groups.entry(entity).or_default();
            let op = serde_json::to_value(e.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *g.0.entry(op).or_default() += 1;
            let widen = |r: &mut Option<(u32, u32)>, s: u32, t: u32| {
                *r = Some(match *r {
                    None => (s, t),
                    Some((a, b)) => (a.min(s), b.max(t)),
                })
            };
            if let Some(r) = e.a {
                widen(&mut g.1, r.start, r.end);
            }
            if let Some(r) = e.b {
                widen(&mut g.2, r.start, r.end);
            }
        }
        for entity in order {
            let (ops, a, b) = &groups[&entity];
            let edits: Vec<String> = ops.iter().map(|(op, n)| format!("{n} {op}")).collect();
            let mut edits = edits.join(", ");
            if fr.edits_omitted > 0 {
                edits.push_str(&format!(" (+{} edits not listed)", fr.edits_omitted));
            }
            let mask = |s: String| mask_secrets(&s, rules);
            out.push(Difference {
                path: fr.path.clone(),
                entity: mask(entity.clone()),
                edits,
                a_lines: a.map(|(s, t)| format!("{s}-{t}")),
                a_text: a
                    .map(|(s, t)| mask(lines_of(&a_text, s, t)))
                    .unwrap_or_default(),
                b_lines: b.map(|(s, t)| format!("{s}-{t}")),
                b_text: b
                    .map(|(s, t)| mask(lines_of(&b_text, s, t)))
                    .unwrap_or_default(),
            });
        }
    }
    out.truncate(MAX_DIFFERENCES);
    out
}

/// Render B's change against the base, file by file, as an auditor sees a change.
pub fn render_b_files(dual: &ChangeInput, rules: &RuleSet) -> Vec<ChangedFileView> {
    dual.files
        .iter()
        .filter(|f| f.base != f.b)
        .map(|f| {
            let (old, new) = (text(&f.base), text(&f.b));
            let status = match (&old, &new) {
                (None, _) => FileStatus::Added,
                (_, None) => FileStatus::Deleted,
                _ => FileStatus::Modified,
            };
            ChangedFileView {
                path: f.path.clone(),
                language: None,
                status,
                hunks: mask_secrets(
                    &unified_hunks(&f.path, old.as_deref(), new.as_deref()),
                    rules,
                ),
                entities: Vec::new(),
            }
        })
        .collect()
}

/// What the escalated path shows of render B, computed from the dual-render change (line diffs
/// and masking): on the blocking pool with the rest of the gate's reads, once per check.
#[derive(Debug, Clone, Default)]
pub struct RenderBShown {
    /// Render B's change against the base, file by file ([`render_b_files`]).
    pub files: Vec<ChangedFileView>,
    /// The entities on which the renders differ ([`differences`]).
    pub differences: Vec<Difference>,
}

impl RenderBShown {
    pub fn of(dual: &ChangeInput, report: &DiffReport, rules: &RuleSet) -> Self {
        Self {
            files: render_b_files(dual, rules),
            differences: differences(dual, report, rules),
        }
    }

    /// Render B's change as one text, as the explanations' judge is shown it.
    pub fn change(&self) -> String {
        self.files.iter().map(|f| f.hunks.as_str()).collect()
    }
}

/// Everything the escalated audit shows besides render A's change.
pub fn view(
    why: &str,
    render_b: &str,
    shown: &RenderBShown,
    explanation_a: Option<&str>,
    explanation_b: Option<&str>,
    rules: &RuleSet,
) -> EscalationView {
    EscalationView {
        why: why.to_string(),
        render_b: render_b.to_string(),
        render_b_files: shown.files.clone(),
        differences: shown.differences.clone(),
        explanation_a: explanation_a.map(|e| mask_secrets(e, rules)),
        explanation_b: explanation_b.map(|e| mask_secrets(e, rules)),
    }
}

/// One line per difference: `src/http.rs fn fetch: 2 update (A 10-14, B 10-19)`.
pub fn difference_line(d: &Difference) -> String {
    let side = |name: &str, l: &Option<String>| match l {
        Some(l) => format!("{name} {l}"),
        None => format!("not in {name}"),
    };
    format!(
        "{} {}: {} ({}, {})",
        d.path,
        d.entity,
        d.edits,
        side("A", &d.a_lines),
        side("B", &d.b_lines)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::change::FileVersions;
    use crate::astdiff::registry::Registry;
    use crate::astdiff::{diff_change, DiffOptions};

    #[test]
    fn differing_entities_are_listed_with_both_renders_lines_and_masked() {
        let key = "AKIAIOSFODNN7EXAMPLQ";
        let base = "def fetch(url):\n    return get(url)\n\ndef other():\n    return 1\n";
        let a = "def fetch(url):\n    for i in range(3):\n        return get(url)\n\ndef other():\n    return 1\n";
        let b = format!(
            "def fetch(url):\n    key = \"{key}\"\n    while True:\n        return get(url, key)\n\ndef other():\n    return 1\n"
        );
        let change = ChangeInput {
            has_base: true,
            single: false,
            label_base: Some("base".into()),
            label_a: "a".into(),
            label_b: "b".into(),
            files: vec![FileVersions {
                path: "app/net.py".into(),
                base: Some(base.as_bytes().to_vec()),
                a: Some(a.as_bytes().to_vec()),
                b: Some(b.into_bytes()),
            }],
        };
        let report = diff_change(
            &change,
            &Registry::embedded().unwrap(),
            &DiffOptions::default(),
        );
        let rules = RuleSet::embedded().unwrap();
        let v = view(
            "the renders differ",
            "b",
            &RenderBShown::of(&change, &report, &rules),
            Some("A"),
            Some(key),
            &rules,
        );
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains(key), "{json}");
        assert_eq!(v.differences.len(), 1, "{:?}", v.differences);
        let d = &v.differences[0];
        assert_eq!(d.entity, "def fetch");
        assert!(d.a_text.contains("for i in range(3)"), "{d:?}");
        assert!(d.b_text.contains("while True"), "{d:?}");
        assert!(!d.entity.contains("other"));
        assert!(
            difference_line(d).starts_with("app/net.py def fetch: "),
            "{}",
            difference_line(d)
        );
        assert_eq!(v.render_b_files.len(), 1);
        assert!(v.render_b_files[0].hunks.contains("+    while True:"));
    }
}
