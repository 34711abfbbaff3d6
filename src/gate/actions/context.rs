//! What a step of a GitHub Actions job tells patchgate: the runner's environment and the event
//! payload, read into an [`ActionsContext`] and turned into a check request.

use std::path::{Path, PathBuf};

use super::{ActionsError, FailOn};
use crate::astdiff::DiffOptions;
use crate::gate::check::{CheckRequest, RenderBSource};
use crate::webhook::ActionsEvent;

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
