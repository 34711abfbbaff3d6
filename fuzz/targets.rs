//! What each fuzz target does with its input: one function per target, shared by the
//! cargo-fuzz targets (`fuzz/fuzz_targets/<target>.rs`, nightly) and by the stable test that
//! runs every seed of `fuzz/corpus/<target>/` through the same function
//! (`tests/fuzz_corpus.rs`). Each function must never panic on any input; where a parser has a
//! property that must hold (a correct signature verifies, a canonical form is a fixed point,
//! a stream split anywhere reads the same), it asserts it, so a violation is a crash too.
//!
//! Only `patchgate`'s public API and its own dependencies are used, so the file compiles in
//! both places.

use std::sync::OnceLock;

use patchgate::astdiff::change::{ChangeInput, FileVersions};
use patchgate::astdiff::exclude::PathFilter;
use patchgate::astdiff::patch;
use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::report::render_text;
use patchgate::astdiff::tree::Limits;
use patchgate::astdiff::{diff_change_excluding, Agreement, DiffOptions};
use patchgate::config::ServerConfig;
use patchgate::gate::repo_config;
use patchgate::github::commands::{self, Command, Parsed, RenderBRef};
use patchgate::meta::canonical::{self, Explanation};
use patchgate::meta::sshsig::{self, PublicKey};
use patchgate::policy::signing::{self, EventsSecret, Verifier};
use patchgate::policy::{parse_event, parse_ndjson};
use patchgate::server::intake::check_signature;
use patchgate::webhook;

/// A target: its name (the corpus directory and the cargo-fuzz binary are named so) and what
/// it does with one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("webhook_payload", webhook_payload),
    ("hub_signature", hub_signature),
    ("events_batch", events_batch),
    ("repo_config", repo_config_yaml),
    ("canonical", canonical_forms),
    ("sshsig", sshsig_parse),
    ("patch", patch_parse),
    ("astdiff", astdiff),
    ("server_config", server_config),
    ("comment_command", comment_command),
];

/// Split `data` at its first newline: (first line, the rest).
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// A GitHub delivery: the first line is the `X-GitHub-Event` name, the rest the body. Parsed
/// as intake does (`webhook::parse`) and as a worker does (`webhook::parse_job`); an error's
/// text never carries a long piece of the body (issue #18: a 400 must not echo input).
pub fn webhook_payload(data: &[u8]) {
    let (event, body) = split_line(data);
    let event = String::from_utf8_lossy(event);
    let parsed = webhook::parse(&event, body);
    let _ = webhook::parse_job(&event, body);
    match parsed {
        Ok(Some(ev)) => {
            let _ = ev.target();
        }
        Ok(None) => {}
        Err(e) => {
            let text = e.to_string();
            assert!(text.len() < 1024, "an overlong error: {} bytes", text.len());
        }
    }
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = webhook::json_reason(&e);
    }
}

const HUB_SECRET: &[u8] = b"fuzz webhook secret";

/// `X-Hub-Signature-256` checking: the first line is the header, the rest the body. The
/// correct signature of the body always verifies; any header that verifies is that signature.
pub fn hub_signature(data: &[u8]) {
    use hmac::{KeyInit, Mac};
    let (header, body) = split_line(data);
    let header = String::from_utf8_lossy(header);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HUB_SECRET).unwrap();
    mac.update(body);
    let want = mac.finalize().into_bytes();
    let good = format!("sha256={}", hex::encode(want));
    assert!(check_signature(&good, HUB_SECRET, body).is_ok());
    if check_signature(&header, HUB_SECRET, body).is_ok() {
        let hexpart = header.trim().strip_prefix("sha256=").unwrap_or("");
        assert_eq!(
            hex::decode(hexpart).ok().as_deref(),
            Some(&want[..]),
            "a header that is not the body's MAC verified: {header:?}"
        );
    }
}

/// A `/webhook/meta` request: the first line is the `webhook-signature` header, the rest the
/// NDJSON body. The header parser and every line's event parser are run; the body, verified
/// whole and verified in two pieces split at any point, gets the same answer; and a body
/// signed with the secret verifies.
pub fn events_batch(data: &[u8]) {
    let (sigs, body) = split_line(data);
    let sigs = String::from_utf8_lossy(sigs);
    let _ = signing::parse_signatures(&sigs);
    let secret = EventsSecret::parse("fuzz events secret, thirty-two bytes or more").unwrap();
    let (id, ts) = ("msg_fuzz", 1_700_000_000i64);
    let verify = |pieces: &[&[u8]], sigs: &str| {
        let mut v = Verifier::new(&secret, id, &ts.to_string(), ts).unwrap();
        for p in pieces {
            v.update(p);
        }
        v.finish(sigs).is_ok()
    };
    let cut = body.first().map_or(0, |b| *b as usize % (body.len() + 1));
    assert_eq!(
        verify(&[body], &sigs),
        verify(&[&body[..cut], &body[cut..]], &sigs)
    );
    let signed = signing::sign(&secret, id, ts, body);
    assert!(verify(&[&body[..cut], &body[cut..]], &signed));
    let text = String::from_utf8_lossy(body);
    let results = parse_ndjson(&text);
    let non_blank = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(results.len(), non_blank);
    for line in text.lines().take(64) {
        let _ = parse_event(line);
    }
}

/// A repository config file (`.github/patchgate.yml`): parsed and checked; a config that is
/// accepted yields its policy and its path filter without a panic.
pub fn repo_config_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = repo_config::parse(&text, "fuzz") {
        let _ = cfg.effective_policy();
        let _ = cfg.diff.filter();
    }
}

/// The canonical forms: JSON input is put in `patchgate-json/v1` form, which must be JSON
/// that reads back to the same form (a fixed point) when it holds no floats (floats are
/// exact only through a correctly rounded parser, see `hash_record`); any input as an
/// explanation's text is put in `patchgate-explanation/v1` form, and text normalisation is
/// idempotent.
pub fn canonical_forms(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(form) = canonical::canonical_json(&value) {
            let back: serde_json::Value =
                serde_json::from_str(&form).expect("the canonical form is JSON");
            if !has_float(&value) {
                assert_eq!(canonical::canonical_json(&back).unwrap(), form);
            }
            let _ = canonical::hash_record(&value);
        }
    }
    let text = String::from_utf8_lossy(data);
    let once = canonical::normalize_text(&text);
    assert_eq!(
        canonical::normalize_text(&once),
        once,
        "normalisation is not idempotent"
    );
    let _ = canonical::canonical_explanation(&Explanation::new(text.into_owned()));
}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// SSH signatures and keys: the input as an armored signature (verified against a fixed key),
/// as an `allowed_signers` file, as a public key line and as a private key file.
pub fn sshsig_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let key = PublicKey::parse(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJqQDNZ4/ibZP6JbqoZKoPwcJZYBVS5UpQR3IzVeWWl fuzz",
    )
    .expect("the fixed key parses");
    let allowed = [key];
    let _ = sshsig::verify(&text, b"message", sshsig::RECORD_NAMESPACE, &allowed);
    let _ = sshsig::allowed_keys(&text);
    let _ = PublicKey::parse(&text);
    let _ = sshsig::SigningKey::from_openssh(&text);
}

/// A unified diff / git patch: parsed; each file's hunks applied to its own old side, which
/// must give its new side when the hunks are well-formed (a failure to apply is an error,
/// never a panic).
pub fn patch_parse(data: &[u8]) {
    let _ = patch::looks_like_patch(data);
    let Ok(parsed) = patch::parse(data) else {
        return;
    };
    for file in parsed.files.iter().take(16) {
        let _ = file.display_path();
        let old: Vec<u8> = file
            .hunks
            .iter()
            .flat_map(|h| h.old_lines().flat_map(|l| l.iter().copied()))
            .collect();
        let _ = patch::apply(Some(&old), file);
        let _ = patch::apply(None, file);
    }
}

/// The embedded language registry, loaded once per process (each language compiles on first use).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::embedded().expect("the embedded registry loads"))
}

/// The AST diff on arbitrary bytes, in every registered language, through the call
/// `patchgate diff` makes (`diff_change_excluding`, then the JSON and text reports). The first
/// byte picks the language (its index in the registry, modulo their number), the second the
/// mode: bit 0 one render against its base, bit 1 a base is given, bit 2 render B is a copy of
/// render A. The rest is split at `0xFF` bytes (never in UTF-8 text) into the sides: the base
/// first when there is one, then A, then B; a side with no part is absent (a file added or
/// deleted). The limits are the deterministic ones of the CLI's defaults; the wall-clock guard
/// is set far beyond libFuzzer's `-timeout`, so an input that the node and step limits do not
/// bound shows up as a timeout instead of being cut short. Checked: the file is reported in
/// the language picked, the variance is a percentage, the edit list is capped, and two
/// identical renders always agree (unless the wall-clock guard stopped them).
pub fn astdiff(data: &[u8]) {
    let [pick, mode, rest @ ..] = data else {
        return;
    };
    let reg = registry();
    let languages = reg.languages();
    let lang = languages[*pick as usize % languages.len()];
    let spec = &lang.spec;
    let path = match spec.extensions.first() {
        Some(ext) => format!("src/fuzz.{}", ext.trim_start_matches('.')),
        None => format!(
            "src/{}",
            spec.filenames.first().expect("a file name or extension")
        ),
    };
    let single = mode & 1 != 0;
    let has_base = single || mode & 2 != 0;
    let copy = !single && mode & 4 != 0;
    let mut parts = rest.split(|&b| b == 0xFF).map(<[u8]>::to_vec);
    let base = if has_base { parts.next() } else { None };
    let a = parts.next();
    let b = if single {
        None
    } else if copy {
        a.clone()
    } else {
        parts.next()
    };
    let input = ChangeInput {
        has_base,
        single,
        label_base: has_base.then(|| "base".to_string()),
        label_a: "a".into(),
        label_b: if single { String::new() } else { "b".into() },
        files: vec![FileVersions {
            path: path.clone(),
            base,
            a,
            b,
        }],
    };
    let opts = DiffOptions {
        limits: Limits {
            time_limit_ms: 60_000,
            ..Limits::default()
        },
        ..DiffOptions::default()
    };
    let report = diff_change_excluding(&input, reg, &opts, &PathFilter::none());
    let file = &report.files[0];
    assert_eq!(file.path, path);
    assert_eq!(file.language.as_deref(), Some(lang.name()), "{path}");
    assert!(file.edits.len() <= opts.max_edits_per_file);
    for v in [report.variance_percent, file.variance_percent]
        .into_iter()
        .flatten()
    {
        assert!((0.0..=100.0).contains(&v), "variance {v}");
    }
    if copy && !file.time_guard {
        assert_eq!(report.differing, 0, "identical renders differ: {report:?}");
        assert_eq!(report.verdict, Agreement::Agreed, "{report:?}");
    }
    serde_json::to_string(&report).expect("the report serialises");
    let _ = render_text(&report, false);
}

/// The server's config file (`patchgate.yml` / `--config`), through `ServerConfig::from_yaml`:
/// an accepted config has no problems left, and written back out as YAML it reads back the
/// same (so `NaN`, a bad URL or a missing key cannot slip through one reading and not another).
pub fn server_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match ServerConfig::from_yaml(&text, "fuzz") {
        Ok(cfg) => {
            let problems = cfg.problems();
            assert!(problems.is_empty(), "accepted with problems: {problems:?}");
            let yaml = serde_yaml::to_string(&cfg).expect("an accepted config serialises");
            let back = ServerConfig::from_yaml(&yaml, "fuzz, written back").unwrap_or_else(|e| {
                panic!("an accepted config written back is refused: {e}\n{yaml}")
            });
            assert_eq!(back, cfg, "{yaml}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A pull request comment, through the `/patchgate` command parser (`parse_comment`) and the
/// `Render-Of:` line reader (`render_of`). Checked: at most `MAX_COMMANDS` commands; each
/// command is well-formed (a PR number ≥ 1, a ref git could take, a reason within its length);
/// replies and error messages stay short whatever the input; the same text with CRLF line ends
/// (as a browser sends it) reads the same; and the text quoted (`> ` before every line) or
/// indented as a code block holds no command and no `Render-Of:` line.
pub fn comment_command(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = commands::parse_comment(&text);
    assert!(parsed.len() <= commands::MAX_COMMANDS);
    for p in &parsed {
        match p {
            Parsed::Command(cmd) => {
                let _ = commands::needs_write(cmd);
                match cmd {
                    Command::RenderB(RenderBRef::Pr(n)) => assert!(*n > 0),
                    Command::RenderB(RenderBRef::Ref(r)) => {
                        assert!(!r.is_empty() && r.len() <= commands::MAX_REF_LEN, "{r:?}");
                        assert!(!r.starts_with('-') && !r.contains(".."), "{r:?}");
                        assert!(
                            !r.chars().any(|c| c.is_whitespace() || c.is_control()),
                            "{r:?}"
                        );
                    }
                    Command::Rollback { reason: Some(r) } => {
                        assert!(!r.trim().is_empty());
                        assert!(r.chars().count() <= commands::MAX_REASON_CHARS);
                    }
                    Command::Vote(v) => {
                        assert!(!v.reason.trim().is_empty());
                        assert!(v.reason.chars().count() <= commands::MAX_REASON_CHARS);
                    }
                    Command::Rollback { reason: None } | Command::Recheck | Command::Help => {}
                }
            }
            Parsed::Unknown { word, suggestion } => {
                let reply = commands::reply_unknown(word, *suggestion);
                assert!(
                    reply.len() < 1024,
                    "an overlong reply: {} bytes",
                    reply.len()
                );
            }
            Parsed::Invalid { message, .. } => {
                assert!(
                    message.len() < 1024,
                    "an overlong message: {} bytes",
                    message.len()
                );
            }
        }
    }
    let render_of = commands::render_of(&text);
    assert_ne!(render_of, Some(0));
    if !text.contains('\r') {
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            commands::parse_comment(&crlf),
            parsed,
            "CRLF reads otherwise"
        );
        assert_eq!(
            commands::render_of(&crlf),
            render_of,
            "CRLF reads otherwise"
        );
    }
    for prefix in ["> ", "    "] {
        let hidden: Vec<String> = text.split('\n').map(|l| format!("{prefix}{l}")).collect();
        let hidden = hidden.join("\n");
        assert!(commands::parse_comment(&hidden).is_empty(), "{prefix:?}");
        assert_eq!(commands::render_of(&hidden), None, "{prefix:?}");
    }
}
