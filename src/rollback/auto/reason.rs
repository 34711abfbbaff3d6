//! Why a rollback was asked for, as stored with it (so a resumed rollback writes the same
//! commit message), and the plan its git part follows.

use serde::{Deserialize, Serialize};

use crate::rollback::{RevertReason, RevertTarget};

/// Why a rollback was asked for, as stored in the row's `reason` column (JSON), so a resumed
/// rollback writes the same commit message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredReason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) observed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) manual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) actor: Option<String>,
    /// One human line.
    pub(super) text: String,
}

impl StoredReason {
    pub(super) fn parse(s: &str) -> StoredReason {
        serde_json::from_str(s).unwrap_or_else(|_| StoredReason {
            text: s.to_string(),
            ..StoredReason::default()
        })
    }

    pub(super) fn revert_reason(&self) -> RevertReason {
        match (&self.policy, &self.observed) {
            (Some(p), Some(o)) => RevertReason::Policy {
                policy: p.clone(),
                observed: o.clone(),
            },
            _ => {
                let r = match (&self.manual, &self.actor) {
                    (Some(m), Some(a)) if !m.trim().is_empty() => Some(format!("{m} (by {a})")),
                    (_, Some(a)) => Some(format!("asked by {a}")),
                    (Some(m), None) => Some(m.clone()),
                    (None, None) => None,
                };
                RevertReason::Manual(r)
            }
        }
    }
}

/// Everything the git part of a rollback needs, rebuilt from the row when resuming.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) branch: String,
    pub(super) target: RevertTarget,
    pub(super) title: Option<String>,
    pub(super) reason: StoredReason,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollback::auto::Step;

    #[test]
    fn steps_round_trip_and_reasons_rebuild_the_message() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        assert_eq!(Step::parse("nope"), None);
        let r = StoredReason {
            policy: Some("latency_p95_ms.max".into()),
            observed: Some("900".into()),
            text: "x".into(),
            ..StoredReason::default()
        };
        let back = StoredReason::parse(&serde_json::to_string(&r).unwrap());
        assert_eq!(back, r);
        assert_eq!(
            back.revert_reason(),
            RevertReason::Policy {
                policy: "latency_p95_ms.max".into(),
                observed: "900".into()
            }
        );
    }
}
