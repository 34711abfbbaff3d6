//! Self-tests of the fake GitHub in `tests/support/`: it authenticates like GitHub, keeps
//! state like GitHub, paginates like GitHub, and refuses (as a recorded violation) every
//! request that GitHub's REST description does not allow. Driven by plain reqwest where the
//! exact bytes matter, and by the real octocrab client (what patchgate uses) everywhere else.

use crate::support;

use jsonwebtoken::EncodingKey;
use octocrab::models::{AppId, CheckRunId, InstallationId};
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel,
    CheckRunStatus,
};
use octocrab::params::repos::Reference;
use octocrab::Octocrab;
use serde_json::{json, Value};
use support::openapi::{Spec, Strictness, Verdict};
use support::{sign_github, webhook_payload, FakeGitHub, IssueSpec, PullSpec, BOT_LOGIN};

const REPO: &str = "acme/widgets";
const INSTALLATION: u64 = 77;
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A fake with one installed repository (no local git repository behind it).
async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO, "https://github.com/acme/widgets.git", "main");
    fake.add_installation(INSTALLATION, &[REPO]);
    fake
}

fn app_client(fake: &FakeGitHub, pem: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(fake.url())
        .expect("base uri")
        .app(
            AppId(fake.app_id()),
            EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PEM"),
        )
        .build()
        .expect("octocrab")
}

/// octocrab as patchgate uses it: the App, then one installation.
fn installation_client(fake: &FakeGitHub) -> Octocrab {
    app_client(fake, &fake.private_key_pem())
        .installation(InstallationId(INSTALLATION))
        .expect("installation client")
}

/// A JWT like octocrab's (iat 60 s ago, exp in 9 min), signed with `pem`.
fn jwt(pem: &str, iss: u64, exp_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": iss, "iat": now - 60, "exp": now + exp_in}),
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn assert_clean(fake: &FakeGitHub) {
    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "requests off the REST description"
    );
    assert_eq!(
        fake.response_problems(),
        Vec::<String>::new(),
        "answers of the fake off the REST description"
    );
}

fn annotation(i: u32) -> CheckRunOutputAnnotation {
    CheckRunOutputAnnotation {
        path: "src/lib.rs".into(),
        start_line: i,
        end_line: i,
        start_column: None,
        end_column: None,
        annotation_level: CheckRunOutputAnnotationLevel::Warning,
        message: format!("finding {i}"),
        title: Some("rule".into()),
        raw_details: None,
    }
}

fn output(title: &str, annotations: Vec<CheckRunOutputAnnotation>) -> CheckRunOutput {
    CheckRunOutput {
        title: title.into(),
        summary: format!("{title}: summary"),
        text: None,
        annotations,
        images: vec![],
    }
}

#[tokio::test]
async fn jwt_gets_an_installation_token_and_a_forged_jwt_gets_401() {
    let fake = fake().await;

    let (_client, token) = app_client(&fake, &fake.private_key_pem())
        .installation_and_token(InstallationId(INSTALLATION))
        .await
        .expect("token with the App's key");
    assert!(!secrecy_free(&token).is_empty());
    assert_eq!(fake.tokens_issued(), 1);

    // the same request signed with another key
    let forged = app_client(&fake, &FakeGitHub::forged_private_key_pem())
        .installation_and_token(InstallationId(INSTALLATION))
        .await;
    match forged {
        Err(octocrab::Error::GitHub { source, .. }) => {
            assert_eq!(source.status_code.as_u16(), 401, "{source:?}")
        }
        other => panic!("a forged JWT must be refused with 401, got {other:?}"),
    }
    assert_eq!(fake.tokens_issued(), 1, "no token for a forged JWT");

    // by hand: wrong issuer, too long a lifetime, an installation token where a JWT is due
    let url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        fake.url()
    );
    let pem = fake.private_key_pem();
    for (why, auth) in [
        (
            "forged",
            format!(
                "Bearer {}",
                jwt(&FakeGitHub::forged_private_key_pem(), fake.app_id(), 540)
            ),
        ),
        (
            "wrong iss",
            format!("Bearer {}", jwt(&pem, fake.app_id() + 1, 540)),
        ),
        (
            "exp > 10 min",
            format!("Bearer {}", jwt(&pem, fake.app_id(), 3600)),
        ),
        (
            "expired",
            format!("Bearer {}", jwt(&pem, fake.app_id(), -5)),
        ),
        (
            "installation token",
            format!("token {}", fake.issue_token(INSTALLATION)),
        ),
    ] {
        let res = http()
            .post(&url)
            .header("authorization", auth)
            .header("user-agent", "test")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401, "{why}");
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].is_string() && body["documentation_url"].is_string());
    }
    let ok = http()
        .post(&url)
        .header(
            "authorization",
            format!("Bearer {}", jwt(&pem, fake.app_id(), 540)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 201);
    let token: Value = ok.json().await.unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(token["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1));
    assert_eq!(token["repositories"][0]["full_name"], REPO);
    assert_clean(&fake);
}

fn secrecy_free(token: &impl std::fmt::Debug) -> String {
    // SecretString hides its value from Debug; non-empty Debug output is all we can check
    format!("{token:?}")
}

#[tokio::test]
async fn installation_tokens_are_checked_and_expire() {
    let fake = fake().await;
    fake.add_pull(
        REPO,
        PullSpec {
            number: 1,
            head_sha: SHA_A.into(),
            base_sha: SHA_B.into(),
            ..Default::default()
        },
    );
    let url = format!("{}/repos/{REPO}/pulls/1", fake.url());
    let get = |auth: Option<String>| {
        let mut req = http().get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("token ghs_never_issued".into())).await, 401);
    let token = fake.issue_token(INSTALLATION);
    assert_eq!(get(Some(format!("token {token}"))).await, 200);
    assert_eq!(get(Some(format!("Bearer {token}"))).await, 200);
    // a JWT is not an installation token
    let app_jwt = jwt(&fake.private_key_pem(), fake.app_id(), 540);
    assert_eq!(get(Some(format!("Bearer {app_jwt}"))).await, 401);
    // a token of another installation does not reach this repository
    fake.add_repo("other/repo", "https://github.com/other/repo.git", "main");
    fake.add_installation(78, &["other/repo"]);
    let other = fake.issue_token(78);
    assert_eq!(get(Some(format!("token {other}"))).await, 404);
    fake.expire_tokens();
    assert_eq!(get(Some(format!("token {token}"))).await, 401);

    // octocrab renews a token that is about to expire
    fake.set_token_lifetime(std::time::Duration::from_secs(20));
    let before = fake.tokens_issued();
    let octo = installation_client(&fake);
    octo.pulls("acme", "widgets").get(1).await.unwrap();
    octo.pulls("acme", "widgets").get(1).await.unwrap();
    assert_eq!(
        fake.tokens_issued(),
        before + 2,
        "a token per request when they live 20 s"
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn check_runs_through_octocrab_accumulate_annotations() {
    let fake = fake().await;
    let octo = installation_client(&fake);
    let checks = octo.checks("acme", "widgets");
    let run = checks
        .create_check_run("patchgate", SHA_A)
        .status(CheckRunStatus::InProgress)
        .external_id("pr-1")
        .output(output("Auditing", (1..=50).map(annotation).collect()))
        .send()
        .await
        .expect("create");
    // octocrab's update builder also puts the run's id into the body (see
    // `octocrabs_update_builder_sends_a_field_github_does_not_describe`), which the strict fake
    // refuses; updates go by the route, as patchgate sends them.
    let update = |body: Value| {
        let route = format!("/repos/{REPO}/check-runs/{}", run.id);
        let octo = octo.clone();
        async move {
            octo.patch::<octocrab::models::checks::CheckRun, _, _>(route, Some(&body))
                .await
        }
    };
    let updated = update(json!({
        "conclusion": "success",
        "output": output("Quorum passed", (51..=60).map(annotation).collect()),
    }))
    .await
    .expect("update");
    assert_eq!(updated.conclusion.as_deref(), Some("success"));
    assert_eq!(updated.output.annotations_count, 60);
    checks
        .create_check_run("ci", SHA_A)
        .send()
        .await
        .expect("another run");

    let state = fake.check_runs(REPO);
    assert_eq!(state.len(), 2);
    let gate = &state[0];
    assert_eq!(gate.name, "patchgate");
    assert_eq!(gate.status, "completed");
    assert_eq!(gate.external_id.as_deref(), Some("pr-1"));
    assert_eq!(gate.output.title.as_deref(), Some("Quorum passed"));
    assert_eq!(
        gate.annotations.len(),
        60,
        "annotations accumulate across requests"
    );
    assert_eq!(gate.annotations[59]["message"], "finding 60");
    assert_eq!(gate.updates, 1);

    // octocrab's builder has no check_name: the raw route with the query, as patchgate does
    let listed: octocrab::models::checks::ListCheckRuns = octo
        .get(
            format!("/repos/{REPO}/commits/{SHA_A}/check-runs"),
            Some(&[("check_name", "patchgate")]),
        )
        .await
        .expect("list for ref");
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.check_runs[0].id, CheckRunId(gate.id));
    let all = checks
        .list_check_runs_for_git_ref(SHA_A.to_string().into())
        .send()
        .await
        .unwrap();
    assert_eq!(all.total_count, 2);
    let none = checks
        .list_check_runs_for_git_ref(SHA_B.to_string().into())
        .send()
        .await
        .unwrap();
    assert_eq!(none.total_count, 0);

    // more than 50 annotations in one request: 422, like GitHub, and a violation
    let err = update(json!({"output": output("too many", (1..=60).map(annotation).collect())}))
        .await
        .expect_err("60 annotations in one request");
    match err {
        octocrab::Error::GitHub { source, .. } => assert_eq!(source.status_code.as_u16(), 422),
        other => panic!("{other:?}"),
    }
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("checks/update") && v[0].contains("at most 50"),
        "{v:?}"
    );
    assert_eq!(
        fake.check_runs(REPO)[0].annotations.len(),
        60,
        "nothing of it kept"
    );
    assert_eq!(fake.response_problems(), Vec::<String>::new());
}

/// Found by the strict check: octocrab's `update_check_run` builder serialises its
/// `check_run_id` into the body, a field the operation does not have (GitHub ignores it).
/// patchgate sends its own bodies by route; should it ever use the builder, this is why
/// every update would be refused by the fake.
#[tokio::test]
async fn octocrabs_update_builder_sends_a_field_github_does_not_describe() {
    let fake = fake().await;
    let octo = installation_client(&fake);
    let checks = octo.checks("acme", "widgets");
    let run = checks
        .create_check_run("patchgate", SHA_A)
        .send()
        .await
        .expect("create");
    let err = checks
        .update_check_run(run.id)
        .conclusion(CheckRunConclusion::Neutral)
        .send()
        .await
        .expect_err("an undescribed body field");
    match err {
        octocrab::Error::GitHub { source, .. } => assert_eq!(source.status_code.as_u16(), 422),
        other => panic!("{other:?}"),
    }
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].contains("checks/update: body: unknown property `check_run_id`"),
        "{}",
        v[0]
    );
    assert_eq!(fake.check_runs(REPO)[0].updates, 0);
}

#[tokio::test]
async fn a_check_run_patch_off_the_schema_is_a_violation() {
    let fake = fake().await;
    let token = fake.issue_token(INSTALLATION);
    let create = http()
        .post(format!("{}/repos/{REPO}/check-runs", fake.url()))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "patchgate", "head_sha": SHA_A}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status().as_u16(), 201);
    let id = create.json::<Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let patch = |body: Value| {
        let req = http()
            .patch(format!("{}/repos/{REPO}/check-runs/{id}", fake.url()))
            .header("authorization", format!("token {token}"))
            .json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // an annotation without its required `message`
    let missing = json!({"output": {"title": "t", "summary": "s", "annotations": [
        {"path": "a.rs", "start_line": 1, "end_line": 1, "annotation_level": "warning"}]}});
    assert_eq!(patch(missing).await, 422);
    // a line number as a string
    let wrong_type = json!({"output": {"title": "t", "summary": "s", "annotations": [
        {"path": "a.rs", "start_line": "1", "end_line": 1, "annotation_level": "warning", "message": "m"}]}});
    assert_eq!(patch(wrong_type).await, 422);
    // a conclusion GitHub does not know
    assert_eq!(patch(json!({"conclusion": "passed"})).await, 422);
    // `status: completed` without a conclusion: valid JSON, refused by GitHub's rule
    assert_eq!(patch(json!({"status": "completed"})).await, 422);
    // and a fine one
    assert_eq!(
        patch(json!({"conclusion": "neutral", "output": {"title": "t", "summary": "s"}})).await,
        200
    );

    let v = fake.violations();
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(
        v[0].contains("body.output.annotations[0]: required property `message` is missing"),
        "{}",
        v[0]
    );
    assert!(
        v[1].contains("body.output.annotations[0].start_line: expected integer"),
        "{}",
        v[1]
    );
    assert!(
        v[2].contains("body.conclusion: \"passed\" is not one of"),
        "{}",
        v[2]
    );
    assert!(
        v[3].contains("`anyOf`") && v[3].contains("`conclusion` is missing"),
        "{}",
        v[3]
    );
    let runs = fake.check_runs(REPO);
    assert_eq!(runs[0].conclusion.as_deref(), Some("neutral"));
    assert_eq!(runs[0].updates, 1, "refused requests change nothing");
    assert!(runs[0].annotations.is_empty());
}

#[tokio::test]
async fn unknown_paths_and_methods_are_violations() {
    let fake = fake().await;
    let token = fake.issue_token(INSTALLATION);
    for (method, path) in [
        (reqwest::Method::GET, format!("/repos/{REPO}/nonsense")),
        (reqwest::Method::DELETE, format!("/repos/{REPO}/pulls/1")),
        (reqwest::Method::GET, "/repos/acme".to_string()),
    ] {
        let res = http()
            .request(method.clone(), format!("{}{path}", fake.url()))
            .header("authorization", format!("token {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{method} {path}");
    }
    let v = fake.violations();
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v[0].contains("/repos/acme/widgets/nonsense"));
    assert!(
        v[1].contains("DELETE") && v[1].contains("GET /repos/{owner}/{repo}/pulls/{pull_number}"),
        "{}",
        v[1]
    );
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 3);
    assert!(recorded
        .iter()
        .all(|r| r.operation_id.is_none() && r.status == 404));
}

#[tokio::test]
async fn lists_paginate_with_link_headers() {
    let fake = fake().await;
    for n in 1..=75 {
        fake.add_pull(
            REPO,
            PullSpec {
                number: n,
                title: format!("change {n}"),
                head_sha: SHA_A.into(),
                base_sha: SHA_B.into(),
                closed: n > 70,
                ..Default::default()
            },
        );
    }
    let token = fake.issue_token(INSTALLATION);
    let res = http()
        .get(format!(
            "{}/repos/{REPO}/pulls?state=all&per_page=30",
            fake.url()
        ))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let link = res.headers()["link"].to_str().unwrap().to_string();
    let page: Vec<Value> = res.json().await.unwrap();
    assert_eq!(page.len(), 30);
    assert_eq!(page[0]["number"], 75, "newest first");
    let base = fake.url();
    assert_eq!(
        link,
        format!(
            "<{base}/repos/{REPO}/pulls?state=all&per_page=30&page=2>; rel=\"next\", \
             <{base}/repos/{REPO}/pulls?state=all&per_page=30&page=3>; rel=\"last\""
        )
    );
    let last = http()
        .get(format!(
            "{}/repos/{REPO}/pulls?state=all&per_page=30&page=3",
            fake.url()
        ))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let link = last.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("page=2>; rel=\"prev\"") && link.contains("page=1>; rel=\"first\""),
        "{link}"
    );
    assert!(!link.contains("rel=\"next\""));
    assert_eq!(last.json::<Vec<Value>>().await.unwrap().len(), 15);

    // octocrab: open PRs only (the default), 70 of them, fetched page by page. Its
    // `all_pages`/`get_page` follow the absolute `Link` URL and send no Authorization to any
    // host but api.github.com (so not to GitHub Enterprise, nor to this fake): 401.
    let octo = installation_client(&fake);
    let pulls = octo.pulls("acme", "widgets");
    let first = pulls.list().per_page(30).send().await.unwrap();
    assert!(first.next.is_some());
    let followed = octo
        .get_page::<octocrab::models::pulls::PullRequest>(&first.next)
        .await;
    assert!(
        matches!(followed, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 401),
        "{followed:?}"
    );
    let mut all = first.items;
    for page in 2u32.. {
        let next = pulls.list().per_page(30).page(page).send().await.unwrap();
        let done = next.next.is_none();
        all.extend(next.items);
        if done {
            break;
        }
    }
    assert_eq!(all.len(), 70);
    assert_eq!(all[69].number, 1);
    // and the default page size is 30
    let token_url = format!("{}/repos/{REPO}/pulls", fake.url());
    let default: Vec<Value> = http()
        .get(token_url)
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(default.len(), 30);
    assert_clean(&fake);
}

#[tokio::test]
async fn comments_reactions_labels_permissions_and_contents() {
    let fake = fake().await;
    fake.add_pull(
        REPO,
        PullSpec {
            number: 5,
            title: "Add widgets".into(),
            body: "Render-Of: #4".into(),
            head_sha: SHA_A.into(),
            base_sha: SHA_B.into(),
            user: "alice".into(),
            labels: vec!["bug".into()],
            ..Default::default()
        },
    );
    fake.set_permission(REPO, "alice", "write");
    fake.set_permission(REPO, "mallory", "triage");
    fake.set_file(REPO, ".github/patchgate.yml", "threshold_percent: 2.5\n");
    fake.set_file_at(
        REPO,
        "evil-branch",
        ".github/patchgate.yml",
        "threshold_percent: 99\n",
    );
    let human = fake.add_comment(REPO, 5, "alice", "/patchgate rollback");
    let octo = installation_client(&fake);
    let issues = octo.issues("acme", "widgets");

    let pr = octo
        .pulls("acme", "widgets")
        .get(5)
        .await
        .expect("pulls/get");
    assert_eq!(pr.head.sha, SHA_A);
    assert_eq!(pr.head.ref_field, "pr-5");
    assert_eq!(pr.base.ref_field, "main");
    assert_eq!(pr.body.as_deref(), Some("Render-Of: #4"));
    assert_eq!(pr.user.as_ref().unwrap().login, "alice");

    let comment = issues.create_comment(5, "On it.").await.expect("comment");
    assert_eq!(comment.user.login, BOT_LOGIN);
    issues
        .create_comment_reaction(human, octocrab::models::reactions::ReactionContent::Eyes)
        .await
        .expect("reaction");
    let labels = issues
        .add_labels(5, &["patchgate:escalated".to_string()])
        .await
        .expect("labels");
    assert_eq!(labels.len(), 2);
    let listed = issues.list_comments(5).send().await.expect("list comments");
    assert_eq!(listed.items.len(), 2);

    let comments = fake.comments(REPO, 5);
    assert_eq!(comments.len(), 2);
    assert_eq!(
        (comments[1].user.as_str(), comments[1].body.as_str()),
        (BOT_LOGIN, "On it.")
    );
    assert_eq!(fake.reactions(REPO, human), vec!["eyes"]);
    assert_eq!(fake.labels(REPO, 5), vec!["bug", "patchgate:escalated"]);

    let repos = octo.repos("acme", "widgets");
    // GitHub answers `permission` with the legacy admin/write/read/none (and the real role in
    // `role_name`); octocrab 0.54's typed call expects pull/push/... and cannot read "write",
    // so patchgate has to read this answer itself.
    let typed = repos.get_contributor_permission("alice").send().await;
    assert!(
        matches!(typed, Err(octocrab::Error::Json { .. })),
        "{typed:?}"
    );
    let permission = |user: &'static str| {
        let octo = octo.clone();
        async move {
            octo.get::<Value, _, ()>(
                format!("/repos/{REPO}/collaborators/{user}/permission"),
                None,
            )
            .await
        }
    };
    let alice = permission("alice").await.expect("permission");
    assert_eq!(
        (alice["permission"].as_str(), alice["role_name"].as_str()),
        (Some("write"), Some("write"))
    );
    let mallory = permission("mallory").await.expect("permission");
    assert_eq!(
        (
            mallory["permission"].as_str(),
            mallory["role_name"].as_str()
        ),
        (Some("read"), Some("triage"))
    );
    let stranger = permission("stranger").await;
    assert!(
        matches!(stranger, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 404)
    );

    let mut content = repos
        .get_content()
        .path(".github/patchgate.yml")
        .r#ref("main")
        .send()
        .await
        .expect("contents");
    let file = content.take_items().remove(0);
    assert_eq!(
        file.decoded_content().as_deref(),
        Some("threshold_percent: 2.5\n")
    );
    let mut evil = repos
        .get_content()
        .path(".github/patchgate.yml")
        .r#ref("evil-branch")
        .send()
        .await
        .unwrap();
    assert_eq!(
        evil.take_items().remove(0).decoded_content().as_deref(),
        Some("threshold_percent: 99\n")
    );
    let missing = repos.get_content().path("nope.yml").send().await;
    assert!(missing.is_err());

    let reqs = fake.requests();
    assert!(reqs.iter().any(|r| r.operation_id.as_deref()
        == Some("reactions/create-for-issue-comment")
        && r.body == Some(json!({"content": "eyes"}))));
    // the 404s above are answers, not violations
    assert_clean(&fake);
}

#[tokio::test]
async fn issues_get_answers_added_issues_and_a_pull_requests_issue_view() {
    let fake = fake().await;
    fake.add_issue(
        REPO,
        IssueSpec {
            number: 12,
            title: "Retries".into(),
            body: "Retry failed fetches.".into(),
            labels: vec!["enhancement".into()],
            ..Default::default()
        },
    );
    fake.add_issue(
        REPO,
        IssueSpec {
            number: 13,
            title: "No description".into(),
            closed: true,
            ..Default::default()
        },
    );
    fake.add_pull(
        REPO,
        PullSpec {
            number: 5,
            title: "Add retries".into(),
            body: "Closes #12".into(),
            head_sha: SHA_A.into(),
            base_sha: SHA_B.into(),
            ..Default::default()
        },
    );
    let octo = installation_client(&fake);
    let issues = octo.issues("acme", "widgets");
    let issue = issues.get(12).await.expect("issues/get");
    assert_eq!(issue.number, 12);
    assert_eq!(issue.title, "Retries");
    assert_eq!(issue.body.as_deref(), Some("Retry failed fetches."));
    assert_eq!(issue.user.login, "octocat");
    assert_eq!(issue.labels[0].name, "enhancement");
    assert!(issue.pull_request.is_none());
    assert!(issue.html_url.as_str().ends_with("/acme/widgets/issues/12"));
    let bare = issues.get(13).await.expect("issues/get");
    assert_eq!(bare.body, None);
    assert_eq!(bare.state, octocrab::models::IssueState::Closed);
    // GitHub counts a pull request as an issue: its issue view, with `pull_request`.
    let pr = issues.get(5).await.expect("issues/get on a PR");
    assert_eq!(pr.title, "Add retries");
    assert!(pr.pull_request.is_some());
    // An issue number nobody made: 404, an answer (not a violation).
    let missing = issues.get(99).await;
    assert!(
        matches!(missing, Err(octocrab::Error::GitHub { ref source, .. }) if source.status_code == 404),
        "{missing:?}"
    );
    // Comments on an added issue are kept like a PR's.
    issues.create_comment(12, "Seen.").await.expect("comment");
    assert_eq!(fake.comments(REPO, 12).len(), 1);
    assert_clean(&fake);
}

#[tokio::test]
async fn apps_endpoints_statuses_and_outages() {
    let fake = fake().await;
    fake.add_repo(
        "acme/gadgets",
        "https://github.com/acme/gadgets.git",
        "trunk",
    );
    fake.add_installation(INSTALLATION, &[REPO, "acme/gadgets"]);
    fake.add_status(REPO, SHA_A, "ci/build", "pending");
    fake.add_status(REPO, SHA_A, "ci/build", "success");
    fake.add_status(REPO, SHA_A, "ci/lint", "failure");
    fake.set_ref(REPO, "heads/main", SHA_A);
    fake.add_check_run(REPO, "build", SHA_A, "completed", Some("failure"));

    let app = app_client(&fake, &fake.private_key_pem());
    let me: Value = app
        .get("/app", None::<&()>)
        .await
        .expect("apps/get-authenticated");
    assert_eq!(me["id"], fake.app_id());
    let installations = app
        .apps()
        .installations()
        .send()
        .await
        .expect("installations");
    assert_eq!(installations.items.len(), 1);
    assert_eq!(installations.items[0].id, InstallationId(INSTALLATION));
    let inst = app
        .apps()
        .get_repository_installation("acme", "gadgets")
        .await
        .expect("repo installation");
    assert_eq!(inst.id, InstallationId(INSTALLATION));

    let octo = installation_client(&fake);
    let repos: Value = octo
        .get("/installation/repositories", None::<&()>)
        .await
        .expect("installation repositories");
    assert_eq!(repos["total_count"], 2);
    let status = octo
        .repos("acme", "widgets")
        .combined_status_for_ref(&Reference::Branch("main".into()))
        .await
        .expect("combined status");
    assert_eq!(status.total_count, 2, "one per context, the latest");
    assert_eq!(format!("{:?}", status.state).to_lowercase(), "failure");
    let ci = octo
        .checks("acme", "widgets")
        .list_check_runs_for_git_ref("heads/main".to_string().into())
        .send()
        .await
        .unwrap();
    assert_eq!(ci.check_runs[0].conclusion.as_deref(), Some("failure"));

    // an outage: two 502s, then service again
    fake.fail_next("GET", &format!("/repos/{REPO}/commits"), 502, 2);
    for _ in 0..2 {
        let err = octo
            .repos("acme", "widgets")
            .combined_status_for_ref(&Reference::Branch("main".into()))
            .await
            .expect_err("outage");
        assert!(
            matches!(err, octocrab::Error::GitHub { ref source, .. } if source.status_code == 502),
            "{err:?}"
        );
    }
    octo.repos("acme", "widgets")
        .combined_status_for_ref(&Reference::Branch("main".into()))
        .await
        .expect("back");
    assert_clean(&fake);
}

/// A bare repository in a temp dir with `main` = base ← head1 ← head2, and `side` off base.
struct LocalRepo {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    base: String,
    head1: String,
    head2: String,
    side: String,
}

fn commit(
    repo: &git2::Repository,
    parent: Option<git2::Oid>,
    files: &[(&str, &str)],
    msg: &str,
) -> git2::Oid {
    let mut tree = repo.treebuilder(None).unwrap();
    for (name, content) in files {
        let blob = repo.blob(content.as_bytes()).unwrap();
        tree.insert(name, blob, 0o100644).unwrap();
    }
    let tree = repo.find_tree(tree.write().unwrap()).unwrap();
    let sig = git2::Signature::new(
        "Tester",
        "t@example.com",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();
    let parents: Vec<git2::Commit> = parent
        .map(|p| repo.find_commit(p).unwrap())
        .into_iter()
        .collect();
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
}

fn local_repo() -> LocalRepo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("widgets.git");
    let repo = git2::Repository::init_bare(&path).unwrap();
    let base = commit(&repo, None, &[("a.txt", "one\n")], "base");
    let head1 = commit(
        &repo,
        Some(base),
        &[("a.txt", "one\ntwo\n"), ("b.txt", "new\n")],
        "head1",
    );
    let head2 = commit(
        &repo,
        Some(head1),
        &[("a.txt", "one\ntwo\nthree\n"), ("b.txt", "new\n")],
        "head2",
    );
    let side = commit(&repo, Some(base), &[("a.txt", "uno\n")], "side");
    repo.reference("refs/heads/main", head1, true, "init")
        .unwrap();
    repo.reference("refs/heads/side", side, true, "init")
        .unwrap();
    LocalRepo {
        _dir: dir,
        path,
        base: base.to_string(),
        head1: head1.to_string(),
        head2: head2.to_string(),
        side: side.to_string(),
    }
}

#[tokio::test]
async fn refs_commits_and_pull_files_come_from_a_local_repository() {
    let local = local_repo();
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO, local.path.to_str().unwrap(), "main");
    fake.add_installation(INSTALLATION, &[REPO]);
    fake.add_pull(
        REPO,
        PullSpec {
            number: 3,
            head_sha: local.head1.clone(),
            base_sha: local.base.clone(),
            head_ref: "feature".into(),
            ..Default::default()
        },
    );
    let octo = installation_client(&fake);
    let repos = octo.repos("acme", "widgets");

    let main = repos
        .get_ref(&Reference::Branch("main".into()))
        .await
        .expect("get ref");
    match main.object {
        octocrab::models::repos::Object::Commit { sha, .. } => assert_eq!(sha, local.head1),
        other => panic!("{other:?}"),
    }
    let commit = octo
        .commits("acme", "widgets")
        .get(&local.head1)
        .await
        .expect("get commit");
    assert_eq!(commit.parents.len(), 1);
    assert_eq!(commit.parents[0].sha.as_deref(), Some(local.base.as_str()));
    let files = commit.files.unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["a.txt", "b.txt"]);
    let pr_files = octo
        .pulls("acme", "widgets")
        .list_files(3)
        .await
        .expect("list files");
    assert_eq!(pr_files.items.len(), 2);
    assert_eq!(pr_files.items[0].additions, 1);

    // git/update-ref: fast-forward only, unless forced; it moves the local branch
    let update = |sha: &str, force: bool| {
        let body = json!({"sha": sha, "force": force});
        let octo = octo.clone();
        async move {
            octo._patch(format!("/repos/{REPO}/git/refs/heads/main"), Some(&body))
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(update(&local.side, false).await, 422, "not a fast forward");
    assert_eq!(update(&"f".repeat(40), true).await, 422, "no such object");
    assert_eq!(update(&local.head2, false).await, 200);
    let bare = git2::Repository::open_bare(&local.path).unwrap();
    assert_eq!(
        bare.refname_to_id("refs/heads/main").unwrap().to_string(),
        local.head2
    );
    assert_eq!(
        fake.git_ref(REPO, "heads/main").as_deref(),
        Some(local.head2.as_str())
    );

    // a revert PR: branch, then PR
    let created: Value = octo
        .post(
            format!("/repos/{REPO}/git/refs"),
            Some(&json!({"ref": "refs/heads/revert-3", "sha": local.head2})),
        )
        .await
        .expect("create ref");
    assert_eq!(created["ref"], "refs/heads/revert-3");
    let pr = octo
        .pulls("acme", "widgets")
        .create("Revert #3", "revert-3", "main")
        .body("Reverts #3: policy latency_p95_ms violated")
        .send()
        .await
        .expect("pulls/create");
    assert_eq!(pr.number, 4);
    let created = fake.pulls_created(REPO);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].head_sha, local.head2);
    assert_eq!(created[0].user, BOT_LOGIN);
    assert_clean(&fake);
}

/// Request bodies as patchgate sends them (built from the real payload shapes) pass the
/// validator; this guards the validator against refusing what GitHub accepts.
#[test]
fn the_validator_accepts_real_request_bodies() {
    let spec = Spec::get();
    let check_run = webhook_payload("check_run.completed");
    let head_sha = check_run["check_run"]["head_sha"].as_str().unwrap();
    let pr = webhook_payload("pull_request.opened");
    let full = pr["repository"]["full_name"].as_str().unwrap();
    let number = pr["number"].as_u64().unwrap();
    let comment = webhook_payload("issue_comment.created");
    let comment_id = comment["comment"]["id"].as_u64().unwrap();
    let bodies: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/app/installations/1/access_tokens".into(),
            json!({"repositories": ["Hello-World"], "permissions": {"checks": "write", "contents": "write"}}),
        ),
        (
            "POST",
            format!("/repos/{full}/check-runs"),
            json!({
                "name": "patchgate", "head_sha": head_sha, "status": "in_progress",
                "external_id": format!("{full}#{number}"), "details_url": "https://example.com/x",
                "started_at": "2026-01-02T03:04:05Z",
                "output": {"title": "Auditing", "summary": "3 auditors", "text": "…",
                    "annotations": [{"path": "src/a.rs", "start_line": 1, "end_line": 2, "annotation_level": "failure",
                                     "message": "m", "title": "t", "raw_details": "r"},
                                    {"path": "src/a.rs", "start_line": 3, "end_line": 3, "start_column": 1, "end_column": 4,
                                     "annotation_level": "notice", "message": "m"}]},
                "actions": [{"label": "Re-run audit", "description": "Run the audit again", "identifier": "recheck"}],
            }),
        ),
        (
            "PATCH",
            format!("/repos/{full}/check-runs/{}", check_run["check_run"]["id"]),
            json!({
                "status": "completed", "conclusion": "action_required", "completed_at": "2026-01-02T03:05:00Z",
                "output": {"title": "Escalated", "summary": "variance 4.2 % > 3 %"},
            }),
        ),
        (
            "POST",
            format!("/repos/{full}/pulls"),
            json!({"title": "Revert \"x\"", "head": "revert-1", "base": "master", "body": "b", "draft": false, "maintainer_can_modify": true}),
        ),
        (
            "POST",
            format!("/repos/{full}/issues/{number}/comments"),
            json!({"body": "**patchgate** quorum passed"}),
        ),
        (
            "POST",
            format!("/repos/{full}/issues/{number}/labels"),
            json!({"labels": ["patchgate:escalated"]}),
        ),
        (
            "POST",
            format!("/repos/{full}/issues/comments/{comment_id}/reactions"),
            json!({"content": "+1"}),
        ),
        (
            "POST",
            format!("/repos/{full}/git/refs"),
            json!({"ref": "refs/heads/revert-1", "sha": head_sha}),
        ),
        (
            "PATCH",
            format!("/repos/{full}/git/refs/heads/master"),
            json!({"sha": head_sha, "force": false}),
        ),
    ];
    for (method, path, body) in &bodies {
        match spec.check_request(method, path, &[], Some(body)) {
            Verdict::Matched { problems, matched } => {
                assert!(
                    problems.is_empty(),
                    "{method} {path} ({}): {problems:#?}",
                    matched.operation.id
                )
            }
            Verdict::Unknown(why) => panic!("{why}"),
        }
    }
    // and GETs with their query parameters
    for (path, query) in [
        (
            format!("/repos/{full}/commits/{head_sha}/check-runs"),
            vec![
                ("check_name", "patchgate"),
                ("filter", "all"),
                ("per_page", "100"),
            ],
        ),
        (
            format!("/repos/{full}/pulls"),
            vec![("state", "open"), ("per_page", "100"), ("page", "2")],
        ),
        (
            format!("/repos/{full}/contents/.github/patchgate.yml"),
            vec![("ref", "master")],
        ),
        (format!("/repos/{full}/git/ref/heads/feature/x"), vec![]),
        (format!("/repos/{full}/commits/heads/master/status"), vec![]),
    ] {
        let query: Vec<(String, String)> = query
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        match spec.check_request("GET", &path, &query, None) {
            Verdict::Matched { problems, .. } => {
                assert!(problems.is_empty(), "{path}: {problems:#?}")
            }
            Verdict::Unknown(why) => panic!("{why}"),
        }
    }
    // multi-segment parameters land where they belong
    let m = spec
        .match_path("GET", &format!("/repos/{full}/git/ref/heads/feature/x"))
        .unwrap();
    assert_eq!(m.params["ref"], "heads/feature/x");
    let m = spec
        .match_path("GET", &format!("/repos/{full}/commits/heads/master/status"))
        .unwrap();
    assert_eq!(
        (m.operation.id.as_str(), m.params["ref"].as_str()),
        ("repos/get-combined-status-for-ref", "heads/master")
    );
    let m = spec
        .match_path(
            "GET",
            &format!("/repos/{full}/contents/.github/patchgate.yml"),
        )
        .unwrap();
    assert_eq!(m.params["path"], ".github/patchgate.yml");
    // wrong query types are caught
    let bad = spec.check_request(
        "GET",
        &format!("/repos/{full}/pulls"),
        &[
            ("state".into(), "merged".into()),
            ("per_page".into(), "lots".into()),
        ],
        None,
    );
    match bad {
        Verdict::Matched { problems, .. } => assert_eq!(problems.len(), 2, "{problems:#?}"),
        Verdict::Unknown(why) => panic!("{why}"),
    }
}

/// The problems `check_request_with` finds (panics on an unknown route).
fn problems(
    spec: &Spec,
    mode: Strictness,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> Vec<String> {
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match spec.check_request_with(mode, method, path, &query, body) {
        Verdict::Matched { problems, .. } => problems,
        Verdict::Unknown(why) => panic!("{why}"),
    }
}

/// GitHub's description never says `additionalProperties: false`, so a misspelled optional
/// field fits it as written — and GitHub would ignore the field. The fake judges requests
/// strictly: a property no schema describes is a violation, at any depth.
#[tokio::test]
async fn a_misspelled_body_field_is_a_violation() {
    let fake = fake().await;
    let token = fake.issue_token(INSTALLATION);
    let action = json!([{"label": "Re-run", "description": "Run again", "identifier": "recheck"}]);
    let misspelled = json!({"name": "patchgate", "head_sha": SHA_A, "action": action});
    let nested = json!({"name": "patchgate", "head_sha": SHA_A,
        "output": {"title": "t", "summary": "s", "annotation": []}});
    let spelled = json!({"name": "patchgate", "head_sha": SHA_A, "actions": action,
        "output": {"title": "t", "summary": "s", "annotations": []}});
    let path = format!("/repos/{REPO}/check-runs");
    let spec = Spec::get();
    // As written, the description lets both through; strictly, neither.
    for body in [&misspelled, &nested, &spelled] {
        assert_eq!(
            problems(spec, Strictness::Lenient, "POST", &path, &[], Some(body)),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        problems(spec, Strictness::Strict, "POST", &path, &[], Some(&spelled)),
        Vec::<String>::new()
    );
    let mut statuses = Vec::new();
    for body in [&misspelled, &nested, &spelled] {
        let res = http()
            .post(format!("{}{path}", fake.url()))
            .header("authorization", format!("token {token}"))
            .json(body)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [422, 422, 201]);
    let v = fake.violations();
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(
        v[0].contains("checks/create: body: unknown property `action`"),
        "{}",
        v[0]
    );
    assert!(
        v[1].contains("checks/create: body.output: unknown property `annotation`"),
        "{}",
        v[1]
    );
    assert_eq!(
        fake.check_runs(REPO).len(),
        1,
        "refused requests change nothing"
    );
    assert_eq!(fake.response_problems(), Vec::<String>::new());
}

/// A query key the operation does not describe (`perpage` for `per_page`) is a violation.
#[tokio::test]
async fn an_unknown_query_key_is_a_violation() {
    let fake = fake().await;
    let token = fake.issue_token(INSTALLATION);
    let path = format!("/repos/{REPO}/pulls");
    let spec = Spec::get();
    let bad = [("state", "open"), ("perpage", "100")];
    assert_eq!(
        problems(spec, Strictness::Lenient, "GET", &path, &bad, None),
        Vec::<String>::new()
    );
    let strict = problems(spec, Strictness::Strict, "GET", &path, &bad, None);
    assert_eq!(strict.len(), 1, "{strict:#?}");
    assert!(
        strict[0].contains("pulls/list: unknown query parameter `perpage`"),
        "{}",
        strict[0]
    );
    let get = |query: &'static str| {
        let req = http()
            .get(format!("{}{path}?{query}", fake.url()))
            .header("authorization", format!("token {token}"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("state=open&perpage=100").await, 400);
    assert_eq!(get("state=open&per_page=100").await, 200);
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].contains("unknown query parameter `perpage`"),
        "{}",
        v[0]
    );
}

/// Strictly, `oneOf` means exactly one branch fits (as JSON Schema says); as written it was
/// read like `anyOf`. GitHub's vendored operations have no `oneOf` a value can fit twice, so
/// this uses a small description of the same shape.
#[test]
fn one_of_means_exactly_one_branch() {
    let spec = Spec::from_document(json!({
        "paths": {"/things": {"post": {
            "operationId": "things/create",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/named"},
                    {"type": "object", "properties": {
                        "name": {"type": "string"}, "size": {"type": "integer"}}},
                ]
            }}}},
            "responses": {}
        }}},
        "components": {"schemas": {"named": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}}
        }}}
    }));
    let post = |mode, body: Value| problems(&spec, mode, "POST", "/things", &[], Some(&body));
    // fits both branches
    let both = json!({"name": "x"});
    assert_eq!(
        post(Strictness::Lenient, both.clone()),
        Vec::<String>::new()
    );
    let p = post(Strictness::Strict, both);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("body: fits 2 of the 2 `oneOf` alternatives (#0, #1); exactly one must fit"),
        "{}",
        p[0]
    );
    // fits the second only (`size` is not the first's, and it needs no `name`)
    assert_eq!(
        post(Strictness::Strict, json!({"size": 3})),
        Vec::<String>::new()
    );
    // fits neither
    let p = post(Strictness::Strict, json!({"name": 7}));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("fits none of the 2 `oneOf` alternatives"),
        "{}",
        p[0]
    );
    // a property neither branch declares
    let p = post(Strictness::Strict, json!({"size": 3, "colour": "red"}));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].contains("body: unknown property `colour`"), "{}", p[0]);
}

#[test]
fn webhook_signature_matches_githubs_documented_example() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    assert_eq!(
        sign_github("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let payload = webhook_payload("pull_request.opened");
    assert_eq!(payload["action"], "opened");
    assert!(payload["installation"]["id"].is_u64());
}
