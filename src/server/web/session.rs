//! Who is signed in to the web view: server-side sessions named by a random id in a signed,
//! `HttpOnly`, `SameSite=Lax` cookie; the CSRF token of each session (every form carries it);
//! the OAuth `state` of a sign-in in progress; and each session's brief cache of the
//! repositories its user can read.
//!
//! Sessions live in this process's memory: a restart signs everyone out, and several replicas
//! behind one address need sticky sessions (docs/operations.md). The user's GitHub token stays
//! here, never in a cookie, a page or a log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::config::Permission;

/// The session cookie's name.
pub const COOKIE: &str = "patchgate_session";
/// The sign-in-in-progress cookie's name (the OAuth `state`).
pub const STATE_COOKIE: &str = "patchgate_oauth_state";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long what GitHub said about a user's repositories is believed.
pub const PERMISSION_TTL: Duration = Duration::from_secs(60);

type HmacSha256 = hmac::Hmac<Sha256>;

/// One signed-in user.
#[derive(Clone)]
pub struct Session {
    pub login: String,
    /// The user's OAuth token (asks GitHub what they may read).
    pub token: String,
    pub csrf: String,
    pub expires: Instant,
    /// Repository → the user's level on it (`None`: cannot read), and when it was asked.
    pub repos: HashMap<String, (Option<Permission>, Instant)>,
}

/// The sessions of this process and the key their cookies are signed with.
pub struct Sessions {
    key: [u8; 32],
    map: Mutex<HashMap<String, Session>>,
}

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessions {
    /// Sessions signed with a fresh random key.
    pub fn new() -> Sessions {
        Sessions {
            key: rand::random(),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, value: &str) -> String {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("any key length");
        m.update(value.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// `value.signature`.
    pub fn sign(&self, value: &str) -> String {
        format!("{value}.{}", self.mac(value))
    }

    /// The value of a signed cookie, when its signature is this process's.
    pub fn unsign<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        let mut m = HmacSha256::new_from_slice(&self.key).expect("any key length");
        m.update(value.as_bytes());
        m.verify_slice(&hex::decode(sig).ok()?).ok()?;
        Some(value)
    }

    /// A new OAuth `state` (the cookie holds it signed; GitHub hands it back).
    pub fn new_state(&self) -> String {
        random_id()
    }

    /// Start a session; returns the cookie value (signed id).
    pub fn start(&self, login: String, token: String) -> String {
        let id = random_id();
        let s = Session {
            login,
            token,
            csrf: random_id(),
            expires: Instant::now() + SESSION_TTL,
            repos: HashMap::new(),
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), s);
        self.sign(&id)
    }

    /// The session a cookie names, if it is signed, known and unexpired.
    pub fn get(&self, cookie: &str) -> Option<(String, Session)> {
        let id = self.unsign(cookie)?;
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .filter(|s| s.expires > Instant::now())
            .map(|s| (id.to_string(), s.clone()))
    }

    /// Remember what GitHub said of a repository for this session.
    pub fn remember(&self, id: &str, repo: &str, level: Option<Permission>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(id) {
            s.repos.insert(repo.to_string(), (level, Instant::now()));
        }
    }

    /// Sign out.
    pub fn end(&self, cookie: &str) {
        if let Some(id) = self.unsign(cookie) {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(id);
        }
    }
}

/// Equal strings, compared in constant time (CSRF tokens, OAuth state).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/ui`, `Secure` when served over
/// HTTPS; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_signed_and_a_forged_or_foreign_one_names_no_session() {
        let s = Sessions::new();
        let c = s.start("octo".into(), "gho_x".into());
        assert_eq!(s.get(&c).unwrap().1.login, "octo");
        let (id, _) = c.rsplit_once('.').unwrap();
        assert!(s.get(&format!("{id}.00")).is_none());
        assert!(s.get(id).is_none());
        assert!(Sessions::new().get(&c).is_none(), "another key");
        s.end(&c);
        assert!(s.get(&c).is_none());
    }

    #[test]
    fn cookie_parsing_and_attributes() {
        assert_eq!(cookie("a=1; patchgate_session=x.y", COOKIE), Some("x.y"));
        assert_eq!(cookie("a=1", COOKIE), None);
        let c = set_cookie(COOKIE, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
