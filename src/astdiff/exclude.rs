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
use super::simple_glob::SimpleGlob;

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
///
/// The plain ones (literals, `*`, `?`, a leading `**/`, a trailing `/**`: all the defaults) are
/// matched directly, the others by a [`GlobSet`] compiled only when there are any — building
/// its regexes cost every `patchgate diff` process a part of its start-up (issue #21). Both
/// mean the same (`simple_glob`'s property test against globset).
#[derive(Debug, Clone)]
pub struct PathFilter {
    patterns: Vec<String>,
    /// The plain globs, each with its index in `patterns`.
    simple: Vec<(usize, SimpleGlob)>,
    /// The other globs, and the index in `patterns` of each of the set's globs.
    set: Option<(GlobSet, Vec<usize>)>,
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
        let mut simple = Vec::new();
        let mut b = GlobSetBuilder::new();
        let mut in_set = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let p = p.as_ref();
            if let Some(glob) = SimpleGlob::parse(p) {
                simple.push((i, glob));
                continue;
            }
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| GlobError {
                    pattern: p.to_string(),
                    reason: e.kind().to_string(),
                })?;
            b.add(glob);
            in_set.push(i);
        }
        let set = if in_set.is_empty() {
            None
        } else {
            let set = b.build().map_err(|e| GlobError {
                pattern: patterns
                    .iter()
                    .map(|p| p.as_ref())
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: e.to_string(),
            })?;
            Some((set, in_set))
        };
        Ok(PathFilter {
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
            simple,
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
        let simple = self
            .simple
            .iter()
            .find(|(_, g)| g.is_match(path))
            .map(|&(i, _)| i);
        let in_set = self
            .set
            .as_ref()
            .and_then(|(set, index)| set.matches(path).first().map(|&j| index[j]));
        let first = match (simple, in_set) {
            (Some(s), Some(t)) => s.min(t),
            (s, t) => s.or(t)?,
        };
        Some(self.patterns[first].as_str())
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
    use proptest::prelude::*;

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
        // After a plain glob, which is not given to globset, too.
        let err = PathFilter::new(&["*.bak", "a}"]).unwrap_err();
        assert_eq!(err.pattern, "a}");
    }

    #[test]
    fn the_first_matching_glob_is_reported_whichever_matcher_has_it() {
        let f = PathFilter::new(&["src/{a,b}.py", "**/*.py", "src/[ab].py"]).unwrap();
        assert_eq!(f.matching("src/a.py"), Some("src/{a,b}.py"));
        assert_eq!(f.matching("src/c.py"), Some("**/*.py"));
        let f = PathFilter::new(&["**/*.py", "src/{a,b}.py"]).unwrap();
        assert_eq!(f.matching("src/a.py"), Some("**/*.py"));
        let f = PathFilter::new(&["x", "src/{a,b}.py", "src/[ab].py"]).unwrap();
        assert_eq!(f.matching("src/b.py"), Some("src/{a,b}.py"));
        assert_eq!(f.matching("x"), Some("x"));
        assert_eq!(f.matching("y"), None);
        assert_eq!(PathFilter::none().matching("x"), None);
    }

    /// Globs plain and not (classes, alternations, escapes, `**` within), some of them bad.
    fn arb_globs() -> impl Strategy<Value = Vec<String>> {
        let glob = prop::collection::vec(
            prop::sample::select(vec![
                "a", "b", ".", "/", "*", "?", "**/", "/**", "[ab]", "{a,b}", "\\*", ",", "}", "[",
            ]),
            0..5,
        )
        .prop_map(|parts| parts.concat());
        prop::collection::vec(glob, 0..5)
    }

    fn arb_path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", ".", "/", "*", ",", "ab/", "a.b"]),
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// `PathFilter` reports what one globset over all its globs reports first, and refuses
        /// the lists globset refuses, naming the same glob.
        #[test]
        fn a_filter_is_one_globset(globs in arb_globs(), paths in prop::collection::vec(arb_path(), 1..6)) {
            let mut b = GlobSetBuilder::new();
            let mut bad = None;
            for g in &globs {
                match GlobBuilder::new(g).literal_separator(true).build() {
                    Ok(glob) => { b.add(glob); }
                    Err(e) => { bad = Some((g.clone(), e.kind().to_string())); break; }
                }
            }
            let filter = PathFilter::new(&globs);
            if let Some((pattern, reason)) = bad {
                prop_assert_eq!(filter.unwrap_err(), GlobError { pattern, reason });
                return Ok(());
            }
            let (filter, set) = (filter.unwrap(), b.build().unwrap());
            for path in &paths {
                let theirs = set.matches(path).first().map(|&i| globs[i].as_str());
                prop_assert_eq!(filter.matching(path), theirs, "{:?} on {:?}", globs, path);
            }
        }
    }
}
