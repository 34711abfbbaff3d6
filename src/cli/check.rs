//! `patchgate check`: the whole gate on a local repository, or as a GitHub Actions step.

use std::sync::Arc;

use anyhow::{Context, Result};

use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::DiffOptions;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::gate::actions;
use patchgate::gate::check::{run_check, CheckRequest, RenderBSource};
use patchgate::gate::summary::render_check_text;

use super::args::{CheckArgs, Format, GlobalArgs};
use super::{env_var, open_store, settings, use_color};

/// `check --github-actions`: the change, render B and the outputs come from the Actions
/// environment; secrets are masked before anything else is printed.
async fn cmd_check_actions(global: &GlobalArgs, args: CheckArgs) -> Result<u8> {
    let settings = settings(global, args.threshold)?;
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    // The keys the action passes in (its documented inputs) are masked whatever the server
    // config names, along with every key variable the config does name.
    let mut key_envs = actions::api_key_envs(&settings.server);
    key_envs.extend([
        "OPENAI_API_KEY".to_string(),
        "ANTHROPIC_API_KEY".to_string(),
    ]);
    key_envs.sort();
    key_envs.dedup();
    let secrets = actions::secrets_to_mask(&env_var, &names, &key_envs);
    print!("{}", actions::mask_commands(&secrets));
    let ctx = actions::ActionsContext::from_env(&env_var)?;
    let store = Arc::new(open_store(&settings).await?);
    let registry = Arc::new(Registry::embedded().context("loading the language registry")?);
    let rules = RuleSet::embedded().context("loading the rule pack")?;
    let req = ctx.check_request(DiffOptions {
        threshold_percent: settings.threshold_percent,
        ..DiffOptions::default()
    });
    let outcome = run_check(&settings, store, registry, rules, &req, &env_var).await?;
    Ok(actions::finish(&outcome, &ctx, &mut std::io::stdout())?)
}

pub(crate) async fn cmd_check(global: &GlobalArgs, args: CheckArgs) -> Result<u8> {
    if args.github_actions {
        return cmd_check_actions(global, args).await;
    }
    let base = args
        .base
        .clone()
        .context("--base is required (except with --github-actions)")?;
    let settings = settings(global, args.threshold)?;
    let store = Arc::new(open_store(&settings).await?);
    let registry = Arc::new(Registry::embedded().context("loading the language registry")?);
    let rules = RuleSet::embedded().context("loading the rule pack")?;
    if args.render_b.as_deref() != Some("auto")
        && (args.request_file.is_some() || args.builder.is_some())
    {
        anyhow::bail!("--request-file and --builder go with --render-b auto");
    }
    let render_b = match (args.render_b, args.render_b_patch) {
        (Some(r), _) if r == "auto" => {
            super::render::auto_render_b(
                &settings,
                store.clone(),
                &args.repo,
                &base,
                &args.head,
                args.builder.as_deref(),
                args.request_file.as_deref(),
            )
            .await?
        }
        (Some(r), _) => Some(RenderBSource::Rev(r)),
        (None, Some(p)) => Some(RenderBSource::Patch(p)),
        (None, None) => None,
    };
    let req = CheckRequest {
        repo: args.repo,
        base,
        head: args.head,
        render_b,
        write_meta: args.write_meta,
        attach_note: !args.no_note,
        diff: DiffOptions {
            threshold_percent: settings.threshold_percent,
            ..DiffOptions::default()
        },
        pr_number: None,
        pr_body: None,
        repo_name: None,
        repo_config: None,
    };
    let outcome = run_check(&settings, store, registry, rules, &req, &env_var).await?;
    match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "schema": "patchgate.check/v1",
                "quorum_passed": outcome.record.quorum_passed,
                "record": serde_json::to_value(&outcome.record)?,
                "audit": serde_json::to_value(&outcome.audit)?,
                "ledger_seq": outcome.ledger_seq,
                "note": outcome.note.map(|o| o.to_string()),
                "note_replaced": outcome.note_replaced,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => print!("{}", render_check_text(&outcome, use_color(args.color))),
    }
    Ok(if outcome.record.quorum_passed { 0 } else { 1 })
}
