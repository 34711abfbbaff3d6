//! The web view's page handlers: decisions, a record, the queue (and requeue), rollbacks.

use super::*;
use crate::meta::decision::Path as GatePath;
use crate::meta::record::MetaRecord;
use crate::view::pages::{Notice, VoteBox};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    repo: Option<String>,
    pr: Option<String>,
    verdict: Option<String>,
    path: Option<String>,
    before: Option<i64>,
}

fn some(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) async fn decisions(
    State(st): State<Arc<WebState>>,
    Query(q): Query<ListQuery>,
    r: Reader,
) -> Response {
    let frame = st.frame(&r).await;
    if let Err(e) = st.store.index_decisions().await {
        return failed(frame, e);
    }
    let all = match st.store.decision_repos().await {
        Ok(all) => all,
        Err(e) => return failed(frame, e),
    };
    let repos = match st.readable(&r, all).await {
        Ok(r) => r,
        Err(e) => return failed(frame, e),
    };
    let filters = Filters {
        repo: some(&q.repo).unwrap_or_default(),
        pr: some(&q.pr).unwrap_or_default(),
        verdict: some(&q.verdict).unwrap_or_default(),
        path: some(&q.path).unwrap_or_default(),
    };
    let repo = some(&q.repo);
    if repo.as_ref().is_some_and(|x| !repos.contains(x)) {
        return not_found(frame);
    }
    let pr = match some(&q.pr).map(|p| p.trim_start_matches('#').parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return message(
                StatusCode::BAD_REQUEST,
                frame,
                messages::WEB_BAD_FILTER_TITLE,
                &messages::web_bad_filter("pull request", "a number"),
                false,
            )
        }
    };
    let passed = match filters.verdict.as_str() {
        "" => None,
        "passed" => Some(true),
        "blocked" => Some(false),
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                frame,
                messages::WEB_BAD_FILTER_TITLE,
                &messages::web_bad_filter("verdict", "passed or blocked"),
                false,
            )
        }
    };
    let path = match filters.path.as_str() {
        "" => None,
        p @ ("agreed" | "escalated" | "one_render") => Some(p.to_string()),
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                frame,
                messages::WEB_BAD_FILTER_TITLE,
                &messages::web_bad_filter("path", "agreed, escalated or one_render"),
                false,
            )
        }
    };
    let query = DecisionQuery {
        repos: repos.clone(),
        repo,
        pr,
        passed,
        path,
        before: q.before,
        limit: PAGE,
    };
    let rows = match st.store.decisions(&query).await {
        Ok(rows) => rows,
        Err(e) => return failed(frame, e),
    };
    let next = (rows.len() == PAGE as usize).then(|| {
        let last = rows.last().map(|d| d.seq).unwrap_or_default();
        format!(
            "repo={}&pr={}&verdict={}&path={}&before={last}",
            encode(&filters.repo),
            encode(&filters.pr),
            encode(&filters.verdict),
            encode(&filters.path)
        )
    });
    let rows = rows
        .into_iter()
        .map(|d| DecisionItem {
            seq: d.seq,
            pr: d.pr.map(|p| format!("#{p}")).unwrap_or_default(),
            head: d.head.get(..12).unwrap_or(&d.head).to_string(),
            passed: d.passed,
            path: d.path.replace('_', " "),
            created_at: d.created_at,
            repo: d.repo,
        })
        .collect();
    html(
        StatusCode::OK,
        DecisionsPage {
            frame,
            rows,
            repos,
            filters,
            next,
        }
        .render(),
    )
}

pub(super) async fn record(
    State(st): State<Arc<WebState>>,
    Path(seq): Path<String>,
    r: Reader,
) -> Response {
    match ledger_row(&st, &r, &seq).await {
        Ok((seq, repo, yaml)) => {
            record_page(&st, &r, seq, &repo, &yaml, StatusCode::OK, None).await
        }
        Err(page) => page,
    }
}

/// The ledger row a record URL names (`/ui/decisions/<seq>`): its seq, repository and record
/// text, or the page to answer instead (404 for a seq that is no number or no row).
pub(super) async fn ledger_row(
    st: &WebState,
    r: &Reader,
    seq: &str,
) -> std::result::Result<(i64, String, String), Response> {
    let Ok(seq) = seq.parse::<i64>() else {
        return Err(not_found(st.frame(r).await));
    };
    match st.store.ledger_record(seq).await {
        Ok(Some((repo, yaml))) => Ok((seq, repo, yaml)),
        Ok(None) => Err(not_found(st.frame(r).await)),
        Err(e) => Err(failed(st.frame(r).await, e)),
    }
}

/// The page of ledger row `seq` (`repo`'s record `yaml`) for reader `r` — 404 when they cannot
/// read `repo` — with its signature checked, its explanation texts, the vote form of an
/// escalated decision of a pull request, and `notice` (what an action just did).
pub(super) async fn record_page(
    st: &WebState,
    r: &Reader,
    seq: i64,
    repo: &str,
    yaml: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let frame = st.frame(r).await;
    let level = match st.level(r, repo).await {
        Ok(Some(level)) => level,
        Ok(None) => return not_found(frame),
        Err(e) => return failed(frame, e),
    };
    let Ok(record) = MetaRecord::from_yaml(yaml) else {
        return not_found(frame);
    };
    let signature = st.signature(repo, &record.change.head, yaml).await;
    // The texts the store keeps for the row; for a row it keeps none of, the texts noted on
    // the head in the mirror (`refs/notes/patchgate-texts`).
    let kept = match st.store.explanation_texts(seq).await {
        Ok(kept) => kept,
        Err(e) => {
            warn!(seq, error = %e, "reading a record's explanation texts");
            None
        }
    };
    let texts = match kept {
        Some(j) => match ExplanationTexts::from_json(&j) {
            Ok(t) => FoundTexts::texts(t),
            Err(e) => FoundTexts::problem(format!(
                "the explanation texts kept for this record are not explanation texts ({e})"
            )),
        },
        None => {
            let hash = record.record_hash.as_deref();
            st.noted_texts(repo, &record.change.head, hash).await
        }
    };
    let view = match RecordView::from_yaml_found(yaml, signature, texts) {
        Ok(v) => v,
        Err(_) => return not_found(frame),
    };
    let escalated = record
        .gate
        .as_ref()
        .is_some_and(|g| g.path == GatePath::Escalated);
    let vote = match (&st.votes, record.change.pr, escalated) {
        (Some(votes), Some(_), true) => {
            let need = votes.need();
            Some(VoteBox {
                head: record.change.head.clone(),
                allowed: level >= need,
                needs: messages::web_vote_needs(need, Some(level)),
            })
        }
        _ => None,
    };
    html(
        status,
        RecordPage {
            frame,
            seq,
            r: &view,
            vote,
            notice,
        }
        .render(),
    )
}

fn job_state(state: &str, attempts: i64) -> &'static str {
    match state {
        "queued" if attempts > 0 => "retrying",
        "queued" => "waiting",
        "running" => "running",
        "parked" => "parked",
        _ => "done",
    }
}

async fn queue_page(st: &WebState, r: &Reader, status: StatusCode, notice: String) -> Response {
    let frame = st.frame(r).await;
    let jobs = match st.store.open_jobs(QUEUE_ROWS).await {
        Ok(j) => j,
        Err(e) => return failed(frame, e),
    };
    let mut levels: HashMap<String, Option<Permission>> = HashMap::new();
    let mut items = Vec::new();
    for j in jobs {
        if !levels.contains_key(&j.repo) {
            match st.level(r, &j.repo).await {
                Ok(l) => levels.insert(j.repo.clone(), l),
                Err(e) => return failed(frame, e),
            };
        }
        let Some(level) = levels[&j.repo] else {
            continue;
        };
        items.push(JobItem {
            id: j.id,
            event: j.event,
            state: job_state(&j.state, j.attempts).into(),
            attempts: j.attempts,
            last_error: j.last_error.unwrap_or_default(),
            updated_at: j.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            requeue: j.state == "parked" && level >= Permission::Write,
            repo: j.repo,
        });
    }
    html(
        status,
        QueuePage {
            frame,
            jobs: items,
            notice,
        }
        .render(),
    )
}

pub(super) async fn queue(State(st): State<Arc<WebState>>, r: Reader) -> Response {
    queue_page(&st, &r, StatusCode::OK, String::new()).await
}

pub(super) async fn requeue(
    State(st): State<Arc<WebState>>,
    Path(id): Path<String>,
    Signed(r, _): Signed<CsrfForm>,
) -> Response {
    let job = match id.parse::<i64>() {
        Ok(id) => st.store.job_summary(id).await,
        Err(_) => Ok(None),
    };
    let job = match job {
        Ok(Some(j)) => j,
        Ok(None) => return not_found(st.frame(&r).await),
        Err(e) => return failed(st.frame(&r).await, e),
    };
    // The same rule as `/patchgate` commands: write access or more.
    let perm = match st.oauth.permission(&r.s.token, &job.repo).await {
        Ok(p) => p,
        Err(e) => return failed(st.frame(&r).await, e),
    };
    match permitted(perm, Permission::Write) {
        Err(None) => return not_found(st.frame(&r).await),
        Err(Some(_)) => {
            let text = messages::web_requeue_denied(job.id, &job.repo);
            return queue_page(&st, &r, StatusCode::FORBIDDEN, text).await;
        }
        Ok(_) => {}
    }
    let text = match st.store.requeue(job.id, chrono::Utc::now()).await {
        Ok(true) => {
            tracing::info!(job = job.id, user = %r.s.login, "requeued from the web view");
            messages::web_requeued(job.id)
        }
        Ok(false) => messages::web_not_parked(job.id),
        Err(e) => return failed(st.frame(&r).await, e),
    };
    queue_page(&st, &r, StatusCode::OK, text).await
}

pub(super) async fn rollbacks(State(st): State<Arc<WebState>>, r: Reader) -> Response {
    let frame = st.frame(&r).await;
    let all = match st.store.rollback_repos().await {
        Ok(a) => a,
        Err(e) => return failed(frame, e),
    };
    let repos = match st.readable(&r, all).await {
        Ok(x) => x,
        Err(e) => return failed(frame, e),
    };
    let mut rows = Vec::new();
    for repo in repos {
        let list = match st.store.rollbacks_of(&repo).await {
            Ok(l) => l,
            Err(e) => return failed(frame, e),
        };
        for rb in list {
            let events = match st.store.violations_of_merge(&rb.repo, &rb.merge_sha).await {
                Ok(ev) => ev
                    .into_iter()
                    .map(|(metric, value, commit, verdict)| {
                        format!(
                            "{metric} = {value} on {} ({verdict})",
                            commit.get(..12).unwrap_or(&commit)
                        )
                    })
                    .collect(),
                Err(e) => return failed(frame, e),
            };
            rows.push(RollbackItem {
                id: rb.id,
                merge_sha: rb.merge_sha.get(..12).unwrap_or(&rb.merge_sha).to_string(),
                state: rb.state.as_str().into(),
                trigger: rb.trigger.clone(),
                reason: rb.reason.clone(),
                pr: rb.pr.map(|p| format!("#{p}")).unwrap_or_default(),
                revert: match (rb.revert_pr, &rb.revert_sha) {
                    (Some(pr), _) => format!("PR #{pr}"),
                    (None, Some(sha)) => sha.get(..12).unwrap_or(sha).to_string(),
                    (None, None) => String::new(),
                },
                events,
                error: rb.error.clone().unwrap_or_default(),
                created_at: chrono::DateTime::from_timestamp_millis(rb.created_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                repo: rb.repo,
            });
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    html(StatusCode::OK, RollbacksPage { frame, rows }.render())
}
