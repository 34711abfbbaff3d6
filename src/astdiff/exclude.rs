//! Paths that do not count in the renders' variance: scratch scripts, build copies, backups.
//!
//! Independent renders of one change bring files that are not part of the change's sources — a
//! `reproduce_bug.py` at the repository root, a `test_issue.py` next to it, a `rewrite.py.bak`.
//! Left in, one render's 40-line scratch script swamps a one-operator difference in the library
//! (or dilutes it). A [`PathFilter`] lists globs of such paths; files it matches are taken out
//! of the comparison before it runs and reported apart ([`ExcludedFile`]), never silently
//! dropped. The repository sets the list in `.github/patchgate.yml` (`diff: {exclude: [...]}`),
//! the CLI with `--exclude`; both default to [`DEFAULT_EXCLUDES`].

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::change::ChangeInput;

/// The default globs (`*` stays within one directory; `**/` is any directory, the root too).
pub const DEFAULT_EXCLUDES: &[&str] = &[
    // Scratch scripts a render writes to reproduce or check the issue, at the root.
    "reproduce*",
    "repro_*",
    "replicate*",
    "*_reproduction*",
    "bug_reproduction*",
    "test_*.py",
    "run_test*",
    "simulate*",
    // Backups and build copies, anywhere.
    "**/*.bak",
    "**/*.orig",
    "**/*.rej",
    "**/*~",
    "**/__pycache__/**",
    "**/*.pyc",
];

/// A file taken out of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExcludedFile {
    pub path: String,
    /// The first glob that matched it.
    pub pattern: String,
    /// Which sides have the file (`base`, `a`, `b`).
    pub sides: Vec<&'static str>,
    /// Whether its versions differ between the renders (what would have counted).
    pub renders_differ: bool,
}

/// A compiled list of globs.
#[derive(Debug, Clone)]
pub struct PathFilter {
    patterns: Vec<String>,
    set: GlobSet,
}

/// A glob that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob `{pattern}`: {reason}")]
pub struct GlobError {
    pub pattern: String,
    pub reason: String,
}

impl PathFilter {
    /// Compile `patterns` (matched against `/`-separated paths relative to the repository root).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PathFilter, GlobError> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.as_ref();
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| GlobError {
                    pattern: p.to_string(),
                    reason: e.kind().to_string(),
                })?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| GlobError {
            pattern: patterns
                .iter()
                .map(|p| p.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            reason: e.to_string(),
        })?;
        Ok(PathFilter {
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
            set,
        })
    }

    /// [`DEFAULT_EXCLUDES`].
    pub fn defaults() -> PathFilter {
        PathFilter::new(DEFAULT_EXCLUDES).expect("the default globs compile")
    }

    /// Matches nothing.
    pub fn none() -> PathFilter {
        PathFilter::new::<&str>(&[]).expect("an empty set compiles")
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The first pattern matching `path`, if any.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.set
            .matches(path)
            .first()
            .map(|&i| self.patterns[i].as_str())
    }

    /// Take the matching files out of `input`, returning them as reported.
    pub fn split(&self, input: &mut ChangeInput) -> Vec<ExcludedFile> {
        let mut out = Vec::new();
        input.files.retain(|f| {
            let Some(pattern) = self.matching(&f.path) else {
                return true;
            };
            let mut sides = Vec::new();
            for (name, v) in [("base", &f.base), ("a", &f.a), ("b", &f.b)] {
                if v.is_some() {
                    sides.push(name);
                }
            }
            out.push(ExcludedFile {
                path: f.path.clone(),
                pattern: pattern.to_string(),
                sides,
                renders_differ: !input.single && f.a != f.b,
            });
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::change::FileVersions;

    fn input(paths: &[&str]) -> ChangeInput {
        ChangeInput {
            has_base: true,
            single: false,
            label_base: None,
            label_a: "a".into(),
            label_b: "b".into(),
            files: paths
                .iter()
                .map(|p| FileVersions {
                    path: p.to_string(),
                    base: None,
                    a: Some(b"x = 1\n".to_vec()),
                    b: None,
                })
                .collect(),
        }
    }

    #[test]
    fn defaults_take_scratch_files_and_backups_not_sources_or_tests() {
        let f = PathFilter::defaults();
        for p in [
            "reproduce_bug.py",
            "test_bug_reproduction.py",
            "run_test.sh",
            "src/_pytest/skipping.py.bak",
            "src/pkg/__pycache__/x.cpython-311.pyc",
        ] {
            assert!(f.matching(p).is_some(), "{p} should be excluded");
        }
        for p in [
            "src/_pytest/skipping.py",
            "testing/test_skipping.py",
            "src/reproduce/mod.rs",
            "doc/en/how-to/skipping.rst",
        ] {
            assert_eq!(f.matching(p), None, "{p} should count");
        }
    }

    #[test]
    fn split_reports_what_it_takes_out() {
        let mut i = input(&["reproduce_bug.py", "src/lib.py"]);
        let out = PathFilter::defaults().split(&mut i);
        assert_eq!(i.files.len(), 1);
        assert_eq!(i.files[0].path, "src/lib.py");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "reproduce_bug.py");
        assert_eq!(out[0].pattern, "reproduce*");
        assert_eq!(out[0].sides, vec!["a"]);
        assert!(out[0].renders_differ);
    }

    #[test]
    fn a_bad_glob_is_an_error_naming_it() {
        let err = PathFilter::new(&["src/[oops"]).unwrap_err();
        assert_eq!(err.pattern, "src/[oops");
    }
}
