//! `patchgate diff`: two renders (or one against its base) compared as syntax trees, and the
//! benchmark mode over a corpus of before/after pairs.

use std::io::IsTerminal;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use patchgate::astdiff::bench::{run_bench, BenchOptions};
use patchgate::astdiff::change::ChangeInput;
use patchgate::astdiff::diff::diff_change_observed;
use patchgate::astdiff::exclude::PathFilter;
use patchgate::astdiff::input::{load, InputKind, InputSpec};
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::report::render_text;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{Agreement, DiffOptions, DiffReport};

use super::args::{DiffArgs, Format, Input};
use super::progress::Meter;
use super::use_color;

/// The threshold in force: the flag, else `PATCHGATE_THRESHOLD_PERCENT`, else 3 — an error
/// names whichever of the two held the bad value.
fn threshold(flag: Option<f64>, env: Option<String>) -> Result<f64> {
    let in_range = |t: f64| t.is_finite() && (0.0..=100.0).contains(&t);
    match (flag, env) {
        (Some(t), _) if in_range(t) => Ok(t),
        (Some(t), _) => bail!("--threshold must be a percentage between 0 and 100, got {t}"),
        (None, Some(v)) if !v.trim().is_empty() => match v.trim().parse::<f64>() {
            Ok(t) if in_range(t) => Ok(t),
            _ => bail!(
                "PATCHGATE_THRESHOLD_PERCENT must be a percentage between 0 and 100, got `{v}`"
            ),
        },
        (None, _) => Ok(3.0),
    }
}

pub(crate) fn cmd_diff(args: DiffArgs) -> Result<u8> {
    let threshold = threshold(
        args.threshold,
        std::env::var("PATCHGATE_THRESHOLD_PERCENT").ok(),
    )?;
    let registry = match &args.registry {
        None => Registry::embedded().context("loading the language registry")?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the language registry {}", path.display()))?;
            Registry::from_toml(&text)
                .with_context(|| format!("the language registry {}", path.display()))?
        }
    };
    let opts = DiffOptions {
        threshold_percent: threshold,
        count_comments: args.count_comments,
        max_edits_per_file: args.max_edits,
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
    let report = diff_with_progress(&input, &registry, &opts, &exclude);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", render_text(&report, use_color(args.color))),
    }
    Ok(match report.verdict {
        Agreement::Agreed => 0,
        Agreement::Escalate => 1,
    })
}

/// The comparison, with a progress line on stderr when it is a terminal and the work is long
/// (`progress.rs`); a ticker thread redraws it during a long file.
fn diff_with_progress(
    input: &ChangeInput,
    registry: &Registry,
    opts: &DiffOptions,
    exclude: &PathFilter,
) -> DiffReport {
    let tty = std::io::stderr().is_terminal();
    let meter = Mutex::new(Meter::new(std::io::stderr(), tty, Instant::now()));
    if !tty {
        return diff_change_observed(input, registry, opts, exclude, &mut |_| {});
    }
    std::thread::scope(|s| {
        let (stop, stopped) = mpsc::channel::<()>();
        let meter = &meter;
        s.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                if let Ok(mut m) = meter.lock() {
                    m.tick();
                }
            }
        });
        let report = diff_change_observed(input, registry, opts, exclude, &mut |p| {
            if let Ok(mut m) = meter.lock() {
                m.tell(p);
            }
        });
        drop(stop);
        report
    })
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn a_bad_threshold_is_blamed_on_where_it_came_from() {
        assert_eq!(threshold(None, None).unwrap(), 3.0);
        assert_eq!(threshold(Some(5.0), Some("x".into())).unwrap(), 5.0);
        assert_eq!(threshold(None, Some("7".into())).unwrap(), 7.0);
        let e = threshold(None, Some("lots".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PATCHGATE_THRESHOLD_PERCENT") && e.contains("lots"),
            "{e}"
        );
        let e = threshold(Some(101.0), None).unwrap_err().to_string();
        assert!(e.starts_with("--threshold"), "{e}");
    }
}
