//! The text of a leaf as it is compared: string literals by their content (quotes, escapes,
//! adjacent literals, heredoc indentation), YAML scalars by their loaded value, macro bodies
//! as C tokens. Pure functions over text; [`super::SyntaxTree`] decides which applies where.

use std::borrow::Cow;

use crate::astdiff::registry::Escapes;

/// A string literal split into its prefix (`f`, `r`, `b`, `@`, …, lower-cased: it changes
/// meaning) and its body between the quotes, as written. Text without quotes is all body (an
/// unquoted YAML scalar).
pub fn string_parts(text: &str) -> (String, &str) {
    let s = text.trim();
    let Some(q) = s.find(['"', '\'', '`']) else {
        return (String::new(), s);
    };
    let prefix = &s[..q];
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '@' || c == '$' || c == '#')
    {
        return (String::new(), s);
    }
    let mut body = s[q..].trim_end_matches('#');
    for d in ["\"\"\"", "\'\'\'", "\"", "\'", "`"] {
        if body.len() >= 2 * d.len() && body.starts_with(d) && body.ends_with(d) {
            body = &body[d.len()..body.len() - d.len()];
            break;
        }
    }
    (prefix.trim_matches('#').to_ascii_lowercase(), body)
}

/// A string literal without its delimiters: the prefix and the content with escaped quotes
/// unescaped, so `'it\'s'`, `"it's"` and `"""it's"""` compare equal while `f"x"` and `"x"` do
/// not. Text without quotes is returned as it is (an unquoted YAML scalar).
pub fn string_content(text: &str) -> (String, Cow<'_, str>) {
    let (prefix, body) = string_parts(text);
    let body = if body.contains("\\'") || body.contains("\\\"") {
        Cow::Owned(body.replace("\\'", "'").replace("\\\"", "\""))
    } else {
        Cow::Borrowed(body)
    };
    (prefix, body)
}

/// Append what the escape sequence `esc` (its whole text, from the backslash) denotes to
/// `out`. `Spelling` keeps the escape but lower-cases the hex digits of `\x`, `\u`, `\U` (their
/// case never matters) and unescapes quotes; `Python` and `Json` decode to the character.
/// Anything not understood is kept as written, so it can only compare unequal, never wrongly
/// equal.
pub(crate) fn push_escape(out: &mut String, esc: &str, escapes: Escapes, bytes: bool) {
    let mut chars = esc.chars();
    if chars.next() != Some('\\') {
        out.push_str(esc);
        return;
    }
    let Some(letter) = chars.next() else {
        out.push_str(esc);
        return;
    };
    let rest = chars.as_str();
    let hex = |digits: &str| -> Option<u32> {
        let d = digits.trim_start_matches('{').trim_end_matches('}');
        (!d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(d, 16).ok())
            .flatten()
    };
    if escapes == Escapes::Spelling {
        match letter {
            '\'' | '"' if rest.is_empty() => out.push(letter),
            'x' | 'u' | 'U' if hex(rest).is_some() => {
                out.push('\\');
                out.push(letter);
                out.push_str(&rest.to_ascii_lowercase());
            }
            _ => out.push_str(esc),
        }
        return;
    }
    let simple = match letter {
        '\\' | '\'' | '"' if rest.is_empty() => Some(letter),
        '/' if rest.is_empty() && escapes == Escapes::Json => Some('/'),
        'a' if rest.is_empty() && escapes == Escapes::Python => Some('\x07'),
        'v' if rest.is_empty() && escapes == Escapes::Python => Some('\x0b'),
        'b' if rest.is_empty() => Some('\x08'),
        'f' if rest.is_empty() => Some('\x0c'),
        'n' if rest.is_empty() => Some('\n'),
        'r' if rest.is_empty() => Some('\r'),
        't' if rest.is_empty() => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return;
    }
    let code = match letter {
        // A backslash before a line break continues the string (Python).
        '\n' | '\r' if escapes == Escapes::Python && rest.trim_start_matches('\n').is_empty() => {
            return
        }
        'x' if escapes == Escapes::Python && rest.len() == 2 => hex(rest),
        'u' if rest.len() == 4 && !bytes => hex(rest),
        'U' if escapes == Escapes::Python && rest.len() == 8 && !bytes => hex(rest),
        '0'..='7' if escapes == Escapes::Python && rest.len() <= 2 => {
            u32::from_str_radix(&esc[1..], 8).ok()
        }
        _ => None,
    };
    match code.and_then(char::from_u32) {
        Some(c) => out.push(c),
        // Lone surrogates (`\ud83d`), `\N{…}`, unknown escapes: as written, hex in one case.
        None => {
            out.push('\\');
            out.push(letter);
            out.push_str(&rest.to_ascii_lowercase());
        }
    }
}

/// How many bytes of `after` belong to the escape `esc` when a grammar cut it short: the JSON
/// grammar's escape node is `\u` alone, its four hex digits left in the string content.
pub(crate) fn cut_escape_digits(esc: &str, after: &str) -> usize {
    let want = match esc {
        "\\u" => 4,
        "\\x" => 2,
        "\\U" => 8,
        _ => return 0,
    };
    let n = after
        .bytes()
        .take(want)
        .take_while(u8::is_ascii_hexdigit)
        .count();
    if n == want {
        n
    } else {
        0
    }
}

/// Join JSON `\uD83D\uDE00` surrogate-pair escapes (two escape nodes, adjacent) into the one
/// character they encode; `None` when `a` and `b` are not such a pair.
pub(crate) fn surrogate_pair(a: &str, b: &str) -> Option<char> {
    let unit = |e: &str| {
        e.strip_prefix("\\u")
            .filter(|h| h.len() == 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let (hi, lo) = (unit(a)?, unit(b)?);
    if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo) {
        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    } else {
        None
    }
}

/// Whether a string body ends in an escape that a following digit would extend (`\x4` then
/// `1`, `\1` then `2`): such literals must not be joined with the next one.
pub(crate) fn ends_in_open_escape(body: &str) -> bool {
    let b = body.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1].is_ascii_hexdigit() {
        i -= 1;
    }
    // Count the backslashes before: an odd number means an escape starts there.
    let open_at = |j: usize| {
        let mut k = j;
        while k > 0 && b[k - 1] == b'\\' {
            k -= 1;
        }
        (j - k) % 2 == 1
    };
    if i < b.len() {
        if i > 0 && (b[i - 1] == b'x' || b[i - 1] == b'X') && open_at(i - 1) {
            return true;
        }
        // Octal: up to three digits straight after the backslash.
        if b[i..].iter().all(|c| (b'0'..=b'7').contains(c)) && b.len() - i < 3 && open_at(i) {
            return true;
        }
    }
    false
}

/// YAML line folding of a flow scalar's text (plain or quoted): a line break between two
/// non-empty lines is one space, a break followed by `n` empty lines is `n` newlines, and the
/// spaces/tabs around a break go. Spaces within a line are kept (`"a  b"` is not `"a b"`).
/// This is the value the YAML loader sees, so reflowing a scalar over lines changes nothing.
pub(crate) fn fold_flow_lines(text: &str) -> Cow<'_, str> {
    if !text.contains('\n') {
        return Cow::Borrowed(text);
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len() - 1;
    let mut out = String::with_capacity(text.len());
    let mut empty = 0;
    for (i, line) in lines.iter().enumerate() {
        let mut l = line.trim_end_matches('\r');
        if i > 0 {
            l = l.trim_start_matches([' ', '\t']);
        }
        if i < last {
            l = l.trim_end_matches([' ', '\t', '\r']);
        }
        if i == 0 {
            out.push_str(l);
            continue;
        }
        if l.is_empty() && i < last {
            empty += 1;
            continue;
        }
        if empty == 0 {
            out.push(' ');
        }
        for _ in 0..empty {
            out.push('\n');
        }
        empty = 0;
        out.push_str(l);
    }
    Cow::Owned(out)
}

/// A YAML quoted scalar (`fold_string_whitespace` languages) by its value, so that `'x'` and
/// `"x"` can compare equal: lines folded as the loader folds them; in `'…'`, `''` is one `'`
/// and a backslash is a literal character, so such a scalar gets its own prefix and never
/// equals a `"…"` one, where `\` starts an escape (`'a\tb'` is not `"a\tb"`). A `"…"` scalar
/// with an escaped line break (`\` at a line end) is left unfolded.
pub(crate) fn flow_scalar_content(text: &str) -> (String, Cow<'_, str>) {
    let s = text.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        let body = &s[1..s.len() - 1];
        let prefix = if body.contains('\\') { "\\" } else { "" };
        let body = fold_flow_lines(body).replace("''", "'");
        return (prefix.to_string(), Cow::Owned(body));
    }
    let (prefix, body) = string_content(text);
    let escaped_break = body
        .split('\n')
        .any(|l| l.trim_end_matches([' ', '\t', '\r']).ends_with('\\'));
    if escaped_break || !body.contains('\n') {
        return (prefix, body);
    }
    (prefix, Cow::Owned(fold_flow_lines(&body).into_owned()))
}

/// A Python number literal by its value: an integer (any base, `_` separators) as its decimal
/// value, a float as the bits of the double it denotes. What does not parse (an imaginary
/// literal, an integer over 128 bits) is compared by its lower-cased text.
pub(crate) fn number_value(text: &str) -> String {
    let t = text.trim().replace('_', "").to_ascii_lowercase();
    let radix = |p: &str, r: u32| {
        t.strip_prefix(p)
            .and_then(|d| u128::from_str_radix(d, r).ok())
    };
    let int = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| t.parse::<u128>().ok());
    if let Some(n) = int {
        return format!("int {n}");
    }
    let is_float = t.chars().all(|c| c.is_ascii_digit() || ".e+-".contains(c));
    match t.parse::<f64>() {
        Ok(x) if is_float => format!("float {:016x}", x.to_bits()),
        _ => t,
    }
}

pub(crate) fn collapse_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A C/C++ macro body (`#define` value, `#pragma` argument) as a token string: line splices
/// (backslash-newline) removed, string and character literals kept verbatim, adjacent string
/// literals joined (`"a " "b"` = `"a b"`), and whitespace kept only where it separates two
/// tokens that would otherwise read as one (`a b`, `+ +`), as one space.
pub(crate) fn c_macro_tokens(text: &str) -> String {
    let text = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let glue = |c: char| "+-*/%<>=!&|^.:#?~".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut last: Option<char> = None;
    let mut space = false;
    // Byte index in `out` of the last string literal's closing quote, if nothing followed it.
    let mut open_join: Option<usize> = None;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c == '"' || c == '\'' {
            // The literal up to its closing quote (an unterminated one runs to the end).
            let mut end = text.len();
            let mut escaped = false;
            for (j, d) in text[i + 1..].char_indices() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    end = i + 1 + j + 1;
                    break;
                }
            }
            let lit = &text[i..end];
            let prev_word = last.is_some_and(word);
            let joinable = c == '"'
                && !prev_word
                && open_join.is_some_and(|q| !ends_in_open_escape(&out[..q]));
            if joinable {
                // Drop the closing quote before and this opening quote.
                out.truncate(open_join.unwrap_or(out.len()));
                out.push_str(&lit[1..]);
            } else {
                if space && prev_word {
                    out.push(' ');
                }
                out.push_str(lit);
            }
            open_join = (c == '"' && lit.len() >= 2 && lit.ends_with('"')).then(|| out.len() - 1);
            last = Some(c);
            space = false;
            while it.peek().is_some_and(|(j, _)| *j < end) {
                it.next();
            }
            continue;
        }
        if space {
            if let Some(l) = last {
                if (word(l) && word(c)) || (glue(l) && glue(c)) {
                    out.push(' ');
                }
            }
        }
        out.push(c);
        last = Some(c);
        space = false;
        open_join = None;
    }
    out
}

/// The text of one content piece of a heredoc body, as the language reads it: with
/// `trailing_end` (the piece runs up to the end marker) the indentation in front of the marker
/// goes; with `dedent` (a `<<~` body) up to that many columns of leading whitespace go from
/// every line the piece starts (tabs to the next multiple of 8).
pub(crate) fn heredoc_piece(
    piece: &str,
    starts_line: bool,
    dedent: usize,
    trailing_end: bool,
) -> String {
    let piece = if trailing_end {
        match piece.rfind('\n') {
            Some(nl) if piece[nl + 1..].chars().all(|c| c == ' ' || c == '\t') => &piece[..=nl],
            _ => piece,
        }
    } else {
        piece
    };
    if dedent == 0 {
        return piece.to_string();
    }
    let mut out = String::with_capacity(piece.len());
    for (i, line) in piece.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if i == 0 && !starts_line {
            out.push_str(line);
            continue;
        }
        let mut col = 0;
        let mut cut = 0;
        for (j, c) in line.char_indices() {
            let next = match c {
                ' ' => col + 1,
                '\t' => (col / 8 + 1) * 8,
                _ => break,
            };
            if next > dedent {
                break;
            }
            col = next;
            cut = j + 1;
        }
        out.push_str(&line[cut..]);
    }
    out
}

/// The common indentation of a `<<~` heredoc body (its text up to the end marker): the least
/// leading whitespace, in columns, of its lines that hold anything but whitespace.
pub(crate) fn heredoc_indent(body: &str) -> usize {
    body.split('\n')
        .skip(1)
        .filter(|l| l.chars().any(|c| !c.is_whitespace()))
        .map(|l| {
            let mut col = 0;
            for c in l.chars() {
                match c {
                    ' ' => col += 1,
                    '\t' => col = (col / 8 + 1) * 8,
                    _ => break,
                }
            }
            col
        })
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(e: &str, escapes: Escapes) -> String {
        let mut s = String::new();
        push_escape(&mut s, e, escapes, false);
        s
    }

    #[test]
    fn escapes_compare_by_what_they_denote() {
        assert_eq!(esc("\\xFF", Escapes::Spelling), "\\xff");
        assert_eq!(esc("\\u00E9", Escapes::Spelling), "\\u00e9");
        assert_eq!(esc("\\n", Escapes::Spelling), "\\n");
        assert_eq!(esc("\\'", Escapes::Spelling), "'");
        assert_eq!(esc("\\033", Escapes::Python), "\x1b");
        assert_eq!(esc("\\x1B", Escapes::Python), "\x1b");
        assert_eq!(esc("\\u00e9", Escapes::Python), "é");
        assert_eq!(esc("\\N{bullet}", Escapes::Python), "\\N{bullet}");
        assert_eq!(esc("\\u00e9", Escapes::Json), "é");
        assert_eq!(esc("\\ud83d", Escapes::Json), "\\ud83d");
        assert_eq!(surrogate_pair("\\ud83d", "\\ude00"), Some('😀'));
        // In bytes, `\u` is no escape.
        let mut s = String::new();
        push_escape(&mut s, "\\u00e9", Escapes::Python, true);
        assert_eq!(s, "\\u00e9");
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(number_value("0xFF"), number_value("255"));
        assert_eq!(number_value("0o377"), number_value("0b1111_1111"));
        assert_eq!(number_value("1_000"), number_value("1000"));
        assert_eq!(number_value("1.5E3"), number_value("1500.0"));
        assert_ne!(number_value("1000"), number_value("1000.0"));
        assert_ne!(number_value("0x10"), number_value("10"));
        assert_eq!(number_value("2J"), "2j");
    }

    #[test]
    fn open_escapes_are_found() {
        assert!(ends_in_open_escape("a\\x4"));
        assert!(ends_in_open_escape("\\1"));
        assert!(!ends_in_open_escape("a\\\\x4"));
        assert!(!ends_in_open_escape("hello "));
        assert!(!ends_in_open_escape("\\n"));
    }

    #[test]
    fn macro_bodies_compare_as_tokens() {
        let a = c_macro_tokens("do { \\\n  f((n) - 1); } while (0)");
        let b = c_macro_tokens("do\t\\\n{ f((n)-1);\\\n}\\\nwhile(0)");
        assert_eq!(a, b);
        assert_eq!(
            c_macro_tokens("\"hello \" \"world\""),
            c_macro_tokens("\"hello world\"")
        );
        assert_ne!(c_macro_tokens("a + +b"), c_macro_tokens("a ++b"));
        assert_ne!(c_macro_tokens("a b"), c_macro_tokens("ab"));
        assert_ne!(c_macro_tokens("\"a  b\""), c_macro_tokens("\"a b\""));
        assert_ne!(
            c_macro_tokens("\"\\x4\" \"1\""),
            c_macro_tokens("\"\\x41\"")
        );
        assert_ne!(c_macro_tokens("L \"x\""), c_macro_tokens("L\"x\""));
    }

    #[test]
    fn heredoc_pieces_lose_their_common_indentation() {
        let body = "\n    Hello\n\n      b\n  ";
        assert_eq!(heredoc_indent(body), 4);
        assert_eq!(heredoc_piece(body, false, 4, true), "\nHello\n\n  b\n");
        assert_eq!(heredoc_piece("\n  x\n", false, 0, false), "\n  x\n");
    }
}
