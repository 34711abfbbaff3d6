//! The merge queue's pure parts: reading a merge group's branch, its run's external id, the
//! PR's latest verdict and the merge group's check run text.

use super::*;
use crate::github::app::{CheckRunOutputInfo, CheckRunResult, Conclusion};
use crate::server::app::external_id;

#[test]
fn a_merge_group_ref_names_its_base_and_pull_request() {
    let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
    for (r, base, pr) in [
        (
            format!("refs/heads/gh-readonly-queue/main/pr-104-{sha}"),
            "main",
            104,
        ),
        (format!("gh-readonly-queue/main/pr-7-{sha}"), "main", 7),
        (
            format!("refs/heads/gh-readonly-queue/release/1.x/pr-12-{sha}"),
            "release/1.x",
            12,
        ),
    ] {
        assert_eq!(
            parse_merge_group_ref(&r),
            Ok(MergeGroupRef {
                base: base.into(),
                pr
            }),
            "{r}"
        );
    }
}

#[test]
fn a_bad_merge_group_ref_is_a_clear_error() {
    let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
    for (r, why) in [
        ("refs/heads/main".to_string(), "is not a merge queue branch"),
        (
            format!("refs/heads/feature/pr-1-{sha}"),
            "is not a merge queue branch",
        ),
        ("gh-readonly-queue/pr-1-abc".into(), "names no base branch"),
        (
            format!("gh-readonly-queue//pr-1-{sha}"),
            "has an empty base branch",
        ),
        (
            format!("gh-readonly-queue/a//b/pr-1-{sha}"),
            "has an empty base branch",
        ),
        (
            format!("gh-readonly-queue/main/pull-1-{sha}"),
            "does not end in pr-<number>-<sha>",
        ),
        (
            "gh-readonly-queue/main/pr-1".into(),
            "does not end in pr-<number>-<sha>",
        ),
        (
            format!("gh-readonly-queue/main/pr--{sha}"),
            "has no pull request number after pr-",
        ),
        (
            format!("gh-readonly-queue/main/pr-x1-{sha}"),
            "has no pull request number after pr-",
        ),
        (
            format!("gh-readonly-queue/main/pr-+1-{sha}"),
            "has no pull request number after pr-",
        ),
        (
            format!("gh-readonly-queue/main/pr-0-{sha}"),
            "names pull request 0",
        ),
        (
            format!("gh-readonly-queue/main/pr-99999999999999999999999-{sha}"),
            "has a pull request number out of range",
        ),
        (
            "gh-readonly-queue/main/pr-1-".into(),
            "does not end in a commit id after the pull request number",
        ),
        (
            "gh-readonly-queue/main/pr-1-xyz".into(),
            "does not end in a commit id after the pull request number",
        ),
        (String::new(), "is not a merge queue branch"),
    ] {
        let e = parse_merge_group_ref(&r).expect_err(&r);
        assert_eq!(e.why, why, "{r}");
        let text = e.to_string();
        assert!(
            text.contains(why)
                && text.contains("gh-readonly-queue/<base branch>/pr-<number>-<sha>"),
            "{text}"
        );
    }
    // A long ref is cut in the message.
    let long = format!("refs/heads/{}", "x".repeat(5000));
    assert!(parse_merge_group_ref(&long).unwrap_err().to_string().len() < 400);
}

#[test]
fn a_merge_group_run_is_never_taken_for_the_prs_own() {
    let id = merge_group_external_id(4, "d-1");
    assert_eq!(id, "merge_group=4;job=d-1");
    assert_eq!(external_id_pr(&id), None);
    assert_eq!(merge_group_external_id_pr(&id), Some(4));
    assert_eq!(merge_group_external_id_pr(&external_id(4, "d-1")), None);
    assert_eq!(merge_group_external_id_pr("merge_group=x;job=d"), None);
}

fn run(
    id: u64,
    head: &str,
    ext: Option<&str>,
    status: &str,
    conclusion: Option<&str>,
) -> CheckRunInfo {
    CheckRunInfo {
        id,
        name: CHECK_NAME.into(),
        head_sha: head.into(),
        status: status.into(),
        conclusion: conclusion.map(str::to_string),
        external_id: ext.map(str::to_string),
        started_at: Some("2026-01-01T00:00:00Z".into()),
        output: CheckRunOutputInfo::default(),
        html_url: Some(format!("https://github.com/o/r/runs/{id}")),
    }
}

#[test]
fn the_latest_run_for_the_pr_on_its_head_is_the_verdict() {
    let h = "a".repeat(40);
    let runs = vec![
        run(5, &h, Some("pr=1;job=d-1"), "completed", Some("success")),
        run(9, &h, Some("pr=1;job=d-2"), "completed", Some("failure")),
        // Another PR on the same commit, a merge group's run, another head, no id.
        run(12, &h, Some("pr=2;job=d-3"), "completed", Some("success")),
        run(
            13,
            &h,
            Some("merge_group=1;job=d-4"),
            "completed",
            Some("success"),
        ),
        run(
            14,
            &"b".repeat(40),
            Some("pr=1;job=d-5"),
            "completed",
            Some("success"),
        ),
        run(15, &h, None, "completed", Some("success")),
    ];
    assert_eq!(latest_pr_run(&runs, 1, &h).map(|r| r.id), Some(9));
    assert_eq!(latest_pr_run(&runs, 3, &h), None);
}

fn conclude(latest: Option<CheckRunInfo>) -> CheckRunResult {
    merge_group_result(
        1,
        &"c".repeat(40),
        "main",
        &MergeGroupPr::Open {
            head: "a".repeat(40),
            latest,
        },
    )
}

#[test]
fn a_merge_group_passes_only_on_a_passing_run() {
    let h = "a".repeat(40);
    let pass = conclude(Some(run(
        5,
        &h,
        Some("pr=1;job=d"),
        "completed",
        Some("success"),
    )));
    assert_eq!(pass.conclusion, Conclusion::Success);
    assert!(
        pass.summary.contains("not audited again"),
        "{}",
        pass.summary
    );
    assert!(
        pass.summary.contains("https://github.com/o/r/runs/5"),
        "{}",
        pass.summary
    );
    let advisory = conclude(Some(run(
        5,
        &h,
        Some("pr=1;job=d"),
        "completed",
        Some("neutral"),
    )));
    assert_eq!(advisory.conclusion, Conclusion::Neutral);
    for (latest, says) in [
        (None, "has not been gated"),
        (
            Some(run(6, &h, Some("pr=1;job=d"), "in_progress", None)),
            "still in progress",
        ),
        (
            Some(run(6, &h, Some("pr=1;job=d"), "queued", None)),
            "still queued",
        ),
        (
            Some(run(7, &h, Some("pr=1;job=d"), "completed", Some("failure"))),
            "concluded `failure`",
        ),
        (
            Some(run(
                7,
                &h,
                Some("pr=1;job=d"),
                "completed",
                Some("cancelled"),
            )),
            "concluded `cancelled`",
        ),
        (
            Some(run(7, &h, Some("pr=1;job=d"), "completed", None)),
            "concluded `none`",
        ),
    ] {
        let r = conclude(latest);
        assert_eq!(r.conclusion, Conclusion::Failure, "{says}");
        assert!(r.summary.starts_with("## BLOCKED"), "{}", r.summary);
        assert!(r.summary.contains(says), "{says}: {}", r.summary);
        assert!(r.summary.contains("add it again"), "{}", r.summary);
        assert!(r.summary.contains("not audited again"), "{}", r.summary);
    }
    for state in [
        MergeGroupPr::Missing,
        MergeGroupPr::NotOpen { merged: false },
        MergeGroupPr::NotOpen { merged: true },
        MergeGroupPr::OtherBase {
            pr_base: "dev".into(),
        },
    ] {
        let r = merge_group_result(1, &"c".repeat(40), "main", &state);
        assert_eq!(r.conclusion, Conclusion::Failure, "{state:?}");
    }
}
