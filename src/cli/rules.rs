//! `patchgate rules test`: every Rule-Guard rule against its own examples.

use std::path::PathBuf;

use anyhow::{Context, Result};

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::RuleSet;
use serde_json::json;

use super::args::Format;
use super::print_json;

pub(crate) fn cmd_rules_test(dir: Option<PathBuf>, format: Format) -> Result<u8> {
    let registry = Registry::embedded().context("loading the language registry")?;
    let rules = match &dir {
        Some(d) => {
            RuleSet::load_dir(d).with_context(|| format!("loading rules from {}", d.display()))?
        }
        None => RuleSet::embedded().context("loading the built-in rule pack")?,
    };
    let report = rules.self_test(&registry);
    match format {
        Format::Text => println!("{report}"),
        Format::Json => print_json(&json!({
            "rules": report.rules,
            "examples": report.examples,
            "passed": report.passed(),
            "failures": report.failures.iter().map(|f| json!({
                "rule_id": f.rule_id,
                "expectation": f.expectation.to_string(),
                "index": f.index,
                "reason": f.reason,
            })).collect::<Vec<_>>(),
        })),
    }
    Ok(if report.passed() { 0 } else { 1 })
}
