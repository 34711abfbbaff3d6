//! Unit tests of the Actions edge's escaping, masking, settings and text caps.

use super::commands::cap;
use super::summary::md;
use super::*;

#[test]
fn escaping_follows_the_runner() {
    assert_eq!(escape_data("50%\r\nok"), "50%25%0D%0Aok");
    assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
}

#[test]
fn masks_one_line_each_and_escape() {
    let m = mask_commands(&["ab\ncd\r\n".into(), "x%y".into(), "ab".into()]);
    assert_eq!(m, "::add-mask::ab\n::add-mask::cd\n::add-mask::x%25y\n");
}

#[test]
fn secrets_come_from_named_vars_and_patterns() {
    let env = |k: &str| match k {
        "OPENAI_API_KEY" => Some("sk-1".to_string()),
        "PATCHGATE_WEBHOOK_SECRET" => Some("whs".into()),
        "GITHUB_TOKEN" => Some("ghs_x".into()),
        "PATCHGATE_LISTEN" => Some("127.0.0.1:80".into()),
        "DATABASE_URL" => Some("postgres://u:pw9@h/db".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let names: Vec<String> = ["PATCHGATE_WEBHOOK_SECRET", "PATCHGATE_LISTEN", "PATH"]
        .map(String::from)
        .to_vec();
    let s = secrets_to_mask(&env, &names, &["OPENAI_API_KEY".into(), "EMPTY".into()]);
    assert_eq!(s, vec!["sk-1", "ghs_x", "whs", "pw9"]);
}

#[test]
fn fail_on_parses() {
    assert_eq!("never".parse::<FailOn>().unwrap(), FailOn::Never);
    assert_eq!("".parse::<FailOn>().unwrap(), FailOn::Quorum);
    assert!("sometimes".parse::<FailOn>().is_err());
}

#[test]
fn caps_at_char_boundaries() {
    assert_eq!(cap("héllo", 2), "hé…");
    assert_eq!(md("a|b\n<c>", 100), "a\\|b &lt;c&gt;");
}
