//! `patchgate rules test`: every Rule-Guard rule against its own examples.

use std::path::PathBuf;

use anyhow::{Context, Result};

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::RuleSet;

pub(crate) fn cmd_rules_test(dir: Option<PathBuf>) -> Result<u8> {
    let registry = Registry::embedded().context("loading the language registry")?;
    let rules = match &dir {
        Some(d) => {
            RuleSet::load_dir(d).with_context(|| format!("loading rules from {}", d.display()))?
        }
        None => RuleSet::embedded().context("loading the built-in rule pack")?,
    };
    let report = rules.self_test(&registry);
    println!("{report}");
    Ok(if report.passed() { 0 } else { 1 })
}
