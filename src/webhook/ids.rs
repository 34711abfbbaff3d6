//! The identifiers a webhook carries, each checked once where it is parsed: a repository's
//! `owner/name` ([`RepoName`]), a pull request's number ([`PrNumber`]) and a commit id
//! ([`CommitSha`]). Their `Deserialize` errors say what was expected, never the value given.

use std::fmt;

use anyhow::bail;
use serde::de::{Deserializer, Error as _, Unexpected};
use serde::{Deserialize, Serialize};

/// A repository, `owner/name`. Both parts are limited to `[A-Za-z0-9._-]` (and are neither `.`
/// nor `..`), so a `RepoName` is safe in a URL path and in a file path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    /// A checked `RepoName`.
    pub fn new(owner: &str, name: &str) -> anyhow::Result<Self> {
        let repo = RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        };
        repo.validate()?;
        Ok(repo)
    }

    /// Parse `owner/name`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().split_once('/') {
            Some((owner, name)) => RepoName::new(owner, name),
            None => bail!("repository {s:?} is not of the form owner/name"),
        }
    }

    /// Refuse parts outside `[A-Za-z0-9._-]`, empty parts, `.` and `..` (the fields are public,
    /// so whoever turns a `RepoName` into a path checks again).
    pub fn validate(&self) -> anyhow::Result<()> {
        for (what, part) in [("owner", &self.owner), ("name", &self.name)] {
            let ok = !part.is_empty()
                && part != "."
                && part != ".."
                && part.len() <= 100
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                bail!(
                    "invalid repository {what} {part:?}: \
                     only letters, digits, '.', '_' and '-' are allowed"
                );
            }
        }
        Ok(())
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        RepoName::parse(s)
    }
}

impl TryFrom<String> for RepoName {
    type Error = anyhow::Error;
    fn try_from(s: String) -> anyhow::Result<Self> {
        RepoName::parse(&s)
    }
}

impl From<RepoName> for String {
    fn from(r: RepoName) -> String {
        r.to_string()
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RepoName::parse(&s).map_err(|_| {
            D::Error::invalid_value(
                Unexpected::Str(&s),
                &"owner/name of letters, digits, '.', '_' and '-'",
            )
        })
    }
}

/// A pull request's (or issue's) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

impl PrNumber {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CommitSha(String);

/// What a [`CommitSha`] must look like (also the text of its parse error).
pub const COMMIT_SHA_EXPECTED: &str = "a commit id of 40 or 64 hexadecimal digits";

impl CommitSha {
    /// `s` if it is a full commit id; `None` otherwise.
    pub fn parse(s: &str) -> Option<CommitSha> {
        let ok = matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| CommitSha(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CommitSha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for CommitSha {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CommitSha::parse(&s)
            .ok_or_else(|| D::Error::invalid_value(Unexpected::Str(&s), &COMMIT_SHA_EXPECTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ref_parses_and_refuses_bad_names() {
        let r = RepoName::parse("octo-org/hello.world_1").unwrap();
        assert_eq!(
            (r.owner.as_str(), r.name.as_str()),
            ("octo-org", "hello.world_1")
        );
        assert_eq!(r.to_string(), "octo-org/hello.world_1");
        assert_eq!(RepoName::parse(".github/.github").unwrap().name, ".github");
        for bad in [
            "o", "o/", "/n", "o/n/x", "../n", "o/..", "o/.", "o n/r", "o/r%2F", "ö/r",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad} accepted");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"octo-org/hello.world_1\"");
        assert_eq!(serde_json::from_str::<RepoName>(&json).unwrap(), r);
        assert!(serde_json::from_str::<RepoName>("\"a/../b\"").is_err());
    }

    #[test]
    fn a_commit_sha_is_a_full_hexadecimal_id() {
        let sha1 = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
        assert_eq!(CommitSha::parse(sha1).unwrap().as_str(), sha1);
        assert!(CommitSha::parse(&"a".repeat(64)).is_some());
        for bad in ["", "ec26c3e", &"g".repeat(40), &"a".repeat(41)] {
            assert!(CommitSha::parse(bad).is_none(), "{bad}");
        }
        let e = serde_json::from_str::<CommitSha>("\"not-a-sha\"").unwrap_err();
        assert!(e.to_string().contains(COMMIT_SHA_EXPECTED), "{e}");
        assert_eq!(
            serde_json::from_str::<PrNumber>("17").unwrap(),
            PrNumber(17)
        );
        assert_eq!(PrNumber(17).to_string(), "17");
    }
}
