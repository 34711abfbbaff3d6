//! A maintainer's vote through `patchgate serve`: `/patchgate approve|block <reason>` from a
//! user at or above `human_votes.permission` (default maintain) is recorded in the ledger bound
//! to the PR's head and the PR is gated again with it; a user below it gets a reply and nothing
//! changes; a new push voids the vote. The test world's auditors abstain on escalated input, so
//! an escalated PR passes only on a maintainer's approval.

use crate::support;

use std::time::{Duration, Instant};

use support::world::{job_counts, jobs, World, REPO};
use support::BOT_LOGIN;

/// Wait until `head` has at least `n` completed patchgate check runs; the `n`-th one.
fn nth_completed_run(
    w: &World,
    head: &str,
    n: usize,
    s: &mut support::world::Server,
) -> support::CheckRunState {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut done: Vec<_> = w
            .runs(head)
            .into_iter()
            .filter(|r| r.status == "completed")
            .collect();
        if done.len() >= n {
            done.sort_by_key(|r| r.id);
            return done[n - 1].clone();
        }
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{} completed run(s) on {head}, waiting for {n}:\n{}",
            done.len(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Push a new head on PR 1 (the same tree, one commit on `head`) and deliver its
/// `synchronize`: the new head's id.
async fn push_new_head(w: &World, s: &mut support::world::Server, head: &str) -> String {
    let tree = support::world::git(&w.bare, &["rev-parse", &format!("{head}^{{tree}}")]);
    let new = support::world::git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            head,
            "-m",
            "Tidy the retry loop",
        ],
    );
    support::world::git(&w.bare, &["update-ref", "refs/pull/1/head", &new]);
    w.fake.update_pull(REPO, 1, |p| p.head_sha = new.clone());
    s.deliver(
        "pull_request",
        "d-push",
        &w.pull_request_payload("synchronize", 1),
    )
    .await;
    new
}

/// Wait until the job list says `done {n}` with nothing queued or running.
fn wait_jobs_done(w: &World, n: usize, s: &mut support::world::Server) {
    s.wait_until(&format!("all jobs done, {n} of them"), 180, || {
        let j = jobs(w);
        let c = job_counts(&j);
        let is = |state: &str, v: u64| c.get(state) == Some(&v);
        (is("queued", 0) && is("running", 0) && is("done", n as u64)).then_some(())
    });
}

/// The App's replies on PR `number`.
fn replies(w: &World, number: u64) -> Vec<String> {
    w.fake
        .comments(REPO, number)
        .into_iter()
        .filter(|c| c.user == BOT_LOGIN)
        .map(|c| c.body)
        .collect()
}

/// Wait until the App has posted at least `n` replies on PR `number`; the `n`-th one.
fn nth_reply(w: &World, number: u64, n: usize, s: &mut support::world::Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = replies(w, number);
        if r.len() >= n {
            return r[n - 1].clone();
        }
        s.assert_alive();
        assert!(Instant::now() < deadline, "no reply {n}:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainers_approval_passes_an_escalated_pr_until_a_new_push() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    w.open_pr(
        2,
        "render-c",
        "main",
        "Retry failed fetches with a linear backoff.",
    );
    w.fake.set_permission(REPO, "maria", "maintain");
    w.fake.set_permission(REPO, "wendy", "write");
    w.fake.set_permission(REPO, "rita", "read");
    let head = w.sha("render-a");
    let mut s = w.serve(&[], &[]);
    // Render B is #2, a different backoff: escalated, the auditors abstain, blocked.
    let p = w.comment_payload(1, "maria", "/patchgate render-b #2");
    s.deliver("issue_comment", "d-rb", &p).await;
    let run = nth_completed_run(&w, &head, 1, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("no standing vote on this head"),
        "{summary}"
    );
    wait_jobs_done(&w, 1, &mut s);
    let before = replies(&w, 1).len();

    // A writer and a reader are below `maintain`: a reply each, nothing recorded, no gate.
    for (i, (user, has)) in [("wendy", "write"), ("rita", "read")].iter().enumerate() {
        let p = w.comment_payload(1, user, "/patchgate approve looks right to me");
        s.deliver("issue_comment", &format!("d-deny-{user}"), &p)
            .await;
        let reply = nth_reply(&w, 1, before + i + 1, &mut s);
        assert!(reply.contains(&format!("@{user}")), "{reply}");
        assert!(reply.contains("needs the `maintain` permission"), "{reply}");
        assert!(reply.contains(&format!("you have `{has}`")), "{reply}");
        assert!(reply.contains("No vote was recorded"), "{reply}");
    }
    wait_jobs_done(&w, 3, &mut s);
    assert_eq!(w.runs(&head).len(), 1, "a refused vote gates nothing");

    // A maintainer's approval: recorded, gated again, passed, shown on the check run.
    let p = w.comment_payload(
        1,
        "maria",
        "Read both renders.\n\n/patchgate approve the exponential backoff is the one asked for\n",
    );
    s.deliver("issue_comment", "d-approve", &p).await;
    let run = nth_completed_run(&w, &head, 2, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("**Maintainer:** `approve` by @maria (maintain) on this head"),
        "{summary}"
    );
    assert!(
        summary.contains("the exponential backoff is the one asked for"),
        "{summary}"
    );
    let text = run.output.text.clone().unwrap_or_default();
    assert!(text.contains("verdict: approve"), "{text}");
    assert!(text.contains(&head), "{text}");
    let reply = nth_reply(&w, 1, before + 3, &mut s);
    assert!(reply.contains("recorded in the ledger"), "{reply}");
    assert!(reply.contains("now passes"), "{reply}");
    wait_jobs_done(&w, 4, &mut s);

    // The vote is durable: a recheck of the same head reads it back from the ledger.
    let p = w.comment_payload(1, "wendy", "/patchgate recheck");
    s.deliver("issue_comment", "d-recheck", &p).await;
    let run = nth_completed_run(&w, &head, 3, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    wait_jobs_done(&w, 5, &mut s);

    // A new push voids it: the new head is escalated, with no standing vote, and blocked.
    let new = push_new_head(&w, &mut s, &head).await;
    let run = w.completed_run(&new, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("no standing vote on this head"),
        "{summary}"
    );
    assert!(!summary.contains("@maria"), "{summary}");
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainers_block_blocks_a_passing_pr() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.fake.set_permission(REPO, "adam", "admin");
    let head = w.sha("render-a");
    let mut s = w.serve(&[], &[]);
    s.deliver(
        "pull_request",
        "d-open",
        &w.pull_request_payload("opened", 1),
    )
    .await;
    let run = nth_completed_run(&w, &head, 1, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    wait_jobs_done(&w, 1, &mut s);
    // A reason is required; without one nothing is recorded.
    let p = w.comment_payload(1, "adam", "/patchgate block");
    s.deliver("issue_comment", "d-noreason", &p).await;
    let reply = nth_reply(&w, 1, 1, &mut s);
    assert!(reply.contains("needs a reason"), "{reply}");
    wait_jobs_done(&w, 2, &mut s);
    assert_eq!(w.runs(&head).len(), 1);
    // An admin is above `maintain`: the block is recorded and the PR blocked.
    let p = w.comment_payload(1, "adam", "/patchgate block not in this release");
    s.deliver("issue_comment", "d-block", &p).await;
    let run = nth_completed_run(&w, &head, 2, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("**Maintainer:** `block` by @adam (admin) on this head"),
        "{summary}"
    );
    assert!(summary.contains("blocked by @adam"), "{summary}");
    let reply = nth_reply(&w, 1, 2, &mut s);
    assert!(
        reply.contains("`block` is recorded in the ledger"),
        "{reply}"
    );
    assert!(reply.contains("still does not pass"), "{reply}");
    w.assert_no_violations();
}

/// The identifiers of a run's buttons, in order.
fn buttons(run: &support::CheckRunState) -> Vec<String> {
    run.actions
        .iter()
        .filter_map(|a| a["identifier"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_runs_approve_and_block_buttons_vote_like_the_commands() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    w.open_pr(
        2,
        "render-c",
        "main",
        "Retry failed fetches with a linear backoff.",
    );
    w.fake.set_permission(REPO, "maria", "maintain");
    w.fake.set_permission(REPO, "wendy", "write");
    w.fake.set_permission(REPO, "adam", "admin");
    let head = w.sha("render-a");
    let mut s = w.serve(&[], &[]);
    // Escalated (render B is #2, a different backoff), the auditors abstain: blocked, and the
    // run offers Approve and Block.
    let p = w.comment_payload(1, "maria", "/patchgate render-b #2");
    s.deliver("issue_comment", "d-rb", &p).await;
    let first = nth_completed_run(&w, &head, 1, &mut s);
    assert_eq!(first.conclusion.as_deref(), Some("failure"));
    assert_eq!(buttons(&first), ["approve", "block"], "{:?}", first.actions);
    wait_jobs_done(&w, 1, &mut s);
    let before = replies(&w, 1).len();

    // A writer is below `maintain`: a reply, nothing recorded, nothing gated.
    let p = w.check_action_payload("wendy", &first, "approve");
    s.deliver("check_run", "d-wendy", &p).await;
    let reply = nth_reply(&w, 1, before + 1, &mut s);
    assert!(
        reply.contains("@wendy the Approve button needs the `maintain` permission"),
        "{reply}"
    );
    assert!(reply.contains("you have `write`"), "{reply}");
    assert!(reply.contains("No vote was recorded"), "{reply}");
    wait_jobs_done(&w, 2, &mut s);
    assert_eq!(w.runs(&head).len(), 1, "a refused press gates nothing");

    // A maintainer presses Approve: the vote is recorded with the button's fixed reason, bound
    // to the head, and the escalated change passes.
    let p = w.check_action_payload("maria", &first, "approve");
    s.deliver("check_run", "d-approve", &p).await;
    let run = nth_completed_run(&w, &head, 2, &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("**Maintainer:** `approve` by @maria (maintain) on this head"),
        "{summary}"
    );
    assert!(
        summary.contains("Approve button on the patchgate check"),
        "{summary}"
    );
    let text = run.output.text.clone().unwrap_or_default();
    assert!(text.contains("verdict: approve"), "{text}");
    assert!(
        text.contains("Approve button on the patchgate check"),
        "{text}"
    );
    assert!(text.contains(&head), "{text}");
    assert_eq!(buttons(&run), ["approve", "block"], "still escalated");
    let reply = nth_reply(&w, 1, before + 2, &mut s);
    assert!(reply.contains("recorded in the ledger"), "{reply}");
    assert!(reply.contains("now passes"), "{reply}");
    wait_jobs_done(&w, 3, &mut s);

    // An admin presses Block on that run: the newest vote stands, the change is blocked.
    let p = w.check_action_payload("adam", &run, "block");
    s.deliver("check_run", "d-block", &p).await;
    let blocked = nth_completed_run(&w, &head, 3, &mut s);
    assert_eq!(
        blocked.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        blocked.output
    );
    let summary = blocked.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("**Maintainer:** `block` by @adam (admin) on this head"),
        "{summary}"
    );
    assert!(
        summary.contains("Block button on the patchgate check"),
        "{summary}"
    );
    wait_jobs_done(&w, 4, &mut s);

    // A new push: the new head is gated afresh, with no vote.
    let new = push_new_head(&w, &mut s, &head).await;
    let fresh = w.completed_run(&new, &mut s);
    assert_eq!(fresh.conclusion.as_deref(), Some("failure"));
    wait_jobs_done(&w, 5, &mut s);

    // Approve pressed on the old head's run: the vote would be for a head nobody can merge;
    // nothing is recorded, neither head is gated, the reply says why.
    let p = w.check_action_payload("maria", &run, "approve");
    s.deliver("check_run", "d-stale", &p).await;
    let reply = nth_reply(&w, 1, before + 3, &mut s);
    assert!(
        reply.contains("`block` is recorded in the ledger"),
        "{reply}"
    );
    let reply = nth_reply(&w, 1, before + 4, &mut s);
    assert!(
        reply.contains("@maria the Approve button was pressed on the check of head"),
        "{reply}"
    );
    assert!(reply.contains(&new[..12]), "{reply}");
    assert!(reply.contains("nothing was recorded"), "{reply}");
    wait_jobs_done(&w, 6, &mut s);
    assert_eq!(w.runs(&head).len(), 3, "the old head is not gated again");
    let runs = w.runs(&new);
    assert_eq!(
        runs.len(),
        1,
        "the new head is not gated by an old run's button"
    );
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    w.assert_no_violations();
}
