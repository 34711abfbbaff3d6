//! The exclude globs that need no regex: literals, `*`, `?`, a leading `**/`, a trailing `/**`.
//!
//! Compiling a [`globset::GlobSet`] builds regexes, which cost a `patchgate diff` process a
//! noticeable part of its start-up (issue #21) for globs as plain as the defaults
//! (`reproduce*`, `**/*.bak`). [`SimpleGlob::parse`] takes such a glob and matches it directly,
//! with exactly the meaning globset gives it under `literal_separator(true)` (the options of
//! [`super::exclude::PathFilter`]); any other glob (`[...]`, `{a,b}`, `\`, `**` elsewhere) is
//! left to globset. globset matches bytes: `?` is one byte other than `/`, `*` any run of them,
//! a leading `**/` any prefix ending in `/` (or none), a trailing `/**` a `/` and anything.

/// A glob [`SimpleGlob::parse`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimpleGlob {
    /// A leading `**/`: the body may match after any `/` of the path, not only at its start.
    any_dir: bool,
    /// The glob between the `**/` and the `/**`: literal bytes, `*` and `?`.
    body: Vec<u8>,
    /// How many `/` the body holds: the part of a path it matches holds as many.
    body_slashes: usize,
    /// A trailing `/**`: the body's match is followed by `/` and anything.
    under: bool,
}

impl SimpleGlob {
    /// `glob` as a direct matcher, or `None` when globset must handle it.
    pub(crate) fn parse(glob: &str) -> Option<SimpleGlob> {
        // A bare `**` or `**/` matches everything in globset (a special case): left to it.
        if glob == "**/" {
            return None;
        }
        let (any_dir, rest) = match glob.strip_prefix("**/") {
            Some(rest) => (true, rest),
            None => (false, glob),
        };
        let (under, body) = match rest.strip_suffix("/**") {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let plain = |c: char| !matches!(c, '[' | ']' | '{' | '}' | ',' | '\\');
        if body.contains("**") || !body.chars().all(plain) {
            return None;
        }
        Some(SimpleGlob {
            any_dir,
            body: body.as_bytes().to_vec(),
            body_slashes: body.bytes().filter(|&b| b == b'/').count(),
            under,
        })
    }

    pub(crate) fn is_match(&self, path: &str) -> bool {
        let path = path.as_bytes();
        if self.matches_from(path) {
            return true;
        }
        // `**/`: the body may also start right after any `/`.
        self.any_dir
            && path
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'/' && self.matches_from(&path[i + 1..]))
    }

    /// Whether the glob without its `**/` matches `text` from its start.
    fn matches_from(&self, text: &[u8]) -> bool {
        if !self.under {
            return body_matches(&self.body, text);
        }
        // `/**`: the body's match holds `body_slashes` slashes, so it ends at the next one.
        match text
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .nth(self.body_slashes)
        {
            Some((end, _)) => body_matches(&self.body, &text[..end]),
            None => false,
        }
    }
}

/// Whether `glob` (literal bytes, `*`, `?`) matches all of `text`. Neither wildcard matches
/// `/`, so the `/`-separated components match one for one.
fn body_matches(glob: &[u8], text: &[u8]) -> bool {
    let mut globs = glob.split(|&b| b == b'/');
    let mut texts = text.split(|&b| b == b'/');
    loop {
        match (globs.next(), texts.next()) {
            (None, None) => return true,
            (Some(g), Some(t)) if component_matches(g, t) => {}
            _ => return false,
        }
    }
}

/// Wildcard matching within one component (no `/` on either side): the classic linear
/// algorithm, which on a mismatch lets the last `*` take one more byte.
fn component_matches(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::exclude::DEFAULT_EXCLUDES;
    use globset::{GlobBuilder, GlobSetBuilder};
    use proptest::prelude::*;

    /// globset's answer, with the options of `PathFilter`.
    fn globset_matches(glob: &str, path: &str) -> bool {
        GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .expect("a simple glob compiles")
            .compile_matcher()
            .is_match(path)
    }

    fn parse(glob: &str) -> SimpleGlob {
        SimpleGlob::parse(glob).unwrap_or_else(|| panic!("{glob} is simple"))
    }

    #[test]
    fn the_defaults_are_all_simple_and_match_as_globset_does() {
        let paths = [
            "reproduce_bug.py",
            "reproduce",
            "src/reproduce_bug.py",
            "repro_1.sh",
            "replicate_issue.py",
            "bug_reproduction.py",
            "my_reproduction_test.py",
            "test_bug.py",
            "test_bug.pyc",
            "tests/test_bug.py",
            "run_tests.sh",
            "simulate.py",
            "a.bak",
            "src/deep/x.py.bak",
            ".bak",
            "x.orig",
            "x.rej",
            "notes~",
            "src/notes~",
            "__pycache__/x.pyc",
            "src/pkg/__pycache__/x.cpython-311.pyc",
            "src/pkg/__pycache__/sub/deeper",
            "src/pkg/__pycache__",
            "__pycache__",
            "src/_pytest/skipping.py",
            "testing/test_skipping.py",
            "src/reproduce/mod.rs",
            "doc/en/how-to/skipping.rst",
            "",
            "/",
            "/a.bak",
        ];
        for glob in DEFAULT_EXCLUDES {
            let g = parse(glob);
            for path in paths {
                assert_eq!(
                    g.is_match(path),
                    globset_matches(glob, path),
                    "{glob} on {path:?}"
                );
            }
        }
    }

    #[test]
    fn what_globset_must_handle() {
        for glob in [
            "**", "**/", "**/**", "a/**/b", "a**", "**a", "x/**b", "[ab]", "a]", "{a,b}", "a,b",
            "}", "a\\*",
        ] {
            assert_eq!(SimpleGlob::parse(glob), None, "{glob}");
        }
        for glob in [
            "", "*", "?", "**/*", "/**", "**//**", "a/**", "**/a/**", "*/*?.x",
        ] {
            assert!(SimpleGlob::parse(glob).is_some(), "{glob}");
        }
    }

    #[test]
    fn wildcards_stay_within_a_component_and_count_bytes() {
        assert!(parse("*.py").is_match("a.py"));
        assert!(!parse("*.py").is_match("src/a.py"));
        assert!(parse("**/*.py").is_match("src/a.py"));
        assert!(parse("src/**").is_match("src/a/b"));
        assert!(!parse("src/**").is_match("src"));
        assert!(parse("??").is_match("é"));
        assert!(!parse("?").is_match("é"));
    }

    /// Globs from the simple alphabet, with `**/` and `/**` at either end at times.
    fn arb_glob() -> impl Strategy<Value = String> {
        let body = prop::collection::vec(
            prop::sample::select(vec!["a", "b", ".", "/", "*", "?", "é", "-", "\n"]),
            0..8,
        )
        .prop_map(|parts| parts.concat());
        (any::<bool>(), body, any::<bool>()).prop_map(|(pre, body, post)| {
            format!(
                "{}{body}{}",
                if pre { "**/" } else { "" },
                if post { "/**" } else { "" }
            )
        })
    }

    fn arb_path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", ".", "/", "é", "-", "\n", "ab/", "a.b"]),
            0..10,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every glob the direct matcher accepts means what it means to globset.
        #[test]
        fn the_direct_matcher_is_globset(glob in arb_glob(), paths in prop::collection::vec(arb_path(), 1..8)) {
            let Some(simple) = SimpleGlob::parse(&glob) else {
                return Ok(());
            };
            for path in &paths {
                prop_assert_eq!(simple.is_match(path), globset_matches(&glob, path), "{:?} on {:?}", glob, path);
            }
        }

        /// The first of several globs that matches is the one globset's set reports first.
        #[test]
        fn the_first_match_is_globsets(globs in prop::collection::vec(arb_glob(), 1..5), path in arb_path()) {
            let simple: Option<Vec<SimpleGlob>> = globs.iter().map(|g| SimpleGlob::parse(g)).collect();
            let Some(simple) = simple else {
                return Ok(());
            };
            let mut b = GlobSetBuilder::new();
            for g in &globs {
                b.add(GlobBuilder::new(g).literal_separator(true).build().unwrap());
            }
            let set = b.build().unwrap();
            let ours = simple.iter().position(|g| g.is_match(&path));
            prop_assert_eq!(ours, set.matches(&path).first().copied(), "{:?} on {:?}", globs, path);
        }
    }
}
