//! Files tree-sitter cannot parse cleanly are still compared as trees: the ERROR regions are
//! compared by their normalised tokens, the rest as syntax (`fixtures/errortol/`: real
//! clang-format, shfmt and prettier output of code that trips the grammars).

use std::path::Path;

use patchgate::astdiff::change::{ChangeInput, FileVersions};
use patchgate::astdiff::diff::Agreement;
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::{diff_change, DiffOptions, DiffReport};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/errortol")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run(path: &str, base: Option<&str>, a: &str, b: &str) -> DiffReport {
    let input = ChangeInput {
        has_base: base.is_some(),
        single: false,
        label_base: base.map(|_| "base".into()),
        label_a: "a".into(),
        label_b: "b".into(),
        files: vec![FileVersions {
            path: path.into(),
            base: base.map(|s| s.as_bytes().to_vec()),
            a: Some(a.as_bytes().to_vec()),
            b: Some(b.as_bytes().to_vec()),
        }],
    };
    diff_change(
        &input,
        &Registry::embedded().expect("registry"),
        &DiffOptions::default(),
    )
}

fn describe(r: &DiffReport) -> String {
    let f = &r.files[0];
    format!(
        "variance {:?}, fallback {:?}, regions {:?}\nedits {:#?}",
        r.variance_percent, f.fallback, f.error_regions, f.edits
    )
}

/// (stem, extension, whether the original has regions tree-sitter cannot parse)
/// (`for arg do` in `args.sh` and `loops.sh` — at the top level and in functions of both styles
/// — is turned by a repair from the registry into the `for arg; do` shfmt writes, so neither
/// file has an ERROR region left; `${word:$index:1}` costs tree-sitter-bash only a MISSING `}`.)
const CASES: [(&str, &str, bool); 6] = [
    ("adler", "c", true),
    ("ssl_label", "cc", true),
    ("args", "sh", false),
    ("channel", "ts", true),
    ("swap", "js", false),
    ("loops", "sh", false),
];

#[test]
fn formatter_rewrites_of_files_with_error_regions_agree_as_trees() {
    for (stem, ext, has_errors) in CASES {
        let orig = fixture(&format!("orig/{stem}.{ext}"));
        let a = fixture(&format!("{stem}.a.{ext}"));
        let b = fixture(&format!("{stem}.b.{ext}"));
        for (l, r, what) in [
            (&orig, &a, "orig/A"),
            (&orig, &b, "orig/B"),
            (&a, &b, "A/B"),
        ] {
            let rep = run(&format!("{stem}.{ext}"), None, l, r);
            let f = &rep.files[0];
            assert_eq!(f.fallback, None, "{stem}.{ext} {what}: {}", describe(&rep));
            assert_eq!(
                rep.verdict,
                Agreement::Agreed,
                "{stem}.{ext} {what}: {}",
                describe(&rep)
            );
            assert!(
                rep.variance_percent.unwrap() < 1.0,
                "{stem}.{ext} {what}: {}",
                describe(&rep)
            );
        }
        let rep = run(&format!("{stem}.{ext}"), None, &orig, &b);
        assert_eq!(
            !rep.files[0].error_regions.is_empty(),
            has_errors,
            "{stem}.{ext}: error regions reported: {}",
            describe(&rep)
        );
        // With the original as the base, both rewrites change nothing.
        let rep = run(&format!("{stem}.{ext}"), Some(&orig), &a, &b);
        assert_eq!(
            rep.verdict,
            Agreement::Agreed,
            "{stem}.{ext}: {}",
            describe(&rep)
        );
    }
}

#[test]
fn a_real_change_in_such_a_file_escalates_and_is_named() {
    for (stem, ext, _) in CASES {
        let orig = fixture(&format!("orig/{stem}.{ext}"));
        let a = fixture(&format!("{stem}.a.{ext}"));
        for variant in ["logic", "region"] {
            let name = format!("{stem}.{variant}.{ext}");
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/errortol")
                .join(&name);
            if !p.exists() {
                continue;
            }
            let changed = fixture(&name);
            let rep = run(&format!("{stem}.{ext}"), Some(&orig), &a, &changed);
            assert_eq!(rep.files[0].fallback, None, "{name}: {}", describe(&rep));
            assert_eq!(
                rep.verdict,
                Agreement::Escalate,
                "{name}: {}",
                describe(&rep)
            );
            assert!(!rep.differences.is_empty(), "{name}: nothing named");
            // Without a base too, the change is seen (not hidden by the file around it).
            let rep = run(&format!("{stem}.{ext}"), None, &a, &changed);
            assert!(rep.files[0].differing > 0, "{name}: {}", describe(&rep));
        }
    }
}

#[test]
fn a_file_that_is_mostly_errors_still_falls_back_with_the_reason() {
    let junk = "}}} ((( int int ;; ]] [[ ) ) )\n@@@ ### $$$\n";
    let rep = run("x.c", None, junk, "int main(void) { return 0; }\n");
    let why = rep.files[0].fallback.as_deref().expect("fell back");
    assert!(why.contains("render A"), "{why}");
}
