//! The GitHub Actions edge of the gate: `patchgate check --github-actions`.
//!
//! Everything the Actions runner hands a step is read here — the environment
//! (`GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`, `GITHUB_BASE_REF`, `GITHUB_SHA`, …) and the event
//! payload — and everything the runner reads back is written here: the step summary
//! (`GITHUB_STEP_SUMMARY`, Markdown, verdict first, always under 1 MiB), the step's outputs
//! (`GITHUB_OUTPUT`, heredoc form so any value is safe), workflow commands for findings
//! (`::error file=…,line=…::…`, most severe first, at most ten per level since the runner shows
//! no more) and `::add-mask::` commands for every secret the step was given, which must be
//! printed before anything else.
//!
//! The functions are pure where they can be: the environment is injected as
//! `&dyn Fn(&str) -> Option<String>`, and the renderers take a [`CheckOutcome`] and return text.
//! Nothing here decides anything: the verdict is the record's `quorum_passed`, and
//! [`exit_code`] only chooses whether a failed quorum fails the step (`fail-on: never` keeps it
//! green — the record still says `quorum_passed: false`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::astdiff::DiffOptions;
use crate::audit::vote::{Severity, Verdict};
use crate::config::ServerConfig;
use crate::gate::check::{CheckOutcome, CheckRequest, RenderBSource};
use crate::webhook::ActionsEvent;

/// GitHub refuses a step summary over 1 MiB; ours stays under this many bytes.
pub const SUMMARY_LIMIT_BYTES: usize = 1024 * 1024 - 16 * 1024;

/// The runner shows at most this many annotations of each level per step.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// Longest reason or finding message shown in one place, in characters.
const TEXT_CAP: usize = 1_000;

/// Whether a failed quorum fails the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// The step fails when `quorum_passed` is false (the default).
    #[default]
    Quorum,
    /// The step never fails on the verdict (errors running the gate still fail it).
    Never,
}

impl std::str::FromStr for FailOn {
    type Err = ActionsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "quorum" => Ok(FailOn::Quorum),
            "never" => Ok(FailOn::Never),
            other => Err(ActionsError::Invalid {
                var: "PATCHGATE_FAIL_ON",
                why: format!("`{other}`: expected `quorum` or `never`"),
            }),
        }
    }
}

/// Why the Actions environment could not be read, or an output not written.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("{0} is not set: is this running in a GitHub Actions step? (`patchgate check --github-actions` reads the runner's environment)")]
    Missing(&'static str),
    #[error("{var}: {why}")]
    Invalid { var: &'static str, why: String },
    #[error("reading the event payload {path} (GITHUB_EVENT_PATH): {source}")]
    EventFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload {path} (GITHUB_EVENT_PATH) is not JSON: {source}")]
    EventJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the `{event}` event payload {path} has no {field}")]
    EventField {
        event: String,
        path: PathBuf,
        field: &'static str,
    },
    #[error("writing {what} {path}: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output name `{0}` is not valid (letters, digits, `-` and `_` only)")]
    OutputName(String),
}

/// The pull request the event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub base_sha: String,
    pub base_ref: String,
    pub head_sha: String,
    pub head_ref: String,
    /// The PR's description: render A's explanation, first in `render_explanation`'s precedence.
    pub body: Option<String>,
}

/// What a step of a GitHub Actions job tells patchgate.
#[derive(Debug, Clone)]
pub struct ActionsContext {
    /// `owner/name` (`GITHUB_REPOSITORY`).
    pub repository: String,
    /// `GITHUB_EVENT_NAME`, e.g. `pull_request`.
    pub event_name: String,
    pub event_path: PathBuf,
    /// Set for `pull_request`, `pull_request_target` and `pull_request_review` events.
    pub pull_request: Option<PullRequest>,
    /// The base revision to check against: the PR's base sha, else `origin/$GITHUB_BASE_REF`,
    /// else a push's `before`.
    pub base: String,
    /// Render A: the PR's head sha, else `GITHUB_SHA`.
    pub head: String,
    /// The checkout (`GITHUB_WORKSPACE`, else `.`).
    pub workspace: PathBuf,
    /// `GITHUB_STEP_SUMMARY`, when the runner gave one.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`, when the runner gave one.
    pub output: Option<PathBuf>,
    /// `PATCHGATE_FAIL_ON`.
    pub fail_on: FailOn,
    /// `PATCHGATE_RENDER_B`: a revision, or a `.patch`/`.diff` file (relative to the workspace).
    pub render_b: Option<RenderBSource>,
    /// Where the record is written: `PATCHGATE_RECORD_PATH`, else
    /// `$RUNNER_TEMP/patchgate/meta.yaml`, else `meta.yaml` in the system temp directory.
    pub record_path: PathBuf,
    /// Things the step should warn about (print each as `::warning::`), e.g. running under
    /// `pull_request_target`.
    pub warnings: Vec<String>,
}

fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn required(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ActionsError> {
    var(env, name).ok_or(ActionsError::Missing(name))
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

impl ActionsContext {
    /// Read the step's environment and its event payload.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ActionsContext, ActionsError> {
        let repository = required(env, "GITHUB_REPOSITORY")?;
        let event_name = required(env, "GITHUB_EVENT_NAME")?;
        let event_path = PathBuf::from(required(env, "GITHUB_EVENT_PATH")?);
        let bytes = std::fs::read(&event_path).map_err(|source| ActionsError::EventFile {
            path: event_path.clone(),
            source,
        })?;
        let payload = ActionsEvent::parse(&bytes).map_err(|source| ActionsError::EventJson {
            path: event_path.clone(),
            source,
        })?;
        let field = |field: &'static str| ActionsError::EventField {
            event: event_name.clone(),
            path: event_path.clone(),
            field,
        };
        let workspace = var(env, "GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut warnings = Vec::new();

        let pull_request = match payload.pull_request {
            Some(pr) => Some(PullRequest {
                number: pr.number.ok_or_else(|| field("pull_request.number"))?,
                base_sha: pr.base_sha.ok_or_else(|| field("pull_request.base.sha"))?,
                base_ref: pr.base_ref.ok_or_else(|| field("pull_request.base.ref"))?,
                head_sha: pr.head_sha.ok_or_else(|| field("pull_request.head.sha"))?,
                head_ref: pr.head_ref.unwrap_or_default(),
                body: pr.body,
            }),
            None if event_name.starts_with("pull_request") => {
                return Err(field("pull_request"));
            }
            None => None,
        };

        let (base, head) = match &pull_request {
            Some(pr) => (pr.base_sha.clone(), pr.head_sha.clone()),
            None => {
                let head = required(env, "GITHUB_SHA")?;
                let base = match var(env, "GITHUB_BASE_REF") {
                    Some(r) => format!("origin/{r}"),
                    None => match payload.before.filter(|b| b != ZERO_SHA) {
                        Some(before) => before,
                        None => {
                            return Err(ActionsError::Invalid {
                                var: "GITHUB_BASE_REF",
                                why: format!(
                                    "not set, and the `{event_name}` event names no base: run on `pull_request`, or on a `push` that is not a new branch"
                                ),
                            })
                        }
                    },
                };
                (base, head)
            }
        };

        if event_name == "pull_request_target" {
            warnings.push(
                "running under pull_request_target: the step has secrets while the pull request is untrusted; patchgate only reads the change as data, but make sure no earlier step builds or runs the PR's code (see docs/action.md)"
                    .to_string(),
            );
        }
        if pull_request.is_some() {
            if let Some(cfg) = var(env, "PATCHGATE_CONFIG") {
                let p = Path::new(&cfg);
                let in_workspace = p.is_relative() || p.starts_with(&workspace);
                if in_workspace {
                    warnings.push(format!(
                        "the server config `{cfg}` is read from the checkout, which the pull request can change: keep it outside the workspace (or in a file the PR cannot edit) — it names commands and endpoints"
                    ));
                }
            }
        }

        let fail_on = match var(env, "PATCHGATE_FAIL_ON") {
            Some(s) => s.parse()?,
            None => FailOn::Quorum,
        };
        let render_b = var(env, "PATCHGATE_RENDER_B").map(|r| {
            let r = r.trim().to_string();
            if r.ends_with(".patch") || r.ends_with(".diff") {
                let p = PathBuf::from(&r);
                RenderBSource::Patch(if p.is_relative() {
                    workspace.join(p)
                } else {
                    p
                })
            } else {
                RenderBSource::Rev(r)
            }
        });
        let record_path = match var(env, "PATCHGATE_RECORD_PATH") {
            Some(p) => PathBuf::from(p),
            None => var(env, "RUNNER_TEMP")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join("patchgate")
                .join("meta.yaml"),
        };

        Ok(ActionsContext {
            repository,
            event_name,
            event_path,
            pull_request,
            base,
            head,
            workspace,
            step_summary: var(env, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: var(env, "GITHUB_OUTPUT").map(PathBuf::from),
            fail_on,
            render_b,
            record_path,
            warnings,
        })
    }

    /// The PR's description, for render A's explanation (`None` outside pull requests).
    pub fn pr_body(&self) -> Option<&str> {
        self.pull_request.as_ref().and_then(|p| p.body.as_deref())
    }

    /// The PR's number, for the record's `change.pr`.
    pub fn pr_number(&self) -> Option<u64> {
        self.pull_request.as_ref().map(|p| p.number)
    }

    /// The check this step asks for: base..head in the workspace, render B if given, the record
    /// written to [`record_path`](Self::record_path) (its directory is created) and attached as
    /// a note in the runner's clone.
    pub fn check_request(&self, diff: DiffOptions) -> CheckRequest {
        if let Some(dir) = self.record_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        CheckRequest {
            repo: self.workspace.clone(),
            base: self.base.clone(),
            head: self.head.clone(),
            render_b: self.render_b.clone(),
            write_meta: Some(self.record_path.clone()),
            attach_note: true,
            diff,
            pr_number: self.pr_number(),
            pr_body: self.pr_body().map(str::to_string),
            repo_name: Some(self.repository.clone()),
            repo_config: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// The names of the API-key variables the server config's auditors use.
pub fn api_key_envs(server: &ServerConfig) -> Vec<String> {
    let mut names: Vec<String> = server
        .auditors
        .iter()
        .filter_map(|a| a.api_key_env.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn is_secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    if up == "GITHUB_TOKEN" || up == "GH_TOKEN" {
        return true;
    }
    up.starts_with("PATCHGATE_")
        && ["SECRET", "PRIVATE_KEY", "TOKEN", "PASSWORD", "API_KEY"]
            .iter()
            .any(|w| up.contains(w))
}

/// The password in a `scheme://user:password@host` URL.
fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let auth = &rest[..rest.find('@')?];
    let pw = &auth[auth.find(':')? + 1..];
    (!pw.is_empty()).then_some(pw)
}

/// Every secret value this step was given: the values of `api_key_envs` (the server config's
/// `api_key_env` names, see [`api_key_envs`]), of every variable in `env_names` (the names in
/// the environment) that is `PATCHGATE_*SECRET*` (or `*PRIVATE_KEY*`, `*TOKEN*`,
/// `*PASSWORD*`, `*API_KEY*`), of `GITHUB_TOKEN`/`GH_TOKEN`, and the password in
/// `DATABASE_URL`. Empty values are skipped; each value appears once.
pub fn secrets_to_mask(
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[String],
    api_key_envs: &[String],
) -> Vec<String> {
    let mut names: Vec<&str> = api_key_envs.iter().map(String::as_str).collect();
    names.extend(["GITHUB_TOKEN", "GH_TOKEN"]);
    names.extend(
        env_names
            .iter()
            .map(String::as_str)
            .filter(|n| is_secret_name(n)),
    );
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: String| {
        if !v.trim().is_empty() && !out.contains(&v) {
            out.push(v);
        }
    };
    for n in names {
        if let Some(v) = env(n) {
            push(v);
        }
    }
    if let Some(url) = env("DATABASE_URL") {
        if let Some(pw) = url_password(&url) {
            push(pw.to_string());
        }
    }
    out
}

/// `::add-mask::` commands for `secrets`, one per line of each value (the runner masks line
/// by line), escaped so the runner masks the literal text.
pub fn mask_commands(secrets: &[String]) -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for s in secrets {
        for line in s.split('\n') {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || seen.contains(&line) {
                continue;
            }
            seen.push(line);
            let _ = writeln!(out, "::add-mask::{}", escape_data(line));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Workflow commands

/// Escape a workflow command's message (`%`, `\r`, `\n`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command's property value (as [`escape_data`], plus `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn cap(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// One finding, with the auditor that reported it.
/// One finding and the auditor that reported it.
pub struct Found<'a> {
    pub auditor: &'a str,
    pub f: &'a crate::audit::vote::Finding,
}

/// Every finding of every vote, most severe first (stable within a severity: vote order), exact
/// duplicates (two auditors reporting the same thing) once.
pub fn all_findings(o: &CheckOutcome) -> Vec<Found<'_>> {
    let mut out: Vec<Found<'_>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for v in &o.audit.votes {
        for f in &v.findings {
            let key = (
                f.severity,
                f.rule.as_str(),
                f.file.as_deref(),
                f.line,
                f.message.as_str(),
            );
            if seen.insert(key) {
                out.push(Found {
                    auditor: &v.auditor,
                    f,
                });
            }
        }
    }
    out.sort_by_key(|x| std::cmp::Reverse(x.f.severity));
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

/// Workflow commands for the findings: `::error` first, then `::warning`, then `::notice`, at
/// most [`ANNOTATIONS_PER_LEVEL`] of each (the runner shows no more). When some are left out,
/// a last `::notice` says how many and where they are — and the notices give up one slot for
/// it, so it is always shown.
pub fn annotations(o: &CheckOutcome) -> Vec<String> {
    let found = all_findings(o);
    let count = |s: Severity| found.iter().filter(|x| x.f.severity == s).count();
    let overflow = [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .any(|s| count(*s) > ANNOTATIONS_PER_LEVEL);
    let limit = |s: Severity| {
        if overflow && s == Severity::Info {
            ANNOTATIONS_PER_LEVEL - 1
        } else {
            ANNOTATIONS_PER_LEVEL
        }
    };
    let mut out = Vec::new();
    let mut shown = [0usize; 3];
    let mut more = [0usize; 3];
    for x in &found {
        let i = x.f.severity as usize;
        if shown[i] >= limit(x.f.severity) {
            more[i] += 1;
            continue;
        }
        shown[i] += 1;
        let mut props = Vec::new();
        if let Some(file) = x.f.file.as_deref().filter(|f| !f.is_empty()) {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = x.f.line {
                props.push(format!("line={line}"));
                props.push(format!("endLine={line}"));
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("patchgate {}: {}", x.auditor, x.f.rule))
        ));
        out.push(format!(
            "::{} {}::{}",
            level(x.f.severity),
            props.join(","),
            escape_data(&cap(&x.f.message, TEXT_CAP * 4))
        ));
    }
    let total_more: usize = more.iter().sum();
    if total_more > 0 {
        let parts: Vec<String> = [
            (Severity::Error, "error"),
            (Severity::Warning, "warning"),
            (Severity::Info, "notice"),
        ]
        .iter()
        .filter(|(s, _)| more[*s as usize] > 0)
        .map(|(s, n)| {
            let k = more[*s as usize];
            format!("{k} {n}{}", if k == 1 { "" } else { "s" })
        })
        .collect();
        out.push(format!(
            "::notice title={}::{}",
            escape_property("patchgate: more findings"),
            escape_data(&format!(
                "{total_more} more finding(s) ({}) are not annotated here: the runner shows {ANNOTATIONS_PER_LEVEL} of each level; see the step summary",
                parts.join(", ")
            ))
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Step summary

/// Text safe in a Markdown table cell (and not read as HTML).
fn md(s: &str, max_chars: usize) -> String {
    cap(s, max_chars)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// The step summary: the verdict first, then variance, explanations, every vote with its
/// reason, the findings, the record's hashes and what to do next. Always under
/// [`SUMMARY_LIMIT_BYTES`]: when the findings and edits do not fit they are cut, with a note
/// saying how many were left out.
pub fn step_summary(o: &CheckOutcome) -> String {
    let r = &o.record;
    let d = &o.audit.decision;

    // The head: verdict, variance, explanations, votes.
    let mut head = String::new();
    if r.quorum_passed {
        let _ = writeln!(head, "## ✅ patchgate: passed — `quorum_passed: true`");
    } else {
        let _ = writeln!(head, "## ❌ patchgate: blocked — `quorum_passed: false`");
    }
    let _ = writeln!(head);
    let _ = writeln!(
        head,
        "`{}` · `{}` → `{}`{}",
        md(&r.repo, 200),
        short(&r.change.base),
        short(&r.change.head),
        r.change.pr.map(|n| format!(" · #{n}")).unwrap_or_default()
    );
    let _ = writeln!(head);
    // The path first: agreed, escalated or one render, why, and on the escalated path where
    // the renders differ, with both renders' lines.
    let g = &o.gate;
    let _ = writeln!(
        head,
        "**Path: {}** — {}. {}",
        g.path,
        md(&g.why, TEXT_CAP),
        md(&g.reason, TEXT_CAP)
    );
    let _ = writeln!(head);
    if let Some(h) = r.gate.as_ref().and_then(|g| g.human.as_ref()) {
        let state = if h.head == r.change.head {
            "on this head"
        } else {
            "**void**: given on an earlier head (a new push voids it)"
        };
        let _ = writeln!(
            head,
            "**Maintainer:** `{}` by @{} ({}) {state}: {}",
            h.verdict,
            md(&h.by, 100),
            md(&h.permission, 20),
            md(&h.reason, TEXT_CAP)
        );
        let _ = writeln!(head);
    } else if g.path == crate::meta::decision::Path::Escalated {
        // A vote given on an earlier head is not carried to this one: a new push voids it.
        let _ = writeln!(
            head,
            "**Maintainer:** no standing vote on this head (`/patchgate approve|block <reason>`)."
        );
        let _ = writeln!(head);
    }
    if let Some(esc) = o.escalation.as_ref().filter(|e| !e.differences.is_empty()) {
        let _ = writeln!(
            head,
            "<details open><summary>Where the renders differ ({})</summary>",
            esc.differences.len()
        );
        let _ = writeln!(head);
        for d in esc.differences.iter().take(10) {
            let _ = writeln!(
                head,
                "- `{}` `{}`: {}",
                md(&d.path, 200),
                md(&d.entity, 200),
                md(&d.edits, 200)
            );
            let _ = writeln!(head);
            for (side, lines, text) in [("A", &d.a_lines, &d.a_text), ("B", &d.b_lines, &d.b_text)]
            {
                let shown: String = text.lines().take(8).map(|l| format!("{l}\n")).collect();
                let fence = "````";
                let _ = writeln!(
                    head,
                    "  render {side} {}:\n  {fence}\n{}  {fence}",
                    lines
                        .as_deref()
                        .map(|l| format!("lines {l}"))
                        .unwrap_or_else(|| "(absent)".into()),
                    shown
                        .lines()
                        .map(|l| format!("  {l}\n"))
                        .collect::<String>()
                );
            }
        }
        if esc.differences.len() > 10 {
            let _ = writeln!(
                head,
                "- … {} more (the record's `gate.differences`)",
                esc.differences.len() - 10
            );
        }
        let _ = writeln!(head, "</details>");
        let _ = writeln!(head);
    }
    let _ = writeln!(head, "| check | result | detail |");
    let _ = writeln!(head, "| --- | --- | --- |");
    match (&o.dual, &r.renders.b) {
        (Some(dual), Some(b)) => {
            let _ = writeln!(
                head,
                "| renders | {} | variance **{:.2} %** (threshold {:.2} %), render B: `{}` |",
                if r.ast_diff.agreed {
                    "✅ agreed"
                } else {
                    "❌ escalate"
                },
                dual.variance_percent.unwrap_or(100.0),
                dual.threshold_percent,
                md(&b.source, 200)
            );
        }
        _ => {
            let semantic = o.single.semantic_files();
            let required = if r.ast_diff.agreed {
                "one render"
            } else {
                "**missing render B** (the repository sets `render_b.required`)"
            };
            let _ = writeln!(
                head,
                "| renders | {required} | no render B to compare: {} file(s) changed, {semantic} with semantic changes |",
                o.single.files.len()
            );
        }
    }
    // A builder asked for render B: who built it, in how long, at what cost, where it is kept
    // (or why there is none).
    if let Some(line) = crate::gate::render_b::builder_line(r) {
        let state = if r.ast_diff.extra.contains_key("render_b_unavailable") {
            "unavailable"
        } else {
            "built"
        };
        let _ = writeln!(head, "| render B | {state} | {} |", md(&line, TEXT_CAP));
    }
    match &r.explanations {
        Some(e) => {
            use crate::meta::decision::ExplanationsState as S;
            let judge = e
                .judge
                .as_ref()
                .map(|j| match j.score {
                    Some(x) => format!(
                        "; judge {}: {x:.2} (threshold {:.2}): {}",
                        md(&j.name, 100),
                        e.threshold,
                        md(&j.reason, TEXT_CAP)
                    ),
                    None => format!("; judge {}: {}", md(&j.name, 100), md(&j.reason, TEXT_CAP)),
                })
                .unwrap_or_default();
            let _ = writeln!(
                head,
                "| explanations | {} | lexical similarity {:.2} (information only){}{judge} |",
                match e.state() {
                    S::Identical | S::JudgedSame => "✅ agreed",
                    S::JudgedDifferent => "❌ differ",
                    _ => "⚪ not judged",
                },
                e.similarity,
                if e.hash_match { ", identical" } else { "" }
            );
        }
        None => {
            let _ = writeln!(
                head,
                "| explanations | not compared | fewer than two renders explain the change |"
            );
        }
    }
    let _ = writeln!(
        head,
        "| audit | {} | {} approval(s) of {} required — {} |",
        if d.passed { "✅ passed" } else { "❌ failed" },
        d.approvals,
        d.required,
        md(&d.reason, TEXT_CAP)
    );
    let _ = writeln!(head);
    let _ = writeln!(head, "### Votes");
    let _ = writeln!(head);
    let _ = writeln!(head, "| auditor | verdict | reason | findings | cost |");
    let _ = writeln!(head, "| --- | --- | --- | --- | --- |");
    for v in &o.audit.votes {
        let verdict = match v.verdict {
            Verdict::Approve => "✅ approve",
            Verdict::Reject => "❌ reject",
            Verdict::Abstain => "⚪ abstain",
        };
        let _ = writeln!(
            head,
            "| {} | {verdict} | {} | {} | ${:.4} |",
            md(&v.auditor, 100),
            md(v.reason.as_deref().unwrap_or("—"), TEXT_CAP),
            v.findings.len(),
            v.cost_usd
        );
    }
    let _ = writeln!(head);
    if let Some(note) = &o.config_note {
        let _ = writeln!(head, "> **Note:** {}", md(note, TEXT_CAP));
        let _ = writeln!(head);
    }

    // The tail: hashes and what to do next.
    let mut tail = String::new();
    let _ = writeln!(tail, "### Record");
    let _ = writeln!(tail);
    let _ = writeln!(tail, "| | |");
    let _ = writeln!(tail, "| --- | --- |");
    let _ = writeln!(
        tail,
        "| record_hash | `{}` |",
        r.record_hash.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        tail,
        "| prev_record_hash | `{}` |",
        r.prev_record_hash.as_deref().unwrap_or("?")
    );
    let _ = writeln!(tail, "| ledger | #{} |", o.ledger_seq);
    if let Some(h) = &r.renders.a.explanation_hash {
        let _ = writeln!(tail, "| render A explanation | `{h}` |");
    }
    if let Some(h) = r
        .renders
        .b
        .as_ref()
        .and_then(|b| b.explanation_hash.as_ref())
    {
        let _ = writeln!(tail, "| render B explanation | `{h}` |");
    }
    for v in &r.audit.votes {
        if let Some(h) = &v.explanation_hash {
            let _ = writeln!(tail, "| {} explanation | `{h}` |", md(&v.auditor, 100));
        }
    }
    if o.note.is_some() {
        let _ = writeln!(
            tail,
            "| git note | on `{}` in the runner's clone (`refs/notes/patchgate`) |",
            short(&r.change.head)
        );
    }
    if let Some(p) = &o.meta_path {
        let _ = writeln!(
            tail,
            "| meta.yaml | `{}` (output `record-path`) |",
            md(&p.display().to_string(), 300)
        );
    }
    let _ = writeln!(tail);
    let _ = writeln!(tail, "### What to do next");
    let _ = writeln!(tail);
    if r.quorum_passed {
        let _ = writeln!(
            tail,
            "- Nothing: the gate passed. The record verifies with `patchgate meta verify {}`.",
            short(&r.change.head)
        );
    } else {
        if r.renders.b.is_some() && !r.ast_diff.agreed {
            let _ = writeln!(tail, "- The renders disagree: the change took the escalated path (review the edits with `patchgate diff`).");
        }
        if r.explanations
            .as_ref()
            .is_some_and(|e| e.state() == crate::meta::decision::ExplanationsState::JudgedDifferent)
        {
            let _ = writeln!(
                tail,
                "- The renders' explanations were judged to describe different changes."
            );
        }
        for hint in &o.gate.to_pass {
            let _ = writeln!(tail, "- To pass: {}", md(hint, TEXT_CAP));
        }
        if !d.passed {
            if d.rejections > 0 {
                let _ = writeln!(
                    tail,
                    "- Fix what the rejecting auditors found (above, and as annotations on the diff), then push again."
                );
            }
            for (auditor, hint) in &o.audit.hints {
                let _ = writeln!(tail, "- {}: {}", md(auditor, 100), md(hint, TEXT_CAP));
            }
        }
        let _ = writeln!(
            tail,
            "- Reproduce locally: `patchgate check --base {} --head {}`.",
            short(&r.change.base),
            short(&r.change.head)
        );
    }

    // The middle: findings and edits, as much as fits.
    let budget = SUMMARY_LIMIT_BYTES.saturating_sub(head.len() + tail.len() + 512);
    let mut middle = String::new();
    let found = all_findings(o);
    // Findings first; when the renders differ, a quarter is kept for where they differ.
    let renders_differ = o
        .dual
        .as_ref()
        .is_some_and(|d| d.files.iter().any(|f| f.differing > 0));
    let findings_budget = if renders_differ {
        budget / 4 * 3
    } else {
        budget
    };
    if !found.is_empty() {
        let mut section = String::new();
        let _ = writeln!(section, "### Findings ({})", found.len());
        let _ = writeln!(section);
        let _ = writeln!(section, "| severity | auditor | rule | where | message |");
        let _ = writeln!(section, "| --- | --- | --- | --- | --- |");
        let mut shown = 0;
        for x in &found {
            let row = format!(
                "| {} | {} | `{}` | {} | {} |\n",
                x.f.severity,
                md(x.auditor, 100),
                md(&x.f.rule, 200).replace('`', "'"),
                md(
                    &match (&x.f.file, x.f.line) {
                        (Some(f), Some(l)) => format!("{f}:{l}"),
                        (Some(f), None) => f.clone(),
                        _ => "(change)".to_string(),
                    },
                    300
                ),
                md(&x.f.message, TEXT_CAP)
            );
            if section.len() + row.len() + 256 > findings_budget {
                break;
            }
            section.push_str(&row);
            shown += 1;
        }
        if shown < found.len() {
            let _ = writeln!(
                section,
                "\n_… {} more finding(s) not shown: the step summary is capped under 1 MiB. The record and `patchgate check --format json` have them all._",
                found.len() - shown
            );
        }
        let _ = writeln!(section);
        middle.push_str(&section);
    }
    if let Some(dual) = &o.dual {
        let files: Vec<_> = dual.files.iter().filter(|f| f.differing > 0).collect();
        if !files.is_empty() {
            let mut section = String::new();
            let _ = writeln!(section, "### Where the renders differ");
            let _ = writeln!(section);
            let _ = writeln!(section, "| file | variance | edits |");
            let _ = writeln!(section, "| --- | --- | --- |");
            let mut shown = 0;
            for f in &files {
                let row = format!(
                    "| `{}` | {} | {} |\n",
                    md(&f.path, 300).replace('`', "'"),
                    f.variance_percent
                        .map(|v| format!("{v:.2} %"))
                        .unwrap_or_else(|| "—".into()),
                    f.edits.len() + f.edits_omitted
                );
                if middle.len() + section.len() + row.len() + 256 > budget {
                    break;
                }
                section.push_str(&row);
                shown += 1;
            }
            if shown < files.len() {
                let _ = writeln!(
                    section,
                    "\n_… {} more file(s) not shown: the step summary is capped under 1 MiB; see `patchgate diff`._",
                    files.len() - shown
                );
            }
            let _ = writeln!(section);
            if middle.len() + section.len() <= budget {
                middle.push_str(&section);
            }
        }
        let what = what_differs(dual, budget.saturating_sub(middle.len()));
        middle.push_str(&what);
    }

    let mut out = head;
    out.push_str(&middle);
    out.push_str(&tail);
    if out.len() > SUMMARY_LIMIT_BYTES {
        // Only a pathological head (thousands of votes) gets here: cut at a char boundary.
        let note = "\n\n_… the step summary was cut here: it is capped under 1 MiB._\n";
        let mut end = SUMMARY_LIMIT_BYTES - note.len();
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(note);
    }
    out
}

/// "What differs": every entity on which the renders differ, with both renders' lines — shown
/// whatever the verdict, so an agreed change still shows its one differing operator — and the
/// files the exclude list took out. At most `budget` bytes.
fn what_differs(dual: &crate::astdiff::DiffReport, budget: usize) -> String {
    let mut section = String::new();
    if dual.differences.is_empty() && dual.excluded.is_empty() {
        return section;
    }
    let quote = |lines: &[String]| -> String {
        if lines.is_empty() {
            "—".to_string()
        } else {
            lines
                .iter()
                .map(|l| format!("`{}`", md(l, 120).replace('`', "'")))
                .collect::<Vec<_>>()
                .join("<br>")
        }
    };
    let range = |r: Option<crate::astdiff::measure::LineRange>| match r {
        None => "—".to_string(),
        Some(r) if r.start == r.end => r.start.to_string(),
        Some(r) => format!("{}–{}", r.start, r.end),
    };
    if !dual.differences.is_empty() {
        let _ = writeln!(section, "### What differs between the renders");
        let _ = writeln!(section);
        let _ = writeln!(section, "| file | entity | render A | render B |");
        let _ = writeln!(section, "| --- | --- | --- | --- |");
        let mut shown = 0;
        for d in &dual.differences {
            let row = format!(
                "| `{}` | {} | {} {} | {} {} |\n",
                md(&d.path, 300).replace('`', "'"),
                d.entity
                    .as_deref()
                    .map(|e| format!("`{}`", md(e, 120).replace('`', "'")))
                    .unwrap_or_else(|| "(top level)".into()),
                range(d.a),
                quote(&d.a_lines),
                range(d.b),
                quote(&d.b_lines)
            );
            if section.len() + row.len() + 256 > budget {
                break;
            }
            section.push_str(&row);
            shown += 1;
        }
        if shown < dual.differences.len() {
            let _ = writeln!(
                section,
                "\n_… {} more not shown: the summary is capped under 1 MiB; see the record or `patchgate diff`._",
                dual.differences.len() - shown
            );
        }
        let _ = writeln!(section);
    }
    if !dual.excluded.is_empty() {
        let mut part = String::new();
        let _ = writeln!(
            part,
            "Not counted (the repository's `diff.exclude`, or its defaults): {}\n",
            dual.excluded
                .iter()
                .map(|e| format!(
                    "`{}` ({})",
                    md(&e.path, 200).replace('`', "'"),
                    md(&e.pattern, 100)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if section.len() + part.len() <= budget {
            section.push_str(&part);
        }
    }
    if section.len() > budget {
        return String::new();
    }
    section
}

// ---------------------------------------------------------------------------------------------
// Outputs, files, exit code

/// The step's outputs: `quorum-passed` (`true`/`false`), `variance-percent` (render A against
/// render B, empty when there was no render B), `record-hash`, `record-path` (empty when the
/// record was not written to a file).
pub fn outputs(o: &CheckOutcome) -> Vec<(String, String)> {
    let r = &o.record;
    vec![
        ("quorum-passed".into(), r.quorum_passed.to_string()),
        (
            "variance-percent".into(),
            match (&o.dual, &r.renders.b) {
                (Some(_), Some(_)) => format!("{:.3}", r.ast_diff.variance_percent),
                _ => String::new(),
            },
        ),
        (
            "record-hash".into(),
            r.record_hash.clone().unwrap_or_default(),
        ),
        (
            "record-path".into(),
            o.meta_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

fn append(path: &Path, what: &'static str, text: &str) -> Result<(), ActionsError> {
    let err = |source| ActionsError::Write {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.flush().map_err(err)
}

/// Append `outputs` to the `GITHUB_OUTPUT` file in the heredoc form
/// (`name<<ghadelimiter_<random>` / value / delimiter), so any value — multi-line included —
/// is read back exactly. The delimiter is random and never occurs in the value.
pub fn write_outputs(path: &Path, outputs: &[(String, String)]) -> Result<(), ActionsError> {
    let mut text = String::new();
    for (name, value) in outputs {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ActionsError::OutputName(name.clone()));
        }
        let delimiter = loop {
            let d = format!("ghadelimiter_{:032x}", rand::random::<u128>());
            if !value.contains(&d) {
                break d;
            }
        };
        let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    append(path, "the step outputs (GITHUB_OUTPUT)", &text)
}

/// Append `text` to the `GITHUB_STEP_SUMMARY` file.
pub fn write_summary(path: &Path, text: &str) -> Result<(), ActionsError> {
    append(path, "the step summary (GITHUB_STEP_SUMMARY)", text)
}

/// The step's exit code: 1 when the quorum failed, unless `fail-on: never`; else 0.
pub fn exit_code(o: &CheckOutcome, fail_on: FailOn) -> u8 {
    match (o.record.quorum_passed, fail_on) {
        (true, _) | (false, FailOn::Never) => 0,
        (false, FailOn::Quorum) => 1,
    }
}

/// Everything after the check, in the order the runner wants it: the context's warnings and the
/// annotations printed to `out`, the step summary and the outputs written (when the runner
/// gave their files). Returns the step's exit code. Print [`mask_commands`] before calling
/// anything that prints.
pub fn finish(
    o: &CheckOutcome,
    ctx: &ActionsContext,
    out: &mut dyn std::io::Write,
) -> Result<u8, ActionsError> {
    let stdout_err = |source| ActionsError::Write {
        what: "workflow commands to",
        path: PathBuf::from("stdout"),
        source,
    };
    for w in &ctx.warnings {
        writeln!(out, "::warning title=patchgate::{}", escape_data(w)).map_err(stdout_err)?;
    }
    for a in annotations(o) {
        writeln!(out, "{a}").map_err(stdout_err)?;
    }
    if let Some(p) = &ctx.step_summary {
        write_summary(p, &step_summary(o))?;
    }
    if let Some(p) = &ctx.output {
        write_outputs(p, &outputs(o))?;
    }
    Ok(exit_code(o, ctx.fail_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50%\r\nok"), "50%25%0D%0Aok");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn masks_one_line_each_and_escape() {
        let m = mask_commands(&["ab\ncd\r\n".into(), "x%y".into(), "ab".into()]);
        assert_eq!(m, "::add-mask::ab\n::add-mask::cd\n::add-mask::x%25y\n");
    }

    #[test]
    fn secrets_come_from_named_vars_and_patterns() {
        let env = |k: &str| match k {
            "OPENAI_API_KEY" => Some("sk-1".to_string()),
            "PATCHGATE_WEBHOOK_SECRET" => Some("whs".into()),
            "GITHUB_TOKEN" => Some("ghs_x".into()),
            "PATCHGATE_LISTEN" => Some("127.0.0.1:80".into()),
            "DATABASE_URL" => Some("postgres://u:pw9@h/db".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let names: Vec<String> = ["PATCHGATE_WEBHOOK_SECRET", "PATCHGATE_LISTEN", "PATH"]
            .map(String::from)
            .to_vec();
        let s = secrets_to_mask(&env, &names, &["OPENAI_API_KEY".into(), "EMPTY".into()]);
        assert_eq!(s, vec!["sk-1", "ghs_x", "whs", "pw9"]);
    }

    #[test]
    fn fail_on_parses() {
        assert_eq!("never".parse::<FailOn>().unwrap(), FailOn::Never);
        assert_eq!("".parse::<FailOn>().unwrap(), FailOn::Quorum);
        assert!("sometimes".parse::<FailOn>().is_err());
    }

    #[test]
    fn caps_at_char_boundaries() {
        assert_eq!(cap("héllo", 2), "hé…");
        assert_eq!(md("a|b\n<c>", 100), "a\\|b &lt;c&gt;");
    }
}
