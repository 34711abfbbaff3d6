//! Render B on demand: patchgate asks one of the server's builders (`builders:`) for a second,
//! independent render of a change, and keeps it as a commit on the base.
//!
//! [`build`] is the whole story of one build: a render B already built for the same base,
//! request and builder is reused (nothing runs, nothing is paid twice); degraded mode runs no
//! builder; a command builder runs in a fresh scratch worktree of the base ([`worktree`],
//! [`command`]), a model builder answers whole-file replacements ([`model`]); the change is
//! captured and validated, then committed on the base with the builder's explanation as its
//! message ([`commit`]). Every failure — the builder fails, times out, changes nothing, changes
//! too much, writes outside its worktree, makes a symlink, answers something malformed or that
//! does not apply, the budget is spent — is an [`Unavailable`] with the reason; never a render.
//!
//! What a builder sees is the request ([`request`]) and the base commit, never render A. The
//! costs go against the same daily budget as the model auditors (reserved at an estimate before
//! the call, settled after). Builder output is masked with Rule-Guard's secret rules before it
//! is kept anywhere; a builder's environment holds only the variables the operator listed.
//! See `docs/render-b.md`.

pub mod command;
pub mod commit;
pub mod model;
pub mod place;
pub mod request;
pub mod worktree;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use git2::Repository;
use serde_json::json;

use crate::audit::budget::Budget;
use crate::audit::llm::price::{ModelPrice, PriceTable};
use crate::audit::llm::{AuditMode, EndpointKind, ModelAuditor, ModelAuditorConfig};
use crate::audit::rule_guard::{mask_secrets, RuleSet};
use crate::audit::spend::{SpendStore, Usage};
use crate::config::builders::{BuilderConfig, BuilderKind};
use crate::config::Settings;

pub use commit::BuildFacts;
pub use request::{Request, RequestSource};

/// Default most tokens a model builder is asked for.
pub const DEFAULT_BUILDER_OUTPUT_TOKENS: u32 = 16_000;
/// The prompt budget of a model builder, estimated tokens.
pub const BUILDER_PROMPT_TOKENS: u64 = 50_000;

/// What a build needs from its surroundings.
pub struct BuildContext<'a> {
    pub settings: &'a Settings,
    /// The daily budget's store (the auditors' one).
    pub spend: Arc<dyn SpendStore>,
    /// Rule-Guard's rules: their secret patterns mask everything a builder says or is sent.
    pub rules: Arc<RuleSet>,
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// Where scratch worktrees are made; `None`: the server config's `render_b.scratch_dir`
    /// (default `auto`: a tmpfs with room, else the system's temporary directory).
    pub scratch_dir: Option<PathBuf>,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildTarget {
    /// The repository (a mirror or a working copy) holding the base.
    pub repo: PathBuf,
    /// The base revision.
    pub base: String,
    pub request: Request,
    /// `(pr, head)` of a pull request: render B is also kept at `refs/patchgate/render-b/<pr>/<head>`.
    pub pr: Option<(u64, String)>,
}

/// A render B that exists.
#[derive(Debug, Clone)]
pub struct Built {
    pub commit: String,
    /// The ref it is kept under (the pull request's, else the request's).
    pub reference: String,
    pub facts: BuildFacts,
    /// Built by an earlier run for the same base, request and builder.
    pub reused: bool,
}

impl Built {
    /// `renders.b.build` of the record.
    pub fn record(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.facts).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("ref".into(), json!(self.reference));
            m.insert("reused".into(), json!(self.reused));
        }
        v
    }

    /// `builder:<name>`: the record's `renders.b.source`.
    pub fn source(&self) -> String {
        format!("builder:{}", self.facts.builder)
    }
}

/// Why there is no render B.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub builder: String,
    pub reason: String,
    pub cost_usd: f64,
    pub seconds: f64,
}

impl Unavailable {
    fn new(builder: &str, reason: impl Into<String>) -> Self {
        Unavailable {
            builder: builder.to_string(),
            reason: reason.into(),
            cost_usd: 0.0,
            seconds: 0.0,
        }
    }

    /// `ast_diff.render_b_unavailable` of the record.
    pub fn record(&self) -> serde_json::Value {
        json!({
            "builder": self.builder,
            "reason": self.reason,
            "cost_usd": self.cost_usd,
            "seconds": round_ms(self.seconds),
        })
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "render B by {} unavailable: {}",
            self.builder, self.reason
        )
    }
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// Run `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(format!("the build was cancelled: {e}")),
    }
}

fn open(path: &std::path::Path) -> Result<Repository, String> {
    Repository::open(path)
        .or_else(|_| Repository::discover(path))
        .map_err(|e| {
            format!(
                "{} is not a git repository: {}",
                path.display(),
                e.message()
            )
        })
}

/// What a pull request or request has as its builder's refs.
fn refs_of(target: &BuildTarget, key_ref: &str) -> Vec<String> {
    let mut refs = vec![key_ref.to_string()];
    if let Some((pr, head)) = &target.pr {
        refs.push(commit::pr_ref(*pr, head));
    }
    refs
}

/// Build (or reuse) render B with the builder named `name`, in a span of its own (`build
/// <name>`, a child of the caller's: the gate's, in `serve`): the builder's name and kind, what
/// came of it (`built`, `reused`, `unavailable`), its cost and seconds. A model builder's call
/// is the span's child, named and attributed by the GenAI conventions as an auditor's is
/// (`chat <model>`: model, tokens, cost). Never the request, the answer or a key.
pub async fn build(
    name: &str,
    ctx: &BuildContext<'_>,
    target: &BuildTarget,
) -> Result<Built, Unavailable> {
    use tracing::field::Empty;
    use tracing::Instrument;
    let cfg = ctx.settings.server.builders.iter().find(|b| b.name == name);
    let span = tracing::info_span!(
        "build",
        otel.name = %format!("build {name}"),
        otel.status_code = Empty,
        patchgate.builder = name,
        patchgate.builder.kind = cfg.map_or("unknown", |c| c.kind.as_str()),
        patchgate.outcome = Empty,
        patchgate.cost_usd = Empty,
        patchgate.seconds = Empty,
        gen_ai.request.model = cfg.and_then(|c| c.model.as_deref()),
        error.type = Empty,
    );
    let result = build_traced(name, ctx, target)
        .instrument(span.clone())
        .await;
    match &result {
        Ok(b) => {
            span.record(
                "patchgate.outcome",
                if b.reused { "reused" } else { "built" },
            );
            span.record(
                "patchgate.cost_usd",
                if b.reused { 0.0 } else { b.facts.cost_usd },
            );
            span.record(
                "patchgate.seconds",
                if b.reused { 0.0 } else { b.facts.seconds },
            );
        }
        Err(u) => {
            span.record("patchgate.outcome", "unavailable");
            span.record("patchgate.cost_usd", u.cost_usd);
            span.record("patchgate.seconds", u.seconds);
            span.record("error.type", "unavailable");
            span.record("otel.status_code", "error");
        }
    }
    result
}

async fn build_traced(
    name: &str,
    ctx: &BuildContext<'_>,
    target: &BuildTarget,
) -> Result<Built, Unavailable> {
    let Some(cfg) = ctx.settings.server.builders.iter().find(|b| b.name == name) else {
        return Err(Unavailable::new(
            name,
            format!("no builder is named `{name}` in the server config (`builders:`)"),
        ));
    };
    let cfg = cfg.clone();
    let request_hash = target.request.hash().to_string();

    // Reuse: the same base, request and builder were built before.
    let (base, reused) = {
        let (t, builder, hash) = (target.clone(), cfg.name.clone(), request_hash.clone());
        blocking(move || {
            let repo = open(&t.repo)?;
            let base = repo
                .revparse_single(&t.base)
                .and_then(|o| o.peel_to_commit())
                .map_err(|e| format!("base `{}`: {}", t.base, e.message()))?
                .id();
            let key = commit::request_ref(&builder, &base.to_string(), &hash);
            let found = commit::lookup(&repo, &key);
            if let Some((oid, _)) = &found {
                commit::point(&repo, *oid, &refs_of(&t, &key))?;
            }
            Ok((base, found))
        })
        .await
        .map_err(|e| Unavailable::new(name, e))?
    };
    let key_ref = commit::request_ref(&cfg.name, &base.to_string(), &request_hash);
    let reference = match &target.pr {
        Some((pr, head)) => commit::pr_ref(*pr, head),
        None => key_ref.clone(),
    };
    if let Some((oid, facts)) = reused {
        return Ok(Built {
            commit: oid.to_string(),
            reference,
            facts,
            reused: true,
        });
    }
    if ctx.settings.audit_mode == AuditMode::Degraded {
        return Err(Unavailable::new(
            name,
            "skipped: degraded mode (PATCHGATE_AUDIT_MODE=degraded) runs no builder",
        ));
    }
    let facts = BuildFacts {
        builder: cfg.name.clone(),
        kind: cfg.kind.as_str().to_string(),
        model: None,
        command: None,
        cost_usd: 0.0,
        seconds: 0.0,
        request_hash,
        request_source: target.request.source.to_string(),
        base: base.to_string(),
        files: 0,
    };
    let refs = refs_of(target, &key_ref);
    let budget = Budget::new(ctx.settings.daily_budget_usd, ctx.spend.clone())
        .map_err(|e| Unavailable::new(name, format!("budget: {e}")))?;
    let oid = match cfg.kind {
        BuilderKind::Command => build_command(&cfg, ctx, target, base, facts, refs, budget).await?,
        BuilderKind::Openai | BuilderKind::Anthropic => {
            build_model(&cfg, ctx, target, base, facts, refs, budget).await?
        }
    };
    Ok(Built {
        commit: oid.0.to_string(),
        reference,
        facts: oid.1,
        reused: false,
    })
}

/// A command builder: reserve its price, run it in a scratch worktree, capture, commit.
async fn build_command(
    cfg: &BuilderConfig,
    ctx: &BuildContext<'_>,
    target: &BuildTarget,
    base: git2::Oid,
    mut facts: BuildFacts,
    refs: Vec<String>,
    budget: Budget,
) -> Result<(git2::Oid, BuildFacts), Unavailable> {
    let name = cfg.name.as_str();
    let price = cfg.price_usd.unwrap_or(0.0);
    let ticket = if price > 0.0 {
        match budget.reserve(name, "command", price).await {
            Ok(Some(t)) => Some(t),
            Ok(None) => return Err(Unavailable::new(name, "daily budget spent")),
            Err(e) => return Err(Unavailable::new(name, format!("spend store: {e}"))),
        }
    } else {
        None
    };
    facts.command = Some(cfg.what());
    facts.cost_usd = price;
    let env: Vec<(String, String)> = cfg
        .env
        .iter()
        .filter_map(|k| (ctx.env)(k).map(|v| (k.clone(), v)))
        .collect();
    let (cfg2, t) = (cfg.clone(), target.clone());
    let place = match ctx
        .scratch_dir
        .clone()
        .or_else(|| ctx.settings.server.render_b.scratch_path())
    {
        Some(dir) => place::ScratchPlace::Dir(dir),
        None => place::ScratchPlace::Auto,
    };
    let data_dir = ctx.settings.data_dir.clone();
    let outcome = blocking(move || {
        let repo = open(&t.repo)?;
        let mut forbidden = vec![repo.path().to_path_buf(), data_dir];
        if let Some(w) = repo.workdir() {
            forbidden.push(w.to_path_buf());
        }
        let forbidden: Vec<&std::path::Path> = forbidden.iter().map(PathBuf::as_path).collect();
        let scratch =
            worktree::Scratch::checkout(&repo, base, &place, &forbidden, &t.request.text)?;
        if let Some(note) = &scratch.placement().note {
            // The server's log; on the command line (no logger set up), stderr.
            if tracing::dispatcher::has_been_set() {
                tracing::warn!(builder = %cfg2.name, "{note}");
            } else {
                eprintln!("patchgate: {note}");
            }
        }
        let started = Instant::now();
        let ran = command::run(&command::Run {
            argv: &cfg2.command,
            work: scratch.work(),
            request_file: &scratch.request_file(),
            base: &base.to_string(),
            env,
            timeout: Duration::from_secs(cfg2.timeout_s()),
            max_output_bytes: cfg2.max_output_bytes(),
        });
        let seconds = started.elapsed().as_secs_f64();
        let output = ran.map_err(|f| match f {
            command::RunFailure::Start(why) => format!("the builder could not start: {why}"),
            command::RunFailure::Timeout(d) => {
                format!("the builder timed out after {} s", d.as_secs())
            }
            command::RunFailure::Failed(why) => format!("the builder failed: {why}"),
        });
        let output = match output {
            Ok(o) => o,
            Err(why) => return Ok(Err((why, seconds))),
        };
        let changes = match scratch.capture(worktree::ChangeLimits {
            max_files: cfg2.max_change_files(),
            max_bytes: cfg2.max_change_bytes(),
        }) {
            Ok(c) if c.is_empty() => {
                return Ok(Err(("the builder changed nothing".into(), seconds)))
            }
            Ok(c) => c,
            Err(why) => return Ok(Err((why, seconds))),
        };
        let mut explanation = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.stdout_cut {
            explanation.push_str(&format!(
                "\n\n(output cut at {} bytes)",
                cfg2.max_output_bytes()
            ));
        }
        Ok(Ok((explanation, changes, seconds, repo_path(&repo))))
    })
    .await;
    let settle = |usd: f64| Usage {
        usd,
        ..Usage::default()
    };
    let (explanation, changes, seconds, repo_dir) =
        match outcome.unwrap_or_else(|why| Err((why, 0.0))) {
            Ok(x) => x,
            Err((why, seconds)) => {
                // The run happened (or was refused after it started): its price is spent.
                if let Some(t) = ticket {
                    let _ = budget.settle(t, settle(price)).await;
                }
                let mut u = Unavailable::new(name, mask_secrets(&why, &ctx.rules));
                u.cost_usd = price;
                u.seconds = round_ms(seconds);
                return Err(u);
            }
        };
    if let Some(t) = ticket {
        let _ = budget.settle(t, settle(price)).await;
    }
    facts.seconds = round_ms(seconds);
    facts.files = changes.len();
    let message = commit_message(&explanation, &cfg.name, &ctx.rules);
    let f2 = facts.clone();
    let oid = blocking(move || {
        let repo = open(&repo_dir)?;
        commit::commit(&repo, base, &changes, &message, &f2, &refs)
    })
    .await
    .map_err(|why| {
        let mut u = Unavailable::new(name, why);
        u.cost_usd = price;
        u.seconds = seconds;
        u
    })?;
    Ok((oid, facts))
}

fn repo_path(repo: &Repository) -> PathBuf {
    repo.path().to_path_buf()
}

/// The commit message of render B: the builder's explanation, masked.
fn commit_message(explanation: &str, builder: &str, rules: &RuleSet) -> String {
    let text = mask_secrets(explanation.trim(), rules);
    if text.is_empty() {
        format!("render B by {builder} (the builder gave no explanation)\n")
    } else {
        format!("{text}\n")
    }
}

/// The price table of the server config.
fn prices(settings: &Settings) -> Result<PriceTable, String> {
    let mut table = PriceTable::new();
    for (model, p) in &settings.server.prices {
        table
            .insert(
                model.clone(),
                ModelPrice {
                    input: p.input,
                    output: p.output,
                },
            )
            .map_err(|e| format!("prices.{model}: {e}"))?;
    }
    Ok(table)
}

/// A model builder: the prompt, one call through the model auditors' client (its reservation,
/// retries, price and masking), the answer validated and committed.
async fn build_model(
    cfg: &BuilderConfig,
    ctx: &BuildContext<'_>,
    target: &BuildTarget,
    base: git2::Oid,
    mut facts: BuildFacts,
    refs: Vec<String>,
    budget: Budget,
) -> Result<(git2::Oid, BuildFacts), Unavailable> {
    let name = cfg.name.as_str();
    let unavailable = |why: String| Unavailable::new(name, mask_secrets(&why, &ctx.rules));
    let table = prices(ctx.settings).map_err(unavailable)?;
    let client_cfg = ModelAuditorConfig {
        name: cfg.name.clone(),
        kind: if cfg.kind == BuilderKind::Anthropic {
            EndpointKind::Anthropic
        } else {
            EndpointKind::Openai
        },
        base_url: cfg.base_url.clone().unwrap_or_default(),
        model: cfg.model.clone().unwrap_or_default(),
        fallback_models: Vec::new(),
        api_key_env: cfg.api_key_env.clone(),
        keyless: false,
        timeout_s: Some(cfg.timeout_s() as f64),
        max_output_tokens: Some(
            cfg.max_output_tokens
                .unwrap_or(DEFAULT_BUILDER_OUTPUT_TOKENS),
        ),
        prompt_tokens: Some(BUILDER_PROMPT_TOKENS),
    };
    let env = |k: &str| (ctx.env)(k);
    let client = ModelAuditor::from_config(&client_cfg, &env, &table, budget, ctx.rules.clone())
        .map_err(|e| unavailable(e.to_string()))?
        .with_mode(ctx.settings.audit_mode);
    if !client.is_configured() {
        return Err(unavailable(format!(
            "not configured: set {} to its API key",
            cfg.api_key_env.as_deref().unwrap_or("its key variable")
        )));
    }
    facts.model = cfg.model.clone();
    let (t, rules) = (target.clone(), ctx.rules.clone());
    let prompt = blocking(move || {
        let repo = open(&t.repo)?;
        model::build_prompt(&repo, base, &t.request.text, &rules, BUILDER_PROMPT_TOKENS)
    })
    .await
    .map_err(unavailable)?;
    let started = Instant::now();
    let (answer, cost) = client.ask(&prompt).await;
    let seconds = started.elapsed().as_secs_f64();
    let fail = |why: String| {
        let mut u = unavailable(why);
        u.cost_usd = cost;
        u.seconds = round_ms(seconds);
        u
    };
    let text = answer.map_err(|reason| fail(format!("the model could not be asked: {reason}")))?;
    let limits = worktree::ChangeLimits {
        max_files: cfg.max_change_files(),
        max_bytes: cfg.max_change_bytes(),
    };
    let (explanation, mut changes) = model::parse_answer(&text, limits).map_err(fail)?;
    facts.cost_usd = cost;
    facts.seconds = round_ms(seconds);
    facts.files = changes.len();
    let message = commit_message(&explanation, &cfg.name, &ctx.rules);
    let (t, f2) = (target.clone(), facts.clone());
    let oid = blocking(move || {
        let repo = open(&t.repo)?;
        model::keep_modes(&repo, base, &mut changes);
        commit::commit(&repo, base, &changes, &message, &f2, &refs)
    })
    .await
    .map_err(fail)?;
    Ok((oid, facts))
}
