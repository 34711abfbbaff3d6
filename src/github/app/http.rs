//! One request through octocrab (routes relative to the API base, so a token never goes to
//! another host), the installation token renewed once on a 401, `Link` pagination, and routes.

use anyhow::{bail, Context as _};
use octocrab::secrecy::ExposeSecret as _;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument as _;

use super::auth::{GitHubApp, Installation};
use super::error::Failure;
use super::RepoName;

/// A listing stops after this many pages (10,000 items), whatever the `Link` header says.
pub(super) const MAX_PAGES: usize = 100;
pub(super) const PER_PAGE: &str = "per_page=100";

#[derive(Clone, Copy)]
pub(super) enum Verb {
    Get,
    Post,
    Patch,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
        }
    }
}

pub(super) struct Reply {
    pub(super) body: String,
    /// The next page's route (path and query), from the `Link` header.
    pub(super) next: Option<String>,
}

/// One request through octocrab; routes are relative, so the base URI (with any path prefix
/// such as `/api/v3`) and the auth header are octocrab's. Each request is a `GitHub <METHOD>`
/// span (method, the route's path without its query, the answer's status; never a header).
pub(super) async fn send(
    crab: &Octocrab,
    verb: Verb,
    route: &str,
    body: Option<&Value>,
) -> Result<Reply, Failure> {
    let span = tracing::info_span!(
        "github",
        otel.name = %format!("GitHub {}", verb.as_str()),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = verb.as_str(),
        url.path = route.split('?').next().unwrap_or(route),
        http.response.status_code = tracing::field::Empty,
    );
    let sent = send_one(crab, verb, route, body)
        .instrument(span.clone())
        .await;
    let status = match &sent {
        Ok((status, _)) => Some(*status),
        Err(f) => f.status,
    };
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if sent.is_err() {
        span.record("otel.status_code", "error");
    }
    sent.map(|(_, reply)| reply)
}

async fn send_one(
    crab: &Octocrab,
    verb: Verb,
    route: &str,
    body: Option<&Value>,
) -> Result<(u16, Reply), Failure> {
    let res = match verb {
        Verb::Get => crab._get(route).await,
        Verb::Post => crab._post(route, body).await,
        Verb::Patch => crab._patch(route, body).await,
    }
    .map_err(Failure::from_octocrab)?;
    let res = octocrab::map_github_error(res)
        .await
        .map_err(Failure::from_octocrab)?;
    let status = res.status().as_u16();
    let next = res
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(next_link);
    let body = crab
        .body_to_string(res)
        .await
        .map_err(Failure::from_octocrab)?;
    Ok((status, Reply { body, next }))
}

/// Who makes a call: the App (JWT) or an installation (its token, renewed once on a 401).
pub(super) enum Caller<'a> {
    App(&'a GitHubApp),
    Inst(&'a Installation),
}

impl Caller<'_> {
    pub(super) async fn send(
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

    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        action: String,
        verb: Verb,
        route: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let reply = self.send(&action, verb, route, body).await?;
        serde_json::from_str(&reply.body).map_err(|e| Failure::decode(e).into_error(action, None))
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        action: String,
        route: &str,
    ) -> anyhow::Result<T> {
        self.send_json(action, Verb::Get, route, None).await
    }

    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        action: String,
        route: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        self.send_json(action, Verb::Post, route, Some(body)).await
    }

    /// Every item of a listing, following `Link: rel="next"`. The items are the body itself,
    /// or the array under `key`.
    pub(super) async fn get_all<T: DeserializeOwned>(
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

pub(super) fn repo_route(repo: &RepoName, rest: &str) -> String {
    format!(
        "/repos/{}/{}{rest}",
        encode(&repo.owner),
        encode(&repo.name)
    )
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub(super) fn encode(s: &str) -> String {
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
pub(super) struct Id {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct Login {
    pub(super) login: String,
}
#[cfg(test)]
mod tests {
    use super::*;

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
}
