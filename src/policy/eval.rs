//! [`evaluate`]: one policy event, the merge it is attributed to and the repository's counters
//! in; a [`Decision`] out, with a human reason.
//!
//! In order: the event is judged against the metric's rule (or, for `ci`, the required checks).
//! Within policy: [`Decision::Ok`]. Not decidable (unknown metric, relative rule without the
//! parent's value, violation not attributable to a merge): [`Decision::Inconclusive`]. A
//! violation below `failure_limit`: [`Decision::Violation`]. At the limit, the guards, first
//! hit wins: a revert of a revert, an already reverted merge, a merge without a patchgate record,
//! the freeze label, a merge time in the future, outside the window, the daily cap — each gives
//! [`Decision::ReportOnly`]. Past every guard: [`Decision::WouldRevert`] in dry-run mode,
//! [`Decision::Revert`] otherwise.
//!
//! The caller counts: every decision carrying a violation (`Violation`, `ReportOnly`,
//! `WouldRevert`, `Revert`) adds one to `violations_so_far[(merge, metric)]`, and an applied
//! revert adds one to `reverts_today`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::event::{PolicyEvent, CI_METRIC};
use super::spec::{Change, PolicySet};

/// What is known of the merge an event is attributed to (the merge on the default branch that
/// introduced the event's commit).
#[derive(Debug, Clone, PartialEq)]
pub struct MergeFacts {
    /// The merge commit.
    pub merge_sha: String,
    /// When it was merged.
    pub merged_at: DateTime<Utc>,
    /// Gated by patchgate: it has a decision record.
    pub gated: bool,
    /// The PR's labels.
    pub labels: Vec<String>,
    /// A revert of this merge is already on the default branch.
    pub already_reverted: bool,
    /// This merge is itself a revert.
    pub is_revert: bool,
    /// Metric values observed on the merge's parent, when known.
    pub parent_baseline: BTreeMap<String, f64>,
}

/// The repository's counters, kept by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoState {
    /// Automatic reverts made today in this repository.
    pub reverts_today: u32,
    /// Violating events seen so far, per `(merge sha, metric)`.
    pub violations_so_far: BTreeMap<(String, String), u32>,
}

/// Why a violation at the limit is only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The merge has no patchgate record.
    NotGated,
    /// Later than `window_hours` after the merge.
    OutsideWindow,
    /// The merge's time is after now: the facts or the clock are wrong.
    MergeInFuture,
    /// The PR carries the freeze label.
    FreezeLabel,
    /// The merge was already reverted.
    AlreadyReverted,
    /// The merge is a revert: reverting it needs a person.
    RevertOfRevert,
    /// `max_reverts_per_day` reached.
    DailyCap,
}

/// Why nothing can be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveCause {
    /// A relative rule (`max_increase`, `max_drop`) without the parent's value.
    NoBaseline,
    /// No rule for the metric.
    UnknownMetric,
    /// The event violates a rule but is not attributable to a merge.
    Unattributable,
    /// The event itself cannot be judged (non-finite value, `ci` without a check or not 0/1).
    InvalidEvent,
}

/// The outcome of one event. Every variant carries a human reason (`reason` or `why`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Within policy.
    Ok { reason: String },
    /// A violation, below `failure_limit` yet: report.
    Violation {
        policy: String,
        observed: f64,
        limit: f64,
        merge: String,
        count: u32,
        needed: u32,
        reason: String,
    },
    /// Revert the merge.
    Revert {
        policy: String,
        observed: f64,
        limit: f64,
        merge: String,
        reason: String,
    },
    /// Dry run: the merge would have been reverted.
    WouldRevert {
        policy: String,
        observed: f64,
        limit: f64,
        merge: String,
        reason: String,
    },
    /// A violation at the limit that a guard keeps from being reverted: report only.
    ReportOnly {
        guard: Guard,
        policy: String,
        observed: f64,
        limit: f64,
        merge: String,
        why: String,
    },
    /// Nothing can be decided: pause and report, never revert.
    Inconclusive {
        cause: InconclusiveCause,
        why: String,
    },
}

impl Decision {
    /// The human reason, whatever the variant.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Ok { reason }
            | Decision::Violation { reason, .. }
            | Decision::Revert { reason, .. }
            | Decision::WouldRevert { reason, .. } => reason,
            Decision::ReportOnly { why, .. } | Decision::Inconclusive { why, .. } => why,
        }
    }

    /// Whether this is `Revert` (the only decision that changes a repository).
    pub fn is_revert(&self) -> bool {
        matches!(self, Decision::Revert { .. })
    }
}

/// A broken rule.
struct Breach {
    policy: String,
    observed: f64,
    limit: f64,
    /// "exceeds max 500", "is more than 10% above the parent's 200 (limit 220)".
    text: String,
}

/// Slack for floating-point rounding: a value at the limit is within it.
fn slack(limit: f64) -> f64 {
    1e-9 * limit.abs().max(1.0)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Judges one event. `facts` is `None` when the event is not attributable to a merge; `now` is
/// the time of the decision (the window is measured from the merge to `now`).
pub fn evaluate(
    policy: &PolicySet,
    event: &PolicyEvent,
    facts: Option<&MergeFacts>,
    state: &RepoState,
    now: DateTime<Utc>,
) -> Decision {
    let inconclusive = |cause, why: String| Decision::Inconclusive { cause, why };
    if !event.value.is_finite() {
        return inconclusive(
            InconclusiveCause::InvalidEvent,
            format!("{}: the value is not a finite number", event.metric),
        );
    }
    let what = format!(
        "{} = {} on {}",
        event.metric,
        event.value,
        short(&event.commit)
    );
    let breach = if event.metric == CI_METRIC {
        let Some(check) = event.check.as_deref() else {
            return inconclusive(
                InconclusiveCause::InvalidEvent,
                "a ci event without the name of its check".into(),
            );
        };
        if !policy.is_required_check(check) {
            return Decision::Ok {
                reason: format!("check {check:?} is not a required check"),
            };
        }
        if event.value == 1.0 {
            return Decision::Ok {
                reason: format!(
                    "required check {check:?} passed on {}",
                    short(&event.commit)
                ),
            };
        }
        if event.value != 0.0 {
            return inconclusive(
                InconclusiveCause::InvalidEvent,
                format!(
                    "check {check:?}: a ci value must be 1 (success) or 0 (failure), not {}",
                    event.value
                ),
            );
        }
        Breach {
            policy: format!("required_checks.{check}"),
            observed: 0.0,
            limit: 1.0,
            text: format!(
                "required check {check:?} failed on {}",
                short(&event.commit)
            ),
        }
    } else {
        let Some(rule) = policy.rule(&event.metric) else {
            return inconclusive(
                InconclusiveCause::UnknownMetric,
                format!("no policy for metric {:?}", event.metric),
            );
        };
        let baseline = facts
            .and_then(|f| f.parent_baseline.get(&event.metric))
            .copied()
            .filter(|b| b.is_finite());
        let v = event.value;
        let m = &event.metric;
        let mut breach = None;
        let mut missing = Vec::new();
        if let Some(max) = rule.max {
            if v > max + slack(max) {
                breach = Some(Breach {
                    policy: format!("{m}.max"),
                    observed: v,
                    limit: max,
                    text: format!("{what} exceeds max {max}"),
                });
            }
        }
        if breach.is_none() {
            if let Some(min) = rule.min {
                if v < min - slack(min) {
                    breach = Some(Breach {
                        policy: format!("{m}.min"),
                        observed: v,
                        limit: min,
                        text: format!("{what} is below min {min}"),
                    });
                }
            }
        }
        let relative: [(&str, Option<Change>, f64); 2] = [
            ("max_increase", rule.max_increase, 1.0),
            ("max_drop", rule.max_drop, -1.0),
        ];
        for (key, change, sign) in relative {
            let Some(change) = change else { continue };
            let Some(base) = baseline else {
                missing.push(key);
                continue;
            };
            if breach.is_some() {
                continue;
            }
            let limit = base + sign * change.allowance(base);
            let broken = if sign > 0.0 {
                v > limit + slack(limit)
            } else {
                v < limit - slack(limit)
            };
            if broken {
                let dir = if sign > 0.0 { "above" } else { "below" };
                breach = Some(Breach {
                    policy: format!("{m}.{key}"),
                    observed: v,
                    limit,
                    text: format!(
                        "{what} is more than {change} {dir} the parent's {base} (limit {limit})"
                    ),
                });
            }
        }
        match breach {
            Some(b) => b,
            None if !missing.is_empty() => {
                let whose = match facts {
                    Some(f) => format!("merge {}'s parent", short(&f.merge_sha)),
                    None => "the parent (the event is not attributable to a merge)".to_string(),
                };
                return inconclusive(
                    InconclusiveCause::NoBaseline,
                    format!(
                        "{what}: {} needs the value of {m} on {whose}, which is not known",
                        missing.join(" and ")
                    ),
                );
            }
            None => {
                return Decision::Ok {
                    reason: format!("{what} is within policy"),
                }
            }
        }
    };

    let Some(facts) = facts else {
        return inconclusive(
            InconclusiveCause::Unattributable,
            format!(
                "{}, but {} is not attributable to a merge on the default branch",
                breach.text,
                short(&event.commit)
            ),
        );
    };
    let merge = facts.merge_sha.clone();
    let key = (facts.merge_sha.clone(), event.metric.clone());
    let count = state
        .violations_so_far
        .get(&key)
        .copied()
        .unwrap_or(0)
        .saturating_add(1);
    let needed = policy.failure_limit.max(1);
    if count < needed {
        return Decision::Violation {
            reason: format!(
                "{} (violation {count} of {needed} before acting on merge {})",
                breach.text,
                short(&merge)
            ),
            policy: breach.policy,
            observed: breach.observed,
            limit: breach.limit,
            merge,
            count,
            needed,
        };
    }

    let elapsed = now.signed_duration_since(facts.merged_at);
    let window = Duration::hours(i64::from(policy.window_hours));
    let guard = if facts.is_revert {
        Some((
            Guard::RevertOfRevert,
            "the merge is itself a revert; reverting a revert needs a person".to_string(),
        ))
    } else if facts.already_reverted {
        Some((
            Guard::AlreadyReverted,
            "the merge was already reverted".to_string(),
        ))
    } else if !facts.gated {
        Some((
            Guard::NotGated,
            "the merge was not gated by patchgate (no record)".to_string(),
        ))
    } else if facts
        .labels
        .iter()
        .any(|l| l.trim().eq_ignore_ascii_case(policy.freeze_label.trim()))
    {
        Some((
            Guard::FreezeLabel,
            format!("the PR carries the {:?} label", policy.freeze_label),
        ))
    } else if elapsed < Duration::zero() {
        Some((
            Guard::MergeInFuture,
            format!(
                "the merge time {} is after now",
                facts.merged_at.to_rfc3339()
            ),
        ))
    } else if elapsed > window {
        Some((
            Guard::OutsideWindow,
            format!(
                "the merge is older than the {} h revert window",
                policy.window_hours
            ),
        ))
    } else if state.reverts_today >= policy.max_reverts_per_day {
        Some((
            Guard::DailyCap,
            format!(
                "{} automatic revert(s) today, the daily cap is {}",
                state.reverts_today, policy.max_reverts_per_day
            ),
        ))
    } else {
        None
    };
    if let Some((guard, why)) = guard {
        return Decision::ReportOnly {
            guard,
            why: format!(
                "{}; not reverting merge {}: {why}",
                breach.text,
                short(&merge)
            ),
            policy: breach.policy,
            observed: breach.observed,
            limit: breach.limit,
            merge,
        };
    }
    let times = if needed > 1 {
        format!(" ({count} violating events)")
    } else {
        String::new()
    };
    if policy.dry_run {
        return Decision::WouldRevert {
            reason: format!(
                "{}{times}; dry run: merge {} would have been reverted",
                breach.text,
                short(&merge)
            ),
            policy: breach.policy,
            observed: breach.observed,
            limit: breach.limit,
            merge,
        };
    }
    Decision::Revert {
        reason: format!("{}{times}; reverting merge {}", breach.text, short(&merge)),
        policy: breach.policy,
        observed: breach.observed,
        limit: breach.limit,
        merge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(metric: &str, value: f64) -> PolicyEvent {
        PolicyEvent {
            repo: "o/r".into(),
            commit: "abcdef1".into(),
            metric: metric.into(),
            value,
            at: at("2026-01-01T01:00:00Z"),
            check: None,
        }
    }

    fn facts() -> MergeFacts {
        MergeFacts {
            merge_sha: "1234567".into(),
            merged_at: at("2026-01-01T00:00:00Z"),
            gated: true,
            labels: vec![],
            already_reverted: false,
            is_revert: false,
            parent_baseline: BTreeMap::from([("lat".to_string(), 200.0)]),
        }
    }

    #[test]
    fn a_violation_within_every_guard_reverts_and_says_why() {
        let p = PolicySet::from_yaml("metrics:\n  lat: {max_increase: '10%'}\n", "t").unwrap();
        let d = evaluate(
            &p,
            &event("lat", 230.0),
            Some(&facts()),
            &RepoState::default(),
            at("2026-01-01T02:00:00Z"),
        );
        assert!(d.is_revert(), "{d:?}");
        assert!(
            d.reason().contains("10%") && d.reason().contains("1234567"),
            "{}",
            d.reason()
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["decision"], "revert");
        assert_eq!(json["policy"], "lat.max_increase");
    }

    #[test]
    fn a_violation_without_a_merge_is_inconclusive() {
        let p = PolicySet::from_yaml("metrics:\n  lat: {max: 100}\n", "t").unwrap();
        let d = evaluate(
            &p,
            &event("lat", 230.0),
            None,
            &RepoState::default(),
            at("2026-01-01T02:00:00Z"),
        );
        assert!(
            matches!(
                d,
                Decision::Inconclusive {
                    cause: InconclusiveCause::Unattributable,
                    ..
                }
            ),
            "{d:?}"
        );
    }
}
