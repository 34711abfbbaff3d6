//! Canonical forms of explanations and records, and their hashes.
//!
//! Two forms, both specified byte for byte in `docs/canonical-form.md` and pinned by the test
//! vectors in `fixtures/meta/vectors.json`:
//!
//! * **`patchgate-explanation/v1`** — an explanation (free text, findings, extra fields) as a
//!   small line-oriented UTF-8 document: the version tag, the normalised text lines (Unicode
//!   NFC, LF line endings, whitespace collapsed, blank-line runs collapsed), the findings
//!   sorted, and the non-volatile extra fields as canonical JSON. Timestamps, request and
//!   response ids, durations, token counts and costs are dropped: they change from run to run
//!   while what was said does not.
//! * **`patchgate-json/v1`** — a canonical JSON serialisation (RFC 8785 / JCS with two
//!   documented deviations: strings and keys are NFC-normalised, and integers are written
//!   exactly). The record hash is the SHA-256 of the record in this form with the top-level
//!   `record_hash` key left out.
//!
//! The hash of either form is the SHA-256 of its UTF-8 bytes, written `sha256:<hex>`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use unicode_normalization::UnicodeNormalization;

use super::hash::Sha256Hash;

/// The first line of every canonical explanation.
pub const EXPLANATION_FORM_VERSION: &str = "patchgate-explanation/v1";
/// The name of the canonical JSON form used for records (no tag is written into the bytes: a
/// record carries its own `version` field, which is hashed with it).
pub const JSON_FORM_VERSION: &str = "patchgate-json/v1";
/// The top-level key a record's own hash lives under; never part of what is hashed.
pub const RECORD_HASH_KEY: &str = "record_hash";
/// Deepest nesting of arrays and objects that is canonicalised (the same limit serde_json's
/// parser has); deeper values are refused rather than risking the stack.
pub const MAX_DEPTH: usize = 128;

/// Keys of an explanation's extra fields that are dropped before hashing, at any depth, after
/// normalising the key (NFC, lowercase, `-` and space become `_`). See [`is_volatile_key`].
pub const VOLATILE_KEYS: &[&str] = &[
    // time
    "at",
    "created",
    "date",
    "datetime",
    "time",
    "timestamp",
    "ts",
    "updated",
    // request / response / trace identity
    "completion_id",
    "id",
    "message_id",
    "request_id",
    "requestid",
    "response_id",
    "run_id",
    "span_id",
    "system_fingerprint",
    "trace_id",
    "x_request_id",
    // durations
    "duration",
    "elapsed",
    "latency",
    "took",
    // cost and usage
    "cost",
    "price",
    "tokens",
    "usage",
];

/// Key suffixes that make a key volatile (after the same normalisation as [`VOLATILE_KEYS`]).
pub const VOLATILE_KEY_SUFFIXES: &[&str] = &[
    "_at",
    "_cost",
    "_date",
    "_duration",
    "_ms",
    "_ns",
    "_seconds",
    "_secs",
    "_time",
    "_timestamp",
    "_tokens",
    "_us",
    "_usd",
];

/// Why a value has no canonical form. Every case is a malformed or hostile input; callers
/// verifying a record must treat it as a failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("two keys of one object are equal after Unicode NFC normalisation: {key:?}")]
    DuplicateKey { key: String },
    #[error("value nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("number {0} is not finite")]
    NonFiniteNumber(String),
    #[error("a record must be a JSON object")]
    NotAnObject,
}

/// An explanation: what a render's author or an auditor said about a change.
///
/// Deserialising a raw auditor answer into it is fine: unknown fields land in `extra`, and the
/// volatile ones among them (timestamps, ids, usage, cost) are ignored by the canonical form.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Explanation {
    /// The free-text explanation.
    #[serde(default, alias = "explanation")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<RecordedFinding>,
    /// Any further fields. Volatile ones are dropped by the canonical form.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Explanation {
    pub fn new(text: impl Into<String>) -> Self {
        Explanation {
            text: text.into(),
            ..Explanation::default()
        }
    }

    pub fn with_finding(mut self, finding: RecordedFinding) -> Self {
        self.findings.push(finding);
        self
    }

    pub fn with_extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

/// One finding of an auditor (or a render's self-review).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordedFinding {
    /// The rule or category that fired, e.g. `no-unwrap` or `security`.
    #[serde(default, alias = "category", alias = "rule_id")]
    pub rule: String,
    /// The file it is about (repository-relative); empty when it is about the whole change.
    #[serde(default, alias = "path")]
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub message: String,
}

impl RecordedFinding {
    pub fn new(
        rule: impl Into<String>,
        file: impl Into<String>,
        line: Option<u64>,
        severity: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        RecordedFinding {
            rule: rule.into(),
            file: file.into(),
            line,
            severity: severity.into(),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text normalisation

/// Normalises free text into its canonical lines (no line contains `\n`):
///
/// 1. Unicode NFC;
/// 2. `\r\n`, then any remaining `\r`, become `\n`; every U+FEFF (byte-order mark) before the
///    text's first character that is neither U+FEFF nor `White_Space` is removed (so one at
///    the very start, a second one, or one after leading blank lines — which step 4 removes —
///    all go, and normalising twice changes nothing);
/// 3. the text is split at `\n`; in every line each maximal run of Unicode `White_Space`
///    characters (tab, NBSP, U+2028, … — `\n` is no longer among them) becomes one U+0020
///    space, and spaces at the start and end of the line are removed (indentation is not
///    significant);
/// 4. runs of empty lines become one empty line, and empty lines at the start and end are
///    removed.
pub fn normalize_text_lines(text: &str) -> Vec<String> {
    let nfc: String = text.nfc().collect();
    let unified = nfc.replace("\r\n", "\n").replace('\r', "\n");
    // Leading White_Space goes anyway (step 3 trims the first line, step 4 drops blank lines
    // before it), so dropping it here too changes nothing but lets every leading U+FEFF go.
    let unified = unified.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    let mut lines: Vec<String> = Vec::new();
    for raw in unified.split('\n') {
        let line = collapse_whitespace(raw);
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            // A blank line at the start, or after another blank line.
            continue;
        }
        lines.push(line);
    }
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// [`normalize_text_lines`] joined with `\n` (no trailing newline).
pub fn normalize_text(text: &str) -> String {
    normalize_text_lines(text).join("\n")
}

/// Every maximal run of `White_Space` characters becomes one space; the ends are trimmed.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// A finding's fields in canonical form: every string NFC-normalised with all whitespace
/// (line breaks included) collapsed to single spaces and trimmed; `severity` lowercased;
/// leading `./` segments removed from `file`.
pub fn normalize_finding(f: &RecordedFinding) -> RecordedFinding {
    let clean = |s: &str| collapse_whitespace(&s.nfc().collect::<String>());
    let mut file = clean(&f.file);
    while let Some(rest) = file.strip_prefix("./") {
        file = rest.to_string();
    }
    RecordedFinding {
        rule: clean(&f.rule),
        file,
        line: f.line,
        severity: clean(&f.severity).to_lowercase(),
        message: clean(&f.message),
    }
}

/// The canonical order of normalised findings: by file, line (absent first), rule, severity,
/// message; strings compared by UTF-16 code units.
pub fn cmp_findings(a: &RecordedFinding, b: &RecordedFinding) -> Ordering {
    cmp_utf16(&a.file, &b.file)
        .then_with(|| a.line.cmp(&b.line))
        .then_with(|| cmp_utf16(&a.rule, &b.rule))
        .then_with(|| cmp_utf16(&a.severity, &b.severity))
        .then_with(|| cmp_utf16(&a.message, &b.message))
}

/// Normalised findings in canonical order (duplicates are kept: two equal findings are two
/// findings).
pub fn canonical_findings(findings: &[RecordedFinding]) -> Vec<RecordedFinding> {
    let mut out: Vec<RecordedFinding> = findings.iter().map(normalize_finding).collect();
    out.sort_by(cmp_findings);
    out
}

// ---------------------------------------------------------------------------------------------
// Volatile fields

/// Whether an extra field's key names run-to-run noise rather than content: after NFC,
/// lowercasing and turning `-` and spaces into `_`, the key is one of [`VOLATILE_KEYS`] or ends
/// with one of [`VOLATILE_KEY_SUFFIXES`]. So `created_at`, `X-Request-Id`, `duration_ms`,
/// `usage`, `cost_usd` and `id` are volatile; `model`, `verdict` and `summary` are not.
pub fn is_volatile_key(key: &str) -> bool {
    let norm: String = key
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    VOLATILE_KEYS.contains(&norm.as_str())
        || VOLATILE_KEY_SUFFIXES.iter().any(|s| norm.ends_with(s))
}

/// `value` with every object member whose key is volatile removed, at any depth (objects
/// inside arrays included).
pub fn strip_volatile(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !is_volatile_key(k))
                .map(|(k, v)| (k.clone(), strip_volatile(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_volatile).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The explanation form

/// The canonical form `patchgate-explanation/v1` of an explanation. Every line ends with `\n`:
///
/// ```text
/// patchgate-explanation/v1
/// text <n>
/// <n normalised text lines>
/// findings <m>
/// <m findings, each one line of canonical JSON with keys file, line, message, rule, severity>
/// extra <the non-volatile extra fields as one canonical JSON object>
/// ```
///
/// Fails only if the extra fields have no canonical JSON form ([`CanonicalError`]).
pub fn canonical_explanation(e: &Explanation) -> Result<String, CanonicalError> {
    let mut out = String::new();
    out.push_str(EXPLANATION_FORM_VERSION);
    out.push('\n');

    let lines = normalize_text_lines(&e.text);
    let _ = writeln!(out, "text {}", lines.len());
    for line in &lines {
        out.push_str(line);
        out.push('\n');
    }

    let findings = canonical_findings(&e.findings);
    let _ = writeln!(out, "findings {}", findings.len());
    for f in &findings {
        let mut obj = Map::new();
        obj.insert("file".into(), Value::String(f.file.clone()));
        obj.insert("line".into(), f.line.map_or(Value::Null, Value::from));
        obj.insert("message".into(), Value::String(f.message.clone()));
        obj.insert("rule".into(), Value::String(f.rule.clone()));
        obj.insert("severity".into(), Value::String(f.severity.clone()));
        out.push_str(&canonical_json(&Value::Object(obj))?);
        out.push('\n');
    }

    let extra: Map<String, Value> = e
        .extra
        .iter()
        .filter(|(k, _)| !is_volatile_key(k))
        .map(|(k, v)| (k.clone(), strip_volatile(v)))
        .collect();
    out.push_str("extra ");
    out.push_str(&canonical_json(&Value::Object(extra))?);
    out.push('\n');
    Ok(out)
}

/// SHA-256 of [`canonical_explanation`].
pub fn hash_explanation(e: &Explanation) -> Result<Sha256Hash, CanonicalError> {
    Ok(Sha256Hash::digest(canonical_explanation(e)?))
}

// ---------------------------------------------------------------------------------------------
// The JSON form

/// Compares two strings by their UTF-16 code units, the key order of RFC 8785.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The canonical JSON form `patchgate-json/v1` of `value`, leaving out the top-level object
/// members whose (NFC) key is in `exclude_top_level`.
///
/// RFC 8785 (JCS): no insignificant whitespace; object members sorted by the UTF-16 code units
/// of their keys; strings escaped minimally (`\"`, `\\`, `\b \f \n \r \t`, other controls below
/// U+0020 as `\u00xx` with lowercase hex, everything else as literal UTF-8); floating-point
/// numbers in the ECMAScript `Number.prototype.toString` form (shortest round-trip digits,
/// `1e+21`, `1e-7`, `0.1`, `100` for `100.0`, `0` for `-0.0`). Two deviations, both documented:
/// every string and key is NFC-normalised first, and integers held exactly (64-bit) are written
/// with all their digits even beyond 2^53.
pub fn canonical_value(
    value: &Value,
    exclude_top_level: &[&str],
) -> Result<String, CanonicalError> {
    let exclude: Vec<String> = exclude_top_level
        .iter()
        .map(|k| k.nfc().collect())
        .collect();
    let mut out = String::new();
    write_value(&mut out, value, 0, &exclude)?;
    Ok(out)
}

/// [`canonical_value`] with nothing excluded.
pub fn canonical_json(value: &Value) -> Result<String, CanonicalError> {
    canonical_value(value, &[])
}

/// The canonical form of a record: [`canonical_value`] without [`RECORD_HASH_KEY`]. The record
/// must be an object.
pub fn canonical_record(record: &Value) -> Result<String, CanonicalError> {
    if !record.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    canonical_value(record, &[RECORD_HASH_KEY])
}

/// SHA-256 of [`canonical_record`]: the value of a record's `record_hash`.
///
/// When verifying a stored record, parse it with `serde_yaml` (or `serde_json` with its
/// `float_roundtrip` feature): `serde_json`'s default float parser is not correctly rounded and
/// can read a long-mantissa float one ulp off, which changes the hash.
pub fn hash_record(record: &Value) -> Result<Sha256Hash, CanonicalError> {
    Ok(Sha256Hash::digest(canonical_record(record)?))
}

fn write_value(
    out: &mut String,
    value: &Value,
    depth: usize,
    exclude: &[String],
) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, &s.nfc().collect::<String>()),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1, &[])?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            let mut members: Vec<(String, &Value)> = map
                .iter()
                .map(|(k, v)| (k.nfc().collect::<String>(), v))
                .filter(|(k, _)| !exclude.contains(k))
                .collect();
            members.sort_by(|a, b| cmp_utf16(&a.0, &b.0));
            if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(CanonicalError::DuplicateKey {
                    key: w[0].0.clone(),
                });
            }
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v, depth + 1, &[])?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else {
        let x = n
            .as_f64()
            .ok_or_else(|| CanonicalError::NonFiniteNumber(n.to_string()))?;
        out.push_str(&format_f64(x)?);
    }
    Ok(())
}

/// A finite double in the form of ECMAScript's `Number.prototype.toString` (ECMA-262
/// Number::toString with radix 10), which RFC 8785 prescribes.
pub fn format_f64(x: f64) -> Result<String, CanonicalError> {
    if !x.is_finite() {
        return Err(CanonicalError::NonFiniteNumber(x.to_string()));
    }
    if x == 0.0 {
        return Ok("0".to_string());
    }
    // Rust's `{:e}` yields the shortest digits that round-trip: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    // x = 0.d1d2…dk × 10^n in ECMA-262's terms.
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut s = String::new();
    if x < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(s, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn text_normalisation_rules() {
        let text = "\u{feff}\r\n\r\n  Caf\u{0065}\u{0301}\tau   lait  \r\n\r\n\r\n\rsecond\u{00a0}\u{2003}line\n\n \t \n";
        assert_eq!(
            normalize_text_lines(text),
            vec!["Café au lait", "", "second line"]
        );
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text(" \n\t\r\n "), "");
        assert!(normalize_text_lines("  \n ").is_empty());
        // NEL and LINE SEPARATOR are whitespace inside a line, not line breaks.
        assert_eq!(normalize_text("a\u{2028}b\u{85}c"), "a b c");
    }

    #[test]
    fn findings_are_normalised_and_sorted() {
        let findings = vec![
            RecordedFinding::new("r2", "./src/b.rs", Some(3), "High", "two\n  lines"),
            RecordedFinding::new("r1", "src/a.rs", Some(10), "low", "x"),
            RecordedFinding::new("r1", "src/a.rs", None, "low", "x"),
            RecordedFinding::new("r0", "src/a.rs", Some(2), "low", "x"),
        ];
        let c = canonical_findings(&findings);
        let keys: Vec<_> = c
            .iter()
            .map(|f| (f.file.as_str(), f.line, f.rule.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("src/a.rs", None, "r1"),
                ("src/a.rs", Some(2), "r0"),
                ("src/a.rs", Some(10), "r1"),
                ("src/b.rs", Some(3), "r2"),
            ]
        );
        assert_eq!(c[3].severity, "high");
        assert_eq!(c[3].message, "two lines");
    }

    #[test]
    fn volatile_keys() {
        for k in [
            "created_at",
            "X-Request-Id",
            "request_id",
            "duration_ms",
            "usage",
            "cost_usd",
            "id",
            "Timestamp",
            "input_tokens",
            "system_fingerprint",
            "started at",
        ] {
            assert!(is_volatile_key(k), "{k} should be volatile");
        }
        for k in [
            "model",
            "verdict",
            "summary",
            "format",
            "rule_id",
            "retry_after",
            "path",
        ] {
            assert!(!is_volatile_key(k), "{k} should not be volatile");
        }
        let v = json!({"a": [{"id": 1, "b": 2}], "usage": {"x": 1}, "keep": {"took": 3, "k": 4}});
        assert_eq!(
            strip_volatile(&v),
            json!({"a": [{"b": 2}], "keep": {"k": 4}})
        );
    }

    #[test]
    fn explanation_form_layout() {
        let e = Explanation::new("Fixes  the bug.\r\n\r\n\r\nDetails:\ttrailing   ")
            .with_finding(RecordedFinding::new(
                "no-unwrap",
                "src/x.rs",
                Some(4),
                "Warning",
                "unwrap",
            ))
            .with_extra("request_id", json!("req_1"))
            .with_extra("model", json!("m"));
        let c = canonical_explanation(&e).unwrap();
        assert_eq!(
            c,
            "patchgate-explanation/v1\ntext 3\nFixes the bug.\n\nDetails: trailing\nfindings 1\n\
             {\"file\":\"src/x.rs\",\"line\":4,\"message\":\"unwrap\",\"rule\":\"no-unwrap\",\"severity\":\"warning\"}\n\
             extra {\"model\":\"m\"}\n"
        );
        let empty = canonical_explanation(&Explanation::default()).unwrap();
        assert_eq!(
            empty,
            "patchgate-explanation/v1\ntext 0\nfindings 0\nextra {}\n"
        );
    }

    #[test]
    fn explanation_hash_ignores_noise_but_not_content() {
        let a = Explanation::new("Adds retry to fetch().\n")
            .with_finding(RecordedFinding::new("r", "a.rs", Some(1), "low", "m1"))
            .with_finding(RecordedFinding::new("r", "b.rs", Some(1), "low", "m2"))
            .with_extra("created_at", json!("2026-01-01T00:00:00Z"));
        let b = Explanation::new("  Adds retry   to fetch().\r\n\r\n")
            .with_finding(RecordedFinding::new("r", "./b.rs", Some(1), "LOW", "m2"))
            .with_finding(RecordedFinding::new("r", "a.rs", Some(1), "low", "m1"))
            .with_extra("created_at", json!("2027-01-01T00:00:00Z"))
            .with_extra("usage", json!({"input_tokens": 12}));
        assert_eq!(hash_explanation(&a).unwrap(), hash_explanation(&b).unwrap());
        let c = Explanation::new("Adds retry to fetch()!");
        assert_ne!(hash_explanation(&a).unwrap(), hash_explanation(&c).unwrap());
        // A finding's line is content.
        let mut d = a.clone();
        d.findings[0].line = Some(2);
        assert_ne!(hash_explanation(&a).unwrap(), hash_explanation(&d).unwrap());
    }

    #[test]
    fn explanation_deserialises_from_auditor_answer() {
        let raw = json!({
            "id": "msg_01",
            "explanation": "Looks fine.",
            "findings": [{"category": "style", "path": "a.rs", "line": 3, "severity": "info", "message": "m"}],
            "verdict": "approve",
            "usage": {"input_tokens": 10}
        });
        let e: Explanation = serde_json::from_value(raw).unwrap();
        assert_eq!(e.text, "Looks fine.");
        assert_eq!(e.findings[0].rule, "style");
        assert_eq!(e.findings[0].file, "a.rs");
        let c = canonical_explanation(&e).unwrap();
        assert!(c.ends_with("extra {\"verdict\":\"approve\"}\n"), "{c}");
    }

    #[test]
    fn numbers_follow_ecmascript() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (-0.0, "0"),
            (1.0, "1"),
            (100.0, "100"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.2345e-7, "1.2345e-7"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.000123, "0.000123"),
            (1.8, "1.8"),
            (4.35, "4.35"),
            (9007199254740992.0, "9007199254740992"),
            (1.0 / 3.0 * 1e9, "333333333.3333333"),
        ];
        for (x, want) in cases {
            assert_eq!(format_f64(*x).unwrap(), *want, "{x:?}");
        }
        assert!(format_f64(f64::NAN).is_err());
        assert!(format_f64(f64::INFINITY).is_err());
    }

    #[test]
    fn json_form() {
        let v: Value = serde_json::from_str(
            r#"{"b":[1,2.0,-3,1e21,0.1,true,false,null],"a":{"z":"x\u0000y\u001f\"\\\n","\u00e9":1,"e\u0301x":2},
                "big":18446744073709551615,"neg":-9223372036854775808,"s":"</script>\u2028"}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&v).unwrap(),
            "{\"a\":{\"z\":\"x\\u0000y\\u001f\\\"\\\\\\n\",\"é\":1,\"éx\":2},\"b\":[1,2,-3,1e+21,0.1,true,false,null],\
             \"big\":18446744073709551615,\"neg\":-9223372036854775808,\"s\":\"</script>\u{2028}\"}"
        );
    }

    #[test]
    fn keys_sort_by_utf16_not_code_points() {
        // U+FB01 sorts after U+1F600 in UTF-16 (0xFB01 > 0xD83D) but before it by code point.
        let v = json!({"\u{fb01}": 1, "\u{1f600}": 2, "a": 3});
        assert_eq!(
            canonical_json(&v).unwrap(),
            "{\"a\":3,\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn nfc_duplicate_keys_are_refused() {
        let v = json!({"\u{e9}": 1, "e\u{301}": 2});
        assert_eq!(
            canonical_json(&v),
            Err(CanonicalError::DuplicateKey {
                key: "\u{e9}".into()
            })
        );
    }

    #[test]
    fn depth_limit() {
        let mut v = json!(1);
        for _ in 0..MAX_DEPTH {
            v = json!([v]);
        }
        assert!(canonical_json(&v).is_ok());
        let v = json!({ "k": v });
        assert_eq!(canonical_json(&v), Err(CanonicalError::TooDeep));
    }

    #[test]
    fn record_hash_excludes_only_top_level_record_hash() {
        let r = json!({"version": 1, "quorum_passed": true, "record_hash": "sha256:00",
                       "nested": {"record_hash": "kept"}});
        let c = canonical_record(&r).unwrap();
        assert_eq!(
            c,
            r#"{"nested":{"record_hash":"kept"},"quorum_passed":true,"version":1}"#
        );
        let mut r2 = r.clone();
        r2["record_hash"] = json!("sha256:ff");
        assert_eq!(hash_record(&r).unwrap(), hash_record(&r2).unwrap());
        r2["quorum_passed"] = json!(false);
        assert_ne!(hash_record(&r).unwrap(), hash_record(&r2).unwrap());
        assert_eq!(hash_record(&json!([1])), Err(CanonicalError::NotAnObject));
    }

    #[test]
    fn record_from_yaml_hashes_like_from_json() {
        let yaml = "version: 1\nrepo: owner/name\nexplanations: {hash_match: false, similarity: 0.91, threshold: 0.85, agreed: true}\nrecord_hash: \"sha256:x\"\n";
        let from_yaml: Value = serde_yaml::from_str(yaml).unwrap();
        let from_json = json!({"repo": "owner/name", "version": 1,
            "explanations": {"agreed": true, "threshold": 0.85, "similarity": 0.91, "hash_match": false}});
        assert_eq!(
            hash_record(&from_yaml).unwrap(),
            hash_record(&from_json).unwrap()
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Floats serde_json reads back exactly: its default parser is not correctly
            // rounded (std's is; see `floats_round_trip`).
            any::<f64>()
                .prop_filter("finite, read back exactly by serde_json", |x| {
                    x.is_finite()
                        && serde_json::from_str::<f64>(&format_f64(*x).unwrap()).ok() == Some(*x)
                })
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-zé\u{301}\u{1f600}]{0,4}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Found by the `canonical` fuzz target: `"\r\u{feff}+"` normalised to `"\u{feff}+"`, which
    /// normalised again to `"+"`. Every byte-order mark before the first character goes.
    #[test]
    fn byte_order_marks_before_the_first_character_all_go() {
        for text in [
            "\r\u{feff}+",
            "\u{feff}+",
            "\u{feff}\u{feff}+",
            "\n\n  \u{feff}+",
            "\u{feff} \u{feff}\t+",
        ] {
            assert_eq!(normalize_text(text), "+", "{text:?}");
        }
        // Not at the start, it is text like any other (U+FEFF is not White_Space).
        assert_eq!(normalize_text("a\n\u{feff}b"), "a\n\u{feff}b");
        assert_eq!(normalize_text("a\u{feff}"), "a\u{feff}");
    }

    proptest! {
        #[test]
        fn canonical_json_is_valid_json_and_idempotent(v in arb_json()) {
            if let Ok(c) = canonical_json(&v) {
                let parsed: Value = serde_json::from_str(&c).unwrap();
                prop_assert_eq!(canonical_json(&parsed).unwrap(), c);
            }
        }

        #[test]
        fn floats_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let s = format_f64(x).unwrap();
            let back: f64 = s.parse().unwrap();
            prop_assert!(back == x || (x == 0.0 && back == 0.0), "{} -> {}", x, s);
        }

        #[test]
        fn text_normalisation_is_idempotent(s in "[ a-z\u{e9}\u{301}\t\r\n\u{a0}\u{2028}\u{feff}]{0,40}") {
            let once = normalize_text(&s);
            prop_assert_eq!(normalize_text(&once), once.clone());
            let nfc: String = once.nfc().collect();
            prop_assert_eq!(nfc, once);
        }
    }
}
