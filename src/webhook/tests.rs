//! Every recorded delivery parses into the event it is (table-driven: a new recording must be
//! added to the table), and a malformed body is refused with the field's path, never its value.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/github/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Each recording, the event name GitHub sent it under, and the kind it parses into (`None`:
/// patchgate ignores it).
const RECORDED: [(&str, &str, Option<Kind>); 17] = [
    (
        "check_run.completed.json",
        "check_run",
        Some(Kind::CheckRunCompleted),
    ),
    (
        "check_run.requested_action.json",
        "check_run",
        Some(Kind::CheckRunRequestedAction),
    ),
    (
        "check_run.rerequested.json",
        "check_run",
        Some(Kind::CheckRunRerequested),
    ),
    ("check_suite.completed.json", "check_suite", None),
    ("check_suite.requested.json", "check_suite", None),
    ("installation.created.json", "installation", None),
    (
        "issue_comment.created.json",
        "issue_comment",
        Some(Kind::CommentCreated),
    ),
    (
        "merge_group.checks_requested.json",
        "merge_group",
        Some(Kind::MergeGroupChecksRequested),
    ),
    ("ping.json", "ping", None),
    (
        "pull_request.closed.json",
        "pull_request",
        Some(Kind::PullRequestClosed),
    ),
    (
        "pull_request.closed.unmerged.json",
        "pull_request",
        Some(Kind::PullRequestClosed),
    ),
    (
        "pull_request.opened.json",
        "pull_request",
        Some(Kind::PullRequestUpdated),
    ),
    (
        "pull_request.ready_for_review.json",
        "pull_request",
        Some(Kind::PullRequestUpdated),
    ),
    (
        "pull_request.reopened.json",
        "pull_request",
        Some(Kind::PullRequestUpdated),
    ),
    (
        "pull_request.synchronize.json",
        "pull_request",
        Some(Kind::PullRequestUpdated),
    ),
    ("push.json", "push", None),
    ("status.json", "status", Some(Kind::Status)),
];

fn kind(e: &Event) -> Option<Kind> {
    Some(match e {
        Event::PullRequestUpdated(_) => Kind::PullRequestUpdated,
        Event::PullRequestClosed(_) => Kind::PullRequestClosed,
        Event::CommentCreated(_) => Kind::CommentCreated,
        Event::CheckRunRerequested(_) => Kind::CheckRunRerequested,
        Event::CheckRunRequestedAction(_) => Kind::CheckRunRequestedAction,
        Event::CheckRunCompleted(_) => Kind::CheckRunCompleted,
        Event::CheckSuiteRerequested(_) => Kind::CheckSuiteRerequested,
        Event::MergeGroupChecksRequested(_) => Kind::MergeGroupChecksRequested,
        Event::Status(_) => Kind::Status,
        Event::Reconcile(_) | Event::ReconcilePass => return None,
    })
}

#[test]
fn every_recorded_delivery_parses_into_its_event() {
    let dir = format!("{}/fixtures/github/webhooks", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut in_table: Vec<String> = RECORDED.iter().map(|(f, _, _)| f.to_string()).collect();
    in_table.sort();
    assert_eq!(on_disk, in_table, "every recording is in the table");
    for (file, event, expected) in RECORDED {
        let parsed = parse(event, &fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed.as_ref().and_then(kind), expected, "{file}");
        if let Some(ev) = &parsed {
            let (_, repo) = ev.target().expect("a delivery names its repository");
            assert!(!repo.full_name.owner.is_empty(), "{file}");
        }
    }
}

#[test]
fn recorded_fields_are_read() {
    let Some(Event::PullRequestUpdated(p)) =
        parse("pull_request", &fixture("pull_request.opened.json")).unwrap()
    else {
        panic!("opened is an update");
    };
    assert!(p.installation.is_some());
    assert!(p.pull_request.number.get() > 0);
    assert_eq!(p.pull_request.head.sha.as_str().len(), 40);
    assert!(!p.pull_request.is_draft());
    let Some(Event::PullRequestClosed(c)) =
        parse("pull_request", &fixture("pull_request.closed.json")).unwrap()
    else {
        panic!("closed");
    };
    assert!(c.pull_request.is_merged());
    let Some(Event::PullRequestClosed(u)) = parse(
        "pull_request",
        &fixture("pull_request.closed.unmerged.json"),
    )
    .unwrap() else {
        panic!("closed");
    };
    assert!(!u.pull_request.is_merged());
    let Some(Event::CommentCreated(c)) =
        parse("issue_comment", &fixture("issue_comment.created.json")).unwrap()
    else {
        panic!("comment");
    };
    assert!(c.issue.pull_request);
    assert!(c.author().is_some());
    let Some(Event::MergeGroupChecksRequested(m)) =
        parse("merge_group", &fixture("merge_group.checks_requested.json")).unwrap()
    else {
        panic!("merge group");
    };
    assert!(m.merge_group.head_ref.contains("gh-readonly-queue/"));
}

#[test]
fn handled_events() {
    let handled = |e: &str, a: Option<&str>| Kind::of(e, a).is_some();
    for a in [
        "opened",
        "synchronize",
        "reopened",
        "ready_for_review",
        "closed",
    ] {
        assert!(handled("pull_request", Some(a)), "{a}");
    }
    assert!(!handled("pull_request", Some("labeled")));
    assert!(!handled("pull_request", None));
    assert!(handled("issue_comment", Some("created")));
    assert!(!handled("issue_comment", Some("edited")));
    for a in ["rerequested", "requested_action", "completed"] {
        assert!(handled("check_run", Some(a)), "{a}");
    }
    assert!(!handled("check_run", Some("created")));
    assert!(handled("check_suite", Some("rerequested")));
    assert!(!handled("check_suite", Some("completed")));
    assert!(handled("status", None));
    assert!(handled("merge_group", Some("checks_requested")));
    assert!(!handled("merge_group", Some("destroyed")));
    assert!(!handled("merge_group", None));
    for e in [
        "ping",
        "installation",
        "push",
        "x",
        RECONCILE_EVENT,
        RECONCILE_PASS_EVENT,
    ] {
        assert!(!handled(e, Some("created")), "{e}");
    }
}

#[test]
fn an_internal_event_name_from_github_is_ignored() {
    let body = fixture("pull_request.opened.json");
    assert_eq!(parse(RECONCILE_EVENT, &body).unwrap(), None);
    assert_eq!(parse(RECONCILE_PASS_EVENT, &body).unwrap(), None);
    assert!(matches!(
        parse_job(RECONCILE_EVENT, &body).unwrap(),
        Some(Event::Reconcile(_))
    ));
    assert_eq!(
        parse_job(RECONCILE_PASS_EVENT, b"{}").unwrap(),
        Some(Event::ReconcilePass)
    );
}

/// `pull_request.opened.json` with `edit` applied.
fn opened_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.opened.json")).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

const SECRET: &str = "s3cr3t-VALUE-0123456789abcdef0123456789abcdef";

#[test]
fn a_malformed_payload_names_the_field_and_never_echoes_the_body() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            opened_with(|v| v["pull_request"]["head"]["sha"] = SECRET.into()),
            "pull_request.head.sha: invalid value, expected a commit id of 40 or 64 hexadecimal digits",
        ),
        (
            opened_with(|v| v["pull_request"]["number"] = SECRET.into()),
            "pull_request.number: wrong type, expected u64",
        ),
        (
            opened_with(|v| {
                v["pull_request"].as_object_mut().unwrap().remove("head");
            }),
            "pull_request.head missing",
        ),
        (
            opened_with(|v| {
                v.as_object_mut().unwrap().remove("pull_request");
            }),
            "pull_request missing",
        ),
        (
            opened_with(|v| v["repository"]["full_name"] = format!("{SECRET}/../x").into()),
            "repository.full_name: invalid value, expected owner/name of letters, digits, '.', '_' and '-'",
        ),
        (
            opened_with(|v| v["repository"]["full_name"] = 7.into()),
            "repository.full_name: wrong type, expected a string",
        ),
        (
            opened_with(|v| v["installation"] = SECRET.into()),
            "installation: wrong type, expected struct InstallationRef",
        ),
        (
            br#"{"action":"opened"}"#.to_vec(),
            "repository.full_name missing",
        ),
        (
            format!(r#"{{"action":"opened","repository":{{"full_name":""}},"x":"{SECRET}"}}"#)
                .into_bytes(),
            "repository.full_name missing",
        ),
    ];
    for (body, says) in cases {
        let e = parse("pull_request", &body).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PayloadError::Field(_)), "{text}");
        assert_eq!(text, says);
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    // A wrong type for `action`: said without the value.
    let e = parse(
        "pull_request",
        format!(r#"{{"action":["{SECRET}"]}}"#).as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "action: wrong type, expected a string");
}

#[test]
fn json_reason_is_one_line() {
    let e = serde_json::from_slice::<Envelope>(b"{\"action\": \"opened\",\n ]").unwrap_err();
    let r = json_reason(&e);
    assert!(r.starts_with("malformed JSON at line 2 column"), "{r}");
    assert!(!r.contains('\n'));
    // Through `parse`: not JSON, or cut short.
    let e = parse("pull_request", b"{\"action\": \"opened\", ]").unwrap_err();
    assert!(matches!(e, PayloadError::Json(_)));
    assert!(
        e.to_string()
            .starts_with("malformed JSON at line 1 column 22: "),
        "{e}"
    );
    let mut body = fixture("pull_request.opened.json");
    body.truncate(body.len() / 2);
    assert!(matches!(
        parse("pull_request", &body),
        Err(PayloadError::Json(_))
    ));
}

#[test]
fn json_reason_echoes_no_input() {
    for body in [
        &br#"{"action":"opened","repository":"secret-token-1234"}"#[..],
        br#"{"action":"opened","repository":{"full_name":["secret-token-1234"]}}"#,
        br#"{"action":12345678,"repository":null}"#,
    ] {
        let e = serde_json::from_slice::<Envelope>(body).unwrap_err();
        let r = json_reason(&e);
        assert!(r.starts_with("malformed JSON at line 1 column"), "{r}");
        assert!(
            !r.contains("secret-token") && !r.contains("12345678"),
            "{r}"
        );
        assert!(r.contains("wrong type"), "{r}");
    }
}

/// Every recording is read by the one pass (no second reading), into what the slow reading
/// makes of it.
#[test]
fn every_recorded_delivery_is_read_in_one_pass() {
    for (file, event, _) in RECORDED {
        let body = fixture(file);
        let once = one_pass(event, &body).unwrap_or_else(|| panic!("{file}: read twice"));
        assert_eq!(Ok(once), diagnose(event, &body), "{file}");
    }
    // Under a name GitHub does not send for it: ignored, also in one pass.
    let body = fixture("pull_request.opened.json");
    assert_eq!(one_pass("push", &body), Some(None));
    assert_eq!(one_pass(RECONCILE_EVENT, &body), Some(None));
}

/// `parse` answers what the slow reading answers, for bodies the one pass reads and for
/// bodies it leaves to the slow reading.
fn agrees(event: &str, body: &[u8]) {
    let slow = diagnose(event, body);
    assert_eq!(
        parse(event, body),
        slow,
        "{event}: {}",
        String::from_utf8_lossy(body)
    );
    if let Some(once) = one_pass(event, body) {
        assert_eq!(Ok(once), slow, "{event}: {}", String::from_utf8_lossy(body));
    }
}

#[test]
fn the_one_pass_takes_action_wherever_it_is_and_gives_up_on_odd_shapes() {
    let opened: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.opened.json")).unwrap();
    let part = |k: &str| serde_json::to_string(&opened[k]).unwrap();
    let (pr, repo) = (part("pull_request"), part("repository"));
    // `action` last: still read in one pass.
    let last = format!(r#"{{"pull_request":{pr},"repository":{repo},"action":"opened"}}"#);
    assert!(matches!(
        one_pass("pull_request", last.as_bytes()),
        Some(Some(Event::PullRequestUpdated(_)))
    ));
    let bodies = [
        last.clone(),
        format!(r#"{{"pull_request":{pr},"repository":{repo},"action":"labeled"}}"#),
        format!(r#"{{"pull_request":{pr},"repository":{repo}}}"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":{repo},"action":"x"}}"#),
        format!(r#"{{"action":"labeled","pull_request":{pr},"repository":{repo},"action":1}}"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":[{repo}]}}"#),
        r#"{"action":"opened","pull_request":{},"repository":["a/b"]}"#.to_string(),
        r#"{"action":"opened","pull_request":{},"repository":["a/b", null, null]}"#.to_string(),
        format!(r#"["opened",{repo}]"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":{repo}}} trailing"#),
        format!(
            r#"{{"action":"opened","pull_request":{pr},"repository":{repo},"repository":{repo}}}"#
        ),
        format!(r#"{{"action":"labeled","pull_request":7,"repository":{repo}}}"#),
        format!(r#"{{"action":"labeled","pull_request":{pr}}}"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":null}}"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":{{"full_name":" "}}}}"#),
        format!(r#"{{"action":"opened","pull_request":{pr},"repository":{{"full_name":null}}}}"#),
        r#"{"action":null}"#.to_string(),
        "null".to_string(),
        "[]".to_string(),
        "7".to_string(),
    ];
    for body in &bodies {
        for event in ["pull_request", "status", "check_run", "push", "ping"] {
            agrees(event, body.as_bytes());
        }
    }
}

/// Every value of several recordings (to three levels) removed, or replaced by `null`, a
/// number, a string, an array or an object: the one pass and the slow reading agree.
#[test]
fn the_one_pass_agrees_with_the_slow_reading_on_every_mutation() {
    fn paths(v: &serde_json::Value, at: Vec<String>, depth: usize, out: &mut Vec<Vec<String>>) {
        if depth == 0 {
            return;
        }
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                let mut p = at.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(child, p, depth - 1, out);
            }
        }
    }
    fn slot<'v>(v: &'v mut serde_json::Value, path: &[String]) -> &'v mut serde_json::Value {
        path.iter().fold(v, |v, k| &mut v[k.as_str()])
    }
    let mutations: [fn(&mut serde_json::Value, &str); 6] = [
        |parent, key| {
            parent.as_object_mut().unwrap().remove(key);
        },
        |parent, key| parent[key] = serde_json::Value::Null,
        |parent, key| parent[key] = 7.into(),
        |parent, key| parent[key] = "opened".into(),
        |parent, key| parent[key] = serde_json::json!(["a/b"]),
        |parent, key| parent[key] = serde_json::json!({"full_name": "a/b"}),
    ];
    let mut checked = 0;
    for (file, event) in [
        ("pull_request.synchronize.json", "pull_request"),
        ("issue_comment.created.json", "issue_comment"),
        ("check_run.requested_action.json", "check_run"),
        ("status.json", "status"),
        ("ping.json", "ping"),
    ] {
        let original: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
        let mut all = Vec::new();
        paths(&original, Vec::new(), 3, &mut all);
        for path in all {
            let (key, parent) = path.split_last().unwrap();
            for mutate in mutations {
                let mut v = original.clone();
                mutate(slot(&mut v, parent), key);
                agrees(event, &serde_json::to_vec(&v).unwrap());
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}
