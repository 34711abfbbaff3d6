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
use patchgate::astdiff::input::{load, InputKind, InputSpec};
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::report::render_text;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{diff_change, DiffOptions, Verdict};
use patchgate::audit::rule_guard::RuleSet;

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
    /// Rule-Guard rules.
    #[command(subcommand)]
    Rules(RulesCommand),
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
    /// Milliseconds per file beyond which matching gives up and the file is compared as lines.
    #[arg(long, default_value_t = Limits::default().time_limit_ms)]
    time_limit_ms: u64,
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
    match cli.command {
        Command::Diff(args) => cmd_diff(*args),
        Command::Rules(RulesCommand::Test { dir }) => cmd_rules_test(dir),
    }
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
    let report = diff_change(&input, &registry, &opts);
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
