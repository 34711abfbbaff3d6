//! `patchgate check` on a local repository: the whole gate, from a range of commits to a sealed
//! decision record.
//!
//! AST diff of render A against the base (and against render B when one is given), the audit
//! quorum, the explanations compared, the record sealed onto the ledger's chain, attached to the
//! head commit as a git note, and written as `meta.yaml` where asked. The change takes a path —
//! agreed, escalated or one render — and `quorum_passed` is what the decision table
//! ([`crate::meta::decision`]) says of it: the normal quorum for agreeing renders, the escalated
//! audit (both renders, the edit script between them, both explanations shown to every auditor)
//! for renders or explanations that differ, a maintainer's vote on this head. Nothing here turns
//! a failure to decide into a pass.

mod out;
mod read;
mod record;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use git2::Oid;

use crate::astdiff::diff::{Agreement, DiffReport};
use crate::astdiff::registry::Registry;
use crate::astdiff::DiffOptions;
use crate::audit::llm::judge::JudgeCase;
use crate::audit::rule_guard::RuleSet;
use crate::audit::spend::SpendStore;
use crate::audit::vote::{EscalationView, Verdict};
use crate::config::{AuditMode, Settings};
use crate::gate::audit::AuditReport;
use crate::gate::auditors::{build_auditors, run_set, AuditContext};
use crate::gate::repo_config;
use crate::gate::{escalation, explain};
use crate::meta::canonical::{hash_explanation, Explanation};
use crate::meta::decision::{
    choose_path, decide_gate, AuditorClass, CastVote, EscalatedQuorum, ExplanationsState,
    GateDecision, GateFacts, HumanVote, Path as GatePath, Policy, RendersState,
};
use crate::meta::ledger::{LedgerError, LedgerStore, GENESIS};
use crate::meta::record::{
    AstDiffSummary, AuditSummary, ChangeRef, ExplanationSource, GateSummary, MetaRecord, RenderA,
    RenderB, Renders, VoteSummary,
};
use crate::meta::similarity::compare_explanations;
use crate::meta::Sha256Hash;

use out::{blocking, write_out};
pub use out::{signing_key, texts_path};
pub use read::repo_name;
use read::{read_change, ReadChange};
use record::{decision_summary, explanation_of, kept_texts, meta_findings};

/// Default similarity at which two explanations agree.
pub const EXPLANATION_THRESHOLD: f64 = 0.85;

/// Where render B comes from.
#[derive(Debug, Clone)]
pub enum RenderBSource {
    /// A revision of the same repository.
    Rev(String),
    /// A unified-diff patch applied to the base.
    Patch(PathBuf),
    /// A render B a builder made (`crate::builder`): a revision of the same repository, its
    /// source (`builder:<name>`) and the record's `renders.b.build`.
    Built {
        rev: String,
        source: String,
        build: serde_json::Value,
    },
    /// A builder was asked and there is no render B: the record's
    /// `ast_diff.render_b_unavailable` (the builder and the reason).
    Unavailable(serde_json::Value),
}

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub repo: PathBuf,
    pub base: String,
    pub head: String,
    pub render_b: Option<RenderBSource>,
    /// Write the record here as well.
    pub write_meta: Option<PathBuf>,
    /// Attach the record to the head commit as a git note.
    pub attach_note: bool,
    pub diff: DiffOptions,
    /// The pull request, when the change is one (GitHub Actions, the App).
    pub pr_number: Option<u64>,
    /// Its description: render A's explanation comes from it first.
    pub pr_body: Option<String>,
    /// `owner/name` of the repository (the server's mirrors have no `origin` to read it from);
    /// `None`: from the repository's `origin`, else its directory.
    pub repo_name: Option<String>,
    /// The repository config, already resolved by the caller (the server follows `_extends`
    /// and the organisation's defaults); `None`: read `.github/patchgate.yml` at the base.
    pub repo_config: Option<repo_config::RepoConfig>,
}

/// Everything the gate found and decided.
pub struct CheckOutcome {
    /// The decision table's answer (the record's `gate` entry).
    pub gate: GateDecision,
    /// What the escalated audit was shown besides render A (the escalated path only).
    pub escalation: Option<EscalationView>,
    pub record: MetaRecord,
    pub yaml: String,
    /// Render A against render B, when there is a render B.
    pub dual: Option<DiffReport>,
    /// Render A against the base.
    pub single: DiffReport,
    pub audit: AuditReport,
    pub ledger_seq: i64,
    pub note: Option<Oid>,
    /// The head already carried a different record's note (an earlier gate of the same head),
    /// which this one replaced: the earlier record's hash. Both stay in the ledger, and the
    /// earlier note in `refs/notes/patchgate`'s history.
    pub note_replaced: Option<String>,
    pub meta_path: Option<PathBuf>,
    /// Set when the change edits the repository config (which applies only after merge).
    pub config_note: Option<String>,
}

/// The variable holding the deployment's record-signing key.
pub const SIGNING_KEY_VAR: &str = "PATCHGATE_SIGNING_KEY";

/// Run the gate (no maintainer's vote; see [`run_check_with`]).
pub async fn run_check<S>(
    settings: &Settings,
    store: Arc<S>,
    registry: Arc<Registry>,
    rules: RuleSet,
    req: &CheckRequest,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<CheckOutcome>
where
    S: SpendStore + LedgerStore + 'static,
{
    run_check_with(settings, store, registry, rules, req, env, None).await
}

/// Run the gate with the maintainer's standing vote on the change (`/patchgate
/// approve|block`), if any; it counts only if it was given on the head being checked.
#[allow(clippy::too_many_arguments)]
pub async fn run_check_with<S>(
    settings: &Settings,
    store: Arc<S>,
    registry: Arc<Registry>,
    rules: RuleSet,
    req: &CheckRequest,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    human: Option<HumanVote>,
) -> Result<CheckOutcome>
where
    S: SpendStore + LedgerStore + 'static,
{
    // The repository's reads, the diffs and the key file: on the blocking pool (git2 and
    // tree-sitter must not hold up the runtime). The signing key's variable is read here.
    let key_var = if req.attach_note || req.write_meta.is_some() {
        env(SIGNING_KEY_VAR)
    } else {
        None
    };
    let threshold_explicit = settings.threshold_explicit;
    let read = {
        let (req, registry) = (req.clone(), registry.clone());
        blocking(move || read_change(&req, &registry, rules, key_var, threshold_explicit)).await?
    };
    let ReadChange {
        signer,
        head_id,
        base_s,
        head_s,
        repo_cfg,
        rules,
        diff_opts,
        single_report,
        config_note,
        b_commit,
        b_explanation,
        b_build,
        b_unavailable,
        dual_report,
        b_shown,
        a_explanation,
        id,
        prepared,
    } = read;
    let diff_opts = &diff_opts;
    let files = Arc::new(prepared.files);
    let spend: Arc<dyn SpendStore> = store.clone();
    // Rule-Guard scans inside the quorum (under its timeout, on the blocking pool); the other
    // auditors are shown its findings there.
    let set = build_auditors(&AuditContext {
        settings,
        env,
        rules: rules.clone(),
        registry: registry.clone(),
        files,
        spend,
    })?;
    let mut input = prepared.input;

    // Explanations: identical, judged by meaning, or not judged.
    let explained = match (&a_explanation, &b_explanation, &b_shown) {
        (Some((a, _)), Some((b, _)), Some(shown)) => {
            let lexical = compare_explanations(
                &explanation_of(a),
                &explanation_of(b),
                EXPLANATION_THRESHOLD,
            );
            let change_a: String = input.files.iter().map(|f| f.hunks.as_str()).collect();
            let change_b = shown.change();
            let case = JudgeCase {
                explanation_a: a,
                explanation_b: b,
                change_a: &change_a,
                change_b: &change_b,
            };
            Some(explain::compare(&lexical, set.judge.as_ref(), &case).await)
        }
        _ => None,
    };
    let explanations_state = explained
        .as_ref()
        .map_or(ExplanationsState::Absent, |e| e.state);

    // The path.
    // A repository that requires a second rendering fails a change that has none.
    let missing_required_b = dual_report.is_none() && repo_cfg.render_b.required;
    let renders_state = match &dual_report {
        Some(d) if d.verdict == Agreement::Agreed => RendersState::Agreed,
        Some(_) => RendersState::Differ,
        None if missing_required_b => RendersState::MissingRequired,
        None => RendersState::One,
    };
    let (path, why) = choose_path(renders_state, explanations_state);
    let policy = Policy {
        required: settings.server.quorum.required,
        escalated: settings.server.escalation.quorum,
        agreement_counts_as_vote: settings.server.agreement.counts_as_vote,
        skip_paid_auditors: settings.server.agreement.skip_paid_auditors,
        degraded: settings.audit_mode == AuditMode::Degraded,
    };
    let required = match (path, policy.escalated) {
        (GatePath::Escalated, EscalatedQuorum::All) => set.auditors.len(),
        (GatePath::Escalated, EscalatedQuorum::AtLeast(n)) => n,
        _ => policy.required,
    };
    let mut escalation_view = None;
    if let (GatePath::Escalated, Some(shown)) = (path, &b_shown) {
        escalation_view = Some(escalation::view(
            &why,
            b_commit.as_ref().map_or("", |(_, source)| source.as_str()),
            shown,
            a_explanation.as_ref().map(|e| e.0.as_str()),
            b_explanation.as_ref().map(|e| e.0.as_str()),
            &rules,
        ));
    } else if path == GatePath::Escalated {
        // Explanations judged different on agreeing renders with no dual input cannot happen;
        // still, the auditors are told why.
        escalation_view = Some(EscalationView {
            why: why.clone(),
            ..EscalationView::default()
        });
    }
    input.escalation = escalation_view.clone();

    // The audit: the path's quorum.
    let skip = path == GatePath::Agreed && policy.skip_paid_auditors;
    let audit = run_set(&set, &input, required, skip).await?;

    // The decision table.
    let class_of_vote = |name: &str| {
        set.auditors
            .iter()
            .zip(&set.classes)
            .find(|(a, _)| a.name() == name)
            .map_or(AuditorClass::Command, |(_, c)| *c)
    };
    let cast: Vec<CastVote> = audit
        .votes
        .iter()
        .map(|v| CastVote {
            auditor: &v.auditor,
            class: class_of_vote(&v.auditor),
            verdict: v.verdict,
        })
        .collect();
    let gate = decide_gate(&GateFacts {
        renders: renders_state,
        explanations: explanations_state,
        votes: &cast,
        human: human.as_ref(),
        head: &head_s,
        policy: &policy,
    });

    // The record.
    let ast_diff = match &dual_report {
        Some(d) => {
            // What differs is named in the record even when the renders agree.
            let mut extra = crate::meta::record::Extra::new();
            if !d.differences.is_empty() {
                extra.insert("differences".into(), serde_json::to_value(&d.differences)?);
            }
            if !d.excluded.is_empty() {
                extra.insert("excluded".into(), serde_json::to_value(&d.excluded)?);
            }
            AstDiffSummary {
                variance_percent: d.variance_percent.unwrap_or(100.0),
                threshold_percent: d.threshold_percent,
                agreed: d.verdict == Agreement::Agreed,
                extra,
            }
        }
        None => {
            let mut extra = crate::meta::record::Extra::new();
            extra.insert("renders".into(), serde_json::json!(1));
            if missing_required_b {
                extra.insert("render_b_required".into(), serde_json::json!(true));
            }
            if let Some(why) = &b_unavailable {
                extra.insert("render_b_unavailable".into(), why.clone());
            }
            AstDiffSummary {
                variance_percent: 0.0,
                threshold_percent: diff_opts.threshold_percent,
                agreed: !missing_required_b,
                extra,
            }
        }
    };
    let hash_text = |t: &Option<(String, ExplanationSource)>| -> Result<Option<String>> {
        Ok(match t {
            Some((text, _)) => Some(hash_explanation(&explanation_of(text))?.to_string()),
            None => None,
        })
    };
    let mut votes = Vec::new();
    for v in &audit.votes {
        let h = if v.verdict == Verdict::Abstain && v.explanation.is_empty() {
            None
        } else {
            Some(hash_explanation(&Explanation {
                text: v.explanation.clone(),
                findings: meta_findings(v),
                extra: Default::default(),
            })?)
        };
        let mut summary = VoteSummary::from_vote(v, h);
        summary.kind = Some(class_of_vote(&v.auditor));
        votes.push(summary);
    }
    let passed = gate.passed;
    let differences: Vec<String> = escalation_view
        .as_ref()
        .map(|e| {
            e.differences
                .iter()
                .map(escalation::difference_line)
                .collect()
        })
        .unwrap_or_default();
    let gate_summary = GateSummary {
        path: gate.path,
        why: gate.why.clone(),
        basis: gate.basis,
        mode: settings.audit_mode,
        quorum: policy.required as u32,
        escalation_quorum: policy.escalated,
        agreement_counts_as_vote: policy.agreement_counts_as_vote,
        skip_paid_auditors: policy.skip_paid_auditors,
        reason: gate.reason.clone(),
        to_pass: gate.to_pass.clone(),
        differences,
        human: human.clone(),
        extra: Default::default(),
    };
    let unsealed = MetaRecord {
        version: 1,
        repo: id.repo.clone(),
        change: ChangeRef {
            pr: req.pr_number,
            base: base_s.clone(),
            head: head_s.clone(),
            extra: Default::default(),
        },
        renders: Renders {
            a: RenderA {
                commit: head_s.clone(),
                explanation_hash: hash_text(&a_explanation)?,
                explanation_source: a_explanation.as_ref().map(|e| e.1),
                extra: Default::default(),
            },
            b: match &b_commit {
                Some((commit, source)) => Some(RenderB {
                    commit: commit.clone(),
                    source: source.clone(),
                    explanation_hash: hash_text(&b_explanation)?,
                    explanation_source: b_explanation.as_ref().map(|e| e.1),
                    extra: b_build
                        .iter()
                        .map(|b| ("build".to_string(), b.clone()))
                        .collect(),
                }),
                None => None,
            },
            extra: Default::default(),
        },
        ast_diff,
        explanations: explained.as_ref().map(|e| e.summary.clone()),
        audit: AuditSummary {
            required: audit.decision.required as u32,
            votes,
            extra: Default::default(),
        },
        decision: Some(decision_summary(&audit.decision, &gate, &audit.votes)),
        gate: Some(gate_summary),
        quorum_passed: passed,
        created_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        patchgate_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        prev_record_hash: None,
        record_hash: None,
        extra: Default::default(),
    };

    // Seal onto the chain; a concurrent append moves the chain on, so re-seal and retry.
    let mut attempt = 0;
    let (record, seq) = loop {
        attempt += 1;
        let prev = match store.last().await? {
            Some(row) => row.record_hash,
            None => GENESIS.to_string(),
        };
        let prev: Sha256Hash = prev
            .parse()
            .map_err(|e| anyhow::anyhow!("ledger head is not a hash: {e}"))?;
        let record = unsealed.clone().seal(&prev)?;
        record
            .verify()
            .map_err(|e| anyhow::anyhow!("the new record does not verify: {e}"))?;
        match store.append(&record.ledger_row()?).await {
            Ok(seq) => break (record, seq),
            Err(LedgerError::Conflict(_)) if attempt < 5 => continue,
            Err(e) => return Err(e).context("appending the record to the ledger"),
        }
    };
    let yaml = record.to_yaml()?;
    // The texts the record holds only the hashes of, masked, kept beside it.
    let texts = kept_texts(
        &record,
        &a_explanation,
        &b_explanation,
        &audit.votes,
        &rules,
    );
    if let Err(e) = store.keep_texts(seq, &texts.to_json()).await {
        tracing::warn!(seq, error = %e, "the record's explanation texts could not be kept (the record is sealed; its page shows hashes only)");
    }
    // The note, the signature and `meta.yaml`: git2 and file writes, on the blocking pool.
    let note = {
        let (req, record, yaml) = (req.clone(), record.clone(), yaml.clone());
        blocking(move || write_out(&req, head_id, &record, &yaml, &texts, seq, signer.as_ref()))
            .await?
    };
    if record.quorum_passed != passed {
        bail!("internal: sealed record disagrees with the decision");
    }
    Ok(CheckOutcome {
        gate,
        escalation: escalation_view,
        record,
        yaml,
        dual: dual_report,
        single: single_report,
        audit,
        ledger_seq: seq,
        note: note.as_ref().map(|n| n.id),
        note_replaced: note.and_then(|n| n.replaced),
        meta_path: req.write_meta.clone(),
        config_note,
    })
}
