//! Every seed of the fuzz corpora (`fuzz/corpus/<target>/`) run through the same function its
//! cargo-fuzz target calls (`fuzz/targets.rs`), on stable: CI exercises the parsers' fuzz
//! harnesses without nightly, and a crash the fuzzer found (saved into the corpus) stays a
//! regression test. Each target must have seeds, so an emptied corpus fails here.

use std::path::PathBuf;

#[path = "../fuzz/targets.rs"]
mod targets;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_a_seed_corpus_and_a_cargo_fuzz_binary() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in targets::TARGETS {
        assert!(corpus(name).len() >= 3, "{name}: fewer than 3 seeds");
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "{name}: no fuzz_targets/{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}: not a [[bin]] of fuzz/Cargo.toml"
        );
    }
}

#[test]
fn every_seed_of_every_corpus_passes_its_target() {
    let mut ran = 0;
    for (name, target) in targets::TARGETS {
        for seed in corpus(name) {
            let data = std::fs::read(&seed).unwrap();
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{name}: {} crashed the target", seed.display());
            ran += 1;
        }
    }
    assert!(ran >= 21, "only {ran} seeds ran");
}
