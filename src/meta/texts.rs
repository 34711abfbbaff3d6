//! The explanation texts of a decision record, kept beside it.
//!
//! The record holds only the hashes of what was said (`renders.a.explanation_hash`,
//! `renders.b.explanation_hash`, each vote's `explanation_hash`): its hash covers the texts
//! without carrying them, and the record never changes to carry them. The texts are kept beside
//! it — by the server's store under the record's ledger `seq`, as a git note on the record's
//! commit (`refs/notes/patchgate-texts`, beside the record's note; see [`super::notes`]), and
//! as `<meta.yaml>.texts.json` beside a record written with `--write-meta` — so the record page
//! can show them, each checked against its recorded hash when it is shown ([`TextCheck`]).
//!
//! Secrets are masked (Rule-Guard's secret rules) before a text is kept. A text the masking
//! changed is marked `masked`: it is not what was hashed, so it cannot be checked, and the page
//! says so rather than calling it a mismatch.

use serde::{Deserialize, Serialize};

use super::canonical::{hash_explanation, Explanation, RecordedFinding};

/// The texts of one record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExplanationTexts {
    /// The record they are of (`record_hash`).
    pub record_hash: String,
    /// Render A's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<KeptText>,
    /// Render B's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<KeptText>,
    /// Each auditor's explanation, with the findings its hash covers.
    #[serde(default)]
    pub votes: Vec<VoteText>,
}

/// A render's explanation as kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KeptText {
    pub text: String,
    /// Secrets were masked out of it: it is not the text that was hashed.
    #[serde(default)]
    pub masked: bool,
}

/// An auditor's explanation as kept: its text and findings (the hash covers both).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VoteText {
    pub auditor: String,
    pub text: String,
    #[serde(default)]
    pub findings: Vec<RecordedFinding>,
    #[serde(default)]
    pub masked: bool,
}

/// A kept text against its recorded hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextCheck {
    /// It hashes to the recorded hash.
    Matches,
    /// It does not: the text (or the record) is not what was sealed.
    Differs,
    /// Secrets were masked out of it: it cannot be checked.
    Masked,
    /// The record has no hash for it.
    NoHash,
}

impl KeptText {
    /// `text` with `mask` applied, marked when the masking changed it.
    pub fn keep(text: &str, mask: &dyn Fn(&str) -> String) -> Self {
        let masked = mask(text);
        KeptText {
            masked: masked != text,
            text: masked,
        }
    }

    /// Against `recorded` (a render's `explanation_hash`): a render's explanation is hashed as
    /// an explanation with no findings.
    pub fn check(&self, recorded: Option<&str>) -> TextCheck {
        check(&self.text, &[], self.masked, recorded)
    }
}

impl VoteText {
    /// An auditor's `text` and `findings`, masked as [`KeptText::keep`] does.
    pub fn keep(
        auditor: &str,
        text: &str,
        findings: Vec<RecordedFinding>,
        mask: &dyn Fn(&str) -> String,
    ) -> Self {
        let kept = KeptText::keep(text, mask);
        let mut masked = kept.masked;
        let findings = findings
            .into_iter()
            .map(|mut f| {
                let m = mask(&f.message);
                masked |= m != f.message;
                f.message = m;
                f
            })
            .collect();
        VoteText {
            auditor: auditor.to_string(),
            text: kept.text,
            findings,
            masked,
        }
    }

    /// Against `recorded` (the vote's `explanation_hash`).
    pub fn check(&self, recorded: Option<&str>) -> TextCheck {
        check(&self.text, &self.findings, self.masked, recorded)
    }
}

fn check(
    text: &str,
    findings: &[RecordedFinding],
    masked: bool,
    recorded: Option<&str>,
) -> TextCheck {
    let Some(recorded) = recorded.filter(|h| !h.is_empty()) else {
        return TextCheck::NoHash;
    };
    if masked {
        return TextCheck::Masked;
    }
    let e = Explanation {
        text: text.to_string(),
        findings: findings.to_vec(),
        extra: Default::default(),
    };
    match hash_explanation(&e) {
        Ok(h) if h.to_string() == recorded => TextCheck::Matches,
        _ => TextCheck::Differs,
    }
}

/// Explanation texts as found where they are kept (a file beside the record, the store, a git
/// note): the texts to show, and what the page says of what was found there. Either, both or
/// neither: texts found with a caveat are still shown (each is checked against its hash).
#[derive(Debug, Default, PartialEq)]
pub struct FoundTexts {
    pub texts: Option<ExplanationTexts>,
    pub problem: Option<String>,
}

impl FoundTexts {
    /// Texts found, nothing to say.
    pub fn texts(t: ExplanationTexts) -> Self {
        FoundTexts {
            texts: Some(t),
            problem: None,
        }
    }

    /// None shown, and why.
    pub fn problem(why: String) -> Self {
        FoundTexts {
            texts: None,
            problem: Some(why),
        }
    }

    /// What `source` (a file, a note) held is no explanation texts (`e`, serde's reason): none
    /// shown, and that said.
    pub fn not_texts(source: impl std::fmt::Display, e: &serde_json::Error) -> Self {
        Self::problem(format!(
            "{source} is not the explanation texts of a record ({e}): not shown"
        ))
    }
}

impl ExplanationTexts {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Of the texts notes kept for a record's commit (newest first, as
    /// `super::notes::texts_history` reads them), the newest that is of the record
    /// `record_hash`. Nothing found when there are none. Otherwise, what is wrong is said in
    /// one line and never stops the record from being shown: none of them is this record's
    /// (the newest is no texts at all, or another record's), or this record's texts are found
    /// in an earlier note while the newest is no texts at all — shown, and the newest named as
    /// not what a gate writes. (A newest note of *another* record is the usual case of a head
    /// gated again, and says nothing.)
    pub fn pick(notes: &[String], record_hash: Option<&str>) -> FoundTexts {
        let Some((newest, earlier)) = notes.split_first() else {
            return FoundTexts::default();
        };
        let want = record_hash.unwrap_or_default();
        let mine = |t: &Self| !want.is_empty() && t.record_hash == want;
        // Each note is parsed once: the newest, then the earlier ones until this record's.
        let newest = match Self::from_json(newest) {
            Ok(t) if mine(&t) => return FoundTexts::texts(t),
            parsed => parsed,
        };
        let found = earlier
            .iter()
            .filter_map(|n| Self::from_json(n).ok())
            .find(|t| mine(t));
        match (newest, found) {
            (Ok(_), Some(t)) => FoundTexts::texts(t),
            (Err(e), Some(t)) => FoundTexts {
                texts: Some(t),
                problem: Some(format!(
                    "the newest explanation texts note (refs/notes/patchgate-texts) is not the \
                     explanation texts of a record ({e}): the texts shown are this record's, \
                     from an earlier note"
                )),
            },
            (Err(e), None) => FoundTexts::not_texts(
                "the explanation texts note (refs/notes/patchgate-texts)",
                &e,
            ),
            (Ok(t), None) => FoundTexts::problem(t.foreign(record_hash)),
        }
    }

    /// Why these texts are not shown with the record `record_hash`: they are of another one.
    pub fn foreign(&self, record_hash: Option<&str>) -> String {
        format!(
            "the explanation texts kept for this record are of another record (record_hash `{}`, \
             not this record's `{}`): not shown",
            self.record_hash,
            record_hash.unwrap_or("none")
        )
    }

    /// The kept text of `auditor`'s vote.
    pub fn vote(&self, auditor: &str) -> Option<&VoteText> {
        self.votes.iter().find(|v| v.auditor == auditor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(s: &str) -> String {
        s.replace("ghp_SECRET", "***")
    }

    #[test]
    fn a_kept_text_checks_against_its_hash_and_a_masked_one_is_said_so() {
        let text = "Retry with exponential backoff.";
        let h = hash_explanation(&Explanation::new(text))
            .unwrap()
            .to_string();
        let kept = KeptText::keep(text, &mask);
        assert!(!kept.masked);
        assert_eq!(kept.check(Some(&h)), TextCheck::Matches);
        assert_eq!(kept.check(None), TextCheck::NoHash);
        let other = KeptText::keep("Retry linearly.", &mask);
        assert_eq!(other.check(Some(&h)), TextCheck::Differs);

        let secret = KeptText::keep("token ghp_SECRET here", &mask);
        assert!(secret.masked);
        assert_eq!(secret.text, "token *** here");
        assert_eq!(secret.check(Some(&h)), TextCheck::Masked);
    }

    #[test]
    fn a_votes_hash_covers_its_findings_and_masking_reaches_them() {
        let f = RecordedFinding {
            rule: "no-unwrap".into(),
            file: "src/a.rs".into(),
            line: Some(3),
            severity: "warning".into(),
            message: "unwrap on a fallible call".into(),
        };
        let e = Explanation {
            text: "One finding.".into(),
            findings: vec![f.clone()],
            extra: Default::default(),
        };
        let h = hash_explanation(&e).unwrap().to_string();
        let v = VoteText::keep("r", "One finding.", vec![f.clone()], &mask);
        assert_eq!(v.check(Some(&h)), TextCheck::Matches);
        let bare = VoteText::keep("r", "One finding.", Vec::new(), &mask);
        assert_eq!(bare.check(Some(&h)), TextCheck::Differs);
        let mut leaky = f;
        leaky.message = "found ghp_SECRET".into();
        let v = VoteText::keep("r", "One finding.", vec![leaky], &mask);
        assert!(v.masked);
        assert_eq!(v.findings[0].message, "found ***");
        let texts = ExplanationTexts {
            record_hash: "sha256:x".into(),
            votes: vec![v.clone()],
            ..Default::default()
        };
        let back = ExplanationTexts::from_json(&texts.to_json()).unwrap();
        assert_eq!(back, texts);
        assert_eq!(back.vote("r"), Some(&v));
    }

    #[test]
    fn the_newest_texts_of_the_record_are_picked_and_anything_else_is_said() {
        let of = |h: &str, t: &str| ExplanationTexts {
            record_hash: h.into(),
            a: Some(KeptText::keep(t, &mask)),
            ..Default::default()
        };
        assert_eq!(
            ExplanationTexts::pick(&[], Some("sha256:r")),
            FoundTexts::default()
        );
        let problem = |f: FoundTexts| {
            assert!(f.texts.is_none(), "{f:?}");
            f.problem.expect("a problem")
        };
        // A later gate of the same head replaced the note: the earlier record finds its own,
        // and nothing is said.
        let notes = [
            of("sha256:s", "second").to_json(),
            of("sha256:r", "first").to_json(),
        ];
        let got = ExplanationTexts::pick(&notes, Some("sha256:r"));
        assert_eq!(got.problem, None);
        assert_eq!(got.texts.unwrap().a.unwrap().text, "first");
        // Another record's texts only: refused, naming both hashes.
        let e = problem(ExplanationTexts::pick(&notes[..1], Some("sha256:r")));
        assert!(
            e.contains("of another record") && e.contains("sha256:s"),
            "{e}"
        );
        assert!(e.contains("sha256:r"), "{e}");
        // No texts at all: said, with serde's reason.
        let e = problem(ExplanationTexts::pick(
            &["[1, 2".to_string()],
            Some("sha256:r"),
        ));
        assert!(
            e.contains("is not the explanation texts of a record") && e.ends_with("not shown"),
            "{e}"
        );
        // The newest note is no texts, an earlier one is this record's: shown, and the newest
        // is named.
        let notes = ["[1, 2".to_string(), of("sha256:r", "first").to_json()];
        let got = ExplanationTexts::pick(&notes, Some("sha256:r"));
        assert_eq!(got.texts.unwrap().a.unwrap().text, "first");
        let e = got.problem.expect("the garbage note is said");
        assert!(
            e.starts_with("the newest explanation texts note (refs/notes/patchgate-texts) is not")
                && e.ends_with("the texts shown are this record's, from an earlier note"),
            "{e}"
        );
        // A record without a hash matches nothing, not texts with an empty hash.
        let e = problem(ExplanationTexts::pick(&[of("", "x").to_json()], None));
        assert!(e.contains("of another record"), "{e}");
    }
}
