//! The command line's argument types (clap): every command, its flags and their help text.
//! The command bodies live beside this file, one file per command or family.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use patchgate::astdiff::tree::Limits;

#[derive(Parser)]
#[command(
    name = "patchgate",
    version,
    about = "Git-integrated patch gatekeeper: compares independent renders of a change as syntax trees",
    long_about = None
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
}

/// Where state lives and which server config applies (flags > env > file > defaults; see
/// `patchgate config explain`).
#[derive(Args)]
#[command(next_help_heading = "Store and config (every command)")]
pub(crate) struct GlobalArgs {
    /// Data directory: the embedded store (SQLite) [env: PATCHGATE_DATA_DIR].
    #[arg(long, global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL, for several processes sharing one store [env: DATABASE_URL].
    #[arg(long, global = true)]
    pub(crate) database_url: Option<String>,
    /// Server config file (YAML) [env: PATCHGATE_CONFIG]; default: patchgate.yml in the data
    /// dir, else the embedded one.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// `normal`, or `degraded`: model auditors off [env: PATCHGATE_AUDIT_MODE].
    #[arg(long, global = true)]
    pub(crate) audit_mode: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Compare two renders of a change as syntax trees (or one render against its base).
    ///
    /// A and B are two files, two directories, two git revisions of --repo, or two patch files
    /// applied to --base. With --base, variance is measured relative to the change; without,
    /// whole files are compared. `--base B --head H` (no A/B) classifies one render's changes as
    /// cosmetic or semantic. Exit status: 0 agreed, 1 escalate, 2 error.
    Diff(Box<DiffArgs>),
    #[command(flatten)]
    Other(OtherCommand),
}

/// Every command but `diff`. clap builds a command's arguments only when that command is run
/// (`defer`), so a `patchgate diff` — run once per file pair by editors, `git difftool` and
/// scripts — does not pay for building the others' (~0.2 ms of each process's start, issue #21).
/// `diff` is not deferred: a deferred command gets the global flags before its own, which would
/// put the "Store and config" heading above `diff`'s own headings in its help (test
/// `cli::args::tests::the_global_heading_comes_last_in_every_help`).
#[derive(Subcommand)]
#[command(defer = true)]
pub(crate) enum OtherCommand {
    /// Run the whole gate on a local repository: AST diff, audit quorum, the sealed record,
    /// its git note and ledger entry. Exit 0 only when quorum_passed.
    Check(Box<CheckArgs>),
    /// Ask a builder of the server config (`builders:`) for a render B of a request on a base:
    /// prints the render B commit (kept under refs/patchgate/render-b/…). A render B built
    /// before for the same base, request and builder is reused. Exit 0 built, 1 unavailable
    /// (the reason on stderr), 2 error. See docs/render-b.md.
    Render(RenderArgs),
    /// Run the 2-of-3 audit quorum on a local range and print every vote. Exit 0 when the
    /// quorum passes, 1 when it fails.
    Audit(AuditArgs),
    /// Decision records (meta.yaml).
    #[command(subcommand)]
    Meta(MetaCommand),
    /// The ledger of decision records.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Write a decision record as one self-contained HTML page: the verdict first, the path,
    /// every vote, render A beside render B where they differ, the explanations and the hashes
    /// with their verification. RECORD is a meta.yaml file or a commit of --repo (its git note).
    /// Exit 0 when the page is written (a record that does not verify is written and marked),
    /// 2 when RECORD is no decision record or cannot be read.
    Report(ReportArgs),
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
pub(crate) struct EventArgs {
    /// The server's /webhook/meta URL [env: PATCHGATE_EVENTS_URL].
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// `owner/name`.
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    pub(crate) repo: Option<String>,
    /// The commit measured.
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    pub(crate) commit: Option<String>,
    /// Metric name (`[a-z0-9_.]+`; `ci` for a CI result with --check).
    #[arg(long, required_unless_present = "ndjson", conflicts_with = "ndjson")]
    pub(crate) metric: Option<String>,
    /// The measurement.
    #[arg(
        long,
        required_unless_present = "ndjson",
        conflicts_with = "ndjson",
        allow_negative_numbers = true
    )]
    pub(crate) value: Option<f64>,
    /// When it was measured (RFC 3339); default: now.
    #[arg(long, conflicts_with = "ndjson")]
    pub(crate) at: Option<String>,
    /// For metric `ci`: the check's name.
    #[arg(long, conflicts_with = "ndjson")]
    pub(crate) check: Option<String>,
    /// Send the NDJSON lines of FILE (`-`: stdin) instead of one event.
    #[arg(long, value_name = "FILE")]
    pub(crate) ndjson: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to bind [env: PATCHGATE_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Queue workers in this process; 0 only queues deliveries (another replica works them).
    #[arg(long, default_value_t = 2)]
    pub(crate) workers: usize,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    pub(crate) log_format: LogFormatArg,
    /// Export OpenTelemetry traces over OTLP/HTTP (JSON) to this collector base URL
    /// (`/v1/traces` is appended), e.g. http://127.0.0.1:4318. Without it, the standard
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT; with none, no
    /// traces are exported (docs/operations.md).
    #[arg(long, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// Seconds between reconciliation passes (open PRs whose head has no patchgate check run
    /// are gated); 0 turns it off.
    #[arg(long, default_value_t = 600)]
    pub(crate) reconcile_interval: u64,
    /// Seconds between passes that ask GitHub to redeliver failed webhook deliveries (the App's
    /// delivery log, up to 3 days back); 0 turns it off.
    #[arg(long, default_value_t = 300)]
    pub(crate) redeliver_interval: u64,
    /// Seconds a claimed job is leased without a heartbeat.
    #[arg(long, default_value_t = 60)]
    pub(crate) lease_secs: u64,
    /// Failed attempts after which a job is parked.
    #[arg(long, default_value_t = 5)]
    pub(crate) max_attempts: u32,
    /// Seconds of the first retry delay (doubled after each failure, at most 10 minutes).
    #[arg(long, default_value_t = 5)]
    pub(crate) retry_secs: u64,
    /// Seconds a job in hand may run on after SIGTERM before it is released.
    #[arg(long, default_value_t = 20)]
    pub(crate) grace_secs: u64,
    /// Days done jobs are kept (their delivery ids dedupe redeliveries, which GitHub allows for
    /// 3 days), then deleted in the background; 0 keeps them forever. Parked jobs are never
    /// deleted automatically.
    #[arg(long, env = "PATCHGATE_JOB_RETENTION_DAYS", default_value_t = patchgate::server::DEFAULT_RETENTION_DAYS)]
    pub(crate) job_retention_days: u64,
    /// Webhook requests handled at once; more are answered 503 at once (GitHub can redeliver).
    #[arg(long, default_value_t = 256)]
    pub(crate) max_webhook_requests: usize,
    /// MiB of webhook body bytes (as they arrive) held at once; a request whose bytes would go
    /// over is answered 503. At least 25.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_webhook_body_mib: usize,
    /// Seconds within which a webhook's whole body must arrive, else 408 and nothing queued.
    #[arg(long, default_value_t = 10)]
    pub(crate) body_timeout_secs: u64,
    /// Seconds within which a webhook request is answered, else 503.
    #[arg(long, default_value_t = 30)]
    pub(crate) request_timeout_secs: u64,
    /// Seconds within which a request's head must arrive (also how long an idle keep-alive
    /// connection is kept), else the connection is closed.
    #[arg(long, default_value_t = 10)]
    pub(crate) header_timeout_secs: u64,
    /// Connections served at once (lowered to fit the open-file limit); 32 more serve only
    /// /healthz, /readyz and /metrics.
    #[arg(long, default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Connections one peer address (an IPv6 /64) may hold at once; its further connections
    /// are closed at once. Trusted proxies are not held to it.
    #[arg(long, default_value_t = 128)]
    pub(crate) max_connections_per_peer: usize,
    /// Webhook requests one peer may have in flight at once; more are answered 503.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_webhook_requests_per_peer: usize,
    /// MiB of webhook body bytes (as they arrive) one peer's requests may hold at once; a
    /// request whose bytes would go over is answered 503. At least 25.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_webhook_body_mib_per_peer: usize,
    /// Address of a load balancer or proxy in front of serve (repeat, or separate with
    /// commas): its connections are not held to the per-peer connection cap, and requests
    /// through it are charged to the client it names in X-Forwarded-For. X-Forwarded-For from
    /// any other peer is ignored.
    #[arg(long = "trusted-proxy", value_name = "IP", value_delimiter = ',')]
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormatArg {
    Text,
    Json,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// A meta.yaml file (its signature is read from FILE.sig when present), or a commit of
    /// --repo.
    pub(crate) record: String,
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// Where to write the HTML page (`-` for stdout).
    #[arg(long, value_name = "OUT")]
    pub(crate) html: PathBuf,
    /// Check the record's SSH signature against these keys (an allowed_signers file).
    #[arg(long, value_name = "ALLOWED_SIGNERS")]
    pub(crate) key: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct JobsArgs {
    #[command(subcommand)]
    pub(crate) action: Option<JobsAction>,
    /// Output of the listing: `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub(crate) format: Format,
}

#[derive(Subcommand)]
pub(crate) enum JobsAction {
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
pub(crate) enum ConfigCommand {
    /// Validate a server config or a repository config (.github/patchgate.yml) and print every
    /// problem with its path. Without FILE: the server config in effect and, inside a git
    /// repository, its .github/patchgate.yml.
    Check {
        file: Option<PathBuf>,
        /// Output: `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the effective configuration and where each value came from.
    Explain,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The git repository.
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// The base the change is against (required, unless --github-actions reads it from the
    /// event).
    #[arg(long, required_unless_present = "github_actions")]
    pub(crate) base: Option<String>,
    /// Run as a GitHub Actions step: read the change from GITHUB_EVENT_PATH and friends, write
    /// the step summary, annotations and outputs (see docs/action.md).
    #[arg(long)]
    pub(crate) github_actions: bool,
    /// Render A: the change's head.
    #[arg(long, default_value = "HEAD")]
    pub(crate) head: String,
    /// Render B as a revision of the same repository, or `auto`: ask the builder the
    /// repository config names (`render_b.builder`, or --builder) for one, with --request-file.
    #[arg(long, conflicts_with = "render_b_patch")]
    pub(crate) render_b: Option<String>,
    /// With `--render-b auto`: the request the builder is given (never render A).
    #[arg(long, value_name = "FILE")]
    pub(crate) request_file: Option<PathBuf>,
    /// With `--render-b auto`: this builder of the server config, whatever the repository
    /// config names.
    #[arg(long, value_name = "NAME")]
    pub(crate) builder: Option<String>,
    /// Render B as a unified-diff patch applied to the base.
    #[arg(long, value_name = "FILE")]
    pub(crate) render_b_patch: Option<PathBuf>,
    /// Also write the record (meta.yaml) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) write_meta: Option<PathBuf>,
    /// Do not attach the record to the head commit as a git note.
    #[arg(long)]
    pub(crate) no_note: bool,
    /// Variance (percent) at or below which the renders agree [env: PATCHGATE_THRESHOLD_PERCENT].
    #[arg(long)]
    pub(crate) threshold: Option<f64>,
    /// Output: `text` for people, `json` for scripts (docs/diff-json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Colour in text output: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub(crate) color: Color,
}

#[derive(Args)]
pub(crate) struct RenderArgs {
    /// The builder: a `builders:` entry of the server config, by name.
    #[arg(long, value_name = "NAME")]
    pub(crate) builder: String,
    /// The git repository.
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// The base commit the render is built on.
    #[arg(long)]
    pub(crate) base: String,
    /// The request: what to build (the builder sees this and the base, nothing else).
    #[arg(long, value_name = "FILE")]
    pub(crate) request_file: PathBuf,
}

#[derive(Args)]
pub(crate) struct AuditArgs {
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    #[arg(long)]
    pub(crate) base: String,
    #[arg(long, default_value = "HEAD")]
    pub(crate) head: String,
    /// Output: `text` for people, `json` for scripts (docs/diff-json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Colour in text output: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub(crate) color: Color,
}

#[derive(Args)]
pub(crate) struct RollbackArgs {
    /// The commit to revert (a merge, or a squash commit), or a rebase-merged range A..B (git's
    /// meaning: the commits after A up to B; A^..B includes A).
    #[arg(required_unless_present = "pr", conflicts_with = "pr")]
    pub(crate) target: Option<String>,
    /// Find the merge of pull request N on the branch (`Merge pull request #N` or `… (#N)`).
    #[arg(long)]
    pub(crate) pr: Option<u64>,
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// The branch to revert on; default: the checked-out branch.
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// Why (goes into the revert commit's message).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Print the revert that would be made, and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Push the branch to the remote afterwards (fast-forward only). The remote is checked
    /// before anything is committed; a revert committed by an earlier run but not pushed is
    /// pushed by this one.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) push: bool,
    /// The remote for --push: a configured remote's name, or a URL or path.
    #[arg(long, default_value = "origin")]
    pub(crate) remote: String,
    /// Allow reverting a revert (a person's decision).
    #[arg(long)]
    pub(crate) allow_revert_of_revert: bool,
    /// Roll back through the GitHub App instead of a local repository: `owner/name`, with --pr.
    /// Uses PATCHGATE_GITHUB_APP_ID, PATCHGATE_GITHUB_PRIVATE_KEY and the data directory's store
    /// (the same exactly-once record as the server's); the repository's `rollback.action`
    /// decides between a push, a revert pull request and a comment.
    #[arg(long, value_name = "OWNER/NAME", requires = "pr", conflicts_with_all = ["target", "dry_run", "push", "branch"])]
    pub(crate) github: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum MetaCommand {
    /// Recompute every hash of a record: a meta.yaml file, or the git note on a commit.
    /// Exit 0 verified, 1 tampered, 2 not a record (or unreadable).
    Verify {
        /// A file path, or a commit of --repo.
        target: String,
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Output: `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also check the record's SSH signature against these keys (an allowed_signers file).
        #[arg(long, value_name = "ALLOWED_SIGNERS")]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Walk the ledger's chain and report any record edited, deleted or reordered.
    Verify {
        /// Output: `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also check the ledger against the signed head anchored in this repository
        /// (refs/patchgate/ledger): detects deleted newest records. Needs --key.
        #[arg(long, value_name = "REPO", requires = "key")]
        anchor: Option<PathBuf>,
        /// The allowed_signers file the anchor's signature is checked against.
        #[arg(long, value_name = "ALLOWED_SIGNERS", requires = "anchor")]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Run every rule against its own examples; exit 1 on any mismatch.
    Test {
        /// A directory of rule files to test instead of the built-in pack (rules/*.yaml).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Output: `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Input {
    Files,
    Dirs,
    Revs,
    Patches,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// Render A: a file, directory, git revision, or patch file.
    #[arg(required_unless_present_any = ["head", "bench"])]
    pub(crate) a: Option<String>,
    /// Render B: same kind as A.
    #[arg(required_unless_present_any = ["head", "bench"])]
    pub(crate) b: Option<String>,
    /// The base both renders changed: a file, directory or revision. For revisions it defaults
    /// to the merge base of A and B.
    #[arg(long)]
    pub(crate) base: Option<String>,
    /// Compare one render against --base instead of two renders.
    #[arg(long, requires = "base", conflicts_with_all = ["a", "b"])]
    pub(crate) head: Option<String>,
    /// Git repository for revisions (and for a patch base that is a revision).
    #[arg(long, default_value = ".")]
    pub(crate) repo: PathBuf,
    /// What A and B are; detected when omitted.
    #[arg(long, value_enum)]
    pub(crate) input: Option<Input>,
    /// Variance (percent) at or below which the renders agree [env: PATCHGATE_THRESHOLD_PERCENT]
    /// [default: 3].
    #[arg(long)]
    pub(crate) threshold: Option<f64>,
    /// Output: `text` for people, `json` for scripts (docs/diff-json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Colour in text output: `auto` (on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub(crate) color: Color,
    /// A language registry (the format of grammars/languages.toml) to use instead of the one
    /// built in: to try a normalisation rule without rebuilding. Only grammars compiled into
    /// the binary can be named.
    #[arg(long, value_name = "FILE")]
    pub(crate) registry: Option<PathBuf>,
    /// Count comment nodes (by default comments never count).
    #[arg(long)]
    pub(crate) count_comments: bool,
    /// Edits listed per file in the text and JSON output, a number or `all`; the rest are
    /// counted (`edits_omitted`).
    #[arg(long, value_name = "N|all", default_value = "200", value_parser = parse_max_edits)]
    pub(crate) max_edits: usize,
    /// Bytes per file (any side) beyond which the file is compared as lines, unparsed.
    #[arg(help_heading = "Limits (per file)", long, default_value_t = Limits::default().max_bytes)]
    pub(crate) max_bytes: usize,
    /// Nodes per file beyond which the file is compared as lines.
    #[arg(help_heading = "Limits (per file)", long, default_value_t = Limits::default().max_nodes)]
    pub(crate) max_nodes: usize,
    /// Steps of matcher work per pair of trees beyond which the file is compared as lines
    /// (deterministic: the same on any machine).
    #[arg(help_heading = "Limits (per file)", long, default_value_t = Limits::default().max_match_steps)]
    pub(crate) max_match_steps: u64,
    /// Last-resort wall-clock guard per file, in milliseconds: a file it stops is compared as
    /// lines, reported as stopped by the guard, and the change escalates (never agrees).
    #[arg(help_heading = "Limits (per file)", long, default_value_t = Limits::default().time_limit_ms)]
    pub(crate) time_limit_ms: u64,
    /// A glob of paths that do not count in the renders' variance (reported apart); repeat for
    /// more. Replaces the default list (scratch scripts such as `reproduce*`, backups; see
    /// docs/configuration.md).
    #[arg(long, value_name = "GLOB", conflicts_with = "no_exclude")]
    pub(crate) exclude: Vec<String>,
    /// Count every file: no exclude list, not even the default one.
    #[arg(long)]
    pub(crate) no_exclude: bool,
    /// Benchmark mode: diff every before/after pair under DIR (see benches/README.md).
    #[arg(help_heading = "Benchmark mode", long, value_name = "DIR", conflicts_with_all = ["a", "b", "head"])]
    pub(crate) bench: Option<PathBuf>,
    /// Benchmark mode: also time this difftastic binary on the same pairs.
    #[arg(
        help_heading = "Benchmark mode",
        long,
        value_name = "PATH",
        requires = "bench"
    )]
    pub(crate) bench_difftastic: Option<PathBuf>,
    /// Benchmark mode: only the first N pairs.
    #[arg(help_heading = "Benchmark mode", long, requires = "bench")]
    pub(crate) bench_limit: Option<usize>,
    /// Benchmark mode: write per-pair figures as JSON lines to FILE.
    #[arg(
        help_heading = "Benchmark mode",
        long,
        value_name = "FILE",
        requires = "bench"
    )]
    pub(crate) bench_out: Option<PathBuf>,
}

/// `--max-edits`: a count, or `all` for every edit.
pub(crate) fn parse_max_edits(v: &str) -> Result<usize, String> {
    match v.trim() {
        "all" => Ok(usize::MAX),
        n => n
            .parse::<usize>()
            .map_err(|_| format!("`{v}` is neither a number of edits nor `all`")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command, nested ones included, with its path (`meta verify`).
    fn commands(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        let help = cmd.render_long_help().to_string();
        out.push((path.to_string(), help));
        for sub in cmd.get_subcommands_mut() {
            if sub.get_name() == "help" {
                continue;
            }
            let path = format!("{path} {}", sub.get_name());
            commands(sub, path.trim(), out);
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_global_heading_comes_last_in_every_help() {
        let mut cli = Cli::command();
        cli.build();
        let mut all = Vec::new();
        commands(&mut cli, "", &mut all);
        assert!(all.len() > 15, "{}", all.len());
        for (path, help) in &all {
            if path.is_empty() {
                continue;
            }
            let headings: Vec<&str> = help
                .lines()
                .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
                .collect();
            assert_eq!(
                headings.last(),
                Some(&"Store and config (every command):"),
                "`patchgate {path} --help` headings: {headings:?}"
            );
        }
    }

    #[test]
    fn diff_keeps_its_own_headings_before_the_global_one() {
        let mut cli = Cli::command();
        cli.build();
        let diff = cli.find_subcommand_mut("diff").expect("diff");
        let help = diff.render_long_help().to_string();
        let at = |h: &str| help.find(h).unwrap_or_else(|| panic!("{h} in {help}"));
        assert!(at("Options:") < at("Limits (per file):"));
        assert!(at("Limits (per file):") < at("Benchmark mode:"));
        assert!(at("Benchmark mode:") < at("Store and config (every command):"));
    }
}
