//! Test support shared by the integration tests that talk to GitHub: the stateful fake
//! GitHub (`fake_github`), the REST-description check it applies to every request
//! (`openapi`), and webhook deliveries as GitHub sends them (`webhook_payload`,
//! `sign_github`).
//!
//! Each test binary that says `mod support;` compiles all of it and uses a part, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

pub mod fake_github;
pub mod openapi;
pub mod otlp;
#[macro_use]
pub mod pg;
pub mod builders;
pub mod world;

#[allow(unused_imports)]
pub use fake_github::{
    CheckOutput, CheckRunState, CommentState, FakeGitHub, IssueSpec, PullSpec, RecordedRequest,
    APP_ID, APP_SLUG, BOT_LOGIN, CI_APP_ID,
};

use hmac::{KeyInit, Mac};

/// A real webhook payload, `fixtures/github/webhooks/<name>.json` (e.g.
/// `pull_request.opened`, `issue_comment.created`); see `fixtures/github/README.md`.
pub fn webhook_payload(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github/webhooks")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no webhook payload {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `X-Hub-Signature-256` value GitHub sends for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn sign_github(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
