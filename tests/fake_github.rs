//! Self-tests of the fake GitHub in `tests/support/`.

mod support;

use support::FakeGitHub;

#[tokio::test]
async fn starts() {
    let fake = FakeGitHub::start().await;
    assert!(fake.url().starts_with("http://127.0.0.1:"));
}
