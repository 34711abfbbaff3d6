//! The step summary (`GITHUB_STEP_SUMMARY`): the head (verdict, path, checks, votes), the
//! middle (findings and where the renders differ, as much as fits) and the tail (the record's
//! hashes, what to do next), always under [`SUMMARY_LIMIT_BYTES`].

mod head;
mod middle;
mod tail;

use super::commands::cap;
use super::SUMMARY_LIMIT_BYTES;
use crate::gate::check::CheckOutcome;

/// Text safe in a Markdown table cell (and not read as HTML).
pub(super) fn md(s: &str, max_chars: usize) -> String {
    cap(s, max_chars)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// The step summary: the verdict first, then variance, explanations, every vote with its
/// reason, the findings, the record's hashes and what to do next. Always under
/// [`SUMMARY_LIMIT_BYTES`]: when the findings and edits do not fit they are cut, with a note
/// saying how many were left out.
pub fn step_summary(o: &CheckOutcome) -> String {
    // The head: verdict, variance, explanations, votes.
    let head = head::head(o);
    // The tail: hashes and what to do next.
    let tail = tail::tail(o);
    // The middle: findings and edits, as much as fits.
    let budget = SUMMARY_LIMIT_BYTES.saturating_sub(head.len() + tail.len() + 512);
    let middle = middle::middle(o, budget);

    let mut out = head;
    out.push_str(&middle);
    out.push_str(&tail);
    if out.len() > SUMMARY_LIMIT_BYTES {
        // Only a pathological head (thousands of votes) gets here: cut at a char boundary.
        let note = "\n\n_… the step summary was cut here: it is capped under 1 MiB._\n";
        let mut end = SUMMARY_LIMIT_BYTES - note.len();
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(note);
    }
    out
}
