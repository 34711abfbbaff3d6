//! The explanations step of the gate: two renders' explanations compared — identical canonical
//! hashes agree; otherwise the configured judge ([`crate::audit::llm::judge`]) decides by
//! meaning; with no judge, or when it abstains, they are "not judged" (the lexical similarity is
//! recorded as information and neither passes nor blocks the change).

use crate::audit::llm::judge::{Judge, JudgeCase, JudgeOutcome};
use crate::meta::decision::ExplanationsState;
use crate::meta::record::{ExplanationsSummary, JudgeSummary};
use crate::meta::ExplanationComparison;

/// The explanations' state and their record entry.
pub struct Explained {
    pub state: ExplanationsState,
    pub summary: ExplanationsSummary,
}

/// Turn the lexical comparison and (when there is one) the judge's answer into the record's
/// entry. Pure: `judged` is what the judge answered, `None` when it was not asked.
pub fn explained(
    lexical: &ExplanationComparison,
    judge_name: Option<&str>,
    threshold: f64,
    judged: Option<&JudgeOutcome>,
) -> Explained {
    let mut summary = ExplanationsSummary::from(lexical);
    let state = if lexical.hash_match {
        ExplanationsState::Identical
    } else {
        match judged {
            Some(JudgeOutcome::Judged { score, .. }) if *score >= threshold => {
                ExplanationsState::JudgedSame
            }
            Some(JudgeOutcome::Judged { .. }) => ExplanationsState::JudgedDifferent,
            _ => ExplanationsState::NotJudged,
        }
    };
    summary.agreed = matches!(
        state,
        ExplanationsState::Identical | ExplanationsState::JudgedSame
    );
    summary.status = Some(state);
    if judged.is_some() {
        summary.threshold = threshold;
    }
    summary.judge = judged.map(|j| {
        let name = judge_name.unwrap_or("judge").to_string();
        match j {
            JudgeOutcome::Judged {
                score,
                reason,
                cost_usd,
            } => JudgeSummary {
                name,
                score: Some(*score),
                reason: reason.clone(),
                cost_usd: Some(*cost_usd),
                extra: Default::default(),
            },
            JudgeOutcome::Abstained { reason, cost_usd } => JudgeSummary {
                name,
                score: None,
                reason: format!("abstained: {reason}"),
                cost_usd: (*cost_usd > 0.0).then_some(*cost_usd),
                extra: Default::default(),
            },
        }
    });
    Explained { state, summary }
}

/// Compare two explanations, asking the judge when the hashes differ and there is one.
pub async fn compare(
    lexical: &ExplanationComparison,
    judge: Option<&Judge>,
    case: &JudgeCase<'_>,
) -> Explained {
    let judged = match judge {
        Some(j) if !lexical.hash_match => Some(j.judge(case).await),
        _ => None,
    };
    explained(
        lexical,
        judge.map(Judge::name),
        judge.map_or(
            crate::config::gate::DEFAULT_JUDGE_THRESHOLD,
            Judge::threshold,
        ),
        judged.as_ref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexical(hash_match: bool, similarity: f64) -> ExplanationComparison {
        ExplanationComparison {
            hash_match,
            similarity,
            threshold: 0.85,
            agreed: hash_match || similarity >= 0.85,
        }
    }

    #[test]
    fn the_lexical_measure_never_decides() {
        let e = explained(&lexical(false, 0.97), None, 0.85, None);
        assert_eq!(e.state, ExplanationsState::NotJudged);
        assert!(!e.summary.agreed);
        assert_eq!(e.summary.similarity, 0.97, "recorded as information");
        let e = explained(&lexical(true, 1.0), None, 0.85, None);
        assert_eq!(e.state, ExplanationsState::Identical);
        assert!(e.summary.agreed);
    }

    #[test]
    fn the_judge_decides_at_its_threshold_and_an_abstention_is_not_judged() {
        let judged = |score: f64| JudgeOutcome::Judged {
            score,
            reason: "r".into(),
            cost_usd: 0.001,
        };
        let e = explained(&lexical(false, 0.2), Some("j"), 0.85, Some(&judged(0.85)));
        assert_eq!(e.state, ExplanationsState::JudgedSame);
        assert!(e.summary.agreed);
        assert_eq!(e.summary.judge.as_ref().unwrap().score, Some(0.85));
        let e = explained(&lexical(false, 0.99), Some("j"), 0.85, Some(&judged(0.84)));
        assert_eq!(e.state, ExplanationsState::JudgedDifferent);
        let out = JudgeOutcome::Abstained {
            reason: "unavailable: cannot connect".into(),
            cost_usd: 0.0,
        };
        let e = explained(&lexical(false, 0.99), Some("j"), 0.85, Some(&out));
        assert_eq!(e.state, ExplanationsState::NotJudged);
        let j = e.summary.judge.unwrap();
        assert_eq!(j.score, None);
        assert!(
            j.reason.starts_with("abstained: unavailable"),
            "{}",
            j.reason
        );
    }
}
