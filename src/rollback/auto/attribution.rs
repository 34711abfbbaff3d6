//! Attribution: the merge on the default branch that introduced a commit, and what git alone
//! tells about it (its time, whether it is a revert or already reverted, its first parent, the
//! head whose decision record gates it).
//!
//! The introducing merge is the oldest commit of the branch's first-parent line from which the
//! event's commit is reachable: the commit itself when it is on that line, else the merge whose
//! second-parent history brought it. Reachability only grows along the first-parent line, so a
//! binary search over the line finds it with about log2(line) reachability tests; the line
//! itself is cached per branch tip ([`ChainCache`]), and walked at most [`MAX_FIRST_PARENT`]
//! commits deep (older merges are out of any revert window anyway).
//!
//! Read-only: must never write to the repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use git2::{Oid, Repository};

use crate::rollback::{find_reverts_of, is_revert, RevertTarget};

/// Deepest first-parent walk of an attribution.
pub const MAX_FIRST_PARENT: usize = 20_000;

/// The first-parent line of a branch tip, newest first, cached per `(repository, tip)`; one
/// entry per repository is kept (the newest tip asked for).
#[derive(Debug, Default)]
pub struct ChainCache {
    lines: Mutex<HashMap<String, CachedLine>>,
}

/// A branch tip and its first-parent line.
type CachedLine = (Oid, Arc<Vec<Oid>>);

impl ChainCache {
    /// The first-parent line from `tip`, newest first (at most [`MAX_FIRST_PARENT`] commits).
    pub fn line(
        &self,
        key: &str,
        repo: &Repository,
        tip: Oid,
    ) -> Result<Arc<Vec<Oid>>, git2::Error> {
        if let Ok(m) = self.lines.lock() {
            if let Some((t, line)) = m.get(key) {
                if *t == tip {
                    return Ok(line.clone());
                }
            }
        }
        let line = Arc::new(first_parent_line(repo, tip)?);
        if let Ok(mut m) = self.lines.lock() {
            m.insert(key.to_string(), (tip, line.clone()));
        }
        Ok(line)
    }
}

/// The first-parent line from `tip`, newest first, at most [`MAX_FIRST_PARENT`] commits.
pub fn first_parent_line(repo: &Repository, tip: Oid) -> Result<Vec<Oid>, git2::Error> {
    let mut out = Vec::new();
    let mut cur = repo.find_commit(tip)?;
    loop {
        out.push(cur.id());
        if out.len() >= MAX_FIRST_PARENT || cur.parent_count() == 0 {
            return Ok(out);
        }
        cur = cur.parent(0)?;
    }
}

/// The commit of `line` (a first-parent line, newest first) that introduced `commit`, or
/// `None` when `commit` is not reachable from the line's tip, or only from beyond the walked
/// depth.
pub fn introducing(
    repo: &Repository,
    line: &[Oid],
    commit: Oid,
) -> Result<Option<Oid>, git2::Error> {
    let reaches = |i: usize| -> Result<bool, git2::Error> {
        let c = line[i];
        Ok(c == commit || repo.graph_descendant_of(c, commit)?)
    };
    if line.is_empty() || !reaches(0)? {
        return Ok(None);
    }
    if let Some(i) = line.iter().position(|c| *c == commit) {
        return Ok(Some(line[i]));
    }
    let (mut lo, mut hi) = (0usize, line.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo + 1 == line.len() && line.len() >= MAX_FIRST_PARENT {
        return Ok(None);
    }
    Ok(Some(line[lo]))
}

/// What git says about a merge on the branch.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeGit {
    /// The merge (or squash / single) commit.
    pub merge: Oid,
    /// How to revert it.
    pub target: RevertTarget,
    /// Its first parent (the baseline of relative rules).
    pub first_parent: Option<Oid>,
    /// Its second parent: the pull request's head, for a merge commit.
    pub second_parent: Option<Oid>,
    /// Committer time.
    pub merged_at: DateTime<Utc>,
    /// Its full message.
    pub message: String,
    /// It is itself a revert.
    pub is_revert: bool,
    /// The revert of it already on the branch, if any.
    pub reverted_by: Option<Oid>,
}

/// Read [`MergeGit`] of `merge` on `branch`.
pub fn merge_git(repo: &Repository, branch: &str, merge: Oid) -> crate::rollback::Result<MergeGit> {
    let c = repo.find_commit(merge)?;
    let target = if c.parent_count() >= 2 {
        RevertTarget::Merge(merge)
    } else {
        RevertTarget::Commit(merge)
    };
    let t = c.committer().when();
    let merged_at = Utc
        .timestamp_opt(t.seconds(), 0)
        .single()
        .unwrap_or_else(Utc::now);
    let reverted_by = find_reverts_of(repo, branch, merge, &[merge])?.map(|(_, by)| by);
    Ok(MergeGit {
        merge,
        target,
        first_parent: c.parent_id(0).ok(),
        second_parent: c.parent_id(1).ok(),
        merged_at,
        message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        is_revert: is_revert(repo, merge)?,
        reverted_by,
    })
}

/// Resolve an event's commit (full or abbreviated hex) in `repo`.
pub fn resolve_commit(repo: &Repository, commit: &str) -> Option<Oid> {
    if !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    repo.revparse_single(commit)
        .ok()
        .and_then(|o| o.peel_to_commit().ok())
        .map(|c| c.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Commit, Signature};

    fn commit(repo: &Repository, parents: &[Oid], n: u32) -> Oid {
        let mut tb = repo.treebuilder(None).unwrap();
        let blob = repo.blob(format!("{n}\n").as_bytes()).unwrap();
        tb.insert("f", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let ps: Vec<Commit> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&Commit> = ps.iter().collect();
        let sig = Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &sig, &sig, &format!("c{n}"), &tree, &refs)
            .unwrap()
    }

    #[test]
    fn finds_the_merge_that_brought_a_side_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut tip = commit(&repo, &[], 0);
        let mut side_commits = Vec::new();
        let mut merges = Vec::new();
        for i in 1..40u32 {
            if i % 3 == 0 {
                let s1 = commit(&repo, &[tip], i * 100);
                let s2 = commit(&repo, &[s1], i * 100 + 1);
                let m = commit(&repo, &[tip, s2], i * 100 + 2);
                side_commits.push((s1, m));
                merges.push(m);
                tip = m;
            } else {
                tip = commit(&repo, &[tip], i);
            }
        }
        let line = first_parent_line(&repo, tip).unwrap();
        for (s, m) in side_commits {
            assert_eq!(introducing(&repo, &line, s).unwrap(), Some(m));
        }
        for m in merges {
            assert_eq!(introducing(&repo, &line, m).unwrap(), Some(m));
        }
        let stray = commit(&repo, &[], 9999);
        assert_eq!(introducing(&repo, &line, stray).unwrap(), None);
    }
}
