//! Issues in the fake GitHub: created by tests ([`FakeGitHub::add_issue`]) and read with
//! `issues/get`, answered like GitHub's "Get an issue" — for a pull request's number too, as
//! its issue view (with a `pull_request` object), since GitHub counts every pull request as an
//! issue. patchgate reads the issue a pull request closes as render B's request.

use serde_json::{json, Value};

use super::{
    answer, not_found, rewrite_urls, stable_id, user_json, Answer, FakeGitHub, RepoState, Spec,
};

/// An issue as the fake keeps it. Empty `user` is filled in by [`FakeGitHub::add_issue`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueSpec {
    pub number: u64,
    pub title: String,
    /// Empty: `null`, as GitHub answers an issue without a description.
    pub body: String,
    pub user: String,
    pub labels: Vec<String>,
    pub closed: bool,
}

impl FakeGitHub {
    /// An issue (empty `user` → `octocat`). Its number must not be a pull request's.
    pub fn add_issue(&self, repo: &str, mut issue: IssueSpec) {
        let mut g = self.lock();
        let r = g.repo(repo);
        assert!(
            !r.pulls.contains_key(&issue.number),
            "fake GitHub: #{} of {repo} is a pull request",
            issue.number
        );
        if issue.user.is_empty() {
            issue.user = "octocat".to_string();
        }
        r.issues.insert(issue.number, issue);
    }
}

/// Whether `number` names an issue or a pull request of `r`.
pub(super) fn exists(r: &RepoState, number: u64) -> bool {
    r.issues.contains_key(&number) || r.pulls.contains_key(&number)
}

/// `issues/get`: the issue, or a pull request's issue view, or 404.
pub(super) fn get(base: &str, r: &RepoState, number: u64) -> Answer {
    if let Some(i) = r.issues.get(&number) {
        return answer(200, issue_json(base, r, i, false));
    }
    match r.pulls.get(&number) {
        Some(pr) => {
            let view = IssueSpec {
                number,
                title: pr.title.clone(),
                body: pr.body.clone(),
                user: pr.user.clone(),
                labels: pr.labels.clone(),
                closed: pr.closed || pr.merged,
            };
            let mut v = issue_json(base, r, &view, true);
            let name = &r.full_name;
            v["pull_request"] = json!({
                "url": format!("{base}/repos/{name}/pulls/{number}"),
                "html_url": format!("https://github.com/{name}/pull/{number}"),
                "diff_url": format!("https://github.com/{name}/pull/{number}.diff"),
                "patch_url": format!("https://github.com/{name}/pull/{number}.patch"),
                "merged_at": if pr.merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
            });
            answer(200, v)
        }
        None => not_found(),
    }
}

fn issue_json(base: &str, r: &RepoState, i: &IssueSpec, is_pull: bool) -> Value {
    let mut v = Spec::get().example("issue");
    let name = &r.full_name;
    rewrite_urls(&mut v, base, "octocat/Hello-World", name);
    let n = i.number;
    let id = r.id * 100_000 + 50_000 + n;
    let kind = if is_pull { "pull" } else { "issues" };
    v["id"] = json!(id);
    v["node_id"] = json!(format!("I_fake{id}"));
    v["url"] = json!(format!("{base}/repos/{name}/issues/{n}"));
    v["repository_url"] = json!(format!("{base}/repos/{name}"));
    v["labels_url"] = json!(format!("{base}/repos/{name}/issues/{n}/labels{{/name}}"));
    v["comments_url"] = json!(format!("{base}/repos/{name}/issues/{n}/comments"));
    v["events_url"] = json!(format!("{base}/repos/{name}/issues/{n}/events"));
    v["html_url"] = json!(format!("https://github.com/{name}/{kind}/{n}"));
    v["number"] = json!(n);
    v["state"] = json!(if i.closed { "closed" } else { "open" });
    v["state_reason"] = if i.closed {
        json!("completed")
    } else {
        Value::Null
    };
    v["title"] = json!(i.title);
    v["body"] = if i.body.is_empty() {
        Value::Null
    } else {
        json!(i.body)
    };
    v["user"] = user_json(base, &i.user);
    let template = v["labels"][0].clone();
    v["labels"] = json!(i
        .labels
        .iter()
        .map(|l| {
            let mut x = template.clone();
            x["id"] = json!(stable_id(l));
            x["node_id"] = json!(format!("LA_fake{}", stable_id(l)));
            x["name"] = json!(l);
            x["url"] = json!(format!("{base}/repos/{name}/labels/{l}"));
            x["default"] = json!(false);
            x
        })
        .collect::<Vec<_>>());
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["milestone"] = Value::Null;
    v["locked"] = json!(false);
    v["active_lock_reason"] = Value::Null;
    v["pinned_comment"] = Value::Null;
    v["comments"] = json!(r.comments.get(&n).map_or(0, Vec::len));
    let at = "2026-01-01T00:00:00Z";
    v["created_at"] = json!(at);
    v["updated_at"] = json!(at);
    v["closed_at"] = if i.closed { json!(at) } else { Value::Null };
    v["closed_by"] = Value::Null;
    v["author_association"] = json!("CONTRIBUTOR");
    if let Some(o) = v.as_object_mut() {
        o.remove("pull_request");
    }
    v
}
