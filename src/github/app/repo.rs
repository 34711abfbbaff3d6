//! A repository's name, `owner/name`, checked once so it is safe in a URL path and a file
//! path.

use std::fmt;

use anyhow::bail;
use serde::Deserialize;

/// A repository, `owner/name`. Both parts are limited to `[A-Za-z0-9._-]` (and are neither `.`
/// nor `..`), so a `RepoRef` is safe in a URL path and in a file path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// A checked `RepoRef`.
    pub fn new(owner: &str, name: &str) -> anyhow::Result<Self> {
        let repo = RepoRef {
            owner: owner.to_string(),
            name: name.to_string(),
        };
        repo.validate()?;
        Ok(repo)
    }

    /// Parse `owner/name`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().split_once('/') {
            Some((owner, name)) => RepoRef::new(owner, name),
            None => bail!("repository {s:?} is not of the form owner/name"),
        }
    }

    /// Refuse parts outside `[A-Za-z0-9._-]`, empty parts, `.` and `..` (the fields are public,
    /// so whoever turns a `RepoRef` into a path checks again).
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

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoRef {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        RepoRef::parse(s)
    }
}

impl TryFrom<String> for RepoRef {
    type Error = anyhow::Error;
    fn try_from(s: String) -> anyhow::Result<Self> {
        RepoRef::parse(&s)
    }
}

impl From<RepoRef> for String {
    fn from(r: RepoRef) -> String {
        r.to_string()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ref_parses_and_refuses_bad_names() {
        let r = RepoRef::parse("octo-org/hello.world_1").unwrap();
        assert_eq!(
            (r.owner.as_str(), r.name.as_str()),
            ("octo-org", "hello.world_1")
        );
        assert_eq!(r.to_string(), "octo-org/hello.world_1");
        assert_eq!(RepoRef::parse(".github/.github").unwrap().name, ".github");
        for bad in [
            "o", "o/", "/n", "o/n/x", "../n", "o/..", "o/.", "o n/r", "o/r%2F", "ö/r",
        ] {
            assert!(RepoRef::parse(bad).is_err(), "{bad} accepted");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"octo-org/hello.world_1\"");
        assert_eq!(serde_json::from_str::<RepoRef>(&json).unwrap(), r);
        assert!(serde_json::from_str::<RepoRef>("\"a/../b\"").is_err());
    }
}
