//! The `patchgate` command line: a thin shell over the library.
//!
//! Exit status: 0 when the renders agree (or the command succeeded), 1 when they escalate,
//! 2 on any error — the error chain is printed to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use patchgate::astdiff::bench::{run_bench, BenchOptions};
use patchgate::astdiff::exclude::PathFilter;
use patchgate::astdiff::input::from_revs;
use patchgate::astdiff::input::{load, InputKind, InputSpec};
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::report::render_text;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{diff_change, diff_change_excluding, DiffOptions, Verdict};
use patchgate::audit::rule_guard::RuleSet;
use patchgate::config::{self, AuditMode, Flags, Settings};
use patchgate::gate::actions;
use patchgate::gate::audit::render_audit_text;
use patchgate::gate::auditors::audit_prepared;
use patchgate::gate::check::{repo_name, run_check, CheckRequest, RenderBSource};
use patchgate::gate::input::{prepare, ChangeId};
use patchgate::gate::repo_config;
use patchgate::gate::summary::render_check_text;
use patchgate::meta::chain::verify_chain;
use patchgate::meta::ledger::LedgerStore;
use patchgate::meta::notes;
use patchgate::meta::record::verify_yaml;
use patchgate::store::Store;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "patchgate",
    version,
    about = "Git-integrated patch gatekeeper: compares independent renders of a change as syntax trees",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Where state lives and which server config applies (flags > env > file > defaults; see
/// `patchgate config explain`).
#[derive(Args)]
struct GlobalArgs {
    /// Data directory: the embedded store (SQLite) [env: PATCHGATE_DATA_DIR].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL, for several processes sharing one store [env: DATABASE_URL].
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Server config file (YAML) [env: PATCHGATE_CONFIG]; default: patchgate.yml in the data
    /// dir, else the embedded one.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// `normal`, or `degraded`: model auditors off [env: PATCHGATE_AUDIT_MODE].
    #[arg(long, global = true)]
    audit_mode: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Compare two renders of a change as syntax trees (or one render against its base).
    ///
    /// A and B are two files, two directories, two git revisions of --repo, or two patch files
    /// applied to --base. With --base, variance is measured relative to the change; without,
    /// whole files are compared. `--base B --head H` (no A/B) classifies one render's changes as
    /// cosmetic or semantic. Exit status: 0 agreed, 1 escalate, 2 error.
    Diff(Box<DiffArgs>),
    /// Run the whole gate on a local repository: AST diff, audit quorum, the sealed record,
    /// its git note and ledger entry. Exit 0 only when quorum_passed.
    Check(Box<CheckArgs>),
    /// Run the 2-of-3 audit quorum on a local range and print every vote. Exit 0 when the
    /// quorum passes, 1 when it fails.
    Audit(AuditArgs),
    /// Decision records (meta.yaml).
    #[command(subcommand)]
    Meta(MetaCommand),
    /// The ledger of decision records.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Revert a merged change on a local repository (offline, pure git): a merge commit
    /// against its first parent, a squash commit, or a rebase-merged range FIRST..LAST.
    Rollback(RollbackArgs),
    /// Rule-Guard rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The server config and a repository's config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the GitHub App's webhook service: intake, queue workers, check runs, metrics.
    ///
    /// Needs PATCHGATE_WEBHOOK_SECRET; workers need PATCHGATE_GITHUB_APP_ID and
    /// PATCHGATE_GITHUB_PRIVATE_KEY (see docs/deployment.md). Stops gracefully on SIGTERM.
    Serve(ServeArgs),
    /// The job queue: counts by state, parked jobs, and requeueing them.
    Jobs(JobsArgs),
    /// Send a signed policy event (or NDJSON lines) to a server's /webhook/meta — for CI
    /// scripts that report coverage, latency or cost after a merge.
    ///
    /// The secret comes from PATCHGATE_EVENTS_SECRET (Standard Webhooks: `whsec_…` or text).
    /// Exit 0 when the server accepted every event, 1 when it refused some, 2 on error.
    Event(EventArgs),
}

#[derive(Args)]
struct EventArgs {
    /// The server's /webhook/meta URL [env: PATCHGATE_EVENTS_URL].
    #[arg(long)]
    url: Option<String>,
    /// `owner/name`.
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    repo: Option<String>,
    /// The commit measured.
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    commit: Option<String>,
    /// Metric name (`[a-z0-9_.]+`; `ci` for a CI result with --check).
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    metric: Option<String>,
    /// The measurement.
    #[arg(
        long,
        required_unless_present = "ndjson",
        conflicts_with = "ndjson",
        allow_negative_numbers = true
    )]
    value: Option<f64>,
    /// When it was measured (RFC 3339); default: now.
    #[arg(long, conflicts_with = "ndjson")]
    at: Option<String>,
    /// For metric `ci`: the check's name.
    #[arg(long, conflicts_with = "ndjson")]
    check: Option<String>,
    /// Send the NDJSON lines of FILE (`-`: stdin) instead of one event.
    #[arg(long, value_name = "FILE")]
    ndjson: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to bind [env: PATCHGATE_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Queue workers in this process; 0 only queues deliveries (another replica works them).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,
    /// Seconds between reconciliation passes (open PRs whose head has no patchgate check run
    /// are gated); 0 turns it off.
    #[arg(long, default_value_t = 600)]
    reconcile_interval: u64,
    /// Seconds between passes that ask GitHub to redeliver failed webhook deliveries (the App's
    /// delivery log, up to 3 days back); 0 turns it off.
    #[arg(long, default_value_t = 300)]
    redeliver_interval: u64,
    /// Seconds a claimed job is leased without a heartbeat.
    #[arg(long, default_value_t = 60)]
    lease_secs: u64,
    /// Failed attempts after which a job is parked.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// Seconds of the first retry delay (doubled after each failure, at most 10 minutes).
    #[arg(long, default_value_t = 5)]
    retry_secs: u64,
    /// Seconds a job in hand may run on after SIGTERM before it is released.
    #[arg(long, default_value_t = 20)]
    grace_secs: u64,
    /// Days done jobs are kept (their delivery ids dedupe redeliveries, which GitHub allows for
    /// 3 days), then deleted in the background; 0 keeps them forever. Parked jobs are never
    /// deleted automatically.
    #[arg(long, env = "PATCHGATE_JOB_RETENTION_DAYS", default_value_t = patchgate::server::DEFAULT_RETENTION_DAYS)]
    job_retention_days: u64,
    /// Webhook requests handled at once; more are answered 503 at once (GitHub can redeliver).
    #[arg(long, default_value_t = 256)]
    max_webhook_requests: usize,
    /// MiB of webhook bodies (as declared by Content-Length) handled at once; more are answered
    /// 503 at once. At least 25.
    #[arg(long, default_value_t = 256)]
    max_webhook_body_mib: usize,
    /// Seconds within which a webhook's whole body must arrive, else 408 and nothing queued.
    #[arg(long, default_value_t = 10)]
    body_timeout_secs: u64,
    /// Seconds within which a webhook request is answered, else 503.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Args)]
struct JobsArgs {
    #[command(subcommand)]
    action: Option<JobsAction>,
}

#[derive(Subcommand)]
enum JobsAction {
    /// Counts by state and every parked job with its last error (the default).
    List,
    /// Put parked jobs back in the queue (attempts reset, last error cleared).
    Requeue {
        /// Job ids (from `patchgate jobs list`).
        ids: Vec<i64>,
        /// Every parked job.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Give up on parked jobs: they become done without running (a redelivery of theirs stays
    /// a duplicate until retention deletes them).
    Discard {
        /// Job ids (from `patchgate jobs list`).
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a server config or a repository config (.github/patchgate.yml) and print every
    /// problem with its path. Without FILE: the server config in effect and, inside a git
    /// repository, its .github/patchgate.yml.
    Check { file: Option<PathBuf> },
    /// Print the effective configuration and where each value came from.
    Explain,
}

#[derive(Args)]
struct CheckArgs {
    /// The git repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The base the change is against.
    #[arg(long, required_unless_present = "github_actions")]
    base: Option<String>,
    /// Run as a GitHub Actions step: read the change from GITHUB_EVENT_PATH and friends, write
    /// the step summary, annotations and outputs (see docs/action.md).
    #[arg(long)]
    github_actions: bool,
    /// Render A: the change's head.
    #[arg(long, default_value = "HEAD")]
    head: String,
    /// Render B as a revision of the same repository.
    #[arg(long, conflicts_with = "render_b_patch")]
    render_b: Option<String>,
    /// Render B as a unified-diff patch applied to the base.
    #[arg(long, value_name = "FILE")]
    render_b_patch: Option<PathBuf>,
    /// Also write the record (meta.yaml) to FILE.
    #[arg(long, value_name = "FILE")]
    write_meta: Option<PathBuf>,
    /// Do not attach the record to the head commit as a git note.
    #[arg(long)]
    no_note: bool,
    /// Variance (percent) at or below which the renders agree [env: PATCHGATE_THRESHOLD_PERCENT].
    #[arg(long)]
    threshold: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Args)]
struct AuditArgs {
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    #[arg(long)]
    base: String,
    #[arg(long, default_value = "HEAD")]
    head: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Args)]
struct RollbackArgs {
    /// The commit to revert (a merge, or a squash commit), or a range FIRST..LAST.
    #[arg(required_unless_present = "pr", conflicts_with = "pr")]
    target: Option<String>,
    /// Find the merge of pull request N on the branch (`Merge pull request #N` or `… (#N)`).
    #[arg(long)]
    pr: Option<u64>,
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The branch to revert on; default: the checked-out branch.
    #[arg(long)]
    branch: Option<String>,
    /// Why (goes into the revert commit's message).
    #[arg(long)]
    reason: Option<String>,
    /// Print the revert that would be made, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Push the branch to the remote afterwards (fast-forward only).
    #[arg(long, conflicts_with = "dry_run")]
    push: bool,
    #[arg(long, default_value = "origin")]
    remote: String,
    /// Allow reverting a revert (a person's decision).
    #[arg(long)]
    allow_revert_of_revert: bool,
    /// Roll back through the GitHub App instead of a local repository: `owner/name`, with --pr.
    /// Uses PATCHGATE_GITHUB_APP_ID, PATCHGATE_GITHUB_PRIVATE_KEY and the data directory's store
    /// (the same exactly-once record as the server's); the repository's `rollback.action`
    /// decides between a push, a revert pull request and a comment.
    #[arg(long, value_name = "OWNER/NAME", requires = "pr", conflicts_with_all = ["target", "dry_run", "push", "branch"])]
    github: Option<String>,
}

#[derive(Subcommand)]
enum MetaCommand {
    /// Recompute every hash of a record: a meta.yaml file, or the git note on a commit.
    Verify {
        /// A file path, or a commit of --repo.
        target: String,
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Walk the ledger's chain and report any record edited, deleted or reordered.
    Verify,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Run every rule against its own examples; exit 1 on any mismatch.
    Test {
        /// A directory of rule files to test instead of the built-in pack (rules/*.yaml).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum Input {
    Files,
    Dirs,
    Revs,
    Patches,
}

#[derive(Args)]
struct DiffArgs {
    /// Render A: a file, directory, git revision, or patch file.
    #[arg(required_unless_present_any = ["head", "bench"])]
    a: Option<String>,
    /// Render B: same kind as A.
    #[arg(required_unless_present_any = ["head", "bench"])]
    b: Option<String>,
    /// The base both renders changed: a file, directory or revision. For revisions it defaults
    /// to the merge base of A and B.
    #[arg(long)]
    base: Option<String>,
    /// Compare one render against --base instead of two renders.
    #[arg(long, requires = "base", conflicts_with_all = ["a", "b"])]
    head: Option<String>,
    /// Git repository for revisions (and for a patch base that is a revision).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// What A and B are; detected when omitted.
    #[arg(long, value_enum)]
    input: Option<Input>,
    /// Variance (percent) at or below which the renders agree.
    #[arg(long, env = "PATCHGATE_THRESHOLD_PERCENT", default_value_t = 3.0)]
    threshold: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Count comment nodes (by default comments never count).
    #[arg(long)]
    count_comments: bool,
    /// Bytes per file (any side) beyond which the file is compared as lines, unparsed.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_bytes: usize,
    /// Nodes per file beyond which the file is compared as lines.
    #[arg(long, default_value_t = Limits::default().max_nodes)]
    max_nodes: usize,
    /// Steps of matcher work per pair of trees beyond which the file is compared as lines
    /// (deterministic: the same on any machine).
    #[arg(long, default_value_t = Limits::default().max_match_steps)]
    max_match_steps: u64,
    /// Last-resort wall-clock guard per file, in milliseconds: a file it stops is compared as
    /// lines, reported as stopped by the guard, and the change escalates (never agrees).
    #[arg(long, default_value_t = Limits::default().time_limit_ms)]
    time_limit_ms: u64,
    /// A glob of paths that do not count in the renders' variance (reported apart); repeat for
    /// more. Replaces the default list (scratch scripts such as `reproduce*`, backups; see
    /// docs/configuration.md).
    #[arg(long, value_name = "GLOB", conflicts_with = "no_exclude")]
    exclude: Vec<String>,
    /// Count every file: no exclude list, not even the default one.
    #[arg(long)]
    no_exclude: bool,
    /// Benchmark mode: diff every before/after pair under DIR (see benches/README.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["a", "b", "head"])]
    bench: Option<PathBuf>,
    /// Benchmark mode: also time this difftastic binary on the same pairs.
    #[arg(long, value_name = "PATH", requires = "bench")]
    bench_difftastic: Option<PathBuf>,
    /// Benchmark mode: only the first N pairs.
    #[arg(long, requires = "bench")]
    bench_limit: Option<usize>,
    /// Benchmark mode: write per-pair figures as JSON lines to FILE.
    #[arg(long, value_name = "FILE", requires = "bench")]
    bench_out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("patchgate: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    let global = cli.global;
    match cli.command {
        Command::Diff(args) => cmd_diff(*args),
        Command::Check(args) => runtime()?.block_on(cmd_check(&global, *args)),
        Command::Audit(args) => runtime()?.block_on(cmd_audit(&global, args)),
        Command::Meta(MetaCommand::Verify { target, repo }) => cmd_meta_verify(&target, &repo),
        Command::Ledger(LedgerCommand::Verify) => runtime()?.block_on(cmd_ledger_verify(&global)),
        Command::Rollback(args) if args.github.is_some() => {
            runtime()?.block_on(cmd_rollback_github(&global, args))
        }
        Command::Rollback(args) => cmd_rollback(args),
        Command::Rules(RulesCommand::Test { dir }) => cmd_rules_test(dir),
        Command::Config(ConfigCommand::Explain) => {
            print!("{}", config::explain(&settings(&global, None)?));
            Ok(0)
        }
        Command::Config(ConfigCommand::Check { file }) => cmd_config_check(&global, file),
        Command::Serve(args) => cmd_serve(&global, args),
        Command::Jobs(args) => runtime()?.block_on(cmd_jobs(&global, args)),
        Command::Event(args) => runtime()?.block_on(cmd_event(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn settings(global: &GlobalArgs, threshold: Option<f64>) -> Result<Settings> {
    let audit_mode = match &global.audit_mode {
        Some(m) => Some(m.parse::<AuditMode>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let flags = Flags {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        config: global.config.clone(),
        threshold_percent: threshold,
        audit_mode,
    };
    if let Some(t) = threshold {
        if !(t.is_finite() && (0.0..=100.0).contains(&t)) {
            bail!("--threshold must be a percentage between 0 and 100, got {t}");
        }
    }
    Ok(config::resolve(&flags, &env_var)?)
}

async fn open_store(s: &Settings) -> Result<Store> {
    Store::open(&s.data_dir, s.database_url.as_deref())
        .await
        .with_context(|| format!("opening the store in {}", s.data_dir.display()))
}

fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

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

async fn cmd_check(global: &GlobalArgs, args: CheckArgs) -> Result<u8> {
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
    let req = CheckRequest {
        repo: args.repo,
        base,
        head: args.head,
        render_b: match (args.render_b, args.render_b_patch) {
            (Some(r), _) => Some(RenderBSource::Rev(r)),
            (None, Some(p)) => Some(RenderBSource::Patch(p)),
            (None, None) => None,
        },
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
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => print!("{}", render_check_text(&outcome, use_color(args.color))),
    }
    Ok(if outcome.record.quorum_passed { 0 } else { 1 })
}

async fn cmd_audit(global: &GlobalArgs, args: AuditArgs) -> Result<u8> {
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

fn cmd_meta_verify(target: &str, repo: &std::path::Path) -> Result<u8> {
    let (what, text) = if std::path::Path::new(target).is_file() {
        let text = std::fs::read_to_string(target).with_context(|| format!("reading {target}"))?;
        (target.to_string(), text)
    } else {
        let r = git2::Repository::discover(repo).with_context(|| {
            format!(
                "`{target}` is not a file, and {} is not a git repository",
                repo.display()
            )
        })?;
        let commit = r
            .revparse_single(target)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("`{target}` is neither a file nor a commit"))?;
        let text = notes::read_raw(&r, commit.id())?.with_context(|| {
            format!(
                "commit {} has no patchgate note (refs/notes/patchgate)",
                commit.id()
            )
        })?;
        (format!("note on {}", commit.id()), text)
    };
    match verify_yaml(&text) {
        Ok(record) => {
            println!(
                "OK  {what}: record_hash {} verifies (prev {}), quorum_passed: {}",
                record.record_hash.as_deref().unwrap_or("?"),
                record.prev_record_hash.as_deref().unwrap_or("?"),
                record.quorum_passed
            );
            Ok(0)
        }
        Err(e) => {
            println!("TAMPERED  {what}: {e}");
            Ok(1)
        }
    }
}

async fn cmd_ledger_verify(global: &GlobalArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let rows = store.all().await.context("reading the ledger")?;
    match verify_chain(&rows) {
        Ok(report) => {
            println!(
                "OK  ledger ({}, {}): {} record(s), chain intact, head {}",
                store.backend(),
                settings.data_dir.display(),
                report.rows,
                report.head_hash
            );
            Ok(0)
        }
        Err(e) => {
            println!("TAMPERED  ledger ({}): {e}", store.backend());
            Ok(1)
        }
    }
}

/// Check one config file; the problems found, or what it is.
fn check_config_file(path: &std::path::Path) -> Result<std::result::Result<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    let value: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("{name}: not valid YAML: {e}"))),
    };
    if value.get("auditors").is_some() {
        return Ok(match config::ServerConfig::from_yaml(&text, &name) {
            Ok(c) => Ok(format!(
                "{name}: server config, {} auditor(s), {} approval(s) required, USD {} a day",
                c.auditors.len(),
                c.quorum.required,
                c.budget.daily_usd
            )),
            Err(e) => Err(e.to_string()),
        });
    }
    let cfg = match repo_config::parse(&text, "the working tree") {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("{name}: {e}"))),
    };
    let registry = Registry::embedded()?;
    match repo_config::apply_rules(RuleSet::embedded()?, &cfg, "the working tree") {
        Err(e) => Ok(Err(format!("{name}: {e}"))),
        Ok(rules) => {
            // The repository's own rules must pass their own examples, or every scan rejects.
            let own: Vec<String> = cfg
                .rules
                .add
                .iter()
                .filter_map(|r| r.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect();
            let report = rules.self_test(&registry);
            let failing: Vec<String> = report
                .to_string()
                .lines()
                .filter(|l| own.iter().any(|id| l.contains(id.as_str())))
                .map(str::to_string)
                .collect();
            if failing.is_empty() {
                Ok(Ok(format!(
                    "{name}: repository config, {} rule(s) added, {} disabled",
                    cfg.rules.add.len(),
                    cfg.rules.disable.len()
                )))
            } else {
                Ok(Err(format!(
                    "{name}: rules.add:\n  {}",
                    failing.join("\n  ")
                )))
            }
        }
    }
}

fn cmd_config_check(global: &GlobalArgs, file: Option<PathBuf>) -> Result<u8> {
    let mut files = Vec::new();
    match file {
        Some(f) => files.push(f),
        None => {
            let s = settings(global, None);
            match s {
                Ok(s) => match &s.source {
                    config::ConfigSource::File(p) => files.push(p.clone()),
                    config::ConfigSource::EmbeddedDefault => {
                        println!("OK  server config: the embedded default");
                    }
                },
                Err(e) => {
                    println!("PROBLEM  {e}");
                    return Ok(1);
                }
            }
            if let Ok(repo) = git2::Repository::discover(".") {
                if let Some(dir) = repo.workdir() {
                    let p = dir.join(repo_config::REPO_CONFIG_PATH);
                    if p.is_file() {
                        files.push(p);
                    }
                }
            }
        }
    }
    let mut bad = false;
    for f in files {
        match check_config_file(&f)? {
            Ok(what) => println!("OK  {what}"),
            Err(problems) => {
                bad = true;
                println!("PROBLEM  {problems}");
            }
        }
    }
    Ok(u8::from(bad))
}

fn cmd_rollback(args: RollbackArgs) -> Result<u8> {
    use patchgate::rollback::{
        apply_revert, find_pr_merge, plan_revert_with, push, RevertMessage, RevertOptions,
        RevertReason, RevertTarget,
    };
    let repo = git2::Repository::discover(&args.repo)
        .with_context(|| format!("{} is not inside a git repository", args.repo.display()))?;
    let branch = match args.branch {
        Some(b) => b,
        None => {
            let head = repo.head().context("the repository has no HEAD")?;
            if !head.is_branch() {
                bail!("HEAD is detached: name the branch to revert on with --branch");
            }
            head.shorthand()
                .map_err(|e| anyhow::anyhow!("branch name: {e}"))?
                .to_string()
        }
    };
    let commit = |rev: &str| -> Result<git2::Commit<'_>> {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("unknown commit `{rev}`"))
    };
    let target = match (&args.target, args.pr) {
        (_, Some(n)) => find_pr_merge(&repo, &branch, n)?,
        (Some(t), None) => match t.split_once("..") {
            Some((first, last)) => RevertTarget::Range {
                first: commit(first)?.id(),
                last: commit(last)?.id(),
            },
            None => {
                let c = commit(t)?;
                if c.parent_count() > 1 {
                    RevertTarget::Merge(c.id())
                } else {
                    RevertTarget::Commit(c.id())
                }
            }
        },
        (None, None) => bail!("name a commit, a range FIRST..LAST, or --pr N"),
    };
    // The audit record of the change, when patchgate gated it: the note on the merged head
    // (a merge's second parent), or on the commit itself.
    let head = target.head();
    let mut candidates = vec![head];
    if let RevertTarget::Merge(m) = target {
        if let Ok(p) = repo.find_commit(m).and_then(|c| c.parent_id(1)) {
            candidates.insert(0, p);
        }
    }
    let record_hash = candidates
        .iter()
        .find_map(|c| notes::read(&repo, *c).ok().flatten())
        .and_then(|r| r.record_hash);
    let msg = RevertMessage {
        title: None,
        reason: RevertReason::Manual(args.reason),
        record_hash,
    };
    let opts = RevertOptions {
        allow_revert_of_revert: args.allow_revert_of_revert,
    };
    let plan = plan_revert_with(&repo, &branch, target, &msg, &opts)?;
    if args.dry_run {
        println!("Would commit on {branch} (on top of {}):\n", plan.parent);
        println!("{}", plan.message);
        return Ok(0);
    }
    let id = apply_revert(&repo, &branch, &plan)?;
    println!("Reverted on {branch}: {id}\n");
    println!("{}", plan.message);
    if args.push {
        push(&repo, &args.remote, &branch)
            .with_context(|| format!("pushing {branch} to {}", args.remote))?;
        println!("Pushed {branch} to {}.", args.remote);
    }
    Ok(0)
}

fn cmd_rules_test(dir: Option<PathBuf>) -> Result<u8> {
    let registry = Registry::embedded().context("loading the language registry")?;
    let rules = match &dir {
        Some(d) => {
            RuleSet::load_dir(d).with_context(|| format!("loading rules from {}", d.display()))?
        }
        None => RuleSet::embedded().context("loading the built-in rule pack")?,
    };
    let report = rules.self_test(&registry);
    println!("{report}");
    Ok(if report.passed() { 0 } else { 1 })
}

fn cmd_diff(args: DiffArgs) -> Result<u8> {
    if !(args.threshold.is_finite() && (0.0..=100.0).contains(&args.threshold)) {
        bail!(
            "--threshold must be a percentage between 0 and 100, got {}",
            args.threshold
        );
    }
    let registry = Registry::embedded().context("loading the language registry")?;
    let opts = DiffOptions {
        threshold_percent: args.threshold,
        count_comments: args.count_comments,
        limits: Limits {
            max_bytes: args.max_bytes,
            max_nodes: args.max_nodes,
            max_match_steps: args.max_match_steps,
            time_limit_ms: args.time_limit_ms,
        },
        ..DiffOptions::default()
    };
    if let Some(dir) = args.bench {
        let summary = run_bench(
            &registry,
            &BenchOptions {
                corpus: dir,
                diff: opts,
                difftastic: args.bench_difftastic,
                limit: args.bench_limit,
                per_pair_out: args.bench_out,
            },
        )?;
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
            Format::Text => print!("{}", summary.render_text()),
        }
        return Ok(0);
    }
    let single = args.head.is_some();
    let spec = InputSpec {
        repo: args.repo,
        base: args.base,
        a: args.head.or(args.a).context("render A is required")?,
        b: if single { None } else { args.b },
        kind: args.input.map(|k| match k {
            Input::Files => InputKind::Files,
            Input::Dirs => InputKind::Dirs,
            Input::Revs => InputKind::Revs,
            Input::Patches => InputKind::Patches,
        }),
    };
    let input = load(&spec)?;
    let exclude = if args.no_exclude {
        PathFilter::none()
    } else if args.exclude.is_empty() {
        PathFilter::defaults()
    } else {
        PathFilter::new(&args.exclude).context("--exclude")?
    };
    let report = diff_change_excluding(&input, &registry, &opts, &exclude);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            print!("{}", render_text(&report, color));
        }
    }
    Ok(match report.verdict {
        Verdict::Agreed => 0,
        Verdict::Escalate => 1,
    })
}

fn cmd_serve(global: &GlobalArgs, args: ServeArgs) -> Result<u8> {
    use patchgate::server::{self, logging, ServeOptions, ServeSecrets, WorkerOptions};
    use std::time::Duration;
    logging::init(
        match args.log_format {
            LogFormatArg::Text => logging::LogFormat::Text,
            LogFormatArg::Json => logging::LogFormat::Json,
        },
        None,
    )?;
    let settings = settings(global, None)?;
    let listen = args
        .listen
        .or_else(|| env_var("PATCHGATE_LISTEN").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| server::DEFAULT_LISTEN.to_string());
    let listen = listen.parse().with_context(|| {
        format!("--listen / PATCHGATE_LISTEN: {listen:?} is not an address like 127.0.0.1:8080")
    })?;
    if args.max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    if args.lease_secs < 3 {
        bail!("--lease-secs must be at least 3");
    }
    let job_retention = server::job_retention(args.job_retention_days)?;
    let limits = server::intake::ListenerLimits {
        max_in_flight: args.max_webhook_requests,
        max_body_bytes_in_flight: args.max_webhook_body_mib.saturating_mul(1024 * 1024),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
    };
    limits.validate().map_err(|e| anyhow::anyhow!(e))?;
    let defaults = WorkerOptions::default();
    let opts = ServeOptions {
        listen,
        workers: args.workers,
        reconcile_every: (args.reconcile_interval > 0)
            .then(|| Duration::from_secs(args.reconcile_interval)),
        redeliver_every: (args.redeliver_interval > 0)
            .then(|| Duration::from_secs(args.redeliver_interval)),
        worker: WorkerOptions {
            lease: Duration::from_secs(args.lease_secs),
            retry: patchgate::store::RetryPolicy {
                max_attempts: args.max_attempts,
                base_backoff: Duration::from_secs(args.retry_secs),
                max_backoff: Duration::from_secs(600),
            },
            grace: Duration::from_secs(args.grace_secs),
            ..defaults
        },
        job_retention,
        limits,
    };
    let secrets = ServeSecrets::from_env(&env_var)?;
    let env: server::EnvFn = Arc::new(env_var);
    runtime()?.block_on(server::serve(settings, opts, secrets, env))?;
    Ok(0)
}

async fn cmd_jobs(global: &GlobalArgs, args: JobsArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    match args.action.unwrap_or(JobsAction::List) {
        JobsAction::List => {
            let counts = store.counts().await?;
            let line: Vec<String> = patchgate::store::jobs::STATES
                .iter()
                .map(|s| format!("{s} {}", counts.get(*s).copied().unwrap_or(0)))
                .collect();
            println!("jobs: {}", line.join(", "));
            let parked = store.parked().await?;
            if parked.is_empty() {
                println!("no parked jobs");
            }
            for j in parked {
                let lost = if j.lost > 0 {
                    format!(" ({} lost their worker)", j.lost)
                } else {
                    String::new()
                };
                println!(
                    "parked #{}  {}  {}  delivery {}  attempts {}{lost}  since {}",
                    j.id,
                    j.event,
                    j.repo,
                    j.delivery_id,
                    j.attempts,
                    j.updated_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                if let Some(e) = j.last_error {
                    println!("    last error: {}", e.lines().next().unwrap_or(""));
                }
            }
            Ok(0)
        }
        JobsAction::Requeue { ids, all } => {
            let ids: Vec<i64> = if all {
                store.parked().await?.into_iter().map(|j| j.id).collect()
            } else {
                ids
            };
            if ids.is_empty() {
                bail!("name the jobs to requeue (ids from `patchgate jobs list`), or pass --all");
            }
            let mut missing = 0;
            for id in ids {
                if store.requeue(id, chrono::Utc::now()).await? {
                    println!("requeued #{id}");
                } else {
                    eprintln!("#{id} is not a parked job");
                    missing += 1;
                }
            }
            Ok(u8::from(missing > 0))
        }
        JobsAction::Discard { ids } => {
            let mut missing = 0;
            for id in ids {
                if store.discard(id, chrono::Utc::now()).await? {
                    println!("discarded #{id}");
                } else {
                    eprintln!("#{id} is not a parked job");
                    missing += 1;
                }
            }
            Ok(u8::from(missing > 0))
        }
    }
}

async fn cmd_event(args: EventArgs) -> Result<u8> {
    use patchgate::policy::send::{event_from_args, send};
    use patchgate::policy::signing::EventsSecret;
    let url = args
        .url
        .or_else(|| env_var("PATCHGATE_EVENTS_URL").filter(|v| !v.is_empty()))
        .context("--url (or PATCHGATE_EVENTS_URL) names the server's /webhook/meta endpoint")?;
    let secret = env_var("PATCHGATE_EVENTS_SECRET")
        .filter(|v| !v.trim().is_empty())
        .context(
            "PATCHGATE_EVENTS_SECRET is not set: events are signed with the server's events secret",
        )?;
    let secret = EventsSecret::parse(&secret)
        .map_err(|e| anyhow::anyhow!("PATCHGATE_EVENTS_SECRET: {e}"))?;
    let (body, ndjson) = match &args.ndjson {
        Some(path) => {
            let bytes = if path.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
                b
            } else {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            };
            (bytes, true)
        }
        None => {
            let (Some(repo), Some(commit), Some(metric), Some(value)) =
                (&args.repo, &args.commit, &args.metric, args.value)
            else {
                bail!("--repo, --commit, --metric and --value are required without --ndjson");
            };
            let ev = event_from_args(
                repo,
                commit,
                metric,
                value,
                args.at.as_deref(),
                args.check.as_deref(),
            )?;
            (serde_json::to_vec(&ev)?, false)
        }
    };
    let out = send(&url, &secret, body, ndjson).await?;
    println!("{}", out.body.trim_end());
    if let Some(h) = &out.audit_hash {
        println!("X-Audit-Hash: {h}");
    }
    if !out.is_success() {
        bail!("the server answered {}", out.status);
    }
    let rejected = serde_json::from_str::<serde_json::Value>(&out.body)
        .ok()
        .and_then(|v| v.get("rejected").and_then(|r| r.as_array()).map(Vec::len))
        .unwrap_or(0);
    Ok(u8::from(rejected > 0))
}

async fn cmd_rollback_github(global: &GlobalArgs, args: RollbackArgs) -> Result<u8> {
    use patchgate::github::app::{AppCredentials, GitHubApp, RepoRef};
    use patchgate::github::mirror::Mirrors;
    use patchgate::server::{metrics::Metrics, rollback::AppRollbacks, DEFAULT_API_URL};
    let name = args.github.as_deref().unwrap_or_default();
    let repo = RepoRef::parse(name)?;
    let pr = args.pr.context("--github needs --pr N")?;
    let id = env_var("PATCHGATE_GITHUB_APP_ID")
        .filter(|v| !v.is_empty())
        .context("PATCHGATE_GITHUB_APP_ID is not set: --github acts as the GitHub App")?;
    let key = env_var("PATCHGATE_GITHUB_PRIVATE_KEY")
        .filter(|v| !v.is_empty())
        .context(
            "PATCHGATE_GITHUB_PRIVATE_KEY is not set (a path to the App's PEM key, or the PEM)",
        )?;
    let api = env_var("PATCHGATE_GITHUB_API_URL")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let app = GitHubApp::new(AppCredentials::new(&id, &key)?, &api)?;
    let rollbacks = AppRollbacks::new(
        app,
        Arc::new(Mirrors::new(&settings.data_dir)),
        store,
        Metrics::new(),
    );
    let actor = env_var("USER").unwrap_or_else(|| "cli".into());
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| "asked on the command line".into());
    let reply = rollbacks.manual_cli(&repo, pr, &reason, &actor).await?;
    println!("{reply}");
    Ok(if reply.starts_with("Rollback of") {
        1
    } else {
        0
    })
}
