//! The rule file format (`rules/*.yaml`) and its compilation into checked rules.
//!
//! One entry per rule: `id`, `message`, `severity`, `languages`, `secret`, `note`, optional
//! `files`/`ignores` path globs, and exactly one matcher — `rule:` (an ast-grep rule object,
//! with optional `constraints`/`utils`), `query:` (a tree-sitter query reporting `@match`),
//! `added_line:` (a regular expression over added lines, with `also_in_file`, `min_entropy` and
//! `mask`), or `path:` (globs over changed paths, with `status` and `unless_changed`). Every
//! rule carries `examples: {match: [...], no_match: [...]}` for `patchgate rules test`.
//!
//! It must never accept a rule it cannot run as written: unknown fields, two matchers, a
//! syntax rule without a language or a secret rule that is not a regular expression are load
//! errors, never silently ignored rules.

use std::collections::HashMap;

use ast_grep_config::{SerializableRule, SerializableRuleCore};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::RuleError;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What happened to a file in the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    #[default]
    Modified,
    Deleted,
}

/// Which statuses a path rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Added,
    Modified,
    Deleted,
    #[default]
    Any,
}

impl StatusFilter {
    pub fn accepts(self, s: FileStatus) -> bool {
        matches!(
            (self, s),
            (StatusFilter::Any, _)
                | (StatusFilter::Added, FileStatus::Added)
                | (StatusFilter::Modified, FileStatus::Modified)
                | (StatusFilter::Deleted, FileStatus::Deleted)
        )
    }
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// One rule entry as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub id: String,
    pub message: String,
    pub severity: Severity,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub fallback: bool,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub ignores: Vec<String>,
    // syntax matcher (ast-grep)
    #[serde(default)]
    pub rule: Option<SerializableRule>,
    #[serde(default)]
    pub constraints: Option<HashMap<String, SerializableRule>>,
    #[serde(default)]
    pub utils: Option<HashMap<String, SerializableRule>>,
    // syntax matcher (tree-sitter query)
    #[serde(default)]
    pub query: Option<String>,
    // line matcher
    #[serde(default)]
    pub added_line: Option<String>,
    #[serde(default)]
    pub also_in_file: Vec<String>,
    #[serde(default)]
    pub min_entropy: Option<f64>,
    #[serde(default)]
    pub min_char_classes: Option<u8>,
    #[serde(default)]
    pub mask: Option<String>,
    // path matcher
    #[serde(default)]
    pub path: Option<OneOrMany>,
    #[serde(default)]
    pub unless_changed: Vec<String>,
    #[serde(default)]
    pub status: Option<StatusFilter>,
    #[serde(default)]
    pub examples: Examples,
}

/// A rule's examples: each `match` example must produce a finding of the rule, each
/// `no_match` example must not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default, rename = "match")]
    pub matching: Vec<Example>,
    #[serde(default)]
    pub no_match: Vec<Example>,
}

/// One example.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Example {
    /// The after-image of an added file (syntax and line rules).
    Code(String),
    /// The changed paths of a change (path rules): `"M path"`, `"A path"`, `"D path"`, a bare
    /// path (modified), or `{path, status}`.
    Changes(Vec<ChangeExample>),
    /// Code with its language, path, or before-image (`old`: the example is then a
    /// modification of `old`, and only what it adds counts).
    Detailed(CodeExample),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeExample {
    pub code: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub old: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChangeExample {
    Short(String),
    Full {
        path: String,
        #[serde(default)]
        status: FileStatus,
    },
}

impl ChangeExample {
    pub fn path_and_status(&self) -> (String, FileStatus) {
        match self {
            ChangeExample::Full { path, status } => (path.clone(), *status),
            ChangeExample::Short(s) => {
                let status = match s.get(..2) {
                    Some("A ") => Some(FileStatus::Added),
                    Some("M ") => Some(FileStatus::Modified),
                    Some("D ") => Some(FileStatus::Deleted),
                    _ => None,
                };
                match status {
                    Some(st) => (s[2..].trim().to_string(), st),
                    None => (s.trim().to_string(), FileStatus::Modified),
                }
            }
        }
    }
}

/// A compiled line matcher.
#[derive(Debug, Clone)]
pub(crate) struct LineMatcher {
    pub regex: Regex,
    pub also_in_file: Vec<Regex>,
    pub min_entropy: Option<f64>,
    /// How many of lowercase, uppercase and digits the secret must mix (1 to 3).
    pub min_char_classes: Option<u8>,
    pub mask: Option<Regex>,
}

impl LineMatcher {
    /// Whether a matched secret passes the entropy and character-class checks.
    pub fn strong_enough(&self, secret: &str) -> bool {
        if let Some(min) = self.min_entropy {
            if super::secrets::shannon_entropy(secret) < min {
                return false;
            }
        }
        if let Some(min) = self.min_char_classes {
            if super::secrets::char_classes(secret) < min {
                return false;
            }
        }
        true
    }
}

/// A compiled path matcher.
#[derive(Debug, Clone)]
pub(crate) struct PathMatcher {
    pub globs: GlobSet,
    pub status: StatusFilter,
    /// Globs; `{dir}` stands for the directory of the matched path.
    pub unless_changed: Vec<String>,
}

#[derive(Clone)]
pub(crate) enum MatcherKind {
    /// An ast-grep rule, compiled per language when a file of that language is scanned.
    Syntax(Box<SerializableRuleCore>),
    /// A tree-sitter query; the `@match` capture is reported.
    Query(String),
    AddedLine(LineMatcher),
    Path(PathMatcher),
}

impl MatcherKind {
    pub fn kind_name(&self) -> &'static str {
        match self {
            MatcherKind::Syntax(_) => "syntax",
            MatcherKind::Query(_) => "query",
            MatcherKind::AddedLine(_) => "added_line",
            MatcherKind::Path(_) => "path",
        }
    }
}

/// A checked rule, ready to scan.
#[derive(Clone)]
pub struct Rule {
    pub id: String,
    pub message: String,
    pub severity: Severity,
    /// Registry language names; empty = every file.
    pub languages: Vec<String>,
    pub secret: bool,
    pub note: Option<String>,
    /// A fallback finding is dropped where a rule that is not a fallback (of the same secret
    /// status) reports the same line: the generic secret rule defers to the specific ones.
    pub fallback: bool,
    /// Where the rule was loaded from (a file name, `repo`, …).
    pub source: String,
    pub examples: Examples,
    pub(crate) files: Option<GlobSet>,
    pub(crate) ignores: Option<GlobSet>,
    pub(crate) matcher: MatcherKind,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("kind", &self.matcher.kind_name())
            .field("severity", &self.severity)
            .field("languages", &self.languages)
            .field("secret", &self.secret)
            .field("source", &self.source)
            .finish()
    }
}

impl Rule {
    /// `syntax`, `query`, `added_line` or `path`.
    pub fn kind(&self) -> &'static str {
        self.matcher.kind_name()
    }

    /// Whether the rule looks at `path` at all (its `files` and `ignores` globs).
    pub fn applies_to_path(&self, path: &str) -> bool {
        let path = normalize_path(path);
        if let Some(files) = &self.files {
            if !files.is_match(path) {
                return false;
            }
        }
        if let Some(ignores) = &self.ignores {
            if ignores.is_match(path) {
                return false;
            }
        }
        true
    }

    /// The regular expression that masks this rule's secrets in arbitrary text.
    pub(crate) fn mask_regex(&self) -> Option<&Regex> {
        if !self.secret {
            return None;
        }
        match &self.matcher {
            MatcherKind::AddedLine(m) => Some(m.mask.as_ref().unwrap_or(&m.regex)),
            _ => None,
        }
    }
}

pub(crate) fn normalize_path(path: &str) -> &str {
    path.trim_start_matches("./")
}

/// Compile one glob: `*` stays within a path segment; a glob without `/` matches the file name
/// at any depth (as in `.gitignore`).
pub(crate) fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim().trim_start_matches("./");
        let full = if p.contains('/') {
            p.trim_start_matches('/').to_string()
        } else {
            format!("**/{p}")
        };
        let glob = GlobBuilder::new(&full)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("bad glob `{p}`: {e}"))?;
        b.add(glob);
    }
    b.build().map_err(|e| e.to_string())
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn compile_regex(id: &str, field: &str, re: &str) -> Result<Regex, RuleError> {
    Regex::new(re).map_err(|e| RuleError::Invalid {
        id: id.to_string(),
        reason: format!("`{field}` is not a valid regular expression: {e}"),
    })
}

impl RuleSpec {
    /// Check and compile a rule as written.
    pub fn compile(self, source: &str) -> Result<Rule, RuleError> {
        let id = self.id.trim().to_string();
        let invalid = |reason: String| RuleError::Invalid {
            id: id.clone(),
            reason,
        };
        if !valid_id(&id) {
            return Err(invalid(
                "ids are lowercase letters, digits, `-`, `_` and `.`".into(),
            ));
        }
        if self.message.trim().is_empty() {
            return Err(invalid("`message` is empty".into()));
        }
        let matchers = [
            self.rule.is_some(),
            self.query.is_some(),
            self.added_line.is_some(),
            self.path.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if matchers != 1 {
            return Err(invalid(format!(
                "a rule has exactly one matcher among `rule`, `query`, `added_line` and `path` (found {matchers})"
            )));
        }
        let only_with = |present: bool, field: &str, matcher: &str| -> Result<(), RuleError> {
            if present {
                Err(RuleError::Invalid {
                    id: id.clone(),
                    reason: format!("`{field}` only goes with `{matcher}`"),
                })
            } else {
                Ok(())
            }
        };
        if self.rule.is_none() {
            only_with(self.constraints.is_some(), "constraints", "rule")?;
            only_with(self.utils.is_some(), "utils", "rule")?;
        }
        if self.added_line.is_none() {
            only_with(!self.also_in_file.is_empty(), "also_in_file", "added_line")?;
            only_with(self.min_entropy.is_some(), "min_entropy", "added_line")?;
            only_with(
                self.min_char_classes.is_some(),
                "min_char_classes",
                "added_line",
            )?;
            only_with(self.mask.is_some(), "mask", "added_line")?;
        }
        if self.path.is_none() {
            only_with(!self.unless_changed.is_empty(), "unless_changed", "path")?;
            only_with(self.status.is_some(), "status", "path")?;
        }
        if (self.rule.is_some() || self.query.is_some()) && self.languages.is_empty() {
            return Err(invalid(
                "a syntax rule (`rule` or `query`) needs `languages`".into(),
            ));
        }
        if self.path.is_some() && !self.languages.is_empty() {
            return Err(invalid(
                "a `path` rule is language-independent; drop `languages`".into(),
            ));
        }
        if self.secret && self.added_line.is_none() {
            return Err(invalid(
                "a secret rule must be an `added_line` regular expression (it also masks model prompts)".into(),
            ));
        }
        if self.mask.is_some() && !self.secret {
            return Err(invalid("`mask` only applies to secret rules".into()));
        }
        let mut languages = Vec::new();
        for l in &self.languages {
            let l = l.trim().to_string();
            if !languages.contains(&l) {
                languages.push(l);
            }
        }
        let files = if self.files.is_empty() {
            None
        } else {
            Some(glob_set(&self.files).map_err(|e| invalid(format!("`files`: {e}")))?)
        };
        let ignores = if self.ignores.is_empty() {
            None
        } else {
            Some(glob_set(&self.ignores).map_err(|e| invalid(format!("`ignores`: {e}")))?)
        };

        let matcher = if let Some(rule) = self.rule {
            MatcherKind::Syntax(Box::new(SerializableRuleCore {
                rule,
                constraints: self.constraints,
                utils: self.utils,
                transform: None,
            }))
        } else if let Some(q) = self.query {
            if !q.contains("@match") {
                return Err(invalid(
                    "a `query` must capture the reported node as `@match`".into(),
                ));
            }
            MatcherKind::Query(q)
        } else if let Some(re) = self.added_line {
            let regex = compile_regex(&id, "added_line", &re)?;
            let also_in_file = self
                .also_in_file
                .iter()
                .map(|r| compile_regex(&id, "also_in_file", r))
                .collect::<Result<Vec<_>, _>>()?;
            let mask = self
                .mask
                .as_deref()
                .map(|r| compile_regex(&id, "mask", r))
                .transpose()?;
            if let Some(e) = self.min_entropy {
                if !(0.0..=8.0).contains(&e) {
                    return Err(invalid(
                        "`min_entropy` is in bits per character, 0 to 8".into(),
                    ));
                }
            }
            if let Some(c) = self.min_char_classes {
                if !(1..=3).contains(&c) {
                    return Err(invalid(
                        "`min_char_classes` counts lowercase, uppercase and digits: 1 to 3".into(),
                    ));
                }
            }
            MatcherKind::AddedLine(LineMatcher {
                regex,
                also_in_file,
                min_entropy: self.min_entropy,
                min_char_classes: self.min_char_classes,
                mask,
            })
        } else if let Some(paths) = self.path {
            let patterns = paths.into_vec();
            if patterns.is_empty() {
                return Err(invalid("`path` lists no glob".into()));
            }
            let globs = glob_set(&patterns).map_err(|e| invalid(format!("`path`: {e}")))?;
            for u in &self.unless_changed {
                glob_set(&[u.replace("{dir}", "x")])
                    .map_err(|e| invalid(format!("`unless_changed`: {e}")))?;
            }
            MatcherKind::Path(PathMatcher {
                globs,
                status: self.status.unwrap_or_default(),
                unless_changed: self.unless_changed,
            })
        } else {
            unreachable!("exactly one matcher was checked above")
        };

        Ok(Rule {
            id,
            message: self.message.trim().to_string(),
            severity: self.severity,
            languages,
            secret: self.secret,
            note: self.note,
            fallback: self.fallback,
            source: source.to_string(),
            examples: self.examples,
            files,
            ignores,
            matcher,
        })
    }
}

/// Parse a rule file: a YAML list of rules, one rule, or several `---`-separated documents of
/// either.
pub(crate) fn parse_rule_file(text: &str, source: &str) -> Result<Vec<Rule>, RuleError> {
    let mut out = Vec::new();
    for (doc_index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| RuleError::Yaml {
            source_name: source.to_string(),
            detail: e.to_string(),
        })?;
        let entries = match value {
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::Sequence(items) => items,
            v @ serde_yaml::Value::Mapping(_) => vec![v],
            _ => {
                return Err(RuleError::Yaml {
                    source_name: source.to_string(),
                    detail: format!(
                        "document {} is neither a rule nor a list of rules",
                        doc_index + 1
                    ),
                })
            }
        };
        for (i, entry) in entries.into_iter().enumerate() {
            let name = entry
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("entry {} of document {}", i + 1, doc_index + 1));
            let spec: RuleSpec = serde_yaml::from_value(entry).map_err(|e| RuleError::Invalid {
                id: name.clone(),
                reason: format!("{source}: {e}"),
            })?;
            out.push(spec.compile(source)?);
        }
    }
    Ok(out)
}
