//! Render-B links and repository clone URLs.
//!
//! Render-B links: which second rendering a pull request is compared with, as set by
//! `/patchgate render-b <ref or #PR>` in a comment (by someone with write access — the server
//! checks that before calling here). A `Render-Of: #N` line in a PR body needs no row: it is
//! read from the PR itself.
//!
//! One row per `(repo, pr)`; the latest command wins. Stores text as given (a validated git ref
//! or `#N`); it never decides anything.

use chrono::Utc;

use super::{map_err, Store, StoreError};

impl Store {
    /// Set (or replace) the render B of a pull request.
    pub async fn set_render_b(
        &self,
        repo: &str,
        pr: u64,
        render_b: &str,
        set_by: &str,
    ) -> Result<(), StoreError> {
        let pr = pr_number(pr)?;
        if render_b.trim().is_empty() {
            return Err(StoreError::Invalid("empty render B".into()));
        }
        let now = Utc::now().timestamp_millis();
        const SQL: &str = "INSERT INTO pr_links (repo, pr, render_b, set_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo, pr) DO UPDATE SET \
             render_b = excluded.render_b, set_by = excluded.set_by, updated_at = excluded.updated_at";
        on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(repo)
            .bind(pr)
            .bind(render_b)
            .bind(set_by)
            .bind(now)
            .execute(p)
            .await
            .map(drop))
        .map_err(|e| map_err("set render B", e))
    }

    /// The render B set for a pull request, if any.
    pub async fn render_b(&self, repo: &str, pr: u64) -> Result<Option<String>, StoreError> {
        let pr = pr_number(pr)?;
        const SQL: &str = "SELECT render_b FROM pr_links WHERE repo = $1 AND pr = $2";
        on_pool!(self, SQL, |p, sql| sqlx::query_scalar(sql)
            .bind(repo)
            .bind(pr)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("read render B", e))
    }

    /// Remember `repo`'s clone URL (from a webhook about it).
    pub async fn set_clone_url(&self, repo: &str, url: &str) -> Result<(), StoreError> {
        if url.trim().is_empty() {
            return Err(StoreError::Invalid("empty clone URL".into()));
        }
        let now = Utc::now().timestamp_millis();
        const SQL: &str = "INSERT INTO repo_urls (repo, clone_url, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (repo) DO UPDATE SET clone_url = excluded.clone_url, updated_at = excluded.updated_at";
        on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(repo)
            .bind(url)
            .bind(now)
            .execute(p)
            .await
            .map(drop))
        .map_err(|e| map_err("set clone URL", e))
    }

    /// The clone URL last seen for `repo`.
    pub async fn clone_url(&self, repo: &str) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT clone_url FROM repo_urls WHERE repo = $1";
        on_pool!(self, SQL, |p, sql| sqlx::query_scalar(sql)
            .bind(repo)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("read clone URL", e))
    }
}

fn pr_number(pr: u64) -> Result<i64, StoreError> {
    i64::try_from(pr)
        .map_err(|_| StoreError::Invalid(format!("pull request number {pr} too large")))
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn latest_link_wins_and_is_per_pr() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        assert_eq!(store.render_b("o/r", 1).await.unwrap(), None);
        store.set_render_b("o/r", 1, "#2", "alice").await.unwrap();
        store
            .set_render_b("o/r", 1, "feature/b", "bob")
            .await
            .unwrap();
        store.set_render_b("o/r", 3, "#4", "alice").await.unwrap();
        assert_eq!(
            store.render_b("o/r", 1).await.unwrap().as_deref(),
            Some("feature/b")
        );
        assert_eq!(
            store.render_b("o/r", 3).await.unwrap().as_deref(),
            Some("#4")
        );
        assert_eq!(store.render_b("o/x", 1).await.unwrap(), None);
        assert!(store.set_render_b("o/r", 5, " ", "eve").await.is_err());
    }

    #[tokio::test]
    async fn clone_urls_are_remembered_per_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        assert_eq!(store.clone_url("o/r").await.unwrap(), None);
        store
            .set_clone_url("o/r", "https://a/o/r.git")
            .await
            .unwrap();
        store
            .set_clone_url("o/r", "https://b/o/r.git")
            .await
            .unwrap();
        assert_eq!(
            store.clone_url("o/r").await.unwrap().as_deref(),
            Some("https://b/o/r.git")
        );
        assert!(store.set_clone_url("o/x", "").await.is_err());
    }
}
