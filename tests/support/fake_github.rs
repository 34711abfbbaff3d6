//! A stateful fake GitHub on loopback, for tests that run the real octocrab client.
//!
//! Why stateful: patchgate's GitHub side is a conversation (a token, then a check run created
//! and updated, a comment answered with a reaction, a ref moved), and a canned-response mock
//! cannot tell a client that forgot a step from one that did them all. This fake keeps the
//! repositories, pull requests, check runs, comments, labels, refs and tokens, answers with
//! JSON shaped like GitHub's own examples (taken from the vendored REST description, so the
//! octocrab models deserialise them), authenticates like GitHub (a RS256 JWT for `/app/*`,
//! an unexpired installation token for the rest), paginates with `Link` headers, and judges
//! every request against the REST description (`openapi.rs`): anything that would not be
//! valid against api.github.com is recorded in [`FakeGitHub::violations`], and tests assert
//! there are none.
//!
//! Where a repository's `clone_url` is a local path, refs and commits come from that git
//! repository (and `git/update-ref` moves its branch), so the fake and a real push agree.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::openapi::{Spec, Verdict};

mod issues;
pub use issues::IssueSpec;

/// The App's id.
pub const APP_ID: u64 = 4242;
/// The App's slug; its comments and PRs are by `patchgate[bot]`.
pub const APP_SLUG: &str = "patchgate";
/// The login the App acts as.
pub const BOT_LOGIN: &str = "patchgate[bot]";
/// The app id of check runs added with [`FakeGitHub::add_check_run`] (GitHub Actions' id).
pub const CI_APP_ID: u64 = 15368;

const DOCS: &str = "https://docs.github.com/rest";

/// A pull request as the fake keeps it. `Default` gives an open, unmerged, non-draft PR;
/// empty `head_ref`/`base_ref`/`user` are filled in by [`FakeGitHub::add_pull`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullSpec {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub base_sha: String,
    pub user: String,
    pub draft: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub labels: Vec<String>,
    /// Closed (merged PRs are closed whatever this says).
    pub closed: bool,
    /// The files `pulls/list-files` reports. Empty: computed from the local repository
    /// (merge base of `base_sha` and `head_sha` to `head_sha`), if there is one.
    pub files: Vec<String>,
}

/// A check run's `output` as last written (`title`, `summary`, `text` are replaced by an
/// update that carries them; annotations accumulate in [`CheckRunState::annotations`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOutput {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

/// A check run as the fake keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckRunState {
    pub id: u64,
    pub app_id: u64,
    pub name: String,
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub output: CheckOutput,
    /// Every annotation sent, across the create and all updates, in order (as GitHub keeps
    /// them).
    pub annotations: Vec<Value>,
    /// The `actions` (buttons) as last set.
    pub actions: Vec<Value>,
    /// How many PATCHes the run received.
    pub updates: usize,
}

/// An issue or PR comment.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentState {
    pub id: u64,
    pub body: String,
    pub user: String,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    pub body: Option<Value>,
    /// The operation of the REST description it matched.
    pub operation_id: Option<String>,
    /// The status the fake answered with.
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Token {
    installation: u64,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Failure {
    method: String,
    prefix: String,
    status: u16,
    remaining: usize,
}

#[derive(Debug, Clone)]
struct StatusState {
    id: u64,
    context: String,
    state: String,
    description: Option<String>,
    target_url: Option<String>,
    at: String,
}

#[derive(Debug, Default)]
struct RepoState {
    id: u64,
    full_name: String,
    clone_url: String,
    default_branch: String,
    pulls: BTreeMap<u64, PullSpec>,
    pulls_created: Vec<u64>,
    permissions: BTreeMap<String, String>,
    /// (ref or "" for any ref, path) -> content
    files: BTreeMap<(String, String), String>,
    check_runs: Vec<CheckRunState>,
    comments: BTreeMap<u64, Vec<CommentState>>,
    reactions: BTreeMap<u64, Vec<(String, String, u64)>>,
    /// Labels of issues that are not pull requests.
    issue_labels: BTreeMap<u64, Vec<String>>,
    /// Issues that are not pull requests, added by tests (`issues/get`).
    issues: BTreeMap<u64, IssueSpec>,
    /// `heads/main` -> sha, set through the API or [`FakeGitHub::set_ref`]; a local
    /// repository is asked for refs not here.
    refs: BTreeMap<String, String>,
    statuses: BTreeMap<String, Vec<StatusState>>,
}

#[derive(Debug)]
struct Inner {
    base_url: String,
    installations: BTreeMap<u64, Vec<String>>,
    tokens: BTreeMap<String, Token>,
    tokens_issued: usize,
    token_lifetime: Duration,
    repos: BTreeMap<String, RepoState>,
    next_id: u64,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    response_problems: Vec<String>,
    failures: Vec<Failure>,
    hooks: HookLog,
    oauth: OAuthState,
}

/// The App's OAuth client and who is signed in at "github.com" in the browser.
#[derive(Debug, Default)]
struct OAuthState {
    client_id: String,
    client_secret: String,
    /// The login the next authorisation is granted to (`None`: refused).
    browser_user: Option<String>,
    /// code -> (login, redirect_uri)
    codes: BTreeMap<String, (String, String)>,
    /// user token -> login
    user_tokens: BTreeMap<String, String>,
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn repo(&mut self, full_name: &str) -> &mut RepoState {
        self.repos
            .get_mut(full_name)
            .unwrap_or_else(|| panic!("fake GitHub: no repository {full_name}; add_repo first"))
    }
}

/// The fake GitHub. Dropping it stops the server.
pub struct FakeGitHub {
    inner: Arc<Mutex<Inner>>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl FakeGitHub {
    /// Bind 127.0.0.1:0 and serve.
    pub async fn start() -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let inner = Arc::new(Mutex::new(Inner {
            base_url: url.clone(),
            installations: BTreeMap::new(),
            tokens: BTreeMap::new(),
            tokens_issued: 0,
            token_lifetime: Duration::hours(1),
            repos: BTreeMap::new(),
            next_id: 1000,
            requests: Vec::new(),
            violations: Vec::new(),
            response_problems: Vec::new(),
            failures: Vec::new(),
            hooks: HookLog::default(),
            oauth: OAuthState::default(),
        }));
        let app = Router::new()
            .route(
                "/login/oauth/authorize",
                axum::routing::get(oauth_authorize),
            )
            .route(
                "/login/oauth/access_token",
                axum::routing::post(oauth_token),
            )
            .fallback(handle)
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake GitHub server");
        });
        FakeGitHub { inner, url, server }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the API base.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn app_id(&self) -> u64 {
        APP_ID
    }

    /// The App's private key (PKCS#1 PEM, a test-only key in `fixtures/github/keys/`).
    pub fn private_key_pem(&self) -> String {
        fixture("keys/app.private-key.pem")
    }

    /// The App's public key (the fake verifies JWTs with it).
    pub fn public_key_pem(&self) -> String {
        fixture("keys/app.public-key.pem")
    }

    /// Another RSA key, not the App's: JWTs signed with it must be refused.
    pub fn forged_private_key_pem() -> String {
        fixture("keys/forged.private-key.pem")
    }

    /// Install the App on these repositories (`owner/name`; add them with `add_repo` too).
    pub fn add_installation(&self, id: u64, repos: &[&str]) {
        self.lock()
            .installations
            .insert(id, repos.iter().map(|r| r.to_string()).collect());
    }

    /// A repository. `clone_url` may be a local path to a (bare) git repository.
    pub fn add_repo(&self, full_name: &str, clone_url: &str, default_branch: &str) {
        assert!(full_name.contains('/'), "owner/name, got {full_name}");
        let mut g = self.lock();
        let id = g.id();
        g.repos.insert(
            full_name.to_string(),
            RepoState {
                id,
                full_name: full_name.to_string(),
                clone_url: clone_url.to_string(),
                default_branch: default_branch.to_string(),
                ..RepoState::default()
            },
        );
    }

    /// A pull request (empty `head_ref` → `pr-<n>`, `base_ref` → the default branch,
    /// `user` → `octocat`).
    pub fn add_pull(&self, repo: &str, mut pull: PullSpec) {
        let mut g = self.lock();
        let r = g.repo(repo);
        if pull.head_ref.is_empty() {
            pull.head_ref = format!("pr-{}", pull.number);
        }
        if pull.base_ref.is_empty() {
            pull.base_ref = r.default_branch.clone();
        }
        if pull.user.is_empty() {
            pull.user = "octocat".to_string();
        }
        r.pulls.insert(pull.number, pull);
    }

    pub fn update_pull(&self, repo: &str, number: u64, f: impl FnOnce(&mut PullSpec)) {
        let mut g = self.lock();
        let pull = g
            .repo(repo)
            .pulls
            .get_mut(&number)
            .unwrap_or_else(|| panic!("fake GitHub: no PR #{number} in {repo}"));
        f(pull);
    }

    pub fn pull(&self, repo: &str, number: u64) -> Option<PullSpec> {
        self.lock().repo(repo).pulls.get(&number).cloned()
    }

    /// `admin`, `maintain`, `write`, `triage` or `read`. Users never set answer 404.
    /// The App's OAuth client (the web view's sign-in).
    pub fn set_oauth_client(&self, client_id: &str, client_secret: &str) {
        let mut g = self.lock();
        g.oauth.client_id = client_id.into();
        g.oauth.client_secret = client_secret.into();
    }

    /// Who is signed in at GitHub in the browser: the next `/login/oauth/authorize` is granted
    /// to them (`None`: the user denies it).
    pub fn set_browser_user(&self, login: Option<&str>) {
        self.lock().oauth.browser_user = login.map(str::to_string);
    }

    pub fn set_permission(&self, repo: &str, user: &str, permission: &str) {
        assert!(
            ["admin", "maintain", "write", "triage", "read", "none"].contains(&permission),
            "unknown permission {permission}"
        );
        self.lock()
            .repo(repo)
            .permissions
            .insert(user.to_string(), permission.to_string());
    }

    /// A file for the contents API, at every ref.
    pub fn set_file(&self, repo: &str, path: &str, content: &str) {
        self.set_file_at(repo, "", path, content);
    }

    /// A file for the contents API at one ref only (a branch name or sha, as the client
    /// passes it in `?ref=`); it wins over [`FakeGitHub::set_file`] at that ref.
    pub fn set_file_at(&self, repo: &str, git_ref: &str, path: &str, content: &str) {
        self.lock()
            .repo(repo)
            .files
            .insert((git_ref.to_string(), path.to_string()), content.to_string());
    }

    /// Set a ref (`heads/main`, `tags/v1`) to a sha.
    pub fn set_ref(&self, repo: &str, name: &str, sha: &str) {
        self.lock().repo(repo).refs.insert(
            name.trim_start_matches("refs/").to_string(),
            sha.to_string(),
        );
    }

    /// A ref's sha (`heads/main`), as `git/get-ref` would answer.
    pub fn git_ref(&self, repo: &str, name: &str) -> Option<String> {
        let mut g = self.lock();
        let r = g.repo(repo);
        lookup_ref(r, name.trim_start_matches("refs/"))
    }

    /// A commit status (CI result) on a sha: `state` is `error`, `failure`, `pending` or
    /// `success`.
    pub fn add_status(&self, repo: &str, sha: &str, context: &str, state: &str) {
        let mut g = self.lock();
        let id = g.id();
        g.repo(repo)
            .statuses
            .entry(sha.to_string())
            .or_default()
            .push(StatusState {
                id,
                context: context.to_string(),
                state: state.to_string(),
                description: None,
                target_url: None,
                at: now(),
            });
    }

    /// A check run of another App (CI), e.g. `("build", sha, "completed", Some("failure"))`.
    pub fn add_check_run(
        &self,
        repo: &str,
        name: &str,
        head_sha: &str,
        status: &str,
        conclusion: Option<&str>,
    ) -> u64 {
        let mut g = self.lock();
        let id = g.id();
        let at = now();
        g.repo(repo).check_runs.push(CheckRunState {
            id,
            app_id: CI_APP_ID,
            name: name.to_string(),
            head_sha: head_sha.to_string(),
            status: status.to_string(),
            conclusion: conclusion.map(str::to_string),
            started_at: Some(at.clone()),
            completed_at: (status == "completed").then_some(at),
            ..CheckRunState::default()
        });
        id
    }

    /// A check run as given (any App's, any state, e.g. one left in progress hours ago by a
    /// job that was lost), under a fresh id, which is returned.
    pub fn insert_check_run(&self, repo: &str, mut run: CheckRunState) -> u64 {
        let mut g = self.lock();
        run.id = g.id();
        let id = run.id;
        g.repo(repo).check_runs.push(run);
        id
    }

    /// All check runs of the repository, oldest first.
    pub fn check_runs(&self, repo: &str) -> Vec<CheckRunState> {
        self.lock().repo(repo).check_runs.clone()
    }

    pub fn comments(&self, repo: &str, issue: u64) -> Vec<CommentState> {
        self.lock()
            .repo(repo)
            .comments
            .get(&issue)
            .cloned()
            .unwrap_or_default()
    }

    /// A human's comment; returns its id.
    pub fn add_comment(&self, repo: &str, issue: u64, user: &str, body: &str) -> u64 {
        let mut g = self.lock();
        let id = g.id();
        g.repo(repo)
            .comments
            .entry(issue)
            .or_default()
            .push(CommentState {
                id,
                body: body.to_string(),
                user: user.to_string(),
            });
        id
    }

    /// The reactions (`+1`, `eyes`, ...) on a comment, in order.
    pub fn reactions(&self, repo: &str, comment_id: u64) -> Vec<String> {
        self.lock()
            .repo(repo)
            .reactions
            .get(&comment_id)
            .map(|v| v.iter().map(|(c, _, _)| c.clone()).collect())
            .unwrap_or_default()
    }

    pub fn labels(&self, repo: &str, issue: u64) -> Vec<String> {
        let mut g = self.lock();
        let r = g.repo(repo);
        match r.pulls.get(&issue) {
            Some(p) => p.labels.clone(),
            None => r.issue_labels.get(&issue).cloned().unwrap_or_default(),
        }
    }

    /// The PRs opened through the API (revert PRs), in order.
    pub fn pulls_created(&self, repo: &str) -> Vec<PullSpec> {
        let mut g = self.lock();
        let r = g.repo(repo);
        r.pulls_created
            .iter()
            .filter_map(|n| r.pulls.get(n).cloned())
            .collect()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Every request that did not fit the REST description, with why.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Every answer of the fake itself that did not fit the REST description's response
    /// schema (a bug of the fake; its self-tests assert there are none).
    pub fn response_problems(&self) -> Vec<String> {
        self.lock().response_problems.clone()
    }

    /// Installation tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens_issued
    }

    /// Issue an installation token directly (for tests that talk to the fake without a JWT).
    pub fn issue_token(&self, installation: u64) -> String {
        issue_token(&mut self.lock(), installation).0
    }

    /// Lifetime of tokens issued from now on (GitHub: one hour). octocrab renews a token
    /// that expires within 30 s, so a lifetime under that makes it fetch one per request.
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        self.lock().token_lifetime = Duration::from_std(lifetime).expect("lifetime");
    }

    /// Expire every token issued so far (a client still using one gets 401).
    pub fn expire_tokens(&self) {
        let past = Utc::now() - Duration::seconds(1);
        for t in self.lock().tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// The next `times` requests with this method (`*`: any) whose path starts with
    /// `path_prefix` fail with `status` (GitHub's error JSON), before any other check.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, times: usize) {
        self.lock().failures.push(Failure {
            method: method.to_uppercase(),
            prefix: path_prefix.to_string(),
            status,
            remaining: times,
        });
    }
}

// ---------------------------------------------------------------------------------------
// The server

type Shared = Arc<Mutex<Inner>>;

struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

fn error(status: u16, message: &str) -> Answer {
    answer(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn not_found() -> Answer {
    error(404, "Not Found")
}

fn validation_failed(resource: &str, field: &str, code: &str, message: &str) -> Answer {
    answer(
        422,
        json!({
            "message": message,
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": DOCS,
            "status": "422",
        }),
    )
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
    let path = uri.path().to_string();
    let raw_query = uri.query().map(str::to_string);
    let query: Vec<(String, String)> = raw_query.as_deref().map(parse_query).unwrap_or_default();
    let parsed: Result<Option<Value>, String> = if body.is_empty() {
        Ok(None)
    } else {
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("the body is not JSON: {e}"))
    };
    let spec = Spec::get();
    let verdict = spec.check_request(
        method.as_str(),
        &path,
        &query,
        parsed.as_ref().ok().and_then(|b| b.as_ref()),
    );
    let index = g.requests.len();
    g.requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        body: parsed.clone().ok().flatten(),
        operation_id: match &verdict {
            Verdict::Matched { matched, .. } => Some(matched.operation.id.clone()),
            Verdict::Unknown(_) => None,
        },
        status: 0,
    });
    let ans = respond(&mut g, &method, &path, &query, &headers, parsed, verdict);
    g.requests[index].status = ans.status;
    // The fake judges its own answers too: a 2xx body must fit the operation's response
    // schema, or tests would pass against shapes GitHub never sends.
    if let Some(op) = g.requests[index].operation_id.clone() {
        if let Some(schema) = spec.response_schema(&op, ans.status) {
            let mut errs = Vec::new();
            spec.validate(schema, &ans.body, "response", &mut errs);
            for e in errs {
                g.response_problems
                    .push(format!("{method} {path} -> {}: {op}: {e}", ans.status));
            }
        }
    }
    let mut response = (
        StatusCode::from_u16(ans.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ans.body.to_string(),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert("x-github-media-type", HeaderValue::from_static("github.v3"));
    for (k, v) in ans.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(k, v);
        }
    }
    response
}

/// Who is calling.
enum Caller {
    App,
    Installation(u64),
    /// A user's OAuth token (the web view's sign-in).
    User(String),
}

fn respond(
    g: &mut Inner,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    parsed: Result<Option<Value>, String>,
    verdict: Verdict<'_>,
) -> Answer {
    let (matched, problems) = match verdict {
        Verdict::Unknown(why) => {
            g.violations.push(why);
            return not_found();
        }
        Verdict::Matched { matched, problems } => (matched, problems),
    };
    let op = matched.operation.id.as_str();
    for p in &problems {
        g.violations.push(format!("{method} {path}: {p}"));
    }
    let body = match parsed {
        Ok(b) => b,
        Err(why) => {
            g.violations.push(format!("{method} {path}: {op}: {why}"));
            return error(400, "Problems parsing JSON");
        }
    };
    // Injected outages come first, as a proxy in front of GitHub would.
    if let Some(f) = g.failures.iter_mut().find(|f| {
        f.remaining > 0
            && (f.method == "*" || f.method == method.as_str())
            && path.starts_with(&f.prefix)
    }) {
        f.remaining -= 1;
        let status = f.status;
        g.failures.retain(|f| f.remaining > 0);
        let message = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Server Error");
        return error(status, message);
    }
    let caller = match authenticate(g, op, headers) {
        Ok(c) => c,
        Err(a) => return a,
    };
    if !problems.is_empty() {
        let status = if problems.iter().any(|p| p.contains("parameter")) && body.is_none() {
            400
        } else {
            422
        };
        return answer(
            status,
            json!({
                "message": format!("Invalid request.\n\n{}", problems.join("\n")),
                "documentation_url": DOCS,
                "status": status.to_string(),
            }),
        );
    }
    let body = body.unwrap_or(Value::Null);
    let p = &matched.params;
    // Repository-scoped operations: the token's installation must cover the repository.
    let repo_name = match (p.get("owner"), p.get("repo")) {
        (Some(o), Some(r)) => Some(format!("{o}/{r}")),
        _ => None,
    };
    if let Caller::User(login) = &caller {
        return user_operation(g, op, login, repo_name.as_deref());
    }
    if let Some(name) = &repo_name {
        if !g.repos.contains_key(name) {
            return not_found();
        }
        if let Caller::Installation(id) = caller {
            let covered = g
                .installations
                .get(&id)
                .is_some_and(|repos| repos.iter().any(|r| r == name));
            if !covered {
                return not_found();
            }
        }
    }
    let base = g.base_url.clone();
    match op {
        "apps/get-authenticated" => answer(200, app_json(&base)),
        "apps/list-installations" => {
            let items: Vec<Value> = g
                .installations
                .iter()
                .map(|(id, repos)| installation_json(&base, *id, repos))
                .collect();
            paginate(&base, path, query, items, None)
        }
        "apps/create-installation-access-token" => {
            let id: u64 = p["installation_id"].parse().unwrap_or(0);
            let Some(repos) = g.installations.get(&id).cloned() else {
                return not_found();
            };
            let mut selected = repos.clone();
            if let Some(names) = body.get("repositories").and_then(Value::as_array) {
                selected.clear();
                for n in names {
                    let n = n.as_str().unwrap_or_default();
                    match repos.iter().find(|r| r.split('/').nth(1) == Some(n) || *r == n) {
                        Some(r) => selected.push(r.clone()),
                        None => {
                            return error(
                                422,
                                &format!("There is at least one repository that does not exist or is not accessible to the parent installation: {n}"),
                            )
                        }
                    }
                }
            }
            let (token, expires_at) = issue_token(g, id);
            let repositories: Vec<Value> = selected
                .iter()
                .filter_map(|r| g.repos.get(r))
                .map(|r| repo_json(&base, r))
                .collect();
            let mut v = Spec::get().example("installation-token");
            v["token"] = json!(token);
            v["expires_at"] = json!(expires_at);
            v["permissions"] = permissions_json();
            v["repository_selection"] = json!("selected");
            v["repositories"] = json!(repositories);
            answer(201, v)
        }
        "apps/list-repos-accessible-to-installation" => {
            let Caller::Installation(id) = caller else {
                return error(403, "This endpoint requires an installation token");
            };
            let repos = g.installations.get(&id).cloned().unwrap_or_default();
            let items: Vec<Value> = repos
                .iter()
                .filter_map(|r| g.repos.get(r))
                .map(|r| repo_json(&base, r))
                .collect();
            paginate(&base, path, query, items, Some("repositories"))
        }
        "apps/get-repo-installation" => {
            let name = repo_name.unwrap_or_default();
            match g
                .installations
                .iter()
                .find(|(_, repos)| repos.contains(&name))
            {
                Some((id, repos)) => answer(200, installation_json(&base, *id, repos)),
                None => not_found(),
            }
        }
        "apps/list-webhook-deliveries" => list_hook_deliveries(g, &base, path, query),
        "apps/redeliver-webhook-delivery" => redeliver_hook_delivery(g, &p["delivery_id"]),
        _ => {
            let name = repo_name.unwrap_or_default();
            repo_operation(g, &base, op, &name, p, path, query, body)
        }
    }
}

/// Check the `Authorization` header for the operation: a JWT for the App's own endpoints,
/// an issued, unexpired installation token for the rest.
fn authenticate(g: &Inner, op: &str, headers: &HeaderMap) -> Result<Caller, Answer> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let bad = || error(401, "Bad credentials");
    let wants_jwt = matches!(
        op,
        "apps/get-authenticated"
            | "apps/list-installations"
            | "apps/create-installation-access-token"
            | "apps/get-repo-installation"
            | "apps/list-webhook-deliveries"
            | "apps/redeliver-webhook-delivery"
    );
    if auth.is_empty() {
        return Err(error(401, "Requires authentication"));
    }
    let credential = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .or_else(|| auth.strip_prefix("token "))
        .ok_or_else(bad)?
        .trim();
    if wants_jwt {
        verify_jwt(credential).map_err(|why| {
            error(
                401,
                &format!("A JSON web token could not be decoded ({why})"),
            )
        })?;
        return Ok(Caller::App);
    }
    if let Some(login) = g.oauth.user_tokens.get(credential) {
        return Ok(Caller::User(login.clone()));
    }
    match g.tokens.get(credential) {
        Some(t) if t.expires_at > Utc::now() => Ok(Caller::Installation(t.installation)),
        _ => Err(bad()),
    }
}

fn verify_jwt(jwt: &str) -> Result<(), String> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: Value,
        iat: i64,
        exp: i64,
    }
    let key = DecodingKey::from_rsa_pem(fixture("keys/app.public-key.pem").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = 0;
    let data = decode::<Claims>(jwt, &key, &validation).map_err(|e| e.to_string())?;
    let c = data.claims;
    let iss = match &c.iss {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(APP_ID) {
        return Err(format!(
            "'Issuer' claim ('iss') must be the App's id, got {}",
            c.iss
        ));
    }
    let now = Utc::now().timestamp();
    if c.exp > now + 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    if c.iat > now + 60 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    Ok(())
}

fn issue_token(g: &mut Inner, installation: u64) -> (String, String) {
    g.tokens_issued += 1;
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let token = format!("ghs_fake{:08}{:x}", g.tokens_issued, nanos);
    let expires = Utc::now() + g.token_lifetime;
    g.tokens.insert(
        token.clone(),
        Token {
            installation,
            expires_at: expires,
        },
    );
    (token, expires.to_rfc3339_opts(SecondsFormat::Secs, true))
}

#[allow(clippy::too_many_arguments)]
fn repo_operation(
    g: &mut Inner,
    base: &str,
    op: &str,
    name: &str,
    p: &BTreeMap<String, String>,
    path: &str,
    query: &[(String, String)],
    body: Value,
) -> Answer {
    let q = |k: &str| query_value(query, k);
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let new_id = g.id();
    let r = g.repos.get_mut(name).expect("checked");
    match op {
        "checks/create" => {
            let at = now();
            let mut run = CheckRunState {
                id: new_id,
                app_id: APP_ID,
                name: str_field(&body, "name").unwrap_or_default(),
                head_sha: str_field(&body, "head_sha").unwrap_or_default(),
                status: str_field(&body, "status").unwrap_or_else(|| "queued".into()),
                started_at: Some(str_field(&body, "started_at").unwrap_or(at)),
                ..CheckRunState::default()
            };
            if let Err(a) = apply_check_run(&mut run, &body) {
                return a;
            }
            run.updates = 0;
            let v = check_run_json(base, r, &run);
            r.check_runs.push(run);
            answer(201, v)
        }
        "checks/update" => {
            let id = num("check_run_id");
            let Some(i) = r.check_runs.iter().position(|c| c.id == id) else {
                return not_found();
            };
            let mut run = r.check_runs[i].clone();
            if run.app_id != APP_ID {
                return error(403, "Invalid app_id `4242` - check run can only be modified by the GitHub App that created it.");
            }
            if let Some(n) = str_field(&body, "name") {
                run.name = n;
            }
            if let Some(s) = str_field(&body, "status") {
                run.status = s;
            }
            if let Some(s) = str_field(&body, "started_at") {
                run.started_at = Some(s);
            }
            if let Err(a) = apply_check_run(&mut run, &body) {
                return a;
            }
            run.updates += 1;
            let v = check_run_json(base, r, &run);
            r.check_runs[i] = run;
            answer(200, v)
        }
        "checks/list-for-ref" => {
            let sha = resolve_sha(r, &p["ref"]);
            let filter = q("filter").unwrap_or_else(|| "latest".into());
            let mut runs: Vec<&CheckRunState> = r
                .check_runs
                .iter()
                .filter(|c| Some(&c.head_sha) == sha.as_ref())
                .filter(|c| q("check_name").is_none_or(|n| c.name == n))
                .filter(|c| q("status").is_none_or(|s| c.status == s))
                .filter(|c| {
                    q("app_id")
                        .and_then(|a| a.parse::<u64>().ok())
                        .is_none_or(|a| c.app_id == a)
                })
                .collect();
            runs.sort_by_key(|r| std::cmp::Reverse(r.id));
            if filter == "latest" {
                let mut seen = std::collections::BTreeSet::new();
                runs.retain(|c| seen.insert((c.app_id, c.name.clone())));
            }
            let items: Vec<Value> = runs.iter().map(|c| check_run_json(base, r, c)).collect();
            paginate(base, path, query, items, Some("check_runs"))
        }
        "repos/get-combined-status-for-ref" => {
            let Some(sha) = resolve_sha(r, &p["ref"]) else {
                return not_found();
            };
            // the latest status per context, newest first
            let mut latest: Vec<&StatusState> = Vec::new();
            for s in r.statuses.get(&sha).into_iter().flatten().rev() {
                if !latest.iter().any(|l| l.context == s.context) {
                    latest.push(s);
                }
            }
            let state = if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
                if latest
                    .iter()
                    .any(|s| s.state == "failure" || s.state == "error")
                {
                    "failure"
                } else {
                    "pending"
                }
            } else if latest.iter().all(|s| s.state == "success") {
                "success"
            } else {
                "failure"
            };
            let template = Spec::get().example("combined-commit-status");
            let status_template = template["statuses"][0].clone();
            let statuses: Vec<Value> = latest
                .iter()
                .map(|s| {
                    let mut v = status_template.clone();
                    v["id"] = json!(s.id);
                    v["url"] = json!(format!("{base}/repos/{name}/statuses/{sha}"));
                    v["state"] = json!(s.state);
                    v["context"] = json!(s.context);
                    v["description"] = json!(s.description);
                    v["target_url"] = json!(s.target_url);
                    v["created_at"] = json!(s.at);
                    v["updated_at"] = json!(s.at);
                    v
                })
                .collect();
            let mut v = template;
            v["state"] = json!(state);
            v["total_count"] = json!(statuses.len());
            v["statuses"] = json!(statuses);
            v["sha"] = json!(sha);
            v["repository"] = repo_json(base, r);
            v["commit_url"] = json!(format!("{base}/repos/{name}/commits/{sha}"));
            v["url"] = json!(format!("{base}/repos/{name}/commits/{sha}/status"));
            answer(200, v)
        }
        "repos/get-commit" => match commit_json(base, r, &p["ref"]) {
            Some(v) => answer(200, v),
            None => error(422, &format!("No commit found for SHA: {}", p["ref"])),
        },
        "pulls/get" => match r.pulls.get(&num("pull_number")) {
            Some(pr) => answer(200, pull_json(base, r, pr)),
            None => not_found(),
        },
        "pulls/list" => {
            let state = q("state").unwrap_or_else(|| "open".into());
            let head = q("head");
            let base_filter = q("base");
            let owner = name.split('/').next().unwrap_or_default().to_string();
            let mut pulls: Vec<&PullSpec> = r
                .pulls
                .values()
                .filter(|pr| {
                    let open = !pr.closed && !pr.merged;
                    match state.as_str() {
                        "open" => open,
                        "closed" => !open,
                        _ => true,
                    }
                })
                .filter(|pr| {
                    head.as_deref().is_none_or(|h| {
                        let (o, b) = h.split_once(':').unwrap_or((owner.as_str(), h));
                        o == owner && b == pr.head_ref
                    })
                })
                .filter(|pr| base_filter.as_deref().is_none_or(|b| b == pr.base_ref))
                .collect();
            let ascending = q("direction").as_deref() == Some("asc");
            pulls.sort_by_key(|pr| pr.number);
            if !ascending {
                pulls.reverse();
            }
            let items: Vec<Value> = pulls.iter().map(|pr| pull_json(base, r, pr)).collect();
            paginate(base, path, query, items, None)
        }
        "pulls/list-files" => {
            let Some(pr) = r.pulls.get(&num("pull_number")) else {
                return not_found();
            };
            let files = if pr.files.is_empty() {
                local_diff(base, r, Some(&pr.base_sha), &pr.head_sha, true).unwrap_or_default()
            } else {
                pr.files
                    .iter()
                    .map(|f| diff_entry(base, name, &pr.head_sha, f, "modified", 1, 1, None))
                    .collect()
            };
            paginate(base, path, query, files, None)
        }
        "pulls/create" => {
            let head = str_field(&body, "head").unwrap_or_default();
            let head = head
                .split_once(':')
                .map(|(_, b)| b.to_string())
                .unwrap_or(head);
            let base_ref = str_field(&body, "base").unwrap_or_default();
            let Some(head_sha) = lookup_ref(r, &format!("heads/{head}")) else {
                return validation_failed("PullRequest", "head", "invalid", "Validation Failed");
            };
            let Some(base_sha) = lookup_ref(r, &format!("heads/{base_ref}")) else {
                return validation_failed("PullRequest", "base", "invalid", "Validation Failed");
            };
            if r.pulls.values().any(|pr| {
                pr.head_ref == head && pr.base_ref == base_ref && !pr.closed && !pr.merged
            }) {
                return answer(
                    422,
                    json!({
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "code": "custom",
                                    "message": format!("A pull request already exists for {name}:{head}.")}],
                        "documentation_url": DOCS, "status": "422",
                    }),
                );
            }
            let number = next_issue_number(r);
            let pr = PullSpec {
                number,
                title: str_field(&body, "title").unwrap_or_default(),
                body: str_field(&body, "body").unwrap_or_default(),
                head_sha,
                head_ref: head,
                base_ref,
                base_sha,
                user: BOT_LOGIN.to_string(),
                draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
                ..PullSpec::default()
            };
            let v = pull_json(base, r, &pr);
            r.pulls.insert(number, pr);
            r.pulls_created.push(number);
            answer(201, v)
        }
        "issues/get" => issues::get(base, r, num("issue_number")),
        "issues/create-comment" => {
            let issue = num("issue_number");
            if !issues::exists(r, issue)
                && !r.comments.contains_key(&issue)
                && !r.issue_labels.contains_key(&issue)
            {
                return not_found();
            }
            let c = CommentState {
                id: new_id,
                body: str_field(&body, "body").unwrap_or_default(),
                user: BOT_LOGIN.to_string(),
            };
            let v = comment_json(base, name, issue, &c);
            r.comments.entry(issue).or_default().push(c);
            answer(201, v)
        }
        "issues/list-comments" => {
            let issue = num("issue_number");
            if !issues::exists(r, issue) && !r.comments.contains_key(&issue) {
                return not_found();
            }
            let items: Vec<Value> = r
                .comments
                .get(&issue)
                .into_iter()
                .flatten()
                .map(|c| comment_json(base, name, issue, c))
                .collect();
            paginate(base, path, query, items, None)
        }
        "issues/add-labels" => {
            let issue = num("issue_number");
            let new: Vec<String> = body
                .get("labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    l.as_str()
                        .or_else(|| l.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                })
                .collect();
            let labels = match r.pulls.get_mut(&issue) {
                Some(pr) => &mut pr.labels,
                None if r.comments.contains_key(&issue)
                    || r.issue_labels.contains_key(&issue)
                    || r.issues.contains_key(&issue) =>
                {
                    r.issue_labels.entry(issue).or_default()
                }
                None => return not_found(),
            };
            for l in new {
                if !labels.contains(&l) {
                    labels.push(l);
                }
            }
            let template = Spec::get().example("label-items")[0].clone();
            let items: Vec<Value> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut v = template.clone();
                    v["id"] = json!(stable_id(l) + i as u64);
                    v["name"] = json!(l);
                    v["url"] = json!(format!("{base}/repos/{name}/labels/{l}"));
                    v["default"] = json!(false);
                    v
                })
                .collect();
            answer(200, json!(items))
        }
        "reactions/create-for-issue-comment" => {
            let id = num("comment_id");
            if !r.comments.values().flatten().any(|c| c.id == id) {
                return not_found();
            }
            let content = str_field(&body, "content").unwrap_or_default();
            let list = r.reactions.entry(id).or_default();
            let (status, rid) = match list
                .iter()
                .find(|(c, u, _)| *c == content && u == BOT_LOGIN)
            {
                Some((_, _, rid)) => (200, *rid),
                None => {
                    list.push((content.clone(), BOT_LOGIN.to_string(), new_id));
                    (201, new_id)
                }
            };
            let mut v = Spec::get().example("reaction");
            v["id"] = json!(rid);
            v["content"] = json!(content);
            v["user"] = user_json(base, BOT_LOGIN);
            answer(status, v)
        }
        "repos/get-collaborator-permission-level" => {
            let user = &p["username"];
            let Some(role) = r.permissions.get(user) else {
                return not_found();
            };
            let permission = match role.as_str() {
                "maintain" => "write",
                "triage" => "read",
                other => other,
            };
            let mut v = Spec::get().example(
                "repository-collaborator-permission-response-if-user-has-admin-permissions",
            );
            v["permission"] = json!(permission);
            v["role_name"] = json!(role);
            let mut u = user_json(base, user);
            let push = ["admin", "maintain", "write"].contains(&role.as_str());
            u["permissions"] = json!({
                "admin": role == "admin",
                "maintain": role == "admin" || role == "maintain",
                "push": push,
                "triage": role != "read" && role != "none",
                "pull": role != "none",
            });
            u["role_name"] = json!(role);
            v["user"] = u;
            answer(200, v)
        }
        "repos/get-content" => {
            let file_path = p["path"].clone();
            let at = q("ref").unwrap_or_default();
            let content = r
                .files
                .get(&(at.clone(), file_path.clone()))
                .or_else(|| r.files.get(&(String::new(), file_path.clone())));
            let Some(content) = content else {
                return not_found();
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(content.as_bytes());
            // GitHub wraps the base64 at 60 columns, each line ending in \n
            let wrapped: String = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
                .collect();
            let sha = git2::Oid::hash_object(git2::ObjectType::Blob, content.as_bytes())
                .map(|o| o.to_string())
                .unwrap_or_default();
            let branch = if at.is_empty() {
                r.default_branch.clone()
            } else {
                at.clone()
            };
            let file_name = file_path.rsplit('/').next().unwrap_or_default();
            let mut v = Spec::get().example("content-file-response-if-content-is-a-file");
            v["name"] = json!(file_name);
            v["path"] = json!(file_path);
            v["sha"] = json!(sha);
            v["size"] = json!(content.len());
            v["content"] = json!(wrapped);
            v["encoding"] = json!("base64");
            let url = format!("{base}/repos/{name}/contents/{file_path}?ref={branch}");
            let html = format!("https://github.com/{name}/blob/{branch}/{file_path}");
            let git = format!("{base}/repos/{name}/git/blobs/{sha}");
            let raw = format!("https://raw.githubusercontent.com/{name}/{branch}/{file_path}");
            v["url"] = json!(url);
            v["html_url"] = json!(html);
            v["git_url"] = json!(git);
            v["download_url"] = json!(raw);
            v["_links"] = json!({"self": url, "git": git, "html": html});
            answer(200, v)
        }
        "git/get-ref" => {
            let ref_name = p["ref"].clone();
            match lookup_ref(r, &ref_name) {
                Some(sha) => answer(200, ref_json(base, name, &ref_name, &sha)),
                None => not_found(),
            }
        }
        "git/create-ref" => {
            let full = str_field(&body, "ref").unwrap_or_default();
            let sha = str_field(&body, "sha").unwrap_or_default();
            let Some(short) = full.strip_prefix("refs/").filter(|s| s.contains('/')) else {
                return error(
                    422,
                    "Reference name must start with 'refs/' and have at least two slashes.",
                );
            };
            if lookup_ref(r, short).is_some() {
                return error(422, "Reference already exists");
            }
            if let Err(a) = write_local_ref(r, short, &sha, true) {
                return a;
            }
            r.refs.insert(short.to_string(), sha.clone());
            answer(201, ref_json(base, name, short, &sha))
        }
        "git/update-ref" => {
            let short = p["ref"].trim_start_matches("refs/").to_string();
            let sha = str_field(&body, "sha").unwrap_or_default();
            let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
            let Some(old) = lookup_ref(r, &short) else {
                return error(422, "Reference does not exist");
            };
            if !force && !is_fast_forward(r, &old, &sha) {
                return error(422, "Update is not a fast forward");
            }
            if let Err(a) = write_local_ref(r, &short, &sha, false) {
                return a;
            }
            r.refs.insert(short.clone(), sha.clone());
            answer(200, ref_json(base, name, &short, &sha))
        }
        other => error(
            501,
            &format!("fake GitHub: operation {other} is described but not implemented"),
        ),
    }
}

/// Apply a create/update body's conclusion, output, annotations and actions to a run.
fn apply_check_run(run: &mut CheckRunState, body: &Value) -> Result<(), Answer> {
    if let Some(s) = str_field(body, "external_id") {
        run.external_id = Some(s);
    }
    if let Some(s) = str_field(body, "details_url") {
        run.details_url = Some(s);
    }
    if let Some(c) = str_field(body, "conclusion") {
        run.conclusion = Some(c);
        run.status = "completed".into();
    }
    if let Some(c) = str_field(body, "completed_at") {
        run.completed_at = Some(c);
    }
    if run.status == "completed" {
        if run.conclusion.is_none() {
            return Err(error(
                422,
                "Invalid request.\n\n`conclusion` must be provided when `status` is `completed`",
            ));
        }
        if run.completed_at.is_none() {
            run.completed_at = Some(now());
        }
    }
    if let Some(out) = body.get("output") {
        if let Some(s) = str_field(out, "title") {
            run.output.title = Some(s);
        }
        if let Some(s) = str_field(out, "summary") {
            run.output.summary = Some(s);
        }
        if let Some(s) = str_field(out, "text") {
            run.output.text = Some(s);
        }
        if let Some(a) = out.get("annotations").and_then(Value::as_array) {
            if a.len() > 50 {
                return Err(error(
                    422,
                    "Invalid request.\n\nOnly 50 annotations are allowed per request.",
                ));
            }
            run.annotations.extend(a.iter().cloned());
        }
    }
    if let Some(a) = body.get("actions").and_then(Value::as_array) {
        run.actions = a.clone();
    }
    Ok(())
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn next_issue_number(r: &RepoState) -> u64 {
    let max_pull = r.pulls.keys().max().copied().unwrap_or(0);
    let max_issue = r.comments.keys().max().copied().unwrap_or(0);
    let max_added = r.issues.keys().max().copied().unwrap_or(0);
    max_pull.max(max_issue).max(max_added) + 1
}

// ---------------------------------------------------------------------------------------
// Refs and commits, from the state or the local repository

fn local_repo(r: &RepoState) -> Option<git2::Repository> {
    let url = &r.clone_url;
    if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("git@") {
        return None;
    }
    git2::Repository::open(url.trim_start_matches("file://")).ok()
}

fn lookup_ref(r: &RepoState, short: &str) -> Option<String> {
    let short = short.trim_start_matches("refs/");
    if let Some(sha) = r.refs.get(short) {
        return Some(sha.clone());
    }
    let repo = local_repo(r)?;
    let reference = repo.find_reference(&format!("refs/{short}")).ok()?;
    let sha = reference.peel_to_commit().ok()?.id().to_string();
    Some(sha)
}

/// A sha for a `{ref}` parameter: a full sha as is, else a branch, tag or local revision.
fn resolve_sha(r: &RepoState, git_ref: &str) -> Option<String> {
    if git_ref.len() == 40 && git_ref.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(git_ref.to_string());
    }
    for candidate in [
        git_ref.to_string(),
        format!("heads/{git_ref}"),
        format!("tags/{git_ref}"),
    ] {
        if let Some(sha) = lookup_ref(r, &candidate) {
            return Some(sha);
        }
    }
    let repo = local_repo(r)?;
    let obj = repo.revparse_single(git_ref).ok()?;
    let sha = obj.peel_to_commit().ok()?.id().to_string();
    Some(sha)
}

fn is_fast_forward(r: &RepoState, old: &str, new: &str) -> bool {
    if old == new {
        return true;
    }
    let Some(repo) = local_repo(r) else {
        return true; // nothing to judge it by
    };
    match (git2::Oid::from_str(old), git2::Oid::from_str(new)) {
        (Ok(o), Ok(n)) => repo.graph_descendant_of(n, o).unwrap_or(false),
        _ => false,
    }
}

/// Move (or create) the ref in the local repository, if there is one. The object must exist
/// there, as on GitHub.
fn write_local_ref(r: &RepoState, short: &str, sha: &str, create: bool) -> Result<(), Answer> {
    let Some(repo) = local_repo(r) else {
        return Ok(());
    };
    let oid = git2::Oid::from_str(sha).map_err(|_| error(422, "Object does not exist"))?;
    if repo.find_object(oid, None).is_err() {
        return Err(error(422, "Object does not exist"));
    }
    repo.reference(
        &format!("refs/{short}"),
        oid,
        !create,
        "fake GitHub: update-ref",
    )
    .map_err(|e| error(422, &format!("Reference update failed: {}", e.message())))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn diff_entry(
    base: &str,
    repo: &str,
    sha: &str,
    file: &str,
    status: &str,
    additions: usize,
    deletions: usize,
    patch: Option<String>,
) -> Value {
    let mut v = Spec::get().example("diff-entry-items")[0].clone();
    v["sha"] = json!(sha);
    v["filename"] = json!(file);
    v["status"] = json!(status);
    v["additions"] = json!(additions);
    v["deletions"] = json!(deletions);
    v["changes"] = json!(additions + deletions);
    v["blob_url"] = json!(format!("https://github.com/{repo}/blob/{sha}/{file}"));
    v["raw_url"] = json!(format!("https://github.com/{repo}/raw/{sha}/{file}"));
    v["contents_url"] = json!(format!("{base}/repos/{repo}/contents/{file}?ref={sha}"));
    match patch {
        Some(p) => v["patch"] = json!(p),
        None => {
            if let Some(o) = v.as_object_mut() {
                o.remove("patch");
            }
        }
    }
    v
}

/// The files between `from` (or the commit's first parent) and `to` in the local
/// repository; `merge_base`: diff from the merge base of the two, as a PR's files are.
fn local_diff(
    base: &str,
    r: &RepoState,
    from: Option<&str>,
    to: &str,
    merge_base: bool,
) -> Option<Vec<Value>> {
    let repo = local_repo(r)?;
    let to_commit = repo.find_commit(git2::Oid::from_str(to).ok()?).ok()?;
    let from_commit = match from.filter(|f| !f.is_empty()) {
        Some(f) => {
            let mut oid = git2::Oid::from_str(f).ok()?;
            if merge_base {
                oid = repo.merge_base(oid, to_commit.id()).unwrap_or(oid);
            }
            Some(repo.find_commit(oid).ok()?)
        }
        None => to_commit.parent(0).ok(),
    };
    let old_tree = from_commit.as_ref().and_then(|c| c.tree().ok());
    let new_tree = to_commit.tree().ok()?;
    let diff = repo
        .diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)
        .ok()?;
    let mut out = Vec::new();
    let name = r.full_name.clone();
    for (i, delta) in diff.deltas().enumerate() {
        let file = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let status = match delta.status() {
            git2::Delta::Added => "added",
            git2::Delta::Deleted => "removed",
            git2::Delta::Renamed => "renamed",
            _ => "modified",
        };
        let (mut adds, mut dels, mut patch_text) = (0, 0, String::new());
        if let Ok(Some(mut patch)) = git2::Patch::from_diff(&diff, i) {
            if let Ok((_, a, d)) = patch.line_stats() {
                adds = a;
                dels = d;
            }
            if let Ok(buf) = patch.to_buf() {
                let text = String::from_utf8_lossy(&buf).into_owned();
                // GitHub's `patch` starts at the first hunk header
                patch_text = text
                    .find("@@")
                    .map(|i| text[i..].to_string())
                    .unwrap_or_default();
            }
        }
        out.push(diff_entry(
            base,
            &name,
            &to_commit.id().to_string(),
            &file,
            status,
            adds,
            dels,
            Some(patch_text),
        ));
    }
    Some(out)
}

fn commit_json(base: &str, r: &RepoState, git_ref: &str) -> Option<Value> {
    let sha = resolve_sha(r, git_ref)?;
    let repo = local_repo(r)?;
    let commit = repo.find_commit(git2::Oid::from_str(&sha).ok()?).ok()?;
    let name = &r.full_name;
    let files = local_diff(base, r, None, &sha, false).unwrap_or_default();
    let (adds, dels) = files.iter().fold((0, 0), |(a, d), f| {
        (
            a + f["additions"].as_u64().unwrap_or(0),
            d + f["deletions"].as_u64().unwrap_or(0),
        )
    });
    let when = |t: git2::Time| {
        DateTime::from_timestamp(t.seconds(), 0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let mut v = Spec::get().example("commit");
    v["sha"] = json!(sha);
    v["url"] = json!(format!("{base}/repos/{name}/commits/{sha}"));
    v["html_url"] = json!(format!("https://github.com/{name}/commit/{sha}"));
    v["comments_url"] = json!(format!("{base}/repos/{name}/commits/{sha}/comments"));
    v["commit"]["message"] = json!(commit.message().unwrap_or_default());
    v["commit"]["url"] = json!(format!("{base}/repos/{name}/git/commits/{sha}"));
    v["commit"]["tree"] = json!({
        "sha": commit.tree_id().to_string(),
        "url": format!("{base}/repos/{name}/git/trees/{}", commit.tree_id()),
    });
    for (key, sig) in [
        ("author", commit.author()),
        ("committer", commit.committer()),
    ] {
        v["commit"][key] = json!({
            "name": sig.name().unwrap_or_default(),
            "email": sig.email().unwrap_or_default(),
            "date": when(sig.when()),
        });
    }
    v["parents"] = json!(commit
        .parent_ids()
        .map(|p| json!({
            "sha": p.to_string(),
            "url": format!("{base}/repos/{name}/commits/{p}"),
            "html_url": format!("https://github.com/{name}/commit/{p}"),
        }))
        .collect::<Vec<_>>());
    v["stats"] = json!({"additions": adds, "deletions": dels, "total": adds + dels});
    v["files"] = json!(files);
    Some(v)
}

// ---------------------------------------------------------------------------------------
// JSON shapes, from GitHub's own examples

fn stable_id(s: &str) -> u64 {
    // FNV-1a, folded into a GitHub-sized id
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h % 90_000_000 + 10_000_000
}

fn user_json(base: &str, login: &str) -> Value {
    let mut v = Spec::get().example("integration")["owner"].clone();
    let id = if login == BOT_LOGIN {
        APP_ID * 1000 + 1
    } else {
        stable_id(login)
    };
    v["login"] = json!(login);
    v["id"] = json!(id);
    v["node_id"] = json!(format!("U_fake{id}"));
    v["url"] = json!(format!("{base}/users/{login}"));
    v["html_url"] = json!(format!("https://github.com/{login}"));
    for k in [
        "followers_url",
        "following_url",
        "gists_url",
        "starred_url",
        "subscriptions_url",
        "organizations_url",
        "repos_url",
        "events_url",
        "received_events_url",
    ] {
        if let Some(s) = v[k].as_str() {
            let rest = s.split_once("/users/octocat").map(|(_, r)| r).unwrap_or("");
            v[k] = json!(format!("{base}/users/{login}{rest}"));
        }
    }
    v["type"] = json!(if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    });
    v["site_admin"] = json!(false);
    v
}

fn app_json(base: &str) -> Value {
    let mut v = Spec::get().example("integration");
    v["id"] = json!(APP_ID);
    v["slug"] = json!(APP_SLUG);
    v["name"] = json!("patchgate");
    v["node_id"] = json!(format!("A_fake{APP_ID}"));
    v["owner"] = user_json(base, "patchgate-dev");
    v["external_url"] = json!("https://example.invalid/patchgate");
    v["html_url"] = json!(format!("https://github.com/apps/{APP_SLUG}"));
    v["permissions"] = permissions_json();
    v["events"] = json!([
        "check_run",
        "check_suite",
        "issue_comment",
        "pull_request",
        "push",
        "status"
    ]);
    v
}

fn permissions_json() -> Value {
    json!({
        "checks": "write", "contents": "write", "issues": "write",
        "metadata": "read", "pull_requests": "write", "statuses": "read",
    })
}

fn installation_json(base: &str, id: u64, repos: &[String]) -> Value {
    let owner = repos
        .first()
        .and_then(|r| r.split('/').next())
        .unwrap_or("octocat");
    let mut v = Spec::get().example("installation");
    v["id"] = json!(id);
    v["app_id"] = json!(APP_ID);
    v["app_slug"] = json!(APP_SLUG);
    let mut account = user_json(base, owner);
    // GitHub's description of apps/list-installations says `allOf: [simple-user,
    // enterprise]` for the account (it means anyOf); the enterprise's required fields are
    // added so the answer fits the letter of it. octocrab ignores them.
    account["name"] = json!(owner);
    account["slug"] = json!(owner);
    account["created_at"] = json!("2020-01-01T00:00:00Z");
    account["updated_at"] = json!("2020-01-01T00:00:00Z");
    v["account"] = account;
    v["target_id"] = v["account"]["id"].clone();
    v["target_type"] = json!("User");
    v["repository_selection"] = json!("selected");
    v["access_tokens_url"] = json!(format!("{base}/app/installations/{id}/access_tokens"));
    v["repositories_url"] = json!(format!("{base}/installation/repositories"));
    v["html_url"] = json!(format!("https://github.com/settings/installations/{id}"));
    v["permissions"] = permissions_json();
    v
}

/// Replace octocat/Hello-World URLs of an example with this repository's.
fn rewrite_urls(v: &mut Value, base: &str, from_repo: &str, to_repo: &str) {
    match v {
        Value::String(s) if s.contains("api.github.com") || s.contains(from_repo) => {
            *s = s
                .replace(&format!("/repos/{from_repo}"), &format!("/repos/{to_repo}"))
                .replace(
                    &format!("github.com/{from_repo}"),
                    &format!("github.com/{to_repo}"),
                )
                .replace("https://api.github.com", base);
        }
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| rewrite_urls(x, base, from_repo, to_repo)),
        Value::Object(o) => o
            .values_mut()
            .for_each(|x| rewrite_urls(x, base, from_repo, to_repo)),
        _ => {}
    }
}

fn repo_json(base: &str, r: &RepoState) -> Value {
    let mut v = Spec::get().example("repository-paginated-2")["repositories"][0].clone();
    let name = &r.full_name;
    let (owner, short) = name.split_once('/').unwrap_or((name, name));
    rewrite_urls(&mut v, base, "octocat/Hello-World", name);
    v["id"] = json!(r.id);
    v["node_id"] = json!(format!("R_fake{}", r.id));
    v["name"] = json!(short);
    v["full_name"] = json!(name);
    v["owner"] = user_json(base, owner);
    v["private"] = json!(false);
    v["default_branch"] = json!(r.default_branch);
    // a local path as a file:// URL (octocrab parses clone_url as a URL)
    let clone_url = if r.clone_url.contains("://") || r.clone_url.starts_with("git@") {
        r.clone_url.clone()
    } else {
        let abs = std::path::absolute(&r.clone_url)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| r.clone_url.clone());
        format!("file://{abs}")
    };
    v["clone_url"] = json!(clone_url);
    v["html_url"] = json!(format!("https://github.com/{name}"));
    v["url"] = json!(format!("{base}/repos/{name}"));
    v
}

fn pull_json(base: &str, r: &RepoState, pr: &PullSpec) -> Value {
    let mut v = Spec::get().example("pull-request");
    let name = &r.full_name;
    let owner = name.split('/').next().unwrap_or_default();
    rewrite_urls(&mut v, base, "octocat/Hello-World", name);
    let n = pr.number;
    let id = r.id * 100_000 + n;
    let state = if pr.closed || pr.merged {
        "closed"
    } else {
        "open"
    };
    v["url"] = json!(format!("{base}/repos/{name}/pulls/{n}"));
    v["id"] = json!(id);
    v["node_id"] = json!(format!("PR_fake{id}"));
    v["html_url"] = json!(format!("https://github.com/{name}/pull/{n}"));
    v["diff_url"] = json!(format!("https://github.com/{name}/pull/{n}.diff"));
    v["patch_url"] = json!(format!("https://github.com/{name}/pull/{n}.patch"));
    v["issue_url"] = json!(format!("{base}/repos/{name}/issues/{n}"));
    v["commits_url"] = json!(format!("{base}/repos/{name}/pulls/{n}/commits"));
    v["review_comments_url"] = json!(format!("{base}/repos/{name}/pulls/{n}/comments"));
    v["comments_url"] = json!(format!("{base}/repos/{name}/issues/{n}/comments"));
    v["statuses_url"] = json!(format!("{base}/repos/{name}/statuses/{}", pr.head_sha));
    v["number"] = json!(n);
    v["state"] = json!(state);
    v["locked"] = json!(false);
    v["title"] = json!(pr.title);
    v["body"] = if pr.body.is_empty() {
        Value::Null
    } else {
        json!(pr.body)
    };
    v["user"] = user_json(base, &pr.user);
    v["draft"] = json!(pr.draft);
    v["merged"] = json!(pr.merged);
    let at = "2026-01-01T00:00:00Z";
    v["closed_at"] = if state == "closed" {
        json!(at)
    } else {
        Value::Null
    };
    v["merged_at"] = if pr.merged { json!(at) } else { Value::Null };
    v["merged_by"] = if pr.merged {
        user_json(base, &pr.user)
    } else {
        Value::Null
    };
    v["merge_commit_sha"] = json!(pr.merge_commit_sha);
    v["mergeable"] = if pr.merged { Value::Null } else { json!(true) };
    v["mergeable_state"] = json!(if pr.merged { "unknown" } else { "clean" });
    v["rebaseable"] = if pr.merged { Value::Null } else { json!(true) };
    let template = v["labels"][0].clone();
    v["labels"] = json!(pr
        .labels
        .iter()
        .map(|l| {
            let mut x = template.clone();
            x["id"] = json!(stable_id(l));
            x["name"] = json!(l);
            x["url"] = json!(format!("{base}/repos/{name}/labels/{l}"));
            x["default"] = json!(false);
            x
        })
        .collect::<Vec<_>>());
    v["milestone"] = Value::Null;
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["requested_reviewers"] = json!([]);
    v["requested_teams"] = json!([]);
    let repo = repo_json(base, r);
    for (key, git_ref, sha) in [
        ("head", &pr.head_ref, &pr.head_sha),
        ("base", &pr.base_ref, &pr.base_sha),
    ] {
        v[key] = json!({
            "label": format!("{owner}:{git_ref}"),
            "ref": git_ref,
            "sha": sha,
            "user": user_json(base, owner),
            "repo": repo.clone(),
        });
    }
    if let Some(links) = v.get_mut("_links") {
        *links = json!({
            "self": {"href": format!("{base}/repos/{name}/pulls/{n}")},
            "html": {"href": format!("https://github.com/{name}/pull/{n}")},
            "issue": {"href": format!("{base}/repos/{name}/issues/{n}")},
            "comments": {"href": format!("{base}/repos/{name}/issues/{n}/comments")},
            "review_comments": {"href": format!("{base}/repos/{name}/pulls/{n}/comments")},
            "review_comment": {"href": format!("{base}/repos/{name}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{base}/repos/{name}/pulls/{n}/commits")},
            "statuses": {"href": format!("{base}/repos/{name}/statuses/{}", pr.head_sha)},
        });
    }
    v
}

fn check_run_json(base: &str, r: &RepoState, c: &CheckRunState) -> Value {
    let mut v = Spec::get().example("check-run");
    let name = &r.full_name;
    rewrite_urls(&mut v, base, "github/hello-world", name);
    v["id"] = json!(c.id);
    v["node_id"] = json!(format!("CR_fake{}", c.id));
    v["name"] = json!(c.name);
    v["head_sha"] = json!(c.head_sha);
    v["external_id"] = json!(c.external_id.clone().unwrap_or_default());
    v["url"] = json!(format!("{base}/repos/{name}/check-runs/{}", c.id));
    v["html_url"] = json!(format!("https://github.com/{name}/runs/{}", c.id));
    v["details_url"] = json!(c.details_url);
    v["status"] = json!(c.status);
    v["conclusion"] = json!(c.conclusion);
    v["started_at"] = json!(c.started_at);
    v["completed_at"] = json!(c.completed_at);
    v["output"] = json!({
        "title": c.output.title,
        "summary": c.output.summary,
        "text": c.output.text,
        "annotations_count": c.annotations.len(),
        "annotations_url": format!("{base}/repos/{name}/check-runs/{}/annotations", c.id),
    });
    if let Some(suite) = v.get_mut("check_suite") {
        *suite = json!({"id": c.id + 5_000_000});
    }
    let mut app = app_json(base);
    if c.app_id != APP_ID {
        app["id"] = json!(c.app_id);
        app["slug"] = json!("github-actions");
        app["name"] = json!("GitHub Actions");
    }
    v["app"] = app;
    let repo_min = json!({"id": r.id, "url": format!("{base}/repos/{name}"), "name": name.split('/').nth(1).unwrap_or_default()});
    v["pull_requests"] = json!(r
        .pulls
        .values()
        .filter(|pr| pr.head_sha == c.head_sha && !pr.closed && !pr.merged)
        .map(|pr| json!({
            "url": format!("{base}/repos/{name}/pulls/{}", pr.number),
            "id": r.id * 100_000 + pr.number,
            "number": pr.number,
            "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": repo_min.clone()},
            "base": {"ref": pr.base_ref, "sha": pr.base_sha, "repo": repo_min.clone()},
        }))
        .collect::<Vec<_>>());
    v
}

fn comment_json(base: &str, name: &str, issue: u64, c: &CommentState) -> Value {
    let mut v = Spec::get().example("issue-comment");
    v["id"] = json!(c.id);
    v["node_id"] = json!(format!("IC_fake{}", c.id));
    v["url"] = json!(format!("{base}/repos/{name}/issues/comments/{}", c.id));
    v["html_url"] = json!(format!(
        "https://github.com/{name}/pull/{issue}#issuecomment-{}",
        c.id
    ));
    v["issue_url"] = json!(format!("{base}/repos/{name}/issues/{issue}"));
    v["body"] = json!(c.body);
    v["user"] = user_json(base, &c.user);
    v["author_association"] = json!(if c.user == BOT_LOGIN {
        "NONE"
    } else {
        "CONTRIBUTOR"
    });
    if let Some(o) = v.as_object_mut() {
        o.remove("reactions");
        o.remove("performed_via_github_app");
    }
    v
}

fn ref_json(base: &str, name: &str, short: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/{short}"),
        "node_id": format!("REF_fake{}", stable_id(short)),
        "url": format!("{base}/repos/{name}/git/refs/{short}"),
        "object": {
            "type": "commit",
            "sha": sha,
            "url": format!("{base}/repos/{name}/git/commits/{sha}"),
        },
    })
}

// ---------------------------------------------------------------------------------------
// The App's webhook deliveries (`GET /app/hook/deliveries`, `POST …/{delivery_id}/attempts`)

/// One delivery in the App's delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct HookDeliveryState {
    pub id: u64,
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    /// What the App's server answered (`0`: no answer).
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
}

#[derive(Debug)]
struct HookLog {
    deliveries: Vec<HookDeliveryState>,
    /// Ids of the deliveries a redelivery was accepted for, in order.
    redeliveries: Vec<u64>,
    /// The status the App's server "answers" a redelivery with.
    redelivery_status: u16,
    /// Pages of the delivery list served.
    pages_served: usize,
}

impl Default for HookLog {
    fn default() -> Self {
        HookLog {
            deliveries: Vec::new(),
            redeliveries: Vec::new(),
            redelivery_status: 202,
            pages_served: 0,
        }
    }
}

impl FakeGitHub {
    /// Add a delivery to the App's delivery log; returns its id (ids grow with each one added).
    pub fn add_hook_delivery(
        &self,
        guid: &str,
        event: &str,
        action: Option<&str>,
        status_code: u16,
        delivered_at: DateTime<Utc>,
    ) -> u64 {
        let mut g = self.lock();
        let id = g.id();
        g.hooks.deliveries.push(HookDeliveryState {
            id,
            guid: guid.to_string(),
            delivered_at,
            redelivery: false,
            status_code,
            event: event.to_string(),
            action: action.map(str::to_string),
        });
        id
    }

    /// Add a redelivery of `guid` (someone asked GitHub for one earlier): its event and
    /// action are those of the guid's first delivery, which must be in the log.
    pub fn add_hook_redelivery(
        &self,
        guid: &str,
        status_code: u16,
        delivered_at: DateTime<Utc>,
    ) -> u64 {
        let mut g = self.lock();
        let first = g
            .hooks
            .deliveries
            .iter()
            .find(|d| d.guid == guid)
            .cloned()
            .unwrap_or_else(|| panic!("fake GitHub: no delivery {guid} to redeliver"));
        let id = g.id();
        g.hooks.deliveries.push(HookDeliveryState {
            id,
            delivered_at,
            redelivery: true,
            status_code,
            ..first
        });
        id
    }

    /// The delivery log, as kept (redeliveries included).
    pub fn hook_deliveries(&self) -> Vec<HookDeliveryState> {
        self.lock().hooks.deliveries.clone()
    }

    /// The guids a redelivery was accepted for, in order (one entry per accepted request).
    pub fn redelivered_guids(&self) -> Vec<String> {
        let g = self.lock();
        g.hooks
            .redeliveries
            .iter()
            .filter_map(|id| g.hooks.deliveries.iter().find(|d| d.id == *id))
            .map(|d| d.guid.clone())
            .collect()
    }

    /// The status a redelivery gets from the App's server from now on (default `202`; e.g.
    /// `502` while the server is still down).
    pub fn set_redelivery_status(&self, status_code: u16) {
        self.lock().hooks.redelivery_status = status_code;
    }

    /// Pages of `GET /app/hook/deliveries` served so far.
    pub fn hook_delivery_pages_served(&self) -> usize {
        self.lock().hooks.pages_served
    }
}

fn hook_delivery_json(d: &HookDeliveryState) -> Value {
    let ok = (200..300).contains(&d.status_code);
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": d.delivered_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "redelivery": d.redelivery,
        "duration": 0.27,
        "status": if ok { "OK" } else if d.status_code == 0 { "failed to connect" } else { "Invalid HTTP Response: 503" },
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": 4242,
        "repository_id": null,
        "throttled_at": null,
    })
}

/// GitHub's listing: newest first, `per_page` (default 30, at most 100), and an opaque
/// `cursor` in the `Link: rel="next"` header (GitHub's delivery list has no `page`).
fn list_hook_deliveries(
    g: &mut Inner,
    base: &str,
    path: &str,
    query: &[(String, String)],
) -> Answer {
    let get = |k: &str| query_value(query, k);
    let per_page = get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let mut all = g.hooks.deliveries.clone();
    all.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
    if let Some(status) = get("status") {
        all.retain(|d| ((200..300).contains(&d.status_code)) == (status == "success"));
    }
    let start = match get("cursor") {
        None => 0,
        Some(c) => match c.strip_prefix("v1_").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= all.len() => n,
            _ => return error(400, "Invalid cursor"),
        },
    };
    g.hooks.pages_served += 1;
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(per_page)
        .map(hook_delivery_json)
        .collect();
    let mut a = answer(200, Value::Array(page));
    let next = start + per_page;
    if next < all.len() {
        let mut params: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "per_page")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        params.push(format!("per_page={per_page}"));
        params.push(format!("cursor=v1_{next}"));
        a.headers.push((
            "link".into(),
            format!("<{base}{path}?{}>; rel=\"next\"", params.join("&")),
        ));
    }
    a
}

/// Accept a redelivery: the delivery is delivered again (same guid, `redelivery: true`, a new
/// id), and the App's server answers with the configured status.
fn redeliver_hook_delivery(g: &mut Inner, delivery_id: &str) -> Answer {
    let Some(orig) = delivery_id
        .parse::<u64>()
        .ok()
        .and_then(|id| g.hooks.deliveries.iter().find(|d| d.id == id).cloned())
    else {
        return not_found();
    };
    if orig.delivered_at < Utc::now() - Duration::days(3) {
        return validation_failed(
            "Hook",
            "delivery_id",
            "invalid",
            "Delivery is too old to redeliver",
        );
    }
    let id = g.id();
    g.hooks.redeliveries.push(orig.id);
    let status_code = g.hooks.redelivery_status;
    g.hooks.deliveries.push(HookDeliveryState {
        id,
        delivered_at: Utc::now(),
        redelivery: true,
        status_code,
        ..orig
    });
    answer(202, json!({}))
}

// ---------------------------------------------------------------------------------------
// Pagination

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                super::openapi::percent_decode(&k.replace('+', " ")),
                super::openapi::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// One page of `items` (`per_page` default 30, at most 100; `page` from 1), with GitHub's
/// `Link` header. `wrap`: the key of an object answer (`check_runs`, with `total_count`);
/// `None`: a bare array.
fn paginate(
    base: &str,
    path: &str,
    query: &[(String, String)],
    items: Vec<Value>,
    wrap: Option<&str>,
) -> Answer {
    let get = |k: &str| query_value(query, k).and_then(|v| v.parse::<usize>().ok());
    let per_page = get("per_page").unwrap_or(30).clamp(1, 100);
    let page = get("page").unwrap_or(1).max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let others: Vec<String> = query
        .iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let link_to = |n: usize| {
        let mut params = others.clone();
        params.push(format!("per_page={per_page}"));
        params.push(format!("page={n}"));
        format!("<{base}{path}?{}>", params.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    let body = match wrap {
        Some(key) => {
            let mut o = serde_json::Map::new();
            o.insert("total_count".into(), json!(total));
            if key == "repositories" {
                o.insert("repository_selection".into(), json!("selected"));
            }
            o.insert(key.into(), Value::Array(slice));
            Value::Object(o)
        }
        None => Value::Array(slice),
    };
    let mut a = answer(200, body);
    if !links.is_empty() {
        a.headers.push(("link".into(), links.join(", ")));
    }
    a
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The last value of query parameter `k` (a later repeat wins, as GitHub reads it).
fn query_value(query: &[(String, String)], k: &str) -> Option<String> {
    query
        .iter()
        .rev()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
}

/// What a user's OAuth token may do here: who am I (`GET /user`), and a repository with the
/// user's `permissions` (`GET /repos/{owner}/{repo}`; 404 for one they cannot read, as GitHub
/// answers for a private repository).
fn user_operation(g: &mut Inner, op: &str, login: &str, repo: Option<&str>) -> Answer {
    let base = g.base_url.clone();
    match (op, repo) {
        ("users/get-authenticated", _) => {
            let mut v = Spec::get()
                .example("private-user-response-with-public-and-private-profile-information");
            let public = user_json(&base, login);
            for (k, val) in public.as_object().into_iter().flatten() {
                v[k] = val.clone();
            }
            answer(200, v)
        }
        ("repos/get", Some(name)) => {
            let Some(r) = g.repos.get(name) else {
                return not_found();
            };
            let level = r
                .permissions
                .get(login)
                .map(String::as_str)
                .unwrap_or("none");
            if level == "none" {
                return not_found();
            }
            let rank = ["read", "triage", "write", "maintain", "admin"]
                .iter()
                .position(|l| *l == level)
                .unwrap_or(0);
            let mut v = Spec::get().example("full-repository-default-response");
            let short = repo_json(&base, r);
            for (k, val) in short.as_object().into_iter().flatten() {
                if v.get(k).is_some() {
                    v[k] = val.clone();
                }
            }
            v["private"] = json!(true);
            // Not a fork: no parent or source; GitHub's example leaves out `language`.
            if let Some(o) = v.as_object_mut() {
                o.remove("parent");
                o.remove("source");
            }
            v["fork"] = json!(false);
            v["language"] = json!(null);
            v["permissions"] = json!({
                "pull": true, "triage": rank >= 1, "push": rank >= 2,
                "maintain": rank >= 3, "admin": rank >= 4,
            });
            answer(200, v)
        }
        _ => error(403, "Resource not accessible by integration"),
    }
}

fn oauth_query(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(parse_query).unwrap_or_default()
}

/// `GET /login/oauth/authorize` (github.com): the browser is sent back to `redirect_uri` with
/// a one-time `code` and the `state` it came with, or with `error=access_denied`.
async fn oauth_authorize(State(shared): State<Shared>, uri: Uri) -> Response {
    let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
    let q = oauth_query(&uri);
    let (Some(client), Some(redirect)) = (
        query_value(&q, "client_id"),
        query_value(&q, "redirect_uri"),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required",
        )
            .into_response();
    };
    if client != g.oauth.client_id || client.is_empty() {
        return (StatusCode::NOT_FOUND, "no such OAuth client").into_response();
    }
    let state = query_value(&q, "state").unwrap_or_default();
    let to = match g.oauth.browser_user.clone() {
        Some(login) => {
            let code = format!("code{}", g.id());
            g.oauth
                .codes
                .insert(code.clone(), (login, redirect.clone()));
            format!("{redirect}?code={code}&state={}", encode(&state))
        }
        None => format!("{redirect}?error=access_denied&state={}", encode(&state)),
    };
    (StatusCode::FOUND, [("location", to)]).into_response()
}

/// `POST /login/oauth/access_token` (github.com, form-encoded): a code for a user token.
/// Like GitHub, a bad code is a 200 with `error`.
async fn oauth_token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
    let form = parse_query(&String::from_utf8_lossy(&body));
    let json_wanted = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let field = |k: &str| query_value(&form, k).unwrap_or_default();
    let body = if field("client_id") != g.oauth.client_id
        || field("client_secret") != g.oauth.client_secret
        || g.oauth.client_id.is_empty()
    {
        json!({"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."})
    } else {
        match g.oauth.codes.remove(&field("code")) {
            Some((login, redirect)) if redirect == field("redirect_uri") => {
                let token = format!("ghu_fake{}", g.id());
                g.oauth.user_tokens.insert(token.clone(), login);
                json!({"access_token": token, "token_type": "bearer", "scope": ""})
            }
            Some(_) => json!({"error": "redirect_uri_mismatch"}),
            None => {
                json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
            }
        }
    };
    if !json_wanted {
        return (StatusCode::NOT_ACCEPTABLE, "the fake answers JSON only").into_response();
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}
