//! How a payload is stored: deflated when that pays, marked so it never looks like a body
//! stored as received.

use crate::store::StoreError;

/// Payloads at least this long are stored deflated (a webhook body is JSON that compresses
/// about 10x; writing a tenth of the bytes is what keeps the queue's commits short).
const COMPRESS_FROM: usize = 1024;
/// Marks a deflated payload. A stored payload is either the body as received (JSON: never
/// starts with a NUL byte) or this marker followed by the raw-deflated body.
const DEFLATED: &[u8] = b"\0pgz1";

/// A payload as stored: the deflated form, or `None` when the body is best stored as it is
/// (short, or deflating does not make it shorter). A body that itself starts with a NUL byte
/// is always deflated, so a payload stored as it is never looks like a deflated one.
pub(super) fn encode_payload(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let must = body.starts_with(b"\0");
    if body.len() < COMPRESS_FROM && !must {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 + DEFLATED.len());
    out.extend_from_slice(DEFLATED);
    let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    match enc.write_all(body).and_then(|_| enc.finish()) {
        Ok(v) if must || v.len() < body.len() => Some(v),
        _ => None,
    }
}

/// The body as received, from a stored payload.
pub(super) fn decode_payload(stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    match stored.strip_prefix(DEFLATED) {
        None => Ok(stored),
        Some(packed) => {
            let mut out = Vec::with_capacity(packed.len() * 8);
            flate2::read::DeflateDecoder::new(packed)
                .read_to_end(&mut out)
                .map_err(|e| {
                    StoreError::Query(format!("a stored payload does not inflate: {e}"))
                })?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod payload_tests {
    use super::super::{NewJob, PreparedJob};
    use super::{decode_payload, DEFLATED};

    /// The payload a job is stored with.
    fn stored(payload: &[u8]) -> Vec<u8> {
        PreparedJob::new(NewJob {
            delivery_id: "d".to_string(),
            event: "pull_request".to_string(),
            payload: payload.to_vec(),
            repo: "o/r".to_string(),
        })
        .stored
    }

    #[test]
    fn payloads_round_trip_and_large_ones_shrink() {
        let small = br#"{"action":"opened"}"#.to_vec();
        assert_eq!(stored(&small), small);
        let big = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/github/webhooks/pull_request.opened.json"
        ))
        .unwrap();
        let packed = stored(&big);
        assert!(packed.starts_with(DEFLATED));
        assert!(
            packed.len() * 4 < big.len(),
            "{} of {}",
            packed.len(),
            big.len()
        );
        assert_eq!(decode_payload(packed).unwrap(), big);
        // A body that looks like the marker is deflated too, so it round-trips.
        let odd = b"\0pgz1 not deflate".to_vec();
        let packed = stored(&odd);
        assert_ne!(packed, odd);
        assert_eq!(decode_payload(packed).unwrap(), odd);
        // A stored payload that claims to be deflated but is not is an error, never garbage.
        assert!(decode_payload(b"\0pgz1 not deflate".to_vec()).is_err());
    }
}
