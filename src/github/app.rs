//! The GitHub App's identity and every REST call patchgate makes, through octocrab.
//!
//! [`GitHubApp`] signs JWTs with the App's key and mints installation tokens; [`Installation`]
//! makes the calls a job needs (pull requests, check runs, comments, permissions, files) with
//! that installation's token. Tokens are cached per installation until five minutes before
//! they expire, and concurrent callers of one installation share a single token request.
//!
//! Responses are decoded into small types of our own ([`PullInfo`], [`CheckRunInfo`], …) that
//! hold only what patchgate uses, not octocrab's models, so a field GitHub adds or drops
//! elsewhere cannot break a job. Failures are [`GitHubError`]s inside `anyhow`: the operation,
//! the repository and the HTTP status, and whether retrying may help.
//!
//! What this module must never do: put a token, a JWT or the private key into an error, a log
//! line or a `Debug` string (octocrab's own `Debug` prints tokens, so no `Octocrab` is ever
//! formatted here), or send a token to a host other than the configured API base.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use octocrab::models::AppId;
use octocrab::secrecy::{ExposeSecret as _, SecretString};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// A token is renewed this long before GitHub says it expires.
const TOKEN_REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
/// GitHub's limit on a check run's summary and text, and on a comment's body.
const TEXT_LIMIT: usize = 65_535;
/// GitHub accepts at most 50 annotations per check-run request.
const ANNOTATIONS_PER_REQUEST: usize = 50;
/// A listing stops after this many pages (10,000 items), whatever the `Link` header says.
const MAX_PAGES: usize = 100;
const PER_PAGE: &str = "per_page=100";

// ---------------------------------------------------------------------------------------------
// Repository names

/// A repository, `owner/name`. Both parts are limited to `[A-Za-z0-9._-]` (and are neither `.`
/// nor `..`), so a `RepoRef` is safe in a URL path and in a file path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// A checked `RepoRef`.
    pub fn new(owner: &str, name: &str) -> anyhow::Result<Self> {
        let repo = RepoRef {
            owner: owner.to_string(),
            name: name.to_string(),
        };
        repo.validate()?;
        Ok(repo)
    }

    /// Parse `owner/name`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().split_once('/') {
            Some((owner, name)) => RepoRef::new(owner, name),
            None => bail!("repository {s:?} is not of the form owner/name"),
        }
    }

    /// Refuse parts outside `[A-Za-z0-9._-]`, empty parts, `.` and `..` (the fields are public,
    /// so whoever turns a `RepoRef` into a path checks again).
    pub fn validate(&self) -> anyhow::Result<()> {
        for (what, part) in [("owner", &self.owner), ("name", &self.name)] {
            let ok = !part.is_empty()
                && part != "."
                && part != ".."
                && part.len() <= 100
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                bail!(
                    "invalid repository {what} {part:?}: \
                     only letters, digits, '.', '_' and '-' are allowed"
                );
            }
        }
        Ok(())
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoRef {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        RepoRef::parse(s)
    }
}

impl TryFrom<String> for RepoRef {
    type Error = anyhow::Error;
    fn try_from(s: String) -> anyhow::Result<Self> {
        RepoRef::parse(&s)
    }
}

impl From<RepoRef> for String {
    fn from(r: RepoRef) -> String {
        r.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A failed GitHub call: what was attempted, the HTTP status GitHub answered with (`None` when
/// no answer came: connection, timeout, or an answer that could not be read), and GitHub's
/// message. Never carries a token. Find it in an `anyhow::Error` with [`GitHubError::of`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("GitHub: {action}: {}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
pub struct GitHubError {
    pub action: String,
    pub status: Option<u16>,
    pub message: String,
    transient: bool,
}

impl GitHubError {
    /// The `GitHubError` in an error's chain, if any.
    pub fn of(err: &anyhow::Error) -> Option<&GitHubError> {
        err.chain().find_map(|e| e.downcast_ref::<GitHubError>())
    }

    /// Whether trying again later may succeed: no answer, a 5xx, or a rate limit.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

/// Whether `err` is a GitHub failure worth retrying (see [`GitHubError::is_transient`]).
pub fn is_transient(err: &anyhow::Error) -> bool {
    GitHubError::of(err).is_some_and(GitHubError::is_transient)
}

/// A failure before it is given its action.
struct Failure {
    status: Option<u16>,
    message: String,
    transient: bool,
}

impl Failure {
    fn from_octocrab(err: octocrab::Error) -> Failure {
        match err {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                if let Some(errors) = source.errors.as_ref().filter(|e| !e.is_empty()) {
                    let detail = serde_json::to_string(errors).unwrap_or_default();
                    message = format!("{message} {}", truncate_chars(&detail, 500));
                }
                let rate_limited = status == 429
                    || (status == 403 && message.to_ascii_lowercase().contains("rate limit"));
                Failure {
                    status: Some(status),
                    message,
                    transient: status >= 500 || status == 408 || rate_limited,
                }
            }
            other => {
                let transient = matches!(
                    other,
                    octocrab::Error::Service { .. } | octocrab::Error::Hyper { .. }
                );
                let mut message = other.to_string();
                let mut source = std::error::Error::source(&other);
                while let Some(s) = source {
                    message = format!("{message}: {s}");
                    source = s.source();
                }
                Failure {
                    status: None,
                    message,
                    transient,
                }
            }
        }
    }

    /// A failure retrying cannot mend (an answer we cannot read).
    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            message: message.into(),
            transient: false,
        }
    }

    fn decode(err: serde_json::Error) -> Failure {
        Failure::permanent(format!("unexpected response from GitHub: {err}"))
    }

    fn into_error(self, action: String, secret: Option<&str>) -> anyhow::Error {
        let message = match secret {
            Some(s) if !s.is_empty() => self.message.replace(s, "***"),
            _ => self.message,
        };
        anyhow::Error::new(GitHubError {
            action,
            status: self.status,
            message,
            transient: self.transient,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials and the App

/// The App's id and private key. `Debug` never shows the key.
#[derive(Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    key: octocrab::EncodingKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AppCredentials {
    /// `key` is a path to a PEM file or the PEM text itself (starts with "-----BEGIN"; `\n`
    /// escapes, as environment variables often carry them, are accepted).
    pub fn new(app_id: &str, key: &str) -> anyhow::Result<Self> {
        let app_id: u64 = app_id
            .trim()
            .parse()
            .ok()
            .filter(|&id| id > 0)
            .with_context(|| format!("GitHub App id {app_id:?} is not a positive number"))?;
        let text = key.trim_start();
        let pem = if text.starts_with("-----BEGIN") {
            if text.contains('\n') {
                text.to_string()
            } else {
                text.replace("\\n", "\n")
            }
        } else {
            std::fs::read_to_string(key.trim()).with_context(|| {
                format!(
                    "cannot read the GitHub App private key file {:?}",
                    key.trim()
                )
            })?
        };
        let not_rsa = || {
            anyhow::anyhow!(
                "the GitHub App private key is not an RSA private key in PEM form \
                 (expected the .pem file GitHub generates, \"-----BEGIN RSA PRIVATE KEY-----\")"
            )
        };
        let key = octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| not_rsa())?;
        // Parsing is lazy about the key's contents: sign once so a bad key fails here, at start-up.
        octocrab::auth::create_jwt(AppId(app_id), &key).map_err(|_| not_rsa())?;
        Ok(AppCredentials { app_id, key })
    }
}

/// The GitHub App: JWT-authenticated calls and the installation-token cache. Cheap to clone.
#[derive(Clone)]
pub struct GitHubApp {
    inner: Arc<AppInner>,
}

struct AppInner {
    app_id: u64,
    api_base: String,
    /// Authenticated as the App (a fresh JWT per request). Never formatted: its Debug leaks.
    crab: Octocrab,
    slots: Mutex<HashMap<u64, Arc<TokenSlot>>>,
}

impl fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.inner.app_id)
            .field("api_base", &self.inner.api_base)
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// `api_base`: `https://api.github.com`, a GitHub Enterprise Server's
    /// `https://ghe.example/api/v3`, or a fake on loopback.
    pub fn new(creds: AppCredentials, api_base: &str) -> anyhow::Result<Self> {
        let api_base = api_base.trim().trim_end_matches('/').to_string();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            bail!("GitHub API base {api_base:?} is not an http(s) URL");
        }
        let crab = Octocrab::builder()
            .base_uri(api_base.as_str())
            .with_context(|| format!("GitHub API base {api_base:?} is not a valid URL"))?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .set_write_timeout(Some(Duration::from_secs(60)))
            .app(AppId(creds.app_id), creds.key)
            .build()
            .context("building the GitHub client")?;
        Ok(GitHubApp {
            inner: Arc::new(AppInner {
                app_id: creds.app_id,
                api_base,
                crab,
                slots: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn api_base(&self) -> &str {
        &self.inner.api_base
    }

    pub fn app_id(&self) -> u64 {
        self.inner.app_id
    }

    /// A client for one installation, with a valid token in the cache (so an installation that
    /// does not exist, or a key GitHub refuses, fails here).
    pub async fn installation(&self, installation_id: u64) -> anyhow::Result<Installation> {
        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(installation_id).or_default().clone()
        };
        let installation = Installation {
            id: installation_id,
            app: self.clone(),
            slot,
        };
        installation.secret().await?;
        Ok(installation)
    }

    /// The ids of every installation of the App (`GET /app/installations`).
    pub async fn installations(&self) -> anyhow::Result<Vec<u64>> {
        #[derive(Deserialize)]
        struct Inst {
            id: u64,
        }
        let all: Vec<Inst> = Caller::App(self)
            .get_all("list the App's installations", "/app/installations", None)
            .await?;
        Ok(all.into_iter().map(|i| i.id).collect())
    }

    /// The installation that covers `repo` (`GET /repos/{owner}/{repo}/installation`); a 404
    /// means the App is not installed there.
    pub async fn repo_installation(&self, repo: &RepoRef) -> anyhow::Result<u64> {
        #[derive(Deserialize)]
        struct Inst {
            id: u64,
        }
        let action = format!("find the App's installation on {repo}");
        let inst: Inst = Caller::App(self)
            .get(action, &repo_route(repo, "/installation"))
            .await?;
        Ok(inst.id)
    }

    /// Mint a new installation token (`POST /app/installations/{id}/access_tokens`).
    async fn mint_token(&self, installation_id: u64) -> anyhow::Result<CachedToken> {
        #[derive(Deserialize)]
        struct Minted {
            token: String,
            expires_at: String,
        }
        let action = format!("create an access token for installation {installation_id}");
        let route = format!("/app/installations/{installation_id}/access_tokens");
        let reply = send(&self.inner.crab, Verb::Post, &route, Some(&json!({})))
            .await
            .map_err(|f| {
                let hint = match f.status {
                    Some(401) => {
                        " (GitHub refused the App's JWT: \
                         check the App id, the private key and the clock)"
                    }
                    Some(404) => " (no such installation of this App)",
                    _ => "",
                };
                f.into_error(format!("{action}{hint}"), None)
            })?;
        // A decoding error could quote the body, and the body holds the token: say nothing of it.
        let malformed = |what: &str| Failure::permanent(what).into_error(action.clone(), None);
        let minted: Minted =
            serde_json::from_str(&reply.body).map_err(|_| malformed("malformed token response"))?;
        let expires_at = DateTime::parse_from_rfc3339(&minted.expires_at)
            .map_err(|_| malformed("malformed expires_at in the token response"))?
            .with_timezone(&Utc);
        tracing::debug!(installation_id, %expires_at, "installation token minted");
        Ok(CachedToken {
            secret: SecretString::from(minted.token),
            expires_at,
        })
    }
}

/// One installation's token, shared by all its `Installation` handles.
#[derive(Default)]
struct TokenSlot {
    /// Held across a token request, so concurrent callers wait for that one request.
    current: tokio::sync::Mutex<Option<CachedToken>>,
}

#[derive(Clone)]
struct CachedToken {
    secret: SecretString,
    expires_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Installation

/// The App acting as one installation. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Installation {
    pub id: u64,
    app: GitHubApp,
    slot: Arc<TokenSlot>,
}

impl fmt::Debug for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installation")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Installation {
    /// The current installation token (for `git fetch`/`git push` over https), from the cache.
    pub async fn token(&self) -> anyhow::Result<String> {
        Ok(self.secret().await?.expose_secret().to_string())
    }

    async fn secret(&self) -> anyhow::Result<SecretString> {
        let mut current = self.slot.current.lock().await;
        if let Some(t) = current.as_ref() {
            if t.expires_at - Utc::now() > TOKEN_REFRESH_MARGIN {
                return Ok(t.secret.clone());
            }
        }
        let fresh = self.app.mint_token(self.id).await?;
        let secret = fresh.secret.clone();
        *current = Some(fresh);
        Ok(secret)
    }

    /// Drop `stale` from the cache (GitHub refused it), unless another caller already did.
    async fn forget(&self, stale: &SecretString) {
        let mut current = self.slot.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.secret.expose_secret() == stale.expose_secret())
        {
            *current = None;
        }
    }

    /// The repositories this installation may access (`GET /installation/repositories`).
    pub async fn repositories(&self) -> anyhow::Result<Vec<RepoRef>> {
        #[derive(Deserialize)]
        struct Repo {
            name: String,
            owner: Login,
        }
        let action = format!("list the repositories of installation {}", self.id);
        let repos: Vec<Repo> = Caller::Inst(self)
            .get_all(action, "/installation/repositories", Some("repositories"))
            .await?;
        Ok(repos
            .into_iter()
            .map(|r| RepoRef {
                owner: r.owner.login,
                name: r.name,
            })
            .collect())
    }

    pub async fn pull(&self, repo: &RepoRef, number: u64) -> anyhow::Result<PullInfo> {
        let action = format!("get pull request #{number} of {repo}");
        let wire: PullWire = Caller::Inst(self)
            .get(action, &repo_route(repo, &format!("/pulls/{number}")))
            .await?;
        Ok(wire.into())
    }

    /// Every open pull request, all pages.
    pub async fn open_pulls(&self, repo: &RepoRef) -> anyhow::Result<Vec<PullInfo>> {
        let action = format!("list open pull requests of {repo}");
        let route = repo_route(repo, "/pulls?state=open");
        let wires: Vec<PullWire> = Caller::Inst(self).get_all(action, &route, None).await?;
        Ok(wires.into_iter().map(PullInfo::from).collect())
    }

    /// This App's check runs named `name` on commit `sha` (all of them, not only the latest).
    /// Runs of the same name by anyone else — another App, or a workflow's token — are left
    /// out (`app_id`), so they can neither be taken for ours nor be updated by us.
    pub async fn check_runs_for_ref(
        &self,
        repo: &RepoRef,
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
    pub async fn create_check_run(&self, repo: &RepoRef, run: &NewCheckRun) -> anyhow::Result<u64> {
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
        repo: &RepoRef,
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
        repo: &RepoRef,
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

    /// Comment on an issue or pull request; returns the comment's id.
    pub async fn comment(&self, repo: &RepoRef, issue: u64, body: &str) -> anyhow::Result<u64> {
        let action = format!("comment on #{issue} of {repo}");
        let route = repo_route(repo, &format!("/issues/{issue}/comments"));
        let body = json!({ "body": truncate_text(body, TEXT_LIMIT) });
        let created: Id = Caller::Inst(self).post(action, &route, &body).await?;
        Ok(created.id)
    }

    /// React to an issue comment: `+1`, `-1`, `laugh`, `confused`, `heart`, `hooray`, `rocket`
    /// or `eyes`.
    pub async fn react(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        content: &str,
    ) -> anyhow::Result<()> {
        const REACTIONS: [&str; 8] = [
            "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
        ];
        if !REACTIONS.contains(&content) {
            bail!(
                "{content:?} is not a GitHub reaction (one of {})",
                REACTIONS.join(", ")
            );
        }
        let action = format!("react {content} to comment {comment_id} in {repo}");
        let route = repo_route(repo, &format!("/issues/comments/{comment_id}/reactions"));
        let _: Value = Caller::Inst(self)
            .post(action, &route, &json!({ "content": content }))
            .await?;
        Ok(())
    }

    /// A user's permission on `repo`; a user GitHub does not know there is [`Permission::None`].
    pub async fn permission(&self, repo: &RepoRef, username: &str) -> anyhow::Result<Permission> {
        #[derive(Deserialize)]
        struct Wire {
            permission: String,
            role_name: Option<String>,
        }
        let action = format!("get the permission of {username:?} on {repo}");
        let route = repo_route(
            repo,
            &format!("/collaborators/{}/permission", encode(username)),
        );
        match Caller::Inst(self).get::<Wire>(action, &route).await {
            Ok(w) => Ok(Permission::from_github(
                &w.permission,
                w.role_name.as_deref(),
            )),
            Err(e) if GitHubError::of(&e).is_some_and(GitHubError::is_not_found) => {
                Ok(Permission::None)
            }
            Err(e) => Err(e),
        }
    }

    /// A file's text at `git_ref` (the default branch when `None`); `None` when it does not
    /// exist.
    pub async fn file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            encoding: Option<String>,
            #[serde(default)]
            content: Option<String>,
        }
        let at = git_ref.map(|r| format!(" at {r}")).unwrap_or_default();
        let action = format!("read {path}{at} in {repo}");
        let path_enc: Vec<String> = path.trim_matches('/').split('/').map(encode).collect();
        let mut route = repo_route(repo, &format!("/contents/{}", path_enc.join("/")));
        if let Some(r) = git_ref {
            route = format!("{route}?ref={}", encode(r));
        }
        let value: Value = match Caller::Inst(self).get(action.clone(), &route).await {
            Ok(v) => v,
            Err(e) if GitHubError::of(&e).is_some_and(GitHubError::is_not_found) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        if value.is_array() {
            bail!("{action}: it is a directory, not a file");
        }
        let wire: Wire = serde_json::from_value(value)
            .map_err(|e| Failure::decode(e).into_error(action.clone(), None))?;
        match (wire.kind.as_str(), wire.encoding.as_deref(), wire.content) {
            ("file", Some("base64"), Some(content)) => {
                let compact: String = content
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .with_context(|| format!("{action}: content is not valid base64"))?;
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("{action}: not UTF-8 text"))?;
                Ok(Some(text))
            }
            ("file", _, _) => bail!("{action}: file too large for the contents API (over 1 MB)"),
            (kind, _, _) => bail!("{action}: it is a {kind}, not a file"),
        }
    }

    /// Open a pull request; returns its number.
    pub async fn create_pull(
        &self,
        repo: &RepoRef,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> anyhow::Result<u64> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let action = format!("open a pull request {head} -> {base} in {repo}");
        let body = json!({
            "title": title,
            "head": head,
            "base": base,
            "body": truncate_text(body, TEXT_LIMIT),
        });
        let created: Created = Caller::Inst(self)
            .post(action, &repo_route(repo, "/pulls"), &body)
            .await?;
        Ok(created.number)
    }

    /// Add labels to an issue or pull request (nothing to do for none).
    pub async fn add_labels(
        &self,
        repo: &RepoRef,
        issue: u64,
        labels: &[String],
    ) -> anyhow::Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let action = format!("add labels {labels:?} to #{issue} of {repo}");
        let route = repo_route(repo, &format!("/issues/{issue}/labels"));
        let _: Value = Caller::Inst(self)
            .post(action, &route, &json!({ "labels": labels }))
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Transport

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
}

struct Reply {
    body: String,
    /// The next page's route (path and query), from the `Link` header.
    next: Option<String>,
}

/// One request through octocrab; routes are relative, so the base URI (with any path prefix
/// such as `/api/v3`) and the auth header are octocrab's.
async fn send(
    crab: &Octocrab,
    verb: Verb,
    route: &str,
    body: Option<&Value>,
) -> Result<Reply, Failure> {
    let res = match verb {
        Verb::Get => crab._get(route).await,
        Verb::Post => crab._post(route, body).await,
        Verb::Patch => crab._patch(route, body).await,
    }
    .map_err(Failure::from_octocrab)?;
    let res = octocrab::map_github_error(res)
        .await
        .map_err(Failure::from_octocrab)?;
    let next = res
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(next_link);
    let body = crab
        .body_to_string(res)
        .await
        .map_err(Failure::from_octocrab)?;
    Ok(Reply { body, next })
}

/// Who makes a call: the App (JWT) or an installation (its token, renewed once on a 401).
enum Caller<'a> {
    App(&'a GitHubApp),
    Inst(&'a Installation),
}

impl Caller<'_> {
    async fn send(
        &self,
        action: &str,
        verb: Verb,
        route: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let inst = match self {
            Caller::App(app) => {
                return send(&app.inner.crab, verb, route, body)
                    .await
                    .map_err(|f| f.into_error(action.to_string(), None));
            }
            Caller::Inst(inst) => inst,
        };
        let mut retried = false;
        loop {
            let secret = inst.secret().await?;
            let crab = inst
                .app
                .inner
                .crab
                .user_access_token(secret.clone())
                .context("building the installation client")?;
            match send(&crab, verb, route, body).await {
                Ok(reply) => return Ok(reply),
                // Revoked or expired early: forget it and try once with a fresh token.
                Err(f) if f.status == Some(401) && !retried => {
                    inst.forget(&secret).await;
                    retried = true;
                }
                Err(f) => {
                    return Err(f.into_error(action.to_string(), Some(secret.expose_secret())))
                }
            }
        }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        action: String,
        verb: Verb,
        route: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let reply = self.send(&action, verb, route, body).await?;
        serde_json::from_str(&reply.body).map_err(|e| Failure::decode(e).into_error(action, None))
    }

    async fn get<T: DeserializeOwned>(&self, action: String, route: &str) -> anyhow::Result<T> {
        self.send_json(action, Verb::Get, route, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        action: String,
        route: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        self.send_json(action, Verb::Post, route, Some(body)).await
    }

    /// Every item of a listing, following `Link: rel="next"`. The items are the body itself,
    /// or the array under `key`.
    async fn get_all<T: DeserializeOwned>(
        &self,
        action: impl Into<String>,
        route: &str,
        key: Option<&str>,
    ) -> anyhow::Result<Vec<T>> {
        let action = action.into();
        let sep = if route.contains('?') { '&' } else { '?' };
        let mut route = format!("{route}{sep}{PER_PAGE}");
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let reply = self.send(&action, Verb::Get, &route, None).await?;
            let mut page: Value = serde_json::from_str(&reply.body)
                .map_err(|e| Failure::decode(e).into_error(action.clone(), None))?;
            if let Some(key) = key {
                page = page.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            }
            let page: Vec<T> = serde_json::from_value(page)
                .map_err(|e| Failure::decode(e).into_error(action.clone(), None))?;
            items.extend(page);
            match reply.next {
                Some(next) => route = next,
                None => return Ok(items),
            }
        }
        bail!("{action}: more than {MAX_PAGES} pages")
    }
}

/// The path and query of the `rel="next"` link. Made relative, because octocrab sends its auth
/// header only with relative routes (or to api.github.com), and a relative route can only go
/// to the API base.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = match url.find("://") {
            Some(i) => &url[i + 3..][url[i + 3..].find('/')?..],
            None => url,
        };
        path.starts_with('/').then(|| path.to_string())
    })
}

fn repo_route(repo: &RepoRef, rest: &str) -> String {
    format!(
        "/repos/{}/{}{rest}",
        encode(&repo.owner),
        encode(&repo.name)
    )
}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

// ---------------------------------------------------------------------------------------------
// Values

/// A user's permission on a repository, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    None,
}

impl Permission {
    /// Admin, maintain and write may push, and so may ask patchgate to roll back.
    pub fn can_write(self) -> bool {
        matches!(
            self,
            Permission::Admin | Permission::Maintain | Permission::Write
        )
    }

    /// GitHub's `permission` folds maintain into write and triage into read; `role_name` says
    /// which (or names a custom role, in which case `permission` is the base it grants).
    fn from_github(permission: &str, role_name: Option<&str>) -> Permission {
        let parse = |s: &str| match s {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" | "push" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" | "pull" => Some(Permission::Read),
            "none" => Some(Permission::None),
            _ => None,
        };
        let base = parse(permission).unwrap_or(Permission::None);
        match role_name.and_then(parse) {
            // A role that agrees with the base permission refines it; one that does not is
            // ignored (the base is what GitHub enforces).
            Some(role) if role.can_write() == base.can_write() => role,
            _ => base,
        }
    }
}

/// A pull request, as patchgate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The base repository's clone URL.
    pub clone_url: String,
    pub html_url: String,
    pub user_login: String,
    pub labels: Vec<String>,
}

#[derive(Deserialize)]
struct PullWire {
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    draft: Option<bool>,
    /// Absent from listings (`pull-request-simple`): then `merged_at` says it.
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: BranchWire,
    base: BranchWire,
    html_url: String,
    user: Option<Login>,
    #[serde(default)]
    labels: Vec<LabelWire>,
}

#[derive(Deserialize)]
struct BranchWire {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    repo: Option<RepoWire>,
}

#[derive(Deserialize)]
struct RepoWire {
    clone_url: String,
}

#[derive(Deserialize)]
struct LabelWire {
    name: String,
}

impl From<PullWire> for PullInfo {
    fn from(w: PullWire) -> PullInfo {
        PullInfo {
            number: w.number,
            title: w.title,
            body: w.body,
            state: w.state,
            draft: w.draft.unwrap_or(false),
            merged: w.merged.unwrap_or(w.merged_at.is_some()),
            merge_commit_sha: w.merge_commit_sha,
            head_sha: w.head.sha,
            head_ref: w.head.git_ref,
            base_ref: w.base.git_ref,
            base_sha: w.base.sha,
            clone_url: w.base.repo.map(|r| r.clone_url).unwrap_or_default(),
            html_url: w.html_url,
            user_login: w.user.map(|u| u.login).unwrap_or_default(),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
        }
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

/// `s` cut to at most `limit` bytes (so also at most `limit` characters), on a character
/// boundary, ending with a visible marker when cut.
pub fn truncate_text(s: &str, limit: usize) -> String {
    const MARKER: &str = "\n\n… (truncated)";
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit.saturating_sub(MARKER.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARKER}", &s[..end])
}

/// `s` cut to at most `limit` characters (for short fields: titles, labels).
fn truncate_chars(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The App's webhook deliveries (automatic redelivery, `crate::server::redeliver`)

/// One delivery of the App's webhook, as `GET /app/hook/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    /// The delivery's own id (what a redelivery request names).
    pub id: u64,
    /// The event's id, shared by the original delivery and every redelivery of it: the
    /// `X-GitHub-Delivery` header patchgate's intake dedupes on.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    /// Whether this delivery is a redelivery (asked for through the API or the App's settings).
    pub redelivery: bool,
    /// The HTTP status patchgate answered with (`0`: no answer, e.g. it could not connect).
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
}

impl HookDelivery {
    /// Whether patchgate accepted this delivery (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

impl GitHubApp {
    /// The App's webhook deliveries from `since` on (`GET /app/hook/deliveries`, App JWT),
    /// newest first. GitHub lists newest first with cursor pagination (`Link: rel="next"`), so
    /// paging stops at the first page that reaches back past `since`; older items are dropped.
    /// At most 100 pages (10,000 deliveries) are read: the flag is `true` when the listing was
    /// cut there, before reaching `since` (the newest deliveries are the ones returned).
    pub async fn hook_deliveries_since(
        &self,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<HookDelivery>, bool)> {
        #[derive(Deserialize)]
        struct Item {
            id: u64,
            guid: String,
            delivered_at: String,
            redelivery: bool,
            status_code: Option<i64>,
            event: String,
            action: Option<String>,
        }
        let action = "list the App's webhook deliveries";
        let mut route = format!("/app/hook/deliveries?{PER_PAGE}");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let reply = Caller::App(self)
                .send(action, Verb::Get, &route, None)
                .await?;
            let page: Vec<Item> = serde_json::from_str(&reply.body)
                .map_err(|e| Failure::decode(e).into_error(action.to_string(), None))?;
            let mut reached_since = page.is_empty();
            for item in page {
                let delivered_at = DateTime::parse_from_rfc3339(&item.delivered_at)
                    .map_err(|_| {
                        Failure::permanent("malformed delivered_at in a webhook delivery")
                            .into_error(action.to_string(), None)
                    })?
                    .with_timezone(&Utc);
                if delivered_at < since {
                    reached_since = true;
                    continue;
                }
                out.push(HookDelivery {
                    id: item.id,
                    guid: item.guid,
                    delivered_at,
                    redelivery: item.redelivery,
                    // GitHub reports 0 when it got no answer; anything outside u16 is no answer.
                    status_code: item
                        .status_code
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(0),
                    event: item.event,
                    action: item.action,
                });
            }
            match reply.next {
                Some(next) if !reached_since => route = next,
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }

    /// Ask GitHub to deliver delivery `delivery_id` again
    /// (`POST /app/hook/deliveries/{delivery_id}/attempts`, App JWT; GitHub answers `202` and
    /// delivers it with the same `X-GitHub-Delivery` guid and `redelivery: true`).
    pub async fn redeliver_hook_delivery(&self, delivery_id: u64) -> anyhow::Result<()> {
        let action = format!("redeliver webhook delivery {delivery_id}");
        let route = format!("/app/hook/deliveries/{delivery_id}/attempts");
        Caller::App(self)
            .send(&action, Verb::Post, &route, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ref_parses_and_refuses_bad_names() {
        let r = RepoRef::parse("octo-org/hello.world_1").unwrap();
        assert_eq!(
            (r.owner.as_str(), r.name.as_str()),
            ("octo-org", "hello.world_1")
        );
        assert_eq!(r.to_string(), "octo-org/hello.world_1");
        assert_eq!(RepoRef::parse(".github/.github").unwrap().name, ".github");
        for bad in [
            "o", "o/", "/n", "o/n/x", "../n", "o/..", "o/.", "o n/r", "o/r%2F", "ö/r",
        ] {
            assert!(RepoRef::parse(bad).is_err(), "{bad} accepted");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"octo-org/hello.world_1\"");
        assert_eq!(serde_json::from_str::<RepoRef>(&json).unwrap(), r);
        assert!(serde_json::from_str::<RepoRef>("\"a/../b\"").is_err());
    }

    #[test]
    fn permission_mapping() {
        use Permission as P;
        assert_eq!(P::from_github("admin", Some("admin")), P::Admin);
        assert_eq!(P::from_github("write", Some("maintain")), P::Maintain);
        assert_eq!(P::from_github("write", Some("write")), P::Write);
        assert_eq!(P::from_github("write", None), P::Write);
        assert_eq!(P::from_github("read", Some("triage")), P::Triage);
        assert_eq!(P::from_github("read", Some("read")), P::Read);
        assert_eq!(P::from_github("none", None), P::None);
        // A custom role: the base permission decides.
        assert_eq!(P::from_github("write", Some("security-manager")), P::Write);
        // A role that claims more than the base is not believed.
        assert_eq!(P::from_github("read", Some("admin")), P::Read);
        assert_eq!(P::from_github("bogus", None), P::None);
        assert!(P::Admin.can_write() && P::Maintain.can_write() && P::Write.can_write());
        assert!(!P::Triage.can_write() && !P::Read.can_write() && !P::None.can_write());
    }

    #[test]
    fn next_link_is_made_relative() {
        let h = r#"<https://ghe.example/api/v3/repos/o/r/pulls?state=open&per_page=100&page=2>; rel="next", <https://ghe.example/api/v3/repos/o/r/pulls?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("/api/v3/repos/o/r/pulls?state=open&per_page=100&page=2")
        );
        let h = r#"<http://127.0.0.1:9/x?page=1>; rel="prev", <http://127.0.0.1:9/x?page=3>; rel="next""#;
        assert_eq!(next_link(h).as_deref(), Some("/x?page=3"));
        assert_eq!(next_link(r#"<https://a/x?page=1>; rel="first""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn truncation_is_visible_and_within_the_limit() {
        let long = "é".repeat(40_000); // 80,000 bytes
        let t = truncate_text(&long, TEXT_LIMIT);
        assert!(t.len() <= TEXT_LIMIT && t.ends_with("(truncated)"));
        assert_eq!(truncate_text("short", TEXT_LIMIT), "short");
        assert_eq!(truncate_chars("abcdéfgh", 5), "abcdé");
        assert_eq!(truncate_chars("abc", 5), "abc");
    }

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

    #[test]
    fn credentials_errors_are_clear_and_debug_redacts() {
        let e = AppCredentials::new(
            "abc",
            "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("not a positive number"), "{e:#}");
        let e = AppCredentials::new("12", "/nonexistent/key.pem").unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot read the GitHub App private key file"),
            "{e:#}"
        );
        let e = AppCredentials::new(
            "12",
            "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("not an RSA private key"), "{e:#}");
    }

    #[test]
    fn github_error_display_and_lookup() {
        let e = Failure {
            status: Some(422),
            message: "Validation Failed".into(),
            transient: false,
        }
        .into_error("create check run on o/r".into(), None)
        .context("job 7");
        let g = GitHubError::of(&e).unwrap();
        assert_eq!(g.status, Some(422));
        assert!(!is_transient(&e));
        assert_eq!(
            format!("{e:#}"),
            "job 7: GitHub: create check run on o/r: HTTP 422: Validation Failed"
        );
        let e = Failure {
            status: None,
            message: "token ghs_x leaked".into(),
            transient: true,
        }
        .into_error("x".into(), Some("ghs_x"));
        assert!(is_transient(&e) && !format!("{e:#}").contains("ghs_x"));
    }
}
