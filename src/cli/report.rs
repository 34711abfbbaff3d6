//! `patchgate report RECORD --html OUT`: a decision record as one self-contained HTML page
//! (the same page as the web view's record page), for the command line and the Action. The
//! explanation texts are shown (each checked against its hash) when `FILE.texts.json` is beside
//! the record file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use patchgate::gate::check::texts_path;
use patchgate::meta::notes;
use patchgate::meta::texts::ExplanationTexts;
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
    // `--write-meta`); a note's texts are kept only by the server's store.
    let texts_file = texts_path(Path::new(&args.record));
    let texts = if Path::new(&args.record).is_file() && texts_file.is_file() {
        let json = std::fs::read_to_string(&texts_file)
            .with_context(|| format!("reading {}", texts_file.display()))?;
        Some(ExplanationTexts::from_json(&json).with_context(|| {
            format!(
                "{} is not the explanation texts of a record",
                texts_file.display()
            )
        })?)
    } else {
        None
    };
    let view = RecordView::from_yaml_with(&text, signature, texts.as_ref())
        .with_context(|| what.clone())?;
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
