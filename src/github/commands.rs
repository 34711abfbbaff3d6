//! The comment-command language: `/patchgate <command> [arguments]` lines in a PR comment, and
//! the `Render-Of: #N` line in a PR body.
//!
//! A command is a line whose first non-space token is `/patchgate` (any case); the next word
//! names the command and the rest of the line is its arguments. Only text a reader sees as plain
//! text counts: fenced code blocks (```` ``` ```` and `~~~`, an unclosed fence runs to the end),
//! indented code blocks, block quotes (with their lazy continuation lines), HTML comments and
//! inline code spans are skipped, so quoting or documenting a command never runs it. Where the
//! Markdown is ambiguous the parser leans towards "not a command": a missed command can be
//! typed again, a phantom rollback cannot be taken back.
//!
//! At most [`MAX_COMMANDS`] commands are taken from one comment; lines after that are ignored.
//!
//! This module is pure: it never talks to GitHub and never decides who may run a command —
//! [`needs_write`] says what a command requires, the caller checks it in one place. `approve`
//! and `block` ([`Command::Vote`]) need the permission the server config sets
//! (`human_votes.permission`), which the caller checks in the same place.

use crate::meta::decision::HumanVerdict;

use crate::util::did_you_mean;

/// Commands taken from one comment; further `/patchgate` lines are ignored.
pub const MAX_COMMANDS: usize = 10;

/// The longest `rollback` reason kept, in characters; longer reasons are truncated.
pub const MAX_REASON_CHARS: usize = 500;

/// The longest ref `render-b` accepts, in bytes (git's own limit on a name component is 255).
pub const MAX_REF_LEN: usize = 255;

const PREFIX: &str = "/patchgate";

/// The command words, in the order help lists them.
const COMMANDS: [&str; 6] = [
    "recheck", "render-b", "rollback", "approve", "block", "help",
];

/// Where render B comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderBRef {
    /// Another pull request of the same repository, `#N`.
    Pr(u64),
    /// A branch, tag or commit of the same repository.
    Ref(String),
}

/// A well-formed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the gate again on the PR's current head.
    Recheck,
    /// Compare the PR against this render B and run the gate again.
    RenderB(RenderBRef),
    /// Revert the PR's merge; the reason is recorded with the revert.
    Rollback { reason: Option<String> },
    /// A maintainer's decision on the PR's current head (`approve` or `block`).
    Vote(VoteCommand),
    /// Answer with the list of commands.
    Help,
}

/// One `/patchgate` line of a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(Command),
    /// `/patchgate <word>` with an unknown word; `suggestion` is the closest known command
    /// (edit distance ≤ 2, or a prefix), if any.
    Unknown {
        word: String,
        suggestion: Option<&'static str>,
    },
    /// A known command with bad arguments (e.g. `render-b` with no ref, a ref with spaces or
    /// control characters, `#0`).
    Invalid {
        command: &'static str,
        message: String,
    },
}

/// The `/patchgate` lines of a comment, in order, at most [`MAX_COMMANDS`] of them.
pub fn parse_comment(body: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    for line in visible_lines(body) {
        if out.len() == MAX_COMMANDS {
            break;
        }
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if !first.eq_ignore_ascii_case(PREFIX) {
            continue;
        }
        let after_prefix = line.trim_start()[first.len()..].trim();
        out.push(parse_command(after_prefix));
    }
    out
}

/// A maintainer's vote: `/patchgate approve <reason>` or `/patchgate block <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteCommand {
    pub verdict: HumanVerdict,
    /// Required; at most [`MAX_REASON_CHARS`] characters are kept.
    pub reason: String,
}

/// `approve` / `block` and their arguments: the vote, or what is wrong with it.
pub fn parse_vote(word: &str, args: &str) -> Option<Result<VoteCommand, String>> {
    let verdict = match word.to_ascii_lowercase().as_str() {
        "approve" => HumanVerdict::Approve,
        "block" => HumanVerdict::Block,
        _ => return None,
    };
    let args = args.trim();
    if args.is_empty() {
        return Some(Err(format!(
            "`{verdict}` needs a reason, recorded with the vote: write `{PREFIX} {verdict} <reason>`"
        )));
    }
    Some(Ok(VoteCommand {
        verdict,
        reason: args.chars().take(MAX_REASON_CHARS).collect(),
    }))
}

/// Whether a command needs write access to the repository: every command except `help`.
pub fn needs_write(cmd: &Command) -> bool {
    !matches!(cmd, Command::Help)
}

/// The answer to `/patchgate help`, in Markdown.
pub fn help_text() -> String {
    format!(
        "**patchgate commands** — write one per line of a comment, at the start of the line \
         (commands in code blocks, quotes and HTML comments are ignored; at most {MAX_COMMANDS} \
         per comment).\n\
         \n\
         | command | what it does | who may use it |\n\
         | --- | --- | --- |\n\
         | `/patchgate recheck` | runs the gate again on the pull request's current head | users with write access |\n\
         | `/patchgate render-b #N` | takes pull request #N as render B (the independent second rendering) and runs the gate again | users with write access |\n\
         | `/patchgate render-b <ref>` | takes a branch or tag (`v1.2`, `refs/tags/v1.2`) or a full commit id of this repository as render B and runs the gate again | users with write access |\n\
         | `/patchgate rollback [reason]` | reverts this pull request's merge (pushed, or proposed as a revert PR, as the repository's config says); the reason, up to {MAX_REASON_CHARS} characters, is recorded with the revert | users with write access |\n\
         | `/patchgate approve <reason>` | decides the change at its current head as passed (an escalated change the auditors could not pass); recorded in the ledger with the reason and shown on the check run; a new push voids it; never past a Rule-Guard rejection | users with the permission the server sets (`human_votes.permission`, default maintain) |\n\
         | `/patchgate block <reason>` | blocks the change at its current head, whatever the auditors say; recorded and voided likewise | the same |\n\
         | `/patchgate help` (or `/patchgate` alone) | shows this list | anyone |\n\
         \n\
         A pull request can also name the one it is a second rendering of with a line \
         `Render-Of: #N` in its description (honoured when its author wrote #N or has write \
         access): both are then gated, each with the other as render B.\n"
    )
}

/// The PR that a PR body names as the one it is a second rendering of: a line `Render-Of: #N`
/// (key in any case, spaces around the colon optional) outside code blocks, quotes and HTML
/// comments. `None` when there is no such line, when `N` is not a PR number, or when two lines
/// name different PRs (ambiguous, so nothing is linked).
pub fn render_of(pr_body: &str) -> Option<u64> {
    let mut found: Option<u64> = None;
    for line in visible_lines(pr_body) {
        let line = line.trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim_end().eq_ignore_ascii_case("render-of") {
            continue;
        }
        let value = value.trim_start();
        let number = value
            .strip_prefix('#')
            .and_then(|v| v.split_whitespace().next())
            .and_then(parse_pr_number);
        match (found, number) {
            (_, None) => {}
            (None, Some(n)) => found = Some(n),
            (Some(f), Some(n)) if f != n => return None,
            (Some(_), Some(_)) => {}
        }
    }
    found
}

/// The reply to an unknown command: what was not understood, the closest command if any, and
/// where the list is.
pub fn reply_unknown(word: &str, suggestion: Option<&str>) -> String {
    let shown: String = word.chars().take(64).collect();
    let mut out = format!("Unknown command {}.", code(&format!("{PREFIX} {shown}")));
    if let Some(s) = suggestion {
        out.push_str(&format!(
            " Did you mean {}?",
            code(&format!("{PREFIX} {s}"))
        ));
    }
    out.push_str(&format!(
        " Comment {} for the list of commands.",
        code(&format!("{PREFIX} help"))
    ));
    out
}

/// `text` as an inline code span (the one helper, shared with the config checker).
pub use crate::util::code_span as code;

/// One command from the text after `/patchgate`.
fn parse_command(rest: &str) -> Parsed {
    let (word, args) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (rest, ""),
    };
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "" | "help" => Parsed::Command(Command::Help),
        "recheck" if args.is_empty() => Parsed::Command(Command::Recheck),
        "recheck" => Parsed::Invalid {
            command: "recheck",
            message: format!(
                "`recheck` takes no arguments (got {}); write `{PREFIX} recheck` alone on its line",
                code(&shorten(args, 64))
            ),
        },
        "render-b" => match parse_render_b(args) {
            Ok(r) => Parsed::Command(Command::RenderB(r)),
            Err(message) => Parsed::Invalid {
                command: "render-b",
                message,
            },
        },
        "rollback" => Parsed::Command(Command::Rollback {
            reason: (!args.is_empty()).then(|| args.chars().take(MAX_REASON_CHARS).collect()),
        }),
        "approve" | "block" => match parse_vote(word, args) {
            Some(Ok(v)) => Parsed::Command(Command::Vote(v)),
            Some(Err(message)) => Parsed::Invalid {
                command: if lower == "approve" {
                    "approve"
                } else {
                    "block"
                },
                message,
            },
            None => unreachable!("parse_vote takes approve and block"),
        },
        _ => Parsed::Unknown {
            word: word.to_string(),
            suggestion: did_you_mean(word, &COMMANDS),
        },
    }
}

fn parse_render_b(args: &str) -> Result<RenderBRef, String> {
    let usage = format!("write `{PREFIX} render-b #N` (a pull request) or `{PREFIX} render-b <branch, tag or commit>`");
    if args.is_empty() {
        return Err(format!(
            "`render-b` needs the render to compare with: {usage}"
        ));
    }
    if args.split_whitespace().nth(1).is_some() {
        return Err(format!(
            "`render-b` takes one pull request or ref, and a ref cannot contain spaces (got {}): {usage}",
            code(&shorten(args, 64))
        ));
    }
    if let Some(n) = args.strip_prefix('#') {
        return parse_pr_number(n).map(RenderBRef::Pr).ok_or_else(|| {
            format!(
                "{} is not a pull request number: {usage}",
                code(&shorten(args, 64))
            )
        });
    }
    check_ref(args)
        .map(|()| RenderBRef::Ref(args.to_string()))
        .map_err(|why| format!("{} is not a valid git ref: {why}", code(&shorten(args, 64))))
}

/// A PR number: decimal digits only, at least 1.
fn parse_pr_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n > 0)
}

/// Roughly `git check-ref-format`: the names git itself would refuse, refused here.
fn check_ref(r: &str) -> Result<(), &'static str> {
    if r.len() > MAX_REF_LEN {
        return Err("longer than 255 bytes");
    }
    if r.starts_with('-') {
        return Err("it starts with `-`");
    }
    if r.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it contains spaces or control characters");
    }
    if r.contains("..") {
        return Err("it contains `..`");
    }
    if r.contains("@{") || r == "@" {
        return Err("it contains `@{` or is `@`");
    }
    if r.chars()
        .any(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err("it contains one of ~ ^ : ? * [ \\");
    }
    if r.starts_with('/') || r.ends_with('/') || r.contains("//") {
        return Err("it has an empty path component");
    }
    if r.ends_with('.') || r.ends_with(".lock") {
        return Err("it ends with `.` or `.lock`");
    }
    if r.split('/').any(|c| c.starts_with('.')) {
        return Err("a path component starts with `.`");
    }
    Ok(())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Which lines a reader sees as plain text.

/// Column width of a line's indentation (a tab advances to the next multiple of 4), and the
/// rest of the line.
fn indent(line: &str) -> (usize, &str) {
    let mut width = 0;
    for (i, c) in line.char_indices() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4 - width % 4,
            _ => return (width, &line[i..]),
        }
    }
    (width, "")
}

/// The line without leading list markers (`-`, `*`, `+`, `1.`, `1)` followed by a space), so
/// that a fence or quote opened inside a list item is still seen.
fn strip_list_markers(mut s: &str) -> &str {
    loop {
        let t = s.trim_start_matches([' ', '\t']);
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let marker = if t.starts_with(['-', '*', '+']) {
            1
        } else if (1..=9).contains(&digits) && t[digits..].starts_with(['.', ')']) {
            digits + 1
        } else {
            return t;
        };
        let after = &t[marker..];
        if after.starts_with([' ', '\t']) {
            s = after;
        } else {
            return t;
        }
    }
}

/// The fence a line opens: its character and length.
fn fence_open(s: &str) -> Option<(char, usize)> {
    let c = s.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = s.chars().take_while(|x| *x == c).count();
    if n < 3 {
        return None;
    }
    // A backtick fence's info string cannot contain a backtick.
    if c == '`' && s[n..].contains('`') {
        return None;
    }
    Some((c, n))
}

fn fence_closes(line: &str, (c, n): (char, usize)) -> bool {
    let t = line.trim();
    !t.is_empty() && t.chars().all(|x| x == c) && t.chars().count() >= n
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    None,
    Paragraph,
    /// A block quote whose last line had text: a following text line continues it.
    QuoteParagraph,
    /// A block quote whose last line was empty (`>` alone).
    Quote,
    IndentedCode,
    Fence(char, usize),
    HtmlComment,
}

/// The lines of `body` a reader sees as plain text, with inline HTML comments removed and the
/// lines whose first character sits in a code span left out.
fn visible_lines(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block = Block::None;
    let mut paragraph: Vec<&str> = Vec::new();
    for raw in body.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let (width, rest) = indent(line);
        let blank = rest.trim().is_empty();
        match block {
            Block::Fence(c, n) => {
                if fence_closes(line, (c, n)) {
                    block = Block::None;
                }
                continue;
            }
            Block::HtmlComment => {
                if line.contains("-->") {
                    block = Block::None;
                }
                continue;
            }
            Block::IndentedCode if blank || width >= 4 => continue,
            _ => {}
        }
        if blank {
            flush_paragraph(&mut paragraph, &mut out);
            block = Block::None;
            continue;
        }
        if width >= 4 && !matches!(block, Block::Paragraph | Block::QuoteParagraph) {
            block = Block::IndentedCode;
            continue;
        }
        let opener = strip_list_markers(if width <= 3 { rest } else { "" });
        if let Some(f) = fence_open(opener) {
            flush_paragraph(&mut paragraph, &mut out);
            block = Block::Fence(f.0, f.1);
            continue;
        }
        if opener.starts_with("<!--") {
            flush_paragraph(&mut paragraph, &mut out);
            // `<!-->` and `<!--->` close at once; otherwise the comment runs to its `-->`.
            let closed = opener[2..].contains("-->");
            block = if closed {
                Block::None
            } else {
                Block::HtmlComment
            };
            continue;
        }
        if opener.starts_with('>') {
            flush_paragraph(&mut paragraph, &mut out);
            let mut inner = opener;
            while let Some(s) = inner.trim_start().strip_prefix('>') {
                inner = s;
            }
            block = if inner.trim().is_empty() {
                Block::Quote
            } else {
                Block::QuoteParagraph
            };
            continue;
        }
        if block == Block::QuoteParagraph {
            // A lazy continuation line: rendered inside the quote.
            continue;
        }
        paragraph.push(line);
        block = Block::Paragraph;
    }
    flush_paragraph(&mut paragraph, &mut out);
    out
}

/// Resolve a paragraph's code spans and HTML comments, and keep its lines that start as text.
fn flush_paragraph(paragraph: &mut Vec<&str>, out: &mut Vec<String>) {
    if paragraph.is_empty() {
        return;
    }
    let text = paragraph.join("\n");
    let (code, comment) = inline_spans(&text);
    // Both lists are sorted and disjoint: walk them alongside the text.
    let (mut ci, mut mi) = (0, 0);
    let mut start = 0;
    for line in paragraph.drain(..) {
        let mut kept = String::with_capacity(line.len());
        let mut first_in_code = None;
        for (i, c) in line.char_indices() {
            let at = start + i;
            while comment.get(mi).is_some_and(|r| r.end <= at) {
                mi += 1;
            }
            if comment.get(mi).is_some_and(|r| r.contains(&at)) {
                continue;
            }
            while code.get(ci).is_some_and(|r| r.end <= at) {
                ci += 1;
            }
            if first_in_code.is_none() && !c.is_whitespace() {
                first_in_code = Some(code.get(ci).is_some_and(|r| r.contains(&at)));
            }
            kept.push(c);
        }
        if first_in_code == Some(false) {
            out.push(kept);
        }
        start += line.len() + 1;
    }
}

/// Byte ranges of `text` inside code spans and inside HTML comments, resolved left to right as
/// CommonMark does (a backtick run opens a span only if a run of the same length follows; an
/// unclosed comment is taken to run to the end of the paragraph).
fn inline_spans(text: &str) -> (Vec<std::ops::Range<usize>>, Vec<std::ops::Range<usize>>) {
    let b = text.as_bytes();
    // Every maximal backtick run, by length, in order.
    let mut runs: std::collections::HashMap<usize, Vec<usize>> = Default::default();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let n = b[i..].iter().take_while(|&&x| x == b'`').count();
            runs.entry(n).or_default().push(i);
            i += n;
        } else {
            i += 1;
        }
    }
    let (mut code, mut comment) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let n = b[i..].iter().take_while(|&&x| x == b'`').count();
            let closer = runs.get(&n).and_then(|starts| {
                let k = starts.partition_point(|&s| s < i + n);
                starts.get(k).copied()
            });
            match closer {
                Some(j) => {
                    code.push(i..j + n);
                    i = j + n;
                }
                None => i += n,
            }
        } else if b[i..].starts_with(b"<!--") {
            let end = text[i + 2..].find("-->").map_or(b.len(), |k| i + 2 + k + 3);
            comment.push(i..end);
            i = end;
        } else {
            i += 1;
        }
    }
    (code, comment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmds(body: &str) -> Vec<Parsed> {
        parse_comment(body)
    }

    fn one(c: Command) -> Vec<Parsed> {
        vec![Parsed::Command(c)]
    }

    #[test]
    fn the_four_commands_and_bare_prefix() {
        assert_eq!(cmds("/patchgate recheck"), one(Command::Recheck));
        assert_eq!(cmds("  /PatchGate ReCheck  "), one(Command::Recheck));
        assert_eq!(cmds("/patchgate"), one(Command::Help));
        assert_eq!(cmds("/patchgate help me"), one(Command::Help));
        assert_eq!(
            cmds("/patchgate render-b #124"),
            one(Command::RenderB(RenderBRef::Pr(124)))
        );
        assert_eq!(
            cmds("/patchgate render-b feature/other-agent"),
            one(Command::RenderB(RenderBRef::Ref(
                "feature/other-agent".into()
            )))
        );
        assert_eq!(
            cmds("/patchgate rollback   latency doubled after merge  "),
            one(Command::Rollback {
                reason: Some("latency doubled after merge".into())
            })
        );
        assert_eq!(
            cmds("/patchgate rollback"),
            one(Command::Rollback { reason: None })
        );
    }

    #[test]
    fn a_command_is_only_at_the_start_of_a_line() {
        assert!(cmds("please /patchgate recheck").is_empty());
        assert!(cmds("/patchgaterecheck").is_empty());
        assert!(cmds("- /patchgate recheck").is_empty());
        assert!(cmds("`/patchgate rollback` reverts a merge").is_empty());
        assert!(cmds("run `/patchgate rollback` to revert").is_empty());
    }

    #[test]
    fn crlf_and_several_commands() {
        let got = cmds("thanks!\r\n/patchgate recheck\r\n\r\n/patchgate rollback flaky\r\n");
        assert_eq!(
            got,
            vec![
                Parsed::Command(Command::Recheck),
                Parsed::Command(Command::Rollback {
                    reason: Some("flaky".into())
                })
            ]
        );
    }

    #[test]
    fn at_most_ten_commands() {
        let body = "/patchgate recheck\n".repeat(25);
        assert_eq!(cmds(&body).len(), MAX_COMMANDS);
    }

    #[test]
    fn unknown_commands_get_a_suggestion() {
        assert_eq!(
            cmds("/patchgate rechek"),
            vec![Parsed::Unknown {
                word: "rechek".into(),
                suggestion: Some("recheck")
            }]
        );
        assert_eq!(
            cmds("/patchgate roll"),
            vec![Parsed::Unknown {
                word: "roll".into(),
                suggestion: Some("rollback")
            }]
        );
        assert_eq!(
            cmds("/patchgate render_b #3"),
            vec![Parsed::Unknown {
                word: "render_b".into(),
                suggestion: Some("render-b")
            }]
        );
        assert_eq!(
            cmds("/patchgate deploy"),
            vec![Parsed::Unknown {
                word: "deploy".into(),
                suggestion: None
            }]
        );
        let reply = reply_unknown("rechek", Some("recheck"));
        assert!(
            reply.starts_with(
                "Unknown command `/patchgate rechek`. Did you mean `/patchgate recheck`?"
            ),
            "{reply}"
        );
        assert!(reply.contains("`/patchgate help`"), "{reply}");
        let tricky = reply_unknown("a`b", None);
        assert!(tricky.contains("`` /patchgate a`b ``"), "{tricky}");
    }

    #[test]
    fn bad_arguments_are_invalid_not_unknown() {
        for body in [
            "/patchgate render-b",
            "/patchgate render-b #0",
            "/patchgate render-b #x",
            "/patchgate render-b two words",
            "/patchgate render-b main..evil",
            "/patchgate render-b -rf",
            "/patchgate render-b a\u{7}b",
            "/patchgate recheck now please",
        ] {
            let got = cmds(body);
            assert!(
                matches!(got.as_slice(), [Parsed::Invalid { .. }]),
                "{body:?}: {got:?}"
            );
        }
        let long = format!("/patchgate render-b {}", "a".repeat(256));
        assert!(matches!(cmds(&long).as_slice(), [Parsed::Invalid { .. }]));
    }

    #[test]
    fn a_long_reason_is_truncated() {
        let body = format!("/patchgate rollback {}", "é".repeat(600));
        match cmds(&body).as_slice() {
            [Parsed::Command(Command::Rollback { reason: Some(r) })] => {
                assert_eq!(r.chars().count(), MAX_REASON_CHARS)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn code_quotes_and_comments_are_not_commands() {
        for body in [
            "```\n/patchgate rollback\n```",
            "```sh title=\"x\"\n/patchgate rollback\n```",
            "~~~\n/patchgate rollback\n~~~",
            "````\n```\n/patchgate rollback\n````",
            "```\nunclosed\n/patchgate rollback",
            "text\n\n    /patchgate rollback",
            "\t/patchgate rollback",
            "> /patchgate rollback",
            "> > /patchgate rollback",
            "> quoted\n/patchgate rollback",
            "<!-- /patchgate rollback -->",
            "<!--\n/patchgate rollback\n-->",
            "<!-- unclosed\n\n/patchgate rollback",
            "see ``\n/patchgate rollback\n`` above",
            "- ```\n  /patchgate rollback\n  ```",
            "1. > /patchgate rollback",
        ] {
            assert!(cmds(body).is_empty(), "{body:?}: {:?}", cmds(body));
        }
    }

    #[test]
    fn text_after_code_and_quotes_still_counts() {
        assert_eq!(
            cmds("```\nx\n```\n/patchgate recheck"),
            one(Command::Recheck)
        );
        assert_eq!(
            cmds("> quoted\n\n/patchgate recheck"),
            one(Command::Recheck)
        );
        assert_eq!(
            cmds("<!-- a -->\n/patchgate recheck"),
            one(Command::Recheck)
        );
        assert_eq!(
            cmds("para\n    /patchgate recheck"),
            one(Command::Recheck),
            "an indented line cannot interrupt a paragraph"
        );
        assert_eq!(cmds("`a` b\n/patchgate recheck"), one(Command::Recheck));
        assert_eq!(
            cmds("/patchgate rollback broke prod <!-- internal note -->"),
            one(Command::Rollback {
                reason: Some("broke prod".into())
            })
        );
    }

    #[test]
    fn needs_write_for_all_but_help() {
        assert!(needs_write(&Command::Recheck));
        assert!(needs_write(&Command::Rollback { reason: None }));
        assert!(needs_write(&Command::RenderB(RenderBRef::Pr(1))));
        assert!(!needs_write(&Command::Help));
        let help = help_text();
        for c in COMMANDS {
            assert!(help.contains(&format!("/patchgate {c}")), "{c}");
        }
        assert!(help.contains("write access"));
    }

    #[test]
    fn approve_and_block_are_votes_and_need_a_reason() {
        assert_eq!(
            parse_vote("approve", " read both renders; B's loop is equivalent "),
            Some(Ok(VoteCommand {
                verdict: HumanVerdict::Approve,
                reason: "read both renders; B's loop is equivalent".into()
            }))
        );
        assert_eq!(
            parse_vote("BLOCK", "not this release")
                .unwrap()
                .unwrap()
                .verdict,
            HumanVerdict::Block
        );
        assert!(parse_vote("approve", "  ")
            .unwrap()
            .unwrap_err()
            .contains("needs a reason"));
        assert_eq!(parse_vote("recheck", "x"), None);
        let long = "x".repeat(900);
        assert_eq!(
            parse_vote("approve", &long)
                .unwrap()
                .unwrap()
                .reason
                .chars()
                .count(),
            MAX_REASON_CHARS
        );
        assert_eq!(
            cmds("/PatchGate APPROVE  lgtm, read both renders "),
            one(Command::Vote(VoteCommand {
                verdict: HumanVerdict::Approve,
                reason: "lgtm, read both renders".into()
            }))
        );
        assert_eq!(
            cmds("/patchgate block not this release"),
            one(Command::Vote(VoteCommand {
                verdict: HumanVerdict::Block,
                reason: "not this release".into()
            }))
        );
        assert!(needs_write(&Command::Vote(VoteCommand {
            verdict: HumanVerdict::Block,
            reason: "r".into()
        })));
        let help = help_text();
        assert!(help.contains("`/patchgate approve <reason>`"), "{help}");
        assert!(help.contains("default maintain"), "{help}");
        match cmds("/patchgate block").as_slice() {
            [Parsed::Invalid {
                command: "block",
                message,
            }] => {
                assert!(message.contains("needs a reason"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(cmds("> /patchgate approve lgtm").is_empty());
        assert_eq!(
            cmds("/patchgate aprove ok"),
            vec![Parsed::Unknown {
                word: "aprove".into(),
                suggestion: Some("approve")
            }]
        );
        assert_eq!(did_you_mean("blok", &COMMANDS), Some("block"));
    }

    #[test]
    fn render_of_lines() {
        assert_eq!(render_of("Render-Of: #12"), Some(12));
        assert_eq!(render_of("intro\r\nrender-of :#12\r\n"), Some(12));
        assert_eq!(render_of("RENDER-OF:   #7 (the other agent)"), Some(7));
        assert_eq!(render_of("Render-Of: #0"), None);
        assert_eq!(render_of("Render-Of: 12"), None);
        assert_eq!(render_of("```\nRender-Of: #12\n```"), None);
        assert_eq!(render_of("> Render-Of: #12"), None);
        assert_eq!(render_of("<!-- Render-Of: #12 -->"), None);
        assert_eq!(render_of("Render-Of: #1\nRender-Of: #2"), None);
        assert_eq!(render_of("Render-Of: #3\nRender-Of: #3"), Some(3));
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("rollbakc", &COMMANDS), Some("rollback"));
        assert_eq!(did_you_mean("RECHECK", &COMMANDS), Some("recheck"));
        assert_eq!(did_you_mean("r", &COMMANDS), None);
        assert_eq!(did_you_mean("", &COMMANDS), None);
    }

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "```",
            "~~~",
            "> ",
            ">",
            "<!--",
            "-->",
            "`",
            "``",
            "    ",
            "\t",
            "/patchgate ",
            "/PATCHGATE",
            "rollback",
            "render-b",
            "#1",
            "#0",
            "\r\n",
            "\n",
            "\n\n",
            "x",
            " ",
            "- ",
            "1. ",
            "é",
            "\r",
            "..",
            "-",
            "\u{0}",
        ])
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in any::<String>()) {
            let got = parse_comment(&s);
            prop_assert!(got.len() <= MAX_COMMANDS);
            let _ = render_of(&s);
        }

        #[test]
        fn never_panics_on_markdown_soup(pieces in prop::collection::vec(piece(), 0..60)) {
            let s: String = pieces.concat();
            let got = parse_comment(&s);
            prop_assert!(got.len() <= MAX_COMMANDS);
            let _ = render_of(&s);
        }

        #[test]
        fn a_command_in_a_fenced_block_is_never_returned(
            before in prop::collection::vec("[a-zA-Z0-9 /#.-]{0,30}", 0..4),
            fence_char in prop::sample::select(vec!['`', '~']),
            fence_len in 3usize..6,
            fence_indent in 0usize..4,
            info in "[a-z ]{0,10}",
            inside in prop::collection::vec("[a-zA-Z0-9 >#<!-]{0,20}", 0..4),
            closed in any::<bool>(),
            crlf in any::<bool>(),
            after in prop::collection::vec("[a-zA-Z0-9 /#.-]{0,30}", 0..4),
        ) {
            let fence = fence_char.to_string().repeat(fence_len);
            let mut lines: Vec<String> = before.clone();
            lines.push(format!("{}{fence}{info}", " ".repeat(fence_indent)));
            lines.extend(inside.iter().cloned());
            lines.push("/patchgate rollback FENCED-MARKER".to_string());
            lines.push("  /patchgate render-b fenced-marker".to_string());
            lines.extend(inside.iter().cloned());
            if closed {
                lines.push(fence.clone());
                lines.extend(after.iter().cloned());
            }
            let body = lines.join(if crlf { "\r\n" } else { "\n" });
            for p in parse_comment(&body) {
                let shown = format!("{p:?}");
                prop_assert!(!shown.to_lowercase().contains("fenced-marker"), "{body:?}: {shown}");
            }
        }
    }
}
