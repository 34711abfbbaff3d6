//! The post-merge policy engine: events, the policy file and its overrides, decisions, guards.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use patchgate::policy::{
    evaluate, parse_event, parse_ndjson, Change, Decision, EventError, Guard, InconclusiveCause,
    MergeFacts, PolicyEvent, PolicySet, RepoState,
};
use proptest::prelude::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const MERGED: &str = "2026-03-01T12:00:00Z";

fn soon() -> DateTime<Utc> {
    t(MERGED) + Duration::hours(1)
}

fn ev(metric: &str, value: f64) -> PolicyEvent {
    PolicyEvent {
        repo: "o/r".into(),
        commit: "abcdef1234".into(),
        metric: metric.into(),
        value,
        at: t("2026-03-01T12:30:00Z"),
        check: None,
    }
}

fn ci(check: &str, ok: bool) -> PolicyEvent {
    PolicyEvent {
        check: Some(check.into()),
        ..ev("ci", if ok { 1.0 } else { 0.0 })
    }
}

fn facts() -> MergeFacts {
    MergeFacts {
        merge_sha: "feedface00".into(),
        merged_at: t(MERGED),
        gated: true,
        labels: vec!["bug".into()],
        already_reverted: false,
        is_revert: false,
        parent_baseline: BTreeMap::from([("lat".to_string(), 200.0), ("cov".to_string(), 80.0)]),
    }
}

fn policy(yaml: &str) -> PolicySet {
    PolicySet::embedded()
        .unwrap()
        .with_repo_overrides(yaml)
        .unwrap()
}

fn decide(p: &PolicySet, e: &PolicyEvent) -> Decision {
    evaluate(p, e, Some(&facts()), &RepoState::default(), soon())
}

fn is_ok(d: &Decision) -> bool {
    matches!(d, Decision::Ok { .. })
}

#[test]
fn the_embedded_policy_loads() {
    let p = PolicySet::embedded().unwrap();
    assert_eq!(
        (p.failure_limit, p.window_hours, p.max_reverts_per_day),
        (1, 24, 3)
    );
    assert_eq!(p.freeze_label, "freeze-exempt");
    assert!(!p.dry_run);
    assert!(p.required_checks.is_empty());
}

/// (rule yaml, metric, at the limit, just under, just over): under and at are Ok, over reverts.
#[test]
fn each_bound_kind_at_under_and_over_its_limit() {
    let cases: &[(&str, &str, f64, f64, f64)] = &[
        ("{max: 500}", "lat", 500.0, 499.99, 500.01),
        ("{min: 70}", "cov", 70.0, 70.01, 69.99),
        ("{max_increase: 15}", "lat", 215.0, 214.99, 215.01),
        ("{max_increase: '10%'}", "lat", 220.0, 219.99, 220.01),
        ("{max_drop: 2}", "cov", 78.0, 78.01, 77.99),
        ("{max_drop: '5%'}", "cov", 76.0, 76.01, 75.99),
    ];
    for &(rule, metric, at, inside, outside) in cases {
        let p = policy(&format!("metrics:\n  {metric}: {rule}\n"));
        assert!(is_ok(&decide(&p, &ev(metric, at))), "{rule} at {at}");
        assert!(
            is_ok(&decide(&p, &ev(metric, inside))),
            "{rule} at {inside}"
        );
        let d = decide(&p, &ev(metric, outside));
        match &d {
            Decision::Revert {
                observed,
                merge,
                reason,
                ..
            } => {
                assert_eq!(*observed, outside);
                assert_eq!(merge, "feedface00");
                assert!(!reason.is_empty());
            }
            other => panic!("{rule} at {outside}: {other:?}"),
        }
    }
}

#[test]
fn percent_limits_are_reported_in_the_metrics_unit() {
    let p = policy("metrics:\n  lat: {max_increase: '10%'}\n");
    let Decision::Revert {
        policy,
        limit,
        reason,
        ..
    } = decide(&p, &ev("lat", 300.0))
    else {
        panic!()
    };
    assert_eq!(policy, "lat.max_increase");
    assert!((limit - 220.0).abs() < 1e-9);
    assert!(reason.contains("10%") && reason.contains("200"), "{reason}");
}

#[test]
fn a_failing_required_check_reverts_a_non_required_one_does_not() {
    let p = policy("required_checks: [build, test]\n");
    let d = decide(&p, &ci("build", false));
    assert!(
        matches!(&d, Decision::Revert { policy, .. } if policy == "required_checks.build"),
        "{d:?}"
    );
    assert!(is_ok(&decide(&p, &ci("lint", false))));
    assert!(is_ok(&decide(&p, &ci("build", true))));
}

#[test]
fn failure_limit_two_needs_two_violating_events() {
    let p = policy("failure_limit: 2\nmetrics:\n  lat: {max: 300}\n");
    let mut state = RepoState::default();
    let first = evaluate(&p, &ev("lat", 400.0), Some(&facts()), &state, soon());
    assert!(
        matches!(
            first,
            Decision::Violation {
                count: 1,
                needed: 2,
                ..
            }
        ),
        "{first:?}"
    );
    state
        .violations_so_far
        .insert(("feedface00".into(), "lat".into()), 1);
    let second = evaluate(&p, &ev("lat", 400.0), Some(&facts()), &state, soon());
    assert!(second.is_revert(), "{second:?}");
    // Another merge's violations do not count.
    let other = MergeFacts {
        merge_sha: "0ther0000".into(),
        ..facts()
    };
    let d = evaluate(&p, &ev("lat", 400.0), Some(&other), &state, soon());
    assert!(matches!(d, Decision::Violation { count: 1, .. }), "{d:?}");
}

#[test]
fn every_guard_reports_only_with_its_reason() {
    let p = policy("metrics:\n  lat: {max: 300}\n");
    let e = ev("lat", 400.0);
    let cases: Vec<(MergeFacts, RepoState, DateTime<Utc>, Guard, &str)> = vec![
        (
            MergeFacts {
                gated: false,
                ..facts()
            },
            RepoState::default(),
            soon(),
            Guard::NotGated,
            "not gated",
        ),
        (
            facts(),
            RepoState::default(),
            t(MERGED) + Duration::hours(30),
            Guard::OutsideWindow,
            "window",
        ),
        (
            MergeFacts {
                labels: vec!["Freeze-Exempt".into()],
                ..facts()
            },
            RepoState::default(),
            soon(),
            Guard::FreezeLabel,
            "freeze-exempt",
        ),
        (
            MergeFacts {
                already_reverted: true,
                ..facts()
            },
            RepoState::default(),
            soon(),
            Guard::AlreadyReverted,
            "already reverted",
        ),
        (
            MergeFacts {
                is_revert: true,
                ..facts()
            },
            RepoState::default(),
            soon(),
            Guard::RevertOfRevert,
            "needs a person",
        ),
        (
            facts(),
            RepoState {
                reverts_today: 3,
                ..RepoState::default()
            },
            soon(),
            Guard::DailyCap,
            "cap",
        ),
        (
            facts(),
            RepoState::default(),
            t(MERGED) - Duration::seconds(1),
            Guard::MergeInFuture,
            "after now",
        ),
    ];
    for (f, state, now, guard, words) in cases {
        for dry_run in [false, true] {
            let p = PolicySet {
                dry_run,
                ..p.clone()
            };
            let d = evaluate(&p, &e, Some(&f), &state, now);
            match &d {
                Decision::ReportOnly { guard: g, why, .. } => {
                    assert_eq!(*g, guard);
                    assert!(why.contains(words), "{guard:?}: {why}");
                }
                other => panic!("{guard:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn the_freeze_label_is_configurable() {
    let p = policy("freeze_label: hands-off\nmetrics:\n  lat: {max: 300}\n");
    let f = MergeFacts {
        labels: vec!["hands-off".into()],
        ..facts()
    };
    let d = evaluate(
        &p,
        &ev("lat", 400.0),
        Some(&f),
        &RepoState::default(),
        soon(),
    );
    assert!(
        matches!(
            d,
            Decision::ReportOnly {
                guard: Guard::FreezeLabel,
                ..
            }
        ),
        "{d:?}"
    );
    let f = MergeFacts {
        labels: vec!["freeze-exempt".into()],
        ..facts()
    };
    assert!(evaluate(
        &p,
        &ev("lat", 400.0),
        Some(&f),
        &RepoState::default(),
        soon()
    )
    .is_revert());
}

#[test]
fn the_window_is_inclusive_to_the_second() {
    let p = policy("metrics:\n  lat: {max: 300}\n");
    let e = ev("lat", 400.0);
    let edge = t(MERGED) + Duration::hours(24);
    assert!(evaluate(&p, &e, Some(&facts()), &RepoState::default(), edge).is_revert());
    let d = evaluate(
        &p,
        &e,
        Some(&facts()),
        &RepoState::default(),
        edge + Duration::seconds(1),
    );
    assert!(
        matches!(
            d,
            Decision::ReportOnly {
                guard: Guard::OutsideWindow,
                ..
            }
        ),
        "{d:?}"
    );
    let p = policy("window_hours: 48\nmetrics:\n  lat: {max: 300}\n");
    assert!(evaluate(
        &p,
        &e,
        Some(&facts()),
        &RepoState::default(),
        edge + Duration::seconds(1)
    )
    .is_revert());
}

#[test]
fn the_daily_cap() {
    let p = policy("metrics:\n  lat: {max: 300}\n");
    let e = ev("lat", 400.0);
    let state = |n| RepoState {
        reverts_today: n,
        ..RepoState::default()
    };
    assert!(evaluate(&p, &e, Some(&facts()), &state(2), soon()).is_revert());
    for n in [3, 4, 100] {
        let d = evaluate(&p, &e, Some(&facts()), &state(n), soon());
        assert!(
            matches!(
                d,
                Decision::ReportOnly {
                    guard: Guard::DailyCap,
                    ..
                }
            ),
            "{d:?}"
        );
    }
    let p = policy("max_reverts_per_day: 0\nmetrics:\n  lat: {max: 300}\n");
    assert!(!evaluate(&p, &e, Some(&facts()), &state(0), soon()).is_revert());
}

#[test]
fn dry_run_would_revert() {
    let p = policy("dry_run: true\nmetrics:\n  lat: {max: 300}\n");
    let d = decide(&p, &ev("lat", 400.0));
    match &d {
        Decision::WouldRevert { reason, merge, .. } => {
            assert_eq!(merge, "feedface00");
            assert!(reason.contains("dry run"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        serde_json::to_value(&d).unwrap()["decision"],
        "would_revert"
    );
}

#[test]
fn what_cannot_be_decided_is_inconclusive_never_a_revert() {
    let p = policy("metrics:\n  lat: {max_increase: '10%'}\n  mem: {max_drop: 5}\n");
    // No baseline for the metric on the parent.
    let d = decide(&p, &ev("mem", 1.0));
    assert!(
        matches!(&d, Decision::Inconclusive { cause: InconclusiveCause::NoBaseline, why } if why.contains("mem")),
        "{d:?}"
    );
    let no_baseline = MergeFacts {
        parent_baseline: BTreeMap::new(),
        ..facts()
    };
    let d = evaluate(
        &p,
        &ev("lat", 1e9),
        Some(&no_baseline),
        &RepoState::default(),
        soon(),
    );
    assert!(
        matches!(
            d,
            Decision::Inconclusive {
                cause: InconclusiveCause::NoBaseline,
                ..
            }
        ),
        "{d:?}"
    );
    let nan = MergeFacts {
        parent_baseline: BTreeMap::from([("lat".to_string(), f64::NAN)]),
        ..facts()
    };
    let d = evaluate(
        &p,
        &ev("lat", 1e9),
        Some(&nan),
        &RepoState::default(),
        soon(),
    );
    assert!(
        matches!(
            d,
            Decision::Inconclusive {
                cause: InconclusiveCause::NoBaseline,
                ..
            }
        ),
        "{d:?}"
    );
    // Unknown metric.
    let d = decide(&p, &ev("cost_usd", 1e9));
    assert!(
        matches!(
            d,
            Decision::Inconclusive {
                cause: InconclusiveCause::UnknownMetric,
                ..
            }
        ),
        "{d:?}"
    );
    // Not attributable.
    let d = evaluate(&p, &ev("lat", 1e9), None, &RepoState::default(), soon());
    assert!(matches!(d, Decision::Inconclusive { .. }), "{d:?}");
    let p = policy("metrics:\n  lat: {max: 300}\n");
    let d = evaluate(&p, &ev("lat", 400.0), None, &RepoState::default(), soon());
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
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        (json["decision"].as_str(), json["cause"].as_str()),
        (Some("inconclusive"), Some("unattributable"))
    );
}

#[test]
fn an_absolute_bound_breached_reverts_even_when_a_relative_one_lacks_its_baseline() {
    let p = policy("metrics:\n  mem: {max: 100, max_increase: '10%'}\n");
    assert!(decide(&p, &ev("mem", 101.0)).is_revert());
    assert!(matches!(
        decide(&p, &ev("mem", 99.0)),
        Decision::Inconclusive { .. }
    ));
}

#[test]
fn ndjson_reports_the_malformed_line_and_parses_the_others() {
    let text = concat!(
        r#"{"repo":"o/r","commit":"abcdef1","metric":"lat","value":1,"at":"2026-01-01T00:00:00Z"}"#,
        "\n\n",
        r#"{"repo":"o/r","commit":"abcdef1","metric":"lat","value":"#,
        "\n",
        r#"{"repo":"o/r","commit":"abcdef1","metric":"ci","check":"build","value":0,"at":"2026-01-01T00:00:00+01:00"}"#,
        "\r\n   \n",
        r#"{"repo":"o/r","commit":"abcdef1","metric":"lat","value":2,"at":"2026-01-01T00:00:00Z","x":1}"#,
        "\n",
    );
    let got = parse_ndjson(text);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].as_ref().unwrap().value, 1.0);
    assert!(
        matches!(got[1], Err((3, EventError::Malformed(_)))),
        "{:?}",
        got[1]
    );
    assert_eq!(got[2].as_ref().unwrap().check.as_deref(), Some("build"));
    assert!(
        matches!(got[3], Err((6, EventError::Malformed(_)))),
        "{:?}",
        got[3]
    );
}

#[test]
fn events_are_strict() {
    let ok = r#"{"repo":"o/r","commit":"abcdef1","metric":"latency_p95_ms","value":212.0,"at":"2026-01-01T00:00:00Z"}"#;
    assert_eq!(parse_event(ok).unwrap().metric, "latency_p95_ms");
    assert!(parse_event(&ok.replace("}", ",\"extra\":true}")).is_err());
    assert!(parse_event(&ok.replace("2026-01-01T00:00:00Z", "yesterday")).is_err());
    assert!(parse_event(&ok.replace("latency_p95_ms", "Latency p95")).is_err());
    assert!(parse_event(&ok.replace(",\"value\":212.0", "")).is_err());
    // Serde's own path validates too.
    assert!(serde_json::from_str::<PolicyEvent>(&ok.replace("latency_p95_ms", "a-b")).is_err());
}

#[test]
fn a_repository_override_changes_a_bound_and_unknown_keys_are_refused_with_their_path() {
    let base = PolicySet::from_yaml(
        "metrics:\n  lat: {max: 300, max_increase: '10%'}\n",
        "defaults",
    )
    .unwrap();
    let p = base
        .with_repo_overrides("metrics:\n  lat: {max: 500}\nfailure_limit: 2\n")
        .unwrap();
    assert_eq!(p.rule("lat").unwrap().max, Some(500.0));
    assert_eq!(
        p.rule("lat").unwrap().max_increase,
        Some(Change::Percent(10.0))
    );
    assert_eq!(p.failure_limit, 2);
    let f = MergeFacts {
        parent_baseline: BTreeMap::from([("lat".to_string(), 400.0)]),
        ..facts()
    };
    assert!(evaluate(
        &base,
        &ev("lat", 420.0),
        Some(&f),
        &RepoState::default(),
        soon()
    )
    .is_revert());
    assert!(is_ok(&evaluate(
        &p,
        &ev("lat", 420.0),
        Some(&f),
        &RepoState::default(),
        soon()
    )));

    let e = base
        .with_repo_overrides("metrics:\n  lat: {maximum: 500}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("metrics.lat") && e.contains("maximum"), "{e}");
    let e = base
        .with_repo_overrides("failure_limt: 2\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("failure_limt"), "{e}");
    let e = base
        .with_repo_overrides("metrics:\n  lat: {max_drop: 'lots'}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("metrics.lat"), "{e}");
    assert!(PolicySet::for_repo("dry_run: true\n").unwrap().dry_run);
}

fn arb_facts() -> impl Strategy<Value = MergeFacts> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        -100_000i64..200_000,
        prop::option::of(-1e6f64..1e6),
    )
        .prop_map(
            |(gated, frozen, already_reverted, is_revert, secs_before_now, base)| MergeFacts {
                merge_sha: "feedface00".into(),
                merged_at: soon() - Duration::seconds(secs_before_now),
                gated,
                labels: if frozen {
                    vec!["freeze-exempt".into()]
                } else {
                    vec![]
                },
                already_reverted,
                is_revert,
                parent_baseline: base
                    .map(|b| BTreeMap::from([("lat".to_string(), b), ("cov".to_string(), b)]))
                    .unwrap_or_default(),
            },
        )
}

fn arb_event() -> impl Strategy<Value = PolicyEvent> {
    (
        prop::sample::select(vec!["lat", "cov", "ci", "other"]),
        -1e6f64..1e6,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(metric, value, ok, required)| {
            if metric == "ci" {
                ci(if required { "build" } else { "lint" }, ok)
            } else {
                ev(metric, value)
            }
        })
}

proptest! {
    #[test]
    fn guards_always_hold(
        e in arb_event(),
        f in arb_facts(),
        reverts_today in 0u32..6,
        so_far in 0u32..4,
        failure_limit in 1u32..4,
        attributable in any::<bool>(),
    ) {
        let p = PolicySet {
            failure_limit,
            ..policy("required_checks: [build]\nmetrics:\n  lat: {max: 0, max_increase: '10%'}\n  cov: {min: 0, max_drop: 1}\n")
        };
        let state = RepoState {
            reverts_today,
            violations_so_far: BTreeMap::from([(("feedface00".to_string(), e.metric.clone()), so_far)]),
        };
        let d = evaluate(&p, &e, attributable.then_some(&f), &state, soon());
        let elapsed = soon() - f.merged_at;
        let guarded = !attributable
            || !f.gated
            || elapsed > Duration::hours(24)
            || elapsed < Duration::zero()
            || f.already_reverted
            || f.is_revert
            || !f.labels.is_empty()
            || reverts_today >= 3;
        if guarded {
            prop_assert!(!d.is_revert(), "{:?} {:?} {:?}", e, f, d);
        }
        prop_assert!(!d.reason().is_empty());
        prop_assert!(serde_json::to_string(&d).is_ok());
    }
}
