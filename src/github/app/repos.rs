//! An installation's repositories: which it may access, a user's permission on one, and a
//! file's text at a commit.

use anyhow::{bail, Context as _};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Installation;
use super::error::{Failure, GitHubError};
use super::http::{encode, repo_route, Caller, Login};
use super::RepoName;

impl Installation {
    /// The repositories this installation may access (`GET /installation/repositories`).
    pub async fn repositories(&self) -> anyhow::Result<Vec<RepoName>> {
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
            .map(|r| RepoName {
                owner: r.owner.login,
                name: r.name,
            })
            .collect())
    }

    /// A user's permission on `repo`; a user GitHub does not know there is [`Permission::None`].
    pub async fn permission(&self, repo: &RepoName, username: &str) -> anyhow::Result<Permission> {
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
        repo: &RepoName,
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
}

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

    /// The `permissions` object GitHub returns with a repository for the user whose token
    /// asked (`{admin, maintain, push, triage, pull}`): the strongest that is true.
    pub fn from_repo_permissions(p: &serde_json::Value) -> Permission {
        let has = |k: &str| p.get(k).and_then(serde_json::Value::as_bool) == Some(true);
        if has("admin") {
            Permission::Admin
        } else if has("maintain") {
            Permission::Maintain
        } else if has("push") {
            Permission::Write
        } else if has("triage") {
            Permission::Triage
        } else if has("pull") {
            Permission::Read
        } else {
            Permission::None
        }
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
#[cfg(test)]
mod tests {
    use super::*;

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
        let repo = |v| P::from_repo_permissions(&v);
        use serde_json::json;
        assert_eq!(
            repo(json!({"admin": true, "push": true, "pull": true})),
            P::Admin
        );
        assert_eq!(repo(json!({"admin": false, "maintain": true})), P::Maintain);
        assert_eq!(repo(json!({"push": true, "pull": true})), P::Write);
        assert_eq!(repo(json!({"triage": true})), P::Triage);
        assert_eq!(repo(json!({"pull": true})), P::Read);
        assert_eq!(repo(json!({"pull": false})), P::None);
        assert_eq!(repo(json!(null)), P::None);
    }
}
