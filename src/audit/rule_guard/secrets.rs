//! Secret handling: entropy, previews and redaction.
//!
//! Secret rules find credentials in a change; this module makes sure that finding them does not
//! spread them. A finding shows at most a short prefix (`AKIA…`), and `mask_text` replaces every
//! match of a secret rule in arbitrary text (a diff about to be sent to a model, a log line) by
//! `[REDACTED:<rule-id>]`.
//!
//! It must never return, log or format a matched secret in full — not in a message, not in an
//! error, not in a `Debug` output.

use regex::Regex;

/// The marker that replaces a secret.
pub const REDACTED_PREFIX: &str = "[REDACTED:";

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    let mut counts: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    let n = chars.len() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// How many of the classes lowercase, uppercase and digit occur in `s`.
pub fn char_classes(s: &str) -> u8 {
    let lower = s.chars().any(|c| c.is_lowercase());
    let upper = s.chars().any(|c| c.is_uppercase());
    let digit = s.chars().any(|c| c.is_ascii_digit());
    lower as u8 + upper as u8 + digit as u8
}

/// A preview that keeps at most 4 leading characters (fewer for short secrets: a quarter of
/// its length) and masks the rest: `AKIAIOSFODNN7EXAMPLE` → `AKIA…`.
pub fn preview(secret: &str) -> String {
    let n = secret.chars().count();
    let keep = (n / 4).min(4);
    let mut out: String = secret.chars().take(keep).collect();
    out.push('…');
    out
}

/// The span of a match that is the secret: the `secret` capture group when the expression
/// has one and it took part in the match, else the whole match.
pub fn secret_span(re: &Regex, caps: &regex::Captures<'_>) -> Option<std::ops::Range<usize>> {
    if re.capture_names().any(|n| n == Some("secret")) {
        if let Some(m) = caps.name("secret") {
            return Some(m.range());
        }
    }
    caps.get(0).map(|m| m.range())
}

/// Replace every secret span of `re` in `text` by `[REDACTED:<id>]`. Spans that already are a
/// redaction marker are left alone, so an earlier, more specific rule keeps its label.
pub fn mask_text(text: &str, re: &Regex, id: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0usize;
    for caps in re.captures_iter(text) {
        let Some(span) = secret_span(re, &caps) else {
            continue;
        };
        if span.start < last || span.is_empty() || text[span.clone()].starts_with(REDACTED_PREFIX) {
            continue;
        }
        out.push_str(&text[last..span.start]);
        out.push_str(REDACTED_PREFIX);
        out.push_str(id);
        out.push(']');
        last = span.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_separates_keys_from_words() {
        assert!(shannon_entropy("aaaaaaaaaaaaaaaa") < 0.01);
        assert!(shannon_entropy("changemechangeme") < 3.0);
        assert!(shannon_entropy("x9F2kQ7vLp3ZtR8wN1bY") > 4.0);
    }

    #[test]
    fn previews_keep_at_most_four_chars() {
        assert_eq!(preview("AKIAIOSFODNN7EXAMPLE"), "AKIA…");
        assert_eq!(preview("hunter2"), "h…");
        assert_eq!(preview("abc"), "…");
    }

    #[test]
    fn masks_group_or_whole_match() {
        let re = Regex::new(r#"token\s*=\s*"(?P<secret>[^"]+)""#).unwrap();
        assert_eq!(
            mask_text(r#"a token = "s3cr3t" b"#, &re, "t"),
            r#"a token = "[REDACTED:t]" b"#
        );
        let re = Regex::new(r"AKIA[0-9A-Z]{16}").unwrap();
        assert_eq!(
            mask_text("k=AKIAIOSFODNN7EXAMPLE;", &re, "aws"),
            "k=[REDACTED:aws];"
        );
        // an existing marker is not re-labelled
        let re = Regex::new(r#""(?P<secret>[^"\s]{12,})""#).unwrap();
        assert_eq!(
            mask_text(r#""[REDACTED:aws]xx""#, &re, "generic"),
            r#""[REDACTED:aws]xx""#
        );
    }
}
