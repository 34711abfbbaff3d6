//! SSH signatures (the `SSHSIG` format of OpenSSH's `PROTOCOL.sshsig`) with Ed25519 keys:
//! what `ssh-keygen -Y sign` writes and `ssh-keygen -Y verify` (and git's `gpg.format=ssh`)
//! checks, so that anyone can verify what patchgate signs with standard tools.
//!
//! What it is for: signing a decision record (its exact text) with the deployment's key and
//! checking such a signature against a set of allowed keys — several keys may verify (key
//! rotation: the old key stays allowed while records it signed are checked), one signs.
//!
//! Formats read: an unencrypted OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`,
//! type `ssh-ed25519`; an encrypted one is refused with a clear error), public keys
//! (`ssh-ed25519 AAAA… comment`) and `allowed_signers` lines (`principal[,…] [options]
//! ssh-ed25519 AAAA…`). The hash is SHA-512, as `ssh-keygen` uses by default.
//!
//! Used by the gate (records are signed when `PATCHGATE_SIGNING_KEY` is set, see
//! `crate::gate::check::signing_key` and `super::notes`) and by `patchgate meta verify --key`.
//!
//! What it must never do: print, log or put into an error any byte of a private key.

use base64::Engine;
use sha2::{Digest, Sha512};

const MAGIC: &[u8] = b"SSHSIG";
const KEY_TYPE: &str = "ssh-ed25519";
const HASH: &str = "sha512";
const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END: &str = "-----END SSH SIGNATURE-----";

/// Why a key could not be read or a signature did not verify. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("not an OpenSSH private key: {0}")]
    PrivateKey(&'static str),
    #[error("not an ssh-ed25519 public key: {0}")]
    PublicKey(&'static str),
    #[error("malformed SSH signature: {0}")]
    Malformed(&'static str),
    #[error("the signature is for namespace {found:?}, not {expected:?}")]
    Namespace { expected: String, found: String },
    #[error("the signing key is not among the allowed keys")]
    UnknownKey,
    #[error("the signature does not match the signed text")]
    Mismatch,
}

/// An Ed25519 signing key. `Debug` shows only the public key's fingerprint.
pub struct SigningKey {
    pair: ring::signature::Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public.fingerprint())
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

/// Reads SSH wire-format fields (`string` = u32 length + bytes).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

impl PublicKey {
    /// The SSH wire blob: `string "ssh-ed25519"`, `string key`.
    pub fn blob(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(51);
        put_string(&mut b, KEY_TYPE.as_bytes());
        put_string(&mut b, &self.0);
        b
    }

    fn from_blob(blob: &[u8]) -> Result<PublicKey, SigError> {
        let mut r = Reader(blob);
        let t = r.string().ok_or(SigError::PublicKey("truncated"))?;
        if t != KEY_TYPE.as_bytes() {
            return Err(SigError::PublicKey("not of type ssh-ed25519"));
        }
        let k = r.string().ok_or(SigError::PublicKey("truncated"))?;
        let k: [u8; 32] = k
            .try_into()
            .map_err(|_| SigError::PublicKey("key is not 32 bytes"))?;
        Ok(PublicKey(k))
    }

    /// `SHA256:…` as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let d = sha2::Sha256::digest(self.blob());
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(d)
        )
    }

    /// `ssh-ed25519 AAAA…` (an `authorized_keys` / `allowed_signers` key).
    pub fn to_openssh(&self) -> String {
        format!(
            "{KEY_TYPE} {}",
            base64::engine::general_purpose::STANDARD.encode(self.blob())
        )
    }

    /// Parse `ssh-ed25519 AAAA… [comment]`.
    pub fn parse(text: &str) -> Result<PublicKey, SigError> {
        let mut parts = text.split_whitespace();
        let (Some(t), Some(b64)) = (parts.next(), parts.next()) else {
            return Err(SigError::PublicKey("expected `ssh-ed25519 <base64>`"));
        };
        if t != KEY_TYPE {
            return Err(SigError::PublicKey("not of type ssh-ed25519"));
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SigError::PublicKey("the key is not base64"))?;
        PublicKey::from_blob(&blob)
    }
}

/// The keys of an `allowed_signers` file (or of public key lines): every `ssh-ed25519` key
/// found, in order; comments and blank lines are skipped, lines with other key types ignored.
pub fn allowed_keys(text: &str) -> Result<Vec<PublicKey>, SigError> {
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == KEY_TYPE) {
            if let Some(b64) = words.get(i + 1) {
                keys.push(PublicKey::parse(&format!("{KEY_TYPE} {b64}"))?);
            }
        }
    }
    if keys.is_empty() {
        return Err(SigError::PublicKey("no ssh-ed25519 key found"));
    }
    Ok(keys)
}

impl SigningKey {
    /// Read an unencrypted OpenSSH Ed25519 private key file's text.
    pub fn from_openssh(text: &str) -> Result<SigningKey, SigError> {
        const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
        const END: &str = "-----END OPENSSH PRIVATE KEY-----";
        let body = text
            .split_once(BEGIN)
            .and_then(|(_, rest)| rest.split_once(END))
            .map(|(b, _)| b)
            .ok_or(SigError::PrivateKey("no OPENSSH PRIVATE KEY block"))?;
        let b64: String = body.split_whitespace().collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SigError::PrivateKey("the block is not base64"))?;
        let mut r = Reader(
            raw.strip_prefix(b"openssh-key-v1\0")
                .ok_or(SigError::PrivateKey("not openssh-key-v1"))?,
        );
        let cipher = r.string().ok_or(SigError::PrivateKey("truncated"))?;
        let kdf = r.string().ok_or(SigError::PrivateKey("truncated"))?;
        let _kdf_options = r.string().ok_or(SigError::PrivateKey("truncated"))?;
        if cipher != b"none" || kdf != b"none" {
            return Err(SigError::PrivateKey(
                "the key is encrypted (passphrase): give patchgate an unencrypted key file",
            ));
        }
        if r.u32() != Some(1) {
            return Err(SigError::PrivateKey("expected exactly one key"));
        }
        let public = PublicKey::from_blob(r.string().ok_or(SigError::PrivateKey("truncated"))?)?;
        let mut p = Reader(r.string().ok_or(SigError::PrivateKey("truncated"))?);
        let (c1, c2) = (p.u32(), p.u32());
        if c1.is_none() || c1 != c2 {
            return Err(SigError::PrivateKey("check bytes differ (corrupt key)"));
        }
        if p.string() != Some(KEY_TYPE.as_bytes()) {
            return Err(SigError::PrivateKey("not an ssh-ed25519 key"));
        }
        let pk = p.string().ok_or(SigError::PrivateKey("truncated"))?;
        let sk = p.string().ok_or(SigError::PrivateKey("truncated"))?;
        if pk != public.0 || sk.len() != 64 || sk[32..] != public.0 {
            return Err(SigError::PrivateKey("inconsistent key"));
        }
        let pair = ring::signature::Ed25519KeyPair::from_seed_and_public_key(&sk[..32], &public.0)
            .map_err(|_| SigError::PrivateKey("the key does not match its public half"))?;
        Ok(SigningKey { pair, public })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Sign `message` in `namespace` (patchgate uses [`RECORD_NAMESPACE`]): the armored
    /// signature `ssh-keygen -Y sign -n <namespace>` would write.
    pub fn sign(&self, message: &[u8], namespace: &str) -> String {
        let signed = signed_data(message, namespace);
        let sig = self.pair.sign(&signed);
        let mut sig_blob = Vec::new();
        put_string(&mut sig_blob, KEY_TYPE.as_bytes());
        put_string(&mut sig_blob, sig.as_ref());
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut out, &self.public.blob());
        put_string(&mut out, namespace.as_bytes());
        put_string(&mut out, b"");
        put_string(&mut out, HASH.as_bytes());
        put_string(&mut out, &sig_blob);
        let b64 = base64::engine::general_purpose::STANDARD.encode(out);
        let mut armored = String::from(ARMOR_BEGIN);
        armored.push('\n');
        for chunk in b64.as_bytes().chunks(70) {
            armored.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            armored.push('\n');
        }
        armored.push_str(ARMOR_END);
        armored.push('\n');
        armored
    }
}

/// The namespace patchgate signs decision records in.
pub const RECORD_NAMESPACE: &str = "patchgate-record";

/// What is actually signed: the `SSHSIG` preamble, the namespace, and the SHA-512 of the
/// message.
fn signed_data(message: &[u8], namespace: &str) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(MAGIC);
    put_string(&mut d, namespace.as_bytes());
    put_string(&mut d, b"");
    put_string(&mut d, HASH.as_bytes());
    put_string(&mut d, &Sha512::digest(message));
    d
}

/// Check the armored `signature` over `message` in `namespace` against `allowed` keys;
/// returns the key that signed.
pub fn verify<'k>(
    signature: &str,
    message: &[u8],
    namespace: &str,
    allowed: &'k [PublicKey],
) -> Result<&'k PublicKey, SigError> {
    let body = signature
        .split_once(ARMOR_BEGIN)
        .and_then(|(_, rest)| rest.split_once(ARMOR_END))
        .map(|(b, _)| b)
        .ok_or(SigError::Malformed("no SSH SIGNATURE block"))?;
    let b64: String = body.split_whitespace().collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SigError::Malformed("not base64"))?;
    let mut r = Reader(
        raw.strip_prefix(MAGIC)
            .ok_or(SigError::Malformed("no SSHSIG magic"))?,
    );
    if r.u32() != Some(1) {
        return Err(SigError::Malformed("unknown version"));
    }
    let key = PublicKey::from_blob(r.string().ok_or(SigError::Malformed("truncated"))?)
        .map_err(|_| SigError::Malformed("the signing key is not ssh-ed25519"))?;
    let ns = r.string().ok_or(SigError::Malformed("truncated"))?;
    if ns != namespace.as_bytes() {
        return Err(SigError::Namespace {
            expected: namespace.to_string(),
            found: String::from_utf8_lossy(ns).into_owned(),
        });
    }
    let _reserved = r.string().ok_or(SigError::Malformed("truncated"))?;
    if r.string() != Some(HASH.as_bytes()) {
        return Err(SigError::Malformed("hash algorithm is not sha512"));
    }
    let mut s = Reader(r.string().ok_or(SigError::Malformed("truncated"))?);
    if s.string() != Some(KEY_TYPE.as_bytes()) {
        return Err(SigError::Malformed("signature is not ssh-ed25519"));
    }
    let sig = s.string().ok_or(SigError::Malformed("truncated"))?;
    let Some(allowed_key) = allowed.iter().find(|k| **k == key) else {
        return Err(SigError::UnknownKey);
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key.0)
        .verify(&signed_data(message, namespace), sig)
        .map_err(|_| SigError::Mismatch)?;
    Ok(allowed_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenSSH private key file text of the Ed25519 key with `seed` (a test key made here,
    /// not kept in the repository).
    pub(crate) fn openssh_text(seed: [u8; 32]) -> String {
        use ring::signature::KeyPair;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let public = PublicKey(pair.public_key().as_ref().try_into().unwrap());
        let mut private = Vec::new();
        private.extend_from_slice(&[1, 2, 3, 4, 1, 2, 3, 4]);
        put_string(&mut private, KEY_TYPE.as_bytes());
        put_string(&mut private, &public.0);
        let mut sk = seed.to_vec();
        sk.extend_from_slice(&public.0);
        put_string(&mut private, &sk);
        put_string(&mut private, b"test");
        let mut pad = 1u8;
        while private.len() % 8 != 0 {
            private.push(pad);
            pad += 1;
        }
        let mut raw = b"openssh-key-v1\0".to_vec();
        put_string(&mut raw, b"none");
        put_string(&mut raw, b"none");
        put_string(&mut raw, b"");
        raw.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut raw, &public.blob());
        put_string(&mut raw, &private);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{b64}\n-----END OPENSSH PRIVATE KEY-----\n")
    }

    #[test]
    fn sign_and_verify_round_trip_and_refuse_tampering() {
        let k = SigningKey::from_openssh(&openssh_text([9; 32])).unwrap();
        assert!(format!("{k:?}").starts_with("SigningKey(SHA256:"));
        let msg = b"record_hash: sha256:abc\n";
        let sig = k.sign(msg, RECORD_NAMESPACE);
        assert!(sig.starts_with(ARMOR_BEGIN));
        let allowed = vec![k.public().clone()];
        assert_eq!(
            verify(&sig, msg, RECORD_NAMESPACE, &allowed).unwrap(),
            k.public()
        );
        assert_eq!(
            verify(
                &sig,
                b"record_hash: sha256:abd\n",
                RECORD_NAMESPACE,
                &allowed
            ),
            Err(SigError::Mismatch)
        );
        assert!(matches!(
            verify(&sig, msg, "git", &allowed),
            Err(SigError::Namespace { .. })
        ));
        let other = PublicKey([7; 32]);
        assert_eq!(
            verify(&sig, msg, RECORD_NAMESPACE, &[other]),
            Err(SigError::UnknownKey)
        );
        // allowed_signers text, with a comment and a principal.
        let text = format!(
            "# rotation: old key first\nops@example.com {}\n",
            k.public().to_openssh()
        );
        assert_eq!(allowed_keys(&text).unwrap(), allowed);
    }

    #[test]
    fn an_encrypted_or_broken_key_is_refused_without_its_bytes() {
        let e = SigningKey::from_openssh(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(matches!(e, SigError::PrivateKey(_)), "{e}");
        assert!(SigningKey::from_openssh("hello").is_err());
    }
}
