//! A repository's own settings, `.github/patchgate.yml`, always read from the **base** commit —
//! never from the change's head, so a change cannot relax its own gate.
//!
//! It may set the variance threshold, add or disable Rule-Guard rules by id, make the check
//! advisory, require a render B, shape rollbacks and override the post-merge policy. It may not
//! disable or replace a secret rule, and it can never name endpoints, keys or commands (those
//! live in the server config only, so a repository cannot make patchgate call an address or run
//! a program of its choosing). Every key is optional; unknown keys are refused with their path.
//!
//! Inheritance follows Probot's `_extends` convention: `_extends: .github` (the owner's
//! `.github` repository), `_extends: other-repo`, `_extends: owner/repo`, each with an optional
//! `:path/to/file.yml` (default `.github/patchgate.yml`). The extended file is the base and the
//! file's own keys win: mappings merge key by key, anything else (lists included) is replaced,
//! and `key: null` undoes what a base set. A repository with no file at all takes its owner's
//! `.github` repository's file, if there is one. Chains stop after [`MAX_EXTENDS_DEPTH`] hops
//! and cycles are refused. Fetching other repositories' files is the caller's I/O, through
//! [`ConfigSource`]; this module never fetches anything itself.
//!
//! Invalid configuration fails closed: [`resolve`] returns every problem it found and the
//! built-in defaults, and the caller blocks the merge until the base branch is fixed. Offline
//! (the CLI), [`resolve_offline`] reads only the local file: `_extends` is not followed there and
//! a note says so.

mod check;
mod extends;
mod target;

use git2::{Oid, Repository};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::astdiff::exclude::{GlobError, PathFilter};
use crate::astdiff::registry::Registry;
use crate::audit::rule_guard::{RuleError, RuleSet, SelfTestFailure};
use crate::policy::{PolicyError, PolicySet};

use check::{check_file, check_merged, parse_value, shown_path, to_config, yaml_text};
pub use extends::{
    render_problems, resolve, resolve_offline, ConfigProblem, ConfigSource, ResolvedConfig,
};
pub use target::{parse_extends, ExtendsTarget};

/// Where the file lives in a repository.
pub const REPO_CONFIG_PATH: &str = ".github/patchgate.yml";

/// `_extends` hops followed from a repository's file before giving up.
pub const MAX_EXTENDS_DEPTH: usize = 5;

/// Config files larger than this are refused (a config is a few hundred bytes).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// `.github/patchgate.yml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Dual-render variance threshold, percent (a flag or `PATCHGATE_THRESHOLD_PERCENT` wins).
    #[serde(default)]
    pub threshold_percent: Option<f64>,
    #[serde(default)]
    pub rules: RepoRules,
    /// The check concludes `neutral` instead of `failure` (it reports, it does not block).
    #[serde(default)]
    pub advisory: bool,
    #[serde(default)]
    pub render_b: RenderBConfig,
    #[serde(default)]
    pub diff: DiffConfig,
    #[serde(default)]
    pub rollback: RollbackConfig,
    /// Overrides of the post-merge policy (`rules/policy.yaml`'s keys), handed to
    /// [`PolicySet::with_repo_overrides`]; see [`RepoConfig::effective_policy`].
    #[serde(default)]
    pub policy: Option<Value>,
    /// The file this one extends, as written (only set by [`parse`]; [`resolve`] follows it).
    #[serde(default, rename = "_extends")]
    pub extends: Option<String>,
}

/// `render_b:` — whether a change needs a second rendering, and whether patchgate asks one of
/// the server's builders for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderBConfig {
    /// A change without a render B does not pass.
    #[serde(default)]
    pub required: bool,
    /// The server's builder (`builders:` of the server config, by name) asked for a render B
    /// when the change has none.
    #[serde(default)]
    pub builder: Option<String>,
    /// When the builder is asked (default `always`).
    #[serde(default)]
    pub when: RenderBWhen,
    /// `when: label`: the label that asks (default [`DEFAULT_RENDER_B_LABEL`]).
    #[serde(default)]
    pub label: Option<String>,
    /// `when: paths`: globs; a change touching one of these paths asks.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The label that asks for a render B under `when: label` unless `render_b.label` names another.
pub const DEFAULT_RENDER_B_LABEL: &str = "patchgate:render-b";

/// `render_b.when`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenderBWhen {
    /// Every change without a render B.
    #[default]
    Always,
    /// A pull request carrying the label (`render_b.label`); never a local range.
    Label,
    /// A change touching one of `render_b.paths`.
    Paths,
}

impl RenderBConfig {
    /// Whether the builder is asked for this change: its labels (none for a local range) and
    /// the paths it touches. `Ok(None)` when no builder is named.
    pub fn asks(&self, labels: &[String], paths: &[String]) -> Result<Option<&str>, GlobError> {
        let Some(builder) = self.builder.as_deref() else {
            return Ok(None);
        };
        let asked = match self.when {
            RenderBWhen::Always => true,
            RenderBWhen::Label => {
                let want = self.label.as_deref().unwrap_or(DEFAULT_RENDER_B_LABEL);
                labels.iter().any(|l| l == want)
            }
            RenderBWhen::Paths => {
                let filter = PathFilter::new(&self.paths)?;
                paths.iter().any(|p| filter.matching(p).is_some())
            }
        };
        Ok(asked.then_some(builder))
    }
}

/// `diff:` — what the dual-render comparison leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffConfig {
    /// Globs of paths that do not count in the renders' variance (reported apart); unset: the
    /// defaults of [`crate::astdiff::exclude::DEFAULT_EXCLUDES`], `[]`: every file counts.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
}

impl DiffConfig {
    /// The compiled exclude list (the file was checked, so its globs compile; one that does
    /// not is an error all the same, never a silently shorter list).
    pub fn filter(&self) -> Result<PathFilter, GlobError> {
        match &self.exclude {
            None => Ok(PathFilter::defaults()),
            Some(globs) => PathFilter::new(globs),
        }
    }
}

/// `rollback:` — how a merge is reverted. Unset keys take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    #[serde(default)]
    pub action: Option<RollbackAction>,
    /// Labels put on a revert pull request.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Automatic reverts only this many hours after the merge (policy `window_hours`).
    #[serde(default)]
    pub window_hours: Option<u32>,
    /// Automatic reverts per day (policy `max_reverts_per_day`; 0 = only report).
    #[serde(default)]
    pub max_per_day: Option<u32>,
    /// A PR with this label is never reverted automatically (policy `freeze_label`).
    #[serde(default)]
    pub freeze_exempt_label: Option<String>,
}

/// `rollback.action`: the one type the rollback flow uses too.
pub use crate::policy::RollbackAction;

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

impl RepoRules {
    /// The ids of the rules in `add` (an entry without a string `id` is refused when the rules
    /// are applied, so it has none here).
    pub fn added_ids(&self) -> Vec<&str> {
        self.add
            .iter()
            .filter_map(|r| r.get("id").and_then(|i| i.as_str()))
            .collect()
    }
}

impl RepoConfig {
    /// The embedded policy overlaid with `policy:`, then with `rollback.window_hours`,
    /// `rollback.max_per_day` and `rollback.freeze_exempt_label` (which name the same settings).
    pub fn effective_policy(&self) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet::embedded()?;
        if let Some(p) = &self.policy {
            set = set.with_repo_overrides(&yaml_text(p))?;
        }
        let mut m = Mapping::new();
        if let Some(h) = self.rollback.window_hours {
            m.insert("window_hours".into(), h.into());
        }
        if let Some(n) = self.rollback.max_per_day {
            m.insert("max_reverts_per_day".into(), n.into());
        }
        if let Some(l) = &self.rollback.freeze_exempt_label {
            m.insert("freeze_label".into(), l.as_str().into());
        }
        if m.is_empty() {
            Ok(set)
        } else {
            set.with_repo_overrides(&yaml_text(&Value::Mapping(m)))
        }
    }
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

/// Parse and check one repository config file on its own (`_extends` is kept, not followed).
pub fn parse(text: &str, commit: &str) -> Result<RepoConfig, RepoConfigError> {
    let invalid = |detail: String| RepoConfigError::Invalid {
        commit: commit.to_string(),
        detail,
    };
    let value = parse_value(text).map_err(invalid)?;
    let mut found = Vec::new();
    check_file(&value, &mut found);
    if found.is_empty() {
        check_merged(&value, &mut found);
    }
    if !found.is_empty() {
        let detail = found
            .iter()
            .map(|(path, message)| format!("{}: {message}", shown_path(path)))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(invalid(detail));
    }
    to_config(value).map_err(invalid)
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

/// The self-test failures of the repository's own rules (`rules.add`) within `rules`, the pack
/// with the repository's changes applied: a rule that fails its own examples would make every
/// scan reject. The built-in pack's own failures are not the repository's and are left out.
pub fn own_rule_failures(
    cfg: &RepoConfig,
    rules: &RuleSet,
    registry: &Registry,
) -> Vec<SelfTestFailure> {
    let own = cfg.rules.added_ids();
    rules
        .self_test(registry)
        .failures
        .into_iter()
        .filter(|f| own.contains(&f.rule_id.as_str()))
        .collect()
}
