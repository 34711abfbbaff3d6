//! A repository's own settings, `.github/patchgate.yml`, always read from the **base** commit —
//! never from the change's head, so a change cannot relax its own gate.
//!
//! It may set the variance threshold and add or disable Rule-Guard rules by id; it may not
//! disable or replace a secret rule, and it cannot name endpoints, keys or commands (those live
//! in the server config only). Every key is optional; unknown keys are refused with their name.

use git2::{Oid, Repository};
use serde::Deserialize;

use crate::audit::rule_guard::{RuleError, RuleSet};

/// Where the file lives in a repository.
pub const REPO_CONFIG_PATH: &str = ".github/patchgate.yml";

/// `.github/patchgate.yml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Dual-render variance threshold, percent (a flag or `PATCHGATE_THRESHOLD_PERCENT` wins).
    #[serde(default)]
    pub threshold_percent: Option<f64>,
    #[serde(default)]
    pub rules: RepoRules,
}

/// `rules:` — the repository's changes to the Rule-Guard pack.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoRules {
    /// Rule ids to switch off (never a secret rule).
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules of the repository's own, in the format of `rules/*.yaml`.
    #[serde(default)]
    pub add: Vec<serde_yaml::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoConfigError {
    #[error("{REPO_CONFIG_PATH} at {commit}: {detail}")]
    Invalid { commit: String, detail: String },
    #[error("{REPO_CONFIG_PATH} at {commit}: {source}")]
    Rules { commit: String, source: RuleError },
    #[error("reading {REPO_CONFIG_PATH} at {commit}: {source}")]
    Git { commit: String, source: git2::Error },
}

/// The repository config at `commit`, if the file exists there.
pub fn load_at(repo: &Repository, commit: Oid) -> Result<Option<RepoConfig>, RepoConfigError> {
    let git = |source| RepoConfigError::Git {
        commit: commit.to_string(),
        source,
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(git)?;
    let entry = match tree.get_path(std::path::Path::new(REPO_CONFIG_PATH)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git(e)),
    };
    let blob = entry
        .to_object(repo)
        .and_then(|o| o.peel_to_blob())
        .map_err(git)?;
    parse(
        &String::from_utf8_lossy(blob.content()),
        &commit.to_string(),
    )
    .map(Some)
}

/// The repository config at `commit` (default when absent) and the rule pack it makes of `pack`.
pub fn rules_at(
    repo: &Repository,
    commit: Oid,
    pack: RuleSet,
) -> Result<(RepoConfig, RuleSet), RepoConfigError> {
    let cfg = load_at(repo, commit)?.unwrap_or_default();
    let rules = apply_rules(pack, &cfg, &commit.to_string())?;
    Ok((cfg, rules))
}

/// Parse and check a repository config.
pub fn parse(text: &str, commit: &str) -> Result<RepoConfig, RepoConfigError> {
    let invalid = |detail: String| RepoConfigError::Invalid {
        commit: commit.to_string(),
        detail,
    };
    if text.trim().is_empty() {
        return Ok(RepoConfig::default());
    }
    let cfg: RepoConfig = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if let Some(t) = cfg.threshold_percent {
        if !(t.is_finite() && (0.0..=100.0).contains(&t)) {
            return Err(invalid(format!(
                "threshold_percent: {t} is not a percentage between 0 and 100"
            )));
        }
    }
    Ok(cfg)
}

/// The rule pack with the repository's additions and removals (secret rules stay).
pub fn apply_rules(
    pack: RuleSet,
    cfg: &RepoConfig,
    commit: &str,
) -> Result<RuleSet, RepoConfigError> {
    if cfg.rules.add.is_empty() && cfg.rules.disable.is_empty() {
        return Ok(pack);
    }
    let rules_err = |source| RepoConfigError::Rules {
        commit: commit.to_string(),
        source,
    };
    let added = if cfg.rules.add.is_empty() {
        RuleSet::from_rules(Vec::new()).map_err(rules_err)?
    } else {
        let text = serde_yaml::to_string(&cfg.rules.add).map_err(|e| RepoConfigError::Invalid {
            commit: commit.to_string(),
            detail: format!("rules.add: {e}"),
        })?;
        RuleSet::from_yaml(&text, REPO_CONFIG_PATH).map_err(rules_err)?
    };
    pack.with_repo_overrides(added, &cfg.rules.disable)
        .map_err(rules_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_unknown_keys_are_refused() {
        assert_eq!(parse("", "c").unwrap(), RepoConfig::default());
        assert_eq!(
            parse("threshold_percent: 5\n", "c")
                .unwrap()
                .threshold_percent,
            Some(5.0)
        );
        let err = parse(
            "auditors: [{name: x, kind: openai, base_url: http://evil}]\n",
            "c",
        )
        .unwrap_err();
        assert!(err.to_string().contains("auditors"), "{err}");
        assert!(parse("threshold_percent: 300\n", "c").is_err());
    }

    #[test]
    fn a_repository_may_disable_and_add_rules_but_not_weaken_secret_rules() {
        let pack = RuleSet::embedded().unwrap();
        let n = pack.len();
        let cfg = parse(
            "rules:\n  disable: [rust-dbg-macro]\n  add:\n    - id: no-todo-comments\n      message: TODO left in\n      severity: warning\n      added_line: 'TODO'\n      examples:\n        match: ['// TODO fix']\n        no_match: ['// done']\n",
            "c",
        )
        .unwrap();
        let rules = apply_rules(pack, &cfg, "c").unwrap();
        assert_eq!(rules.len(), n);
        assert!(rules.get("rust-dbg-macro").is_none());
        assert!(rules.get("no-todo-comments").is_some());
        let weaken = parse("rules:\n  disable: [secret-private-key]\n", "c").unwrap();
        let err = apply_rules(RuleSet::embedded().unwrap(), &weaken, "c").unwrap_err();
        assert!(err.to_string().contains("secret-private-key"), "{err}");
    }
}
