//! `serve` publishes the signed records (issue #18): with `PATCHGATE_SIGNING_KEY`, the gate's
//! record note, its signature note and the ledger's anchor are pushed from the mirror to the
//! repository (the fake GitHub names a bare repository on disk as the clone URL), where
//! `patchgate meta verify --key`, `git verify-commit` and `patchgate ledger verify --anchor`
//! check them; without a key nothing is pushed; a remote ref moved by someone else is not
//! overwritten and the gate still reports.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::world::{git, World};

/// `ssh-keygen -t ed25519` in `dir`: the private key's path and the public key line.
fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen (OpenSSH) is needed by this test");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

fn patchgate(w: &World, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(args)
        .env("PATCHGATE_DATA_DIR", w.data())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The commit `r` names in the bare remote, if any.
fn remote_ref(w: &World, r: &str) -> Option<String> {
    let o = Command::new("git")
        .arg("-C")
        .arg(&w.bare)
        .args(["rev-parse", "--verify", "--quiet", r])
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pushes_the_signed_note_its_signature_and_the_anchor() {
    let w = World::new().await;
    let (key, public) = ssh_key(w.dir.path(), "deploy");
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches with backoff.");
    let mut s = w.serve(&[], &[("PATCHGATE_SIGNING_KEY", key.to_str().unwrap())]);
    let (status, body) = s
        .deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    assert_eq!(status, 202, "{body}");
    let head = w.sha("render-a");
    let run = w.completed_run(&head, &mut s);
    assert!(run.conclusion.is_some(), "{run:?}");

    // All four refs are on the remote once the check run is complete.
    for r in [
        "refs/notes/patchgate",
        "refs/notes/patchgate-signatures",
        "refs/notes/patchgate-texts",
        "refs/patchgate/ledger",
    ] {
        assert!(remote_ref(&w, r).is_some(), "{r} was not pushed");
    }
    let allowed = w.dir.path().join("allowed_signers");
    // The anchor's principal is its committer's email (as git verify-commit looks it up).
    let email = git(
        &w.bare,
        &["log", "-1", "--format=%ce", "refs/patchgate/ledger"],
    );
    std::fs::write(&allowed, format!("{} {public}\n", email.trim())).unwrap();
    let allowed_s = allowed.to_str().unwrap();
    let bare = w.bare.to_str().unwrap();

    // The record verifies, signature included, from the remote alone.
    let v = patchgate(
        &w,
        &["meta", "verify", &head, "--repo", bare, "--key", allowed_s],
    );
    assert_eq!(v.status.code(), Some(0), "{}", out(&v));
    assert!(out(&v).contains("signed by SHA256:"), "{}", out(&v));
    // git checks the anchor commit with the deployment's allowed-signers file.
    let g = Command::new("git")
        .arg("-C")
        .arg(&w.bare)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={allowed_s}"))
        .args(["verify-commit", "refs/patchgate/ledger"])
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", out(&g));
    // The server's ledger matches the anchor it pushed.
    let l = patchgate(
        &w,
        &["ledger", "verify", "--anchor", bare, "--key", allowed_s],
    );
    assert_eq!(l.status.code(), Some(0), "{}", out(&l));
    assert!(out(&l).contains("signed anchor #"), "{}", out(&l));
    // The record's page from the remote alone: its explanation texts, from the texts note.
    let page = patchgate(
        &w,
        &[
            "report", &head, "--repo", bare, "--key", allowed_s, "--html", "-",
        ],
    );
    assert_eq!(page.status.code(), Some(0), "{}", out(&page));
    let html = String::from_utf8_lossy(&page.stdout);
    assert!(html.contains("id=\"explanation-a\""), "{html}");
    assert!(!html.contains("id=\"texts-not-kept\""), "{html}");
    assert!(!html.contains("id=\"texts-problem\""), "{html}");

    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("signed records pushed"), "{log}");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(!log.contains(private.lines().nth(1).unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_nothing_is_pushed() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches with backoff.");
    let mut s = w.serve(&[], &[]);
    let (status, body) = s
        .deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    assert_eq!(status, 202, "{body}");
    w.completed_run(&w.sha("render-a"), &mut s);
    for r in ["refs/notes/patchgate", "refs/patchgate/ledger"] {
        assert_eq!(remote_ref(&w, r), None, "{r} was pushed without a key");
    }
}

/// Someone else moved the remote's anchor ref: the push is refused (never forced), said in the
/// log, the other refs are still pushed and the gate still reports its verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_ref_moved_by_someone_else_is_not_overwritten() {
    let w = World::new().await;
    let (key, _) = ssh_key(w.dir.path(), "deploy");
    let foreign = w.sha("main");
    git(&w.bare, &["update-ref", "refs/patchgate/ledger", &foreign]);
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches with backoff.");
    let mut s = w.serve(&[], &[("PATCHGATE_SIGNING_KEY", key.to_str().unwrap())]);
    let (status, body) = s
        .deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    assert_eq!(status, 202, "{body}");
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert!(run.conclusion.is_some(), "{run:?}");
    assert_eq!(
        remote_ref(&w, "refs/patchgate/ledger").as_deref(),
        Some(foreign.as_str())
    );
    assert!(remote_ref(&w, "refs/notes/patchgate").is_some());
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("a signed-record ref was not pushed") && log.contains("refs/patchgate/ledger"),
        "{log}"
    );
}
