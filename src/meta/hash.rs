//! `sha256:<hex>` digests.
//!
//! Every hash patchgate writes (explanation hashes, `record_hash`, `prev_record_hash`) is a
//! SHA-256 digest written as the ASCII prefix `sha256:` followed by exactly 64 lowercase
//! hexadecimal digits. Parsing accepts that form and nothing else: no uppercase digits, no
//! surrounding whitespace, no other algorithm names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A SHA-256 digest, displayed and parsed as `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hash([u8; 32]);

/// Why a string is not a `sha256:<hex>` hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("hash must start with \"sha256:\"")]
    MissingPrefix,
    #[error("hash must have 64 hex digits after \"sha256:\", found {found} characters")]
    BadLength { found: usize },
    #[error("hash has {found:?} at position {position}; only 0-9 and a-f are allowed")]
    BadDigit { position: usize, found: char },
}

impl Sha256Hash {
    /// The prefix every written hash carries.
    pub const PREFIX: &'static str = "sha256:";

    /// The SHA-256 digest of `data`.
    pub fn digest(data: impl AsRef<[u8]>) -> Self {
        let out = Sha256::digest(data.as_ref());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&out);
        Sha256Hash(bytes)
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Hash(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the prefix.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 0x0f)] as char);
        }
        s
    }
}

impl fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::PREFIX)?;
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hash({self})")
    }
}

impl FromStr for Sha256Hash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or(HashParseError::MissingPrefix)?;
        let found = hex.chars().count();
        if found != 64 {
            return Err(HashParseError::BadLength { found });
        }
        let mut bytes = [0u8; 32];
        for (i, c) in hex.chars().enumerate() {
            let nibble = match c {
                '0'..='9' => c as u8 - b'0',
                'a'..='f' => c as u8 - b'a' + 10,
                _ => {
                    return Err(HashParseError::BadDigit {
                        position: Self::PREFIX.len() + i,
                        found: c,
                    })
                }
            };
            bytes[i / 2] |= if i % 2 == 0 { nibble << 4 } else { nibble };
        }
        Ok(Sha256Hash(bytes))
    }
}

impl TryFrom<&str> for Sha256Hash {
    type Error = HashParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Serialize for Sha256Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_known_inputs() {
        assert_eq!(Sha256Hash::digest(b"").to_string(), EMPTY);
        assert_eq!(
            Sha256Hash::digest(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_round_trips() {
        let h: Sha256Hash = EMPTY.parse().unwrap();
        assert_eq!(h, Sha256Hash::digest(b""));
        assert_eq!(h.to_string(), EMPTY);
        assert_eq!(format!("{h:?}"), format!("Sha256Hash({EMPTY})"));
    }

    #[test]
    fn parse_rejects_everything_else() {
        let hex = &EMPTY[7..];
        assert_eq!(
            hex.parse::<Sha256Hash>(),
            Err(HashParseError::MissingPrefix)
        );
        assert_eq!(
            format!("SHA256:{hex}").parse::<Sha256Hash>(),
            Err(HashParseError::MissingPrefix)
        );
        assert_eq!(
            format!("sha1:{hex}").parse::<Sha256Hash>(),
            Err(HashParseError::MissingPrefix)
        );
        assert_eq!(
            format!(" {EMPTY}").parse::<Sha256Hash>(),
            Err(HashParseError::MissingPrefix)
        );
        assert_eq!(
            format!("{EMPTY} ").parse::<Sha256Hash>(),
            Err(HashParseError::BadLength { found: 65 })
        );
        assert_eq!(
            EMPTY[..70].parse::<Sha256Hash>(),
            Err(HashParseError::BadLength { found: 63 })
        );
        assert_eq!(
            "sha256:".parse::<Sha256Hash>(),
            Err(HashParseError::BadLength { found: 0 })
        );
        let upper = format!("sha256:{}", hex.to_uppercase());
        assert_eq!(
            upper.parse::<Sha256Hash>(),
            Err(HashParseError::BadDigit {
                position: 7,
                found: 'E'
            })
        );
        let bad = format!("sha256:{}g", &hex[..63]);
        assert_eq!(
            bad.parse::<Sha256Hash>(),
            Err(HashParseError::BadDigit {
                position: 70,
                found: 'g'
            })
        );
        // 64 characters but not 64 bytes: a multi-byte character in place of two digits.
        let wide = format!("sha256:{}é", &hex[..63]);
        assert_eq!(
            wide.parse::<Sha256Hash>(),
            Err(HashParseError::BadDigit {
                position: 70,
                found: 'é'
            })
        );
    }

    #[test]
    fn serde_as_string() {
        let h = Sha256Hash::digest(b"");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        let back: Sha256Hash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        let yaml: Sha256Hash = serde_yaml::from_str(&format!("\"{EMPTY}\"")).unwrap();
        assert_eq!(yaml, h);
        let err = serde_json::from_str::<Sha256Hash>("\"sha256:00\"").unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        assert!(serde_json::from_str::<Sha256Hash>("42").is_err());
    }
}
