//! `patchgate rules test`: every rule against its own examples.
//!
//! A rule is only as good as the examples that pin it down: each `match` example must produce a
//! finding of that rule and each `no_match` example must not. The self-test also checks that
//! each syntax rule compiles for each of its languages, that every rule has both kinds of
//! example, and that a secret rule's finding and mask never reveal what it matched.
//!
//! It must never pass a rule it could not run: an unregistered language, a pattern that does
//! not compile or an example of the wrong shape is a failure, not a skip.

use std::fmt;

use super::spec::{Example, FileStatus, MatcherKind};
use super::{mask_secrets, secrets, ChangedFile, Registry, Rule, RuleSet};

/// Which expectation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// A `match` example produced no finding.
    Match,
    /// A `no_match` example produced a finding.
    NoMatch,
    /// The rule itself: missing examples, unknown language, compile error, leaking secret.
    Rule,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expectation::Match => "match",
            Expectation::NoMatch => "no_match",
            Expectation::Rule => "rule",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTestFailure {
    pub rule_id: String,
    pub expectation: Expectation,
    /// 0-based index of the example in its list (`None` for rule-level failures).
    pub index: Option<usize>,
    pub reason: String,
}

impl fmt::Display for SelfTestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(
                f,
                "{} {}[{}]: {}",
                self.rule_id, self.expectation, i, self.reason
            ),
            None => write!(f, "{}: {}", self.rule_id, self.reason),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfTestReport {
    pub rules: usize,
    pub examples: usize,
    pub failures: Vec<SelfTestFailure>,
}

impl SelfTestReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for SelfTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failures {
            writeln!(f, "FAIL {failure}")?;
        }
        write!(
            f,
            "{} rules, {} examples: {}",
            self.rules,
            self.examples,
            if self.passed() {
                "all passed".to_string()
            } else {
                format!("{} failed", self.failures.len())
            }
        )
    }
}

pub(crate) fn run(set: &RuleSet, registry: &Registry) -> SelfTestReport {
    let mut report = SelfTestReport {
        rules: set.rules().len(),
        ..Default::default()
    };
    for rule in set.rules() {
        test_rule(set, registry, rule, &mut report);
    }
    report
}

fn fail(
    report: &mut SelfTestReport,
    rule: &Rule,
    e: Expectation,
    index: Option<usize>,
    reason: String,
) {
    report.failures.push(SelfTestFailure {
        rule_id: rule.id.clone(),
        expectation: e,
        index,
        reason,
    });
}

fn test_rule(set: &RuleSet, registry: &Registry, rule: &Rule, report: &mut SelfTestReport) {
    if rule.examples.matching.is_empty() || rule.examples.no_match.is_empty() {
        fail(
            report,
            rule,
            Expectation::Rule,
            None,
            "needs at least one `match` and one `no_match` example".into(),
        );
    }
    let syntax = matches!(rule.matcher, MatcherKind::Syntax(_) | MatcherKind::Query(_));
    for name in &rule.languages {
        match registry.by_name(name) {
            None => fail(
                report,
                rule,
                Expectation::Rule,
                None,
                format!("language `{name}` is not in the language registry"),
            ),
            Some(lang) if syntax => {
                if let Err(why) = super::compile_for(rule, lang) {
                    fail(
                        report,
                        rule,
                        Expectation::Rule,
                        None,
                        format!("does not compile for `{name}`: {why}"),
                    );
                }
            }
            Some(_) => {}
        }
    }
    let lists = [
        (Expectation::Match, &rule.examples.matching),
        (Expectation::NoMatch, &rule.examples.no_match),
    ];
    for (expect, examples) in lists {
        for (i, example) in examples.iter().enumerate() {
            report.examples += 1;
            if let Err(reason) = check_example(set, registry, rule, expect, example) {
                fail(report, rule, expect, Some(i), reason);
            }
        }
    }
}

fn default_path(registry: &Registry, language: Option<&str>) -> String {
    let Some(lang) = language.and_then(|l| registry.by_name(l)) else {
        return "example.txt".into();
    };
    if let Some(ext) = lang.spec.extensions.first() {
        format!("example.{}", ext.trim_start_matches('.'))
    } else if let Some(name) = lang.spec.filenames.first() {
        name.clone()
    } else {
        "example".into()
    }
}

fn check_example(
    set: &RuleSet,
    registry: &Registry,
    rule: &Rule,
    expect: Expectation,
    example: &Example,
) -> Result<(), String> {
    let is_path_rule = matches!(rule.matcher, MatcherKind::Path(_));
    let (files, code) = match example {
        Example::Changes(changes) => {
            if !is_path_rule {
                return Err("a list of changed paths only tests a `path` rule".into());
            }
            let files: Vec<ChangedFile> = changes
                .iter()
                .map(|c| {
                    let (path, status) = c.path_and_status();
                    let (old, new) = match status {
                        FileStatus::Added => (None, Some(String::new())),
                        FileStatus::Modified => (Some(String::new()), Some("\n".to_string())),
                        FileStatus::Deleted => (Some(String::new()), None),
                    };
                    ChangedFile {
                        path,
                        language: None,
                        old,
                        new,
                    }
                })
                .collect();
            (files, None)
        }
        Example::Code(_) | Example::Detailed(_) if is_path_rule => {
            return Err("a `path` rule is tested with a list of changed paths".into());
        }
        Example::Code(code) => {
            let language = rule.languages.first().cloned();
            let path = default_path(registry, language.as_deref());
            let file = ChangedFile {
                path,
                language,
                old: None,
                new: Some(code.clone()),
            };
            (vec![file], Some(code.as_str()))
        }
        Example::Detailed(d) => {
            let language = match &d.language {
                Some(l) if !rule.languages.is_empty() && !rule.languages.contains(l) => {
                    return Err(format!(
                        "example language `{l}` is not one of the rule's languages"
                    ));
                }
                Some(l) => Some(l.clone()),
                None => rule.languages.first().cloned(),
            };
            let path = d
                .path
                .clone()
                .unwrap_or_else(|| default_path(registry, language.as_deref()));
            let file = ChangedFile {
                path,
                language,
                old: d.old.clone(),
                new: Some(d.code.clone()),
            };
            (vec![file], Some(d.code.as_str()))
        }
    };

    let findings = set.scan_rules(registry, &files, |r| r.id == rule.id);
    if let Some(f) = findings
        .iter()
        .find(|f| f.message.starts_with("rule could not run"))
    {
        return Err(f.message.clone());
    }
    match expect {
        Expectation::Match if findings.is_empty() => {
            return Err(format!(
                "expected a finding, got none (on `{}`)",
                files_desc(&files)
            ));
        }
        Expectation::NoMatch if !findings.is_empty() => {
            let lines: Vec<String> = findings
                .iter()
                .map(|f| match f.line {
                    Some(l) => format!("{}:{l}", f.path),
                    None => f.path.clone(),
                })
                .collect();
            return Err(format!("expected no finding, got {}", lines.join(", ")));
        }
        _ => {}
    }
    if let (true, Expectation::Match, Some(code)) = (rule.secret, expect, code) {
        check_secret_hygiene(set, rule, code, &findings)?;
    }
    Ok(())
}

fn files_desc(files: &[ChangedFile]) -> String {
    files
        .iter()
        .map(|f| format!("{:?} {}", f.status(), f.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A secret rule's finding must not show what it matched, and masking must remove it.
fn check_secret_hygiene(
    set: &RuleSet,
    rule: &Rule,
    code: &str,
    findings: &[super::Hit],
) -> Result<(), String> {
    let Some(re) = rule.mask_regex() else {
        return Err("a secret rule needs a masking expression".into());
    };
    let MatcherKind::AddedLine(m) = &rule.matcher else {
        return Err("a secret rule must be an `added_line` rule".into());
    };
    let secrets: Vec<&str> = m
        .regex
        .captures_iter(code)
        .filter_map(|c| secrets::secret_span(&m.regex, &c).map(|s| &code[s]))
        .filter(|s| s.chars().count() >= 6)
        .collect();
    for f in findings {
        if secrets.iter().any(|s| f.message.contains(s)) {
            return Err("a finding's message reveals the matched secret".into());
        }
    }
    let masked = mask_secrets(code, set);
    let own = secrets::mask_text(code, re, &rule.id);
    if own == code {
        return Err("the rule's mask does not redact its own example".into());
    }
    if let Some(s) = secrets.iter().find(|s| masked.contains(**s)) {
        let _ = s; // never print it
        return Err("mask_secrets leaves the matched secret in the text".into());
    }
    Ok(())
}
