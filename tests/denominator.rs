//! A node counts as changed against the base only if the change touches it: checked against
//! the line diff on repetitive files, where matcher noise used to report untouched methods.

use patchgate::astdiff::change::{ChangeInput, FileVersions};
use patchgate::astdiff::lines::Touched;
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::{diff_change, DiffOptions, DiffReport};
use proptest::prelude::*;

fn single(base: &str, head: &str, touched_lines_only: bool) -> DiffReport {
    let input = ChangeInput {
        has_base: true,
        single: true,
        label_base: Some("base".into()),
        label_a: "head".into(),
        label_b: String::new(),
        files: vec![FileVersions {
            path: "printer.py".into(),
            base: Some(base.as_bytes().to_vec()),
            a: Some(head.as_bytes().to_vec()),
            b: None,
        }],
    };
    let opts = DiffOptions {
        touched_lines_only,
        ..DiffOptions::default()
    };
    diff_change(&input, &Registry::embedded().expect("registry"), &opts)
}

/// A printer class of near-identical one-line methods, as real code has them.
fn printer(methods: &[(u8, u8)]) -> String {
    let mut s =
        String::from("class Printer:\n    def __init__(self, out):\n        self.out = out\n\n");
    for (i, (kind, arg)) in methods.iter().enumerate() {
        let body = match kind % 3 {
            0 => format!("self.out.write(str(node.value) + ' {arg}')"),
            1 => format!("self.out.write(' ' + str(node.args[{arg}]))"),
            _ => format!("return self.visit(node.children[{arg}])"),
        };
        s.push_str(&format!(
            "    def visit_{i}(self, node):\n        {body}\n\n"
        ));
    }
    s
}

/// An edit: (which method, what to do).
fn edit(src: &str, edits: &[(usize, u8)]) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    for &(at, what) in edits {
        let i = 5 + 3 * (at % ((lines.len().saturating_sub(5)) / 3).max(1));
        if i >= lines.len() {
            continue;
        }
        match what % 3 {
            0 => lines[i] = lines[i].replace("' '", "' \\\\cdot '"),
            1 => lines[i] = lines[i].replace("write", "writeln"),
            _ => lines.insert(i + 1, "        self.count += 1".into()),
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_entity_on_untouched_lines_is_reported_changed(
        methods in prop::collection::vec((0u8..3, 0u8..4), 4..30),
        edits in prop::collection::vec((0usize..30, 0u8..3), 1..4),
    ) {
        let base = printer(&methods);
        let head = edit(&base, &edits);
        let r = single(&base, &head, true);
        let f = &r.files[0];
        prop_assert!(f.fallback.is_none(), "{:?}", f.fallback);
        let (tb, th) = Touched::of(&base, &head);
        for e in &f.entities {
            let on_base = e.base.is_some_and(|l| tb.any(l.start, l.end));
            let on_head = e.head.is_some_and(|l| th.any(l.start, l.end));
            prop_assert!(on_base || on_head, "{} reported {} on untouched lines", e.entity, e.status);
        }
        for e in &f.edits {
            let on_base = e.a.is_some_and(|l| tb.any(l.start, l.end));
            let on_head = e.b.is_some_and(|l| th.any(l.start, l.end));
            prop_assert!(on_base || on_head, "edit on untouched lines: {e:?}");
        }
        // Counting only touched lines never counts more than counting every node.
        let all = single(&base, &head, false);
        prop_assert!(f.changed <= all.files[0].changed);
        // And a real change is never counted away.
        if base != head {
            prop_assert!(f.changed > 0);
        }
    }
}

#[test]
fn a_one_token_change_among_look_alike_methods_weighs_what_it_touched() {
    let methods: Vec<(u8, u8)> = (0..40).map(|i| ((i % 2) as u8, (i % 4) as u8)).collect();
    let base = printer(&methods);
    let head = base.replacen("' '", "' \\\\cdot '", 1);
    let scoped = single(&base, &head, true);
    let f = &scoped.files[0];
    assert!(f.changed > 0 && f.changed <= 8, "changed {}", f.changed);
    // The method the change touched, and the class around it: no look-alike method.
    let named: Vec<&str> = f.entities.iter().map(|e| e.entity.as_str()).collect();
    assert_eq!(
        named,
        vec!["class Printer", "def visit_1"],
        "{:?}",
        f.entities
    );
    let all = single(&base, &head, false);
    assert!(all.files[0].changed >= f.changed);
}
