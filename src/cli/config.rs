//! `patchgate config check` and `patchgate config explain`: validate a server or repository
//! config, and show where each effective value came from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::config;
use patchgate::gate::repo_config;

use super::args::{Format, GlobalArgs};
use super::{print_json, settings};

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

pub(crate) fn cmd_config_check(
    global: &GlobalArgs,
    file: Option<PathBuf>,
    format: Format,
) -> Result<u8> {
    // (path or what, Ok(summary) | Err(problems)) for each thing checked, in order.
    let mut results: Vec<(String, std::result::Result<String, String>)> = Vec::new();
    let mut files = Vec::new();
    match file {
        Some(f) => files.push(f),
        None => {
            let s = settings(global, None);
            match s {
                Ok(s) => match &s.source {
                    config::ConfigOrigin::File(p) => files.push(p.clone()),
                    config::ConfigOrigin::EmbeddedDefault => results.push((
                        "server config".into(),
                        Ok("server config: the embedded default".into()),
                    )),
                },
                Err(e) => {
                    results.push(("server config".into(), Err(e.to_string())));
                    return Ok(report_checks(&results, format));
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
    for f in files {
        results.push((f.display().to_string(), check_config_file(&f)?));
    }
    Ok(report_checks(&results, format))
}

/// Print what `config check` found; exit 1 when anything has problems.
fn report_checks(results: &[(String, std::result::Result<String, String>)], format: Format) -> u8 {
    let bad = results.iter().any(|(_, r)| r.is_err());
    match format {
        Format::Text => {
            for (_, r) in results {
                match r {
                    Ok(what) => println!("OK  {what}"),
                    Err(problems) => println!("PROBLEM  {problems}"),
                }
            }
        }
        Format::Json => print_json(&serde_json::json!({
            "ok": !bad,
            "checked": results.iter().map(|(what, r)| match r {
                Ok(summary) => serde_json::json!({"what": what, "ok": true, "summary": summary}),
                Err(problems) => serde_json::json!({"what": what, "ok": false, "problems": problems}),
            }).collect::<Vec<_>>(),
        })),
    }
    u8::from(bad)
}
