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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use git2::{Oid, Repository};

use crate::astdiff::change::{ChangeInput, FileVersions};
use crate::astdiff::diff::{Agreement, DiffReport};
use crate::astdiff::input::from_revs;
use crate::astdiff::patch;
use crate::astdiff::registry::Registry;
use crate::astdiff::{diff_change, diff_change_excluding, DiffOptions};
use crate::audit::llm::judge::JudgeCase;
use crate::audit::rule_guard::RuleSet;
use crate::audit::rules_auditor::to_vote_finding;
use crate::audit::spend::SpendStore;
use crate::audit::vote::{EscalationView, Verdict, Vote};
use crate::config::{AuditMode, Settings};
use crate::gate::audit::AuditReport;
use crate::gate::auditors::{build_auditors, run_set, scan_rules, AuditContext};
use crate::gate::input::{prepare, ChangeId};
use crate::gate::repo_config::{self, REPO_CONFIG_PATH};
use crate::gate::{escalation, explain};
use crate::meta::canonical::{hash_explanation, Explanation, RecordedFinding};
use crate::meta::decision::{
    choose_path, decide_gate, AuditorClass, CastVote, EscalatedQuorum, ExplanationsState,
    GateDecision, GateFacts, HumanVote, Path as GatePath, Policy, RendersState,
};
use crate::meta::ledger::{LedgerError, LedgerStore, GENESIS};
use crate::meta::record::{
    render_explanation, AstDiffSummary, AuditSummary, ChangeRef, DecisionSummary,
    ExplanationSource, GateSummary, MetaRecord, RenderA, RenderB, Renders, VoteSummary,
};
use crate::meta::similarity::compare_explanations;
use crate::meta::{notes, Sha256Hash};

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

/// A revision's commit id and message.
fn resolve(repo: &Repository, rev: &str, side: &str) -> Result<(Oid, String)> {
    let obj = repo
        .revparse_single(rev)
        .with_context(|| format!("{side}: unknown revision `{rev}`"))?;
    let commit = obj
        .peel_to_commit()
        .with_context(|| format!("{side}: `{rev}` is not a commit"))?;
    Ok((commit.id(), commit.message().unwrap_or("").to_string()))
}

/// The record's `decision`: the audit quorum's, unless the gate decided otherwise (degraded
/// mode, an agreement standing in, a maintainer's vote, a missing render B) — then the gate's
/// reason, and the auditors whose votes count for that outcome (the approvers of a pass, the
/// rejecters of a block). Never an abstaining auditor.
fn decision_summary(
    quorum: &crate::audit::decide::Decision,
    gate: &GateDecision,
    votes: &[crate::audit::vote::Vote],
) -> DecisionSummary {
    if gate.passed == quorum.passed {
        return DecisionSummary::from(quorum);
    }
    let want = if gate.passed {
        crate::audit::vote::Verdict::Approve
    } else {
        crate::audit::vote::Verdict::Reject
    };
    DecisionSummary {
        reason: gate.reason.clone(),
        decided_by: votes
            .iter()
            .filter(|v| v.verdict == want)
            .map(|v| v.auditor.clone())
            .collect(),
        extra: Default::default(),
    }
}

/// An empty change is refused before anything is read, decided or sealed: base and head the
/// same commit, or a head whose tree is the base's (nothing for the auditors to judge; a
/// record of it would pass or block nothing real).
fn refuse_empty_change(repo: &Repository, req: &CheckRequest, base: Oid, head: Oid) -> Result<()> {
    let short = |o: Oid| o.to_string()[..12].to_string();
    if base == head {
        bail!(
            "empty change: base `{}` and head `{}` are the same commit ({}), so there is nothing to gate and nothing was sealed; give the commit the change starts from as --base and the one with the change as --head",
            req.base,
            req.head,
            short(head)
        );
    }
    if repo.find_commit(base)?.tree_id() == repo.find_commit(head)?.tree_id() {
        bail!(
            "empty change: head `{}` ({}) has the same files as base `{}` ({}), so there is nothing to gate and nothing was sealed",
            req.head,
            short(head),
            req.base,
            short(base)
        );
    }
    Ok(())
}

/// The text of `path` in a commit's tree, if it is a blob.
fn blob_at(repo: &Repository, commit: Oid, path: &str) -> Result<Option<Vec<u8>>> {
    let tree = repo.find_commit(commit)?.tree()?;
    match tree.get_path(Path::new(path)) {
        Ok(entry) => match entry.to_object(repo)?.into_blob() {
            Ok(blob) => Ok(Some(blob.content().to_vec())),
            Err(_) => Ok(None),
        },
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The explanation a builder left in the tree (`meta.yaml` at the root), if any.
fn builder_meta(repo: &Repository, commit: Oid) -> Result<Option<String>> {
    Ok(blob_at(repo, commit, "meta.yaml")?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Render A (head) against render B given as a patch on the base.
fn dual_with_patch(
    repo: &Repository,
    single: &ChangeInput,
    base: Oid,
    patch_path: &Path,
) -> Result<ChangeInput> {
    let bytes = std::fs::read(patch_path)
        .with_context(|| format!("render B: reading {}", patch_path.display()))?;
    let parsed = patch::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("render B: patch {}: {e}", patch_path.display()))?;
    let mut files: std::collections::BTreeMap<String, FileVersions> = single
        .files
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.b = f.base.clone();
            (f.path.clone(), f)
        })
        .collect();
    for fp in &parsed.files {
        let path = fp.display_path().to_string();
        let old_path = fp.old_path.clone().unwrap_or_else(|| path.clone());
        let base_bytes = blob_at(repo, base, &old_path)?;
        let b = patch::apply(base_bytes.as_deref(), fp).map_err(|e| {
            anyhow::anyhow!(
                "render B: patch {} does not apply to `{path}`: {e}",
                patch_path.display()
            )
        })?;
        let entry = files.entry(path.clone()).or_insert_with(|| FileVersions {
            path: path.clone(),
            base: base_bytes.clone(),
            a: base_bytes.clone(),
            b: None,
        });
        entry.b = b;
    }
    Ok(ChangeInput {
        has_base: true,
        single: false,
        label_base: single.label_base.clone(),
        label_a: single.label_a.clone(),
        label_b: patch_path.display().to_string(),
        files: files.into_values().collect(),
    })
}

fn meta_findings(v: &Vote) -> Vec<RecordedFinding> {
    v.findings
        .iter()
        .map(|f| RecordedFinding {
            rule: f.rule.clone(),
            file: f.file.clone().unwrap_or_default(),
            line: f.line.map(|l| l as u64),
            severity: f.severity.to_string(),
            message: f.message.clone(),
        })
        .collect()
}

fn explanation_of(text: &str) -> Explanation {
    Explanation {
        text: text.to_string(),
        findings: Vec::new(),
        extra: Default::default(),
    }
}

/// The deployment's record-signing key: `PATCHGATE_SIGNING_KEY` is an unencrypted OpenSSH
/// Ed25519 private key, as text or as the path of its file. `None` when unset. The error never
/// contains the key.
pub fn signing_key(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Option<crate::meta::sshsig::SigningKey>> {
    let Some(v) = env("PATCHGATE_SIGNING_KEY").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let text = if v.contains("-----BEGIN") {
        v
    } else {
        std::fs::read_to_string(v.trim())
            .map_err(|e| anyhow::anyhow!("PATCHGATE_SIGNING_KEY: cannot read the key file: {e}"))?
    };
    crate::meta::sshsig::SigningKey::from_openssh(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("PATCHGATE_SIGNING_KEY: {e}"))
}

/// The repository's name: `owner/name` from an `origin` on GitHub-like hosts, else the
/// directory's name.
pub fn repo_name(repo: &Repository) -> String {
    if let Ok(origin) = repo.find_remote("origin") {
        if let Ok(url) = origin.url() {
            let trimmed = url.trim_end_matches(".git").trim_end_matches('/');
            let parts: Vec<&str> = trimmed.rsplitn(3, ['/', ':']).collect();
            if parts.len() >= 2 && !parts[0].is_empty() && !parts[1].is_empty() {
                return format!("{}/{}", parts[1], parts[0]);
            }
        }
    }
    let dir = repo.workdir().unwrap_or_else(|| repo.path());
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local".into())
}

/// What the gate read from the repository and computed from it, before the audit.
struct ReadChange {
    signer: Option<crate::meta::sshsig::SigningKey>,
    head_id: Oid,
    base_s: String,
    head_s: String,
    repo_cfg: repo_config::RepoConfig,
    rules: Arc<RuleSet>,
    diff_opts: DiffOptions,
    single_report: DiffReport,
    config_note: Option<String>,
    b_commit: Option<(String, String)>,
    b_explanation: Option<(String, ExplanationSource)>,
    /// `renders.b.build` / `ast_diff.render_b_unavailable` of a builder's render B.
    b_build: Option<serde_json::Value>,
    b_unavailable: Option<serde_json::Value>,
    dual_input: Option<ChangeInput>,
    dual_report: Option<DiffReport>,
    a_explanation: Option<(String, ExplanationSource)>,
    id: ChangeId,
    prepared: crate::gate::input::Prepared,
}

/// The gate's synchronous first half (git2 reads, diffs, the rules' config, the key file):
/// run on the blocking pool by [`run_check_with`].
fn read_change(
    req: &CheckRequest,
    registry: &Registry,
    rules: RuleSet,
    key_var: Option<String>,
    threshold_explicit: bool,
) -> Result<ReadChange> {
    // A bad signing key fails the check before anything is written.
    let signer = match key_var {
        Some(v) => signing_key(&move |k: &str| (k == SIGNING_KEY_VAR).then(|| v.clone()))?,
        None => None,
    };
    let repo = Repository::discover(&req.repo)
        .with_context(|| format!("{} is not inside a git repository", req.repo.display()))?;
    let (base_id, _) = resolve(&repo, &req.base, "base")?;
    let (head_id, head_msg) = resolve(&repo, &req.head, "head")?;
    refuse_empty_change(&repo, req, base_id, head_id)?;
    let repo_dir = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let base_s = base_id.to_string();
    let head_s = head_id.to_string();

    // The repository's own settings, from the base: a change cannot relax its own gate.
    let (repo_cfg, rules) = match &req.repo_config {
        Some(cfg) => {
            let rules = repo_config::apply_rules(rules, cfg, &base_s)?;
            (cfg.clone(), rules)
        }
        None => repo_config::rules_at(&repo, base_id, rules)?,
    };
    let rules = Arc::new(rules);
    let mut diff_opts = req.diff;
    if !threshold_explicit {
        if let Some(t) = repo_cfg.threshold_percent {
            diff_opts.threshold_percent = t;
        }
    }
    // Scratch scripts and backups a render brings do not count between the renders.
    let exclude = repo_cfg
        .diff
        .filter()
        .map_err(|e| anyhow::anyhow!("{REPO_CONFIG_PATH}: diff.exclude: {e}"))?;

    // Render A against the base: what the auditors review.
    let single = from_revs(&repo_dir, Some(&base_s), &head_s, None)?;
    let single_report = diff_change(&single, registry, &diff_opts);
    let config_note = single
        .files
        .iter()
        .any(|f| f.path == REPO_CONFIG_PATH)
        .then(|| format!("this change edits {REPO_CONFIG_PATH}: it was judged by the base's version; the edit applies after merge"));

    // Render B, when there is one: the dual-render diff and its explanation.
    let mut b_commit = None;
    let mut b_explanation: Option<(String, ExplanationSource)> = None;
    let mut b_build = None;
    let mut b_unavailable = None;
    let dual_input = match &req.render_b {
        None => None,
        Some(RenderBSource::Unavailable(why)) => {
            b_unavailable = Some(why.clone());
            None
        }
        Some(
            RenderBSource::Rev(rev)
            | RenderBSource::Built {
                rev,
                source: _,
                build: _,
            },
        ) => {
            let (b_id, b_msg) = resolve(&repo, rev, "render B")?;
            let dual = from_revs(&repo_dir, Some(&base_s), &head_s, Some(&b_id.to_string()))?;
            b_explanation =
                render_explanation(None, Some(&b_msg), builder_meta(&repo, b_id)?.as_deref());
            let source = match &req.render_b {
                Some(RenderBSource::Built { source, build, .. }) => {
                    b_build = Some(build.clone());
                    source.clone()
                }
                _ => rev.clone(),
            };
            b_commit = Some((b_id.to_string(), source));
            Some(dual)
        }
        Some(RenderBSource::Patch(p)) => {
            let dual = dual_with_patch(&repo, &single, base_id, p)?;
            let digest = Sha256Hash::digest(std::fs::read(p).unwrap_or_default());
            b_commit = Some((digest.to_string(), format!("patch:{}", p.display())));
            Some(dual)
        }
    };
    let dual_report = dual_input
        .as_ref()
        .map(|dual| diff_change_excluding(dual, registry, &diff_opts, &exclude));
    let a_explanation = render_explanation(
        req.pr_body.as_deref(),
        Some(&head_msg),
        builder_meta(&repo, head_id)?.as_deref(),
    );

    // The auditors (and the judge, which shares their budget).
    let id = ChangeId {
        repo: req.repo_name.clone().unwrap_or_else(|| repo_name(&repo)),
        base: base_s.clone(),
        head: head_s.clone(),
    };
    let mut texts: Vec<String> = Vec::new();
    if let Some((t, _)) = &a_explanation {
        texts.push(t.clone());
    }
    if let Some((t, _)) = &b_explanation {
        texts.push(t.clone());
    }
    let prepared = prepare(&id, &single, &single_report, &rules, &texts);
    Ok(ReadChange {
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
        dual_input,
        dual_report,
        a_explanation,
        id,
        prepared,
    })
}

/// Run `work` on tokio's blocking pool; a panic in it is re-raised here.
async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(anyhow::anyhow!(
            "the gate's repository work was cancelled: {e}"
        )),
    }
}

/// The variable holding the deployment's record-signing key.
pub const SIGNING_KEY_VAR: &str = "PATCHGATE_SIGNING_KEY";

/// Attach the sealed record (and its signature, and the ledger's anchor) to the head commit
/// as git notes, and write `meta.yaml`, as `req` asks; the note (and the earlier record's
/// note it replaced, if any).
fn write_out(
    req: &CheckRequest,
    head_id: Oid,
    record: &MetaRecord,
    yaml: &str,
    seq: i64,
    signer: Option<&crate::meta::sshsig::SigningKey>,
) -> Result<Option<notes::Attached>> {
    let note = if req.attach_note {
        let repo = Repository::discover(&req.repo)
            .with_context(|| format!("{} is not inside a git repository", req.repo.display()))?;
        let note = notes::attach_replacing(&repo, head_id, record)
            .context("attaching the record as a git note")?;
        // Signed with the deployment's key when one is configured (the note's exact text).
        if let Some(key) = signer {
            notes::attach_signature(&repo, head_id, yaml, key)
                .context("attaching the record's signature as a git note")?;
            let hash = record.record_hash.as_deref().unwrap_or_default();
            crate::meta::anchor::anchor(&repo, seq, hash, key)
                .context("anchoring the ledger head (refs/patchgate/ledger)")?;
        }
        Some(note)
    } else {
        None
    };
    if let Some(path) = &req.write_meta {
        std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))?;
        if let Some(key) = signer {
            // Beside it, as `ssh-keygen -Y sign` names a signature.
            let sig = key.sign(yaml.as_bytes(), crate::meta::sshsig::RECORD_NAMESPACE);
            let sig_path = format!("{}.sig", path.display());
            std::fs::write(&sig_path, sig).with_context(|| format!("writing {sig_path}"))?;
        }
    }
    Ok(note)
}

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
        dual_input,
        dual_report,
        a_explanation,
        id,
        prepared,
    } = read;
    let diff_opts = &diff_opts;
    let files = Arc::new(prepared.files);
    let scanned = scan_rules(settings, &rules, &registry, &files).await?;
    let spend: Arc<dyn SpendStore> = store.clone();
    let set = build_auditors(&AuditContext {
        settings,
        env,
        rules: rules.clone(),
        registry: registry.clone(),
        files,
        spend,
        scanned,
    })?;
    let mut input = prepared.input;
    input.rule_findings = set.rule_findings.iter().map(to_vote_finding).collect();

    // Explanations: identical, judged by meaning, or not judged.
    let explained = match (&a_explanation, &b_explanation, &dual_input) {
        (Some((a, _)), Some((b, _)), Some(dual)) => {
            let lexical = compare_explanations(
                &explanation_of(a),
                &explanation_of(b),
                EXPLANATION_THRESHOLD,
            );
            let change_a: String = input.files.iter().map(|f| f.hunks.as_str()).collect();
            let change_b: String = escalation::render_b_files(dual, &rules)
                .iter()
                .map(|f| f.hunks.clone())
                .collect();
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
    if let (GatePath::Escalated, Some(dual), Some(report)) = (path, &dual_input, &dual_report) {
        escalation_view = Some(escalation::view(
            &why,
            b_commit.as_ref().map_or("", |(_, source)| source.as_str()),
            dual,
            report,
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
    // The note, the signature and `meta.yaml`: git2 and file writes, on the blocking pool.
    let note = {
        let (req, record, yaml) = (req.clone(), record.clone(), yaml.clone());
        blocking(move || write_out(&req, head_id, &record, &yaml, seq, signer.as_ref())).await?
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
