//! Issue #19 on the record page, through `serve` and the fake GitHub: a maintainer approves an
//! escalated decision from its page — the same vote as `/patchgate approve` (the same code and
//! permission check), bound to the page's head — and the gate passes; a writer and a reader
//! are refused with the reason; a form without this session's CSRF token changes nothing; a
//! page of an older head records nothing and names the current head. The page also shows the
//! explanation texts kept beside the record (secrets masked, each checked against its recorded
//! hash) and the record's signature, verified against the deployment's key — for an earlier
//! record of a re-gated head too — and refused against a key that is not allowed.

use crate::check::ssh_key;
use crate::report::after;
use crate::support;
use crate::web::{csrf, get, post, sign_in, PUBLIC};

use support::world::{git, job_counts, jobs, World, REPO};
use support::BOT_LOGIN;

const KEY_ID: &str = "AKIAQWERTYUIOPASDFGH";

/// The decisions of `path` listed for `cookie`, newest first: their ledger seqs.
async fn listed(base: &str, cookie: &str, path: &str) -> Vec<String> {
    let (code, list) = get(base, cookie, &format!("/ui/decisions?path={path}")).await;
    assert_eq!(code, 200, "{list}");
    list.split("href=\"/ui/decisions/")
        .skip(1)
        .map(|s| s.chars().take_while(char::is_ascii_digit).collect())
        .collect()
}

fn completed(w: &World, head: &str) -> Vec<support::CheckRunState> {
    let mut runs: Vec<_> = w
        .runs(head)
        .into_iter()
        .filter(|r| r.status == "completed")
        .collect();
    runs.sort_by_key(|r| r.id);
    runs
}

fn wait_idle(w: &World, s: &mut support::world::Server) {
    s.wait_until("no job queued or running", 180, || {
        let c = job_counts(&jobs(w));
        (c.get("queued").copied().unwrap_or(0) == 0 && c.get("running").copied().unwrap_or(0) == 0)
            .then_some(())
    });
}

/// A page's text with the quotes askama escapes put back.
fn unescape(page: &str) -> String {
    page.replace("&#39;", "'").replace("&#34;", "\"")
}

fn vote_form(verdict: &str, reason: &str, token: &str) -> String {
    format!(
        "csrf={token}&verdict={verdict}&reason={}",
        reason.replace(' ', "+")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_from_the_record_page_passes_the_gate_and_refuses_the_rest() {
    let w = World::new().await;
    let dir = w.dir.path();
    let (key, _) = ssh_key(dir, "deploy");
    let (_, stranger) = ssh_key(dir, "stranger");
    w.fake.set_oauth_client("Iv1.web", "web-secret-value");
    w.open_pr(
        1,
        "render-a",
        "main",
        &format!("Retry HTTP fetches with exponential backoff. Deploy key {KEY_ID} stays."),
    );
    w.open_pr(
        2,
        "render-c",
        "main",
        "Retry failed fetches with a linear backoff.",
    );
    for (user, level) in [("maria", "maintain"), ("wendy", "write"), ("rita", "read")] {
        w.fake.set_permission(REPO, user, level);
    }
    let head = w.sha("render-a");
    let fake_url = w.fake.url();
    let env = [
        ("PATCHGATE_OAUTH_CLIENT_ID", "Iv1.web"),
        ("PATCHGATE_OAUTH_CLIENT_SECRET", "web-secret-value"),
        ("PATCHGATE_PUBLIC_URL", PUBLIC),
        ("PATCHGATE_GITHUB_WEB_URL", fake_url.as_str()),
        ("PATCHGATE_SIGNING_KEY", key.to_str().unwrap()),
    ];
    let mut s = w.serve(&[], &env);
    let base = s.url.clone();
    // Render B is #2, a different backoff: escalated, the auditors abstain, blocked.
    let p = w.comment_payload(1, "maria", "/patchgate render-b #2");
    s.deliver("issue_comment", "d-rb", &p).await;
    let run = w.completed_run(&head, &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    wait_idle(&w, &mut s);

    w.fake.set_browser_user(Some("maria"));
    let maria = sign_in(&base).await;
    let seqs = listed(&base, &maria, "escalated").await;
    assert_eq!(seqs.len(), 1, "{seqs:?}");
    let seq = seqs[0].clone();
    let page_url = format!("/ui/decisions/{seq}");
    let vote_url = format!("{page_url}/vote");
    let (code, page) = get(&base, &maria, &page_url).await;
    assert_eq!(code, 200);
    // The form, for a maintainer, bound to the record's head.
    assert!(page.contains(&format!("action=\"{vote_url}\"")), "{page}");
    assert!(page.contains("id=\"vote-approve\""), "{page}");
    assert!(
        page.contains(&format!("on head <code>{head}</code>")),
        "{page}"
    );
    // The explanations' texts: render B's (its commit's message) verbatim and checked; render
    // A's (the PR's description) with the key masked (so not checkable), the key on no page.
    assert!(
        page.contains("id=\"explanation-b\">Retry failed fetches with a linear backoff"),
        "{page}"
    );
    let b_check = after(&page, "explanation-b-check");
    assert!(
        b_check.starts_with("the text hashes to the recorded hash"),
        "{b_check}"
    );
    assert!(page.contains("Retry HTTP fetches with exponential backoff."));
    assert!(page.contains("[REDACTED:"), "{page}");
    assert!(!page.contains(KEY_ID), "a secret on the page");
    assert!(page.contains("secrets were masked out of it"), "{page}");
    assert!(!page.contains("id=\"texts-not-kept\""), "{page}");
    // The record's signature, checked against the deployment's own key.
    let signature = page.split("id=\"signature\">").nth(1).unwrap_or_default();
    assert!(
        signature.starts_with("verified, signed by SHA256:"),
        "{signature}"
    );

    // A writer and a reader: no form, and a vote posted anyway is refused with the reason.
    for (user, has) in [("wendy", "write"), ("rita", "read")] {
        w.fake.set_browser_user(Some(user));
        let cookie = sign_in(&base).await;
        let (code, page) = get(&base, &cookie, &page_url).await;
        assert_eq!(code, 200);
        assert!(!page.contains("id=\"vote-approve\""), "{page}");
        assert!(page.contains("needs the `maintain` permission"), "{page}");
        let form = vote_form("approve", "looks right", &csrf(&page));
        let (code, refused) = post(&base, &cookie, &vote_url, &form).await;
        let refused = unescape(&refused);
        assert_eq!(code, 403, "{refused}");
        assert!(
            refused.contains(&format!("Refused: @{user}'s approve")),
            "{refused}"
        );
        assert!(
            refused.contains("needs the `maintain` permission"),
            "{refused}"
        );
        assert!(refused.contains(&format!("you have `{has}`")), "{refused}");
        assert!(refused.contains("No vote was recorded"), "{refused}");
    }
    // A forged or missing token: refused, nothing happens.
    for form in [
        vote_form("approve", "forged", "forged"),
        "verdict=approve&reason=none".to_string(),
    ] {
        let (code, body) = post(&base, &maria, &vote_url, &form).await;
        assert_eq!(code, 403, "{body}");
        assert!(
            unescape(&body).contains("did not carry this session's token"),
            "{body}"
        );
    }
    // No reason: a clear refusal.
    let token = csrf(&page);
    let (code, body) = post(&base, &maria, &vote_url, &vote_form("approve", "", &token)).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("a vote needs a reason"), "{body}");
    assert_eq!(
        completed(&w, &head).len(),
        1,
        "nothing refused gated anything"
    );
    let no_bot_reply = w
        .fake
        .comments(REPO, 1)
        .iter()
        .all(|c| c.user != BOT_LOGIN || !c.body.contains("approve"));
    assert!(no_bot_reply, "a refused web vote replies on the page only");

    // The maintainer approves: recorded, the gate runs again and passes.
    let form = vote_form(
        "approve",
        "the exponential backoff is the one asked for",
        &token,
    );
    let (code, done) = post(&base, &maria, &vote_url, &form).await;
    assert_eq!(code, 200, "{done}");
    assert!(done.contains("id=\"notice\""), "{done}");
    assert!(done.contains("recorded in the ledger"), "{done}");
    assert!(done.contains("The gate passes now"), "{done}");
    let runs = completed(&w, &head);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[1].conclusion.as_deref(), Some("success"));
    let summary = runs[1].output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("**Maintainer:** `approve` by @maria (maintain) on this head"),
        "{summary}"
    );
    assert!(
        summary.contains("the exponential backoff is the one asked for"),
        "{summary}"
    );
    let reply = w
        .fake
        .comments(REPO, 1)
        .into_iter()
        .filter(|c| c.user == BOT_LOGIN)
        .map(|c| c.body)
        .find(|b| b.contains("recorded in the ledger"))
        .expect("the PR is told of the vote");
    assert!(reply.contains("@maria's `approve`"), "{reply}");
    assert!(reply.contains("web view"), "{reply}");
    // The new record is listed, passed, with the vote; the first record's signature still
    // verifies though the head's notes now carry the second record.
    let seqs = listed(&base, &maria, "escalated").await;
    assert_eq!(seqs.len(), 2, "{seqs:?}");
    let (_, newer) = get(&base, &maria, &format!("/ui/decisions/{}", seqs[0])).await;
    assert!(newer.contains("PASSED"), "{newer}");
    assert!(
        newer.contains("approve by @maria (maintain), on this head"),
        "{newer}"
    );
    let (_, older) = get(&base, &maria, &page_url).await;
    let signature = older.split("id=\"signature\">").nth(1).unwrap_or_default();
    assert!(
        signature.starts_with("verified, signed by SHA256:"),
        "{signature}"
    );

    // A new push: the page of the old head records nothing and names the current head.
    let tree = git(&w.bare, &["rev-parse", &format!("{head}^{{tree}}")]);
    let new = git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            &head,
            "-m",
            "Tidy the retry loop",
        ],
    );
    git(&w.bare, &["update-ref", "refs/pull/1/head", &new]);
    w.fake.update_pull(REPO, 1, |p| p.head_sha = new.clone());
    let form = vote_form("block", "not this one", &token);
    let (code, stale) = post(&base, &maria, &vote_url, &form).await;
    assert_eq!(code, 409, "{stale}");
    assert!(stale.contains("Nothing was recorded"), "{stale}");
    assert!(stale.contains(&new[..12]), "{stale}");
    assert!(completed(&w, &new).is_empty(), "a stale vote gates nothing");
    assert_eq!(completed(&w, &head).len(), 2);

    // The key in the description is in no log line and no reply either.
    assert!(!s.log().contains(KEY_ID), "the key in the server's log");
    let replies = w.fake.comments(REPO, 1);
    assert!(replies.iter().all(|c| !c.body.contains(KEY_ID)));

    // Against keys that do not include the deployment's, the signature is refused.
    let (status, _) = s.stop();
    assert!(status.success());
    let mut env = env.to_vec();
    let strangers = format!("ops@example.com {stranger}");
    env.push(("PATCHGATE_ALLOWED_SIGNERS", strangers.as_str()));
    let s = w.serve(&[], &env);
    w.fake.set_browser_user(Some("maria"));
    let maria = sign_in(&s.url).await;
    let (_, page) = get(&s.url, &maria, &page_url).await;
    let signature = page.split("id=\"signature\">").nth(1).unwrap_or_default();
    assert!(signature.starts_with("INVALID"), "{signature}");
    w.assert_no_violations();
    let (status, _) = s.stop();
    assert!(status.success());
}

/// A record whose store row keeps no texts (made before texts were kept, or keeping them
/// failed) shows the texts noted on its head in the repository's mirror
/// (`refs/notes/patchgate-texts`), each checked; a note of another record there is refused
/// with the reason, and the record is still shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_store_keeps_no_texts_for_shows_those_noted_on_its_head() {
    let w = World::new().await;
    w.fake.set_oauth_client("Iv1.web", "web-secret-value");
    w.fake.set_permission(REPO, "maria", "maintain");
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let head = w.sha("render-a");
    let fake_url = w.fake.url();
    let env = [
        ("PATCHGATE_OAUTH_CLIENT_ID", "Iv1.web"),
        ("PATCHGATE_OAUTH_CLIENT_SECRET", "web-secret-value"),
        ("PATCHGATE_PUBLIC_URL", PUBLIC),
        ("PATCHGATE_GITHUB_WEB_URL", fake_url.as_str()),
    ];
    let mut s = w.serve(&[], &env);
    let base = s.url.clone();
    let (status, body) = s
        .deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    assert_eq!(status, 202, "{body}");
    w.completed_run(&head, &mut s);
    wait_idle(&w, &mut s);
    w.fake.set_browser_user(Some("maria"));
    let maria = sign_in(&base).await;
    let seqs = listed(&base, &maria, "one_render").await;
    assert_eq!(seqs.len(), 1, "{seqs:?}");
    let page_url = format!("/ui/decisions/{}", seqs[0]);

    // The store forgets the row's texts: the page finds them in the mirror's texts note.
    let db = w.data().join("patchgate.db");
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let done = sqlx::query("DELETE FROM explanation_texts")
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
    }
    let (code, page) = get(&base, &maria, &page_url).await;
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("id=\"explanation-a\">Retry HTTP fetches with exponential backoff."),
        "{page}"
    );
    let a_check = after(&page, "explanation-a-check");
    assert!(
        a_check.starts_with("the text hashes to the recorded hash"),
        "{a_check}"
    );
    assert!(!page.contains("id=\"texts-not-kept\""), "{page}");
    assert!(!page.contains("id=\"texts-problem\""), "{page}");

    // The mirror's texts note replaced by another record's (its history emptied first): not
    // shown, and the page says why.
    let mirror = w.data().join("mirrors").join(format!("{REPO}.git"));
    let note = git(
        &mirror,
        &["notes", "--ref", "patchgate-texts", "show", &head],
    );
    let mut foreign: serde_json::Value = serde_json::from_str(&note).unwrap();
    let other = format!("sha256:{}", "1".repeat(64));
    foreign["record_hash"] = serde_json::json!(other);
    git(&mirror, &["update-ref", "-d", "refs/notes/patchgate-texts"]);
    git(
        &mirror,
        &[
            "notes",
            "--ref",
            "patchgate-texts",
            "add",
            "-m",
            &foreign.to_string(),
            &head,
        ],
    );
    let (code, page) = get(&base, &maria, &page_url).await;
    assert_eq!(code, 200, "{page}");
    let problem = page
        .split("id=\"texts-problem\">")
        .nth(1)
        .unwrap_or_default();
    assert!(problem.contains("of another record"), "{page}");
    assert!(problem.contains(&other), "{page}");
    assert!(page.contains("id=\"texts-not-kept\""), "{page}");
    assert!(!page.contains("id=\"explanation-a\""), "{page}");
    assert!(page.contains("verified: record_hash recomputes"), "{page}");
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
}
