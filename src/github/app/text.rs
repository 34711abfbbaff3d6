//! GitHub's limits on text (a check run's summary, a comment's body, titles and labels): cut on
//! a character boundary, visibly.

/// GitHub's limit on a check run's summary and text, and on a comment's body.
pub(super) const TEXT_LIMIT: usize = 65_535;

/// `s` cut to at most `limit` bytes (so also at most `limit` characters), on a character
/// boundary, ending with a visible marker when cut.
pub fn truncate_text(s: &str, limit: usize) -> String {
    const MARKER: &str = "\n\n… (truncated)";
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit.saturating_sub(MARKER.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARKER}", &s[..end])
}

/// `s` cut to at most `limit` characters (for short fields: titles, labels).
pub(super) fn truncate_chars(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_visible_and_within_the_limit() {
        let long = "é".repeat(40_000); // 80,000 bytes
        let t = truncate_text(&long, TEXT_LIMIT);
        assert!(t.len() <= TEXT_LIMIT && t.ends_with("(truncated)"));
        assert_eq!(truncate_text("short", TEXT_LIMIT), "short");
        assert_eq!(truncate_chars("abcdéfgh", 5), "abcdé");
        assert_eq!(truncate_chars("abc", 5), "abc");
    }
}
