//! Applying one file section of a patch to the file's content in the base: strict about
//! content, lenient about position (a hunk may be found at an offset), binary sections refused.

use super::{ApplyError, FilePatch, Hunk};

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
    // Where the previous hunk was found against where its header said, in i128: a header's
    // line numbers are any u64 a patch states, and i128 holds their sums and differences.
    let mut offset = 0i128;
    for (n, hunk) in hunks.iter().enumerate() {
        let old: Vec<&[u8]> = hunk.old_lines().collect();
        // 0-based index where the old lines start, as the header states.
        let stated = if hunk.old_len == 0 {
            hunk.old_start
        } else {
            hunk.old_start.saturating_sub(1)
        };
        let want = (stated as i128 + offset).clamp(cursor as i128, lines.len() as i128) as usize;
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
        offset = at as i128 - stated as i128;
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
