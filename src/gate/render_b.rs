//! What a record says about a render B a builder was asked for, as lines for people: who built
//! it, in how long, at what cost, and where it is kept — or why there is none. Read from the
//! record (`renders.b.build`, `ast_diff.render_b_unavailable`), so the CLI, the Action and the
//! check run say the same.

use anyhow::Context;
use serde_json::Value;

use crate::meta::record::MetaRecord;

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The builder's line, if a builder was asked.
pub fn builder_line(r: &MetaRecord) -> Option<String> {
    if let Some(b) = r.renders.b.as_ref().and_then(|b| b.extra.get("build")) {
        let what = match (
            b.get("model").and_then(Value::as_str),
            b.get("command").and_then(Value::as_str),
        ) {
            (Some(m), _) => format!("model {m}"),
            (None, Some(c)) => format!("`{c}`"),
            (None, None) => text(b, "kind").to_string(),
        };
        let reused = if b.get("reused").and_then(Value::as_bool) == Some(true) {
            " (reused: built before for this base and request, not paid again)"
        } else {
            ""
        };
        // Pushed as a branch for people to read: linked; else the mirror's hidden ref.
        let kept = match (
            b.get("branch").and_then(Value::as_str),
            b.get("branch_url").and_then(Value::as_str),
        ) {
            (Some(branch), Some(url)) => {
                format!("the branch [{branch}]({url}) ({})", text(b, "ref"))
            }
            (Some(branch), None) => format!("the branch {branch} ({})", text(b, "ref")),
            _ => text(b, "ref").to_string(),
        };
        return Some(format!(
            "render B built by {} ({what}) in {:.1} s, ${:.4}, {} file(s), kept at {kept}{reused}",
            text(b, "builder"),
            num(b, "seconds"),
            num(b, "cost_usd"),
            b.get("files").and_then(Value::as_u64).unwrap_or(0),
        ));
    }
    let u = r.ast_diff.extra.get("render_b_unavailable")?;
    Some(format!(
        "render B unavailable: builder {} — {}",
        text(u, "builder"),
        text(u, "reason")
    ))
}

/// Which builder, if any, a change asks for: the repository config's `render_b` (from the
/// base: `cfg`, else `.github/patchgate.yml` read at `base`), its `when` against the pull
/// request's `labels` and the paths the change touches between `base` and `head`. `Ok(None)`:
/// none named, or `when` does not ask for this change.
pub fn asked_builder(
    repo_path: &std::path::Path,
    base: &str,
    head: &str,
    cfg: Option<&crate::gate::repo_config::RepoConfig>,
    labels: &[String],
) -> anyhow::Result<Option<String>> {
    let repo = git2::Repository::open(repo_path)
        .or_else(|_| git2::Repository::discover(repo_path))
        .with_context(|| format!("{} is not a git repository", repo_path.display()))?;
    fn commit_of<'r>(repo: &'r git2::Repository, rev: &str) -> anyhow::Result<git2::Commit<'r>> {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("unknown revision `{rev}`"))
    }
    let (base_c, head_c) = (commit_of(&repo, base)?, commit_of(&repo, head)?);
    let loaded;
    let cfg = match cfg {
        Some(c) => c,
        None => {
            loaded = crate::gate::repo_config::load_at(&repo, base_c.id())?.unwrap_or_default();
            &loaded
        }
    };
    let mut paths = Vec::new();
    if cfg.render_b.builder.is_some()
        && cfg.render_b.when == crate::gate::repo_config::RenderBWhen::Paths
    {
        let diff = repo.diff_tree_to_tree(Some(&base_c.tree()?), Some(&head_c.tree()?), None)?;
        for d in diff.deltas() {
            for f in [d.old_file(), d.new_file()] {
                if let Some(p) = f.path().and_then(|p| p.to_str()) {
                    paths.push(p.to_string());
                }
            }
        }
    }
    Ok(cfg
        .render_b
        .asks(labels, &paths)
        .map_err(|e| anyhow::anyhow!("render_b.paths: {e}"))?
        .map(str::to_string))
}
