//! Progress of a long `patchgate diff` on a terminal: one line on stderr, rewritten in place —
//! files done, files in all, the file being compared — and cleared when the work is done.
//!
//! Only when stderr is a terminal (never in a pipe, a file or CI's log) and only once the work
//! has taken longer than [`QUIET_FOR`], so a quick diff prints nothing but its report.

use std::io::Write;
use std::time::{Duration, Instant};

use patchgate::astdiff::diff::Progress;

/// A diff that ends sooner shows no progress at all.
pub(crate) const QUIET_FOR: Duration = Duration::from_millis(300);

/// Characters of the line at most (a long path is cut from the left: its end names the file).
const WIDTH: usize = 78;

/// The progress line for `p` after `secs` seconds, without control characters:
/// `diff 3/120 files · 4 s · src/big.rs`.
pub(crate) fn progress_line(p: &Progress<'_>, secs: u64) -> String {
    let head = format!("diff {}/{} files · {secs} s", p.done, p.total);
    match p.current {
        None => head,
        Some(path) => {
            let room = WIDTH.saturating_sub(head.chars().count() + 3);
            let n = path.chars().count();
            let shown = if n > room {
                let tail: String = path.chars().skip(n - room.saturating_sub(1)).collect();
                format!("…{tail}")
            } else {
                path.to_string()
            };
            format!("{head} · {shown}")
        }
    }
}

/// Writes progress lines to `out` when `enabled` (the caller passes whether stderr is a
/// terminal), once [`QUIET_FOR`] has passed since `started`: at each file ([`Meter::tell`]) and
/// whenever a ticker calls [`Meter::tick`] during a long file.
pub(crate) struct Meter<W: Write> {
    out: W,
    enabled: bool,
    started: Instant,
    last: Option<(usize, usize, String)>,
    shown: bool,
}

impl<W: Write> Meter<W> {
    pub(crate) fn new(out: W, enabled: bool, started: Instant) -> Self {
        Meter {
            out,
            enabled,
            started,
            last: None,
            shown: false,
        }
    }

    /// Note `p` and show it; once all is done, clear the line if one was shown.
    pub(crate) fn tell(&mut self, p: Progress<'_>) {
        if !self.enabled {
            return;
        }
        match p.current {
            Some(path) => {
                self.last = Some((p.done, p.total, path.to_string()));
                self.tick();
            }
            None => {
                self.last = None;
                if self.shown {
                    let _ = write!(self.out, "\r\x1b[K");
                    let _ = self.out.flush();
                    self.shown = false;
                }
            }
        }
    }

    /// Redraw the last noted state (the elapsed time moves on during a long file).
    pub(crate) fn tick(&mut self) {
        let Some((done, total, path)) = &self.last else {
            return;
        };
        let elapsed = self.started.elapsed();
        if !self.enabled || elapsed < QUIET_FOR {
            return;
        }
        let p = Progress {
            done: *done,
            total: *total,
            current: Some(path),
        };
        // Failed writes are ignored: progress must never stop the work.
        let _ = write!(self.out, "\r{}\x1b[K", progress_line(&p, elapsed.as_secs()));
        let _ = self.out.flush();
        self.shown = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(done: usize, total: usize, current: Option<&str>) -> Progress<'_> {
        Progress {
            done,
            total,
            current,
        }
    }

    #[test]
    fn the_line_counts_files_and_names_the_current_one() {
        assert_eq!(
            progress_line(&at(3, 120, Some("src/big.rs")), 4),
            "diff 3/120 files · 4 s · src/big.rs"
        );
        assert_eq!(
            progress_line(&at(120, 120, None), 0),
            "diff 120/120 files · 0 s"
        );
        let long = format!("{}/tail.rs", "d".repeat(200));
        let line = progress_line(&at(1, 2, Some(&long)), 12);
        assert_eq!(line.chars().count(), WIDTH, "{line}");
        assert!(
            line.ends_with("/tail.rs") && line.contains(" · …"),
            "{line}"
        );
    }

    #[test]
    fn nothing_is_written_when_stderr_is_not_a_terminal() {
        let long_ago = Instant::now() - Duration::from_secs(60);
        let mut m = Meter::new(Vec::new(), false, long_ago);
        m.tell(at(0, 2, Some("a.rs")));
        m.tell(at(1, 2, Some("b.rs")));
        m.tick();
        m.tell(at(2, 2, None));
        assert!(m.out.is_empty());
    }

    #[test]
    fn on_a_terminal_a_slow_diff_shows_then_clears_its_line() {
        let long_ago = Instant::now() - Duration::from_secs(60);
        let mut m = Meter::new(Vec::new(), true, long_ago);
        m.tell(at(1, 2, Some("b.rs")));
        m.tick();
        m.tell(at(2, 2, None));
        m.tick();
        let out = String::from_utf8(m.out).unwrap();
        let line = "\rdiff 1/2 files · 60 s · b.rs\x1b[K";
        assert_eq!(out, format!("{line}{line}\r\x1b[K"));
    }

    #[test]
    fn a_quick_diff_shows_nothing_even_on_a_terminal() {
        let mut m = Meter::new(Vec::new(), true, Instant::now());
        m.tell(at(0, 1, Some("a.rs")));
        m.tell(at(1, 1, None));
        assert!(m.out.is_empty());
    }
}
