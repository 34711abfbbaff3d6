//! Repairs: text a language allows but its grammar lacks, put back where tree-sitter failed.
//!
//! tree-sitter-bash requires a terminator after `for NAME`, while POSIX lets `do` follow it
//! directly (`for arg do`, a loop over `"$@"`). The parse then holds an ERROR node `for arg`
//! with the loop's body spilled after it as plain commands, and shfmt's rewrite `for arg; do`
//! is a sound `for_statement`: two renders that mean the same differ in structure, and a loop
//! outside any function has no entity to compare by its tokens (`tree::errors`).
//!
//! A repair from the registry (`repairs = [{keyword, before, insert}]`) finds, in a file with a
//! syntax error, each line that begins with the keyword, a name and the `before` word (only
//! blanks between), inserts the missing text before `before`, and the file is parsed again. The
//! keyword must be a token of its own in the tree (the lexer's leaf covers exactly it), so the
//! same words inside a string, a comment or a heredoc never match; it reads the text, not the
//! shape of the ERROR nodes, because how tree-sitter recovers from one error depends on the
//! errors before it. The insertion is on the same line, so every line number of the report stays
//! the file's own; a file that parses cleanly is never touched.

use super::Language;

/// The source with every applicable repair made, or `None` when none applies.
pub fn repair(lang: &Language, source: &str, tree: &tree_sitter::Tree) -> Option<String> {
    let rules = &lang.spec.repairs;
    if rules.is_empty() || !tree.root_node().has_error() {
        return None;
    }
    let root = tree.root_node();
    let is_name = |t: &str| {
        t.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && t.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let blank = |c: char| c == ' ' || c == '\t';
    let mut at: Vec<(usize, &str)> = Vec::new();
    let mut line_start = 0;
    for line in source.split_inclusive('\n') {
        let start = line_start;
        line_start += line.len();
        let body = line.trim_start_matches(blank);
        let kw_at = start + (line.len() - body.len());
        for r in rules {
            let Some(rest) = body.strip_prefix(r.keyword.as_str()) else {
                continue;
            };
            let after_kw = rest.trim_start_matches(blank);
            if after_kw.len() == rest.len() {
                continue;
            }
            let name_len = after_kw
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after_kw.len());
            let (name, tail) = after_kw.split_at(name_len);
            let gap = tail.len() - tail.trim_start_matches(blank).len();
            let Some(after) = tail[gap..].strip_prefix(r.before.as_str()) else {
                continue;
            };
            let ends = after
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == ';');
            if !is_name(name) || gap == 0 || !ends {
                continue;
            }
            // The keyword is a token of its own, not words inside a string or a comment.
            let kw_end = kw_at + r.keyword.len();
            let token = root
                .descendant_for_byte_range(kw_at, kw_end)
                .is_some_and(|n| n.child_count() == 0 && n.byte_range() == (kw_at..kw_end));
            if token {
                let name_end = kw_at + (body.len() - after_kw.len()) + name_len;
                at.push((name_end, r.insert.as_str()));
            }
        }
    }
    if at.is_empty() {
        return None;
    }
    at.sort_unstable();
    at.dedup();
    let mut out = String::with_capacity(source.len() + at.len() * 2);
    let mut from = 0;
    for (pos, text) in at {
        out.push_str(&source[from..pos]);
        out.push_str(text);
        from = pos;
    }
    out.push_str(&source[from..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::registry::Registry;
    use crate::astdiff::tree::{parse_ts, Limits};

    fn repaired(lang: &str, src: &str) -> Option<String> {
        let reg = Registry::embedded().unwrap();
        let lang = reg.by_name(lang).unwrap();
        let tree = parse_ts(lang, src, None, &Limits::default()).unwrap();
        repair(lang, src, &tree)
    }

    #[test]
    fn bash_for_without_a_terminator_gets_its_semicolon() {
        let src = "for arg do\n  echo \"$arg\"\ndone\nf() {\n  for x  do echo \"$x\"; done\n}\n";
        let fixed = repaired("bash", src).expect("repaired");
        assert_eq!(
            fixed,
            "for arg; do\n  echo \"$arg\"\ndone\nf() {\n  for x;  do echo \"$x\"; done\n}\n"
        );
        let reg = Registry::embedded().unwrap();
        let tree = parse_ts(
            reg.by_name("bash").unwrap(),
            &fixed,
            None,
            &Limits::default(),
        );
        assert!(!tree.unwrap().root_node().has_error());
    }

    #[test]
    fn a_sound_file_or_an_unrelated_error_is_left_alone() {
        assert_eq!(
            repaired("bash", "for arg; do\n  echo \"$arg\"\ndone\n"),
            None
        );
        assert_eq!(repaired("bash", "echo \"for x do\"\n"), None);
        assert_eq!(repaired("bash", "if then fi fi\n"), None);
        // In a file with an error elsewhere, words in strings and comments are not tokens.
        assert_eq!(
            repaired("bash", "echo 'for x do' # for y do\nif then fi fi\n"),
            None
        );
        // No repairs registered for Python.
        assert_eq!(repaired("python", "for x do:\n  pass\n"), None);
    }
}
