//! Render B on demand through `patchgate serve` with the fake GitHub: a pull request opened with
//! no render B, on a base whose repository config names a builder → render B built → the check
//! run says who built it, in how long, at what cost and where it is kept; a recheck reuses it.
//! And `patchgate check --render-b auto` on a local repository, no GitHub.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::builders::{command_builder, demo_tree, BuilderWorld, DEMO_REQUEST};
use support::world::{git, World};
use support::CheckRunState;

/// A base `rb-base` (main + a repository config naming `builder`) and `rb-a` (render A's change
/// on it), pushed to the world's bare repository.
pub(crate) fn branches_with_config(w: &mut World, repo_config: &str) {
    branches_named(w, "rb", repo_config);
}

/// A base `<prefix>-base` (main + `repo_config` as the repository config) and `<prefix>-a`
/// (render A's change on it), pushed to the world's bare repository.
pub(crate) fn branches_named(w: &mut World, prefix: &str, repo_config: &str) {
    let (base, a) = (format!("{prefix}-base"), format!("{prefix}-a"));
    let work = w.dir.path().join("demo");
    git(&work, &["checkout", "-q", "-b", &base, "main"]);
    std::fs::create_dir_all(work.join(".github")).unwrap();
    std::fs::write(work.join(".github/patchgate.yml"), repo_config).unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "patchgate: ask a builder for render B",
        ],
    );
    git(&work, &["checkout", "-q", "-b", &a, &base]);
    git(&work, &["cherry-pick", "render-a"]);
    git(&work, &["checkout", "-q", "main"]);
    let bare = w.bare.to_str().unwrap().to_string();
    git(&work, &["push", "-q", &bare, &base, &a]);
    for b in [base, a] {
        let sha = git(&w.bare, &["rev-parse", &b]);
        w.shas.insert(b, sha);
    }
}

pub(crate) fn completed_runs(
    w: &World,
    head: &str,
    n: usize,
    s: &mut support::world::Server,
) -> Vec<CheckRunState> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: Vec<_> = w
            .runs(head)
            .into_iter()
            .filter(|r| r.status == "completed")
            .collect();
        if done.len() >= n {
            return done;
        }
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{} of {n} runs; log:\n{}",
            done.len(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_builds_render_b_for_a_pr_that_has_none_and_reuses_it_on_recheck() {
    let mut w = World::new().await;
    branches_with_config(&mut w, "render_b: {builder: twin, required: true}\n");
    let config = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(
        &w.config,
        format!(
            "{config}builders:\n{}",
            command_builder(
                "twin",
                "copy-tree.sh",
                &[
                    &demo_tree("render-b"),
                    "Add exponential-backoff retries to the HTTP fetch helpers"
                ],
                ", timeout_s: 60",
            )
        ),
    )
    .unwrap();
    w.open_pr(
        7,
        "rb-a",
        "rb-base",
        &format!("{DEMO_REQUEST}\n\n## Changes\nfetch_with_retry() sleeps 200 ms, doubling.\n"),
    );
    let head = w.sha("rb-a");
    let mut s = w.serve(&[], &[]);
    let (status, body) = s
        .deliver("pull_request", "rb-1", &w.pull_request_payload("opened", 7))
        .await;
    assert_eq!(status, 202, "{body}");
    let run = completed_runs(&w, &head, 1, &mut s).remove(0);
    let summary = run.output.summary.clone().unwrap_or_default();
    let text = run.output.text.clone().unwrap_or_default();
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{summary}\n{}",
        s.log()
    );
    assert!(summary.contains("render B built by twin"), "{summary}");
    assert!(
        summary.contains(&format!("refs/patchgate/render-b/7/{head}")),
        "{summary}"
    );
    assert!(summary.contains("builder:twin"), "{summary}");
    assert!(text.contains("request_hash: sha256:"), "{text}");
    assert!(text.contains("request_source: pr#7"), "{text}");
    // The builder saw the request without render A's account.
    assert!(!summary.contains("(reused"), "{summary}");
    // No branch is pushed unless the server config asks (`render_b.push_branch`).
    assert_eq!(
        git(&w.bare, &["for-each-ref", "refs/heads/patchgate"]),
        "",
        "{summary}"
    );

    // A recheck (the same head delivered again) reuses render B.
    let (status, _) = s
        .deliver(
            "pull_request",
            "rb-2",
            &w.pull_request_payload("synchronize", 7),
        )
        .await;
    assert_eq!(status, 202);
    let runs = completed_runs(&w, &head, 2, &mut s);
    let again = runs
        .iter()
        .map(|r| r.output.summary.clone().unwrap_or_default())
        .find(|s| s.contains("reused"));
    assert!(again.is_some(), "{runs:?}");
    w.assert_no_violations();
}

#[test]
fn check_render_b_auto_runs_the_whole_gate_on_a_local_repository() {
    let w = BuilderWorld::new();
    // The repository config (at the base) names the builder.
    w.git(&["checkout", "-q", "-b", "rb-base", "main"]);
    std::fs::create_dir_all(w.repo.join(".github")).unwrap();
    std::fs::write(
        w.repo.join(".github/patchgate.yml"),
        "render_b: {builder: twin, when: paths, paths: [\"src/**\"]}\n",
    )
    .unwrap();
    w.git(&["add", "-A"]);
    w.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-q",
        "-m",
        "config",
    ]);
    w.git(&["checkout", "-q", "-b", "rb-a", "rb-base"]);
    w.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "cherry-pick",
        "render-a",
    ]);
    w.git(&["checkout", "-q", "main"]);
    let yaml = w.server_yaml(
        1.0,
        &command_builder(
            "twin",
            "copy-tree.sh",
            &[
                &demo_tree("render-c"),
                "Retry failed fetches with a linear backoff",
            ],
            "",
        ),
        "",
    );
    std::fs::write(w.config_path(), yaml).unwrap();
    let request = w.dir.path().join("request.md");
    std::fs::write(&request, DEMO_REQUEST).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_patchgate"))
            .args(args)
            .env("PATCHGATE_DATA_DIR", &w.data)
            .env("PATCHGATE_CONFIG", w.config_path())
            .env("NO_COLOR", "1")
            .env_remove("PATCHGATE_AUDIT_MODE")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let repo = w.repo.display().to_string();
    let req = request.display().to_string();
    let (code, out, err) = run(&[
        "check",
        "--repo",
        &repo,
        "--base",
        "rb-base",
        "--head",
        "rb-a",
        "--render-b",
        "auto",
        "--request-file",
        &req,
        "--no-note",
    ]);
    // render-c differs from render A: the escalated audit, which the approving auditors pass.
    assert!(
        out.contains("render B built by twin"),
        "{code:?}\n{out}\n{err}"
    );
    assert!(out.contains("escalated"), "{out}");
    assert!(out.contains("builder:twin"), "{out}");
    assert!(matches!(code, Some(0) | Some(1)), "{code:?}\n{err}");

    // `patchgate render` prints the same render B: reused, not built again.
    let (code, out, err) = run(&[
        "render",
        "--builder",
        "twin",
        "--repo",
        &repo,
        "--base",
        "rb-base",
        "--request-file",
        &req,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let commit = out.trim().to_string();
    assert_eq!(commit.len(), 40, "{out}");
    assert!(err.contains("(reused)"), "{err}");
    assert_eq!(
        w.git(&["rev-parse", &format!("{commit}^")]),
        w.git(&["rev-parse", "rb-base"])
    );

    // Without a request file, or with an unknown builder: clear errors.
    let (code, _, err) = run(&[
        "check",
        "--repo",
        &repo,
        "--base",
        "rb-base",
        "--head",
        "rb-a",
        "--render-b",
        "auto",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--request-file"), "{err}");
    let (code, _, err) = run(&[
        "render",
        "--builder",
        "nope",
        "--repo",
        &repo,
        "--base",
        "rb-base",
        "--request-file",
        &req,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no builder is named `nope`"), "{err}");
}
