//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>) for `POST /webhook/meta`.
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`:
//! one or more space-separated `v1,<base64>` entries, each an HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the events secret. One matching `v1` entry is enough (a
//! sender rotating its secret may sign with both); entries of other versions are ignored.
//!
//! The secret ([`EventsSecret::parse`]) is either the specification's form, `whsec_` followed
//! by the base64 of the key bytes, or — for convenience — any other string, whose UTF-8 bytes
//! are the key as they are. Either way the key must be at least [`MIN_KEY_BYTES`] bytes long.
//!
//! [`Verifier`] hashes a body incrementally, so a streamed body is authenticated as it arrives
//! without being kept; [`verify`] is the one-shot form. Comparisons are constant time. A
//! timestamp more than [`TOLERANCE_SECS`] away from `now` (either way) is refused, so a captured
//! request cannot be replayed later; replays inside the window are refused by the caller, which
//! remembers ids durably (`Store::claim_webhook_id`).
//!
//! What this module must never do: put the secret (or a key derived from it) into an error, a
//! log line or a `Debug` output, or accept a body whose signature it has not checked.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// How far (seconds) `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Shortest key accepted (bytes, after decoding a `whsec_` secret).
pub const MIN_KEY_BYTES: usize = 16;

/// Longest `webhook-id` accepted (characters).
pub const MAX_ID_CHARS: usize = 256;

/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// Why a secret or a signature was refused. No variant carries the secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The secret is unusable (empty, too short, bad base64 after `whsec_`).
    #[error("events secret: {0}")]
    BadSecret(String),
    /// `webhook-id` is empty, too long, or has characters other than printable ASCII.
    #[error("webhook-id must be 1 to 256 printable ASCII characters without spaces")]
    BadId,
    /// `webhook-timestamp` is not a number of seconds.
    #[error("webhook-timestamp must be Unix seconds (digits only)")]
    BadTimestamp,
    /// The timestamp is more than five minutes in the past.
    #[error("webhook-timestamp is {0} s old (at most 300 s accepted)")]
    TooOld(i64),
    /// The timestamp is more than five minutes in the future.
    #[error("webhook-timestamp is {0} s in the future (at most 300 s accepted)")]
    TooNew(i64),
    /// `webhook-signature` holds no `v1,<base64>` entry.
    #[error("webhook-signature has no v1,<base64> entry")]
    NoSignature,
    /// No `v1` entry matches the body.
    #[error("webhook-signature does not match the body")]
    Mismatch,
}

/// The HMAC key of `/webhook/meta`. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct EventsSecret(Vec<u8>);

impl std::fmt::Debug for EventsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventsSecret(<redacted>)")
    }
}

impl EventsSecret {
    /// `whsec_<base64>` (the Standard Webhooks form: the key is the decoded bytes), or any other
    /// string (the key is its UTF-8 bytes). Surrounding whitespace is ignored. The key must be
    /// at least [`MIN_KEY_BYTES`] bytes long.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SigningError::BadSecret("it is empty".into()));
        }
        let key = match text.strip_prefix(SECRET_PREFIX) {
            Some(b64) => B64.decode(b64).map_err(|_| {
                SigningError::BadSecret("the part after whsec_ is not valid standard base64".into())
            })?,
            None => text.as_bytes().to_vec(),
        };
        if key.len() < MIN_KEY_BYTES {
            return Err(SigningError::BadSecret(format!(
                "the key is {} bytes; use at least {MIN_KEY_BYTES} (e.g. whsec_ + base64 of 32 random bytes)",
                key.len()
            )));
        }
        Ok(EventsSecret(key))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; the error branch cannot be taken.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
        }
    }
}

/// The `webhook-signature` value of `body`: `v1,<base64 of HMAC-SHA256("{id}.{timestamp}.{body}")>`.
pub fn sign(secret: &EventsSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Check a whole body at once: the id, the timestamp against `now` (Unix seconds), and the
/// signatures. See [`Verifier`] for a body that arrives in pieces.
pub fn verify(
    secret: &EventsSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SigningError> {
    let mut v = Verifier::new(secret, id, timestamp, now)?;
    v.update(body);
    v.finish(signatures)
}

/// Check `webhook-id`: 1 to [`MAX_ID_CHARS`] printable ASCII characters, no spaces.
pub fn check_id(id: &str) -> Result<(), SigningError> {
    if id.is_empty() || id.len() > MAX_ID_CHARS || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SigningError::BadId);
    }
    Ok(())
}

/// Check `webhook-timestamp` (digits only) against `now`; returns the timestamp.
pub fn check_timestamp(timestamp: &str, now: i64) -> Result<i64, SigningError> {
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SigningError::BadTimestamp);
    }
    let ts: i64 = timestamp.parse().map_err(|_| SigningError::BadTimestamp)?;
    let age = now.saturating_sub(ts);
    if age > TOLERANCE_SECS {
        return Err(SigningError::TooOld(age));
    }
    if -age > TOLERANCE_SECS {
        return Err(SigningError::TooNew(-age));
    }
    Ok(ts)
}

/// The decoded `v1` signatures of a `webhook-signature` header (entries of other versions and
/// entries that are not valid base64 are skipped). [`SigningError::NoSignature`] when none is
/// left, so a malformed header can be refused before the body is read.
pub fn parse_signatures(signatures: &str) -> Result<Vec<Vec<u8>>, SigningError> {
    let found: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .collect();
    if found.is_empty() {
        return Err(SigningError::NoSignature);
    }
    Ok(found)
}

/// Incremental verification: [`Verifier::new`] checks the id and the timestamp, then
/// [`update`](Verifier::update) takes the body piece by piece as it arrives and
/// [`finish`](Verifier::finish) compares the signatures in constant time. Nothing of the body
/// is kept.
#[derive(Clone)]
pub struct Verifier {
    mac: HmacSha256,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

impl Verifier {
    /// Start verifying the body of the request `id` sent at `timestamp` (the header's text),
    /// `now` being the receiver's clock (Unix seconds). Refuses a bad id, a malformed timestamp
    /// and one outside the tolerance at once.
    pub fn new(
        secret: &EventsSecret,
        id: &str,
        timestamp: &str,
        now: i64,
    ) -> Result<Verifier, SigningError> {
        check_id(id)?;
        check_timestamp(timestamp, now)?;
        let mut mac = secret.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        Ok(Verifier { mac })
    }

    /// Hash the next piece of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
    }

    /// Whether one of the `v1` signatures of `signatures` (the `webhook-signature` header)
    /// matches the body hashed so far. Constant time per candidate.
    pub fn finish(self, signatures: &str) -> Result<(), SigningError> {
        let candidates = parse_signatures(signatures)?;
        let mut ok = false;
        for sig in &candidates {
            // `verify_slice` compares in constant time; every candidate is checked.
            ok |= self.mac.clone().verify_slice(sig).is_ok();
        }
        if ok {
            Ok(())
        } else {
            Err(SigningError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference vector of the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_webhooks_reference_vector() {
        let s = EventsSecret::parse(SECRET).unwrap();
        assert_eq!(sign(&s, ID, TS, BODY), EXPECTED);
        verify(&s, ID, "1614265330", EXPECTED, BODY, TS).unwrap();
        // Several entries, other versions and garbage around the right one.
        let many = format!("v1a,abc v1,AAAA {EXPECTED} v2,zzz");
        verify(&s, ID, "1614265330", &many, BODY, TS + 10).unwrap();
    }

    #[test]
    fn incremental_equals_one_shot() {
        let s = EventsSecret::parse(SECRET).unwrap();
        let mut v = Verifier::new(&s, ID, "1614265330", TS).unwrap();
        for piece in BODY.chunks(3) {
            v.update(piece);
        }
        v.finish(EXPECTED).unwrap();
    }

    #[test]
    fn refuses_tampering_and_stale_or_future_timestamps() {
        let s = EventsSecret::parse(SECRET).unwrap();
        let t = "1614265330";
        assert_eq!(
            verify(&s, ID, t, EXPECTED, br#"{"test": 2432232315}"#, TS),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify(&s, "msg_other", t, EXPECTED, BODY, TS),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify(&s, ID, t, EXPECTED, BODY, TS + 301),
            Err(SigningError::TooOld(301))
        );
        assert_eq!(
            verify(&s, ID, t, EXPECTED, BODY, TS - 301),
            Err(SigningError::TooNew(301))
        );
        verify(&s, ID, t, EXPECTED, BODY, TS + 300).unwrap();
        verify(&s, ID, t, EXPECTED, BODY, TS - 300).unwrap();
        assert_eq!(
            verify(&s, ID, "16142x5330", EXPECTED, BODY, TS),
            Err(SigningError::BadTimestamp)
        );
        assert_eq!(
            verify(&s, ID, "-1", EXPECTED, BODY, TS),
            Err(SigningError::BadTimestamp)
        );
        assert_eq!(
            verify(&s, ID, t, "v1a,abc", BODY, TS),
            Err(SigningError::NoSignature)
        );
        assert_eq!(
            verify(&s, "", t, EXPECTED, BODY, TS),
            Err(SigningError::BadId)
        );
        assert_eq!(
            verify(&s, "a b", t, EXPECTED, BODY, TS),
            Err(SigningError::BadId)
        );
        let other = EventsSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(
            verify(&other, ID, t, EXPECTED, BODY, TS),
            Err(SigningError::Mismatch)
        );
    }

    #[test]
    fn secrets_raw_or_whsec_never_shown() {
        let raw = EventsSecret::parse("  a-raw-secret-of-some-length \n").unwrap();
        assert_eq!(raw.0, b"a-raw-secret-of-some-length");
        let sig = sign(&raw, ID, TS, BODY);
        verify(&raw, ID, &TS.to_string(), &sig, BODY, TS).unwrap();
        assert!(matches!(
            EventsSecret::parse(""),
            Err(SigningError::BadSecret(_))
        ));
        assert!(matches!(
            EventsSecret::parse("short"),
            Err(SigningError::BadSecret(_))
        ));
        let e = EventsSecret::parse("whsec_not*base64!!").unwrap_err();
        assert!(!e.to_string().contains("not*base64"), "{e}");
        let s = EventsSecret::parse(SECRET).unwrap();
        assert_eq!(format!("{s:?}"), "EventsSecret(<redacted>)");
        let v = Verifier::new(&s, ID, "1614265330", TS).unwrap();
        assert!(!format!("{v:?}").contains("MfKQ"));
    }
}
