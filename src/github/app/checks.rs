//! Check runs: listing this App's runs on a commit, creating one, completing it (annotations
//! in batches of 50, the conclusion last) and setting its buttons.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Installation;
use super::http::{encode, repo_route, Caller, Id, Verb};
use super::text::{truncate_chars, truncate_text, TEXT_LIMIT};
use super::RepoName;

/// GitHub accepts at most 50 annotations per check-run request.
const ANNOTATIONS_PER_REQUEST: usize = 50;

impl Installation {
    /// This App's check runs named `name` on commit `sha` (all of them, not only the latest).
    /// Runs of the same name by anyone else — another App, or a workflow's token — are left
    /// out (`app_id`), so they can neither be taken for ours nor be updated by us.
    pub async fn check_runs_for_ref(
        &self,
        repo: &RepoName,
        sha: &str,
        name: &str,
    ) -> anyhow::Result<Vec<CheckRunInfo>> {
        let action = format!("list check runs {name:?} of {sha} in {repo}");
        let route = repo_route(
            repo,
            &format!(
                "/commits/{}/check-runs?check_name={}&filter=all&app_id={}",
                encode(sha),
                encode(name),
                self.app.app_id()
            ),
        );
        Caller::Inst(self)
            .get_all(action, &route, Some("check_runs"))
            .await
    }

    /// Create a check run, `in_progress`; returns its id.
    pub async fn create_check_run(
        &self,
        repo: &RepoName,
        run: &NewCheckRun,
    ) -> anyhow::Result<u64> {
        let mut body = json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "status": "in_progress",
            "started_at": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "output": { "title": run.title, "summary": truncate_text(&run.summary, TEXT_LIMIT) },
        });
        if let Some(id) = &run.external_id {
            body["external_id"] = json!(id);
        }
        if let Some(url) = &run.details_url {
            body["details_url"] = json!(url);
        }
        let action = format!("create check run {:?} on {repo}", run.name);
        let created: Id = Caller::Inst(self)
            .post(action, &repo_route(repo, "/check-runs"), &body)
            .await?;
        Ok(created.id)
    }

    /// Complete a check run. Annotations beyond the first 50 go first, 50 per PATCH, while the
    /// run is still in progress (GitHub appends them); the last PATCH carries the conclusion,
    /// the output, the actions and the last batch. So a run is never concluded with part of
    /// its annotations missing: if any request fails, the run is still in progress.
    pub async fn complete_check_run(
        &self,
        repo: &RepoName,
        id: u64,
        result: &CheckRunResult,
    ) -> anyhow::Result<()> {
        let route = repo_route(repo, &format!("/check-runs/{id}"));
        for (i, body) in check_run_patches(result, Utc::now()).iter().enumerate() {
            let action = format!("complete check run {id} on {repo} (request {})", i + 1);
            let _: Value = Caller::Inst(self)
                .send_json(action, Verb::Patch, &route, Some(body))
                .await?;
        }
        Ok(())
    }

    /// Replace a check run's action buttons (e.g. offer Rollback once the PR is merged); its
    /// status, conclusion and output are left as they are.
    pub async fn set_check_run_actions(
        &self,
        repo: &RepoName,
        id: u64,
        actions: &[CheckAction],
    ) -> anyhow::Result<()> {
        let route = repo_route(repo, &format!("/check-runs/{id}"));
        let action = format!("set the actions of check run {id} on {repo}");
        let body = json!({ "actions": actions_json(actions) });
        let _: Value = Caller::Inst(self)
            .send_json(action, Verb::Patch, &route, Some(&body))
            .await?;
        Ok(())
    }
}

/// A check run, as listed for a commit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRunInfo {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// RFC 3339, as GitHub gives it.
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub output: CheckRunOutputInfo,
    /// The run's page on GitHub, as GitHub gives it.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// What patchgate reads of a listed check run's `output`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CheckRunOutputInfo {
    /// Annotations the run carries (GitHub only ever adds to them).
    #[serde(default)]
    pub annotations_count: u64,
}

impl CheckRunInfo {
    /// When the run started, if GitHub says (and says it in RFC 3339).
    pub fn started(&self) -> Option<DateTime<Utc>> {
        let s = self.started_at.as_deref()?;
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A check run to create (it starts `in_progress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckRun {
    pub name: String,
    pub head_sha: String,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub title: String,
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    ActionRequired,
    /// Closed without a decision (a superseded head): fails a required check.
    Cancelled,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::ActionRequired => "action_required",
            Conclusion::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

impl AnnotationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnotationLevel::Notice => "notice",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub level: AnnotationLevel,
    pub title: String,
    pub message: String,
}

/// A button on the check run. GitHub takes at most three, with a label of at most 20
/// characters, a description of at most 40 and an identifier of at most 20; longer ones are
/// cut, extra ones dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAction {
    pub label: String,
    pub description: String,
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunResult {
    pub conclusion: Conclusion,
    pub title: String,
    pub summary: String,
    pub text: Option<String>,
    pub annotations: Vec<Annotation>,
    pub actions: Vec<CheckAction>,
}

/// The PATCH bodies that complete a check run, in the order they are sent: one per 50
/// annotations beyond the first batch, leaving the status alone (in progress), then the one that
/// concludes — status, conclusion, actions and the last batch. Each carries the output (GitHub
/// requires a summary with any output).
fn check_run_patches(result: &CheckRunResult, now: DateTime<Utc>) -> Vec<Value> {
    let mut output = json!({
        "title": truncate_chars(&result.title, 255),
        "summary": truncate_text(&result.summary, TEXT_LIMIT),
    });
    if let Some(text) = &result.text {
        output["text"] = json!(truncate_text(text, TEXT_LIMIT));
    }
    let annotations: Vec<Value> = result.annotations.iter().map(annotation_json).collect();
    let mut batches: Vec<&[Value]> = annotations.chunks(ANNOTATIONS_PER_REQUEST).collect();
    if batches.is_empty() {
        batches.push(&[]);
    }
    let last = batches.len() - 1;
    batches
        .into_iter()
        .enumerate()
        .map(|(i, batch)| {
            let mut output = output.clone();
            if !batch.is_empty() {
                output["annotations"] = json!(batch);
            }
            if i < last {
                return json!({ "output": output });
            }
            json!({
                "status": "completed",
                "conclusion": result.conclusion.as_str(),
                "completed_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "output": output,
                "actions": actions_json(&result.actions),
            })
        })
        .collect()
}

/// At most three buttons, each field cut to GitHub's limit.
fn actions_json(actions: &[CheckAction]) -> Vec<Value> {
    actions
        .iter()
        .take(3)
        .map(|a| {
            json!({
                "label": truncate_chars(&a.label, 20),
                "description": truncate_chars(&a.description, 40),
                "identifier": truncate_chars(&a.identifier, 20),
            })
        })
        .collect()
}

fn annotation_json(a: &Annotation) -> Value {
    let start = a.start_line.max(1);
    let mut v = json!({
        "path": a.path,
        "start_line": start,
        "end_line": a.end_line.max(start),
        "annotation_level": a.level.as_str(),
        "message": truncate_text(&a.message, 64 * 1024 - 1),
    });
    if !a.title.is_empty() {
        v["title"] = json!(truncate_chars(&a.title, 255));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_with(n: usize) -> CheckRunResult {
        CheckRunResult {
            conclusion: Conclusion::Failure,
            title: "t".into(),
            summary: "s".into(),
            text: Some("x".into()),
            annotations: (0..n)
                .map(|i| Annotation {
                    path: "a.rs".into(),
                    start_line: i as u32,
                    end_line: 0,
                    level: AnnotationLevel::Warning,
                    title: String::new(),
                    message: format!("m{i}"),
                })
                .collect(),
            actions: (0..5)
                .map(|i| CheckAction {
                    label: format!("a label longer than twenty {i}"),
                    description: "d".into(),
                    identifier: format!("id{i}"),
                })
                .collect(),
        }
    }

    #[test]
    fn annotations_go_in_batches_of_fifty() {
        let patches = check_run_patches(&result_with(120), Utc::now());
        let counts: Vec<usize> = patches
            .iter()
            .map(|p| p["output"]["annotations"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(counts, [50, 50, 20]);
        // The extra batches go while the run is in progress; the last request concludes.
        for p in &patches[..2] {
            assert!(
                p.get("conclusion").is_none() && p.get("status").is_none(),
                "{p}"
            );
            assert!(
                p.get("actions").is_none() && p["output"]["summary"] == "s",
                "{p}"
            );
        }
        let last = &patches[2];
        assert_eq!(last["conclusion"], "failure");
        assert_eq!(last["status"], "completed");
        assert_eq!(last["actions"].as_array().unwrap().len(), 3);
        assert_eq!(
            last["actions"][0]["label"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            20
        );
        // Lines are clamped into what GitHub accepts; an empty title is left out.
        let a = &patches[0]["output"]["annotations"][0];
        assert_eq!(
            (a["start_line"].as_u64(), a["end_line"].as_u64()),
            (Some(1), Some(1))
        );
        assert!(a.get("title").is_none());
        for n in [0, 50] {
            let one = check_run_patches(&result_with(n), Utc::now());
            assert_eq!(one.len(), 1);
            assert_eq!(one[0]["conclusion"], "failure");
        }
    }
}
