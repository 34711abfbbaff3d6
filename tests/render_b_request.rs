//! Render B through `patchgate serve`: what the builder is asked, and the optional branch.
//!
//! - A pull request whose body says `Closes #12`: the builder receives issue #12's title and
//!   body (read with `issues/get` from the fake GitHub), not the pull request's; the record's
//!   `request_hash` is the sha256 of exactly what the builder received.
//! - A pull request that closes nothing, or names an issue that cannot be read: the pull
//!   request's title and body, with render A's own account left out.
//! - `render_b.push_branch` in the server config: render B is pushed to the repository as
//!   `patchgate/render-b/<pr>` and the check run links to it; a branch of that name that is not
//!   a render B patchgate made is never overwritten (the check run names the hidden ref).

use crate::render_b_serve::{branches_with_config, completed_runs};
use crate::support;

use sha2::{Digest, Sha256};

use support::builders::{command_builder, demo_tree, DEMO_REQUEST};
use support::world::{git, Server, World, REPO};
use support::{CheckRunState, IssueSpec};

const ISSUE_TITLE: &str = "Link checker gives up on the first network error";
const ISSUE_BODY: &str = "When a site answers 503 once, the whole report fails.\r\n\r\nRetry fetches a few times, waiting longer each time.";

/// render A's own account in a pull request's body: the builder must never see it.
const ACCOUNT: &str = "## Changes\nfetch_with_retry() sleeps 200 ms, doubling.\n\n<!-- patchgate:explanation -->\nI wrapped every call in a loop.\n";

/// A world whose base names the builder `twin` (the `record-request.sh` fixture, writing what
/// it was asked to `asked.md` and then making render B equal to the demo's render-b), with
/// `server_extra` appended to the server config.
async fn world(server_extra: &str) -> (World, std::path::PathBuf) {
    let mut w = World::new().await;
    branches_with_config(&mut w, "render_b: {builder: twin, required: true}\n");
    let asked = w.dir.path().join("asked.md");
    let config = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(
        &w.config,
        format!(
            "{config}builders:\n{}{server_extra}",
            command_builder(
                "twin",
                "record-request.sh",
                &[
                    asked.to_str().unwrap(),
                    &demo_tree("render-b"),
                    "Add exponential-backoff retries to the HTTP fetch helpers"
                ],
                ", timeout_s: 60",
            )
        ),
    )
    .unwrap();
    (w, asked)
}

/// Open PR `number` (rb-a into rb-base) with `body`, deliver it, and wait for its run.
async fn gate(w: &World, s: &mut Server, number: u64, body: &str, runs: usize) -> CheckRunState {
    w.open_pr(number, "rb-a", "rb-base", body);
    let (status, text) = s
        .deliver(
            "pull_request",
            &format!("rq-{number}"),
            &w.pull_request_payload("opened", number),
        )
        .await;
    assert_eq!(status, 202, "{text}");
    let head = w.sha("rb-a");
    let done = completed_runs(w, &head, runs, s);
    done.into_iter()
        .find(|r| {
            r.output
                .summary
                .as_deref()
                .unwrap_or("")
                .contains(&format!("refs/patchgate/render-b/{number}/"))
        })
        .unwrap_or_else(|| panic!("no run of PR #{number}; log:\n{}", s.log()))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The record (`meta.yaml`) attached as a note to `head` in the server's mirror.
fn record_note(w: &World, head: &str) -> String {
    let mirror = w.data().join("mirrors/octo/linkwatch.git");
    git(&mirror, &["notes", "--ref=patchgate", "show", head])
}

/// What the builder received is `want`, and the record's request hash and source say so, on
/// the check run and in the mirror's note.
fn assert_request(
    w: &World,
    run: &CheckRunState,
    asked: &std::path::Path,
    want: &str,
    source: &str,
) {
    let got = std::fs::read_to_string(asked).expect("the builder ran and kept its request");
    assert_eq!(got, want);
    let hash = format!("sha256:{}", sha256_hex(&got));
    let text = run.output.text.clone().unwrap_or_default();
    assert!(text.contains(&hash), "{hash} not in the check run:\n{text}");
    assert!(
        text.contains(&format!("request_source: {source}")),
        "{text}"
    );
    let note = record_note(w, &run.head_sha);
    assert!(note.contains(&hash), "{hash} not in meta.yaml:\n{note}");
    assert!(
        note.contains(&format!("request_source: {source}")),
        "{note}"
    );
}

fn issue_reads(w: &World) -> Vec<String> {
    w.fake
        .requests()
        .into_iter()
        .filter(|r| r.operation_id.as_deref() == Some("issues/get"))
        .map(|r| format!("{} -> {}", r.path, r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_is_asked_the_issue_the_pull_request_closes() {
    let (w, asked) = world("").await;
    w.fake.add_issue(
        REPO,
        IssueSpec {
            number: 12,
            title: ISSUE_TITLE.into(),
            body: ISSUE_BODY.into(),
            user: "reporter".into(),
            ..IssueSpec::default()
        },
    );
    let mut s = w.serve(&[], &[]);
    let run = gate(&w, &mut s, 7, &format!("Closes #12\n\n{ACCOUNT}"), 1).await;
    // The issue's title and body (trimmed), nothing of the pull request's.
    assert_request(
        &w,
        &run,
        &asked,
        &format!("{ISSUE_TITLE}\n\n{}", ISSUE_BODY.trim()),
        "issue#12",
    );
    let got = std::fs::read_to_string(&asked).unwrap();
    assert!(!got.contains("PR from rb-a") && !got.contains("fetch_with_retry"));
    assert_eq!(
        issue_reads(&w),
        vec![format!("/repos/{REPO}/issues/12 -> 200")]
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_that_closes_nothing_asks_its_own_title_and_body_without_render_as_account()
{
    let (w, asked) = world("").await;
    let mut s = w.serve(&[], &[]);
    let run = gate(&w, &mut s, 7, &format!("{DEMO_REQUEST}\n\n{ACCOUNT}"), 1).await;
    assert_request(
        &w,
        &run,
        &asked,
        &format!("PR from rb-a\n\n{DEMO_REQUEST}"),
        "pr#7",
    );
    assert!(issue_reads(&w).is_empty(), "{:?}", issue_reads(&w));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_that_cannot_be_read_leaves_the_pull_requests_request_and_says_why() {
    let (w, asked) = world("").await;
    let mut s = w.serve(&[], &[]);
    let run = gate(&w, &mut s, 7, &format!("Fixes #99.\n\n{ACCOUNT}"), 1).await;
    assert_request(&w, &run, &asked, "PR from rb-a\n\nFixes #99.", "pr#7");
    assert_eq!(
        issue_reads(&w),
        vec![format!("/repos/{REPO}/issues/99 -> 404")]
    );
    assert!(
        s.log().contains("the closed issue could not be read"),
        "{}",
        s.log()
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_branch_pushes_render_b_for_people_to_read_and_never_overwrites_a_foreign_branch() {
    let (w, _) = world("render_b: {push_branch: true}\n").await;
    // Someone's own branch already has the name PR 8's render B would take.
    let main = w.sha("main");
    git(
        &w.bare,
        &["update-ref", "refs/heads/patchgate/render-b/8", &main],
    );
    let mut s = w.serve(&[], &[]);
    let head = w.sha("rb-a");

    let run = gate(&w, &mut s, 7, DEMO_REQUEST, 1).await;
    let summary = run.output.summary.clone().unwrap_or_default();
    let mirror = w.data().join("mirrors/octo/linkwatch.git");
    let built = git(
        &mirror,
        &["rev-parse", &format!("refs/patchgate/render-b/7/{head}")],
    );
    // The repository has render B as a branch (a commit on the base), and the run links it.
    assert_eq!(
        git(&w.bare, &["rev-parse", "refs/heads/patchgate/render-b/7"]),
        built
    );
    assert_eq!(
        git(&w.bare, &["rev-parse", &format!("{built}^")]),
        w.sha("rb-base")
    );
    assert!(
        summary.contains("kept at the branch [patchgate/render-b/7](https://github.com/octo/linkwatch/tree/patchgate/render-b/7)"),
        "{summary}"
    );
    let text = run.output.text.clone().unwrap_or_default();
    assert!(text.contains("branch: patchgate/render-b/7"), "{text}");

    // PR 8 asks the same (reused render B), but its branch name is taken by someone else's.
    let run = gate(&w, &mut s, 8, DEMO_REQUEST, 2).await;
    let summary = run.output.summary.clone().unwrap_or_default();
    assert_eq!(
        git(&w.bare, &["rev-parse", "refs/heads/patchgate/render-b/8"]),
        main,
        "a foreign branch was overwritten"
    );
    assert!(
        summary.contains(&format!("kept at refs/patchgate/render-b/8/{head}")),
        "{summary}"
    );
    assert!(!summary.contains("tree/patchgate/render-b/8"), "{summary}");
    assert!(
        s.log()
            .contains("not a render B patchgate made: not overwritten"),
        "{}",
        s.log()
    );
    w.assert_no_violations();
}
