//! `patchgate report RECORD --html OUT`: a decision record as one self-contained HTML page
//! (the same page as the web view's record page), for the command line and the Action. The
//! explanation texts are shown (each checked against its hash) when `FILE.texts.json` is beside
//! the record file, or, for a commit's record note, when the commit carries them in
//! `refs/notes/patchgate-texts`. Texts there (or in the file) that are no texts, or another
//! record's, are said on the page (and on stderr) and the record is still shown.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use patchgate::gate::check::texts_path;
use patchgate::meta::notes;
use patchgate::meta::record::MetaRecord;
use patchgate::meta::texts::{ExplanationTexts, FoundTexts};
use patchgate::view::record::{standalone, RecordView, Signature};

use super::args::ReportArgs;
use super::meta::read_target;

pub(crate) fn cmd_report(args: &ReportArgs) -> Result<u8> {
    let (what, text, sig) = read_target(&args.record, &args.repo)?;
    let signature = match (&args.key, sig) {
        (Some(k), sig) => {
            let keys =
                std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?;
            match notes::check_signature(&text, sig.as_deref(), &keys) {
                Ok(by) => Signature::SignedBy(by),
                Err(e) => Signature::Invalid(e),
            }
        }
        (None, Some(_)) => Signature::Present,
        (None, None) => Signature::Unsigned,
    };
    // The explanation texts beside a `meta.yaml` file (`FILE.texts.json`, written by
    // `--write-meta`), or the texts notes on the record's commit.
    let texts_file = texts_path(Path::new(&args.record));
    let texts = if Path::new(&args.record).is_file() {
        if texts_file.is_file() {
            let json = std::fs::read_to_string(&texts_file)
                .with_context(|| format!("reading {}", texts_file.display()))?;
            // Texts that are no texts are said, as a bad note is, and the record still shown.
            match ExplanationTexts::from_json(&json) {
                Ok(t) => FoundTexts::texts(t),
                Err(e) => FoundTexts::not_texts(texts_file.display(), &e),
            }
        } else {
            FoundTexts::default()
        }
    } else {
        noted_texts(&args.record, &args.repo, &text)
    };
    let view =
        RecordView::from_yaml_found(&text, signature, texts).with_context(|| what.clone())?;
    if let Some(why) = &view.texts_problem {
        eprintln!("warning: {what}: {why}");
    }
    let html = standalone(&view)?;
    if args.html.as_os_str() == "-" {
        std::io::stdout().write_all(html.as_bytes())?;
    } else {
        std::fs::write(&args.html, html)
            .with_context(|| format!("writing {}", args.html.display()))?;
        eprintln!(
            "wrote {} ({what}: {}, {})",
            args.html.display(),
            if view.passed { "passed" } else { "blocked" },
            if view.verified {
                "verified"
            } else {
                "DOES NOT VERIFY"
            }
        );
    }
    Ok(0)
}

/// Commits of the texts notes' history looked through for the record's texts.
const TEXTS_HISTORY: usize = 1000;

/// The explanation texts of the record `text` noted on commit `target` of `repo`
/// (`refs/notes/patchgate-texts`): the newest of that record (a later gate of the same head
/// replaces the note; the earlier stays in the notes ref's history), and what is wrong with
/// what was found there (`ExplanationTexts::pick`); it never stops the report.
fn noted_texts(target: &str, repo: &Path, text: &str) -> FoundTexts {
    let record_hash = MetaRecord::from_yaml(text).ok().and_then(|r| r.record_hash);
    let Ok(r) = git2::Repository::discover(repo) else {
        return FoundTexts::default();
    };
    let Ok(commit) = r.revparse_single(target).and_then(|o| o.peel_to_commit()) else {
        return FoundTexts::default();
    };
    match notes::texts_history(&r, commit.id(), TEXTS_HISTORY) {
        Ok(noted) => ExplanationTexts::pick(&noted, record_hash.as_deref()),
        Err(e) => FoundTexts::problem(format!(
            "the explanation texts notes could not be read: {e}"
        )),
    }
}
