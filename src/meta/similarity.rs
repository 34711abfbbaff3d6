//! How close two explanations are: a deterministic, documented, weighted term overlap.
//!
//! # The measure (`patchgate-similarity/v1`)
//!
//! The **similarity document** of an explanation is its normalised text
//! ([`normalize_text`]) followed, one line each, by its findings in canonical order as
//! `rule file severity message` (normalised as in the canonical form). Extra fields and line
//! numbers are not part of it.
//!
//! The document is turned into a set of **terms**, each with a **weight**:
//!
//! 1. Split at Unicode `White_Space` into chunks. A chunk in which an alphanumeric character is
//!    directly followed by `()` is a *call* (`fetch()`, `fetch();`, `(a.b())`). Trim from both
//!    ends of each chunk the ASCII characters ``, . ; : ! ? " ' ` ( ) [ ] { } < > *``; skip
//!    chunks that become empty.
//! 2. A chunk is a **code term** when it is a call, starts with `--`, contains a lowercase
//!    letter directly followed by an uppercase one (camelCase), or contains a run of `.` `_`
//!    `/` `:` between two alphanumeric characters — and it has at least 3 alphanumeric
//!    characters, at least two of them adjacent (so `e.g.` and `i.e.` are not code). A code
//!    term is the whole lowercased chunk (`config.retries`, `src/db/users.rs`, `--dry-run`,
//!    `fetch`, `1.38`), weight **3**.
//! 3. Every chunk, code or not, is lowercased and cut into maximal runs of alphanumeric
//!    characters (Unicode `Alphabetic` or numeric). Runs that are [stopwords](STOPWORDS), and
//!    single characters other than an ASCII digit, are dropped; the others are stemmed ([`stem`]). A
//!    stem is a **word term** of weight **1**, or **0.5** if it is the stem of one of the
//!    [generic words](GENERIC_WORDS) of change descriptions (add, change, fix, update, …).
//!
//! A term seen several times counts once, with its highest weight; between two documents a
//! term's weight is its highest weight in either (so `fetch()` in one and `fetch` in the other
//! match as the code term `fetch`). The similarity is the **weighted Dice coefficient**
//!
//! ```text
//! sim(A, B) = 2 · Σ_{t ∈ A ∩ B} w(t) / (Σ_{t ∈ A} w(t) + Σ_{t ∈ B} w(t))
//! ```
//!
//! in [0, 1]: 1 when the term sets are equal, 0 when they share nothing. Two documents without
//! any term (both empty, or only stopwords) have similarity 1; one without terms and one with
//! have 0. All weights are multiples of 0.5, so both sums are exact and the value is one
//! correctly rounded IEEE-754 division: any implementation gets the same bits.
//!
//! # Why this measure
//!
//! Explanations of the *same* change share its specifics — identifiers, paths, flags, numbers,
//! domain nouns — and differ in phrasing, word order, inflection and filler. Explanations of
//! *different* changes to the same code share the identifiers and the filler but differ in the
//! specifics. So: stopwords are dropped, word forms are conflated by stemming, generic
//! change-description words weigh half, and code terms weigh triple. Dice (not containment)
//! is used so that an explanation that adds a claim — "…, and also drops the users table" —
//! loses agreement rather than being "covered" by the shorter one.
//!
//! It is a lexical measure. Rewordings of one explanation (the same claims and names, said
//! differently) score above the default threshold 0.85; two independently written
//! explanations of one change that share little vocabulary score lower and are reported as not
//! agreeing. That errs on the safe side: a disagreement is looked at, an agreement is not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::canonical::{canonical_findings, hash_explanation, normalize_text, Explanation};

/// The name of this similarity measure.
pub const SIMILARITY_VERSION: &str = "patchgate-similarity/v1";
/// Default agreement threshold of two explanations.
pub const DEFAULT_SIMILARITY_THRESHOLD: f64 = 0.85;

/// Weight of a code term.
pub const CODE_WEIGHT: f64 = 3.0;
/// Weight of an ordinary word term.
pub const WORD_WEIGHT: f64 = 1.0;
/// Weight of a generic word term.
pub const GENERIC_WEIGHT: f64 = 0.5;

/// Words that carry no content; dropped (compared after lowercasing, before stemming).
pub const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "being", "both", "but", "by", "can", "could", "did", "do", "does", "done", "each",
    "either", "for", "from", "had", "has", "have", "he", "her", "here", "his", "how", "i", "if",
    "in", "instead", "into", "is", "it", "its", "may", "me", "might", "must", "my", "neither",
    "no", "not", "now", "of", "on", "one", "onto", "or", "our", "shall", "she", "should", "so",
    "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "too", "us", "very", "via", "was", "we", "were", "what", "when", "whenever",
    "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "you",
    "your",
];

/// Words common to change descriptions in general; their stems weigh [`GENERIC_WEIGHT`].
pub const GENERIC_WORDS: &[&str] = &[
    "add",
    "again",
    "allow",
    "always",
    "another",
    "behavior",
    "behaviour",
    "call",
    "change",
    "code",
    "ensure",
    "fix",
    "gain",
    "get",
    "handle",
    "implement",
    "improve",
    "just",
    "less",
    "logic",
    "make",
    "modify",
    "more",
    "never",
    "new",
    "number",
    "only",
    "other",
    "out",
    "read",
    "run",
    "set",
    "some",
    "still",
    "support",
    "time",
    "up",
    "update",
    "use",
    "way",
    "work",
    "write",
];

/// Abbreviations and synonyms mapped to one word before stemming.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("arg", "argument"),
    ("args", "argument"),
    ("bump", "upgrade"),
    ("bumped", "upgrade"),
    ("bumps", "upgrade"),
    ("cfg", "config"),
    ("conf", "config"),
    ("db", "database"),
    ("delete", "remove"),
    ("deleted", "remove"),
    ("deletes", "remove"),
    ("dir", "directory"),
    ("drop", "remove"),
    ("dropped", "remove"),
    ("drops", "remove"),
    ("env", "environment"),
    ("err", "error"),
    ("fn", "function"),
    ("func", "function"),
    ("impl", "implement"),
    ("init", "initialize"),
    ("introduce", "add"),
    ("introduced", "add"),
    ("introduces", "add"),
    ("max", "maximum"),
    ("min", "minimum"),
    ("msg", "message"),
    ("param", "parameter"),
    ("params", "parameter"),
    ("repo", "repository"),
    ("resolve", "fix"),
    ("resolved", "fix"),
    ("resolves", "fix"),
];

/// Suffixes removed by [`stem`], tried in this order; the first that fits is removed.
pub const SUFFIXES: &[&str] = &[
    "ations", "ation", "ingly", "ments", "ment", "ness", "ably", "able", "ibly", "ible", "ally",
    "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s",
];

/// Longest stem, in characters.
pub const STEM_MAX_CHARS: usize = 6;

/// Characters trimmed from both ends of a chunk.
const TRIM: &[char] = &[
    ',', '.', ';', ':', '!', '?', '"', '\'', '`', '(', ')', '[', ']', '{', '}', '<', '>', '*',
];

/// The stem of a lowercase alphanumeric word:
///
/// 1. a word in [`SYNONYMS`] is replaced by its target;
/// 2. a word of ASCII digits only is its own stem (nothing else happens);
/// 3. the first of [`SUFFIXES`] the word ends with is removed, if at least 3 characters
///    remain; if it was `ies` or `ied`, a `y` is appended;
/// 4. a final `y` becomes `i`, then a final `e` is removed — each only if the word is longer
///    than 3 characters at that point;
/// 5. the result is cut to its first [`STEM_MAX_CHARS`] characters.
///
/// `retry`, `retries`, `retried` → `retri`; `configurable`, `configured`, `config` → `config`;
/// `exponential`, `exponentially` → `expone`.
pub fn stem(word: &str) -> String {
    let mut w: String = SYNONYMS
        .iter()
        .find(|(from, _)| *from == word)
        .map_or(word, |(_, to)| to)
        .to_string();
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
        return w;
    }
    for suffix in SUFFIXES {
        if w.ends_with(suffix) && w.chars().count() >= suffix.len() + 3 {
            w.truncate(w.len() - suffix.len());
            if *suffix == "ies" || *suffix == "ied" {
                w.push('y');
            }
            break;
        }
    }
    if w.chars().count() > 3 && w.ends_with('y') {
        w.pop();
        w.push('i');
    }
    if w.chars().count() > 3 && w.ends_with('e') {
        w.pop();
    }
    w.chars().take(STEM_MAX_CHARS).collect()
}

fn stopwords() -> &'static BTreeSet<&'static str> {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOPWORDS.iter().copied().collect())
}

fn generic_stems() -> &'static BTreeSet<String> {
    static SET: OnceLock<BTreeSet<String>> = OnceLock::new();
    SET.get_or_init(|| GENERIC_WORDS.iter().map(|w| stem(w)).collect())
}

/// The weighted terms of a text (see the module documentation).
pub fn terms(text: &str) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    let mut put = |term: String, weight: f64| {
        let w = out.entry(term).or_insert(weight);
        if *w < weight {
            *w = weight;
        }
    };
    for chunk in text.split(char::is_whitespace) {
        let call = chunk
            .match_indices("()")
            .any(|(i, _)| chunk[..i].ends_with(char::is_alphanumeric));
        let t = chunk.trim_matches(TRIM);
        if t.is_empty() {
            continue;
        }
        let lower = t.to_lowercase();
        let segments: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|s| !s.is_empty())
            .collect();
        if is_code(t, call, &segments) {
            put(lower.clone(), CODE_WEIGHT);
        }
        for seg in segments {
            let single = seg.chars().nth(1).is_none();
            if stopwords().contains(seg)
                || (single && !seg.starts_with(|c: char| c.is_ascii_digit()))
            {
                continue;
            }
            let s = stem(seg);
            let weight = if generic_stems().contains(&s) {
                GENERIC_WEIGHT
            } else {
                WORD_WEIGHT
            };
            put(s, weight);
        }
    }
    out
}

fn is_code(chunk: &str, call: bool, segments: &[&str]) -> bool {
    let alnum = chunk.chars().filter(|c| c.is_alphanumeric()).count();
    if alnum < 3 || !segments.iter().any(|s| s.chars().nth(1).is_some()) {
        return false;
    }
    if call || chunk.starts_with("--") {
        return true;
    }
    let chars: Vec<char> = chunk.chars().collect();
    let camel = chars
        .windows(2)
        .any(|w| w[0].is_lowercase() && w[1].is_uppercase());
    if camel {
        return true;
    }
    // A run of separators with an alphanumeric character on each side.
    let is_sep = |c: char| matches!(c, '.' | '_' | '/' | ':');
    let mut i = 1;
    while i < chars.len() {
        if is_sep(chars[i]) && chars[i - 1].is_alphanumeric() {
            let mut j = i;
            while j < chars.len() && is_sep(chars[j]) {
                j += 1;
            }
            if j < chars.len() && chars[j].is_alphanumeric() {
                return true;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    false
}

/// The weighted Dice coefficient of two term sets (see the module documentation).
pub fn weighted_dice(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let weight = |t: &String| {
        a.get(t)
            .copied()
            .unwrap_or(0.0)
            .max(b.get(t).copied().unwrap_or(0.0))
    };
    // Folds from +0.0 (`Iterator::sum` of no f64 is -0.0).
    let total_a = a.keys().map(weight).fold(0.0, |s, w| s + w);
    let total_b = b.keys().map(weight).fold(0.0, |s, w| s + w);
    let common = a
        .keys()
        .filter(|t| b.contains_key(*t))
        .map(weight)
        .fold(0.0, |s, w| s + w);
    if total_a + total_b == 0.0 {
        return 0.0;
    }
    (2.0 * common / (total_a + total_b)).clamp(0.0, 1.0)
}

/// The similarity document of an explanation: normalised text, then one line per finding.
pub fn similarity_document(e: &Explanation) -> String {
    let mut doc = normalize_text(&e.text);
    for f in canonical_findings(&e.findings) {
        doc.push('\n');
        doc.push_str(&[f.rule, f.file, f.severity, f.message].join(" "));
    }
    doc
}

/// The similarity of two plain texts.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    weighted_dice(&terms(&normalize_text(a)), &terms(&normalize_text(b)))
}

/// The similarity of two explanations, in [0, 1] (symmetric; 1 for equal documents).
pub fn similarity(a: &Explanation, b: &Explanation) -> f64 {
    weighted_dice(
        &terms(&similarity_document(a)),
        &terms(&similarity_document(b)),
    )
}

/// The outcome of comparing two explanations; the `explanations` entry of `meta.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExplanationComparison {
    /// The canonical hashes are equal.
    pub hash_match: bool,
    /// 1.0 when the hashes match, else [`similarity`].
    pub similarity: f64,
    pub threshold: f64,
    /// `hash_match || similarity >= threshold` (false for a NaN threshold).
    pub agreed: bool,
}

/// Compares two explanations: equal canonical hashes agree at once (similarity 1.0);
/// otherwise they agree when [`similarity`] reaches `threshold`. An explanation without a
/// canonical form (pathological extra fields) never hash-matches.
pub fn compare_explanations(
    a: &Explanation,
    b: &Explanation,
    threshold: f64,
) -> ExplanationComparison {
    let hash_match = match (hash_explanation(a), hash_explanation(b)) {
        (Ok(ha), Ok(hb)) => ha == hb,
        _ => false,
    };
    let similarity = if hash_match { 1.0 } else { similarity(a, b) };
    ExplanationComparison {
        hash_match,
        similarity,
        threshold,
        agreed: hash_match || similarity >= threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::canonical::RecordedFinding;
    use proptest::prelude::*;

    /// Rewordings of one explanation: the same claims and names, said differently.
    pub(super) const PARAPHRASES: &[(&str, &str)] = &[
        (
            "Adds retry with exponential backoff to fetch(); max attempts configurable via config.retries.",
            "fetch() now retries failed requests with exponential backoff. The maximum number of attempts is configured by config.retries.",
        ),
        (
            "Fixes an off-by-one error in paginate(): the last page was skipped when total was an exact multiple of page_size.",
            "paginate() skipped the final page whenever total was an exact multiple of page_size; this fixes that off-by-one error.",
        ),
        (
            "Renames the user_id column to account_id in the users table and updates all queries in src/db/users.rs accordingly.",
            "In src/db/users.rs, all queries are updated for the users table column rename from user_id to account_id.",
        ),
        (
            "Replaces the hand-written JSON parsing in load_config() with serde; unknown fields are now rejected.",
            "load_config() now parses JSON with serde instead of the hand-written parser, and rejects unknown fields.",
        ),
        (
            "Removes the deprecated --legacy flag from the CLI and deletes the legacy_mode code path in main.rs.",
            "The deprecated --legacy CLI flag is removed, along with the legacy_mode code path in main.rs.",
        ),
        (
            "Caches compiled regexes in a HashMap keyed by pattern so match_rule() no longer recompiles them on every call.",
            "match_rule() no longer recompiles regexes on each call: compiled patterns are cached in a HashMap keyed by the pattern string.",
        ),
        (
            "Escapes HTML in render_comment() to prevent stored XSS through user-supplied comment bodies.",
            "To prevent stored XSS via user-supplied comment bodies, render_comment() now escapes HTML.",
        ),
        (
            "Upgrades tokio from 1.38 to 1.40 in Cargo.toml and regenerates Cargo.lock; no code changes.",
            "Bumps tokio 1.38 -> 1.40 (Cargo.toml, Cargo.lock regenerated). No source code changes.",
        ),
        (
            "- Adds `--dry-run` to `patchgate rollback`\n- In dry-run mode the revert commit is built but not pushed\n- Prints the commit that would be pushed",
            "`patchgate rollback` gains a `--dry-run` mode: the revert commit is built and the commit that would be pushed is printed, but not pushed.",
        ),
    ];

    /// Explanations of different changes, mostly to the same code (hard cases).
    pub(super) const DIFFERENT: &[(&str, &str)] = &[
        (
            "Adds retry with exponential backoff to fetch(); max attempts configurable via config.retries.",
            "Adds a request timeout to fetch(); the timeout is configurable via config.timeout_ms.",
        ),
        (
            "Fixes an off-by-one error in paginate(): the last page was skipped when total was an exact multiple of page_size.",
            "Fixes a panic in paginate() when page_size is zero by returning an empty result.",
        ),
        (
            "Renames the user_id column to account_id in the users table and updates all queries in src/db/users.rs accordingly.",
            "Adds an index on the email column of the users table in src/db/users.rs to speed up lookups.",
        ),
        (
            "Replaces the hand-written JSON parsing in load_config() with serde; unknown fields are now rejected.",
            "Adds validation to load_config(): negative thresholds are now rejected with an error.",
        ),
        (
            "Removes the deprecated --legacy flag from the CLI and deletes the legacy_mode code path in main.rs.",
            "Adds a --verbose flag to the CLI in main.rs that enables debug logging.",
        ),
        (
            "Caches compiled regexes in a HashMap keyed by pattern so match_rule() no longer recompiles them on every call.",
            "match_rule() now matches patterns case-insensitively by lowercasing both the rule and the input.",
        ),
        (
            "Escapes HTML in render_comment() to prevent stored XSS through user-supplied comment bodies.",
            "Adds pagination to the comment list so render_comment() is called for at most 50 comments per page.",
        ),
        (
            "Upgrades tokio from 1.38 to 1.40 in Cargo.toml and regenerates Cargo.lock; no code changes.",
            "Upgrades serde from 1.0.200 to 1.0.210 in Cargo.toml and regenerates Cargo.lock; no code changes.",
        ),
        (
            "- Adds `--dry-run` to `patchgate rollback`\n- In dry-run mode the revert commit is built but not pushed\n- Prints the commit that would be pushed",
            "- Adds `--force` to `patchgate rollback`\n- Pushes the revert commit even if the branch moved\n- Prints a warning",
        ),
    ];

    /// Pairs written after the measure was fixed and never tuned against (same rule: rewordings
    /// agree, different changes to the same code do not).
    const HELD_OUT_PARAPHRASES: &[(&str, &str)] = &[
        (
            "Validates the webhook signature with a constant-time comparison in verify_signature(), closing a timing side channel.",
            "verify_signature() now compares the webhook signature in constant time, which closes a timing side channel.",
        ),
        (
            "Moves the SQLite migrations from src/store/sql/ into migrations/ and runs them at startup via sqlx::migrate!.",
            "At startup, migrations are run via sqlx::migrate!; the SQLite migrations moved from src/store/sql/ to migrations/.",
        ),
        (
            "Limits request bodies to 25 MiB in the webhook handler; larger bodies are rejected with 413.",
            "The webhook handler rejects request bodies larger than 25 MiB with a 413 response.",
        ),
        (
            "Deduplicates deliveries by X-GitHub-Delivery so a redelivered webhook is processed only once.",
            "A redelivered webhook is now processed once: deliveries are deduplicated by their X-GitHub-Delivery id.",
        ),
        (
            "Switches the Anthropic auditor to the Messages API and parses tool_use blocks into findings.",
            "The Anthropic auditor now uses the Messages API; tool_use blocks are parsed into findings.",
        ),
        (
            "Treats auditor timeouts as abstentions instead of rejections in quorum::tally().",
            "In quorum::tally(), an auditor timeout now counts as an abstention rather than a rejection.",
        ),
    ];

    const HELD_OUT_DIFFERENT: &[(&str, &str)] = &[
        (
            "Validates the webhook signature with a constant-time comparison in verify_signature(), closing a timing side channel.",
            "Adds a replay window to verify_signature(): webhook deliveries older than five minutes are rejected.",
        ),
        (
            "Moves the SQLite migrations from src/store/sql/ into migrations/ and runs them at startup via sqlx::migrate!.",
            "Adds a PostgreSQL backend to src/store/ selected by DATABASE_URL; SQLite stays the default.",
        ),
        (
            "Limits request bodies to 25 MiB in the webhook handler; larger bodies are rejected with 413.",
            "Answers 202 from the webhook handler once the job is queued, before processing the request body.",
        ),
        (
            "Deduplicates deliveries by X-GitHub-Delivery so a redelivered webhook is processed only once.",
            "Retries failed webhook deliveries three times with backoff before moving them to the dead-letter queue.",
        ),
        (
            "Switches the Anthropic auditor to the Messages API and parses tool_use blocks into findings.",
            "Adds prompt caching to the Anthropic auditor to cut the cost of repeated system prompts.",
        ),
        (
            "Treats auditor timeouts as abstentions instead of rejections in quorum::tally().",
            "Counts budget exhaustion as an abstention in quorum::tally() and logs the auditor's remaining budget.",
        ),
    ];

    #[test]
    fn held_out_pairs() {
        for (a, b) in HELD_OUT_PARAPHRASES {
            let s = text_similarity(a, b);
            eprintln!("held-out paraphrase {s:.4}  {a:.50}");
            assert!(
                s >= DEFAULT_SIMILARITY_THRESHOLD,
                "{s} < 0.85:\n  {a}\n  {b}"
            );
        }
        for (a, b) in HELD_OUT_DIFFERENT {
            let s = text_similarity(a, b);
            eprintln!("held-out different  {s:.4}  {b:.50}");
            assert!(
                s < DEFAULT_SIMILARITY_THRESHOLD,
                "{s} >= 0.85:\n  {a}\n  {b}"
            );
        }
    }

    /// The documented limit of a lexical measure: two explanations of one change written
    /// independently, sharing the names but not the wording, land between the different-change
    /// scores and the threshold, and so count as not agreeing (the safe side).
    #[test]
    fn independent_rewrites_can_fall_short() {
        let a = "This change adds retry logic to `fetch()`. Failed requests are retried with exponential backoff. The maximum number of attempts is read from `config.retries` (default 3).";
        let b = "Implements retries with exponential backoff in fetch(): a failed request is retried up to config.retries times (3 by default).";
        let s = text_similarity(a, b);
        assert!((0.65..DEFAULT_SIMILARITY_THRESHOLD).contains(&s), "{s}");
    }

    #[test]
    fn paraphrases_agree() {
        for (a, b) in PARAPHRASES {
            let s = text_similarity(a, b);
            eprintln!("paraphrase {s:.4}  {a:.50}");
            assert!(
                s >= DEFAULT_SIMILARITY_THRESHOLD,
                "{s} < 0.85:\n  {a}\n  {b}"
            );
        }
    }

    #[test]
    fn different_changes_disagree() {
        for (a, b) in DIFFERENT {
            let s = text_similarity(a, b);
            eprintln!("different  {s:.4}  {b:.50}");
            assert!(
                s < DEFAULT_SIMILARITY_THRESHOLD,
                "{s} >= 0.85:\n  {a}\n  {b}"
            );
        }
    }

    #[test]
    fn an_added_claim_lowers_agreement() {
        let a = "Adds retry with exponential backoff to fetch(); max attempts configurable via config.retries.";
        let b = format!("{a} Also drops the users table and deletes src/db/users.rs.");
        assert!(text_similarity(a, &b) < DEFAULT_SIMILARITY_THRESHOLD);
    }

    #[test]
    fn stems() {
        for (w, s) in [
            ("retry", "retri"),
            ("retries", "retri"),
            ("retried", "retri"),
            ("configurable", "config"),
            ("configured", "config"),
            ("configuration", "config"),
            ("cfg", "config"),
            ("exponential", "expone"),
            ("exponentially", "expone"),
            ("renames", "renam"),
            ("rename", "renam"),
            ("max", "maximu"),
            ("key", "key"),
            ("keys", "key"),
            ("2026", "2026"),
            ("1234567890", "1234567890"),
            ("deletes", "remov"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }

    #[test]
    fn term_extraction() {
        let t = terms(
            "Adds `--dry-run` to fetch(), see e.g. src/a.rs and config.retries; HashMap x 3 0.5",
        );
        let code: Vec<&str> = t
            .iter()
            .filter(|(_, w)| **w == CODE_WEIGHT)
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            code,
            vec![
                "--dry-run",
                "config.retries",
                "fetch",
                "hashmap",
                "src/a.rs"
            ]
        );
        assert_eq!(t.get("add"), Some(&GENERIC_WEIGHT));
        assert_eq!(t.get("retri"), Some(&WORD_WEIGHT));
        assert_eq!(t.get("3"), Some(&WORD_WEIGHT));
        assert!(!t.contains_key("x") && !t.contains_key("e") && !t.contains_key("e.g"));
        // `0.5` has only two alphanumerics: not code, but its digits are words.
        assert!(!t.contains_key("0.5") && t.contains_key("0") && t.contains_key("5"));
    }

    #[test]
    fn empty_documents() {
        assert_eq!(text_similarity("", ""), 1.0);
        assert_eq!(text_similarity("the of a", "  \n"), 1.0);
        assert_eq!(
            text_similarity("", "Adds retry.").to_bits(),
            0.0f64.to_bits()
        );
        assert_eq!(text_similarity("Adds retry.", "the"), 0.0);
    }

    #[test]
    fn findings_take_part() {
        let text = "Approves the change; one style issue.";
        let a = Explanation::new(text).with_finding(RecordedFinding::new(
            "no-unwrap",
            "src/x.rs",
            Some(4),
            "warning",
            "unwrap on user input",
        ));
        let b = Explanation::new(text);
        let s = similarity(&a, &b);
        assert!(s < 0.85, "{s}");
        // Line numbers are not part of the document.
        let mut c = a.clone();
        c.findings[0].line = Some(40);
        assert_eq!(similarity(&a, &c), 1.0);
        let cmp = compare_explanations(&a, &c, DEFAULT_SIMILARITY_THRESHOLD);
        assert!(!cmp.hash_match && cmp.agreed && cmp.similarity == 1.0);
    }

    #[test]
    fn comparison() {
        let a = Explanation::new("Adds retry to fetch().")
            .with_extra("created_at", serde_json::json!("2026-01-01T00:00:00Z"));
        let b = Explanation::new("Adds   retry to fetch().\r\n")
            .with_extra("created_at", serde_json::json!("2026-02-02T00:00:00Z"));
        let c = compare_explanations(&a, &b, DEFAULT_SIMILARITY_THRESHOLD);
        assert_eq!(
            c,
            ExplanationComparison {
                hash_match: true,
                similarity: 1.0,
                threshold: 0.85,
                agreed: true
            }
        );
        let d = Explanation::new("Adds a timeout to fetch().");
        let c = compare_explanations(&a, &d, DEFAULT_SIMILARITY_THRESHOLD);
        assert!(!c.hash_match && !c.agreed && c.similarity < 0.85);
        // A NaN threshold never agrees (unless the hashes match).
        assert!(!compare_explanations(&a, &d, f64::NAN).agreed);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(
            json.as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect::<BTreeSet<_>>(),
            BTreeSet::from(["agreed", "hash_match", "similarity", "threshold"])
        );
    }

    fn arb_text() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            "adds",
            "retry",
            "fetch()",
            "config.retries",
            "the",
            "backoff",
            "--flag",
            "HashMap",
            "src/a.rs",
            "fixes",
            "1.38",
            "é",
            "e\u{301}",
            "of",
            "paging",
            "x",
            "42",
            "-",
            "(",
        ]);
        prop::collection::vec(words, 0..12).prop_map(|w| w.join(" "))
    }

    proptest! {
        #[test]
        fn symmetric_and_in_range(a in arb_text(), b in arb_text()) {
            let ab = text_similarity(&a, &b);
            let ba = text_similarity(&b, &a);
            prop_assert_eq!(ab.to_bits(), ba.to_bits());
            prop_assert!((0.0..=1.0).contains(&ab));
        }

        #[test]
        fn identity(a in arb_text()) {
            prop_assert_eq!(text_similarity(&a, &a), 1.0);
            let e = Explanation::new(a.clone());
            let c = compare_explanations(&e, &e, DEFAULT_SIMILARITY_THRESHOLD);
            prop_assert!(c.hash_match && c.agreed);
            prop_assert_eq!(c.similarity, 1.0);
        }

        #[test]
        fn arbitrary_unicode_is_symmetric(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let ab = text_similarity(&a, &b);
            prop_assert_eq!(ab.to_bits(), text_similarity(&b, &a).to_bits());
            prop_assert!((0.0..=1.0).contains(&ab));
            prop_assert_eq!(text_similarity(&a, &a), 1.0);
        }
    }
}
