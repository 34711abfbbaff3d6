//! `patchgate diff --bench DIR`: the AST diff measured over a corpus of real before/after pairs.
//!
//! For every file under a `before/` directory with a twin under the matching `after/` path, it
//! measures the floor (tree-sitter parsing both files, nothing else) and the full diff (parse,
//! normalise, match, measure, edit script), each the best of a few runs, on one thread. It then
//! reports medians, p99s, their ratios, the slowest pairs, every fallback and why, and the
//! process's peak memory. Given a difftastic binary it times difftastic on the same pairs in the
//! same run, so the two are compared on one machine at one moment.
//!
//! This is a measurement tool: it never asserts a speed; `benches/README.md` records results.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::change::{ChangeInput, FileVersions};
use super::diff::{diff_change, DiffOptions};
use super::inflation::{self, Inflation, InflationSummary};
use super::registry::Registry;

/// Runs per measurement; the best is kept (the machine is shared and noisy).
const REPS: usize = 3;

pub struct BenchOptions {
    pub corpus: PathBuf,
    pub diff: DiffOptions,
    pub difftastic: Option<PathBuf>,
    pub limit: Option<usize>,
    pub per_pair_out: Option<PathBuf>,
}

/// Figures of one pair.
#[derive(Debug, Serialize)]
pub struct PairFigures {
    pub path: String,
    pub language: String,
    pub bytes: usize,
    pub parse_ms: f64,
    pub diff_ms: f64,
    pub fallback: Option<String>,
    pub variance_percent: Option<f64>,
    pub difftastic_ms: Option<f64>,
    /// The after file against the before file as its base: the change's weight counted on
    /// every node and on touched lines only (not timed).
    pub denominator: Option<Inflation>,
}

#[derive(Debug, Serialize)]
pub struct Distribution {
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub total_s: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchSummary {
    pub corpus: String,
    pub pairs: usize,
    pub skipped: BTreeMap<String, usize>,
    pub parse_floor: Distribution,
    pub diff: Distribution,
    /// Median and p99 of the per-pair ratio diff / parse floor.
    pub ratio_median: f64,
    pub ratio_p99: f64,
    /// Pairs whose diff took over 100 ms, with whether (and why) they fell back.
    pub over_100ms: Vec<(String, f64, Option<String>)>,
    /// Fallbacks by reason (line numbers folded).
    pub fallbacks: BTreeMap<String, usize>,
    /// Peak resident set while diffing (the floor parses are not counted).
    pub peak_rss_mb: Option<f64>,
    pub difftastic: Option<DifftasticFigures>,
    /// Matcher noise in the change's weight against the base, before and after counting only
    /// touched lines (see `inflation`).
    pub denominator: InflationSummary,
}

#[derive(Debug, Serialize)]
pub struct DifftasticFigures {
    pub binary: String,
    pub version: String,
    pub dist: Distribution,
    /// Max resident set of any difftastic run.
    pub peak_rss_mb: Option<f64>,
    /// difftastic total / patchgate total diff time.
    pub speedup_total: f64,
    pub failures: usize,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn dist(values: impl Iterator<Item = f64>) -> Distribution {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    Distribution {
        median_ms: quantile(&v, 0.5),
        p99_ms: quantile(&v, 0.99),
        max_ms: v.last().copied().unwrap_or(0.0),
        total_s: v.iter().sum::<f64>() / 1000.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Every `…/before/…` file with an `…/after/…` twin, sorted.
fn find_pairs(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    if !root.is_dir() {
        bail!("benchmark corpus {} is not a directory", root.display());
    }
    let mut pairs = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let comps: Vec<_> = rel.components().collect();
        if let Some(i) = comps.iter().position(|c| c.as_os_str() == "before") {
            let mut after = root.to_path_buf();
            for (j, c) in comps.iter().enumerate() {
                after.push(if j == i {
                    "after".as_ref()
                } else {
                    c.as_os_str()
                });
            }
            if after.is_file() {
                pairs.push((entry.path().to_path_buf(), after));
            }
        }
    }
    if pairs.is_empty() {
        bail!(
            "no before/after pairs under {} (expected …/before/<path> with a twin …/after/<path>)",
            root.display()
        );
    }
    Ok(pairs)
}

/// Best-of-REPS time for tree-sitter to parse both files from scratch.
fn parse_floor(
    registry: &Registry,
    parser: &mut tree_sitter::Parser,
    before: &Path,
    after: &Path,
) -> Option<Duration> {
    let lang = registry.for_path(before)?;
    let a = fs::read_to_string(before).ok()?;
    let b = fs::read_to_string(after).ok()?;
    parser.set_language(&lang.ts).ok()?;
    let mut best = Duration::MAX;
    for _ in 0..REPS {
        let t = Instant::now();
        let ta = parser.parse(&a, None)?;
        let tb = parser.parse(&b, None)?;
        let took = t.elapsed();
        drop((ta, tb));
        best = best.min(took);
    }
    Some(best)
}

/// Return freed heap to the OS and restart the peak-RSS counter (Linux: `clear_refs` 5).
fn reset_peak_rss() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Fold digits so reasons group: "syntax error at line 12" → "syntax error at line N".
fn fold_reason(r: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in r.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// Time a difftastic run on one pair; its max RSS comes from `/usr/bin/time` when present.
fn run_difftastic(bin: &Path, before: &Path, after: &Path) -> Result<Duration> {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(["--color", "never", "--display", "inline"])
        .arg(before)
        .arg(after)
        .env("DFT_BYTE_LIMIT", "100000000")
        .env("DFT_GRAPH_LIMIT", "100000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    let took = start.elapsed();
    // difftastic exits 0 (or 1 with --exit-code); anything else is a failure.
    if !status.success() {
        bail!("difftastic exited with {status}");
    }
    Ok(took)
}

/// Peak RSS of all waited-for children, in MB.
fn children_peak_rss_mb() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage struct into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0 means the struct was filled in.
    let usage = unsafe { usage.assume_init() };
    Some(usage.ru_maxrss as f64 / 1024.0)
}

/// Run the benchmark over a corpus.
pub fn run_bench(registry: &Registry, opts: &BenchOptions) -> Result<BenchSummary> {
    let mut pairs = find_pairs(&opts.corpus)?;
    if let Some(n) = opts.limit {
        pairs.truncate(n);
    }
    let mut out_file = match &opts.per_pair_out {
        Some(p) => Some(fs::File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => None,
    };
    let mut figures: Vec<PairFigures> = Vec::with_capacity(pairs.len());
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    // Floor and diff are measured pair by pair, back to back, so a change of load on the
    // machine affects both alike. Before each diff the heap is trimmed and the peak-RSS counter
    // reset, so the peak reported is the diffs' own, not the floor parses'.
    let mut parser = tree_sitter::Parser::new();
    let mut diff_peak_mb: Option<f64> = None;
    let mut difft_failures = 0;
    for (before, after) in &pairs {
        let floor = parse_floor(registry, &mut parser, before, after);
        let (Ok(a), Ok(b)) = (fs::read(before), fs::read(after)) else {
            *skipped.entry("unreadable".into()).or_default() += 1;
            continue;
        };
        let (Ok(sa), Ok(sb)) = (std::str::from_utf8(&a), std::str::from_utf8(&b)) else {
            *skipped.entry("not UTF-8".into()).or_default() += 1;
            continue;
        };
        let Some(lang) = registry.for_path(before) else {
            *skipped.entry("no grammar registered".into()).or_default() += 1;
            continue;
        };
        let Some(parse_best) = floor else {
            *skipped.entry("grammar failed to parse".into()).or_default() += 1;
            continue;
        };
        debug_assert!(!sa.is_empty() || !sb.is_empty() || sa == sb);
        let rel = before
            .strip_prefix(&opts.corpus)
            .unwrap_or(before)
            .to_string_lossy()
            .replace('\\', "/");
        let input = ChangeInput {
            has_base: false,
            single: false,
            label_base: None,
            label_a: "before".into(),
            label_b: "after".into(),
            files: vec![FileVersions {
                path: rel.clone(),
                base: None,
                a: Some(a.clone()),
                b: Some(b.clone()),
            }],
        };
        reset_peak_rss();
        let mut diff_best = Duration::MAX;
        let mut report = None;
        for _ in 0..REPS {
            let t = Instant::now();
            let r = diff_change(&input, registry, &opts.diff);
            diff_best = diff_best.min(t.elapsed());
            report = Some(r);
        }
        let report = report.expect("REPS > 0");
        if let Some(mb) = peak_rss_mb() {
            diff_peak_mb = Some(diff_peak_mb.map_or(mb, |p: f64| p.max(mb)));
        }
        let file = &report.files[0];
        let difftastic_ms = match &opts.difftastic {
            Some(bin) => match run_difftastic(bin, before, after) {
                Ok(d) => Some(ms(d)),
                Err(_) => {
                    difft_failures += 1;
                    None
                }
            },
            None => None,
        };
        let denominator = inflation::measure(registry, &opts.diff, &rel, &a, &b);
        let fig = PairFigures {
            path: rel,
            language: lang.name().to_string(),
            bytes: a.len() + b.len(),
            parse_ms: ms(parse_best),
            diff_ms: ms(diff_best),
            fallback: file.fallback.clone(),
            variance_percent: file.variance_percent,
            difftastic_ms,
            denominator,
        };
        if let Some(f) = out_file.as_mut() {
            serde_json::to_writer(&mut *f, &fig)?;
            f.write_all(b"\n")?;
        }
        figures.push(fig);
    }
    if figures.is_empty() {
        bail!("no pair of the corpus could be benchmarked: {skipped:?}");
    }
    let mut ratios: Vec<f64> = figures
        .iter()
        .map(|f| f.diff_ms / f.parse_ms.max(1e-6))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let mut fallbacks: BTreeMap<String, usize> = BTreeMap::new();
    for f in &figures {
        if let Some(r) = &f.fallback {
            *fallbacks.entry(fold_reason(r)).or_default() += 1;
        }
    }
    let diff = dist(figures.iter().map(|f| f.diff_ms));
    let mut denominator = InflationSummary::default();
    for i in figures.iter().filter_map(|f| f.denominator.as_ref()) {
        denominator.add(i);
    }
    let difftastic = opts.difftastic.as_ref().map(|bin| {
        let times: Vec<f64> = figures.iter().filter_map(|f| f.difftastic_ms).collect();
        let d = dist(times.into_iter());
        let version = Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_default();
        DifftasticFigures {
            binary: bin.display().to_string(),
            version,
            speedup_total: d.total_s / diff.total_s.max(1e-9),
            dist: d,
            peak_rss_mb: children_peak_rss_mb(),
            failures: difft_failures,
        }
    });
    Ok(BenchSummary {
        corpus: opts.corpus.display().to_string(),
        pairs: figures.len(),
        skipped,
        parse_floor: dist(figures.iter().map(|f| f.parse_ms)),
        ratio_median: quantile(&ratios, 0.5),
        ratio_p99: quantile(&ratios, 0.99),
        over_100ms: figures
            .iter()
            .filter(|f| f.diff_ms > 100.0)
            .map(|f| (f.path.clone(), f.diff_ms, f.fallback.clone()))
            .collect(),
        diff,
        fallbacks,
        peak_rss_mb: diff_peak_mb,
        difftastic,
        denominator,
    })
}

impl BenchSummary {
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let line = |s: &mut String, t: String| {
            s.push_str(&t);
            s.push('\n');
        };
        line(
            &mut s,
            format!("corpus {}: {} pairs", self.corpus, self.pairs),
        );
        for (why, n) in &self.skipped {
            line(&mut s, format!("  skipped {n}: {why}"));
        }
        let d = |x: &Distribution| {
            format!(
                "median {:.3} ms, p99 {:.3} ms, max {:.1} ms, total {:.2} s",
                x.median_ms, x.p99_ms, x.max_ms, x.total_s
            )
        };
        line(
            &mut s,
            format!(
                "parse floor (tree-sitter, both files): {}",
                d(&self.parse_floor)
            ),
        );
        line(
            &mut s,
            format!("full diff:                            {}", d(&self.diff)),
        );
        line(
            &mut s,
            format!(
                "diff / parse floor per pair: median {:.2}x, p99 {:.2}x",
                self.ratio_median, self.ratio_p99
            ),
        );
        line(
            &mut s,
            format!("pairs over 100 ms: {}", self.over_100ms.len()),
        );
        for (p, t, why) in &self.over_100ms {
            line(
                &mut s,
                format!(
                    "  {p}: {t:.1} ms{}",
                    why.as_ref()
                        .map(|w| format!(" (fell back: {w})"))
                        .unwrap_or_default()
                ),
            );
        }
        let nfb: usize = self.fallbacks.values().sum();
        line(&mut s, format!("line-diff fallbacks: {nfb}"));
        for (why, n) in &self.fallbacks {
            line(&mut s, format!("  {n}: {why}"));
        }
        if let Some(m) = self.peak_rss_mb {
            line(
                &mut s,
                format!(
                    "peak memory while diffing (whole process, floor parses excluded): {m:.1} MB"
                ),
            );
        }
        s.push_str(&self.denominator.render_text());
        if let Some(dt) = &self.difftastic {
            line(
                &mut s,
                format!("difftastic ({}): {}", dt.version, d(&dt.dist)),
            );
            if let Some(m) = dt.peak_rss_mb {
                line(
                    &mut s,
                    format!("  difftastic peak memory (largest run): {m:.1} MB"),
                );
            }
            if dt.failures > 0 {
                line(
                    &mut s,
                    format!("  difftastic failed on {} pairs", dt.failures),
                );
            }
            line(
                &mut s,
                format!(
                    "patchgate total diff time is {:.1}x faster than difftastic",
                    dt.speedup_total
                ),
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pairs_and_folds_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for side in ["before", "after"] {
            let p = root.join("set").join(side).join("proj/c1");
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("m.py"), "x = 1\n").unwrap();
        }
        fs::create_dir_all(root.join("set/before/proj/c2")).unwrap();
        fs::write(root.join("set/before/proj/c2/lonely.py"), "y = 2\n").unwrap();
        let pairs = find_pairs(root).unwrap();
        assert_eq!(pairs.len(), 1);
        assert!(pairs[0].1.ends_with("set/after/proj/c1/m.py"));
        assert_eq!(
            fold_reason("render A: syntax error at line 12"),
            "render A: syntax error at line N"
        );
        let reg = Registry::embedded().unwrap();
        let summary = run_bench(
            &reg,
            &BenchOptions {
                corpus: root.to_path_buf(),
                diff: DiffOptions::default(),
                difftastic: None,
                limit: None,
                per_pair_out: None,
            },
        )
        .unwrap();
        assert_eq!(summary.pairs, 1);
        assert!(summary.render_text().contains("1 pairs"));
    }

    #[test]
    fn an_empty_corpus_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_pairs(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no before/after pairs"), "{err}");
    }
}
