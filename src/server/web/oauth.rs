//! Signing in with GitHub (the App's own OAuth client, the web application flow) and asking
//! GitHub, with the user's token, what the user may read: `GET /login/oauth/authorize` (the
//! browser goes there), `POST /login/oauth/access_token`, `GET /user`, and
//! `GET /repos/{owner}/{repo}` (its `permissions`: 404 when the user cannot read it).
//!
//! No token or secret is ever put into an error, a log or a page.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::github::app::Permission;

/// How long one call to GitHub may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The OAuth client: the App's client id and secret, GitHub's web and API addresses, and the
/// web view's own public address (for the callback).
#[derive(Clone)]
pub struct OAuth {
    pub client_id: String,
    pub client_secret: String,
    /// `https://github.com` (GitHub Enterprise: its own).
    pub web_url: String,
    /// `https://api.github.com`.
    pub api_url: String,
    /// Where people reach `serve`, e.g. `https://patchgate.example.org`.
    pub public_url: String,
    http: reqwest::Client,
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl OAuth {
    pub fn new(
        client_id: String,
        client_secret: String,
        web_url: &str,
        api_url: &str,
        public_url: &str,
    ) -> Result<OAuth> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("patchgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the OAuth HTTP client")?;
        Ok(OAuth {
            client_id,
            client_secret,
            web_url: web_url.trim_end_matches('/').to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
            public_url: public_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The callback URL to register with the App (`app.yml`'s `callback_urls`).
    pub fn callback_url(&self) -> String {
        format!("{}/ui/oauth/callback", self.public_url)
    }

    /// Whether the web view is served over HTTPS (cookies are then `Secure`).
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Where to send the browser to sign in.
    pub fn authorize_url(&self, state: &str) -> String {
        format!(
            "{}/login/oauth/authorize?client_id={}&redirect_uri={}&state={}",
            self.web_url,
            percent(&self.client_id),
            percent(&self.callback_url()),
            percent(state)
        )
    }

    /// Trade the callback's `code` for the user's token.
    pub async fn exchange(&self, code: &str) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "client_id={}&client_secret={}&code={}&redirect_uri={}",
                percent(&self.client_id),
                percent(&self.client_secret),
                percent(code),
                percent(&self.callback_url())
            ))
            .send()
            .await
            .context("asking GitHub for the sign-in token")?;
        let status = resp.status();
        let a: TokenAnswer = resp
            .json()
            .await
            .with_context(|| format!("GitHub's token answer ({status}) is not JSON"))?;
        match (a.access_token, a.error) {
            (Some(t), None) if !t.is_empty() => Ok(t),
            (_, Some(e)) => bail!(
                "GitHub refused the sign-in: {e}{}",
                a.error_description
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            _ => bail!("GitHub's token answer ({status}) has no access_token"),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Result<Option<serde_json::Value>> {
        let resp = self
            .http
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        match resp.status().as_u16() {
            200 => Ok(Some(
                resp.json().await.with_context(|| format!("GET {path}"))?,
            )),
            403 | 404 => Ok(None),
            s => bail!("GET {path}: GitHub answered {s}"),
        }
    }

    /// The signed-in user's login.
    pub async fn login(&self, token: &str) -> Result<String> {
        let user = self
            .get(token, "/user")
            .await?
            .context("GET /user: the token was refused")?;
        user.get("login")
            .and_then(|l| l.as_str())
            .map(str::to_string)
            .context("GET /user: no login")
    }

    /// The user's permission on `repo` (`None` for a repository they cannot read: GitHub
    /// answers 404).
    pub async fn permission(&self, token: &str, repo: &str) -> Result<Permission> {
        let Some((owner, name)) = repo.split_once('/') else {
            bail!("`{repo}` is not owner/name");
        };
        let path = format!("/repos/{}/{}", percent(owner), percent(name));
        Ok(match self.get(token, &path).await? {
            Some(r) => Permission::from_repo_permissions(&r["permissions"]),
            None => Permission::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_carries_the_client_the_callback_and_the_state() {
        let o = OAuth::new(
            "Iv1.abc".into(),
            "secret".into(),
            "https://github.com/",
            "https://api.github.com",
            "https://pg.example.org/",
        )
        .unwrap();
        assert_eq!(o.callback_url(), "https://pg.example.org/ui/oauth/callback");
        let u = o.authorize_url("s t");
        assert!(u.starts_with("https://github.com/login/oauth/authorize?client_id=Iv1.abc&"));
        assert!(u.contains("redirect_uri=https%3A%2F%2Fpg.example.org%2Fui%2Foauth%2Fcallback"));
        assert!(u.ends_with("state=s%20t"));
        assert!(!u.contains("secret"));
        assert!(o.secure());
    }
}
