//! The web view (`serve` with the App's OAuth client): nothing without a sign-in; signing in
//! through the fake GitHub's OAuth endpoints; a parked job requeued from the queue page (with
//! the session's CSRF token, by a user with write access), after which its decision is listed
//! and its record shown; and a user who cannot read the repository sees none of it and gets
//! 404 for its URLs.

use std::time::{Duration, Instant};

use crate::support::world::{job_counts, jobs, World, REPO};

pub(crate) const PUBLIC: &str = "http://patchgate.test";

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

/// Sign in as whoever the fake's browser is signed in as; the session cookie (`name=value`).
pub(crate) async fn sign_in(base: &str) -> String {
    let c = client();
    let r = c.get(format!("{base}/ui/login")).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let state_cookie = set_cookie(&r, "patchgate_oauth_state");
    assert!(state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"));
    let state_cookie = state_cookie.split(';').next().unwrap().to_string();
    let r = c.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let back = location(&r);
    let path = back.strip_prefix(PUBLIC).expect("back to the public URL");
    assert!(path.starts_with("/ui/oauth/callback?code="), "{back}");
    // Without the state cookie the callback is refused.
    let r = c.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!("{base}{path}"))
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    // The refused try above spent nothing: the code is still good.
    assert!(r.status().is_redirection(), "{}", r.status());
    let session = set_cookie(&r, "patchgate_session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    session.split(';').next().unwrap().to_string()
}

pub(crate) async fn get(base: &str, cookie: &str, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub(crate) async fn post(base: &str, cookie: &str, path: &str, form: &str) -> (u16, String) {
    let r = client()
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub(crate) fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_requeue_a_parked_job_see_its_decision_and_nothing_for_strangers() {
    let w = World::new().await;
    w.fake.set_oauth_client("Iv1.web", "web-secret-value");
    w.fake.set_permission(REPO, "maria", "write");
    w.fake.set_permission(REPO, "eve", "none");
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.fake
        .fail_next("GET", "/repos/octo/linkwatch/pulls/1", 502, 1);
    let env = [
        ("PATCHGATE_OAUTH_CLIENT_ID", "Iv1.web"),
        ("PATCHGATE_OAUTH_CLIENT_SECRET", "web-secret-value"),
        ("PATCHGATE_PUBLIC_URL", PUBLIC),
        ("PATCHGATE_GITHUB_WEB_URL", &w.fake.url()),
    ];
    let mut s = w.serve(&["--max-attempts", "1"], &env);
    let base = s.url.clone();
    // Nothing is public.
    for path in [
        "/ui/decisions",
        "/ui/queue",
        "/ui/rollbacks",
        "/ui/decisions/1",
    ] {
        let (code, body) = get(&base, "", path).await;
        assert_eq!(code, 401, "{path}");
        assert!(body.contains("Sign in with GitHub"), "{body}");
    }
    // Nor is any action: a form posted without a session gets the sign-in page, token or not.
    for path in ["/ui/logout", "/ui/queue/1/requeue", "/ui/decisions/1/vote"] {
        for form in ["csrf=x&verdict=approve&reason=r", ""] {
            let (code, body) = post(&base, "", path, form).await;
            assert_eq!(code, 401, "{path} {form}");
            assert!(body.contains("Sign in with GitHub"), "{body}");
        }
    }
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-web",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_counts(&jobs(&w)).get("parked") != Some(&1) {
        s.assert_alive();
        assert!(Instant::now() < deadline, "never parked\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // eve cannot read the repository: she sees no job, no decision, and 404s.
    w.fake.set_browser_user(Some("eve"));
    let eve = sign_in(&base).await;
    let (code, queue) = get(&base, &eve, "/ui/queue").await;
    assert_eq!(code, 200);
    assert!(!queue.contains(REPO), "{queue}");
    let (code, _) = post(
        &base,
        &eve,
        "/ui/queue/1/requeue",
        &format!("csrf={}", csrf(&queue)),
    )
    .await;
    assert_eq!(code, 404, "not 403: the repository does not exist for her");

    // maria has write access: the parked job has a Requeue button.
    w.fake.set_browser_user(Some("maria"));
    let maria = sign_in(&base).await;
    let (code, queue) = get(&base, &maria, "/ui/queue").await;
    assert_eq!(code, 200);
    assert!(queue.contains("@maria"), "{queue}");
    assert!(queue.contains("class=\"job parked\""), "{queue}");
    assert!(queue.contains("/ui/queue/1/requeue"), "{queue}");
    assert!(queue.contains("model spend today: $0.00 of $"), "{queue}");
    // Without the CSRF token nothing happens.
    let (code, _) = post(&base, &maria, "/ui/queue/1/requeue", "csrf=forged").await;
    assert_eq!(code, 403);
    assert_eq!(job_counts(&jobs(&w)).get("parked"), Some(&1));
    let (code, page) = post(
        &base,
        &maria,
        "/ui/queue/1/requeue",
        &format!("csrf={}", csrf(&queue)),
    )
    .await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Job 1 is back in the queue."), "{page}");

    // The job runs again and its decision is listed, newest first, and shown.
    let deadline = Instant::now() + Duration::from_secs(90);
    let list = loop {
        let (code, list) = get(&base, &maria, "/ui/decisions").await;
        assert_eq!(code, 200, "{list}");
        if list.contains("class=\"decision\"") {
            break list;
        }
        s.assert_alive();
        assert!(Instant::now() < deadline, "no decision listed\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(list.contains(REPO) && list.contains("#1"), "{list}");
    let at = list.find("href=\"/ui/decisions/").unwrap() + 20;
    let seq: String = list[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (code, record) = get(&base, &maria, &format!("/ui/decisions/{seq}")).await;
    assert_eq!(code, 200);
    assert!(record.contains("id=\"verdict\""), "{record}");
    assert!(
        record.contains("verified: record_hash recomputes"),
        "{record}"
    );
    // Filters: a path that did not happen lists nothing; a bad verdict is a clear error.
    let (_, none) = get(&base, &maria, "/ui/decisions?path=escalated").await;
    assert!(!none.contains("class=\"decision\""), "{none}");
    let (code, bad) = get(&base, &maria, "/ui/decisions?verdict=maybe").await;
    assert_eq!(code, 400);
    assert!(bad.contains("passed or blocked"), "{bad}");

    // eve still sees nothing, and the record's URL does not exist for her.
    let (_, list) = get(&base, &eve, "/ui/decisions").await;
    assert!(!list.contains("class=\"decision\""), "{list}");
    let (code, _) = get(&base, &eve, &format!("/ui/decisions/{seq}")).await;
    assert_eq!(code, 404);
    let (code, _) = get(&base, &eve, &format!("/ui/decisions?repo={REPO}")).await;
    assert_eq!(code, 404);

    // Signing out ends the session.
    let (code, _) = post(
        &base,
        &maria,
        "/ui/logout",
        &format!("csrf={}", csrf(&list_of(&base, &maria).await)),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(get(&base, &maria, "/ui/decisions").await.0, 401);
    w.assert_no_violations();
    let log = s.log();
    assert!(
        !log.contains("web-secret-value"),
        "the client secret leaked"
    );
    assert!(!log.contains("ghu_fake"), "a user token leaked");
}

async fn list_of(base: &str, cookie: &str) -> String {
    get(base, cookie, "/ui/decisions").await.1
}
