//! Tests of the normalised syntax tree.

use super::*;
use crate::astdiff::registry::Registry;

fn tree<'s>(reg: &'s Registry, lang: &str, src: &'s str) -> SyntaxTree<'s> {
    SyntaxTree::parse(
        reg.by_name(lang).unwrap(),
        src,
        &Limits::default(),
        TreeOptions::default(),
    )
    .unwrap()
}

#[test]
fn postorder_layout_and_ranges() {
    let reg = Registry::embedded().unwrap();
    let t = tree(&reg, "rust", "fn main() { let x = 1 + 2; }");
    let root = t.root();
    assert_eq!(t.node(root).size as usize, t.len());
    for id in 0..t.len() as u32 {
        let n = t.node(id);
        if n.parent != NONE {
            assert!(n.parent > id, "parent after child in post-order");
            assert!(t.contains(n.parent, id));
        }
    }
}

#[test]
fn formatting_comments_and_quotes_do_not_change_the_hash() {
    let reg = Registry::embedded().unwrap();
    let a = tree(
        &reg,
        "python",
        "import os\nimport sys\ndef f(a, b):\n    return (a + 'x')\n",
    );
    let b = tree(
        &reg,
        "python",
        "import sys\nimport os\n# hi\ndef f(\n    a,\n    b,\n):\n    return a + \"x\"  # trailing\n",
    );
    assert_eq!(a.node(a.root()).hash, b.node(b.root()).hash);
}

#[test]
fn a_real_difference_changes_the_hash_but_not_the_shape_for_a_rename() {
    let reg = Registry::embedded().unwrap();
    let a = tree(&reg, "rust", "fn f() { let count = 0; }");
    let b = tree(&reg, "rust", "fn f() { let total = 0; }");
    assert_ne!(a.node(a.root()).hash, b.node(b.root()).hash);
    assert_eq!(a.node(a.root()).shape, b.node(b.root()).shape);
}

#[test]
fn entities_are_named() {
    let reg = Registry::embedded().unwrap();
    let t = tree(
        &reg,
        "rust",
        "impl Foo { fn parse_config(&self) -> u8 { 1 } }",
    );
    let names: Vec<String> = t.entities.iter().map(|e| e.display()).collect();
    assert!(names.contains(&"fn parse_config".to_string()), "{names:?}");
    assert!(names.contains(&"impl Foo".to_string()), "{names:?}");
    let f = t
        .entities
        .iter()
        .find(|e| e.name == "parse_config")
        .unwrap();
    assert_eq!(t.entities[f.parent as usize].name, "Foo");
}

#[test]
fn syntax_errors_are_reported_with_a_line() {
    let reg = Registry::embedded().unwrap();
    let err = SyntaxTree::parse(
        reg.by_name("rust").unwrap(),
        "fn ok() {}\nfn broken( {\n",
        &Limits::default(),
        TreeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TreeError::Syntax { line: 2 }), "{err:?}");
}

#[test]
fn node_limit_is_enforced() {
    let reg = Registry::embedded().unwrap();
    let src = "fn f() { 1; 2; 3; 4; 5; 6; 7; 8; }";
    let err = SyntaxTree::parse(
        reg.by_name("rust").unwrap(),
        src,
        &Limits {
            max_nodes: 5,
            ..Limits::default()
        },
        TreeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TreeError::TooManyNodes { .. }));
}

#[test]
fn an_incremental_parse_equals_a_fresh_one() {
    let reg = Registry::embedded().unwrap();
    let lang = reg.by_name("python").unwrap();
    let old = "import os\n\ndef f(a):\n    return a + 1\n\nx = f(2)\n";
    let new = "import os\n\ndef f(a, b=3):\n    total = a + b\n    return total\n\nx = f(2)\n";
    let limits = Limits::default();
    let old_tree = parse_ts(lang, old, None, &limits).unwrap();
    let inc = parse_ts(lang, new, Some((&old_tree, old)), &limits).unwrap();
    let fresh = parse_ts(lang, new, None, &limits).unwrap();
    assert_eq!(inc.root_node().to_sexp(), fresh.root_node().to_sexp());
    let a = SyntaxTree::from_ts(lang, new, &inc, &limits, TreeOptions::default()).unwrap();
    let b = SyntaxTree::from_ts(lang, new, &fresh, &limits, TreeOptions::default()).unwrap();
    assert_eq!(a.node(a.root()).hash, b.node(b.root()).hash);
    assert_eq!(a.len(), b.len());
}

#[test]
fn byte_limit_is_enforced_before_parsing() {
    let reg = Registry::embedded().unwrap();
    let err = SyntaxTree::parse(
        reg.by_name("rust").unwrap(),
        "fn f() {}",
        &Limits {
            max_bytes: 4,
            ..Limits::default()
        },
        TreeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err, TreeError::TooLarge { bytes: 9, limit: 4 });
}

#[test]
fn string_content_strips_quotes_and_keeps_prefixes() {
    let c = |t: &str| {
        let (p, b) = string_content(t);
        (p, b.into_owned())
    };
    assert_eq!(c("'it\\'s'"), ("".into(), "it's".into()));
    assert_eq!(c("\"it's\""), ("".into(), "it's".into()));
    assert_eq!(c("r#\"raw\"#"), ("r".into(), "raw".into()));
    assert_eq!(c("B'x'"), ("b".into(), "x".into()));
    assert_eq!(c("\"\"\"doc\"\"\""), ("".into(), "doc".into()));
    assert_eq!(c("`tpl`"), ("".into(), "tpl".into()));
    assert_eq!(c("plain scalar"), ("".into(), "plain scalar".into()));
}

#[test]
fn a_time_limit_too_large_for_the_clock_is_a_distant_guard_not_a_panic() {
    // Found by the `astdiff` fuzz target's review: `--time-limit-ms 18446744073709551615`
    // overflowed `Instant + Duration`.
    let now = std::time::Instant::now();
    let huge = Limits {
        time_limit_ms: u64::MAX,
        ..Limits::default()
    };
    assert!(huge.deadline_from(now) > now + std::time::Duration::from_secs(86_400 * 365 * 100));
    let normal = Limits::default();
    assert_eq!(
        normal.deadline_from(now),
        now + std::time::Duration::from_millis(normal.time_limit_ms)
    );
}
