//! The policy: `rules/policy.yaml` (compiled in) overlaid with a repository's own settings.
//!
//! ```yaml
//! failure_limit: 1          # violating events it takes before acting
//! window_hours: 24          # automatic reverts only this long after the merge
//! max_reverts_per_day: 3    # per repository; then only reports
//! freeze_label: freeze-exempt
//! dry_run: false            # shadow mode: record what would have been done
//! inconclusive: pause       # the only value: pause and report, never revert
//! required_checks: [build]  # metric `ci`: these checks must stay green
//! metrics:
//!   latency_p95_ms: { max: 500, max_increase: "10%" }
//!   coverage_pct: { min: 70, max_drop: 2 }
//! ```
//!
//! Unknown keys are refused, with their path. A repository's overrides replace scalars and the
//! check list; per metric they replace only the bounds they name (a metric set to `null` drops
//! the metric's rule altogether).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::event::{valid_metric_name, CI_METRIC};

/// The default policy, compiled in.
pub const EMBEDDED_POLICY: &str = include_str!("../../rules/policy.yaml");

/// An allowed change against the merge's parent: absolute (`5`) or relative (`"10%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// In the metric's unit.
    Absolute(f64),
    /// Percent of the parent's value (of its magnitude).
    Percent(f64),
}

impl Change {
    /// The allowed change for a given baseline, in the metric's unit.
    pub fn allowance(self, baseline: f64) -> f64 {
        match self {
            Change::Absolute(a) => a,
            Change::Percent(p) => baseline.abs() * p / 100.0,
        }
    }

    fn amount(self) -> f64 {
        match self {
            Change::Absolute(a) | Change::Percent(a) => a,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Absolute(a) => write!(f, "{a}"),
            Change::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Change::Absolute(a) => s.serialize_f64(*a),
            Change::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let bad = || serde::de::Error::custom("expected a number or a percentage such as \"10%\"");
        let change = match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Number(n) => Change::Absolute(n),
            Raw::Text(t) => {
                let n = t.trim().strip_suffix('%').ok_or_else(bad)?;
                Change::Percent(n.trim().parse::<f64>().map_err(|_| bad())?)
            }
        };
        if !change.amount().is_finite() || change.amount() < 0.0 {
            return Err(serde::de::Error::custom(
                "a change must be a finite, non-negative amount",
            ));
        }
        Ok(change)
    }
}

/// The bounds of one metric. Every bound present must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    /// The value must not exceed this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The value must not fall below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must not rise more than this above the merge's parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_increase: Option<Change>,
    /// The value must not fall more than this below the merge's parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop: Option<Change>,
}

/// What happens when nothing can be decided. There is one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveAction {
    /// Pause (no automatic action on the merge) and report. Never revert.
    #[default]
    Pause,
}

/// The effective policy of one repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySet {
    /// Rules per metric name (`ci` excepted: see `required_checks`).
    pub metrics: BTreeMap<String, MetricRule>,
    /// Checks (metric `ci`) that must stay green.
    pub required_checks: Vec<String>,
    /// Violating events needed (per merge and metric) before acting; at least 1.
    pub failure_limit: u32,
    /// Automatic reverts only within this many hours after the merge; at least 1.
    pub window_hours: u32,
    /// Automatic reverts per repository per day; 0 = only ever report.
    pub max_reverts_per_day: u32,
    /// A PR with this label is never reverted automatically (compared ignoring ASCII case).
    pub freeze_label: String,
    /// Shadow mode: decide `WouldRevert` instead of `Revert`.
    pub dry_run: bool,
    /// Without data: pause and report.
    pub inconclusive: InconclusiveAction,
}

impl Default for PolicySet {
    /// The built-in defaults, before `rules/policy.yaml`: no metric rules, no required checks.
    fn default() -> Self {
        PolicySet {
            metrics: BTreeMap::new(),
            required_checks: Vec::new(),
            failure_limit: 1,
            window_hours: 24,
            max_reverts_per_day: 3,
            freeze_label: "freeze-exempt".to_string(),
            dry_run: false,
            inconclusive: InconclusiveAction::Pause,
        }
    }
}

/// A policy file or override that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not valid YAML, an unknown key, a wrong type (serde_yaml's message names the path).
    #[error("{source_name}: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    /// A value out of range, at `path`.
    #[error("{source_name}: {path}: {message}")]
    Invalid {
        source_name: String,
        path: String,
        message: String,
    },
}

/// One layer: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overlay {
    metrics: Option<BTreeMap<String, Option<MetricRule>>>,
    required_checks: Option<Vec<String>>,
    failure_limit: Option<u32>,
    window_hours: Option<u32>,
    max_reverts_per_day: Option<u32>,
    freeze_label: Option<String>,
    dry_run: Option<bool>,
    inconclusive: Option<InconclusiveAction>,
}

impl PolicySet {
    /// The built-in defaults overlaid with the compiled-in `rules/policy.yaml`.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::default().overlay(EMBEDDED_POLICY, "rules/policy.yaml")
    }

    /// The built-in defaults overlaid with a policy file's text.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        Self::default().overlay(text, source_name)
    }

    /// This policy overlaid with a repository's overrides (same keys, all optional).
    pub fn with_repo_overrides(&self, yaml: &str) -> Result<Self, PolicyError> {
        self.overlay(yaml, "repository policy")
    }

    /// The embedded policy overlaid with a repository's overrides.
    pub fn for_repo(yaml: &str) -> Result<Self, PolicyError> {
        Self::embedded()?.with_repo_overrides(yaml)
    }

    /// The rule of a metric, if any.
    pub fn rule(&self, metric: &str) -> Option<&MetricRule> {
        self.metrics.get(metric)
    }

    /// Whether a CI check must stay green.
    pub fn is_required_check(&self, check: &str) -> bool {
        self.required_checks.iter().any(|c| c == check)
    }

    fn overlay(&self, text: &str, source_name: &str) -> Result<Self, PolicyError> {
        let yaml_err = |e: serde_yaml::Error| PolicyError::Yaml {
            source_name: source_name.to_string(),
            message: e.to_string(),
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(yaml_err)?;
        let layer: Overlay = if value.is_null() {
            Overlay::default()
        } else {
            serde_yaml::from_str(text).map_err(yaml_err)?
        };
        let mut out = self.clone();
        if let Some(metrics) = layer.metrics {
            for (name, rule) in metrics {
                match rule {
                    None => {
                        out.metrics.remove(&name);
                    }
                    Some(rule) => {
                        let slot = out.metrics.entry(name).or_default();
                        slot.max = rule.max.or(slot.max);
                        slot.min = rule.min.or(slot.min);
                        slot.max_increase = rule.max_increase.or(slot.max_increase);
                        slot.max_drop = rule.max_drop.or(slot.max_drop);
                    }
                }
            }
        }
        if let Some(v) = layer.required_checks {
            out.required_checks = v;
        }
        out.failure_limit = layer.failure_limit.unwrap_or(out.failure_limit);
        out.window_hours = layer.window_hours.unwrap_or(out.window_hours);
        out.max_reverts_per_day = layer.max_reverts_per_day.unwrap_or(out.max_reverts_per_day);
        if let Some(v) = layer.freeze_label {
            out.freeze_label = v;
        }
        out.dry_run = layer.dry_run.unwrap_or(out.dry_run);
        out.inconclusive = layer.inconclusive.unwrap_or(out.inconclusive);
        out.validate(source_name)?;
        Ok(out)
    }

    fn validate(&self, source_name: &str) -> Result<(), PolicyError> {
        let invalid = |path: String, message: &str| PolicyError::Invalid {
            source_name: source_name.to_string(),
            path,
            message: message.to_string(),
        };
        if self.failure_limit == 0 {
            return Err(invalid("failure_limit".into(), "must be at least 1"));
        }
        if self.window_hours == 0 {
            return Err(invalid(
                "window_hours".into(),
                "must be at least 1 (max_reverts_per_day: 0 turns automatic reverts off)",
            ));
        }
        if self.freeze_label.trim().is_empty() {
            return Err(invalid("freeze_label".into(), "must not be empty"));
        }
        for (i, c) in self.required_checks.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(invalid(
                    format!("required_checks[{i}]"),
                    "a check name must not be empty",
                ));
            }
        }
        for (name, rule) in &self.metrics {
            let path = format!("metrics.{name}");
            if name == CI_METRIC {
                return Err(invalid(
                    path,
                    "metric ci is judged by required_checks, not by bounds",
                ));
            }
            if !valid_metric_name(name) {
                return Err(invalid(path, "a metric name is [a-z0-9_.]+"));
            }
            for (key, v) in [("max", rule.max), ("min", rule.min)] {
                if v.is_some_and(|v| !v.is_finite()) {
                    return Err(invalid(format!("{path}.{key}"), "must be a finite number"));
                }
            }
            if let (Some(min), Some(max)) = (rule.min, rule.max) {
                if min > max {
                    return Err(invalid(path, "min is above max"));
                }
            }
            if *rule == MetricRule::default() {
                return Err(invalid(
                    path,
                    "a metric rule needs at least one of max, min, max_increase, max_drop",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_policy_loads() {
        let p = PolicySet::embedded().unwrap();
        assert_eq!(p.failure_limit, 1);
        assert_eq!(p.window_hours, 24);
        assert_eq!(p.max_reverts_per_day, 3);
        assert_eq!(p.freeze_label, "freeze-exempt");
        assert!(!p.dry_run);
        assert_eq!(p.inconclusive, InconclusiveAction::Pause);
    }

    #[test]
    fn changes_are_numbers_or_percentages() {
        let r: MetricRule = serde_yaml::from_str("{max_increase: '10%', max_drop: 2.5}").unwrap();
        assert_eq!(r.max_increase, Some(Change::Percent(10.0)));
        assert_eq!(r.max_drop, Some(Change::Absolute(2.5)));
        assert!(serde_yaml::from_str::<MetricRule>("{max_increase: '10'}").is_err());
        assert!(serde_yaml::from_str::<MetricRule>("{max_increase: '-1%'}").is_err());
        assert!(serde_yaml::from_str::<MetricRule>("{max_drop: -3}").is_err());
    }

    #[test]
    fn overrides_merge_per_bound_and_null_drops_a_metric() {
        let base = PolicySet::from_yaml(
            "metrics:\n  a: {max: 10, max_increase: '5%'}\n  b: {min: 1}\n",
            "t",
        )
        .unwrap();
        let p = base
            .with_repo_overrides("metrics:\n  a: {max: 20}\n  b: null\n")
            .unwrap();
        assert_eq!(p.rule("a").unwrap().max, Some(20.0));
        assert_eq!(
            p.rule("a").unwrap().max_increase,
            Some(Change::Percent(5.0))
        );
        assert!(p.rule("b").is_none());
        assert_eq!(base.with_repo_overrides("").unwrap(), base);
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_path() {
        let e = PolicySet::from_yaml("failure_limit: 0\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("failure_limit"), "{e}");
        let e = PolicySet::from_yaml("metrics:\n  x: {min: 5, max: 1}\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.x"), "{e}");
        let e = PolicySet::from_yaml("metrics:\n  ci: {max: 1}\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.ci"), "{e}");
        assert!(PolicySet::from_yaml("inconclusive: revert\n", "t").is_err());
    }
}
