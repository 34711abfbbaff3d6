//! The gate's first half on the repository (git2 reads, the diffs of render A and render B,
//! the repository config at the base, the explanations): what the gate has read before the audit.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use git2::{Oid, Repository};

use super::{signing_key, CheckRequest, RenderBSource, SIGNING_KEY_VAR};
use crate::astdiff::change::{ChangeInput, FileVersions};
use crate::astdiff::diff::DiffReport;
use crate::astdiff::input::from_revs;
use crate::astdiff::patch;
use crate::astdiff::registry::Registry;
use crate::astdiff::{diff_change, diff_change_excluding, DiffOptions};
use crate::audit::rule_guard::RuleSet;
use crate::gate::escalation::RenderBShown;
use crate::gate::input::{prepare, ChangeId};
use crate::gate::repo_config::{self, REPO_CONFIG_PATH};
use crate::meta::record::{render_explanation, ExplanationSource};
use crate::meta::Sha256Hash;

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
pub(super) struct ReadChange {
    pub(super) signer: Option<crate::meta::sshsig::SigningKey>,
    pub(super) head_id: Oid,
    pub(super) base_s: String,
    pub(super) head_s: String,
    pub(super) repo_cfg: repo_config::RepoConfig,
    pub(super) rules: Arc<RuleSet>,
    pub(super) diff_opts: DiffOptions,
    pub(super) single_report: DiffReport,
    pub(super) config_note: Option<String>,
    pub(super) b_commit: Option<(String, String)>,
    pub(super) b_explanation: Option<(String, ExplanationSource)>,
    /// `renders.b.build` / `ast_diff.render_b_unavailable` of a builder's render B.
    pub(super) b_build: Option<serde_json::Value>,
    pub(super) b_unavailable: Option<serde_json::Value>,
    pub(super) dual_report: Option<DiffReport>,
    /// Render B's change and the differences, as the escalated path and the judge show them.
    pub(super) b_shown: Option<RenderBShown>,
    pub(super) a_explanation: Option<(String, ExplanationSource)>,
    pub(super) id: ChangeId,
    pub(super) prepared: crate::gate::input::Prepared,
}

/// The gate's synchronous first half (git2 reads, diffs, the rules' config, the key file):
/// run on the blocking pool by [`super::run_check_with`].
pub(super) fn read_change(
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
    let b_shown = dual_input
        .as_ref()
        .zip(dual_report.as_ref())
        .map(|(dual, report)| RenderBShown::of(dual, report, &rules));
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
        dual_report,
        b_shown,
        a_explanation,
        id,
        prepared,
    })
}
