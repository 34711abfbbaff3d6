//! A maintainer's vote in the ledger: `/patchgate approve|block <reason>` is recorded as the
//! `gate.human` entry of the record the gate seals when the vote is cast, bound to the head
//! commit it was cast on. The vote that stands for a head is the one in the newest record of
//! that repository and head ([`standing_vote`]); a new push is a new head, with no vote.
//!
//! Pure: it reads ledger rows, never the store.

use super::decision::HumanVote;
use super::ledger::LedgerRow;
use super::record::MetaRecord;

/// The maintainer's vote standing on `repo`'s `head`: the `gate.human` of the newest record
/// for that repository and head whose vote was cast on that head. A row that does not parse
/// is skipped (the ledger's own verification reports it).
pub fn standing_vote(rows: &[LedgerRow], repo: &str, head: &str) -> Option<HumanVote> {
    rows.iter()
        .rev()
        .filter(|r| r.repo == repo && r.head == head)
        .find_map(|r| {
            let record = MetaRecord::from_yaml(&r.record_yaml).ok()?;
            record.gate.and_then(|g| g.human).filter(|h| h.head == head)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::decision::HumanVerdict;

    fn row(seq: i64, repo: &str, head: &str, human: Option<(HumanVerdict, &str)>) -> LedgerRow {
        let gate = match human {
            None => String::new(),
            Some((v, on)) => format!(
                "gate:\n  path: escalated\n  why: w\n  basis: human\n  mode: normal\n  quorum: 2\n  escalation_quorum: all\n  agreement_counts_as_vote: false\n  skip_paid_auditors: false\n  reason: r\n  human: {{verdict: {v}, by: maria, permission: maintain, reason: ok, head: '{on}'}}\n"
            ),
        };
        LedgerRow {
            seq,
            record_hash: String::new(),
            prev_record_hash: String::new(),
            repo: repo.into(),
            head: head.into(),
            record_yaml: format!(
                "version: 1\nrepo: {repo}\nchange: {{pr: 1, base: b, head: '{head}'}}\nrenders: {{a: {{commit: '{head}'}}}}\nast_diff: {{variance_percent: 0.0, threshold_percent: 3.0, agreed: true}}\naudit: {{required: 2, votes: []}}\n{gate}quorum_passed: false\n"
            ),
        }
    }

    #[test]
    fn the_newest_vote_on_the_head_stands_and_a_new_head_has_none() {
        let rows = vec![
            row(1, "o/r", "h1", Some((HumanVerdict::Approve, "h1"))),
            row(2, "o/r", "h1", Some((HumanVerdict::Block, "h1"))),
            row(3, "o/r", "h1", None),
            row(4, "o/other", "h1", Some((HumanVerdict::Approve, "h1"))),
            row(5, "o/r", "h2", Some((HumanVerdict::Approve, "h1"))),
        ];
        let v = standing_vote(&rows, "o/r", "h1").unwrap();
        assert_eq!(v.verdict, HumanVerdict::Block);
        assert_eq!(
            standing_vote(&rows, "o/r", "h2"),
            None,
            "a vote for another head"
        );
        assert_eq!(standing_vote(&rows, "o/r", "h3"), None);
        assert_eq!(
            standing_vote(&rows, "o/other", "h1").unwrap().verdict,
            HumanVerdict::Approve
        );
    }
}
