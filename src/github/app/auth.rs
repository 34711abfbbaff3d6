//! The App's identity: its credentials, JWT-authenticated calls, and one installation's token,
//! cached until five minutes before it expires and shared by concurrent callers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use octocrab::models::AppId;
use octocrab::secrecy::{ExposeSecret as _, SecretString};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::json;

use super::error::Failure;
use super::http::{repo_route, send, Caller, Verb};
use super::RepoName;

/// A token is renewed this long before GitHub says it expires.
const TOKEN_REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

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
    pub(super) inner: Arc<AppInner>,
}

pub(super) struct AppInner {
    app_id: u64,
    api_base: String,
    /// Authenticated as the App (a fresh JWT per request). Never formatted: its Debug leaks.
    pub(super) crab: Octocrab,
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
    pub async fn repo_installation(&self, repo: &RepoName) -> anyhow::Result<u64> {
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

/// The App acting as one installation. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Installation {
    pub id: u64,
    pub(super) app: GitHubApp,
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

    pub(super) async fn secret(&self) -> anyhow::Result<SecretString> {
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
    pub(super) async fn forget(&self, stale: &SecretString) {
        let mut current = self.slot.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.secret.expose_secret() == stale.expose_secret())
        {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
