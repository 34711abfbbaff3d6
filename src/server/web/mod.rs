//! The web view (`/ui`): decisions newest first (filter by repository, PR, verdict, path;
//! paged), each record as a page (the same page as `patchgate report --html`), rollbacks with
//! the policy events that triggered them, the queue with a requeue action, and today's model
//! spend against the cap. Server-rendered HTML (`crate::view`), usable without JavaScript.
//!
//! Nothing is public: every page needs a GitHub sign-in (the App's OAuth client, [`oauth`]),
//! and shows only repositories the user can read, asked of GitHub with the user's token and
//! remembered for [`session::PERMISSION_TTL`]. A repository the user cannot read does not
//! exist for them: its URLs answer 404, never 403. Operator actions are decided by
//! [`crate::server::app::permitted`], the same rule as the comment commands; a maintainer's
//! vote from a record page ([`vote`]) is cast by the App's handler through the very code of
//! `/patchgate approve|block`. Every form carries the session's CSRF token and a POST without
//! it changes nothing; the sign-in and the token are checked by the handlers' extractors
//! ([`signin`]). A record page checks the record's signature (the signature notes in the
//! repository's mirror, against [`WebState::allowed_signers`]) and shows the explanation texts
//! kept beside it (in the store, else the texts notes in the mirror), each checked against its
//! recorded hash.

pub mod oauth;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tracing::warn;

use crate::audit::spend::SpendStore;
use crate::config::Permission;
use crate::github::mirror::Mirrors;
use crate::meta::texts::{ExplanationTexts, FoundTexts};
use crate::server::app::{messages, permitted, WebVotes};
use crate::store::decisions::DecisionQuery;
use crate::store::Store;
use crate::view::pages::{
    DecisionItem, DecisionsPage, Filters, Frame, JobItem, MessagePage, QueuePage, RecordPage,
    RollbackItem, RollbacksPage,
};
use crate::view::record::{RecordView, Signature};

use oauth::OAuth;
use session::Sessions;

/// The web view's sign-in settings (see [`crate::server::ServeSecrets::web`]).
pub struct WebSecrets {
    pub client_id: String,
    pub client_secret: String,
    pub public_url: String,
    pub web_url: String,
}

/// GitHub's web address (where people sign in).
pub const DEFAULT_WEB_URL: &str = "https://github.com";

/// Read from the environment; `None` when the OAuth client is not configured.
pub fn secrets_from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<WebSecrets>> {
    let (id, secret) = match (
        get("PATCHGATE_OAUTH_CLIENT_ID"),
        get("PATCHGATE_OAUTH_CLIENT_SECRET"),
    ) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        (Some(_), None) => {
            bail!("PATCHGATE_OAUTH_CLIENT_ID is set but PATCHGATE_OAUTH_CLIENT_SECRET is not")
        }
        (None, Some(_)) => {
            bail!("PATCHGATE_OAUTH_CLIENT_SECRET is set but PATCHGATE_OAUTH_CLIENT_ID is not")
        }
    };
    let public_url = get("PATCHGATE_PUBLIC_URL").context(
        "PATCHGATE_OAUTH_CLIENT_ID is set but PATCHGATE_PUBLIC_URL is not: the web view needs the \
         address people reach it at (its sign-in callback is <PATCHGATE_PUBLIC_URL>/ui/oauth/callback)",
    )?;
    let web_url = get("PATCHGATE_GITHUB_WEB_URL").unwrap_or_else(|| DEFAULT_WEB_URL.into());
    for (name, url) in [
        ("PATCHGATE_PUBLIC_URL", &public_url),
        ("PATCHGATE_GITHUB_WEB_URL", &web_url),
    ] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            bail!("{name} must be an http:// or https:// address, got `{url}`");
        }
    }
    Ok(Some(WebSecrets {
        client_id: id,
        client_secret: secret,
        public_url,
        web_url,
    }))
}

/// The keys a record page checks signatures against: `PATCHGATE_ALLOWED_SIGNERS` (an
/// `allowed_signers` text, or the path of its file), else the public half of the deployment's
/// own signing key (`PATCHGATE_SIGNING_KEY`), else none. A setting that holds no key stops
/// `serve` here, with the reason.
pub fn allowed_signers(
    get: &dyn Fn(&str) -> Option<String>,
    signing_key: Option<&crate::meta::sshsig::SigningKey>,
) -> Result<Option<String>> {
    let Some(v) = get(ALLOWED_SIGNERS_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(signing_key.map(|k| format!("patchgate {}\n", k.public().to_openssh())));
    };
    let text = if v.contains("ssh-") {
        v
    } else {
        std::fs::read_to_string(v.trim())
            .with_context(|| format!("{ALLOWED_SIGNERS_VAR}: reading {}", v.trim()))?
    };
    crate::meta::sshsig::allowed_keys(&text)
        .map_err(|e| anyhow::anyhow!("{ALLOWED_SIGNERS_VAR}: {e}"))?;
    Ok(Some(text))
}

/// The variable naming the keys record signatures are checked against.
pub const ALLOWED_SIGNERS_VAR: &str = "PATCHGATE_ALLOWED_SIGNERS";

/// Decisions per page.
pub const PAGE: u32 = 50;
/// Commits of the signature (and texts) notes' history a record page looks through for its
/// record's signature (and texts).
const NOTES_HISTORY: usize = 1000;
/// Jobs listed on the queue page.
const QUEUE_ROWS: i64 = 200;

/// What the web view needs.
pub struct WebState {
    pub store: Store,
    pub oauth: OAuth,
    pub sessions: Sessions,
    /// The daily model budget (`budget.daily_usd`).
    pub daily_cap_usd: f64,
    /// The App's handler, which casts votes (`None`: this process runs without the App).
    pub votes: Option<Arc<dyn WebVotes>>,
    /// The repositories' mirrors: their notes hold the records' signatures.
    pub mirrors: Arc<Mirrors>,
    /// The keys a record's signature is checked against (an `allowed_signers` text;
    /// `None`: signatures are shown as present, not checked).
    pub allowed_signers: Option<String>,
}

/// The `/ui` routes.
pub fn web_routes(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/decisions") }))
        .route("/ui/login", get(login))
        .route("/ui/oauth/callback", get(callback))
        .route("/ui/logout", post(logout))
        .route("/ui/decisions", get(decisions))
        .route("/ui/decisions/{seq}", get(record))
        .route("/ui/decisions/{seq}/vote", post(vote::vote))
        .route("/ui/queue", get(queue))
        .route("/ui/queue/{id}/requeue", post(requeue))
        .route("/ui/rollbacks", get(rollbacks))
        .with_state(state)
}

fn html(status: StatusCode, page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            warn!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

fn message(status: StatusCode, frame: Frame, title: &str, text: &str, sign_in: bool) -> Response {
    html(
        status,
        MessagePage {
            frame,
            title: title.into(),
            text: text.into(),
            sign_in,
        }
        .render(),
    )
}

fn nobody() -> Frame {
    Frame {
        login: String::new(),
        csrf: String::new(),
        spend: String::new(),
    }
}

fn sign_in_first() -> Response {
    message(
        StatusCode::UNAUTHORIZED,
        nobody(),
        messages::WEB_SIGN_IN_TITLE,
        messages::WEB_SIGN_IN,
        true,
    )
}

fn not_found(frame: Frame) -> Response {
    message(
        StatusCode::NOT_FOUND,
        frame,
        messages::WEB_NOT_FOUND_TITLE,
        messages::WEB_NOT_FOUND,
        false,
    )
}

fn failed(frame: Frame, e: impl std::fmt::Display) -> Response {
    warn!(error = %e, "web view");
    message(
        StatusCode::BAD_GATEWAY,
        frame,
        messages::WEB_FAILED_TITLE,
        messages::WEB_FAILED,
        false,
    )
}

impl WebState {
    async fn frame(&self, r: &Reader) -> Frame {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let spend = match self.store.spent(&today).await {
            Ok(usd) => format!("${usd:.2} of ${:.2}", self.daily_cap_usd),
            Err(_) => "unknown".into(),
        };
        Frame {
            login: r.s.login.clone(),
            csrf: r.s.csrf.clone(),
            spend,
        }
    }

    /// The reader's level on `repo` (`None`: cannot read it), from the session's memory or
    /// GitHub.
    async fn level(&self, r: &Reader, repo: &str) -> anyhow::Result<Option<Permission>> {
        if let Some((level, at)) = r.s.repos.get(repo) {
            if at.elapsed() < session::PERMISSION_TTL {
                return Ok(*level);
            }
        }
        let perm = self.oauth.permission(&r.s.token, repo).await?;
        let level = permitted(perm, Permission::Read).ok();
        self.sessions.remember(&r.id, repo, level);
        Ok(level)
    }

    /// What the signature notes in `repo`'s mirror say of the record `yaml` of `head`
    /// (every signature the head has carried, so an earlier record of a re-gated head finds
    /// its own). Not checked when this process has no mirror of the repository.
    async fn signature(&self, repo: &str, head: &str, yaml: &str) -> Signature {
        let Ok(name) = repo.parse::<crate::webhook::RepoName>() else {
            return Signature::NotChecked;
        };
        let path = self.mirrors.path(&name);
        let (head, yaml, allowed) = (
            head.to_string(),
            yaml.to_string(),
            self.allowed_signers.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            let git = git2::Repository::open(&path).ok()?;
            let oid = git2::Oid::from_str(&head).ok()?;
            Some(
                match crate::meta::notes::signature_history(&git, oid, NOTES_HISTORY) {
                    Ok(sigs) => Signature::of(&sigs, &yaml, allowed.as_deref()),
                    Err(e) => {
                        Signature::Invalid(format!("the signature notes could not be read: {e}"))
                    }
                },
            )
        })
        .await;
        found.ok().flatten().unwrap_or(Signature::NotChecked)
    }

    /// The explanation texts of the record `record_hash` of `head` noted in `repo`'s mirror
    /// (`refs/notes/patchgate-texts`), for a record the store keeps none for: nothing when none
    /// is noted or there is no mirror of the repository, else what `ExplanationTexts::pick`
    /// found.
    async fn noted_texts(&self, repo: &str, head: &str, record_hash: Option<&str>) -> FoundTexts {
        let Ok(name) = repo.parse::<crate::webhook::RepoName>() else {
            return FoundTexts::default();
        };
        let path = self.mirrors.path(&name);
        let (head, hash) = (head.to_string(), record_hash.map(str::to_string));
        let found = tokio::task::spawn_blocking(move || {
            let git = git2::Repository::open(&path).ok()?;
            let oid = git2::Oid::from_str(&head).ok()?;
            Some(
                match crate::meta::notes::texts_history(&git, oid, NOTES_HISTORY) {
                    Ok(noted) => ExplanationTexts::pick(&noted, hash.as_deref()),
                    Err(e) => FoundTexts::problem(format!(
                        "the explanation texts notes could not be read: {e}"
                    )),
                },
            )
        })
        .await;
        found.ok().flatten().unwrap_or_default()
    }

    /// Those of `repos` the reader can read.
    async fn readable(&self, r: &Reader, repos: Vec<String>) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for repo in repos {
            if self.level(r, &repo).await?.is_some() {
                out.push(repo);
            }
        }
        Ok(out)
    }
}

async fn login(State(st): State<Arc<WebState>>) -> Response {
    let state = st.sessions.new_state();
    let cookie = session::set_cookie(
        session::STATE_COOKIE,
        &st.sessions.sign(&state),
        600,
        st.oauth.secure(),
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&st.oauth.authorize_url(&state)),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(st): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let expected = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| session::cookie(c, session::STATE_COOKIE))
        .and_then(|c| st.sessions.unsign(c).map(str::to_string));
    let state_ok = matches!((&expected, &q.state), (Some(e), Some(s)) if session::same(e, s));
    let (Some(code), true, None) = (q.code.as_deref(), state_ok, q.error.as_deref()) else {
        return message(
            StatusCode::BAD_REQUEST,
            nobody(),
            messages::WEB_SIGN_IN_TITLE,
            messages::WEB_SIGN_IN_FAILED,
            true,
        );
    };
    let token = match st.oauth.exchange(code).await {
        Ok(t) => t,
        Err(e) => return failed(nobody(), e),
    };
    let login = match st.oauth.login(&token).await {
        Ok(l) => l,
        Err(e) => return failed(nobody(), e),
    };
    let cookie = st.sessions.start(login, token);
    let secure = st.oauth.secure();
    let mut resp = Redirect::to("/ui/decisions").into_response();
    let h = resp.headers_mut();
    for c in [
        session::set_cookie(
            session::COOKIE,
            &cookie,
            session::SESSION_TTL.as_secs(),
            secure,
        ),
        session::set_cookie(session::STATE_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = c.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

async fn logout(
    State(st): State<Arc<WebState>>,
    headers: HeaderMap,
    _: Signed<CsrfForm>,
) -> Response {
    if let Some(c) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| session::cookie(c, session::COOKIE))
    {
        st.sessions.end(c);
    }
    let cookie = session::set_cookie(session::COOKIE, "", 0, st.oauth.secure());
    let mut resp = message(
        StatusCode::OK,
        nobody(),
        messages::WEB_SIGNED_OUT_TITLE,
        messages::WEB_SIGNED_OUT,
        true,
    );
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

mod pages;
mod signin;
mod vote;
use pages::{decisions, queue, record, requeue, rollbacks};
use signin::{CarriesCsrf, CsrfForm, Reader, Signed};
