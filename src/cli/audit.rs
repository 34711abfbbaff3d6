//! `patchgate audit`: the audit quorum on a local range, every vote printed.

use std::sync::Arc;

use anyhow::{Context, Result};

use patchgate::astdiff::input::from_revs;
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::{diff_change, DiffOptions};
use patchgate::audit::rule_guard::RuleSet;
use patchgate::gate::audit::render_audit_text;
use patchgate::gate::auditors::audit_prepared;
use patchgate::gate::check::repo_name;
use patchgate::gate::input::{prepare, ChangeId};
use patchgate::gate::repo_config;

use super::args::{AuditArgs, Format, GlobalArgs};
use super::{env_var, open_store, settings, use_color};

pub(crate) async fn cmd_audit(global: &GlobalArgs, args: AuditArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let store: Arc<dyn patchgate::audit::spend::SpendStore> =
        Arc::new(open_store(&settings).await?);
    let registry = Arc::new(Registry::embedded().context("loading the language registry")?);
    let repo = git2::Repository::discover(&args.repo)
        .with_context(|| format!("{} is not inside a git repository", args.repo.display()))?;
    let base_id = repo
        .revparse_single(&args.base)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("base: unknown revision `{}`", args.base))?
        .id();
    // The repository's rules come from the base, never from the change.
    let (_, rules) = repo_config::rules_at(
        &repo,
        base_id,
        RuleSet::embedded().context("loading the rule pack")?,
    )?;
    let rules = Arc::new(rules);
    let dir = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let change = from_revs(&dir, Some(&args.base), &args.head, None)?;
    let report = diff_change(&change, &registry, &DiffOptions::default());
    let id = ChangeId {
        repo: repo_name(&repo),
        base: args.base.clone(),
        head: args.head.clone(),
    };
    let prepared = prepare(&id, &change, &report, &rules, &[]);
    let audit = audit_prepared(&settings, &env_var, registry, rules, store, prepared).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&audit)?),
        Format::Text => print!("{}", render_audit_text(&audit, use_color(args.color))),
    }
    Ok(if audit.decision.passed { 0 } else { 1 })
}
