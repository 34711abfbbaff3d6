//! Figures for `docs/decisions.md`: on a corpus of real render pairs, how many take the agreed
//! path and how many escalate, and — with tiny script auditors standing in for the models,
//! beside the real Rule-Guard — what the decision table makes of each line-up of votes: that no
//! pair passes without the renders agreeing or an escalated audit that every auditor approved.
//!
//! The corpus: `<dir>/pairs.jsonl` (one `{instance, a, b, label}` per line) and
//! `<dir>/<instance>/{base,<render>}/` after-images, as in the real-renders benchmark set.
//!
//! Usage: `cargo run --release --example escalation_figures -- <dir> [--src] [--threshold PCT]`
//! (`--src`: compare `<dir>/<instance>/src/{base,<render>}/`, the library sources only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use patchgate::astdiff::diff::Agreement;
use patchgate::astdiff::input::from_dirs;
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::{diff_change, DiffOptions};
use patchgate::audit::rule_guard::RuleSet;
use patchgate::audit::spend::{MemorySpend, SpendStore};
use patchgate::config::{self, Flags};
use patchgate::gate::auditors::{build_auditors, run_set, AuditContext};
use patchgate::gate::input::{prepare, ChangeId};
use patchgate::meta::decision::{
    choose_path, decide_gate, CastVote, EscalatedQuorum, ExplanationsState, GateFacts,
    Path as GatePath, Policy, RendersState,
};

/// The line-ups: what the two script auditors answer.
const LINE_UPS: [(&str, &str, &str); 4] = [
    ("both approve", "approve", "approve"),
    ("one abstains (an outage)", "approve", "abstain"),
    ("one rejects", "approve", "reject"),
    ("both abstain (budget spent)", "abstain", "abstain"),
];

fn script(dir: &Path, verdict: &str) -> Result<PathBuf> {
    let p = dir.join(format!("{verdict}.sh"));
    let body = if verdict == "abstain" {
        "cat >/dev/null\necho '{\"verdict\":\"abstain\",\"reason\":\"stand-in: no answer\"}'\n"
            .to_string()
    } else {
        format!("cat >/dev/null\necho '{{\"verdict\":\"{verdict}\",\"reason\":\"stand-in\"}}'\n")
    };
    std::fs::write(&p, body)?;
    Ok(p)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        bail!("usage: escalation_figures <dir> [--src] [--threshold PCT]");
    };
    let src = args.iter().any(|a| a == "--src");
    let threshold: f64 = match args.iter().position(|a| a == "--threshold") {
        Some(i) => args
            .get(i + 1)
            .context("--threshold needs a value")?
            .parse()?,
        None => 3.0,
    };
    let tmp = tempfile::tempdir()?;
    let registry = Arc::new(Registry::embedded()?);
    let rules = Arc::new(RuleSet::embedded()?);
    let spend: Arc<dyn SpendStore> = Arc::new(MemorySpend::new());
    let env = |k: &str| std::env::var(k).ok();
    let opts = DiffOptions {
        threshold_percent: threshold,
        ..DiffOptions::default()
    };

    let pairs = std::fs::read_to_string(dir.join("pairs.jsonl"))
        .with_context(|| format!("reading {}/pairs.jsonl", dir.display()))?;
    // label → path → count; (line-up, path) → (passed, total); violations.
    let mut paths: BTreeMap<(String, GatePath), usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<(usize, GatePath), (usize, usize)> = BTreeMap::new();
    let mut violations = 0usize;
    let mut n = 0usize;
    for line in pairs.lines().filter(|l| !l.trim().is_empty()) {
        let p: serde_json::Value = serde_json::from_str(line)?;
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        let (instance, a, b, label) = (s("instance"), s("a"), s("b"), s("label"));
        let side = |r: &str| -> PathBuf {
            if src {
                dir.join(&instance).join("src").join(r)
            } else {
                dir.join(&instance).join(r)
            }
        };
        let dual = from_dirs(Some(&side("base")), &side(&a), Some(&side(&b)))?;
        let report = diff_change(&dual, &registry, &opts);
        let renders = if report.verdict == Agreement::Agreed {
            RendersState::Agreed
        } else {
            RendersState::Differ
        };
        let (path, _) = choose_path(renders, ExplanationsState::Absent);
        *paths.entry((label.clone(), path)).or_default() += 1;
        n += 1;

        // Render A's change, as the auditors see it.
        let single = from_dirs(Some(&side("base")), &side(&a), None)?;
        let single_report = diff_change(&single, &registry, &opts);
        let id = ChangeId {
            repo: instance.clone(),
            base: "base".into(),
            head: a.clone(),
        };
        let prepared = prepare(&id, &single, &single_report, &rules, &[]);
        let files = Arc::new(prepared.files);
        for (k, (_, x, y)) in LINE_UPS.iter().enumerate() {
            let cfg = tmp.path().join(format!("line-up-{k}.yml"));
            std::fs::write(
                &cfg,
                format!(
                    "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: stand-in-1, kind: command, command: [sh, '{}'], timeout_s: 10}}\n  - {{name: stand-in-2, kind: command, command: [sh, '{}'], timeout_s: 10}}\nquorum: {{required: 2}}\nescalation: {{quorum: all}}\n",
                    script(tmp.path(), x)?.display(),
                    script(tmp.path(), y)?.display()
                ),
            )?;
            let settings = config::resolve(
                &Flags {
                    config: Some(cfg),
                    data_dir: Some(tmp.path().to_path_buf()),
                    ..Flags::default()
                },
                &env,
            )?;
            let set = build_auditors(&AuditContext {
                settings: &settings,
                env: &env,
                rules: rules.clone(),
                registry: registry.clone(),
                files: files.clone(),
                spend: spend.clone(),
            })?;
            let required = if path == GatePath::Escalated {
                set.auditors.len()
            } else {
                2
            };
            let audit = run_set(&set, &prepared.input, required, false).await?;
            let cast: Vec<CastVote> = audit
                .votes
                .iter()
                .zip(&set.classes)
                .map(|(v, c)| CastVote {
                    auditor: &v.auditor,
                    class: *c,
                    verdict: v.verdict,
                })
                .collect();
            let policy = Policy {
                required: 2,
                escalated: EscalatedQuorum::All,
                ..Policy::default()
            };
            let d = decide_gate(&GateFacts {
                renders,
                explanations: ExplanationsState::Absent,
                votes: &cast,
                human: None,
                head: &a,
                policy: &policy,
            });
            let e = outcomes.entry((k, path)).or_default();
            e.1 += 1;
            if d.passed {
                e.0 += 1;
                let all_approve = cast
                    .iter()
                    .all(|v| v.verdict == patchgate::audit::vote::Verdict::Approve);
                let founded = match path {
                    GatePath::Escalated => all_approve,
                    _ => renders == RendersState::Agreed && d.approvals >= 2,
                };
                if !founded {
                    violations += 1;
                    eprintln!("VIOLATION {instance} {a}/{b} line-up {k}: {d:?}");
                }
            }
        }
    }

    println!(
        "{n} pairs from {} ({}), threshold {threshold} %",
        dir.display(),
        if src {
            "library sources"
        } else {
            "after-images as submitted"
        }
    );
    println!();
    println!("| label | agreed path | escalated path |");
    println!("| --- | --- | --- |");
    let labels: std::collections::BTreeSet<&String> = paths.keys().map(|(l, _)| l).collect();
    for l in labels {
        let get = |p| paths.get(&(l.clone(), p)).copied().unwrap_or(0);
        println!(
            "| {l} | {} | {} |",
            get(GatePath::Agreed),
            get(GatePath::Escalated)
        );
    }
    println!();
    println!("Rule-Guard plus two script auditors; quorum 2 on the agreed path, every auditor on the escalated path:");
    println!();
    println!("| stand-ins | agreed path passed | escalated path passed |");
    println!("| --- | --- | --- |");
    for (k, (name, _, _)) in LINE_UPS.iter().enumerate() {
        let get = |p| {
            let (passed, total) = outcomes.get(&(k, p)).copied().unwrap_or((0, 0));
            format!("{passed} of {total}")
        };
        println!(
            "| {name} | {} | {} |",
            get(GatePath::Agreed),
            get(GatePath::Escalated)
        );
    }
    println!();
    println!(
        "passes without agreement or an escalated audit that every auditor approved: {violations}"
    );
    if violations > 0 {
        bail!("{violations} unfounded passes");
    }
    Ok(())
}
