//! The secrets a step was given, and the `::add-mask::` commands that hide them in the log.

use std::fmt::Write as _;

use super::escape_data;
use crate::config::ServerConfig;

/// The names of the API-key variables the server config's auditors use.
pub fn api_key_envs(server: &ServerConfig) -> Vec<String> {
    let mut names: Vec<String> = server
        .auditors
        .iter()
        .filter_map(|a| a.api_key_env.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn is_secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    if up == "GITHUB_TOKEN" || up == "GH_TOKEN" {
        return true;
    }
    up.starts_with("PATCHGATE_")
        && ["SECRET", "PRIVATE_KEY", "TOKEN", "PASSWORD", "API_KEY"]
            .iter()
            .any(|w| up.contains(w))
}

/// The password in a `scheme://user:password@host` URL.
fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let auth = &rest[..rest.find('@')?];
    let pw = &auth[auth.find(':')? + 1..];
    (!pw.is_empty()).then_some(pw)
}

/// Every secret value this step was given: the values of `api_key_envs` (the server config's
/// `api_key_env` names, see [`api_key_envs`]), of every variable in `env_names` (the names in
/// the environment) that is `PATCHGATE_*SECRET*` (or `*PRIVATE_KEY*`, `*TOKEN*`,
/// `*PASSWORD*`, `*API_KEY*`), of `GITHUB_TOKEN`/`GH_TOKEN`, and the password in
/// `DATABASE_URL`. Empty values are skipped; each value appears once.
pub fn secrets_to_mask(
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[String],
    api_key_envs: &[String],
) -> Vec<String> {
    let mut names: Vec<&str> = api_key_envs.iter().map(String::as_str).collect();
    names.extend(["GITHUB_TOKEN", "GH_TOKEN"]);
    names.extend(
        env_names
            .iter()
            .map(String::as_str)
            .filter(|n| is_secret_name(n)),
    );
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: String| {
        if !v.trim().is_empty() && !out.contains(&v) {
            out.push(v);
        }
    };
    for n in names {
        if let Some(v) = env(n) {
            push(v);
        }
    }
    if let Some(url) = env("DATABASE_URL") {
        if let Some(pw) = url_password(&url) {
            push(pw.to_string());
        }
    }
    out
}

/// `::add-mask::` commands for `secrets`, one per line of each value (the runner masks line
/// by line), escaped so the runner masks the literal text.
pub fn mask_commands(secrets: &[String]) -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for s in secrets {
        for line in s.split('\n') {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || seen.contains(&line) {
                continue;
            }
            seen.push(line);
            let _ = writeln!(out, "::add-mask::{}", escape_data(line));
        }
    }
    out
}
