//! A command builder's scratch space: a fresh temporary directory holding the base commit's
//! files, and what the builder changed in it.
//!
//! The directory is made outside the mirrors and the data directory (by default on a tmpfs with
//! room, else in the system's temporary directory: [`super::place`]; checked), as
//! `<scratch>/work` beside the request file `<scratch>/request.md`. It
//! has **no `.git`**: no history, no remote, no credentials, no other objects of the mirror
//! (render A's commit included) — a builder that wants a repository runs `git init` itself, and
//! a top-level `.git` it makes is ignored. The files are written by git's own checkout
//! ([`materialise`]): a temporary index, `read-tree`, `checkout-index -a`, attributes off.
//!
//! What changed is captured by patchgate, never pushed by the builder: every regular file is
//! compared with the base's blob (git's blob hash; a file whose `lstat` is still the one
//! recorded right after the checkout is the base's, unread — see [`Stamp`]), files of the base
//! that are gone are deletions. Refused, each with its path: a symlink that is new or changed (an unchanged one
//! of the base stays), a path that is not UTF-8 or has a `.git` component, anything written
//! beside the worktree in the scratch directory (`../x`), and a change over the builder's
//! limits on files or bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::place::{self, Placement, ScratchPlace};
use crate::gitcmd;

/// One file of a render B against its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// A new or modified file.
    Write {
        path: String,
        bytes: Vec<u8>,
        executable: bool,
    },
    /// A file of the base that is gone.
    Delete { path: String },
}

impl FileChange {
    pub fn path(&self) -> &str {
        match self {
            FileChange::Write { path, .. } | FileChange::Delete { path } => path,
        }
    }
}

/// Limits on a change.
#[derive(Debug, Clone, Copy)]
pub struct ChangeLimits {
    pub max_files: usize,
    pub max_bytes: u64,
}

/// A base entry: its blob id and mode.
#[derive(Debug, Clone, Copy)]
struct BaseEntry {
    oid: Oid,
    mode: i32,
}

const MODE_EXEC: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;
const MODE_COMMIT: i32 = 0o160000;

/// The empty tree's id (SHA-1).
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// The base commit's files, written out for a builder.
pub struct Scratch {
    root: tempfile::TempDir,
    placement: Placement,
    work: PathBuf,
    base: BTreeMap<String, BaseEntry>,
    /// The base's regular files as git wrote them, by `lstat`: one found the same at capture
    /// is the base's blob, unread (see [`Stamp`]).
    written: HashMap<String, Stamp>,
}

/// A file's `lstat` after the checkout: size, mode, inode, modification and change times.
/// Writing or replacing a file changes its change time (which no unprivileged call can set
/// back), so a file whose stamp is the same at capture is the one git wrote. Only files whose
/// change time is before a marker written after the checkout are stamped: a builder writing
/// in the same clock tick as the checkout could otherwise keep it (git's "racy" files); the
/// others are read and hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mode: u32,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: m.len(),
            mode: m.mode(),
            dev: m.dev(),
            ino: m.ino(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The stamps of the base's regular files in `work`, those changed before a marker written
/// now (in `root`, then removed).
fn stamps(
    root: &Path,
    work: &Path,
    base: &BTreeMap<String, BaseEntry>,
) -> Result<HashMap<String, Stamp>, String> {
    let mut out = HashMap::with_capacity(base.len());
    for (path, e) in base {
        if e.mode == MODE_LINK || e.mode == MODE_COMMIT {
            continue;
        }
        let m = std::fs::symlink_metadata(work.join(path))
            .map_err(|e| format!("reading {path} after the checkout: {e}"))?;
        if m.is_file() {
            out.insert(path.clone(), Stamp::of(&m));
        }
    }
    let marker = root.join(".written");
    std::fs::write(&marker, b"").map_err(|e| format!("scratch directory: {e}"))?;
    let fence = std::fs::symlink_metadata(&marker).map(|m| Stamp::of(&m).ctime);
    std::fs::remove_file(&marker).map_err(|e| format!("scratch directory: {e}"))?;
    let fence = fence.map_err(|e| format!("scratch directory: {e}"))?;
    out.retain(|_, s| s.ctime < fence);
    Ok(out)
}

/// The name of the request file beside the worktree.
pub const REQUEST_FILE: &str = "request.md";

/// What the base's files take on a filesystem of 4 KiB blocks: each blob's size rounded up,
/// one block per directory (read from object headers: no blob is inflated).
fn footprint(repo: &Repository, base: &BTreeMap<String, BaseEntry>, dirs: u64) -> u64 {
    const BLOCK: u64 = 4096;
    let odb = repo.odb().ok();
    let size = |oid: Oid| {
        odb.as_ref()
            .and_then(|o| o.read_header(oid).ok())
            .map_or(BLOCK, |(n, _)| n as u64)
    };
    let files: u64 = base
        .values()
        .filter(|e| e.mode != MODE_COMMIT)
        .map(|e| size(e.oid).div_ceil(BLOCK).max(1) * BLOCK)
        .sum();
    files + (dirs + 1) * BLOCK
}

impl Scratch {
    /// Write the base's tree into a new scratch directory at `place` (see [`super::place`]:
    /// `Auto` is a tmpfs with room, else the system's temporary directory), refusing one inside
    /// `forbidden` (the mirror, the data directory).
    pub fn checkout(
        repo: &Repository,
        base: Oid,
        place: &ScratchPlace,
        forbidden: &[&Path],
        request: &str,
    ) -> Result<Scratch, String> {
        let tree = repo
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(|e| format!("reading the base {base}: {e}"))?;
        // What the base holds (read from its trees only: no blob is read here).
        let mut base_map = BTreeMap::new();
        let mut dirs = 0u64;
        tree.walk(TreeWalkMode::PreOrder, |dir, e| {
            match (e.name(), e.kind()) {
                (Ok(name), Some(ObjectType::Blob | ObjectType::Commit)) => {
                    let entry = BaseEntry {
                        oid: e.id(),
                        mode: e.filemode(),
                    };
                    base_map.insert(format!("{dir}{name}"), entry);
                }
                (_, Some(ObjectType::Tree)) => dirs += 1,
                _ => {}
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| format!("walking the base tree: {e}"))?;
        let placement = match place {
            ScratchPlace::Dir(_) => place::choose(place, 0, forbidden, &[], &place::System)?,
            ScratchPlace::Auto => {
                let candidates = place::auto_candidates(&|k| std::env::var(k).ok());
                let need = footprint(repo, &base_map, dirs);
                place::choose(place, need, forbidden, &candidates, &place::System)?
            }
        };
        let tmp = placement.dir.clone();
        let root = tempfile::Builder::new()
            .prefix("patchgate-render-b-")
            .tempdir_in(&tmp)
            .map_err(|e| format!("cannot make a scratch directory in {}: {e}", tmp.display()))?;
        let work = root.path().join("work");
        std::fs::create_dir(&work).map_err(|e| format!("scratch directory: {e}"))?;
        std::fs::write(root.path().join(REQUEST_FILE), request)
            .map_err(|e| format!("writing the request file: {e}"))?;
        materialise(repo, tree.id(), &tmp, &work)?;
        for (path, e) in &base_map {
            if e.mode == MODE_COMMIT {
                // A submodule: an empty directory, as git leaves it before `submodule update`.
                std::fs::create_dir_all(work.join(path))
                    .map_err(|e| format!("writing {path}: {e}"))?;
            }
        }
        let written = stamps(root.path(), &work, &base_map)?;
        Ok(Scratch {
            root,
            placement,
            work,
            base: base_map,
            written,
        })
    }

    /// Where the scratch directory was made, and why not on a tmpfs when `Auto` fell back.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The worktree the builder runs in.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The request file beside it.
    pub fn request_file(&self) -> PathBuf {
        self.root.path().join(REQUEST_FILE)
    }

    /// What the builder changed, or why the change is refused (see the module docs).
    pub fn capture(&self, limits: ChangeLimits) -> Result<Vec<FileChange>, String> {
        // Nothing may appear beside the worktree.
        let mut outside = Vec::new();
        for e in std::fs::read_dir(self.root.path()).map_err(|e| format!("scratch: {e}"))? {
            let e = e.map_err(|e| format!("scratch: {e}"))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "work" && name != REQUEST_FILE {
                outside.push(name);
            }
        }
        if !outside.is_empty() {
            return Err(format!(
                "the builder wrote outside its worktree: ../{}",
                outside.join(", ../")
            ));
        }
        let mut seen = BTreeSet::new();
        let mut changes = Vec::new();
        let mut bytes_total: u64 = 0;
        let walker = walkdir::WalkDir::new(&self.work)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git"));
        for entry in walker {
            let entry = entry.map_err(|e| format!("reading the worktree: {e}"))?;
            if entry.depth() == 0 {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&self.work)
                .map_err(|_| "a path outside the worktree".to_string())?;
            let Some(path) = rel.to_str().map(|s| s.replace('\\', "/")) else {
                return Err(format!("a path that is not UTF-8: {}", rel.display()));
            };
            let ft = entry.file_type();
            let base = self.base.get(&path).copied();
            if ft.is_dir() {
                if base.is_some_and(|b| b.mode == MODE_COMMIT) {
                    seen.insert(path);
                }
                continue;
            }
            check_path(&path)?;
            if ft.is_symlink() {
                let target = std::fs::read_link(entry.path())
                    .map_err(|e| format!("reading the symlink {path}: {e}"))?;
                let same = base.is_some_and(|b| {
                    b.mode == MODE_LINK
                        && Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes())
                            .ok()
                            == Some(b.oid)
                });
                if !same {
                    return Err(format!(
                        "the builder made a symlink, refused: {path} -> {}",
                        target.display()
                    ));
                }
                seen.insert(path);
                continue;
            }
            if !ft.is_file() {
                return Err(format!("not a regular file, refused: {path}"));
            }
            if let Some(stamp) = self.written.get(&path) {
                let now = entry
                    .metadata()
                    .map_err(|e| format!("reading {path}: {e}"))?;
                if Stamp::of(&now) == *stamp {
                    // As git wrote it: the base's blob, not read again.
                    seen.insert(path);
                    continue;
                }
            }
            let bytes = std::fs::read(entry.path()).map_err(|e| format!("reading {path}: {e}"))?;
            let executable = {
                use std::os::unix::fs::PermissionsExt;
                entry
                    .metadata()
                    .map(|m| m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
            };
            let same = base.is_some_and(|b| {
                b.mode != MODE_LINK
                    && b.mode != MODE_COMMIT
                    && (b.mode == MODE_EXEC) == executable
                    && Oid::hash_object(ObjectType::Blob, &bytes).ok() == Some(b.oid)
            });
            seen.insert(path.clone());
            if !same {
                bytes_total += bytes.len() as u64;
                changes.push(FileChange::Write {
                    path,
                    bytes,
                    executable,
                });
                over_limits(changes.len(), bytes_total, limits)?;
            }
        }
        for path in self.base.keys() {
            if !seen.contains(path) {
                changes.push(FileChange::Delete { path: path.clone() });
                over_limits(changes.len(), bytes_total, limits)?;
            }
        }
        Ok(changes)
    }
}

/// Write `tree`'s files into the empty directory `work` with git's own checkout: `read-tree`
/// into a temporary index (beside, in `tmp`, never in the mirror or in `work`), then
/// `checkout-index -a`. Byte for byte the blobs: attributes are read from the empty tree
/// (`--attr-source`) and `core.attributesFile` is off, so no end-of-line conversion, `ident`,
/// filter (LFS or other) or encoding runs — a file differs from its blob only if the builder
/// changed it. Symlinks are written as symlinks, as git writes them; git refuses a path through
/// a symlink or with a `.git` component. Nothing is written in the mirror but, for a git that
/// does not know it without reading it, the empty tree.
fn materialise(repo: &Repository, tree: Oid, tmp: &Path, work: &Path) -> Result<(), String> {
    gitcmd::check_version().map_err(|e| match e {
        gitcmd::GitUnusable::Missing(why) => {
            format!("cannot run git ({why}): a builder's worktree is written by git 2.40 or newer, which must be on PATH")
        }
        gitcmd::GitUnusable::TooOld(found) => {
            format!("{found:?} is too old: a builder's worktree is written by git 2.40 or newer")
        }
    })?;
    let empty = Oid::from_str(EMPTY_TREE).map_err(|e| e.to_string())?;
    if !repo.odb().map(|o| o.exists(empty)).unwrap_or(false) {
        repo.treebuilder(None)
            .and_then(|t| t.write())
            .map_err(|e| format!("writing the empty tree: {e}"))?;
    }
    let index_dir = tempfile::Builder::new()
        .prefix("patchgate-render-b-index-")
        .tempdir_in(tmp)
        .map_err(|e| format!("cannot make a temporary index in {}: {e}", tmp.display()))?;
    // Absolute paths: git moves to the work tree before it reads its index.
    let index = std::path::absolute(index_dir.path().join("index"))
        .map_err(|e| format!("temporary index: {e}"))?;
    let work = std::path::absolute(work).map_err(|e| format!("scratch directory: {e}"))?;
    let git = |args: &[&str], work_tree: Option<&Path>| {
        let mut cmd = gitcmd::command(repo.path());
        if let Some(w) = work_tree {
            cmd.arg("--work-tree").arg(w);
        }
        cmd.arg(format!("--attr-source={EMPTY_TREE}"));
        for c in [
            "core.attributesFile=/dev/null",
            "core.autocrlf=false",
            "core.symlinks=true",
            "core.splitIndex=false",
            "core.untrackedCache=false",
            "core.fsmonitor=false",
        ] {
            cmd.arg("-c").arg(c);
        }
        cmd.args(args).env("GIT_INDEX_FILE", &index);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run git {}: {e}", args[0]))?;
        if !out.status.success() {
            return Err(format!(
                "writing the base's files: git {} failed: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    };
    git(&["read-tree", &tree.to_string()], None)?;
    git(&["checkout-index", "-a", "-f"], Some(&work))?;
    Ok(())
}

/// A change past the limits, as a refusal.
pub fn over_limits(files: usize, bytes: u64, limits: ChangeLimits) -> Result<(), String> {
    if files > limits.max_files {
        return Err(format!(
            "the change is too large: more than {} files (max_change_files)",
            limits.max_files
        ));
    }
    if bytes > limits.max_bytes {
        return Err(format!(
            "the change is too large: more than {} bytes (max_change_bytes)",
            limits.max_bytes
        ));
    }
    Ok(())
}

/// A repository path a render may write: relative, `/`-separated, no `.`/`..`/empty
/// component, no `.git` component.
pub fn check_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.eq_ignore_ascii_case(".git"));
    if bad {
        return Err(format!(
            "a path that leaves the worktree or touches .git, refused: {path:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
