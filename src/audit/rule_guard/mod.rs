//! Rule-Guard: the deterministic auditor of the quorum.
//!
//! Rules live in `rules/*.yaml` (the default pack is compiled in) and a repository may add its
//! own and disable some by id. Syntax rules are ast-grep rules (`ast-grep-core`/`ast-grep-config`,
//! the format many teams already write) or tree-sitter queries, run through the language
//! registry of `astdiff` so every registered language works; line rules are regular expressions
//! over added lines; path rules are globs over the changed paths. A change is judged, not the
//! file it touches: a syntax match counts only where it overlaps an added or modified line.
//! Findings become a vote through a severity table (`vote_for`).
//!
//! It must never leak a secret — a finding names the rule and the place and shows at most a
//! 4-character prefix, and `mask_secrets` redacts secret-looking text before a model sees it —
//! and it must never let a repository weaken a secret rule (disable or override it).

mod diff;
mod lang;
mod secrets;
mod selftest;
mod spec;
mod vote;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ast_grep_config::{DeserializeEnv, RuleCore};
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::AstGrep;
use serde::{Deserialize, Serialize};
use tree_sitter::StreamingIterator;

use crate::astdiff::registry::{self, Registry};

pub use diff::AddedLines;
pub use lang::{expando_char_for, DynLang};
pub use secrets::shannon_entropy;
pub use selftest::{Expectation, SelfTestFailure, SelfTestReport};
pub use spec::{
    ChangeExample, CodeExample, Example, Examples, FileStatus, Rule, Severity, StatusFilter,
};
pub use vote::{vote_for, Ruling, SeverityPolicy};

use spec::{MatcherKind, PathMatcher};

/// The default rule pack, compiled in. `rules/policy.yaml` is not a rule file.
pub const EMBEDDED_PACK: &[(&str, &str)] = &[
    (
        "rules/secrets.yaml",
        include_str!("../../../rules/secrets.yaml"),
    ),
    ("rules/rust.yaml", include_str!("../../../rules/rust.yaml")),
    (
        "rules/python.yaml",
        include_str!("../../../rules/python.yaml"),
    ),
    (
        "rules/javascript.yaml",
        include_str!("../../../rules/javascript.yaml"),
    ),
    ("rules/go.yaml", include_str!("../../../rules/go.yaml")),
    (
        "rules/tests.yaml",
        include_str!("../../../rules/tests.yaml"),
    ),
    ("rules/ci.yaml", include_str!("../../../rules/ci.yaml")),
    (
        "rules/general.yaml",
        include_str!("../../../rules/general.yaml"),
    ),
];

/// File names in a rules directory that are not rule files.
const NOT_RULE_FILES: &[&str] = &["policy.yaml", "policy.yml"];

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{source_name}: not a valid rule file: {detail}")]
    Yaml { source_name: String, detail: String },
    #[error("rule `{id}`: {reason}")]
    Invalid { id: String, reason: String },
    #[error("rule `{id}` is defined twice ({first} and {second})")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
    #[error("rule `{id}` is a secret rule: a repository may not {action} it")]
    SecretProtected { id: String, action: &'static str },
    #[error("cannot disable rule `{0}`: there is no rule with that id")]
    UnknownRule(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of a change. `old: None` is an added file, `new: None` a deleted one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    /// A registry language name; when `None`, the registry guesses from the path.
    pub language: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl ChangedFile {
    pub fn status(&self) -> FileStatus {
        match (&self.old, &self.new) {
            (None, Some(_)) => FileStatus::Added,
            (Some(_), None) => FileStatus::Deleted,
            _ => FileStatus::Modified,
        }
    }
}

/// One rule hit. It never contains the matched text of a secret rule (at most a 4-character
/// prefix in `message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub rule_id: String,
    pub severity: Severity,
    pub path: String,
    /// 1-based first line; `None` for a finding about the file as a whole (path rules).
    pub line: Option<usize>,
    /// 1-based last line, inclusive.
    pub end_line: Option<usize>,
    pub message: String,
    pub secret: bool,
}

/// A checked set of rules with unique ids.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The default pack shipped in the binary.
    pub fn embedded() -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        for (name, text) in EMBEDDED_PACK {
            rules.extend(spec::parse_rule_file(text, name)?);
        }
        Self::from_rules(rules)
    }

    /// Rules from YAML text (a list, one rule, or `---`-separated documents); `source` names
    /// the text in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<Self, RuleError> {
        Self::from_rules(spec::parse_rule_file(text, source)?)
    }

    /// Every `*.yaml`/`*.yml` file of a directory, in name order (`policy.yaml` excepted).
    pub fn load_dir(dir: &Path) -> Result<Self, RuleError> {
        let io = |e| RuleError::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| NOT_RULE_FILES.contains(&n))
            })
            .collect();
        paths.sort();
        let mut rules = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| RuleError::Io {
                path: p.clone(),
                source: e,
            })?;
            rules.extend(spec::parse_rule_file(&text, &p.display().to_string())?);
        }
        Self::from_rules(rules)
    }

    /// A set from rules, refusing duplicate ids.
    pub fn from_rules(rules: Vec<Rule>) -> Result<Self, RuleError> {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for r in &rules {
            if let Some(first) = seen.insert(&r.id, &r.source) {
                return Err(RuleError::Duplicate {
                    id: r.id.clone(),
                    first: first.to_string(),
                    second: r.source.clone(),
                });
            }
        }
        Ok(RuleSet { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// This set with a repository's rules and opt-outs: `disabled_ids` are removed, and each
    /// repository rule is added — or replaces the rule of the same id. Secret rules can be
    /// neither disabled nor replaced; an unknown id to disable is an error too (a typo must
    /// not pass for an opt-out).
    pub fn with_repo_overrides<S: AsRef<str>>(
        self,
        repo_rules: RuleSet,
        disabled_ids: &[S],
    ) -> Result<RuleSet, RuleError> {
        let mut rules = self.rules;
        for id in disabled_ids {
            let id = id.as_ref().trim();
            let Some(pos) = rules.iter().position(|r| r.id == id) else {
                return Err(RuleError::UnknownRule(id.to_string()));
            };
            if rules[pos].secret {
                return Err(RuleError::SecretProtected {
                    id: id.to_string(),
                    action: "disable",
                });
            }
            rules.remove(pos);
        }
        // Secret rules are all still here (disabling one failed above), so an override of one
        // is caught by id.
        for repo_rule in repo_rules.rules {
            match rules.iter().position(|r| r.id == repo_rule.id) {
                Some(pos) if rules[pos].secret => {
                    return Err(RuleError::SecretProtected {
                        id: repo_rule.id,
                        action: "override",
                    })
                }
                Some(pos) => rules[pos] = repo_rule,
                None => rules.push(repo_rule),
            }
        }
        Self::from_rules(rules)
    }

    /// Every finding of every rule on the changed files.
    pub fn scan(&self, registry: &Registry, files: &[ChangedFile]) -> Vec<Hit> {
        self.scan_rules(registry, files, |_| true)
    }

    /// Run every example of every rule; see [`SelfTestReport`].
    pub fn self_test(&self, registry: &Registry) -> SelfTestReport {
        selftest::run(self, registry)
    }

    pub(crate) fn scan_rules(
        &self,
        registry: &Registry,
        files: &[ChangedFile],
        select: impl Fn(&Rule) -> bool,
    ) -> Vec<Hit> {
        let rules: Vec<&Rule> = self.rules.iter().filter(|r| select(r)).collect();
        let mut scanner = Scanner {
            registry,
            compiled: HashMap::new(),
            failed: HashSet::new(),
            findings: Vec::new(),
        };
        for file in files {
            scanner.scan_file(&rules, file);
        }
        for rule in &rules {
            if let MatcherKind::Path(m) = &rule.matcher {
                scanner.scan_paths(rule, m, files);
            }
        }
        let mut findings = scanner.findings;
        // Fallback rules defer to the other rules on the same line.
        let fallback: HashSet<&str> = rules
            .iter()
            .filter(|r| r.fallback)
            .map(|r| r.id.as_str())
            .collect();
        if !fallback.is_empty() {
            let covered: HashSet<(String, Option<usize>, bool)> = findings
                .iter()
                .filter(|f| f.line.is_some() && !fallback.contains(f.rule_id.as_str()))
                .map(|f| (f.path.clone(), f.line, f.secret))
                .collect();
            findings.retain(|f| {
                !fallback.contains(f.rule_id.as_str())
                    || !covered.contains(&(f.path.clone(), f.line, f.secret))
            });
        }
        findings.sort_by(|a, b| {
            (&a.path, a.line, &a.rule_id, a.end_line)
                .cmp(&(&b.path, b.line, &b.rule_id, b.end_line))
        });
        findings.dedup_by(|a, b| a.rule_id == b.rule_id && a.path == b.path && a.line == b.line);
        findings
    }
}

/// Replace every match of the secret rules in `text` by `[REDACTED:<rule-id>]`. Applied to
/// everything that leaves patchgate for a model. It masks without the entropy check of the
/// rules' findings: a weak password is still a password.
pub fn mask_secrets(text: &str, ruleset: &RuleSet) -> String {
    let mut out = text.to_string();
    for rule in &ruleset.rules {
        if let Some(re) = rule.mask_regex() {
            out = secrets::mask_text(&out, re, &rule.id);
        }
    }
    out
}

enum Compiled {
    Syntax(RuleCore),
    Query {
        query: tree_sitter::Query,
        capture: u32,
    },
}

struct Scanner<'a> {
    registry: &'a Registry,
    /// (rule id, language) → compiled matcher or the reason it failed.
    compiled: HashMap<(String, String), Result<Compiled, String>>,
    failed: HashSet<(String, String)>,
    findings: Vec<Hit>,
}

pub(crate) fn compile_for(rule: &Rule, lang: &registry::Language) -> Result<(), String> {
    compile_matcher(rule, lang).map(|_| ())
}

fn compile_matcher(rule: &Rule, lang: &registry::Language) -> Result<Compiled, String> {
    match &rule.matcher {
        MatcherKind::Syntax(core) => {
            let env = DeserializeEnv::new(DynLang::new(lang));
            core.get_matcher(env)
                .map(Compiled::Syntax)
                .map_err(|e| error_chain(&e))
        }
        MatcherKind::Query(src) => {
            let query = tree_sitter::Query::new(&lang.ts, src).map_err(|e| e.to_string())?;
            let capture = query
                .capture_index_for_name("match")
                .ok_or_else(|| "the query has no `@match` capture".to_string())?;
            Ok(Compiled::Query { query, capture })
        }
        _ => Err("not a syntax rule".into()),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// The 0-based first and last line of a node; a node ending at column 0 ends on the line before.
fn node_lines(node: &tree_sitter::Node<'_>) -> (usize, usize) {
    let start = node.start_position();
    let end = node.end_position();
    let last = if end.column == 0 && end.row > start.row {
        end.row - 1
    } else {
        end.row
    };
    (start.row, last)
}

fn format_message(rule: &Rule, matched: Option<&str>) -> String {
    match matched {
        Some(text) if rule.message.contains("{masked}") => {
            rule.message.replace("{masked}", &secrets::preview(text))
        }
        _ => rule.message.replace("{masked}", "…"),
    }
}

impl Scanner<'_> {
    fn push(&mut self, rule: &Rule, path: &str, lines: Option<(usize, usize)>, message: String) {
        self.findings.push(Hit {
            rule_id: rule.id.clone(),
            severity: rule.severity,
            path: path.to_string(),
            line: lines.map(|l| l.0 + 1),
            end_line: lines.map(|l| l.1 + 1),
            message,
            secret: rule.secret,
        });
    }

    fn scan_file(&mut self, rules: &[&Rule], file: &ChangedFile) {
        let Some(new) = file.new.as_deref() else {
            return;
        };
        if new.contains('\0') {
            return; // binary
        }
        let added = match file.old.as_deref() {
            None => AddedLines::all(new),
            Some(old) => AddedLines::between(old, new),
        };
        if added.is_empty() {
            return;
        }
        let lang = match file.language.as_deref() {
            Some(name) => self.registry.by_name(name),
            None => self.registry.for_path(Path::new(&file.path)),
        };
        let lang_name: Option<&str> = lang.map(|l| l.name()).or(file.language.as_deref());
        let lines: Vec<&str> = new.lines().collect();
        let mut tree: Option<AstGrep<StrDoc<DynLang>>> = None;

        for rule in rules {
            if matches!(rule.matcher, MatcherKind::Path(_)) || !rule.applies_to_path(&file.path) {
                continue;
            }
            if !rule.languages.is_empty()
                && !lang_name.is_some_and(|n| rule.languages.iter().any(|l| l == n))
            {
                continue;
            }
            match &rule.matcher {
                MatcherKind::AddedLine(m) => self.scan_lines(rule, m, file, new, &lines, &added),
                MatcherKind::Syntax(_) | MatcherKind::Query(_) => {
                    let Some(lang) = lang else { continue };
                    if tree.is_none() {
                        match AstGrep::try_new(new, DynLang::new(lang)) {
                            Ok(t) => tree = Some(t),
                            Err(e) => {
                                self.compile_failure(rule, lang.name(), &file.path, &e);
                                continue;
                            }
                        }
                    }
                    let Some(root) = tree.as_ref() else { continue };
                    self.scan_syntax(rule, lang, root, &file.path, new, &added);
                }
                MatcherKind::Path(_) => {}
            }
        }
    }

    fn compile_failure(&mut self, rule: &Rule, lang: &str, path: &str, why: &str) {
        // Fail closed: a rule that cannot run is an error finding, reported once per language.
        if self.failed.insert((rule.id.clone(), lang.to_string())) {
            let message = format!("rule could not run on {lang} files: {why}");
            self.findings.push(Hit {
                rule_id: rule.id.clone(),
                severity: Severity::Error,
                path: path.to_string(),
                line: None,
                end_line: None,
                message,
                secret: false,
            });
        }
    }

    fn scan_syntax(
        &mut self,
        rule: &Rule,
        lang: &registry::Language,
        root: &AstGrep<StrDoc<DynLang>>,
        path: &str,
        new: &str,
        added: &AddedLines,
    ) {
        let key = (rule.id.clone(), lang.name().to_string());
        if !self.compiled.contains_key(&key) {
            let c = compile_matcher(rule, lang);
            self.compiled.insert(key.clone(), c);
        }
        let mut hits: Vec<(usize, usize)> = Vec::new();
        match &self.compiled[&key] {
            Err(why) => {
                let why = why.clone();
                self.compile_failure(rule, lang.name(), path, &why);
                return;
            }
            Ok(Compiled::Syntax(core)) => {
                for m in root.root().find_all(core) {
                    hits.push(node_lines(&m.get_node().get_inner_node()));
                }
            }
            Ok(Compiled::Query { query, capture }) => {
                let ts_root = root.root().get_inner_node();
                let mut cursor = tree_sitter::QueryCursor::new();
                let mut matches = cursor.matches(query, ts_root, new.as_bytes());
                while let Some(m) = matches.next() {
                    for c in m.captures().iter().filter(|c| c.index == *capture) {
                        hits.push(node_lines(&c.node));
                    }
                }
            }
        }
        for (first, last) in hits {
            if added.overlaps(first, last) {
                let message = format_message(rule, None);
                self.push(rule, path, Some((first, last)), message);
            }
        }
    }

    fn scan_lines(
        &mut self,
        rule: &Rule,
        m: &spec::LineMatcher,
        file: &ChangedFile,
        new: &str,
        lines: &[&str],
        added: &AddedLines,
    ) {
        if !m.also_in_file.iter().all(|re| re.is_match(new)) {
            return;
        }
        let first_hit = |line: &str| -> Option<std::ops::Range<usize>> {
            m.regex.captures_iter(line).find_map(|caps| {
                let span = secrets::secret_span(&m.regex, &caps)?;
                m.strong_enough(&line[span.clone()]).then_some(span)
            })
        };
        let mut reported = false;
        for i in added.iter() {
            let Some(line) = lines.get(i) else { break };
            if let Some(span) = first_hit(line) {
                let message = format_message(rule, Some(&line[span]));
                self.push(rule, &file.path, Some((i, i)), message);
                reported = true;
            }
        }
        if reported || m.also_in_file.is_empty() {
            return;
        }
        // The change added the context next to a match that was already there: it makes the
        // combination, so it is reported on the added context lines.
        let Some(existing) = lines
            .iter()
            .find_map(|l| first_hit(l).map(|s| l[s].to_string()))
        else {
            return;
        };
        for i in added.iter() {
            let Some(line) = lines.get(i) else { break };
            if m.also_in_file.iter().any(|re| re.is_match(line)) {
                let message = format_message(rule, Some(&existing));
                self.push(rule, &file.path, Some((i, i)), message);
            }
        }
    }

    fn scan_paths(&mut self, rule: &Rule, m: &PathMatcher, files: &[ChangedFile]) {
        for file in files {
            let path = spec::normalize_path(&file.path);
            if !m.status.accepts(file.status()) || !m.globs.is_match(path) {
                continue;
            }
            if !rule.applies_to_path(path) {
                continue;
            }
            let dir = Path::new(path)
                .parent()
                .and_then(|d| d.to_str())
                .unwrap_or("");
            let excused = m.unless_changed.iter().any(|pattern| {
                let pattern = pattern.replace("{dir}", &globset::escape(dir));
                let Ok(set) = spec::glob_set(&[pattern]) else {
                    return false;
                };
                files
                    .iter()
                    .any(|f| f.path != file.path && set.is_match(spec::normalize_path(&f.path)))
            });
            if excused {
                continue;
            }
            let message = format_message(rule, None);
            self.push(rule, &file.path, None, message);
        }
    }
}

#[cfg(test)]
mod tests;
