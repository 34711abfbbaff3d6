//! The canonical-form test vectors in `fixtures/meta/vectors.json`.
//!
//! Each vector holds an input, its canonical form and its `sha256:` hash. This test recomputes
//! both from the input; `fixtures/meta/reference.py` (Python standard library only, written
//! from `docs/canonical-form.md`) does the same independently:
//!
//! ```sh
//! python3 fixtures/meta/reference.py
//! ```
//!
//! Two hashes checked by hand with nothing but Python's hashlib:
//!
//! ```sh
//! # explanation-empty
//! python3 -c 'import hashlib; print("sha256:" + hashlib.sha256(b"patchgate-explanation/v1\ntext 0\nfindings 0\nextra {}\n").hexdigest())'
//! # -> sha256:9eafe77f432adfacba4b03d1b14b2aff7b6f2258a00b64ff32a2b9b24afbcf7c
//!
//! # record-key-order-and-nesting
//! python3 -c 'import hashlib; print("sha256:" + hashlib.sha256(b"{\"alpha\":0,\"beta\":null,\"delta\":true,\"epsilon\":{},\"eta\":[],\"gamma\":[{\"a\":2,\"b\":1},null,\"s\"],\"zeta\":{\"x\":{\"a\":false,\"b\":null,\"record_hash\":\"kept\"},\"y\":[3,2,1]}}").hexdigest())'
//! # -> sha256:5e776943491e015469982301a3a48ed9819b7300ca1ba95c703a10ee4a2c61cc
//! ```

use std::collections::BTreeMap;

use patchgate::meta::{
    canonical_explanation, canonical_record, compare_explanations, hash_explanation, hash_record,
    text_similarity, Explanation, RecordedFinding, Sha256Hash, DEFAULT_SIMILARITY_THRESHOLD,
    EXPLANATION_FORM_VERSION, JSON_FORM_VERSION, SIMILARITY_VERSION,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Vectors {
    forms: BTreeMap<String, String>,
    vectors: Vec<Vector>,
    hash_strings: HashStrings,
    similarity: Vec<SimilarityVector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    kind: String,
    input: Value,
    canonical: String,
    hash: Sha256Hash,
}

#[derive(Deserialize)]
struct HashStrings {
    valid: Vec<String>,
    invalid: Vec<String>,
}

#[derive(Deserialize)]
struct SimilarityVector {
    name: String,
    a: String,
    b: String,
    similarity: f64,
    agreed: bool,
}

#[derive(Deserialize)]
struct ExplanationInput {
    text: String,
    findings: Vec<RecordedFinding>,
    extra: BTreeMap<String, Value>,
}

/// The vectors file. (serde_json's default float parser is not correctly rounded in general; a
/// float of a record input read one ulp off would show as a canonical-form mismatch.)
fn load() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta/vectors.json");
    let text = std::fs::read_to_string(path).expect("read vectors.json");
    serde_json::from_str(&text).expect("vectors.json")
}

#[test]
fn forms_are_the_implemented_versions() {
    let v = load();
    assert_eq!(v.forms["explanation"], EXPLANATION_FORM_VERSION);
    assert_eq!(v.forms["record"], JSON_FORM_VERSION);
    assert_eq!(v.forms["similarity"], SIMILARITY_VERSION);
}

#[test]
fn vectors_reproduce() {
    let v = load();
    let explanations = v.vectors.iter().filter(|x| x.kind == "explanation").count();
    let records = v.vectors.iter().filter(|x| x.kind == "record").count();
    assert!(
        explanations >= 4 && records >= 4,
        "{explanations} + {records}"
    );
    for vector in &v.vectors {
        let (canonical, hash) = match vector.kind.as_str() {
            "explanation" => {
                let input: ExplanationInput =
                    serde_json::from_value(vector.input.clone()).expect(&vector.name);
                let e = Explanation {
                    text: input.text,
                    findings: input.findings,
                    extra: input.extra,
                };
                (
                    canonical_explanation(&e).expect(&vector.name),
                    hash_explanation(&e).expect(&vector.name),
                )
            }
            "record" => (
                canonical_record(&vector.input).expect(&vector.name),
                hash_record(&vector.input).expect(&vector.name),
            ),
            other => panic!("{}: unknown kind {other}", vector.name),
        };
        assert_eq!(
            canonical, vector.canonical,
            "canonical form of {}",
            vector.name
        );
        assert_eq!(hash, vector.hash, "hash of {}", vector.name);
        // The hash is the plain SHA-256 of the canonical form's UTF-8 bytes.
        assert_eq!(Sha256Hash::digest(vector.canonical.as_bytes()), vector.hash);
        assert_eq!(
            vector.hash.to_string().parse::<Sha256Hash>().unwrap(),
            vector.hash
        );
    }
}

#[test]
fn record_vectors_survive_a_yaml_round_trip() {
    // A record is stored as meta.yaml; writing and re-reading it must not change its hash.
    for vector in load().vectors.iter().filter(|x| x.kind == "record") {
        let yaml = serde_yaml::to_string(&vector.input).unwrap();
        let back: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(
            hash_record(&back).unwrap(),
            vector.hash,
            "{}\n{yaml}",
            vector.name
        );
    }
}

#[test]
fn hash_strings() {
    let v = load();
    for s in &v.hash_strings.valid {
        let h: Sha256Hash = s.parse().unwrap();
        assert_eq!(&h.to_string(), s);
    }
    for s in &v.hash_strings.invalid {
        assert!(s.parse::<Sha256Hash>().is_err(), "{s:?} must not parse");
    }
}

#[test]
fn similarity_vectors_reproduce_bit_for_bit() {
    let v = load();
    for s in &v.similarity {
        let score = text_similarity(&s.a, &s.b);
        assert_eq!(
            score.to_bits(),
            s.similarity.to_bits(),
            "{}: {score}",
            s.name
        );
        assert_eq!(
            score >= DEFAULT_SIMILARITY_THRESHOLD,
            s.agreed,
            "{}",
            s.name
        );
        let cmp = compare_explanations(
            &Explanation::new(s.a.clone()),
            &Explanation::new(s.b.clone()),
            DEFAULT_SIMILARITY_THRESHOLD,
        );
        assert_eq!(cmp.agreed, s.agreed || cmp.hash_match, "{}", s.name);
    }
}
