//! The file names in a patch's headers (`diff --git`, `---`/`+++`): splitting, git's C-style
//! unquoting, stripping the first component, and refusing names that could escape the base.

use super::ParseError;

/// The name on a `---`/`+++` line (after the marker): up to a tab (timestamps), unquoted;
/// `None` for `/dev/null`.
pub(super) fn parse_file_line(rest: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn split_git_header(rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
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
pub(super) fn unquote(s: &[u8]) -> Vec<u8> {
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
pub(super) fn strip_first(name: &[u8]) -> Vec<u8> {
    match name.iter().position(|&c| c == b'/') {
        Some(k) => name[k + 1..].to_vec(),
        None => name.to_vec(),
    }
}

/// A relative, normalised `/`-separated path, or an error for names that could escape the base.
pub(super) fn check_path(name: Vec<u8>, line_index: usize) -> Result<String, ParseError> {
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

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
