//! `patchgate config check` and `patchgate config explain`: validate a server or repository
//! config, and show where each effective value came from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::config;
use patchgate::gate::repo_config;

use super::args::GlobalArgs;
use super::settings;

/// Check one config file; the problems found, or what it is.
fn check_config_file(path: &Path) -> Result<std::result::Result<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    let value: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("{name}: not valid YAML: {e}"))),
    };
    if value.get("auditors").is_some() {
        return Ok(match config::ServerConfig::from_yaml(&text, &name) {
            Ok(c) => Ok(format!(
                "{name}: server config, {} auditor(s), {} approval(s) required, USD {} a day",
                c.auditors.len(),
                c.quorum.required,
                c.budget.daily_usd
            )),
            Err(e) => Err(e.to_string()),
        });
    }
    let cfg = match repo_config::parse(&text, "the working tree") {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("{name}: {e}"))),
    };
    let registry = Registry::embedded()?;
    match repo_config::apply_rules(RuleSet::embedded()?, &cfg, "the working tree") {
        Err(e) => Ok(Err(format!("{name}: {e}"))),
        Ok(rules) => {
            // The repository's own rules must pass their own examples, or every scan rejects.
            let failing: Vec<String> = repo_config::own_rule_failures(&cfg, &rules, &registry)
                .iter()
                .map(|f| format!("FAIL {f}"))
                .collect();
            if failing.is_empty() {
                Ok(Ok(format!(
                    "{name}: repository config, {} rule(s) added, {} disabled",
                    cfg.rules.add.len(),
                    cfg.rules.disable.len()
                )))
            } else {
                Ok(Err(format!(
                    "{name}: rules.add:\n  {}",
                    failing.join("\n  ")
                )))
            }
        }
    }
}

pub(crate) fn cmd_config_explain(global: &GlobalArgs) -> Result<u8> {
    print!("{}", config::explain(&settings(global, None)?));
    Ok(0)
}

pub(crate) fn cmd_config_check(global: &GlobalArgs, file: Option<PathBuf>) -> Result<u8> {
    let mut files = Vec::new();
    match file {
        Some(f) => files.push(f),
        None => {
            let s = settings(global, None);
            match s {
                Ok(s) => match &s.source {
                    config::ConfigSource::File(p) => files.push(p.clone()),
                    config::ConfigSource::EmbeddedDefault => {
                        println!("OK  server config: the embedded default");
                    }
                },
                Err(e) => {
                    println!("PROBLEM  {e}");
                    return Ok(1);
                }
            }
            if let Ok(repo) = git2::Repository::discover(".") {
                if let Some(dir) = repo.workdir() {
                    let p = dir.join(repo_config::REPO_CONFIG_PATH);
                    if p.is_file() {
                        files.push(p);
                    }
                }
            }
        }
    }
    let mut bad = false;
    for f in files {
        match check_config_file(&f)? {
            Ok(what) => println!("OK  {what}"),
            Err(problems) => {
                bad = true;
                println!("PROBLEM  {problems}");
            }
        }
    }
    Ok(u8::from(bad))
}
