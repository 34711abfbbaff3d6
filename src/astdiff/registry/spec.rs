//! The registry as written: the `[[language]]` entries of `grammars/languages.toml`.

use serde::Deserialize;

/// One `[[language]]` entry of `grammars/languages.toml`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSpec {
    /// Stable name, e.g. `rust`, shown in reports.
    pub name: String,
    /// Rust path to the grammar's `LanguageFn` constant, e.g. `tree_sitter_rust::LANGUAGE`.
    pub grammar: String,
    /// File extensions without the dot, matched case-insensitively.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Exact file names (e.g. `Gemfile`), for files without a telling extension.
    #[serde(default)]
    pub filenames: Vec<String>,
    /// Comment node kinds: outside the comparison unless comments are counted.
    #[serde(default)]
    pub comment_kinds: Vec<String>,
    /// Other node kinds outside the comparison (e.g. a shebang line).
    #[serde(default)]
    pub ignore_kinds: Vec<String>,
    /// String literal kinds: compared by their decoded content, so the quote style never counts.
    #[serde(default)]
    pub string_kinds: Vec<String>,
    /// Leaf kinds compared case-insensitively (number literals: `0xFF` = `0xff`).
    #[serde(default)]
    pub case_insensitive_kinds: Vec<String>,
    /// Kinds compared as one leaf on their text (whitespace-normalised), children ignored.
    #[serde(default)]
    pub leaf_kinds: Vec<String>,
    /// Wrappers replaced by their only remaining child (redundant parentheses, a block around
    /// a single match-arm expression).
    #[serde(default)]
    pub unwrap: Vec<UnwrapRule>,
    /// Consecutive siblings of these kinds are compared in sorted order (imports, attributes).
    #[serde(default)]
    pub sorted_kinds: Vec<String>,
    /// The children of these kinds are compared in sorted order (`use a::{b, c}` lists).
    #[serde(default)]
    pub sorted_children: Vec<String>,
    /// Anonymous tokens dropped from the tree. Defaults to separators and delimiters.
    #[serde(default)]
    pub drop_tokens: Option<Vec<String>>,
    /// Node kinds that name entities, for the edit script and the cosmetic/semantic report.
    #[serde(default)]
    pub entities: Vec<EntitySpec>,
    /// Groups of kinds that compare as one kind: spellings of the same thing that a formatter
    /// switches between (`'x'` / `"x"` scalars in YAML, `a, b = …` / `(a, b) = …` in Python).
    /// The first kind of a group is the one reports show.
    #[serde(default)]
    pub equivalent_kinds: Vec<Vec<String>>,
    /// String contents compare with runs of whitespace folded to one space (YAML folds line
    /// breaks inside flow scalars; in most languages whitespace in a string is meaning).
    #[serde(default)]
    pub fold_string_whitespace: bool,
    /// Groups of kinds whose consecutive siblings form one sorted run, whatever their mix
    /// (Python `import os` and `from a import b`); `sorted_kinds` sorts runs of one kind.
    #[serde(default)]
    pub sorted_groups: Vec<Vec<String>>,
    /// The children of `kind` filling `field` compare in sorted order among themselves, the
    /// other children staying where they are (`from a import c, b`: the names, not the module).
    #[serde(default)]
    pub sorted_fields: Vec<SortedField>,
    /// Escape sequences inside string kinds: compared by what they denote (see `escapes`)
    /// rather than by their spelling, so `'\xFF'` = `'\xff'`.
    #[serde(default)]
    pub escape_kinds: Vec<String>,
    /// How escapes decode: `"python"` or `"json"` decode every escape to the character it
    /// denotes (`'\033'` = `'\x1b'`, `"\u00e9"` = `"é"`); absent, only the case of the hex
    /// digits of `\x`/`\u`/`\U` escapes and escaped quotes are normalised (safe everywhere).
    #[serde(default)]
    pub escapes: Option<String>,
    /// Kinds of adjacent string literals (`"a" "b"`) compared as the one string they make,
    /// when every part is a string kind (`"%" PRIu64` stays as it is).
    #[serde(default)]
    pub concat_kinds: Vec<String>,
    /// Macro bodies (raw text to the grammar) compared as C tokens: line splices
    /// (backslash-newline) removed, whitespace kept only where it separates tokens, adjacent
    /// string literals joined.
    #[serde(default)]
    pub macro_kinds: Vec<String>,
    /// Heredoc bodies whose indentation is layout: see [`HeredocSpec`].
    #[serde(default)]
    pub heredoc: Option<HeredocSpec>,
    /// Number literals compared by the value they denote (Python: `0xFF` = `255`, `1_000` =
    /// `1000`, `1.5E3` = `1500.0`; an int never equals a float).
    #[serde(default)]
    pub value_kinds: Vec<String>,
    /// Expression containers dropped when all they hold is a whitespace-only string: JSX
    /// `{" "}`, which prettier writes where it breaks a line of JSX text (the text itself is
    /// compared whitespace-normalised, `leaf_kinds`).
    #[serde(default)]
    pub space_kinds: Vec<String>,
    /// Text the language allows and the grammar lacks, put back when tree-sitter failed: in a
    /// file with a syntax error, a line that begins with the token `keyword`, a name, then
    /// `before` gets `insert` before `before`, and the file is parsed again (`tree::repair`). Bash:
    /// `for arg do` = `for arg; do`.
    #[serde(default)]
    pub repairs: Vec<RepairSpec>,
}

/// One repair: see [`LanguageSpec::repairs`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairSpec {
    /// The kind of the keyword token that opens the construct (`for`).
    pub keyword: String,
    /// The text of the token the grammar wants something before (`do`).
    pub before: String,
    /// What it wants there, on the same line (`;`).
    pub insert: String,
}

/// Sort the children of `kind` that fill `field`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortedField {
    pub kind: String,
    pub field: String,
}

/// Heredocs: `content` pieces of a body, and the `end` marker after them. The indentation in
/// front of the end marker is never content; in a body opened by `squiggly` (Ruby `<<~`) the
/// language strips the common indentation of the body's lines, so that is layout too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeredocSpec {
    pub content: String,
    pub end: String,
    pub squiggly: String,
}

/// Replace a `kind` node that has exactly one child left by that child — only under `parent`
/// when one is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnwrapRule {
    pub kind: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// Only when that only child is of this kind.
    #[serde(default)]
    pub child: Option<String>,
    /// Tokens that do not count beside the only child: a leading `|` of a one-member union,
    /// or a trailing `,` that does not make a tuple (a parameter list).
    #[serde(default)]
    pub ignore_tokens: Vec<String>,
}

/// A node kind that names an entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    pub kind: String,
    /// What a reader calls it: `fn`, `class`, `method`, `impl`, …
    pub label: String,
    /// The field holding its name; `name` when omitted. When the field is absent on a node, the
    /// first identifier-like named child is used.
    #[serde(default)]
    pub name_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistryFile {
    pub(super) language: Vec<LanguageSpec>,
}
