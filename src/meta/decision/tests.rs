//! The whole decision table, enumerated and fuzzed: every property the module promises is
//! checked on every combination of renders, explanations, votes, human votes and policy.

use super::*;
use proptest::prelude::*;

const HEAD: &str = "h1";

const RENDERS: [RendersState; 4] = [
    RendersState::One,
    RendersState::MissingRequired,
    RendersState::Agreed,
    RendersState::Differ,
];
const EXPLANATIONS: [ExplanationsState; 5] = [
    ExplanationsState::Absent,
    ExplanationsState::Identical,
    ExplanationsState::JudgedSame,
    ExplanationsState::JudgedDifferent,
    ExplanationsState::NotJudged,
];
const VERDICTS: [Verdict; 3] = [Verdict::Approve, Verdict::Reject, Verdict::Abstain];
const NAMES: [&str; 6] = ["a0", "a1", "a2", "a3", "a4", "a5"];

fn human(verdict: HumanVerdict, head: &str) -> HumanVote {
    HumanVote {
        verdict,
        by: "maria".into(),
        permission: "maintain".into(),
        reason: "read it".into(),
        head: head.into(),
        at: None,
    }
}

fn decide(
    renders: RendersState,
    explanations: ExplanationsState,
    votes: &[CastVote<'_>],
    human: Option<&HumanVote>,
    policy: &Policy,
) -> GateDecision {
    decide_gate(&GateFacts {
        renders,
        explanations,
        votes,
        human,
        head: HEAD,
        policy,
    })
}

/// Every promise of the module, on one case.
fn check_case(
    renders: RendersState,
    explanations: ExplanationsState,
    votes: &[CastVote<'_>],
    h: Option<&HumanVote>,
    policy: &Policy,
) {
    let d = decide(renders, explanations, votes, h, policy);
    let ctx = || format!("{renders:?} {explanations:?} {votes:?} {h:?} {policy:?} -> {d:?}");
    let approvals = votes
        .iter()
        .filter(|v| v.verdict == Verdict::Approve)
        .count();
    let rules: Vec<_> = votes
        .iter()
        .filter(|v| v.class == AuditorClass::Rules)
        .collect();
    let rg_rejects = rules.iter().any(|v| v.verdict == Verdict::Reject);
    let rg_approves = !rules.is_empty() && rules.iter().all(|v| v.verdict == Verdict::Approve);
    let valid_human = h.filter(|h| h.head == HEAD);
    let human_approves = valid_human.is_some_and(|h| h.verdict == HumanVerdict::Approve);

    // The path follows from the renders and explanations alone.
    let want_path = match (renders, explanations) {
        (RendersState::One | RendersState::MissingRequired, _) => Path::OneRender,
        (RendersState::Differ, _) | (_, ExplanationsState::JudgedDifferent) => Path::Escalated,
        (RendersState::Agreed, _) => Path::Agreed,
    };
    assert_eq!(d.path, want_path, "{}", ctx());
    assert_eq!(d.approvals, approvals, "{}", ctx());
    assert_eq!(d.passed, d.to_pass.is_empty(), "{}", ctx());

    // A maintainer's block always blocks; a vote on another head counts for nothing.
    if valid_human.is_some_and(|h| h.verdict == HumanVerdict::Block) {
        assert!(!d.passed, "{}", ctx());
    }
    if h.is_some() && valid_human.is_none() {
        let without = decide(renders, explanations, votes, None, policy);
        assert_eq!(d.passed, without.passed, "{}", ctx());
        assert!(d.human_voided, "{}", ctx());
    }
    // A Rule-Guard rejection: no agreement, no human and no escalated count gets past it;
    // only the normal quorum of real approvals does, as before.
    if rg_rejects && d.passed {
        assert_ne!(d.path, Path::Escalated, "{}", ctx());
        assert!(approvals >= policy.required, "{}", ctx());
        assert_eq!(d.basis, Basis::Quorum, "{}", ctx());
    }
    // A missing render passes only on a maintainer's approval.
    if renders == RendersState::MissingRequired && d.passed {
        assert!(human_approves, "{}", ctx());
    }
    if d.passed && !human_approves {
        // Nothing passes without an auditor's approval: abstentions never count.
        assert!(approvals >= 1, "{}", ctx());
        match d.path {
            // The escalated path passes only on its own quorum, of real approvals.
            Path::Escalated => match policy.escalated {
                EscalatedQuorum::All => assert_eq!(approvals, votes.len(), "{}", ctx()),
                EscalatedQuorum::AtLeast(n) => assert!(approvals >= n, "{}", ctx()),
            },
            // One render: the normal quorum, no shortcut.
            Path::OneRender => assert!(approvals >= policy.required, "{}", ctx()),
            // Agreement: the normal quorum, or a shortcut the operator chose, each needing
            // Rule-Guard's approval.
            Path::Agreed => {
                let shortcut = rg_approves
                    && ((policy.agreement_counts_as_vote && approvals + 1 >= policy.required)
                        || ((policy.skip_paid_auditors || policy.degraded)
                            && votes
                                .iter()
                                .filter(|v| v.class != AuditorClass::Model)
                                .all(|v| v.verdict == Verdict::Approve)));
                assert!(approvals >= policy.required || shortcut, "{}", ctx());
            }
        }
    }
    // With no shortcut, no degraded mode and no human, the table is the plain rule.
    if !policy.agreement_counts_as_vote
        && !policy.skip_paid_auditors
        && !policy.degraded
        && h.is_none()
    {
        let plain = match want_path {
            Path::Escalated => {
                !rg_rejects
                    && match policy.escalated {
                        EscalatedQuorum::All => !votes.is_empty() && approvals == votes.len(),
                        EscalatedQuorum::AtLeast(n) => approvals >= n.max(1),
                    }
            }
            _ => renders != RendersState::MissingRequired && approvals >= policy.required,
        };
        assert_eq!(d.passed, plain, "{}", ctx());
    }
    // Monotone: an approval that becomes an abstention or a rejection never turns a block
    // into a pass, and a rejection that becomes an abstention never does either… except that
    // Rule-Guard's rejection has its own weight, so only non-Rule-Guard votes are lowered here.
    for i in 0..votes.len() {
        if votes[i].verdict != Verdict::Approve {
            continue;
        }
        for lower in [Verdict::Abstain, Verdict::Reject] {
            let mut worse = votes.to_vec();
            worse[i].verdict = lower;
            let w = decide(renders, explanations, &worse, h, policy);
            assert!(
                !w.passed || d.passed,
                "lowering {i} to {lower}: {} / {w:?}",
                ctx()
            );
        }
    }
}

fn votes_of<'a>(classes: &[AuditorClass], verdicts: &[Verdict]) -> Vec<CastVote<'a>> {
    classes
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (c, v))| CastVote {
            auditor: NAMES[i],
            class: *c,
            verdict: *v,
        })
        .collect()
}

#[test]
fn the_whole_table_enumerated() {
    use AuditorClass::*;
    let line_ups: [&[AuditorClass]; 5] = [
        &[Rules, Model, Model],
        &[Rules, Command, Command],
        &[Rules, Model, Command],
        &[Model, Command],
        &[Rules],
    ];
    let humans = [
        None,
        Some(human(HumanVerdict::Approve, HEAD)),
        Some(human(HumanVerdict::Block, HEAD)),
        Some(human(HumanVerdict::Approve, "old")),
        Some(human(HumanVerdict::Block, "old")),
    ];
    let mut cases = 0usize;
    for classes in line_ups {
        let n = classes.len();
        let mut verdict_sets: Vec<Vec<Verdict>> = vec![vec![]];
        for _ in 0..n {
            verdict_sets = verdict_sets
                .into_iter()
                .flat_map(|s| {
                    VERDICTS.iter().map(move |v| {
                        let mut s = s.clone();
                        s.push(*v);
                        s
                    })
                })
                .collect();
        }
        for required in 1..=n.min(2) {
            for escalated in [EscalatedQuorum::All, EscalatedQuorum::AtLeast(n.min(2))] {
                for flags in 0..8u8 {
                    let policy = Policy {
                        required,
                        escalated,
                        agreement_counts_as_vote: flags & 1 != 0,
                        skip_paid_auditors: flags & 2 != 0,
                        degraded: flags & 4 != 0,
                    };
                    for verdicts in &verdict_sets {
                        let votes = votes_of(classes, verdicts);
                        for renders in RENDERS {
                            for explanations in EXPLANATIONS {
                                for h in &humans {
                                    check_case(renders, explanations, &votes, h.as_ref(), &policy);
                                    cases += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 100_000, "{cases}");
}

#[test]
fn a_seed_example_of_each_path() {
    use AuditorClass::*;
    let p = Policy::default();
    let all_approve = votes_of(&[Rules, Command, Command], &[Verdict::Approve; 3]);
    let d = decide(
        RendersState::Differ,
        ExplanationsState::NotJudged,
        &all_approve,
        None,
        &p,
    );
    assert_eq!((d.path, d.passed, d.required), (Path::Escalated, true, 3));
    let one_abstains = votes_of(
        &[Rules, Command, Command],
        &[Verdict::Approve, Verdict::Approve, Verdict::Abstain],
    );
    let d = decide(
        RendersState::Differ,
        ExplanationsState::Absent,
        &one_abstains,
        None,
        &p,
    );
    assert!(!d.passed && d.reason.contains("every auditor (3)"), "{d:?}");
    assert!(
        d.to_pass.iter().any(|t| t.contains("/patchgate approve")),
        "{d:?}"
    );
    let d = decide(
        RendersState::Agreed,
        ExplanationsState::NotJudged,
        &one_abstains,
        None,
        &p,
    );
    assert_eq!((d.path, d.passed), (Path::Agreed, true));
    // Agreement counted as a vote: Rule-Guard plus the agreement make two.
    let rg_only = votes_of(
        &[Rules, Model, Model],
        &[Verdict::Approve, Verdict::Abstain, Verdict::Abstain],
    );
    let counts = Policy {
        agreement_counts_as_vote: true,
        ..p
    };
    let d = decide(
        RendersState::Agreed,
        ExplanationsState::Identical,
        &rg_only,
        None,
        &counts,
    );
    assert_eq!((d.passed, d.basis), (true, Basis::AgreementVote));
    let d = decide(
        RendersState::One,
        ExplanationsState::Absent,
        &rg_only,
        None,
        &counts,
    );
    assert!(!d.passed, "no agreement without two renders");
    // Never past Rule-Guard's rejection.
    let rg_rejects = votes_of(
        &[Rules, Model, Model],
        &[Verdict::Reject, Verdict::Approve, Verdict::Abstain],
    );
    let d = decide(
        RendersState::Agreed,
        ExplanationsState::Identical,
        &rg_rejects,
        None,
        &counts,
    );
    assert!(!d.passed, "{d:?}");
    let approve = human(HumanVerdict::Approve, HEAD);
    let d = decide(
        RendersState::Differ,
        ExplanationsState::Absent,
        &rg_rejects,
        Some(&approve),
        &p,
    );
    assert!(!d.passed && d.reason.contains("does not override"), "{d:?}");
    // Degraded mode: Rule-Guard plus agreeing renders.
    let degraded = Policy {
        degraded: true,
        ..p
    };
    let d = decide(
        RendersState::Agreed,
        ExplanationsState::NotJudged,
        &rg_only,
        None,
        &degraded,
    );
    assert_eq!((d.passed, d.basis), (true, Basis::Degraded));
    let d = decide(
        RendersState::Differ,
        ExplanationsState::NotJudged,
        &rg_only,
        None,
        &degraded,
    );
    assert!(!d.passed);
    let d = decide(
        RendersState::Differ,
        ExplanationsState::NotJudged,
        &rg_only,
        Some(&approve),
        &degraded,
    );
    assert_eq!((d.passed, d.basis), (true, Basis::Human));
    // A new push voids the approval.
    let stale = human(HumanVerdict::Approve, "old");
    let d = decide(
        RendersState::Differ,
        ExplanationsState::NotJudged,
        &rg_only,
        Some(&stale),
        &degraded,
    );
    assert!(!d.passed && d.human_voided);
}

#[test]
fn the_escalated_quorum_reads_all_or_a_number() {
    let q: EscalatedQuorum = serde_yaml::from_str("all").unwrap();
    assert_eq!(q, EscalatedQuorum::All);
    let q: EscalatedQuorum = serde_yaml::from_str("ALL").unwrap();
    assert_eq!(q, EscalatedQuorum::All);
    let q: EscalatedQuorum = serde_yaml::from_str("2").unwrap();
    assert_eq!(q, EscalatedQuorum::AtLeast(2));
    let e = serde_yaml::from_str::<EscalatedQuorum>("most")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`most` is not a quorum"), "{e}");
    assert_eq!(
        serde_json::to_string(&EscalatedQuorum::All).unwrap(),
        "\"all\""
    );
    assert_eq!(
        serde_json::to_string(&EscalatedQuorum::AtLeast(3)).unwrap(),
        "3"
    );
}

fn class() -> impl Strategy<Value = AuditorClass> {
    prop_oneof![
        Just(AuditorClass::Rules),
        Just(AuditorClass::Model),
        Just(AuditorClass::Command)
    ]
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Approve),
        Just(Verdict::Reject),
        Just(Verdict::Abstain)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn any_line_up_keeps_every_promise(
        line_up in prop::collection::vec((class(), verdict()), 1..6),
        renders in 0usize..4,
        explanations in 0usize..5,
        required in 1usize..6,
        at_least in prop::option::of(1usize..6),
        flags in 0u8..8,
        human_kind in 0usize..5,
    ) {
        let (classes, verdicts): (Vec<_>, Vec<_>) = line_up.into_iter().unzip();
        let votes = votes_of(&classes, &verdicts);
        let policy = Policy {
            required: required.min(votes.len()),
            escalated: at_least.map_or(EscalatedQuorum::All, |n| EscalatedQuorum::AtLeast(n.min(votes.len()))),
            agreement_counts_as_vote: flags & 1 != 0,
            skip_paid_auditors: flags & 2 != 0,
            degraded: flags & 4 != 0,
        };
        let h = match human_kind {
            1 => Some(human(HumanVerdict::Approve, HEAD)),
            2 => Some(human(HumanVerdict::Block, HEAD)),
            3 => Some(human(HumanVerdict::Approve, "old")),
            4 => Some(human(HumanVerdict::Block, "old")),
            _ => None,
        };
        check_case(RENDERS[renders], EXPLANATIONS[explanations], &votes, h.as_ref(), &policy);
    }
}
