//! The configured auditors of one change, built from the server config.
//!
//! Endpoints, keys and commands come from the server's own config only. An auditor that cannot
//! vote (no key, degraded mode) is still built — it abstains with its reason — and comes with a
//! hint saying what would let it vote, so a user learns what to configure.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::astdiff::registry::Registry;
use crate::audit::budget::Budget;
use crate::audit::command::CommandAuditor;
use crate::audit::llm::{self, EndpointKind, ModelAuditor, ModelAuditorConfig};
use crate::audit::quorum::Auditor;
use crate::audit::rule_guard::{self, RuleSet};
use crate::audit::rules_auditor::to_vote_finding;
use crate::audit::rules_auditor::RuleGuardAuditor;
use crate::audit::spend::SpendStore;
use crate::config::{AuditMode, AuditorKind, ConfigSource, Settings};
use crate::gate::audit::{run_audit, AuditReport};
use crate::gate::input::Prepared;

/// The auditors, the quorum size, and hints for abstainers.
pub struct AuditorSet {
    pub auditors: Vec<Arc<dyn Auditor>>,
    pub required: usize,
    pub hints: Vec<(String, String)>,
    /// What Rule-Guard found (also shown to the model auditors).
    pub rule_findings: Vec<rule_guard::Finding>,
}

/// Everything the auditors of one change need.
pub struct AuditContext<'a> {
    pub settings: &'a Settings,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub rules: Arc<RuleSet>,
    pub registry: Arc<Registry>,
    pub files: Arc<Vec<rule_guard::ChangedFile>>,
    pub spend: Arc<dyn SpendStore>,
}

fn prices(settings: &Settings) -> Result<llm::price::PriceTable> {
    let mut table = llm::price::PriceTable::new();
    for (model, p) in &settings.server.prices {
        table
            .insert(
                model.clone(),
                llm::price::ModelPrice {
                    input: p.input,
                    output: p.output,
                },
            )
            .with_context(|| format!("prices.{model}"))?;
    }
    Ok(table)
}

/// Build the auditors the server config names.
pub fn build_auditors(ctx: &AuditContext<'_>) -> Result<AuditorSet> {
    let settings = ctx.settings;
    let where_ = match &settings.source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::EmbeddedDefault => "the embedded default config".into(),
    };
    let table = prices(settings)?;
    let mut auditors: Vec<Arc<dyn Auditor>> = Vec::new();
    let mut hints = Vec::new();
    let mut rule_findings = Vec::new();
    // One budget for every model auditor: its gate is what keeps concurrent calls from
    // stacking their overruns past the daily cap.
    let budget = Budget::new(settings.daily_budget_usd, ctx.spend.clone())
        .map_err(|e| anyhow::anyhow!("budget: {e}"))?;
    for a in &settings.server.auditors {
        let timeout = Duration::from_secs(a.timeout_s());
        match a.kind {
            AuditorKind::Rules => {
                let guard = RuleGuardAuditor::new(
                    a.name.clone(),
                    ctx.rules.clone(),
                    ctx.registry.clone(),
                    ctx.files.clone(),
                    settings.server.rule_guard.severity.clone(),
                );
                rule_findings.extend(guard.findings().iter().cloned());
                auditors.push(Arc::new(guard));
            }
            AuditorKind::Command => {
                let mut c = CommandAuditor::new(a.name.clone(), a.command.clone(), timeout);
                if let Some(cap) = a.max_output_bytes {
                    c.max_output_bytes = cap;
                }
                auditors.push(Arc::new(c));
            }
            AuditorKind::Openai | AuditorKind::Anthropic => {
                let cfg = ModelAuditorConfig {
                    name: a.name.clone(),
                    kind: if a.kind == AuditorKind::Openai {
                        EndpointKind::Openai
                    } else {
                        EndpointKind::Anthropic
                    },
                    base_url: a.base_url.clone().unwrap_or_default(),
                    model: a.model.clone().unwrap_or_default(),
                    fallback_models: a.fallback_models.clone(),
                    api_key_env: a.api_key_env.clone(),
                    keyless: false,
                    timeout_s: Some(a.timeout_s() as f64),
                    max_output_tokens: a.max_output_tokens,
                    prompt_tokens: None,
                };
                let auditor = ModelAuditor::from_config(
                    &cfg,
                    ctx.env,
                    &table,
                    budget.clone(),
                    ctx.rules.clone(),
                )
                .with_context(|| format!("auditor `{}`", a.name))?
                .with_mode(settings.audit_mode);
                let key_env = a.api_key_env.as_deref().unwrap_or("the API key variable");
                if settings.audit_mode == AuditMode::Degraded {
                    hints.push((
                        a.name.clone(),
                        "model auditors are off (PATCHGATE_AUDIT_MODE=degraded); unset it to let them vote".to_string(),
                    ));
                } else if (ctx.env)(key_env)
                    .filter(|k| !k.trim().is_empty())
                    .is_none()
                {
                    hints.push((
                        a.name.clone(),
                        format!(
                            "set {key_env} to an {} API key (endpoint {}, model {}), or change `auditors:` in {where_}",
                            if a.kind == AuditorKind::Openai { "OpenAI(-compatible)" } else { "Anthropic" },
                            a.base_url.as_deref().unwrap_or("?"),
                            a.model.as_deref().unwrap_or("?"),
                        ),
                    ));
                } else {
                    hints.push((
                        a.name.clone(),
                        format!("check the endpoint, the key in {key_env} and today's budget (PATCHGATE_COST_DAILY_LIMIT_USD)"),
                    ));
                }
                auditors.push(Arc::new(auditor));
            }
        }
    }
    Ok(AuditorSet {
        auditors,
        required: settings.server.quorum.required,
        hints,
        rule_findings,
    })
}

/// The audit step of the gate over a prepared change: the configured auditors (Rule-Guard's
/// findings shown to the model auditors too), run as a quorum.
pub async fn audit_prepared(
    settings: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    registry: Arc<Registry>,
    rules: Arc<RuleSet>,
    spend: Arc<dyn SpendStore>,
    prepared: Prepared,
) -> Result<AuditReport> {
    let set = build_auditors(&AuditContext {
        settings,
        env,
        rules,
        registry,
        files: Arc::new(prepared.files),
        spend,
    })?;
    let mut input = prepared.input;
    input.rule_findings = set.rule_findings.iter().map(to_vote_finding).collect();
    Ok(run_audit(&input, &set.auditors, set.required, &set.hints).await?)
}
