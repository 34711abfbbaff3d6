//! The `rollbacks` table: one row per merge that patchgate reverted, or set out to revert.
//!
//! What it is for ("a merge is reverted at most once"): the orchestrator
//! (`crate::rollback::auto`) records a rollback *before* it touches git
//! ([`Store::rollback_begin`], state `planned`), then each step as it completes: `committed`
//! (the revert commit exists on the mirror, `revert_sha`), `pushed` (it is on the remote),
//! the ledger entry's hash, the comment's id, and finally `reported`; or `failed` with the
//! reason. `UNIQUE (repo, merge_sha)` makes a second attempt — another event, another replica,
//! a restarted process — find the first's row and resume it ([`Begun::Existing`]) instead of
//! starting a revert of its own. [`Store::rollbacks_open`] lists the rows a crash left
//! unfinished, for recovery.
//!
//! Time is injected: `created_at`/`updated_at` are the caller's milliseconds since the Unix
//! epoch. State changes only move forward (`planned → committed → pushed → reported`, or to
//! `failed` from any unfinished state); an update that would move a row backwards, or touch a
//! finished row, changes nothing and says so.
//!
//! What it must never do: decide anything (the policy lives elsewhere), delete a row, reopen a
//! finished row, or store a secret (error texts are the caller's and must already be redacted;
//! they are truncated to [`MAX_ERROR_CHARS`]).

use super::{map_err, Pool, Store, StoreError};

/// Longest error text kept in `error` (characters).
pub const MAX_ERROR_CHARS: usize = 4000;

/// Where a rollback got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RollbackState {
    /// Recorded; nothing written to git yet (or a revert commit not yet recorded).
    Planned,
    /// The revert commit exists on the mirror (`revert_sha`).
    Committed,
    /// The revert is on the remote (the default branch, or the revert PR's branch).
    Pushed,
    /// Ledger entry, comment and metric done: finished.
    Reported,
    /// Given up (a conflict, a refused revert): finished, nothing pushed.
    Failed,
}

impl RollbackState {
    /// Every state, in order.
    pub const ALL: [RollbackState; 5] = [
        RollbackState::Planned,
        RollbackState::Committed,
        RollbackState::Pushed,
        RollbackState::Reported,
        RollbackState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackState::Planned => "planned",
            RollbackState::Committed => "committed",
            RollbackState::Pushed => "pushed",
            RollbackState::Reported => "reported",
            RollbackState::Failed => "failed",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Result<RollbackState, StoreError> {
        RollbackState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::Invalid(format!("rollback state {s:?}")))
    }

    /// `reported` or `failed`: nothing more will happen to the row.
    pub fn is_final(self) -> bool {
        matches!(self, RollbackState::Reported | RollbackState::Failed)
    }
}

impl std::fmt::Display for RollbackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rollback to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRollback {
    /// `owner/name`.
    pub repo: String,
    /// The merge (or squash commit, or newest commit of a range) reverted.
    pub merge_sha: String,
    /// `policy`, `comment`, `check_action` or `cli`.
    pub trigger: String,
    /// `push`, `pull-request` or `comment`.
    pub action: String,
    /// Why, in one line (the violated policy and the observed value, or a person's reason).
    pub reason: String,
    /// The reverted pull request, when known.
    pub pr: Option<u64>,
    /// The merge's decision record hash (`Patchgate-Audit`), when it has one.
    pub record_hash: Option<String>,
}

/// One stored rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRow {
    pub id: i64,
    pub repo: String,
    pub merge_sha: String,
    pub state: RollbackState,
    pub trigger: String,
    pub action: String,
    pub reason: String,
    pub pr: Option<u64>,
    pub revert_sha: Option<String>,
    pub record_hash: Option<String>,
    pub ledger_hash: Option<String>,
    pub comment_id: Option<u64>,
    pub revert_pr: Option<u64>,
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// What [`Store::rollback_begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// A new row, state `planned`.
    New(RollbackRow),
    /// The merge already had a row (in any state); nothing was added.
    Existing(RollbackRow),
}

impl Begun {
    /// The row, new or existing.
    pub fn row(&self) -> &RollbackRow {
        match self {
            Begun::New(r) | Begun::Existing(r) => r,
        }
    }
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    i64,
);

const COLUMNS: &str = "id, repo, merge_sha, state, \"trigger\", action, reason, pr, revert_sha, \
     record_hash, ledger_hash, comment_id, revert_pr, error, created_at, updated_at";

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

fn to_i64(v: Option<u64>) -> Result<Option<i64>, StoreError> {
    v.map(|n| i64::try_from(n).map_err(|_| StoreError::Invalid(format!("number {n} out of range"))))
        .transpose()
}

fn to_row(r: Row) -> Result<RollbackRow, StoreError> {
    Ok(RollbackRow {
        id: r.0,
        repo: r.1,
        merge_sha: r.2,
        state: RollbackState::parse(&r.3)?,
        trigger: r.4,
        action: r.5,
        reason: r.6,
        pr: to_u64(r.7),
        revert_sha: r.8,
        record_hash: r.9,
        ledger_hash: r.10,
        comment_id: to_u64(r.11),
        revert_pr: to_u64(r.12),
        error: r.13,
        created_at: r.14,
        updated_at: r.15,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR_CHARS).collect()
}

/// Run the same statement on either backend (`$n` placeholders; SQLite gets `?n`).
macro_rules! on_pool {
    ($store:expr, $sql:expr, |$q:ident| $bind:expr, $run:ident) => {{
        let pg_sql: &str = $sql;
        match $store.pool() {
            Pool::Sqlite(p) => {
                let sql = pg_sql.replace('$', "?");
                let $q = sqlx::query_as::<_, Row>(&sql);
                $bind.$run(p).await
            }
            Pool::Postgres(p) => {
                let $q = sqlx::query_as::<_, Row>(pg_sql);
                $bind.$run(p).await
            }
        }
    }};
}

/// Run an UPDATE on either backend; returns the rows affected.
macro_rules! exec {
    ($store:expr, $sql:expr, |$q:ident| $bind:expr) => {{
        let pg_sql: &str = $sql;
        match $store.pool() {
            Pool::Sqlite(p) => {
                let sql = pg_sql.replace('$', "?");
                let $q = sqlx::query(&sql);
                $bind.execute(p).await.map(|r| r.rows_affected())
            }
            Pool::Postgres(p) => {
                let $q = sqlx::query(pg_sql);
                $bind.execute(p).await.map(|r| r.rows_affected())
            }
        }
    }};
}

/// States a row may be in for an update to `to` to apply.
fn sources(to: RollbackState) -> &'static str {
    match to {
        RollbackState::Planned => "('planned')",
        RollbackState::Committed => "('planned', 'committed')",
        RollbackState::Pushed => "('planned', 'committed', 'pushed')",
        RollbackState::Reported => "('pushed', 'committed', 'reported')",
        RollbackState::Failed => "('planned', 'committed', 'pushed', 'failed')",
    }
}

impl Store {
    /// Record a rollback before anything is done (state `planned`), or find the merge's row if
    /// it has one: the merge is never recorded twice, whatever the state of the first row.
    pub async fn rollback_begin(
        &self,
        new: &NewRollback,
        now_ms: i64,
    ) -> Result<Begun, StoreError> {
        let pr = to_i64(new.pr)?;
        let sql = format!(
            "INSERT INTO rollbacks (repo, merge_sha, state, \"trigger\", action, reason, pr, \
             record_hash, created_at, updated_at) \
             VALUES ($1, $2, 'planned', $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (repo, merge_sha) DO NOTHING RETURNING {COLUMNS}"
        );
        let inserted: Option<Row> = on_pool!(
            self,
            &sql,
            |q| q
                .bind(&new.repo)
                .bind(&new.merge_sha)
                .bind(&new.trigger)
                .bind(&new.action)
                .bind(&new.reason)
                .bind(pr)
                .bind(&new.record_hash)
                .bind(now_ms),
            fetch_optional
        )
        .map_err(|e| map_err("rollback begin: insert", e))?;
        if let Some(r) = inserted {
            return Ok(Begun::New(to_row(r)?));
        }
        match self.rollback_get(&new.repo, &new.merge_sha).await? {
            Some(r) => Ok(Begun::Existing(r)),
            None => Err(StoreError::Conflict(format!(
                "rollback begin: the row of {} in {} vanished",
                new.merge_sha, new.repo
            ))),
        }
    }

    /// The rollback of a merge, if any.
    pub async fn rollback_get(
        &self,
        repo: &str,
        merge_sha: &str,
    ) -> Result<Option<RollbackRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rollbacks WHERE repo = $1 AND merge_sha = $2");
        let r: Option<Row> = on_pool!(self, &sql, |q| q.bind(repo).bind(merge_sha), fetch_optional)
            .map_err(|e| map_err("rollback get", e))?;
        r.map(to_row).transpose()
    }

    /// One rollback by id.
    pub async fn rollback_by_id(&self, id: i64) -> Result<Option<RollbackRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rollbacks WHERE id = $1");
        let r: Option<Row> = on_pool!(self, &sql, |q| q.bind(id), fetch_optional)
            .map_err(|e| map_err("rollback by id", e))?;
        r.map(to_row).transpose()
    }

    /// Every unfinished rollback (`planned`, `committed`, `pushed`), oldest first.
    pub async fn rollbacks_open(&self) -> Result<Vec<RollbackRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rollbacks \
             WHERE state IN ('planned', 'committed', 'pushed') ORDER BY id"
        );
        let rows: Vec<Row> =
            on_pool!(self, &sql, |q| q, fetch_all).map_err(|e| map_err("rollbacks open", e))?;
        rows.into_iter().map(to_row).collect()
    }

    /// Every rollback of a repository, oldest first.
    pub async fn rollbacks_of(&self, repo: &str) -> Result<Vec<RollbackRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rollbacks WHERE repo = $1 ORDER BY id");
        let rows: Vec<Row> = on_pool!(self, &sql, |q| q.bind(repo), fetch_all)
            .map_err(|e| map_err("rollbacks of", e))?;
        rows.into_iter().map(to_row).collect()
    }

    /// How many rollbacks of `repo` with `trigger` were recorded at or after `since_ms` and did
    /// not fail (the daily cap counts these).
    pub async fn rollbacks_since(
        &self,
        repo: &str,
        trigger: &str,
        since_ms: i64,
    ) -> Result<u32, StoreError> {
        let sql = "SELECT COUNT(*) FROM rollbacks WHERE repo = $1 AND \"trigger\" = $2 \
                   AND created_at >= $3 AND state <> 'failed'";
        let n: i64 = match self.pool() {
            Pool::Sqlite(p) => {
                sqlx::query_scalar(&sql.replace('$', "?"))
                    .bind(repo)
                    .bind(trigger)
                    .bind(since_ms)
                    .fetch_one(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_scalar(sql)
                    .bind(repo)
                    .bind(trigger)
                    .bind(since_ms)
                    .fetch_one(p)
                    .await
            }
        }
        .map_err(|e| map_err("rollbacks since", e))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Move a row to `to` (forward only), setting `revert_sha` when given. Returns whether the
    /// row moved; `false` means it was already past `to` (or finished) and nothing changed.
    pub async fn rollback_advance(
        &self,
        id: i64,
        to: RollbackState,
        revert_sha: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE rollbacks SET state = $1, revert_sha = COALESCE($2, revert_sha), \
             updated_at = $3 WHERE id = $4 AND state IN {}",
            sources(to)
        );
        let n = exec!(self, &sql, |q| q
            .bind(to.as_str())
            .bind(revert_sha)
            .bind(now_ms)
            .bind(id))
        .map_err(|e| map_err("rollback advance", e))?;
        Ok(n == 1)
    }

    /// Record the rollback's ledger entry (its hash), once.
    pub async fn rollback_set_ledger(
        &self,
        id: i64,
        ledger_hash: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE rollbacks SET ledger_hash = $1, updated_at = $2 \
             WHERE id = $3 AND ledger_hash IS NULL",
            |q| q.bind(ledger_hash).bind(now_ms).bind(id)
        )
        .map_err(|e| map_err("rollback set ledger", e))?;
        Ok(())
    }

    /// Record the comment posted on the original pull request, once.
    pub async fn rollback_set_comment(
        &self,
        id: i64,
        comment_id: u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let c = to_i64(Some(comment_id))?;
        exec!(
            self,
            "UPDATE rollbacks SET comment_id = $1, updated_at = $2 \
             WHERE id = $3 AND comment_id IS NULL",
            |q| q.bind(c).bind(now_ms).bind(id)
        )
        .map_err(|e| map_err("rollback set comment", e))?;
        Ok(())
    }

    /// Record the revert pull request opened (action `pull-request`), once.
    pub async fn rollback_set_revert_pr(
        &self,
        id: i64,
        revert_pr: u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let n = to_i64(Some(revert_pr))?;
        exec!(
            self,
            "UPDATE rollbacks SET revert_pr = $1, updated_at = $2 \
             WHERE id = $3 AND revert_pr IS NULL",
            |q| q.bind(n).bind(now_ms).bind(id)
        )
        .map_err(|e| map_err("rollback set revert pr", e))?;
        Ok(())
    }

    /// Finish an unfinished row as `failed`, with the (already redacted) reason. Returns
    /// whether the row moved.
    pub async fn rollback_fail(
        &self,
        id: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = exec!(
            self,
            "UPDATE rollbacks SET state = 'failed', error = $1, updated_at = $2 \
             WHERE id = $3 AND state IN ('planned', 'committed', 'pushed')",
            |q| q.bind(truncate(error)).bind(now_ms).bind(id)
        )
        .map_err(|e| map_err("rollback fail", e))?;
        Ok(n == 1)
    }

    /// Note an error on an unfinished row without finishing it (the step will be retried).
    pub async fn rollback_note_error(
        &self,
        id: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE rollbacks SET error = $1, updated_at = $2 \
             WHERE id = $3 AND state IN ('planned', 'committed', 'pushed')",
            |q| q.bind(truncate(error)).bind(now_ms).bind(id)
        )
        .map_err(|e| map_err("rollback note error", e))?;
        Ok(())
    }

    /// The newest decision record in the ledger for `head` of `repo` (`(record_hash,
    /// record_yaml)`): how a merge is known to be gated.
    pub async fn ledger_record_for_head(
        &self,
        repo: &str,
        head: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let sql = "SELECT record_hash, record_yaml FROM ledger WHERE repo = $1 AND head = $2 \
                   ORDER BY seq DESC LIMIT 1";
        match self.pool() {
            Pool::Sqlite(p) => {
                sqlx::query_as(&sql.replace('$', "?"))
                    .bind(repo)
                    .bind(head)
                    .fetch_optional(p)
                    .await
            }
            Pool::Postgres(p) => {
                sqlx::query_as(sql)
                    .bind(repo)
                    .bind(head)
                    .fetch_optional(p)
                    .await
            }
        }
        .map_err(|e| map_err("ledger record for head", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(merge: &str) -> NewRollback {
        NewRollback {
            repo: "o/r".into(),
            merge_sha: merge.into(),
            trigger: "policy".into(),
            action: "push".into(),
            reason: "latency".into(),
            pr: Some(7),
            record_hash: None,
        }
    }

    #[tokio::test]
    async fn a_merge_is_recorded_once_and_states_only_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), None).await.unwrap();
        let Begun::New(r) = s.rollback_begin(&new("abc"), 1).await.unwrap() else {
            panic!("expected a new row")
        };
        assert_eq!(r.state, RollbackState::Planned);
        assert_eq!(r.pr, Some(7));
        let again = s.rollback_begin(&new("abc"), 2).await.unwrap();
        assert!(matches!(&again, Begun::Existing(e) if e.id == r.id));
        assert!(s
            .rollback_advance(r.id, RollbackState::Committed, Some("def"), 3)
            .await
            .unwrap());
        assert!(s
            .rollback_advance(r.id, RollbackState::Pushed, None, 4)
            .await
            .unwrap());
        assert!(!s
            .rollback_advance(r.id, RollbackState::Committed, Some("zzz"), 5)
            .await
            .unwrap());
        assert_eq!(s.rollbacks_open().await.unwrap().len(), 1);
        assert!(s
            .rollback_advance(r.id, RollbackState::Reported, None, 6)
            .await
            .unwrap());
        assert!(!s.rollback_fail(r.id, "late", 7).await.unwrap());
        let row = s.rollback_by_id(r.id).await.unwrap().unwrap();
        assert_eq!(row.state, RollbackState::Reported);
        assert_eq!(row.revert_sha.as_deref(), Some("def"));
        assert!(s.rollbacks_open().await.unwrap().is_empty());
        assert_eq!(s.rollbacks_since("o/r", "policy", 0).await.unwrap(), 1);
        assert_eq!(s.rollbacks_since("o/r", "policy", 2).await.unwrap(), 0);
    }
}
