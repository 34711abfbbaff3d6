//! The GitHub client layer (`patchgate::github::app`) against the stateful fake GitHub in
//! `tests/support/`: the real octocrab client, real RS256 JWTs, installation tokens, and every
//! request checked against GitHub's REST description (each test ends with no violations).

use crate::support;

use patchgate::github::app::{
    Annotation, AnnotationLevel, AppCredentials, CheckAction, CheckRunResult, Conclusion,
    GitHubApp, GitHubError, Installation, NewCheckRun, Permission, RepoName,
};
use support::{FakeGitHub, PullSpec};

const REPO: &str = "octo/hello";
const INSTALLATION: u64 = 77;

fn repo() -> RepoName {
    RepoName::parse(REPO).unwrap()
}

fn app_for(fake: &FakeGitHub, api_base: &str) -> GitHubApp {
    let creds = AppCredentials::new(&fake.app_id().to_string(), &fake.private_key_pem()).unwrap();
    GitHubApp::new(creds, api_base).unwrap()
}

/// A fake with one repository, one installation on it, and the App.
async fn setup() -> (FakeGitHub, GitHubApp) {
    let fake = FakeGitHub::start().await;
    fake.add_repo(REPO, "https://github.example/octo/hello.git", "main");
    fake.add_installation(INSTALLATION, &[REPO]);
    let app = app_for(&fake, &fake.url());
    (fake, app)
}

fn pull(number: u64) -> PullSpec {
    PullSpec {
        number,
        title: format!("Change {number}"),
        body: format!("Body of {number}"),
        head_sha: format!("{number:040x}"),
        base_sha: "b".repeat(40),
        labels: vec!["bug".into()],
        ..PullSpec::default()
    }
}

/// Nothing GitHub would refuse (requests are judged strictly: no undescribed body property
/// or query key), nothing the fake answered off the description, and no request to a route
/// the description lacks (the fake's 404 for those could pass for "not found") or to one the
/// fake does not implement (501).
fn no_violations(fake: &FakeGitHub) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests GitHub would refuse: {v:#?}");
    let r = fake.response_problems();
    assert!(
        r.is_empty(),
        "the fake answered off the description: {r:#?}"
    );
    let unknown: Vec<String> = fake
        .requests()
        .iter()
        .filter(|q| q.operation_id.is_none() || q.status == 501)
        .map(|q| format!("{} {} -> {}", q.method, q.path, q.status))
        .collect();
    assert!(
        unknown.is_empty(),
        "requests to routes GitHub (or the fake) has not: {unknown:#?}"
    );
}

fn requests(fake: &FakeGitHub, method: &str, path_prefix: &str) -> Vec<support::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.starts_with(path_prefix))
        .collect()
}

#[tokio::test]
async fn token_is_requested_once_and_shared() {
    let (fake, app) = setup().await;
    let inst = app.installation(INSTALLATION).await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    fake.add_pull(REPO, pull(1));
    inst.pull(&repo(), 1).await.unwrap();
    inst.pull(&repo(), 1).await.unwrap();
    let t1 = inst.token().await.unwrap();
    // Another handle on the same installation uses the same cache.
    let again = app.clone().installation(INSTALLATION).await.unwrap();
    assert_eq!(again.token().await.unwrap(), t1);
    assert_eq!(fake.tokens_issued(), 1);
    assert!(t1.starts_with("ghs_"));

    // Concurrent first callers of another installation share one token request.
    fake.add_installation(78, &[REPO]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.installation(78).await.unwrap().token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(requests(&fake, "POST", "/app/installations/").len(), 2);
    no_violations(&fake);
}

#[tokio::test]
async fn token_is_renewed_five_minutes_before_expiry_and_after_a_401() {
    let (fake, app) = setup().await;
    // Four minutes left is inside the margin: every use renews.
    fake.set_token_lifetime(std::time::Duration::from_secs(240));
    let inst = app.installation(INSTALLATION).await.unwrap();
    inst.token().await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    fake.set_token_lifetime(std::time::Duration::from_secs(3600));
    inst.token().await.unwrap();
    inst.token().await.unwrap();
    assert_eq!(fake.tokens_issued(), 3);

    // GitHub refuses the cached token (revoked, clock skew): one fresh token, one retry.
    fake.expire_tokens();
    fake.add_pull(REPO, pull(3));
    assert_eq!(inst.pull(&repo(), 3).await.unwrap().number, 3);
    assert_eq!(fake.tokens_issued(), 4);
    no_violations(&fake);
}

#[tokio::test]
async fn installations_and_repositories() {
    let (fake, app) = setup().await;
    fake.add_repo(
        "octo/other",
        "https://github.example/octo/other.git",
        "main",
    );
    fake.add_installation(90, &["octo/other"]);
    let mut ids = app.installations().await.unwrap();
    ids.sort();
    assert_eq!(ids, [INSTALLATION, 90]);
    assert_eq!(app.repo_installation(&repo()).await.unwrap(), INSTALLATION);
    let inst = app.installation(INSTALLATION).await.unwrap();
    assert_eq!(inst.repositories().await.unwrap(), [repo()]);

    fake.add_repo(
        "octo/nowhere",
        "https://github.example/octo/nowhere.git",
        "main",
    );
    let err = app
        .repo_installation(&RepoName::parse("octo/nowhere").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        GitHubError::of(&err).and_then(|e| e.status),
        Some(404),
        "{err:#}"
    );
    no_violations(&fake);
}

#[tokio::test]
async fn pull_requests_one_and_all_pages() {
    let (fake, app) = setup().await;
    for n in 1..=130 {
        fake.add_pull(REPO, pull(n));
    }
    fake.add_pull(
        REPO,
        PullSpec {
            closed: true,
            ..pull(131)
        },
    );
    fake.add_pull(
        REPO,
        PullSpec {
            merged: true,
            merge_commit_sha: Some("c".repeat(40)),
            draft: false,
            ..pull(132)
        },
    );
    let inst = app.installation(INSTALLATION).await.unwrap();

    let open = inst.open_pulls(&repo()).await.unwrap();
    let mut numbers: Vec<u64> = open.iter().map(|p| p.number).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=130).collect::<Vec<_>>());
    assert_eq!(
        requests(&fake, "GET", "/repos/octo/hello/pulls").len(),
        2,
        "100 per page"
    );
    assert!(open.iter().all(|p| p.state == "open" && !p.merged));

    let p = inst.pull(&repo(), 7).await.unwrap();
    assert_eq!(p.title, "Change 7");
    assert_eq!(p.body.as_deref(), Some("Body of 7"));
    assert_eq!(p.head_sha, format!("{:040x}", 7));
    assert_eq!((p.head_ref.as_str(), p.base_ref.as_str()), ("pr-7", "main"));
    assert_eq!(p.base_sha, "b".repeat(40));
    assert_eq!(p.clone_url, "https://github.example/octo/hello.git");
    assert_eq!(p.html_url, "https://github.com/octo/hello/pull/7");
    assert_eq!(p.user_login, "octocat");
    assert_eq!(p.labels, ["bug"]);
    assert!(!p.draft && !p.merged && p.merge_commit_sha.is_none());

    let merged = inst.pull(&repo(), 132).await.unwrap();
    assert!(merged.merged && merged.state == "closed");
    assert_eq!(merged.merge_commit_sha, Some("c".repeat(40)));
    no_violations(&fake);
}

fn annotations(n: usize) -> Vec<Annotation> {
    (0..n)
        .map(|i| Annotation {
            path: format!("src/f{i}.rs"),
            start_line: i as u32 + 1,
            end_line: i as u32 + 2,
            level: [
                AnnotationLevel::Notice,
                AnnotationLevel::Warning,
                AnnotationLevel::Failure,
            ][i % 3],
            title: format!("finding {i}"),
            message: format!("message {i}"),
        })
        .collect()
}

#[tokio::test]
async fn check_run_created_then_completed_with_annotations_in_batches() {
    let (fake, app) = setup().await;
    let inst = app.installation(INSTALLATION).await.unwrap();
    let sha = "a".repeat(40);
    let id = inst
        .create_check_run(
            &repo(),
            &NewCheckRun {
                name: "patchgate".into(),
                head_sha: sha.clone(),
                external_id: Some("job-1".into()),
                details_url: Some("https://patchgate.example/jobs/1".into()),
                title: "Auditing".into(),
                summary: "Three auditors are reading the change.".into(),
            },
        )
        .await
        .unwrap();
    let runs = fake.check_runs(REPO);
    assert_eq!((runs[0].id, runs[0].status.as_str()), (id, "in_progress"));

    let summary = "x".repeat(70_000);
    inst.complete_check_run(
        &repo(),
        id,
        &CheckRunResult {
            conclusion: Conclusion::Failure,
            title: "Quorum not reached".into(),
            summary: summary.clone(),
            text: Some("details".into()),
            annotations: annotations(120),
            actions: vec![CheckAction {
                label: "Re-run audit".into(),
                description: "Run the three auditors again".into(),
                identifier: "recheck".into(),
            }],
        },
    )
    .await
    .unwrap();

    let patches = requests(
        &fake,
        "PATCH",
        &format!("/repos/octo/hello/check-runs/{id}"),
    );
    let sizes: Vec<usize> = patches
        .iter()
        .map(|r| {
            r.body.as_ref().unwrap()["output"]["annotations"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(sizes, [50, 50, 20]);
    let run = &fake.check_runs(REPO)[0];
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.external_id.as_deref(), Some("job-1"));
    assert_eq!(run.annotations.len(), 120);
    assert_eq!(run.annotations[119]["path"], "src/f119.rs");
    assert_eq!(run.actions.len(), 1);
    assert_eq!(run.output.title.as_deref(), Some("Quorum not reached"));
    assert_eq!(run.output.text.as_deref(), Some("details"));
    let shown = run.output.summary.as_deref().unwrap();
    assert!(shown.len() <= 65_535 && shown.ends_with("(truncated)") && shown.starts_with("xxx"));

    // New buttons later (a Rollback once merged): the conclusion and output stay.
    let rollback = CheckAction {
        label: "Roll back".into(),
        description: "Revert this merge".into(),
        identifier: "rollback".into(),
    };
    inst.set_check_run_actions(&repo(), id, &[rollback])
        .await
        .unwrap();
    let run = &fake.check_runs(REPO)[0];
    assert_eq!(run.actions.len(), 1);
    assert_eq!(run.actions[0]["identifier"], "rollback");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.annotations.len(), 120);
    assert_eq!(run.output.title.as_deref(), Some("Quorum not reached"));

    // Listing: ours and a CI run on the same commit; only ours by name.
    fake.add_check_run(REPO, "build", &sha, "completed", Some("success"));
    let listed = inst
        .check_runs_for_ref(&repo(), &sha, "patchgate")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].name.as_str()), (id, "patchgate"));
    assert_eq!(listed[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(listed[0].external_id.as_deref(), Some("job-1"));
    assert_eq!(listed[0].head_sha, sha);
    no_violations(&fake);
}

#[tokio::test]
async fn permissions_map_and_an_unknown_user_has_none() {
    let (fake, app) = setup().await;
    for role in ["admin", "maintain", "write", "triage", "read"] {
        fake.set_permission(REPO, &format!("user-{role}"), role);
    }
    let inst = app.installation(INSTALLATION).await.unwrap();
    let expected = [
        ("user-admin", Permission::Admin),
        ("user-maintain", Permission::Maintain),
        ("user-write", Permission::Write),
        ("user-triage", Permission::Triage),
        ("user-read", Permission::Read),
        ("stranger", Permission::None),
    ];
    for (user, want) in expected {
        let got = inst.permission(&repo(), user).await.unwrap();
        assert_eq!(got, want, "{user}");
        assert_eq!(
            got.can_write(),
            ["user-admin", "user-maintain", "user-write"].contains(&user)
        );
    }
    no_violations(&fake);
}

#[tokio::test]
async fn files_from_the_contents_api() {
    let (fake, app) = setup().await;
    let config = "threshold_percent: 2.5\nlabels:\n  - gated # ünïcode\n".repeat(20);
    fake.set_file(REPO, ".github/patchgate.yml", &config);
    fake.set_file_at(REPO, "main", "docs/a b.md", "on main");
    let inst = app.installation(INSTALLATION).await.unwrap();
    assert_eq!(
        inst.file(&repo(), ".github/patchgate.yml", None)
            .await
            .unwrap(),
        Some(config.clone())
    );
    assert_eq!(
        inst.file(&repo(), ".github/patchgate.yml", Some("main"))
            .await
            .unwrap(),
        Some(config)
    );
    assert_eq!(
        inst.file(&repo(), "docs/a b.md", Some("main"))
            .await
            .unwrap()
            .as_deref(),
        Some("on main")
    );
    assert_eq!(
        inst.file(&repo(), "missing.yml", Some("main"))
            .await
            .unwrap(),
        None
    );
    no_violations(&fake);
}

#[tokio::test]
async fn comments_reactions_labels_and_a_revert_pull_request() {
    let (fake, app) = setup().await;
    fake.add_pull(REPO, pull(5));
    let human = fake.add_comment(REPO, 5, "alice", "/patchgate rollback");
    let inst = app.installation(INSTALLATION).await.unwrap();

    let id = inst.comment(&repo(), 5, "Rolling back.").await.unwrap();
    let comments = fake.comments(REPO, 5);
    assert_eq!(
        comments.last().map(|c| (c.id, c.body.as_str())),
        Some((id, "Rolling back."))
    );
    for r in ["eyes", "+1"] {
        inst.react(&repo(), human, r).await.unwrap();
    }
    assert_eq!(fake.reactions(REPO, human), ["eyes", "+1"]);
    assert!(inst.react(&repo(), human, "thumbsup").await.is_err());

    inst.add_labels(&repo(), 5, &["patchgate:failed".into(), "bug".into()])
        .await
        .unwrap();
    inst.add_labels(&repo(), 5, &[]).await.unwrap();
    assert_eq!(fake.labels(REPO, 5), ["bug", "patchgate:failed"]);

    fake.set_ref(REPO, "heads/main", &"1".repeat(40));
    fake.set_ref(REPO, "heads/patchgate/revert-5", &"2".repeat(40));
    let number = inst
        .create_pull(
            &repo(),
            "Revert #5",
            "patchgate/revert-5",
            "main",
            "Reverts #5: CI failed.",
        )
        .await
        .unwrap();
    let created = fake.pulls_created(REPO);
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0].number, created[0].title.as_str()),
        (number, "Revert #5")
    );
    assert_eq!(created[0].head_ref, "patchgate/revert-5");
    no_violations(&fake);
}

#[tokio::test]
async fn errors_carry_status_and_transience_but_no_secret() {
    let (fake, app) = setup().await;
    fake.add_pull(REPO, pull(1));
    let inst = app.installation(INSTALLATION).await.unwrap();
    let token = inst.token().await.unwrap();
    let pem = fake.private_key_pem();
    let pem_body: String = pem.lines().nth(1).unwrap().to_string();
    let secret_free = |shown: &str| {
        assert!(!shown.contains(&token), "token in {shown}");
        assert!(!shown.contains(&pem_body), "private key in {shown}");
        assert!(!shown.contains("eyJ"), "a JWT in {shown}");
    };

    fake.fail_next("GET", "/repos/octo/hello/pulls/1", 502, 1);
    let err = inst.pull(&repo(), 1).await.unwrap_err();
    let shown = format!("{err:#} {err:?}");
    let gh = GitHubError::of(&err).unwrap();
    assert_eq!(gh.status, Some(502));
    assert!(gh.is_transient());
    assert!(
        shown.contains("octo/hello") && shown.contains("#1") && shown.contains("502"),
        "{shown}"
    );
    secret_free(&shown);
    inst.pull(&repo(), 1).await.unwrap();

    let err = inst.pull(&repo(), 999).await.unwrap_err();
    let gh = GitHubError::of(&err).unwrap();
    assert_eq!(gh.status, Some(404));
    assert!(!gh.is_transient() && gh.is_not_found());
    secret_free(&format!("{err:#} {err:?}"));

    fake.fail_next("POST", "/repos/octo/hello/check-runs", 429, 1);
    let err = inst
        .create_check_run(
            &repo(),
            &NewCheckRun {
                name: "patchgate".into(),
                head_sha: "a".repeat(40),
                external_id: None,
                details_url: None,
                title: "t".into(),
                summary: "s".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(patchgate::github::app::is_transient(&err), "{err:#}");
    secret_free(&format!("{err:#} {err:?}"));

    // Debug of the handles never shows the token or the key.
    secret_free(&format!("{inst:?} {app:?}"));
    let creds = AppCredentials::new(&fake.app_id().to_string(), &pem).unwrap();
    secret_free(&format!("{creds:?}"));

    // A key GitHub does not know: the JWT is refused, and the error says what to check.
    let forged = AppCredentials::new(
        &fake.app_id().to_string(),
        &FakeGitHub::forged_private_key_pem(),
    )
    .unwrap();
    let err = GitHubApp::new(forged, &fake.url())
        .unwrap()
        .installation(INSTALLATION)
        .await
        .unwrap_err();
    let shown = format!("{err:#}");
    assert!(
        shown.contains("401") && shown.contains("private key"),
        "{shown}"
    );
    secret_free(&shown);
    assert!(!shown.contains(
        &FakeGitHub::forged_private_key_pem()
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    ));

    // Nobody listening: no status, transient.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = app_for(&fake, &dead)
        .installation(INSTALLATION)
        .await
        .unwrap_err();
    let gh = GitHubError::of(&err).unwrap();
    assert_eq!(gh.status, None, "{err:#}");
    assert!(gh.is_transient(), "{err:#}");
    no_violations(&fake);
}

#[test]
fn credentials_from_a_file_or_text() {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/github/keys/app.private-key.pem"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pem");
    std::fs::write(&path, &pem).unwrap();
    assert_eq!(
        AppCredentials::new("4242", path.to_str().unwrap())
            .unwrap()
            .app_id,
        4242
    );
    assert_eq!(AppCredentials::new(" 4242 ", &pem).unwrap().app_id, 4242);
    // As an environment variable often carries it: one line with \n escapes.
    let one_line = pem.trim_end().replace('\n', "\\n");
    assert_eq!(AppCredentials::new("4242", &one_line).unwrap().app_id, 4242);

    let err =
        AppCredentials::new("4242", dir.path().join("missing.pem").to_str().unwrap()).unwrap_err();
    assert!(format!("{err:#}").contains("cannot read"), "{err:#}");
    let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBn\n-----END EC PRIVATE KEY-----\n";
    let err = AppCredentials::new("4242", ec).unwrap_err();
    assert!(
        format!("{err:#}").contains("not an RSA private key"),
        "{err:#}"
    );
    assert!(AppCredentials::new("0", &pem).is_err());
    assert!(AppCredentials::new("app", &pem).is_err());
}

/// GitHub Enterprise Server serves the API under `/api/v3`. A proxy in front of the fake
/// strips the prefix (and puts it back into `Link` headers), so the client must keep the
/// prefix on every call, token requests and next pages included.
#[tokio::test]
async fn api_base_with_a_path_prefix() {
    let (fake, _) = setup().await;
    for n in 1..=120 {
        fake.add_pull(REPO, pull(n));
    }
    let proxy = ghes_proxy(fake.url()).await;
    let app = app_for(&fake, &format!("{proxy}/api/v3/"));
    assert_eq!(app.api_base(), format!("{proxy}/api/v3"));
    let inst = app.installation(INSTALLATION).await.unwrap();
    assert_eq!(inst.open_pulls(&repo()).await.unwrap().len(), 120);
    assert_eq!(inst.pull(&repo(), 4).await.unwrap().number, 4);
    assert_eq!(app.repo_installation(&repo()).await.unwrap(), INSTALLATION);
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(requests(&fake, "GET", "/repos/octo/hello/pulls").len(), 3);
    no_violations(&fake);
}

/// Forward `/api/v3/...` to `upstream/...`; anything else is a 404.
async fn ghes_proxy(upstream: String) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let client = reqwest::Client::new();
    let (up, me) = (upstream.clone(), own.clone());
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (client, up, me) = (client.clone(), up.clone(), me.clone());
        async move {
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let Some(rest) = pq.strip_prefix("/api/v3") else {
                return (
                    StatusCode::NOT_FOUND,
                    HeaderMap::new(),
                    String::from("no prefix"),
                )
                    .into_response();
            };
            let mut req = client.request(method, format!("{up}{rest}")).body(body);
            for name in ["authorization", "content-type", "accept"] {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v.clone());
                }
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let mut out = HeaderMap::new();
            if let Some(link) = res.headers().get("link") {
                let link = link.to_str().unwrap().replace(&up, &format!("{me}/api/v3"));
                out.insert("link", link.parse().unwrap());
            }
            out.insert("content-type", "application/json".parse().unwrap());
            (status, out, res.text().await.unwrap()).into_response()
        }
    };
    let router = axum::Router::new().fallback(handler);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    own
}

// Installation must stay cheap to clone and shareable across tasks.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<GitHubApp>();
    is::<Installation>();
}
