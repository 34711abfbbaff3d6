//! The meta hash audit: canonical forms, hashes and the decision record.
//!
//! Every explanation (each render's, each auditor's) is put into a written, versioned canonical
//! form and hashed with SHA-256 ([`hash_explanation`]); the decision record is hashed in a
//! canonical JSON form without its own `record_hash` ([`hash_record`]). Two explanations agree
//! when their hashes are equal, or else when their [`similarity`] reaches a threshold
//! ([`compare_explanations`]). The forms and the measure are specified in
//! `docs/canonical-form.md` and pinned by `fixtures/meta/vectors.json`.

pub mod anchor;
pub mod canonical;
pub mod chain;
pub mod decision;
pub mod hash;
pub mod human;
pub mod ledger;
pub mod notes;
pub mod record;
pub mod similarity;
pub mod sshsig;
pub mod texts;

pub use canonical::{
    canonical_explanation, canonical_json, canonical_record, canonical_value, hash_explanation,
    hash_record, CanonicalError, Explanation, RecordedFinding, EXPLANATION_FORM_VERSION,
    JSON_FORM_VERSION, RECORD_HASH_KEY,
};
pub use hash::{HashParseError, Sha256Hash};
pub use similarity::{
    compare_explanations, similarity, text_similarity, ExplanationComparison,
    DEFAULT_SIMILARITY_THRESHOLD, SIMILARITY_VERSION,
};
