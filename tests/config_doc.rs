//! docs/configuration.md is generated from the config types (src/config_doc.rs) and must stay
//! so: byte for byte, every config key described, every `PATCHGATE_*` variable of `src/` listed.

use std::path::{Path, PathBuf};

use patchgate::config_doc::{reference_markdown, undocumented};

const REGENERATE: &str = "regenerate with `PATCHGATE_BLESS=1 cargo test --test config_doc`";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docs_configuration_md_is_the_generated_reference() {
    let path = root().join("docs/configuration.md");
    let want = reference_markdown();
    if std::env::var_os("PATCHGATE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("writing docs/configuration.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "docs/configuration.md differs from reference_markdown() (first at line {}):\n  file:      {:?}\n  generated: {:?}\n{REGENERATE}",
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn every_config_key_has_a_description() {
    let missing = undocumented();
    assert!(
        missing.is_empty(),
        "config keys without a description in src/config_doc/tables.rs (SERVER_KEYS / REPO_KEYS): {missing:?}; then {REGENERATE}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src/").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `PATCHGATE_` followed by capitals, digits and underscores, not ending in `_`.
fn env_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("PATCHGATE_") {
        let start = i + at;
        let before_ok = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let mut end = start + "PATCHGATE_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let name = text[start..end].trim_end_matches('_');
        if before_ok && name.len() > "PATCHGATE_".len() {
            out.push(name.to_string());
        }
        i = end.max(start + 1);
    }
    out
}

#[test]
fn every_patchgate_env_var_in_src_is_in_the_reference() {
    let reference = reference_markdown();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let mut missing = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("reading a source file");
        for name in env_names(&text) {
            if !reference.contains(&format!("`{name}`")) {
                let rel = f.strip_prefix(root()).unwrap_or(f).display().to_string();
                let entry = format!("{name} ({rel})");
                if !missing.contains(&entry) {
                    missing.push(entry);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "environment variables used in src/ but not in the configuration reference: {missing:?}\n\
         add them to settings() in src/config_doc/tables.rs, then {REGENERATE}"
    );
}

#[test]
fn the_env_scanner_finds_whole_names_only() {
    assert_eq!(
        env_names("a PATCHGATE_DATA_DIR b XPATCHGATE_NO `PATCHGATE_` PATCHGATE_X_ c"),
        ["PATCHGATE_DATA_DIR", "PATCHGATE_X"]
    );
}
