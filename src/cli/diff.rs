//! `patchgate diff`: two renders (or one against its base) compared as syntax trees, and the
//! benchmark mode over a corpus of before/after pairs.

use anyhow::{bail, Context, Result};

use patchgate::astdiff::bench::{run_bench, BenchOptions};
use patchgate::astdiff::input::{load, InputKind, InputSpec};
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::report::render_text;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{diff_change, DiffOptions, Verdict};

use super::args::{DiffArgs, Format, Input};
use super::use_color;

pub(crate) fn cmd_diff(args: DiffArgs) -> Result<u8> {
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
        Format::Text => print!("{}", render_text(&report, use_color(args.color))),
    }
    Ok(match report.verdict {
        Verdict::Agreed => 0,
        Verdict::Escalate => 1,
    })
}
