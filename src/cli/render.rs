//! `patchgate render`, and `check --render-b auto`: render B on demand from a builder of the
//! server config, on a local repository (docs/render-b.md).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use patchgate::audit::rule_guard::RuleSet;
use patchgate::builder::{self, BuildContext, BuildTarget, Built, Request, Unavailable};
use patchgate::config::Settings;
use patchgate::gate::check::RenderBSource;
use patchgate::store::Store;

use super::args::{GlobalArgs, RenderArgs};
use super::{env_var, open_store, settings};

/// The request of a request file (refused when unreadable or empty).
fn read_request(path: &Path) -> Result<Request> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the request file {}", path.display()))?;
    let request = Request::from_text(&text);
    if request.text.is_empty() {
        bail!(
            "the request file {} is empty: a builder needs a request",
            path.display()
        );
    }
    Ok(request)
}

/// Build (or reuse) render B with `name`.
pub(crate) async fn build(
    settings: &Settings,
    store: Arc<Store>,
    name: &str,
    repo: &Path,
    base: &str,
    request: Request,
) -> Result<Result<Built, Unavailable>> {
    let rules = Arc::new(RuleSet::embedded().context("loading the rule pack")?);
    let ctx = BuildContext {
        settings,
        spend: store,
        rules,
        env: &env_var,
        scratch_dir: None,
    };
    let target = BuildTarget {
        repo: repo.to_path_buf(),
        base: base.to_string(),
        request,
        pr: None,
    };
    Ok(builder::build(name, &ctx, &target).await)
}

pub(crate) async fn cmd_render(global: &GlobalArgs, args: RenderArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let request = read_request(&args.request_file)?;
    let store = Arc::new(open_store(&settings).await?);
    match build(
        &settings,
        store,
        &args.builder,
        &args.repo,
        &args.base,
        request,
    )
    .await?
    {
        Ok(b) => {
            println!("{}", b.commit);
            eprintln!(
                "patchgate: render B by {} in {:.1} s, ${:.4}, kept at {}{}",
                b.facts.builder,
                b.facts.seconds,
                b.facts.cost_usd,
                b.reference,
                if b.reused { " (reused)" } else { "" }
            );
            Ok(0)
        }
        Err(u) => {
            eprintln!("patchgate: {u}");
            Ok(1)
        }
    }
}

/// `check --render-b auto`: the builder the repository config names at the base (or
/// `--builder`), asked when its `when` says so; render B as the gate takes it.
pub(crate) async fn auto_render_b(
    settings: &Settings,
    store: Arc<Store>,
    repo: &Path,
    base: &str,
    head: &str,
    builder_flag: Option<&str>,
    request_file: Option<&Path>,
) -> Result<Option<RenderBSource>> {
    let Some(request_file) = request_file else {
        bail!("--render-b auto needs --request-file FILE: the request the builder is given (never render A)");
    };
    let request = read_request(request_file)?;
    let name = match builder_flag {
        Some(n) => n.to_string(),
        None => {
            let (r, b, h) = (repo.to_path_buf(), base.to_string(), head.to_string());
            let asked = tokio::task::spawn_blocking(move || {
                patchgate::gate::render_b::asked_builder(&r, &b, &h, None, &[])
            })
            .await??;
            match asked {
                Some(n) => n,
                None => {
                    eprintln!("patchgate: --render-b auto: the repository config asks no builder for this change (render_b.builder, render_b.when); checking one render");
                    return Ok(None);
                }
            }
        }
    };
    Ok(Some(
        match build(settings, store, &name, repo, base, request).await? {
            Ok(b) => RenderBSource::Built {
                rev: b.commit.clone(),
                source: b.source(),
                build: b.record(),
            },
            Err(u) => {
                eprintln!("patchgate: {u}");
                RenderBSource::Unavailable(u.record())
            }
        },
    ))
}
