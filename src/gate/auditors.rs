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
use crate::audit::decide::decide;
use crate::audit::llm::judge::Judge;
use crate::audit::llm::{self, EndpointKind, ModelAuditor, ModelAuditorConfig};
use crate::audit::quorum::{run_quorum, Auditor};
use crate::audit::rule_guard::{self, RuleSet};
use crate::audit::rule_scan::{RuleScan, WithRuleFindings};
use crate::audit::rules_auditor::RuleGuardAuditor;
use crate::audit::spend::SpendStore;
use crate::audit::vote::{AbstainReason, AuditInput, Verdict, Vote};
use crate::config::{AuditMode, AuditorKind, ConfigOrigin, Settings};
use crate::gate::audit::{run_audit, AuditReport};
use crate::gate::input::Prepared;
use crate::meta::decision::AuditorClass;

/// The auditors, the quorum size, and hints for abstainers.
pub struct AuditorSet {
    pub auditors: Vec<Arc<dyn Auditor>>,
    /// What kind each auditor is (parallel to `auditors`).
    pub classes: Vec<AuditorClass>,
    pub required: usize,
    pub hints: Vec<(String, String)>,
    /// The explanation judge (`judge:`), sharing the auditors' daily budget.
    pub judge: Option<Judge>,
}

/// The decision table's kind of an auditor entry.
pub fn class_of(kind: AuditorKind) -> AuditorClass {
    match kind {
        AuditorKind::Rules => AuditorClass::Rules,
        AuditorKind::Openai | AuditorKind::Anthropic => AuditorClass::Model,
        AuditorKind::Command => AuditorClass::Command,
    }
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

/// Build the auditors the server config names. Nothing is scanned yet: Rule-Guard's scan
/// ([`RuleScan`], one for every Rule-Guard entry) starts inside the quorum, under Rule-Guard's
/// timeout, and every other auditor is shown its findings ([`WithRuleFindings`]).
pub fn build_auditors(ctx: &AuditContext<'_>) -> Result<AuditorSet> {
    let settings = ctx.settings;
    let where_ = match &settings.source {
        ConfigOrigin::File(p) => p.display().to_string(),
        ConfigOrigin::EmbeddedDefault => "the embedded default config".into(),
    };
    let table = prices(settings)?;
    let mut auditors: Vec<Arc<dyn Auditor>> = Vec::new();
    let mut classes = Vec::new();
    let mut hints = Vec::new();
    let scan = RuleScan::new(ctx.rules.clone(), ctx.registry.clone(), ctx.files.clone());
    // The other auditors wait for the scan at most as long as Rule-Guard does (the longest
    // Rule-Guard timeout, when several entries are configured).
    let rules_timeout = settings
        .server
        .auditors
        .iter()
        .filter(|a| a.kind == AuditorKind::Rules)
        .map(|a| Duration::from_secs(a.timeout_s()))
        .max();
    let shown = |auditor: Arc<dyn Auditor>| -> Arc<dyn Auditor> {
        match rules_timeout {
            Some(limit) => Arc::new(WithRuleFindings::new(auditor, scan.clone(), limit)),
            None => auditor,
        }
    };
    // One budget for every model auditor: its gate is what keeps concurrent calls from
    // stacking their overruns past the daily cap.
    let budget = Budget::new(settings.daily_budget_usd, ctx.spend.clone())
        .map_err(|e| anyhow::anyhow!("budget: {e}"))?;
    for a in &settings.server.auditors {
        classes.push(class_of(a.kind));
        let timeout = Duration::from_secs(a.timeout_s());
        match a.kind {
            AuditorKind::Rules => {
                let policy = settings.server.rule_guard.severity.clone();
                let guard = RuleGuardAuditor::with_scan(
                    a.name.clone(),
                    ctx.rules.clone(),
                    ctx.files.len(),
                    scan.clone(),
                    policy,
                )
                .with_timeout(timeout);
                auditors.push(Arc::new(guard));
            }
            AuditorKind::Command => {
                let mut c = CommandAuditor::new(a.name.clone(), a.command.clone(), timeout);
                if let Some(cap) = a.max_output_bytes {
                    c.max_output_bytes = cap;
                }
                auditors.push(shown(Arc::new(c)));
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
                auditors.push(shown(Arc::new(auditor)));
            }
        }
    }
    let judge = build_judge(ctx, &table, &budget)?;
    Ok(AuditorSet {
        auditors,
        classes,
        required: settings.server.quorum.required,
        hints,
        judge,
    })
}

/// The judge of `judge:`, if configured: its own endpoint, or an auditor's.
fn build_judge(
    ctx: &AuditContext<'_>,
    table: &llm::price::PriceTable,
    budget: &Budget,
) -> Result<Option<Judge>> {
    let settings = ctx.settings;
    let Some(j) = &settings.server.judge else {
        return Ok(None);
    };
    let (kind, base_url, model, fallback_models, api_key_env, timeout_s, max_out) = match &j.auditor
    {
        Some(name) => {
            let a = settings
                .server
                .auditors
                .iter()
                .find(|a| &a.name == name)
                .with_context(|| format!("judge.auditor: no auditor is named `{name}`"))?;
            (
                a.kind,
                a.base_url.clone(),
                a.model.clone(),
                a.fallback_models.clone(),
                a.api_key_env.clone(),
                j.timeout_s.unwrap_or(a.timeout_s()),
                j.max_output_tokens.or(a.max_output_tokens),
            )
        }
        None => (
            j.kind.unwrap_or(AuditorKind::Openai),
            j.base_url.clone(),
            j.model.clone(),
            j.fallback_models.clone(),
            j.api_key_env.clone(),
            j.timeout_s.unwrap_or(60),
            j.max_output_tokens,
        ),
    };
    let cfg = ModelAuditorConfig {
        name: "judge".into(),
        kind: if kind == AuditorKind::Anthropic {
            EndpointKind::Anthropic
        } else {
            EndpointKind::Openai
        },
        base_url: base_url.unwrap_or_default(),
        model: model.unwrap_or_default(),
        fallback_models,
        api_key_env,
        keyless: false,
        timeout_s: Some(timeout_s as f64),
        max_output_tokens: Some(max_out.unwrap_or(300)),
        prompt_tokens: None,
    };
    let model = ModelAuditor::from_config(&cfg, ctx.env, table, budget.clone(), ctx.rules.clone())
        .context("judge")?
        .with_mode(settings.audit_mode);
    Ok(Some(Judge::new(
        "judge",
        model,
        j.threshold(),
        ctx.rules.clone(),
    )))
}

/// Run the set's quorum over `input`. With `skip_models_if_rules_approve`, the auditors that
/// are not models vote first, and when Rule-Guard approves, the models are not asked (each
/// recorded as an abstention saying so); otherwise they are asked too.
pub async fn run_set(
    set: &AuditorSet,
    input: &AuditInput,
    required: usize,
    skip_models_if_rules_approve: bool,
) -> Result<AuditReport> {
    let has_models = set.classes.contains(&AuditorClass::Model);
    let has_rules = set.classes.contains(&AuditorClass::Rules);
    if !(skip_models_if_rules_approve && has_models && has_rules) {
        return Ok(run_audit(input, &set.auditors, required, &set.hints).await?);
    }
    let pick = |models: bool| -> Vec<Arc<dyn Auditor>> {
        set.auditors
            .iter()
            .zip(&set.classes)
            .filter(|(_, c)| (**c == AuditorClass::Model) == models)
            .map(|(a, _)| a.clone())
            .collect()
    };
    let (others, models) = (pick(false), pick(true));
    let (first, _) = run_quorum(&others, input, 1).await?;
    let rules_approve = set
        .auditors
        .iter()
        .zip(&set.classes)
        .filter(|(_, c)| **c == AuditorClass::Rules)
        .all(|(a, _)| {
            first
                .iter()
                .any(|v| v.auditor == a.name() && v.verdict == Verdict::Approve)
        });
    let second: Vec<Vote> = if rules_approve {
        models
            .iter()
            .map(|m| {
                Vote::abstain(
                    m.name(),
                    AbstainReason::Skipped(
                        "the renders agree and Rule-Guard approves (agreement.skip_paid_auditors)"
                            .into(),
                    ),
                )
            })
            .collect()
    } else {
        run_quorum(&models, input, 1).await?.0
    };
    // Every vote, in the configured order.
    let votes: Vec<Vote> = set
        .auditors
        .iter()
        .filter_map(|a| {
            first
                .iter()
                .chain(&second)
                .find(|v| v.auditor == a.name())
                .cloned()
        })
        .collect();
    let decision = decide(required, &votes)?;
    let hints = votes
        .iter()
        .filter(|v| v.verdict == Verdict::Abstain)
        .filter_map(|v| set.hints.iter().find(|(a, _)| *a == v.auditor).cloned())
        .collect();
    Ok(AuditReport {
        schema: "patchgate.audit/v1",
        repo: input.repo.clone(),
        base: input.base.clone(),
        head: input.head.clone(),
        votes,
        decision,
        hints,
    })
}

/// The audit step of the gate over a prepared change: the configured auditors (Rule-Guard's
/// findings shown to the others too), run as a quorum.
pub async fn audit_prepared(
    settings: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    registry: Arc<Registry>,
    rules: Arc<RuleSet>,
    spend: Arc<dyn SpendStore>,
    prepared: Prepared,
) -> Result<AuditReport> {
    let files = Arc::new(prepared.files);
    let set = build_auditors(&AuditContext {
        settings,
        env,
        rules,
        registry,
        files,
        spend,
    })?;
    Ok(run_audit(&prepared.input, &set.auditors, set.required, &set.hints).await?)
}
