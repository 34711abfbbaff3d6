//! An index of the ledger's decision records, for the web view: list, filter and page them
//! without reading every record. The ledger row is the record; a `decisions` row is only what
//! a list needs (repository, PR, head, verdict, path, time), written from the record's YAML.
//!
//! The index follows the ledger: [`Store::index_decisions`] adds a row for every ledger row
//! past the last one indexed (whatever appended it: this process, another replica, an older
//! version), so it is never edited by hand and never out of date for long. A ledger row that
//! is no decision record (a rollback's own entry) is indexed as `other` and not listed.

use crate::meta::decision::Path;
use crate::meta::record::MetaRecord;

use super::{map_err, Store, StoreError};

/// Ledger rows read per indexing statement.
const INDEX_BATCH: i64 = 500;
/// The most rows one page may ask for.
pub const MAX_PAGE: u32 = 200;

/// What the list shows of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub seq: i64,
    pub repo: String,
    pub pr: Option<i64>,
    pub head: String,
    pub passed: bool,
    /// `agreed`, `escalated` or `one_render`.
    pub path: String,
    pub created_at: String,
}

/// What to list: the repositories the reader may see (never empty: an empty list shows
/// nothing), and the filters.
#[derive(Debug, Clone, Default)]
pub struct DecisionQuery {
    pub repos: Vec<String>,
    pub repo: Option<String>,
    pub pr: Option<i64>,
    /// `Some(true)`: passed only; `Some(false)`: blocked only.
    pub passed: Option<bool>,
    pub path: Option<String>,
    /// Only rows with `seq` below this (the next page's cursor).
    pub before: Option<i64>,
    pub limit: u32,
}

/// The path a record took, as indexed: its `gate.path`, or for a record made before decision
/// paths what its renders say.
fn path_of(r: &MetaRecord) -> &'static str {
    match r.gate.as_ref().map(|g| g.path) {
        Some(Path::Agreed) => "agreed",
        Some(Path::Escalated) => "escalated",
        Some(Path::OneRender) => "one_render",
        None if r.renders.b.is_none() => "one_render",
        None if r.ast_diff.agreed => "agreed",
        None => "escalated",
    }
}

/// The index row of a ledger row: `(kind, pr, passed, path, created_at)`.
fn index_of(yaml: &str) -> (&'static str, Option<i64>, bool, &'static str, String) {
    match MetaRecord::from_yaml(yaml) {
        Ok(r) => (
            "decision",
            r.change.pr.and_then(|p| i64::try_from(p).ok()),
            r.quorum_passed,
            path_of(&r),
            r.created_at.clone().unwrap_or_default(),
        ),
        Err(_) => ("other", None, false, "", String::new()),
    }
}

impl Store {
    /// Index every ledger row not indexed yet; returns how many were added. Safe to run in
    /// several processes at once (a row indexed twice is written once).
    pub async fn index_decisions(&self) -> Result<u64, StoreError> {
        let mut added = 0u64;
        loop {
            const SQL: &str = "SELECT seq, repo, head, record_yaml FROM ledger \
                 WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM decisions) ORDER BY seq LIMIT $1";
            let rows: Vec<(i64, String, String, String)> =
                on_pool!(self, SQL, |p, sql| sqlx::query_as(sql)
                    .bind(INDEX_BATCH)
                    .fetch_all(p)
                    .await)
                .map_err(|e| map_err("index decisions: read", e))?;
            if rows.is_empty() {
                return Ok(added);
            }
            let n = rows.len() as i64;
            for (seq, repo, head, yaml) in rows {
                let (kind, pr, passed, path, created_at) = index_of(&yaml);
                const INSERT: &str = "INSERT INTO decisions \
                     (seq, repo, pr, head, kind, passed, path, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (seq) DO NOTHING";
                let done = on_pool!(self, INSERT, |p, sql| sqlx::query(sql)
                    .bind(seq)
                    .bind(&repo)
                    .bind(pr)
                    .bind(&head)
                    .bind(kind)
                    .bind(passed)
                    .bind(path)
                    .bind(&created_at)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
                .map_err(|e| map_err("index decisions: write", e))?;
                added += done;
            }
            if n < INDEX_BATCH {
                return Ok(added);
            }
        }
    }

    /// Decisions newest first, of the repositories in `q.repos` only, filtered; at most
    /// `q.limit` (capped at [`MAX_PAGE`]).
    pub async fn decisions(&self, q: &DecisionQuery) -> Result<Vec<DecisionRow>, StoreError> {
        if q.repos.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT seq, repo, pr, head, passed, path, created_at FROM decisions \
             WHERE kind = 'decision'",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let list: Vec<String> = q.repos.iter().map(|_| next()).collect();
        sql.push_str(&format!(" AND repo IN ({})", list.join(", ")));
        if q.repo.is_some() {
            sql.push_str(&format!(" AND repo = {}", next()));
        }
        if q.pr.is_some() {
            sql.push_str(&format!(" AND pr = {}", next()));
        }
        if q.passed.is_some() {
            sql.push_str(&format!(" AND passed = {}", next()));
        }
        if q.path.is_some() {
            sql.push_str(&format!(" AND path = {}", next()));
        }
        if q.before.is_some() {
            sql.push_str(&format!(" AND seq < {}", next()));
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", next()));
        type Row = (i64, String, Option<i64>, String, bool, String, String);
        let limit = i64::from(q.limit.clamp(1, MAX_PAGE));
        let rows: Vec<Row> = on_pool!(self, &sql, |p, sql| {
            let mut query = sqlx::query_as::<_, Row>(sql);
            for r in &q.repos {
                query = query.bind(r);
            }
            if let Some(r) = &q.repo {
                query = query.bind(r);
            }
            if let Some(pr) = q.pr {
                query = query.bind(pr);
            }
            if let Some(passed) = q.passed {
                query = query.bind(passed);
            }
            if let Some(path) = &q.path {
                query = query.bind(path);
            }
            if let Some(before) = q.before {
                query = query.bind(before);
            }
            query.bind(limit).fetch_all(p).await
        })
        .map_err(|e| map_err("decisions", e))?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, repo, pr, head, passed, path, created_at)| DecisionRow {
                    seq,
                    repo,
                    pr,
                    head,
                    passed,
                    path,
                    created_at,
                },
            )
            .collect())
    }

    /// The repositories with at least one decision, sorted.
    pub async fn decision_repos(&self) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT DISTINCT repo FROM decisions ORDER BY repo";
        let rows: Vec<(String,)> =
            on_pool!(self, SQL, |p, sql| sqlx::query_as(sql).fetch_all(p).await)
                .map_err(|e| map_err("decision repos", e))?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// One ledger row's repository and record text, by `seq`.
    pub async fn ledger_record(&self, seq: i64) -> Result<Option<(String, String)>, StoreError> {
        const SQL: &str = "SELECT repo, record_yaml FROM ledger WHERE seq = $1";
        on_pool!(self, SQL, |p, sql| sqlx::query_as(sql)
            .bind(seq)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("ledger record", e))
    }

    /// Keep the explanation texts of ledger row `seq` (JSON; see `crate::meta::texts`),
    /// replacing any kept before.
    pub async fn keep_explanation_texts(&self, seq: i64, texts: &str) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO explanation_texts (seq, texts) VALUES ($1, $2) \
                           ON CONFLICT (seq) DO UPDATE SET texts = excluded.texts";
        on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(seq)
            .bind(texts)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("keep explanation texts", e))?;
        Ok(())
    }

    /// The explanation texts kept for ledger row `seq`, if any.
    pub async fn explanation_texts(&self, seq: i64) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT texts FROM explanation_texts WHERE seq = $1";
        let row: Option<(String,)> = on_pool!(self, SQL, |p, sql| sqlx::query_as(sql)
            .bind(seq)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("explanation texts", e))?;
        Ok(row.map(|r| r.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_that_are_no_record_are_indexed_as_other() {
        assert_eq!(index_of("kind: rollback\n").0, "other");
        assert_eq!(index_of(": not yaml").0, "other");
    }
}
