//! Parsing a unified diff (`git diff`, `git format-patch`, `diff -u`) into a [`Patch`]: the
//! file sections, their git extended headers and their hunks, checked for completeness.

use super::names::{check_path, find, parse_file_line, split_git_header, strip_first, unquote};
use super::{FilePatch, Hunk, HunkLine, ParseError, Patch};

/// Whether bytes look like a unified diff: the first non-blank line starts with `diff `,
/// `--- ` or `Index:`.
pub fn looks_like_patch(bytes: &[u8]) -> bool {
    bytes
        .split(|&c| c == b'\n')
        .map(trim_ascii_end)
        .find(|l| !l.is_empty())
        .is_some_and(|l| {
            l.starts_with(b"diff ") || l.starts_with(b"--- ") || l.starts_with(b"Index:")
        })
}

/// Parses a (possibly multi-file) unified diff.
///
/// Accepts `git diff` / `git format-patch` output (`diff --git` headers, extended headers,
/// `/dev/null` for created and deleted files, renames and copies) and `diff -u` / `diff -ruN`
/// output (`---`/`+++` pairs, timestamps after a tab). Text before, between and after the file
/// sections (mail headers, commit messages, `diff -r` command lines, signatures) is ignored.
/// An empty or blank input is an empty patch; any other input without a file section, a
/// malformed or truncated hunk, a hunk outside a file section, a combined diff, or an unsafe
/// path (absolute, or with `..`) is an error.
pub fn parse(input: &[u8]) -> Result<Patch, ParseError> {
    let lines: Vec<&[u8]> = input.split_inclusive(|&c| c == b'\n').collect();
    let mut parser = Parser {
        lines: &lines,
        i: 0,
        files: Vec::new(),
        current: None,
    };
    parser.run()?;
    if parser.files.is_empty() && input.iter().any(|c| !c.is_ascii_whitespace()) {
        return Err(ParseError {
            line: 1,
            message: "no file changes found: not a unified diff (expected `diff --git`, or \
                      `---`/`+++` lines followed by `@@` hunks)"
                .into(),
        });
    }
    Ok(Patch {
        files: parser.files,
    })
}

/// A file section under construction.
struct Section {
    fp: FilePatch,
    /// Whether a `---`/`+++` pair was seen (it then needs hunks, unless binary).
    has_file_lines: bool,
    /// Git extended headers named the old and new files (rename or copy).
    renamed: bool,
    /// Git extended headers said the file is new / deleted.
    new_file: bool,
    deleted_file: bool,
}

struct Parser<'a> {
    lines: &'a [&'a [u8]],
    i: usize,
    files: Vec<FilePatch>,
    current: Option<Section>,
}

impl<'a> Parser<'a> {
    fn err(&self, line_index: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: line_index + 1,
            message: message.into(),
        }
    }

    fn text(&self, i: usize) -> &'a [u8] {
        trim_eol(self.lines[i])
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while self.i < self.lines.len() {
            let i = self.i;
            let text = self.text(i);
            if text.starts_with(b"diff --cc ") || text.starts_with(b"diff --combined ") {
                return Err(self.err(i, "combined (merge) diffs are not supported"));
            }
            if let Some(rest) = text.strip_prefix(b"diff --git ") {
                self.finish()?;
                let (old, new) = split_git_header(rest)
                    .ok_or_else(|| self.err(i, "malformed `diff --git` header"))?;
                let old = Some(check_path(strip_first(&old), i)?);
                let new = Some(check_path(strip_first(&new), i)?);
                self.current = Some(Section {
                    fp: FilePatch {
                        old_path: old,
                        new_path: new,
                        git: true,
                        copy: false,
                        binary: false,
                        hunks: Vec::new(),
                        line: i + 1,
                    },
                    has_file_lines: false,
                    renamed: false,
                    new_file: false,
                    deleted_file: false,
                });
                self.i += 1;
                continue;
            }
            if text.starts_with(b"--- ")
                && self.i + 1 < self.lines.len()
                && self.text(i + 1).starts_with(b"+++ ")
            {
                self.file_lines()?;
                continue;
            }
            if text.starts_with(b"@@") {
                self.hunk()?;
                continue;
            }
            if self.in_git_header() {
                self.git_extended_header(i);
            } else if text.starts_with(b"Binary files ") && text.ends_with(b" differ") {
                // `diff -r` output for a binary file, outside any git section.
                self.finish()?;
                let inner = text
                    .get(b"Binary files ".len()..text.len().saturating_sub(b" differ".len()))
                    .unwrap_or_default();
                let name = match find(inner, b" and ") {
                    Some(k) if &inner[k + 5..] == b"/dev/null" => &inner[..k],
                    Some(k) => &inner[k + 5..],
                    None => inner,
                };
                self.files.push(FilePatch {
                    old_path: None,
                    new_path: Some(
                        String::from_utf8_lossy(&strip_first(&unquote(name))).into_owned(),
                    ),
                    git: false,
                    copy: false,
                    binary: true,
                    hunks: Vec::new(),
                    line: i + 1,
                });
            }
            // Anything else is commentary around the sections: ignored.
            self.i += 1;
        }
        self.finish()
    }

    /// Inside a `diff --git` section, before its `---`/`+++` lines and hunks.
    fn in_git_header(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.fp.git && !s.has_file_lines && s.fp.hunks.is_empty())
    }

    fn git_extended_header(&mut self, i: usize) {
        let text = self.text(i).to_vec();
        let Some(sec) = self.current.as_mut() else {
            return;
        };
        let path_after = |prefix: &[u8]| {
            text.strip_prefix(prefix)
                .map(|p| String::from_utf8_lossy(&unquote(p)).into_owned())
        };
        if text.starts_with(b"new file mode") {
            sec.new_file = true;
        } else if text.starts_with(b"deleted file mode") {
            sec.deleted_file = true;
        } else if let Some(p) = path_after(b"rename from ") {
            sec.fp.old_path = Some(p);
            sec.renamed = true;
        } else if let Some(p) = path_after(b"rename to ") {
            sec.fp.new_path = Some(p);
            sec.renamed = true;
        } else if let Some(p) = path_after(b"copy from ") {
            sec.fp.old_path = Some(p);
            sec.fp.copy = true;
            sec.renamed = true;
        } else if let Some(p) = path_after(b"copy to ") {
            sec.fp.new_path = Some(p);
            sec.fp.copy = true;
            sec.renamed = true;
        } else if text.starts_with(b"GIT binary patch")
            || (text.starts_with(b"Binary files ") && text.ends_with(b" differ"))
        {
            sec.fp.binary = true;
        }
    }

    /// A `---` line followed by a `+++` line.
    fn file_lines(&mut self) -> Result<(), ParseError> {
        let i = self.i;
        let old = parse_file_line(&self.text(i)[4..]);
        let new = parse_file_line(&self.text(i + 1)[4..]);
        let old = old.map(|p| check_path(strip_first(&p), i)).transpose()?;
        let new = new
            .map(|p| check_path(strip_first(&p), i + 1))
            .transpose()?;
        if old.is_none() && new.is_none() {
            return Err(self.err(i, "both `---` and `+++` name /dev/null"));
        }
        let continues_git = self.in_git_header();
        if continues_git {
            let sec = self.current.as_mut().expect("in a git header");
            // Keep rename/copy names from the extended headers; `/dev/null` still wins.
            if !sec.renamed {
                sec.fp.old_path = old.clone();
                sec.fp.new_path = new.clone();
            }
            if old.is_none() {
                sec.fp.old_path = None;
            }
            if new.is_none() {
                sec.fp.new_path = None;
            }
            sec.has_file_lines = true;
        } else {
            self.finish()?;
            self.current = Some(Section {
                fp: FilePatch {
                    old_path: old,
                    new_path: new,
                    git: false,
                    copy: false,
                    binary: false,
                    hunks: Vec::new(),
                    line: i + 1,
                },
                has_file_lines: true,
                renamed: false,
                new_file: false,
                deleted_file: false,
            });
        }
        self.i += 2;
        Ok(())
    }

    fn hunk(&mut self) -> Result<(), ParseError> {
        let start = self.i;
        let header_text = self.text(start);
        let header = String::from_utf8_lossy(header_text).into_owned();
        let Some(sec) = self.current.as_ref() else {
            return Err(self.err(start, format!("hunk `{header}` before any file header")));
        };
        if sec.fp.binary {
            return Err(self.err(start, format!("hunk `{header}` in a binary section")));
        }
        let number = sec.fp.hunks.len() + 1;
        let (old_start, old_len, new_start, new_len) = parse_hunk_header(header_text)
            .ok_or_else(|| self.err(start, format!("malformed hunk header `{header}`")))?;
        let (mut old_rem, mut new_rem) = (old_len, new_len);
        let mut body: Vec<HunkLine> = Vec::new();
        let mut i = start + 1;
        let truncated = |i: usize, old_rem: usize, new_rem: usize| {
            self.err(
                i,
                format!(
                    "hunk #{number} `{header}` is truncated or its header counts are wrong: \
                     {old_rem} old and {new_rem} new lines still expected"
                ),
            )
        };
        while old_rem > 0 || new_rem > 0 {
            let Some(raw) = self.lines.get(i) else {
                return Err(truncated(i, old_rem, new_rem));
            };
            let first = raw[0];
            let content = |raw: &[u8]| {
                let mut v = raw.strip_suffix(b"\n").unwrap_or(raw).to_vec();
                v.push(b'\n');
                v
            };
            match first {
                b' ' | b'\n' | b'\r' if old_rem > 0 && new_rem > 0 => {
                    let c = if first == b' ' {
                        content(&raw[1..])
                    } else {
                        content(raw)
                    };
                    body.push(HunkLine::Context(c));
                    old_rem -= 1;
                    new_rem -= 1;
                }
                b'-' if old_rem > 0 => {
                    body.push(HunkLine::Remove(content(&raw[1..])));
                    old_rem -= 1;
                }
                b'+' if new_rem > 0 => {
                    body.push(HunkLine::Add(content(&raw[1..])));
                    new_rem -= 1;
                }
                b'\\' => {
                    if !mark_no_newline(&mut body) {
                        return Err(
                            self.err(i, "`\\ No newline at end of file` before any hunk line")
                        );
                    }
                }
                _ => return Err(truncated(i, old_rem, new_rem)),
            }
            i += 1;
        }
        while self.lines.get(i).is_some_and(|l| l.starts_with(b"\\")) {
            if !mark_no_newline(&mut body) {
                return Err(self.err(i, "`\\ No newline at end of file` before any hunk line"));
            }
            i += 1;
        }
        let sec = self.current.as_mut().expect("checked above");
        sec.fp.hunks.push(Hunk {
            header,
            old_start,
            old_len,
            new_start,
            new_len,
            lines: body,
        });
        self.i = i;
        Ok(())
    }

    /// Closes the current section, checking it is complete.
    fn finish(&mut self) -> Result<(), ParseError> {
        let Some(mut sec) = self.current.take() else {
            return Ok(());
        };
        if sec.new_file {
            sec.fp.old_path = None;
        }
        if sec.deleted_file {
            sec.fp.new_path = None;
        }
        if !sec.fp.binary {
            if sec.has_file_lines && sec.fp.hunks.is_empty() {
                return Err(ParseError {
                    line: sec.fp.line,
                    message: format!("file section for `{}` has no hunks", sec.fp.display_path()),
                });
            }
            if sec.fp.old_path.is_none() {
                if let Some(h) = sec.fp.hunks.iter().find(|h| h.old_len != 0) {
                    return Err(ParseError {
                        line: sec.fp.line,
                        message: format!(
                            "`{}` is a new file but hunk `{}` expects existing lines",
                            sec.fp.display_path(),
                            h.header
                        ),
                    });
                }
            }
        }
        self.files.push(sec.fp);
        Ok(())
    }
}

/// Drops the line ending of the last hunk line (`\ No newline at end of file`).
fn mark_no_newline(body: &mut [HunkLine]) -> bool {
    match body.last_mut() {
        Some(HunkLine::Context(b) | HunkLine::Remove(b) | HunkLine::Add(b)) => {
            if b.ends_with(b"\n") {
                b.pop();
            }
            true
        }
        None => false,
    }
}

/// `@@ -a[,b] +c[,d] @@…` → `(a, b, c, d)`, missing counts being 1.
fn parse_hunk_header(text: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let s = std::str::from_utf8(text).ok()?;
    let rest = s.strip_prefix("@@ -")?;
    let end = rest.find(" @@")?;
    let (old, new) = rest[..end].split_once(" +")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ascii_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |k| k + 1);
    &line[..end]
}
