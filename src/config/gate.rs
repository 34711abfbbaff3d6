//! The server config's sections for decision paths: `escalation:` (the escalated quorum),
//! `agreement:` (what an agreement may stand in for), `judge:` (the model that judges two
//! explanations by meaning) and `human_votes:` (who may `/patchgate approve|block`).
//!
//! Server config only, like every other key that decides or calls out: a repository cannot
//! relax its own escalated quorum, nor point the judge at an address of its choosing.

use serde::{Deserialize, Serialize};

use super::{AuditorKind, ServerConfig};
use crate::meta::decision::EscalatedQuorum;

/// Default score at which the judge's two explanations agree.
pub const DEFAULT_JUDGE_THRESHOLD: f64 = 0.85;

/// `escalation:` — what renders or explanations that differ need to pass.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationSection {
    /// `all` (every configured auditor approves, command auditors count) or a number of
    /// approvals, at least `quorum.required`.
    #[serde(default)]
    pub quorum: EscalatedQuorum,
}

/// `agreement:` — what agreeing renders may stand in for (both off by default; neither ever
/// applies when Rule-Guard does not approve).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementSection {
    /// The agreement counts as one approving vote.
    #[serde(default)]
    pub counts_as_vote: bool,
    /// The model auditors are not asked when the renders agree and Rule-Guard approves; every
    /// auditor that is asked must approve.
    #[serde(default)]
    pub skip_paid_auditors: bool,
}

/// `judge:` — the model asked whether two explanations describe the same behaviour.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSection {
    /// Reuse this model auditor's endpoint, model, key variable and timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auditor: Option<String>,
    /// Or an endpoint of its own: `openai` or `anthropic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AuditorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// The score at which the explanations agree (default 0.85).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl JudgeSection {
    /// The agreement threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(DEFAULT_JUDGE_THRESHOLD)
    }
}

/// A repository permission, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Triage,
    Write,
    #[default]
    Maintain,
    Admin,
}

impl Permission {
    /// GitHub's `permission` / `role_name` word, if it is one of the five.
    pub fn parse(word: &str) -> Option<Permission> {
        match word.trim().to_ascii_lowercase().as_str() {
            "read" | "pull" => Some(Permission::Read),
            "triage" => Some(Permission::Triage),
            "write" | "push" => Some(Permission::Write),
            "maintain" => Some(Permission::Maintain),
            "admin" => Some(Permission::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

/// `human_votes:` — who may decide a change with `/patchgate approve|block`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanVotesSection {
    /// The lowest repository permission that may (default `maintain`).
    #[serde(default)]
    pub permission: Permission,
}

/// The problems of these sections, with their paths.
pub(super) fn problems(cfg: &ServerConfig, p: &mut dyn FnMut(String, &str)) {
    if let EscalatedQuorum::AtLeast(n) = cfg.escalation.quorum {
        if n == 0 {
            p("escalation.quorum".into(), "must be `all` or at least 1");
        } else if n > cfg.auditors.len() {
            p(
                "escalation.quorum".into(),
                &format!(
                    "is {n} but only {} auditor(s) are configured",
                    cfg.auditors.len()
                ),
            );
        } else if n < cfg.quorum.required {
            p(
                "escalation.quorum".into(),
                &format!(
                    "is {n}, below quorum.required ({}): an escalated change may not need fewer approvals than an agreed one",
                    cfg.quorum.required
                ),
            );
        }
    }
    let Some(j) = &cfg.judge else { return };
    if let Some(t) = j.threshold {
        if !(t.is_finite() && t > 0.0 && t <= 1.0) {
            p("judge.threshold".into(), "must be in (0, 1]");
        }
    }
    if j.timeout_s == Some(0) {
        p("judge.timeout_s".into(), "must be at least 1");
    }
    let own = j.kind.is_some() || j.base_url.is_some() || j.model.is_some();
    match (&j.auditor, own) {
        (Some(_), true) => p(
            "judge".into(),
            "give either `auditor` (reuse an auditor's endpoint) or `kind`, `base_url`, `model`, `api_key_env`, not both",
        ),
        (Some(name), false) => match cfg.auditors.iter().find(|a| &a.name == name) {
            None => p(
                "judge.auditor".into(),
                &format!("no auditor is named `{name}`"),
            ),
            Some(a) if !matches!(a.kind, AuditorKind::Openai | AuditorKind::Anthropic) => p(
                "judge.auditor".into(),
                &format!("`{name}` is not a model auditor (openai or anthropic)"),
            ),
            Some(_) => {}
        },
        (None, false) => p(
            "judge".into(),
            "give `auditor: <a model auditor's name>`, or `kind`, `base_url`, `model` and `api_key_env`",
        ),
        (None, true) => {
            match j.kind {
                Some(AuditorKind::Openai | AuditorKind::Anthropic) => {}
                _ => p("judge.kind".into(), "must be openai or anthropic"),
            }
            match j.base_url.as_deref() {
                None => p("judge.base_url".into(), "required"),
                Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                    p("judge.base_url".into(), "must be an http(s) URL")
                }
                Some(_) => {}
            }
            match j.model.as_deref() {
                None => p("judge.model".into(), "required"),
                Some(m) => {
                    for model in std::iter::once(m).chain(j.fallback_models.iter().map(String::as_str)) {
                        if !cfg.prices.contains_key(model) {
                            p(
                                "judge.model".into(),
                                &format!("no price for model `{model}` under `prices:` (a model is never free)"),
                            );
                        }
                    }
                }
            }
            if j.api_key_env.is_none() {
                p(
                    "judge.api_key_env".into(),
                    "required: the environment variable holding the API key",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "auditors:\n  - {name: rule-guard, kind: rules}\n  - {name: r1, kind: openai, base_url: 'http://127.0.0.1:1/v1', model: m, api_key_env: K}\n  - {name: c, kind: command, command: [true]}\nquorum: {required: 2}\nprices: {m: {input: 1, output: 2}}\n";

    fn parse(extra: &str) -> Result<ServerConfig, String> {
        ServerConfig::from_yaml(&format!("{BASE}{extra}"), "t").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_all_off_and_maintain() {
        let c = parse("").unwrap();
        assert_eq!(c.escalation.quorum, EscalatedQuorum::All);
        assert!(!c.agreement.counts_as_vote && !c.agreement.skip_paid_auditors);
        assert!(c.judge.is_none());
        assert_eq!(c.human_votes.permission, Permission::Maintain);
    }

    #[test]
    fn every_problem_is_named() {
        let e = parse("escalation: {quorum: 1}\n").unwrap_err();
        assert!(
            e.contains("escalation.quorum: is 1, below quorum.required"),
            "{e}"
        );
        let e = parse("escalation: {quorum: 4}\n").unwrap_err();
        assert!(e.contains("escalation.quorum: is 4 but only 3"), "{e}");
        let e = parse("escalation: {quorum: most}\n").unwrap_err();
        assert!(e.contains("`most` is not a quorum"), "{e}");
        let e = parse("judge: {auditor: c}\n").unwrap_err();
        assert!(
            e.contains("judge.auditor: `c` is not a model auditor"),
            "{e}"
        );
        let e = parse("judge: {auditor: nobody}\n").unwrap_err();
        assert!(
            e.contains("judge.auditor: no auditor is named `nobody`"),
            "{e}"
        );
        let e = parse("judge: {kind: openai, base_url: 'ftp://x', model: free, threshold: 2}\n")
            .unwrap_err();
        for needle in [
            "judge.base_url: must be an http(s) URL",
            "judge.model: no price for model `free`",
            "judge.api_key_env: required",
            "judge.threshold: must be in (0, 1]",
        ] {
            assert!(e.contains(needle), "missing {needle} in {e}");
        }
        let e = parse("judge: {auditor: r1, model: m}\n").unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = parse("human_votes: {permission: owner}\n").unwrap_err();
        assert!(e.contains("owner"), "{e}");
        let c = parse("escalation: {quorum: 2}\nagreement: {counts_as_vote: true}\njudge: {auditor: r1, threshold: 0.9}\nhuman_votes: {permission: admin}\n").unwrap();
        assert_eq!(c.escalation.quorum, EscalatedQuorum::AtLeast(2));
        assert_eq!(c.judge.unwrap().threshold(), 0.9);
        assert_eq!(c.human_votes.permission, Permission::Admin);
    }

    #[test]
    fn permissions_are_ordered() {
        assert!(Permission::Admin > Permission::Maintain);
        assert!(Permission::Maintain > Permission::Write);
        assert_eq!(Permission::parse("push"), Some(Permission::Write));
        assert_eq!(Permission::parse("owner"), None);
    }
}
