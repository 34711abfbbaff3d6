//! `patchgate report RECORD --html OUT`: a decision record as one self-contained HTML page
//! (the same page as the web view's record page), for the command line and the Action.

use std::io::Write;

use anyhow::{Context, Result};

use patchgate::meta::notes;
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
    let view = RecordView::from_yaml(&text, signature).with_context(|| what.clone())?;
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
