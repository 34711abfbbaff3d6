//! The AST diff's promises, as a user of `patchgate diff` would state them.

use patchgate::astdiff::change::{ChangeInput, FileVersions};
use patchgate::astdiff::diff::{FileStatus, Mode, Unit};
use patchgate::astdiff::measure::{ChangeClass, EditOp};
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{diff_change, Agreement, DiffOptions, DiffReport};
use proptest::prelude::*;

fn reg() -> Registry {
    Registry::embedded().expect("embedded registry loads")
}

fn file(path: &str, base: Option<&str>, a: Option<&str>, b: Option<&str>) -> FileVersions {
    FileVersions {
        path: path.into(),
        base: base.map(|s| s.as_bytes().to_vec()),
        a: a.map(|s| s.as_bytes().to_vec()),
        b: b.map(|s| s.as_bytes().to_vec()),
    }
}

fn dual(files: Vec<FileVersions>, has_base: bool) -> ChangeInput {
    ChangeInput {
        has_base,
        single: false,
        label_base: has_base.then(|| "base".into()),
        label_a: "a".into(),
        label_b: "b".into(),
        files,
    }
}

fn run(input: &ChangeInput) -> DiffReport {
    diff_change(input, &reg(), &DiffOptions::default())
}

fn two(path: &str, base: Option<&str>, a: &str, b: &str) -> DiffReport {
    run(&dual(
        vec![file(path, base, Some(a), Some(b))],
        base.is_some(),
    ))
}

fn variance(r: &DiffReport) -> f64 {
    r.variance_percent.expect("dual mode has a variance")
}

/// A 5,000-line Rust file of small distinct functions.
fn big_file() -> String {
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&format!(
            "fn helper_{i}(x: u64) -> u64 {{\n    let y = x * {i} + 7;\n    y ^ (y >> 3)\n}}\n\n"
        ));
    }
    s
}

/// A 40-line function; `op` is the one expression that differs between the renders.
fn forty_line_fn(op: &str) -> String {
    let mut s = String::from("pub fn parse_config(input: &str) -> Result<Config, Error> {\n");
    s.push_str("    let mut cfg = Config::default();\n");
    for i in 0..36 {
        if i == 17 {
            s.push_str(&format!("    cfg.retries = cfg.retries {op} 1;\n"));
        } else {
            s.push_str(&format!(
                "    cfg.field_{i} = input.lines().nth({i}).map(|l| l.trim().len()).unwrap_or({i});\n"
            ));
        }
    }
    s.push_str("    Ok(cfg)\n}\n");
    s
}

#[test]
fn identical_changes_give_zero() {
    let base = "fn a() -> u8 { 1 }\n";
    let head = "fn a() -> u8 { 1 }\nfn b() -> u8 { 2 }\n";
    let r = two("x.rs", Some(base), head, head);
    assert_eq!(variance(&r), 0.0);
    assert_eq!(r.verdict, Agreement::Agreed);
}

#[test]
fn unrelated_changes_give_one_hundred() {
    let base = "fn a() -> u8 { 1 }\n";
    let a = "fn a() -> u8 { 1 }\nfn added_by_a(x: u8) -> u8 { x * 2 + 1 }\n";
    let b = "fn a() -> u8 { 1 }\nstruct AddedByB { name: String, size: usize }\n";
    let r = two("x.rs", Some(base), a, b);
    assert_eq!(variance(&r), 100.0);
    assert_eq!(r.verdict, Agreement::Escalate);
}

#[test]
fn the_file_around_a_change_does_not_dilute_it() {
    let big = big_file();
    assert!(big.lines().count() >= 5000);
    let (fa, fb) = (forty_line_fn("+"), forty_line_fn("-"));
    assert_eq!(fa.lines().count(), 40);
    let with = |f: &str| format!("{}{}", &big[..big.len() / 2], f) + &big[big.len() / 2..];
    let in_file = two("big.rs", Some(&big), &with(&fa), &with(&fb));
    let alone = two("f.rs", None, &fa, &fb);
    let (vf, va) = (variance(&in_file), variance(&alone));
    assert!(va > 0.0, "the functions differ");
    assert!(
        (vf - va).abs() <= 0.15 * va,
        "in the file {vf}% vs on their own {va}%"
    );
    // And without the base, the whole file does dilute it: that is what the base is for.
    let no_base = two("big.rs", None, &with(&fa), &with(&fb));
    assert!(variance(&no_base) < va / 10.0);
}

#[test]
fn without_a_base_whole_files_are_compared() {
    let a = "fn f(x: u8) -> u8 { x + 1 }\n";
    let b = "fn f(x: u8) -> u8 { x + 2 }\n";
    let r = two("x.rs", None, a, b);
    let f = &r.files[0];
    assert_eq!(f.changed, f.size.a.unwrap() + f.size.b.unwrap());
    // 100 − 2·matched/(nA+nB): one updated leaf of each side differs.
    let expected = 100.0 * 2.0 / f.changed as f64;
    assert!(
        (variance(&r) - expected).abs() < 0.01,
        "{} vs {expected}",
        variance(&r)
    );
}

#[test]
fn comment_only_changes_give_zero() {
    let a = "// parse the thing\nfn f(x: u8) -> u8 {\n    x + 1 // add one\n}\n";
    let b = "/* Parse it. */\nfn f(x: u8) -> u8 {\n    // increment\n    x + 1\n}\n";
    assert_eq!(variance(&two("x.rs", None, a, b)), 0.0);
    let py_a = "def f(x):\n    # add one\n    return x + 1\n";
    let py_b = "def f(x):\n    return x + 1  # one more\n";
    assert_eq!(variance(&two("x.py", None, py_a, py_b)), 0.0);
}

#[test]
fn comments_count_when_asked() {
    let a = "// one\nfn f() {}\n";
    let b = "// two\nfn f() {}\n";
    let opts = DiffOptions {
        count_comments: true,
        ..DiffOptions::default()
    };
    let r = diff_change(
        &dual(vec![file("x.rs", None, Some(a), Some(b))], false),
        &reg(),
        &opts,
    );
    assert!(variance(&r) > 0.0);
}

#[test]
fn a_consistent_rename_is_small_and_shown_as_updates() {
    let a = "fn total(xs: &[u32]) -> u32 {\n    let mut count = 0;\n    for x in xs {\n        count += x;\n    }\n    count\n}\n";
    let b = a.replace("count", "sum");
    let r = two("x.rs", None, a, &b);
    let f = &r.files[0];
    let updates: Vec<_> = f.edits.iter().filter(|e| e.op == EditOp::Update).collect();
    assert_eq!(updates.len(), 3, "{:?}", f.edits);
    assert!(f.edits.iter().all(|e| e.op == EditOp::Update));
    assert_eq!(updates[0].from.as_deref(), Some("count"));
    assert_eq!(updates[0].to.as_deref(), Some("sum"));
    assert_eq!(updates[0].entity.as_deref(), Some("fn total"));
    assert!(variance(&r) < 20.0, "{}", variance(&r));
}

#[test]
fn a_moved_function_is_a_move() {
    let f1 = "fn first(a: u32) -> u32 {\n    let b = a * 3;\n    b + 1\n}\n";
    let f2 = "fn second(s: &str) -> usize {\n    s.trim().len()\n}\n";
    let f3 = "fn third() -> Vec<u8> {\n    vec![1, 2, 3]\n}\n";
    let a = format!("{f1}\n{f2}\n{f3}");
    let b = format!("{f2}\n{f3}\n{f1}");
    let r = two("x.rs", None, &a, &b);
    let edits = &r.files[0].edits;
    assert!(edits.iter().any(|e| e.op == EditOp::Move), "{edits:?}");
    assert!(
        !edits
            .iter()
            .any(|e| matches!(e.op, EditOp::Insert | EditOp::Delete)),
        "{edits:?}"
    );
    assert!(variance(&r) < 10.0);
}

#[test]
fn a_real_logic_change_escalates_and_names_the_function() {
    let base = "fn parse_config(s: &str) -> usize {\n    s.len()\n}\n\nfn other() {}\n";
    let a = "fn parse_config(s: &str) -> usize {\n    s.trim().len() + 1\n}\n\nfn other() {}\n";
    let b = "fn parse_config(s: &str) -> usize {\n    s.split(',').count()\n}\n\nfn other() {}\n";
    let r = two("cfg.rs", Some(base), a, b);
    assert_eq!(r.verdict, Agreement::Escalate);
    assert!(
        r.files[0]
            .edits
            .iter()
            .all(|e| e.entity.as_deref() == Some("fn parse_config")),
        "{:?}",
        r.files[0].edits
    );
}

#[test]
fn formatter_choices_do_not_count() {
    // Quotes, trailing commas, semicolons, redundant parentheses, hex case, import order, a
    // block around a match arm.
    let cases = [
        ("a.rs", "use b::Y;\nuse a::X;\nfn f(v: u8) -> u32 {\n    match v {\n        0 => { 0xFF }\n        _ => (1 + 2),\n    }\n}\n",
         "use a::X;\nuse b::Y;\nfn f(v: u8) -> u32 {\n    match v {\n        0 => 0xff,\n        _ => 1 + 2,\n    }\n}\n"),
        ("a.py", "import sys\nimport os\nx = f('a', 'b',)\ny = (x)\n", "import os\nimport sys\nx = f(\"a\", \"b\")\ny = x\n"),
    ];
    for (path, a, b) in cases {
        let r = two(path, None, a, b);
        assert_eq!(variance(&r), 0.0, "{path}: {:?}", r.files[0].edits);
    }
}

#[test]
fn unknown_language_falls_back_to_a_labelled_line_diff() {
    let r = two("notes.xyz", None, "alpha\nbeta\n", "alpha\ngamma\n");
    let f = &r.files[0];
    assert_eq!(f.language, None);
    assert_eq!(f.unit, Unit::Lines);
    assert!(
        f.fallback.as_deref().unwrap().contains("no grammar"),
        "{:?}",
        f.fallback
    );
    assert_eq!(variance(&r), 50.0);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["files"][0]["fallback"]
        .as_str()
        .unwrap()
        .contains("no grammar"));
}

#[test]
fn a_file_that_does_not_parse_falls_back_naming_the_side_and_line() {
    let r = two("x.rs", None, "fn ok() {}\n", "fn ok() {}\nfn broken( {\n");
    let f = &r.files[0];
    let why = f.fallback.as_deref().unwrap();
    assert!(why.contains("render B") && why.contains("line 2"), "{why}");
    assert_eq!(f.unit, Unit::Lines);
}

#[test]
fn binary_files_are_reported_not_diffed_and_escalate_when_they_differ() {
    let mut fv = file("logo.png", None, None, None);
    fv.a = Some(vec![0x89, b'P', b'N', b'G', 0, 1, 2]);
    fv.b = Some(vec![0x89, b'P', b'N', b'G', 0, 1, 3]);
    let r = run(&dual(vec![fv.clone()], false));
    assert_eq!(r.files[0].status, FileStatus::Binary);
    assert!(r.files[0].edits.is_empty());
    assert_eq!(r.verdict, Agreement::Escalate);
    assert!(r.escalations[0].contains("logo.png"));
    fv.b = fv.a.clone();
    let same = run(&dual(vec![fv], false));
    assert_eq!(same.verdict, Agreement::Agreed);
}

#[test]
fn a_file_missing_on_one_side_counts_whole() {
    let base = "fn keep() {}\n";
    let r = run(&dual(
        vec![
            file("keep.rs", Some(base), Some(base), Some(base)),
            file("new.rs", None, Some("fn added() -> u8 { 1 }\n"), None),
        ],
        true,
    ));
    let f = r.files.iter().find(|f| f.path == "new.rs").unwrap();
    assert_eq!(f.size.b, None);
    assert_eq!(f.variance_percent, Some(100.0));
    assert_eq!(f.edits[0].op, EditOp::Delete);
}

#[test]
fn a_file_over_the_node_limit_falls_back_instead_of_exploding() {
    let big = big_file();
    let other = big.replace("+ 7", "+ 8");
    let opts = DiffOptions {
        limits: Limits {
            max_nodes: 10_000,
            max_bytes: 1 << 20,
            ..Limits::default()
        },
        ..DiffOptions::default()
    };
    let r = diff_change(
        &dual(vec![file("big.rs", None, Some(&big), Some(&other))], false),
        &reg(),
        &opts,
    );
    let why = r.files[0].fallback.as_deref().unwrap();
    assert!(why.contains("node limit of 10000"), "{why}");
}

#[test]
fn a_single_render_classifies_entities_cosmetic_or_semantic() {
    let base = "fn tidy(x: u8) -> u8 {\n    x+1\n}\n\nfn logic(x: u8) -> u8 {\n    x + 1\n}\n\nfn gone() {}\n";
    let head = "// Adds one.\nfn tidy(x: u8) -> u8 {\n    x + 1\n}\n\nfn logic(x: u8) -> u8 {\n    x + 2\n}\n\nfn fresh() -> bool {\n    true\n}\n";
    let input = ChangeInput {
        has_base: true,
        single: true,
        label_base: Some("base".into()),
        label_a: "head".into(),
        label_b: String::new(),
        files: vec![file("x.rs", Some(base), Some(head), None)],
    };
    let r = run(&input);
    assert_eq!(r.mode, Mode::Single);
    assert_eq!(r.verdict, Agreement::Agreed);
    let classes: Vec<(&str, &str, ChangeClass)> = r.files[0]
        .entities
        .iter()
        .map(|e| (e.entity.as_str(), e.status, e.class))
        .collect();
    assert!(
        classes.contains(&("fn tidy", "modified", ChangeClass::Cosmetic)),
        "{classes:?}"
    );
    assert!(
        classes.contains(&("fn logic", "modified", ChangeClass::Semantic)),
        "{classes:?}"
    );
    assert!(
        classes.contains(&("fn fresh", "added", ChangeClass::Semantic)),
        "{classes:?}"
    );
    assert!(
        classes.contains(&("fn gone", "removed", ChangeClass::Semantic)),
        "{classes:?}"
    );
    assert_eq!(r.files[0].class, Some(ChangeClass::Semantic));
}

#[test]
fn the_json_report_has_the_documented_top_level_fields() {
    let r = two("x.rs", None, "fn f() {}\n", "fn g() {}\n");
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "schema",
        "variance_percent",
        "threshold_percent",
        "verdict",
        "files",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["verdict"], "escalate");
    let f = &v["files"][0];
    for key in ["path", "language", "variance_percent", "fallback", "edits"] {
        assert!(f.get(key).is_some(), "file missing {key}");
    }
}

/// Small Rust programs built from a few statement shapes.
fn program() -> impl Strategy<Value = String> {
    let stmt = prop_oneof![
        (0u32..50).prop_map(|n| format!("let v{n} = {n} + 1;")),
        (0u32..50, 0u32..50).prop_map(|(a, b)| format!("call_{a}(v{b}, \"s{a}\");")),
        (0u32..50).prop_map(|n| format!("if v{n} > 3 {{ return {n}; }}")),
        (0u32..50).prop_map(|n| format!("for i in 0..{n} {{ acc += i; }}")),
    ];
    prop::collection::vec(prop::collection::vec(stmt, 0..6), 1..5).prop_map(|fns| {
        fns.iter()
            .enumerate()
            .map(|(i, body)| {
                format!(
                    "fn f{i}() -> u32 {{\n    {}\n    0\n}}\n",
                    body.join("\n    ")
                )
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_render_against_itself_is_zero(p in program()) {
        prop_assert_eq!(variance(&two("p.rs", None, &p, &p)), 0.0);
        prop_assert_eq!(variance(&two("p.rs", Some(&p), &p, &p)), 0.0);
    }

    #[test]
    fn variance_is_symmetric_and_bounded(a in program(), b in program(), base in program()) {
        let ab = variance(&two("p.rs", None, &a, &b));
        let ba = variance(&two("p.rs", None, &b, &a));
        prop_assert!((0.0..=100.0).contains(&ab));
        prop_assert!((ab - ba).abs() < 1e-9, "{} vs {}", ab, ba);
        let with_base = variance(&two("p.rs", Some(&base), &a, &b));
        let with_base_rev = variance(&two("p.rs", Some(&base), &b, &a));
        prop_assert!((0.0..=100.0).contains(&with_base));
        prop_assert!((with_base - with_base_rev).abs() < 1e-9, "{} vs {}", with_base, with_base_rev);
    }
}

#[test]
fn an_added_parameter_is_a_small_insert() {
    let a = "def fetch(url):\n    resp = get(url)\n    if resp.ok:\n        return resp.body\n    return None\n";
    let b = "def fetch(url, timeout):\n    resp = get(url)\n    if resp.ok:\n        return resp.body\n    return None\n";
    let r = two("x.py", None, a, b);
    let edits = &r.files[0].edits;
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0].op, EditOp::Insert);
    assert_eq!(edits[0].entity.as_deref(), Some("def fetch"));
    assert!(variance(&r) < 5.0, "{}", variance(&r));
}
