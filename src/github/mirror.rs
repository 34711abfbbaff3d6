//! One bare git mirror per repository in the data directory, fetched and pushed with git2.
//!
//! The server gates and reverts on these mirrors (`<data_dir>/mirrors/<owner>/<name>.git`),
//! never on a working tree. A fetch goes through an anonymous remote with explicit refspecs, so
//! nothing about the remote — least of all a credential — is written to the mirror's config,
//! and nothing is pruned. Fetches and pushes of one repository are serialised: by a lock per
//! path within the process, and by a lock file (`<name>.git.lock`, never removed) between
//! processes sharing the data directory.
//!
//! What this module must never do: put the installation token into a URL, the repository's
//! config or an error message; write outside the mirrors directory (owner and name are checked
//! before they become a path); force a push the caller did not ask to force.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Context as _};
use git2::{
    AutotagOption, Cred, CredentialType, FetchOptions, FetchPrune, PushOptions, RemoteCallbacks,
    Repository,
};

use super::app::RepoName;

/// The mirrors under one data directory. Share one `Mirrors` (in an `Arc`) within a process:
/// the per-path locks live in it.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl Mirrors {
    /// Mirrors under `<data_dir>/mirrors`.
    pub fn new(data_dir: &Path) -> Self {
        Mirrors {
            root: data_dir.join("mirrors"),
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<owner>/<name>.git`. Always under the root: a part that [`RepoName::validate`]
    /// refuses has its offending characters replaced here (and `fetch`, `open` and `push`
    /// refuse it outright).
    pub fn path(&self, repo: &RepoName) -> PathBuf {
        let safe = |part: &str| -> String {
            let s: String = part
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if s.is_empty() || s == "." || s == ".." {
                "_".to_string()
            } else {
                s
            }
        };
        self.root
            .join(safe(&repo.owner))
            .join(format!("{}.git", safe(&repo.name)))
    }

    /// Create the bare mirror when missing, then fetch `refspecs` from `url` (blocking: call
    /// it from `spawn_blocking`). With a `token` and an http(s) URL, git authenticates as
    /// `x-access-token`. Tags are fetched only when a refspec names them; nothing is pruned.
    pub fn fetch(
        &self,
        repo: &RepoName,
        url: &str,
        token: Option<&str>,
        refspecs: &[String],
    ) -> anyhow::Result<Repository> {
        repo.validate()?;
        if refspecs.is_empty() {
            bail!("fetch into the mirror of {repo}: no refspecs given");
        }
        let path = self.path(repo);
        self.locked(&path, || {
            let git = match Repository::open_bare(&path) {
                Ok(git) => git,
                Err(e) if e.code() == git2::ErrorCode::NotFound => Repository::init_bare(&path)
                    .with_context(|| {
                        format!("creating the mirror of {repo} at {}", path.display())
                    })?,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("opening the mirror of {repo} at {}", path.display())
                    })
                }
            };
            {
                let what = || {
                    format!(
                        "fetch {} from {} into the mirror of {repo}",
                        refspecs.join(" "),
                        shown_url(url)
                    )
                };
                let mut remote = git
                    .remote_anonymous(url)
                    .map_err(|e| git_error(what(), e, url, token))?;
                let mut opts = FetchOptions::new();
                opts.remote_callbacks(callbacks(url, token));
                opts.prune(FetchPrune::Off);
                opts.download_tags(AutotagOption::None);
                remote
                    .fetch(refspecs, Some(&mut opts), None)
                    .map_err(|e| git_error(what(), e, url, token))?;
            }
            Ok(git)
        })
    }

    /// The existing mirror of `repo`.
    pub fn open(&self, repo: &RepoName) -> anyhow::Result<Repository> {
        repo.validate()?;
        let path = self.path(repo);
        Repository::open_bare(&path)
            .with_context(|| format!("no mirror of {repo} at {}", path.display()))
    }

    /// Push `refspec` from the mirror to `url` (same authentication as [`Mirrors::fetch`]).
    /// Fast-forward only unless the refspec starts with `+`; a rejection names the ref.
    pub fn push(
        &self,
        repo: &RepoName,
        url: &str,
        token: Option<&str>,
        refspec: &str,
    ) -> anyhow::Result<()> {
        repo.validate()?;
        let path = self.path(repo);
        let dst = refspec
            .rsplit(':')
            .next()
            .unwrap_or(refspec)
            .trim_start_matches('+')
            .to_string();
        let what = format!("push {dst} to {} from the mirror of {repo}", shown_url(url));
        self.locked(&path, || {
            let git = Repository::open_bare(&path)
                .with_context(|| format!("no mirror of {repo} at {}", path.display()))?;
            let mut remote = git
                .remote_anonymous(url)
                .map_err(|e| git_error(what.clone(), e, url, token))?;
            let mut rejected: Option<(String, String)> = None;
            {
                let mut cbs = callbacks(url, token);
                cbs.push_update_reference(|name, status| {
                    if let Some(msg) = status {
                        rejected = Some((name.to_string(), msg.to_string()));
                    }
                    Ok(())
                });
                let mut opts = PushOptions::new();
                opts.remote_callbacks(cbs);
                remote
                    .push(&[refspec], Some(&mut opts))
                    .map_err(|e| git_error(what.clone(), e, url, token))?;
            }
            match rejected {
                Some((name, msg)) => {
                    bail!("{what}: rejected: {name}: {}", redact(&msg, url, token))
                }
                None => Ok(()),
            }
        })
    }

    /// Run `f` holding the in-process lock of `path` and its lock file.
    fn locked<T>(&self, path: &Path, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            locks.entry(path.to_path_buf()).or_default().clone()
        };
        let _in_process = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| {
                format!("opening the lock file {}", Path::new(&lock_path).display())
            })?;
        // Blocks until another process is done; released when `lock_file` is dropped.
        lock_file
            .lock()
            .with_context(|| format!("locking {}", Path::new(&lock_path).display()))?;
        f()
    }
}

fn is_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Callbacks that answer an http(s) credential request with the token, once: libgit2 asks
/// again after a 401, and would loop for ever if given the same answer.
fn callbacks<'a>(url: &str, token: Option<&'a str>) -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    if let Some(token) = token.filter(|_| is_http(url)) {
        let mut offered = false;
        cbs.credentials(move |_url, _user, allowed| {
            if offered || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return Err(git2::Error::from_str("the installation token was refused"));
            }
            offered = true;
            Cred::userpass_plaintext("x-access-token", token)
        });
    }
    cbs
}

/// `url` without any user information (`https://***@host/...`).
fn shown_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]);
        }
    }
    url.to_string()
}

fn redact(msg: &str, url: &str, token: Option<&str>) -> String {
    let mut msg = msg.replace(url, &shown_url(url));
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        msg = msg.replace(t, "***");
    }
    msg
}

fn git_error(what: String, e: git2::Error, url: &str, token: Option<&str>) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", redact(e.message(), url, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Oid, Signature};
    use std::io::{BufRead, BufReader, Write};

    fn commit(git: &Repository, refname: &str, parent: Option<Oid>, file: &str) -> Oid {
        let sig = Signature::now("t", "t@example.com").unwrap();
        let mut tb = git.treebuilder(None).unwrap();
        let blob = git.blob(file.as_bytes()).unwrap();
        tb.insert(file, blob, 0o100644).unwrap();
        let tree = git.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent
            .map(|p| git.find_commit(p).unwrap())
            .into_iter()
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let oid = git.commit(None, &sig, &sig, file, &tree, &refs).unwrap();
        git.reference(refname, oid, true, "test").unwrap();
        oid
    }

    fn origin(dir: &Path) -> (Repository, Oid) {
        let git = Repository::init_bare(dir.join("origin.git")).unwrap();
        let main = commit(&git, "refs/heads/main", None, "a");
        commit(&git, "refs/pull/7/head", Some(main), "pr7");
        (git, main)
    }

    fn repo() -> RepoName {
        RepoName::parse("octo/hello").unwrap()
    }

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn head(git: &Repository, name: &str) -> Oid {
        git.refname_to_id(name).unwrap()
    }

    #[test]
    fn fetch_by_path_then_incrementally_by_file_url() {
        let tmp = tempfile::tempdir().unwrap();
        let (origin, main) = origin(tmp.path());
        let mirrors = Mirrors::new(&tmp.path().join("data"));
        let path = origin.path().to_str().unwrap().to_string();
        let branches = specs(&["+refs/heads/*:refs/heads/*"]);

        let git = mirrors.fetch(&repo(), &path, None, &branches).unwrap();
        assert!(git.is_bare());
        assert_eq!(
            git.path(),
            mirrors.root().join("octo/hello.git").as_path().join("")
        );
        assert_eq!(head(&git, "refs/heads/main"), main);
        assert!(
            git.find_reference("refs/pull/7/head").is_err(),
            "only what the refspecs name"
        );

        let next = commit(&origin, "refs/heads/main", Some(main), "b");
        let url = format!("file://{path}");
        let git = mirrors
            .fetch(&repo(), &url, Some("ghs_unused"), &branches)
            .unwrap();
        assert_eq!(head(&git, "refs/heads/main"), next);
        // An anonymous remote: nothing about the origin lands in the config.
        assert_eq!(git.remotes().unwrap().len(), 0);
        let config = std::fs::read_to_string(git.path().join("config")).unwrap();
        assert!(
            !config.contains("origin.git") && !config.contains("ghs_unused"),
            "{config}"
        );
        assert_eq!(
            head(&mirrors.open(&repo()).unwrap(), "refs/heads/main"),
            next
        );
    }

    #[test]
    fn fetch_a_pull_request_ref() {
        let tmp = tempfile::tempdir().unwrap();
        let (origin, _) = origin(tmp.path());
        let mirrors = Mirrors::new(tmp.path());
        let git = mirrors
            .fetch(
                &repo(),
                origin.path().to_str().unwrap(),
                None,
                &specs(&["+refs/pull/7/head:refs/pull/7/head"]),
            )
            .unwrap();
        assert_eq!(
            head(&git, "refs/pull/7/head"),
            head(&origin, "refs/pull/7/head")
        );
        assert!(git.find_reference("refs/heads/main").is_err());
    }

    #[test]
    fn bad_names_are_refused_and_paths_stay_under_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::new(tmp.path());
        for (owner, name) in [
            ("..", "x"),
            ("o", ".."),
            ("a/b", "c"),
            ("o", "n/../../x"),
            ("", "n"),
            ("o", "a b"),
        ] {
            let bad = RepoName {
                owner: owner.into(),
                name: name.into(),
            };
            let e = mirrors
                .fetch(
                    &bad,
                    "/nonexistent",
                    None,
                    &specs(&["+refs/heads/*:refs/heads/*"]),
                )
                .err()
                .unwrap();
            assert!(e.to_string().contains("invalid repository"), "{e}");
            assert!(mirrors.open(&bad).is_err());
            assert!(mirrors
                .push(&bad, "/nonexistent", None, "refs/heads/main")
                .is_err());
            let p = mirrors.path(&bad);
            assert!(
                p.starts_with(mirrors.root())
                    && p.components().count() == mirrors.root().components().count() + 2
            );
            assert!(
                !p.components().any(|c| c == std::path::Component::ParentDir),
                "{}",
                p.display()
            );
        }
        assert!(!mirrors.root().exists(), "nothing was written");
    }

    #[test]
    fn push_fast_forward_and_rejection_names_the_ref() {
        let tmp = tempfile::tempdir().unwrap();
        let (origin, main) = origin(tmp.path());
        let mirrors = Mirrors::new(tmp.path());
        let url = origin.path().to_str().unwrap().to_string();
        let git = mirrors
            .fetch(&repo(), &url, None, &specs(&["+refs/heads/*:refs/heads/*"]))
            .unwrap();

        let revert = commit(&git, "refs/heads/main", Some(main), "revert");
        mirrors
            .push(&repo(), &url, None, "refs/heads/main:refs/heads/main")
            .unwrap();
        assert_eq!(head(&origin, "refs/heads/main"), revert);

        // The origin moves on; the mirror's main is now behind and diverged.
        commit(&origin, "refs/heads/main", Some(revert), "someone else");
        commit(&git, "refs/heads/main", Some(revert), "stale");
        let e = mirrors
            .push(&repo(), &url, None, "refs/heads/main:refs/heads/main")
            .unwrap_err();
        assert!(format!("{e:#}").contains("refs/heads/main"), "{e:#}");
        assert_ne!(
            head(&origin, "refs/heads/main"),
            head(&git, "refs/heads/main")
        );
    }

    #[test]
    fn concurrent_fetches_of_one_repository_are_serialised() {
        let tmp = tempfile::tempdir().unwrap();
        let (origin, main) = origin(tmp.path());
        let mirrors = Arc::new(Mirrors::new(tmp.path()));
        let url = origin.path().to_str().unwrap().to_string();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (mirrors, url) = (mirrors.clone(), url.clone());
                std::thread::spawn(move || {
                    let git = mirrors
                        .fetch(&repo(), &url, None, &specs(&["+refs/heads/*:refs/heads/*"]))
                        .unwrap();
                    head(&git, "refs/heads/main")
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), main);
        }
    }

    /// An http server that refuses every request with 401 and records the Authorization
    /// headers it was sent.
    fn refusing_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/octo/hello.git", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(20) {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line
                        .strip_prefix("Authorization: ")
                        .or_else(|| line.strip_prefix("authorization: "))
                    {
                        auth = v.trim().to_string();
                    }
                }
                record.lock().unwrap().push(auth);
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"GitHub\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (url, seen)
    }

    #[test]
    fn token_goes_in_basic_auth_once_and_never_into_the_error() {
        use base64::Engine as _;
        let tmp = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::new(tmp.path());
        let (url, seen) = refusing_server();
        let token = "ghs_s3cretTOKENvalue";
        let e = mirrors
            .fetch(
                &repo(),
                &url,
                Some(token),
                &specs(&["+refs/heads/*:refs/heads/*"]),
            )
            .err()
            .unwrap();
        let shown = format!("{e:#} {e:?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(
            shown.contains("refused") || shown.contains("401") || shown.contains("auth"),
            "{shown}"
        );
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen.iter().filter(|a| **a == expected).count(),
            1,
            "{seen:?}"
        );
        assert!(
            seen.len() <= 3,
            "libgit2 was not stopped after one refusal: {seen:?}"
        );
    }

    /// A failed https fetch with a token: the token stays out of the error.
    #[test]
    fn https_failure_names_no_token() {
        let tmp = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::new(tmp.path());
        let token = "ghs_httpsTOKEN";
        let url = "https://127.0.0.1:1/octo/hello.git";
        let e = mirrors
            .fetch(
                &repo(),
                url,
                Some(token),
                &specs(&["+refs/heads/*:refs/heads/*"]),
            )
            .err()
            .unwrap();
        let shown = format!("{e:#}");
        assert!(!shown.contains(token) && shown.contains(url), "{shown}");
    }

    #[test]
    fn credentials_in_a_url_are_not_shown() {
        assert_eq!(
            shown_url("https://x-access-token:abc@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(
            shown_url("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(shown_url("/srv/git/r.git"), "/srv/git/r.git");
        assert_eq!(
            redact(
                "bad tok3n at https://u:p@h/x",
                "https://u:p@h/x",
                Some("tok3n")
            ),
            "bad *** at https://***@h/x"
        );
    }
}
