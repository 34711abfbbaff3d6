//! Unified-diff patches: parsing and applying them to a base.
//!
//! A render may arrive as a patch file rather than as a tree of files (`git diff`, `git
//! format-patch` or `diff -u` output). To compare renders as syntax trees we need their
//! after-images, so this module parses such patches and applies them to the base content
//! itself — no `patch` or `git apply` on the machine, and the same behaviour everywhere.
//!
//! Applying is strict about content and lenient about position, like `patch` without fuzz:
//! every context and removed line must match exactly (bytes, line endings included), but a
//! hunk may be found at an offset from the line its `@@` header states. Binary sections are
//! recognised and reported, never applied.

/// A parsed patch file: the file sections in the order they appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// One entry per file section (`diff --git …` or a `---`/`+++` pair).
    pub files: Vec<FilePatch>,
}

/// The change a patch makes to one file.
///
/// Paths are relative, with `/` separators and the first component of `---`/`+++` and
/// `diff --git` names stripped (like `patch -p1` / `git apply`); a name without any `/` is
/// kept as it is. `rename from`/`copy from` names are used unstripped, as git writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// The file in the base; `None` when the patch creates the file (`/dev/null`).
    pub old_path: Option<String>,
    /// The file after the patch; `None` when the patch deletes the file (`/dev/null`).
    pub new_path: Option<String>,
    /// Whether the section came with a `diff --git` header (renames and copies are git-only).
    pub git: bool,
    /// A git copy (`copy from`/`copy to`): the old file stays in place.
    pub copy: bool,
    /// A binary section (`GIT binary patch` or `Binary files … differ`): cannot be applied.
    pub binary: bool,
    /// The hunks, in file order.
    pub hunks: Vec<Hunk>,
    /// 1-based line of the patch file where the section starts.
    pub line: usize,
}

impl FilePatch {
    /// The most meaningful name of the file, for messages (the new path, else the old one).
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("<unnamed>")
    }
}

/// One `@@ -l,s +l,s @@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The `@@` line as written (without the line ending), for messages.
    pub header: String,
    /// First line of the old side (1-based; for an empty old side, the line after which the
    /// new lines go, 0 at the top of the file).
    pub old_start: usize,
    /// Number of old-side lines (context + removed).
    pub old_len: usize,
    /// First line of the new side (1-based).
    pub new_start: usize,
    /// Number of new-side lines (context + added).
    pub new_len: usize,
    /// The body. Each line's bytes include its `\n`, unless a `\ No newline at end of file`
    /// marker followed it.
    pub lines: Vec<HunkLine>,
}

impl Hunk {
    /// The lines the hunk expects in the file (context and removed lines).
    pub fn old_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().filter_map(|l| match l {
            HunkLine::Context(b) | HunkLine::Remove(b) => Some(b.as_slice()),
            HunkLine::Add(_) => None,
        })
    }

    /// The lines the hunk leaves in the file (context and added lines).
    pub fn new_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().filter_map(|l| match l {
            HunkLine::Context(b) | HunkLine::Add(b) => Some(b.as_slice()),
            HunkLine::Remove(_) => None,
        })
    }
}

/// One line of a hunk body, with its bytes (line ending included unless marked otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    /// ` line`: present before and after.
    Context(Vec<u8>),
    /// `-line`: removed.
    Remove(Vec<u8>),
    /// `+line`: added.
    Add(Vec<u8>),
}

/// A patch file that is not a well-formed unified diff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the patch file where the problem was found.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Why a file patch does not apply to the content it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A hunk's context and removed lines were found nowhere at or after the previous hunk.
    #[error(
        "hunk #{hunk} `{header}` does not match: at line {line} expected {expected}, found {found}"
    )]
    HunkMismatch {
        /// 1-based number of the hunk within its file section.
        hunk: usize,
        /// The hunk's `@@` line.
        header: String,
        /// 1-based line of the file where the first mismatch was seen (at the stated position,
        /// adjusted by the offset of the previous hunk).
        line: usize,
        /// The line the hunk expected there (quoted).
        expected: String,
        /// The line found there (quoted), or `end of file`.
        found: String,
    },
    /// The patch creates a file that already exists.
    #[error("the patch creates the file, but it already exists in the base")]
    AlreadyExists,
    /// The patch modifies or deletes a file that does not exist.
    #[error("the file does not exist in the base")]
    Missing,
    /// The patch deletes a file but its hunks do not remove all of it.
    #[error("the patch deletes the file, but {remaining} bytes are left after removing its lines")]
    NotEmptyAfterDelete {
        /// Bytes left after applying the hunks.
        remaining: usize,
    },
    /// Binary sections are never applied.
    #[error("binary patches are not supported")]
    Binary,
}

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

/// The name on a `---`/`+++` line (after the marker): up to a tab (timestamps), unquoted;
/// `None` for `/dev/null`.
fn parse_file_line(rest: &[u8]) -> Option<Vec<u8>> {
    let name = if rest.starts_with(b"\"") {
        rest
    } else {
        rest.split(|&c| c == b'\t').next().unwrap_or(rest)
    };
    let name = unquote(name);
    if name == b"/dev/null" {
        None
    } else {
        Some(name)
    }
}

/// Splits the names of `diff --git a/x b/x` (quoted or not, possibly with spaces).
fn split_git_header(rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if rest.starts_with(b"\"") {
        let end = closing_quote(rest)?;
        let first = unquote(&rest[..=end]);
        let second = rest.get(end + 1..)?.strip_prefix(b" ")?;
        return Some((first, unquote(second)));
    }
    // Same name on both sides: "a/P b/P" splits in the middle.
    if rest.len() % 2 == 1 {
        let mid = rest.len() / 2;
        let (l, r) = (&rest[..mid], &rest[mid + 1..]);
        if rest[mid] == b' ' && strip_first(l) == strip_first(r) {
            return Some((l.to_vec(), r.to_vec()));
        }
    }
    if let Some(k) = find(rest, b" \"") {
        return Some((rest[..k].to_vec(), unquote(&rest[k + 1..])));
    }
    let k = find(rest, b" b/").or_else(|| find(rest, b" "))?;
    Some((rest[..k].to_vec(), rest[k + 1..].to_vec()))
}

/// Index of the quote closing the C-style string that starts at 0.
fn closing_quote(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Undoes git's C-style quoting of names (`"a/t\303\244st\tx"`); other names are returned as is.
fn unquote(s: &[u8]) -> Vec<u8> {
    if !(s.len() >= 2 && s.starts_with(b"\"") && s.ends_with(b"\"")) {
        return s.to_vec();
    }
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' || i + 1 >= inner.len() {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let c = inner[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < inner.len() && (b'0'..=b'7').contains(&inner[i]) {
                    v = v * 8 + u32::from(inner[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push((v & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// Drops the first path component (`a/src/x` → `src/x`); a name without `/` is kept.
fn strip_first(name: &[u8]) -> Vec<u8> {
    match name.iter().position(|&c| c == b'/') {
        Some(k) => name[k + 1..].to_vec(),
        None => name.to_vec(),
    }
}

/// A relative, normalised `/`-separated path, or an error for names that could escape the base.
fn check_path(name: Vec<u8>, line_index: usize) -> Result<String, ParseError> {
    let s = String::from_utf8_lossy(&name);
    let parts: Vec<&str> = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if s.starts_with('/') || parts.contains(&"..") || parts.is_empty() {
        return Err(ParseError {
            line: line_index + 1,
            message: format!("unsafe or empty path `{s}` (must be relative, without `..`)"),
        });
    }
    Ok(parts.join("/"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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

/// Applies one file section to the file's content in the base (`None`: absent there) and
/// returns the content afterwards (`None`: deleted).
///
/// A creation needs an absent file, anything else an existing one; a deletion must remove
/// every byte. Binary sections are refused.
pub fn apply(original: Option<&[u8]>, file: &FilePatch) -> Result<Option<Vec<u8>>, ApplyError> {
    if file.binary {
        return Err(ApplyError::Binary);
    }
    let original = match (file.old_path.is_none(), original) {
        (true, Some(_)) => return Err(ApplyError::AlreadyExists),
        (false, None) => return Err(ApplyError::Missing),
        (_, o) => o.unwrap_or(b""),
    };
    let out = apply_hunks(original, &file.hunks)?;
    if file.new_path.is_none() {
        if !out.is_empty() {
            return Err(ApplyError::NotEmptyAfterDelete {
                remaining: out.len(),
            });
        }
        return Ok(None);
    }
    Ok(Some(out))
}

/// Applies hunks, in order, to `original`.
///
/// Each hunk's old lines must match exactly; they are searched for nearest to the stated
/// line (shifted by the offset at which the previous hunk was found), never before the end
/// of the previous hunk.
pub fn apply_hunks(original: &[u8], hunks: &[Hunk]) -> Result<Vec<u8>, ApplyError> {
    let lines: Vec<&[u8]> = original.split_inclusive(|&c| c == b'\n').collect();
    let mut out = Vec::with_capacity(original.len());
    let mut cursor = 0usize;
    let mut offset = 0isize;
    for (n, hunk) in hunks.iter().enumerate() {
        let old: Vec<&[u8]> = hunk.old_lines().collect();
        // 0-based index where the old lines start, as the header states.
        let stated = if hunk.old_len == 0 {
            hunk.old_start
        } else {
            hunk.old_start.saturating_sub(1)
        };
        let want = (stated as isize + offset).clamp(cursor as isize, lines.len() as isize) as usize;
        let Some(at) = find_block(&lines, &old, cursor, want) else {
            return Err(mismatch(n + 1, hunk, &lines, &old, want));
        };
        for l in &lines[cursor..at] {
            out.extend_from_slice(l);
        }
        for l in hunk.new_lines() {
            out.extend_from_slice(l);
        }
        cursor = at + old.len();
        offset = at as isize - stated as isize;
    }
    for l in &lines[cursor..] {
        out.extend_from_slice(l);
    }
    Ok(out)
}

/// The start of `block` in `lines[from..]` nearest to `want` (later first on ties).
fn find_block(lines: &[&[u8]], block: &[&[u8]], from: usize, want: usize) -> Option<usize> {
    if lines.len() < from + block.len() {
        return None;
    }
    let last = lines.len() - block.len();
    let fits = |p: usize| lines[p..p + block.len()] == *block;
    if block.is_empty() {
        return Some(want.clamp(from, last));
    }
    let want = want.clamp(from, last);
    let max_distance = (want - from).max(last - want);
    for d in 0..=max_distance {
        if want + d <= last && fits(want + d) {
            return Some(want + d);
        }
        if d > 0 && d <= want - from && fits(want - d) {
            return Some(want - d);
        }
    }
    None
}

fn mismatch(number: usize, hunk: &Hunk, lines: &[&[u8]], old: &[&[u8]], want: usize) -> ApplyError {
    let k = (0..old.len())
        .find(|&k| lines.get(want + k) != Some(&old[k]))
        .unwrap_or(0);
    ApplyError::HunkMismatch {
        hunk: number,
        header: hunk.header.clone(),
        line: want + k + 1,
        expected: old.get(k).map_or_else(|| "end of file".into(), |l| show(l)),
        found: lines
            .get(want + k)
            .map_or_else(|| "end of file".into(), |l| show(l)),
    }
}

/// A line for a message: quoted, escaped, shortened; `(no newline)` when it lacks one.
fn show(line: &[u8]) -> String {
    let (body, nl) = match line.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (line, false),
    };
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(100).collect();
    if text.chars().count() > 100 {
        s.push('…');
    }
    let mut out = format!("{s:?}");
    if !nl {
        out.push_str(" (no newline at end of file)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> FilePatch {
        let p = parse(text.as_bytes()).expect("parses");
        assert_eq!(p.files.len(), 1, "{p:?}");
        p.files.into_iter().next().unwrap()
    }

    fn apply_str(original: Option<&str>, text: &str) -> Result<Option<String>, ApplyError> {
        let fp = one(text);
        apply(original.map(str::as_bytes), &fp).map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    const GIT_MODIFY: &str = "\
diff --git a/src/lib.rs b/src/lib.rs
index 1111111..2222222 100644
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,3 @@
 fn a() {}
-fn b() {}
+fn b() { 1 }
 fn c() {}
";

    #[test]
    fn parses_a_git_modification() {
        let fp = one(GIT_MODIFY);
        assert_eq!(fp.old_path.as_deref(), Some("src/lib.rs"));
        assert_eq!(fp.new_path.as_deref(), Some("src/lib.rs"));
        assert!(fp.git && !fp.binary && !fp.copy);
        assert_eq!(fp.line, 1);
        let h = &fp.hunks[0];
        assert_eq!(
            (h.old_start, h.old_len, h.new_start, h.new_len),
            (1, 3, 1, 3)
        );
        assert_eq!(h.header, "@@ -1,3 +1,3 @@");
        assert_eq!(
            h.old_lines().collect::<Vec<_>>(),
            [&b"fn a() {}\n"[..], b"fn b() {}\n", b"fn c() {}\n"]
        );
        assert_eq!(h.new_lines().nth(1), Some(&b"fn b() { 1 }\n"[..]));
    }

    #[test]
    fn applies_a_modification() {
        let out = apply_str(Some("fn a() {}\nfn b() {}\nfn c() {}\n"), GIT_MODIFY).unwrap();
        assert_eq!(out.as_deref(), Some("fn a() {}\nfn b() { 1 }\nfn c() {}\n"));
    }

    #[test]
    fn applies_at_an_offset_in_either_direction() {
        let base = "x\ny\nfn a() {}\nfn b() {}\nfn c() {}\n";
        let out = apply_str(Some(base), GIT_MODIFY).unwrap().unwrap();
        assert_eq!(out, "x\ny\nfn a() {}\nfn b() { 1 }\nfn c() {}\n");
        let later = GIT_MODIFY.replace("@@ -1,3 +1,3 @@", "@@ -40,3 +40,3 @@");
        let out = apply_str(Some(base), &later).unwrap().unwrap();
        assert_eq!(out, "x\ny\nfn a() {}\nfn b() { 1 }\nfn c() {}\n");
    }

    #[test]
    fn picks_the_match_nearest_the_stated_line() {
        let patch = "--- a/f\n+++ b/f\n@@ -4,1 +4,1 @@\n-x\n+y\n";
        let out = apply_str(Some("x\nm\nm\nx\nm\nx\n"), patch)
            .unwrap()
            .unwrap();
        assert_eq!(out, "x\nm\nm\ny\nm\nx\n");
    }

    #[test]
    fn later_hunks_follow_the_offset_of_earlier_ones() {
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -5,2 +5,2 @@\n e\n-f\n+F\n";
        let out = apply_str(Some("0\n0\na\nb\nc\nd\ne\nf\n"), patch)
            .unwrap()
            .unwrap();
        assert_eq!(out, "0\n0\na\nB\nc\nd\ne\nF\n");
    }

    #[test]
    fn mismatch_names_hunk_header_expected_and_found() {
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -4,2 +4,2 @@\n d\n-e\n+E\n";
        let err = apply_str(Some("a\nb\nc\nd\nX\n"), patch).unwrap_err();
        let ApplyError::HunkMismatch {
            hunk,
            header,
            line,
            expected,
            found,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*hunk, header.as_str(), *line), (2, "@@ -4,2 +4,2 @@", 5));
        assert_eq!((expected.as_str(), found.as_str()), ("\"e\"", "\"X\""));
        let msg = err.to_string();
        assert!(
            msg.contains("hunk #2") && msg.contains("@@ -4,2 +4,2 @@"),
            "{msg}"
        );
    }

    #[test]
    fn mismatch_past_the_end_says_end_of_file() {
        let err =
            apply_str(Some("a\n"), "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n a\n-b\n").unwrap_err();
        assert!(err.to_string().contains("found end of file"), "{err}");
    }

    #[test]
    fn hunks_do_not_match_before_the_previous_hunk() {
        // The second hunk's lines exist only before the first hunk: not applicable.
        let patch = "--- a/f\n+++ b/f\n@@ -3,1 +3,1 @@\n-c\n+C\n@@ -4,1 +4,1 @@\n-a\n+A\n";
        assert!(matches!(
            apply_str(Some("a\nb\nc\nd\n"), patch),
            Err(ApplyError::HunkMismatch { hunk: 2, .. })
        ));
    }

    #[test]
    fn new_and_deleted_files() {
        let new = "diff --git a/n.txt b/n.txt\nnew file mode 100644\nindex 0000000..1\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n";
        let fp = one(new);
        assert_eq!(
            (fp.old_path.as_deref(), fp.new_path.as_deref()),
            (None, Some("n.txt"))
        );
        assert_eq!(apply_str(None, new).unwrap().as_deref(), Some("one\ntwo\n"));
        assert_eq!(apply_str(Some("x\n"), new), Err(ApplyError::AlreadyExists));

        let del = "diff --git a/d.txt b/d.txt\ndeleted file mode 100644\n--- a/d.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-one\n-two\n";
        let fp = one(del);
        assert_eq!(
            (fp.old_path.as_deref(), fp.new_path.as_deref()),
            (Some("d.txt"), None)
        );
        assert_eq!(apply_str(Some("one\ntwo\n"), del), Ok(None));
        assert_eq!(apply_str(None, del), Err(ApplyError::Missing));
        assert_eq!(
            apply_str(Some("one\ntwo\nthree\n"), del),
            Err(ApplyError::NotEmptyAfterDelete { remaining: 6 })
        );
    }

    #[test]
    fn empty_new_and_deleted_files_without_hunks() {
        let p = parse(b"diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\ndiff --git a/g b/g\ndeleted file mode 100644\nindex e69de29..0000000\n").unwrap();
        assert_eq!(p.files.len(), 2);
        assert_eq!(apply(None, &p.files[0]), Ok(Some(Vec::new())));
        assert_eq!(apply(Some(b""), &p.files[1]), Ok(None));
    }

    #[test]
    fn no_newline_markers() {
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n";
        assert_eq!(
            apply_str(Some("a\nb"), patch).unwrap().as_deref(),
            Some("a\nc\n")
        );
        // The old side has no final newline: a file that has one does not match.
        assert!(apply_str(Some("a\nb\n"), patch).is_err());
        let patch = "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+a\n\\ No newline at end of file\n";
        assert_eq!(apply_str(Some("a\n"), patch).unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn diff_u_output_with_timestamps_and_junk_between_files() {
        let text = "\
Only in old: junk
diff -ruN old/a.c new/a.c
--- old/a.c\t2024-01-01 10:00:00.000000000 +0000
+++ new/a.c\t2024-01-02 10:00:00.000000000 +0000
@@ -1 +1 @@
-int a;
+long a;
diff -ruN old/dir/b.c new/dir/b.c
--- old/dir/b.c\t2024-01-01 10:00:00.000000000 +0000
+++ new/dir/b.c\t2024-01-02 10:00:00.000000000 +0000
@@ -1,2 +1,3 @@
 x
+y
 z
";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.files[0].old_path.as_deref(), Some("a.c"));
        assert_eq!(p.files[1].new_path.as_deref(), Some("dir/b.c"));
        assert!(!p.files[1].git);
        assert_eq!(p.files[0].hunks[0].old_len, 1);
        assert_eq!(
            apply(Some(b"x\nz\n"), &p.files[1]).unwrap().unwrap(),
            b"x\ny\nz\n"
        );
    }

    #[test]
    fn renames_copies_and_mode_changes() {
        let p = parse(b"diff --git a/old name.rs b/new name.rs\nsimilarity index 90%\nrename from old name.rs\nrename to new name.rs\n--- a/old name.rs\n+++ b/new name.rs\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/m.sh b/m.sh\nold mode 100644\nnew mode 100755\ndiff --git a/x b/y\ncopy from x\ncopy to y\n").unwrap();
        assert_eq!(p.files.len(), 3);
        assert_eq!(
            (
                p.files[0].old_path.as_deref(),
                p.files[0].new_path.as_deref()
            ),
            (Some("old name.rs"), Some("new name.rs"))
        );
        assert!(!p.files[0].copy);
        assert_eq!(
            (
                p.files[1].old_path.as_deref(),
                p.files[1].new_path.as_deref()
            ),
            (Some("m.sh"), Some("m.sh"))
        );
        assert!(p.files[1].hunks.is_empty());
        assert!(p.files[2].copy);
        assert_eq!(p.files[2].new_path.as_deref(), Some("y"));
    }

    #[test]
    fn quoted_names() {
        let fp = one("diff --git \"a/t\\303\\244b\\tx\" \"b/t\\303\\244b\\tx\"\n--- \"a/t\\303\\244b\\tx\"\n+++ \"b/t\\303\\244b\\tx\"\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(fp.new_path.as_deref(), Some("täb\tx"));
    }

    #[test]
    fn binary_sections_are_flagged_and_refused() {
        let p = parse(b"diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?wbhEHb\n\nliteral 0\nKcmV+b0RR6000031\n\n").unwrap();
        assert!(p.files[0].binary);
        assert_eq!(p.files[0].display_path(), "img.png");
        assert_eq!(apply(Some(b""), &p.files[0]), Err(ApplyError::Binary));
        let p = parse(b"diff --git a/a.bin b/a.bin\nindex 1..2 100644\nBinary files a/a.bin and b/a.bin differ\n").unwrap();
        assert!(p.files[0].binary);
        let p = parse(b"Binary files old/x.bin and new/x.bin differ\n").unwrap();
        assert!(p.files[0].binary);
        assert_eq!(p.files[0].display_path(), "x.bin");
    }

    #[test]
    fn blank_context_lines_and_crlf() {
        let fp = one("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n");
        assert_eq!(apply(Some(b"a\n\nb\n"), &fp).unwrap().unwrap(), b"a\n\nc\n");
        let fp = one("--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n+c\r\n");
        assert_eq!(fp.new_path.as_deref(), Some("f"));
        assert_eq!(
            apply(Some(b"a\r\nb\r\n"), &fp).unwrap().unwrap(),
            b"a\r\nc\r\n"
        );
    }

    #[test]
    fn pure_insertions() {
        let fp = one("--- a/f\n+++ b/f\n@@ -2,0 +3,1 @@\n+new\n");
        assert_eq!(
            apply(Some(b"a\nb\nc\n"), &fp).unwrap().unwrap(),
            b"a\nb\nnew\nc\n"
        );
    }

    #[test]
    fn malformed_patches_are_errors_with_lines() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n",
                6,
                "truncated",
            ),
            (
                "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\nnonsense\n",
                6,
                "truncated",
            ),
            (
                "--- a/f\n+++ b/f\n@@ -x +1 @@\n",
                3,
                "malformed hunk header",
            ),
            ("@@ -1 +1 @@\n-a\n+b\n", 1, "before any file header"),
            ("--- a/f\n+++ b/f\nno hunks here\n", 1, "no hunks"),
            ("hello\nworld\n", 1, "no file changes"),
            ("diff --cc f\n", 1, "combined"),
            (
                "--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
                1,
                "unsafe",
            ),
            ("--- /dev/null\n+++ /dev/null\n", 1, "/dev/null"),
            (
                "--- /dev/null\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n",
                1,
                "new file",
            ),
            (
                "--- a/f\n+++ b/f\n@@ -1 +1 @@\n\\ No newline at end of file\n",
                4,
                "No newline",
            ),
        ];
        for (text, line, what) in cases {
            let err = parse(text.as_bytes()).expect_err(text);
            assert_eq!(err.line, *line, "{text:?}: {err}");
            assert!(err.message.contains(what), "{text:?}: {err}");
        }
    }

    #[test]
    fn empty_and_commentary_only_patches() {
        assert_eq!(parse(b"").unwrap().files.len(), 0);
        assert_eq!(parse(b"\n  \n").unwrap().files.len(), 0);
        let mail = "From 123 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n f | 2 +-\n\n"
            .to_owned()
            + GIT_MODIFY
            + "-- \n2.43.0\n";
        assert_eq!(parse(mail.as_bytes()).unwrap().files.len(), 1);
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_patch(b"\n\ndiff --git a/x b/x\n"));
        assert!(looks_like_patch(b"--- a\n+++ b\n"));
        assert!(looks_like_patch(b"Index: x\n====\n"));
        assert!(!looks_like_patch(b"fn main() {}\n"));
        assert!(!looks_like_patch(b""));
        assert!(!looks_like_patch(b"---\n"));
    }

    proptest::proptest! {
        /// Arbitrary patch-like text never panics the parser, and whatever parses never
        /// panics when applied.
        #[test]
        fn never_panics(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "diff --git a/f b/f\n", "--- a/f\n", "+++ b/f\n", "--- /dev/null\n", "+++ /dev/null\n",
                "@@ -1,2 +1,2 @@\n", "@@ -0,0 +1 @@\n", "@@ -3 +3,0 @@\n", "@@ -1,1 +1,1 @@ f\n", "@@ -x @@\n",
                " a\n", "-a\n", "+b\n", "\n", "\\ No newline at end of file\n", "new file mode 100644\n",
                "deleted file mode 100644\n", "rename from f\n", "rename to g\n", "Binary files differ\n",
                "GIT binary patch\n", "\"", "a", "\r\n", "Index: f\n",
            ]), 0..30),
            original in proptest::collection::vec(proptest::sample::select(vec!["a\n", "b\n", "a", "\n"]), 0..8),
        ) {
            let text = pieces.concat();
            if let Ok(p) = parse(text.as_bytes()) {
                let original = original.concat();
                for f in &p.files {
                    let _ = apply(Some(original.as_bytes()), f);
                    let _ = apply(None, f);
                }
            }
        }
    }
}
