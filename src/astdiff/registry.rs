//! The language registry: which grammar parses a file, and how its syntax is normalised.
//!
//! Everything language-specific lives in `grammars/languages.toml` as data — file extensions,
//! the grammar, comment kinds, the kinds that name entities (functions, classes, …) and the
//! normalisation rules that keep formatters' choices (quote style, trailing commas, redundant
//! parentheses, import order, hex letter case) out of the comparison. `build.rs` turns the
//! grammar names into a table of grammar constants, so adding a language is one registry entry
//! plus one grammar dependency, with no other code.
//!
//! Loading validates the registry against each grammar: a kind name the grammar does not know is
//! an error, so a typo cannot silently switch a rule off.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/grammars.rs"));

/// The registry shipped inside the binary.
pub const EMBEDDED_REGISTRY: &str = include_str!("../../grammars/languages.toml");

/// Tokens that carry no meaning once the tree is built: separators and delimiters. Formatters
/// add and drop them freely (trailing commas, optional semicolons, parentheses).
const DEFAULT_DROP_TOKENS: &[&str] = &[",", ";", "(", ")", "{", "}", "[", "]", "\"", "'", "`"];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("language registry is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("language `{language}`: grammar `{grammar}` is not compiled in (add the grammar crate to Cargo.toml)")]
    UnknownGrammar { language: String, grammar: String },
    #[error("language `{language}`: the grammar has no node kind `{kind}` (used in `{field}`)")]
    UnknownKind {
        language: String,
        kind: String,
        field: &'static str,
    },
    #[error("language `{language}`: grammar ABI is incompatible with tree-sitter: {detail}")]
    Incompatible { language: String, detail: String },
    #[error("language `{0}` is registered twice")]
    Duplicate(String),
}

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
struct RegistryFile {
    language: Vec<LanguageSpec>,
}

/// Per-kind flags, indexed by tree-sitter kind id.
pub(crate) mod flag {
    pub const COMMENT: u16 = 1;
    pub const IGNORE: u16 = 1 << 1;
    pub const STRING: u16 = 1 << 2;
    pub const CASE_INSENSITIVE: u16 = 1 << 3;
    pub const LEAF: u16 = 1 << 4;
    pub const UNWRAP: u16 = 1 << 5;
    pub const SORTED: u16 = 1 << 6;
    pub const SORTED_CHILDREN: u16 = 1 << 7;
    pub const DROP: u16 = 1 << 8;
    pub const ENTITY: u16 = 1 << 9;
    pub const ESCAPE: u16 = 1 << 10;
    pub const CONCAT: u16 = 1 << 11;
    pub const MACRO: u16 = 1 << 12;
    pub const HEREDOC_CONTENT: u16 = 1 << 13;
    pub const HEREDOC_END: u16 = 1 << 14;
    pub const VALUE: u16 = 1 << 15;
}

/// How escape sequences compare (`escapes` in the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// Hex digit case and escaped quotes only.
    Spelling,
    /// Python: every escape decodes (`\u`/`\U`/`\N` not in bytes).
    Python,
    /// JSON: every escape decodes, UTF-16 surrogate pairs joined.
    Json,
}

/// One compiled unwrap rule (several may name one kind).
#[derive(Debug, Clone, Default)]
pub(crate) struct Unwrap {
    /// Allowed parent kinds (empty: any).
    pub parents: Vec<u16>,
    /// Required kind of the only child.
    pub child: Option<u16>,
    /// Anonymous token kinds that do not count beside the child.
    pub ignore: Vec<u16>,
    /// A `,` among the ignored tokens: a trailing comma does not block.
    pub comma_ok: bool,
}

/// A compiled language: the grammar plus kind-id indexed tables for the hot path.
pub struct Language {
    pub spec: LanguageSpec,
    pub ts: tree_sitter::Language,
    flags: Vec<u16>,
    /// kind id -> (entity label, name field id)
    entity: FxHashMap<u16, (String, Option<u16>)>,
    /// kind id -> its unwrap rules
    unwrap_rules: FxHashMap<u16, Vec<Unwrap>>,
    /// kind id -> the kind id it compares as (`equivalent_kinds`); identity otherwise.
    canon: Vec<u16>,
    /// kind id -> sort group (0: none); consecutive siblings of one group sort as one run.
    sort_group: Vec<u16>,
    /// kind id -> field id whose children sort among themselves.
    sorted_field: FxHashMap<u16, u16>,
    pub(crate) escapes: Escapes,
    /// kind id -> dropped when holding only a whitespace string (`space_kinds`).
    space: Vec<bool>,
}

impl std::fmt::Debug for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Language")
            .field("name", &self.spec.name)
            .finish()
    }
}

impl Language {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    #[inline]
    pub(crate) fn flags(&self, kind: u16) -> u16 {
        self.flags.get(kind as usize).copied().unwrap_or(0)
    }

    /// Entity label and name field for a kind, when it names an entity.
    pub(crate) fn entity(&self, kind: u16) -> Option<(&str, Option<u16>)> {
        self.entity.get(&kind).map(|(l, f)| (l.as_str(), *f))
    }

    /// The kind a node of `kind` is compared as.
    #[inline]
    pub(crate) fn canon(&self, kind: u16) -> u16 {
        self.canon.get(kind as usize).copied().unwrap_or(kind)
    }

    /// The unwrap rules of `kind` that apply under a parent of `parent_kind`.
    pub(crate) fn unwrap_rules(
        &self,
        kind: u16,
        parent_kind: Option<u16>,
    ) -> impl Iterator<Item = &Unwrap> + '_ {
        self.unwrap_rules
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(move |r| {
                r.parents.is_empty() || parent_kind.is_some_and(|p| r.parents.contains(&p))
            })
    }

    /// Whether a node of `kind` under a parent of `parent_kind` may unwrap to its only child.
    pub(crate) fn unwraps(&self, kind: u16, parent_kind: Option<u16>) -> bool {
        self.unwrap_rules(kind, parent_kind).next().is_some()
    }

    /// The sort group of a kind (0: not sorted among its siblings).
    #[inline]
    pub(crate) fn sort_group(&self, kind: u16) -> u16 {
        self.sort_group.get(kind as usize).copied().unwrap_or(0)
    }

    /// Whether a node of `kind` goes when all it holds is a whitespace-only string.
    #[inline]
    pub(crate) fn is_space_kind(&self, kind: u16) -> bool {
        self.space.get(kind as usize).copied().unwrap_or(false)
    }

    /// The field whose children sort among themselves in a node of `kind`.
    pub(crate) fn sorted_field(&self, kind: u16) -> Option<u16> {
        self.sorted_field.get(&kind).copied()
    }

    fn compile(spec: LanguageSpec) -> Result<Self, RegistryError> {
        let lang_fn = GRAMMARS
            .iter()
            .find(|(path, _)| *path == spec.grammar.trim())
            .map(|(_, f)| *f)
            .ok_or_else(|| RegistryError::UnknownGrammar {
                language: spec.name.clone(),
                grammar: spec.grammar.clone(),
            })?;
        let ts: tree_sitter::Language = lang_fn.into();
        // Fail early when the grammar cannot be loaded by this tree-sitter.
        tree_sitter::Parser::new()
            .set_language(&ts)
            .map_err(|e| RegistryError::Incompatible {
                language: spec.name.clone(),
                detail: e.to_string(),
            })?;

        let count = ts.node_kind_count();
        let mut by_name: FxHashMap<&str, Vec<(u16, bool)>> = FxHashMap::default();
        for id in 0..count as u16 {
            if let Some(name) = ts.node_kind_for_id(id) {
                by_name
                    .entry(name)
                    .or_default()
                    .push((id, ts.node_kind_is_named(id)));
            }
        }
        // A name can be both a node and a keyword token (`module`, `class`, `string`): a rule
        // names the node, so anonymous ids count only when the grammar has no named one.
        let lookup = |kind: &str, field: &'static str| -> Result<Vec<u16>, RegistryError> {
            match by_name.get(kind) {
                Some(ids) if ids.iter().any(|(_, named)| *named) => Ok(ids
                    .iter()
                    .filter(|(_, named)| *named)
                    .map(|(id, _)| *id)
                    .collect()),
                Some(ids) => Ok(ids.iter().map(|(id, _)| *id).collect()),
                None => Err(RegistryError::UnknownKind {
                    language: spec.name.clone(),
                    kind: kind.to_string(),
                    field,
                }),
            }
        };

        let mut flags = vec![0u16; count];
        let mut set =
            |kinds: &[String], field: &'static str, bit: u16| -> Result<(), RegistryError> {
                for k in kinds {
                    for id in lookup(k, field)? {
                        flags[id as usize] |= bit;
                    }
                }
                Ok(())
            };
        set(&spec.comment_kinds, "comment_kinds", flag::COMMENT)?;
        set(&spec.ignore_kinds, "ignore_kinds", flag::IGNORE)?;
        set(&spec.string_kinds, "string_kinds", flag::STRING)?;
        set(
            &spec.case_insensitive_kinds,
            "case_insensitive_kinds",
            flag::CASE_INSENSITIVE,
        )?;
        set(&spec.leaf_kinds, "leaf_kinds", flag::LEAF)?;
        set(&spec.sorted_kinds, "sorted_kinds", flag::SORTED)?;
        set(&spec.escape_kinds, "escape_kinds", flag::ESCAPE)?;
        set(&spec.concat_kinds, "concat_kinds", flag::CONCAT)?;
        set(&spec.macro_kinds, "macro_kinds", flag::MACRO | flag::LEAF)?;
        set(&spec.value_kinds, "value_kinds", flag::VALUE)?;
        if let Some(h) = &spec.heredoc {
            set(
                std::slice::from_ref(&h.content),
                "heredoc.content",
                flag::HEREDOC_CONTENT,
            )?;
            set(
                std::slice::from_ref(&h.end),
                "heredoc.end",
                flag::HEREDOC_END,
            )?;
        }
        set(
            &spec.sorted_children,
            "sorted_children",
            flag::SORTED_CHILDREN,
        )?;

        // Dropped tokens apply to anonymous nodes only: a named node is never dropped.
        let default_drop: Vec<String> = DEFAULT_DROP_TOKENS.iter().map(|s| s.to_string()).collect();
        let drop = spec.drop_tokens.as_ref().unwrap_or(&default_drop);
        for tok in drop {
            if let Some(ids) = by_name.get(tok.as_str()) {
                for (id, named) in ids {
                    if !named {
                        flags[*id as usize] |= flag::DROP;
                    }
                }
            }
        }

        let mut unwrap_rules: FxHashMap<u16, Vec<Unwrap>> = FxHashMap::default();
        for rule in &spec.unwrap {
            let parents = match &rule.parent {
                Some(p) => lookup(p, "unwrap.parent")?,
                None => Vec::new(),
            };
            let child = match &rule.child {
                Some(c) => lookup(c, "unwrap.child")?.first().copied(),
                None => None,
            };
            let mut ignore = Vec::new();
            for tok in &rule.ignore_tokens {
                let ids: Vec<u16> = by_name
                    .get(tok.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|(_, named)| !named)
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    return Err(RegistryError::UnknownKind {
                        language: spec.name.clone(),
                        kind: tok.clone(),
                        field: "unwrap.ignore_tokens",
                    });
                }
                ignore.extend(ids);
            }
            let compiled = Unwrap {
                parents,
                child,
                ignore,
                comma_ok: rule.ignore_tokens.iter().any(|t| t == ","),
            };
            for id in lookup(&rule.kind, "unwrap.kind")? {
                flags[id as usize] |= flag::UNWRAP;
                unwrap_rules.entry(id).or_default().push(compiled.clone());
            }
        }

        // Each sorted kind is a group of its own; each `sorted_groups` entry one group.
        let mut sort_group = vec![0u16; count];
        let mut groups: Vec<Vec<&String>> = spec.sorted_kinds.iter().map(|k| vec![k]).collect();
        groups.extend(spec.sorted_groups.iter().map(|g| g.iter().collect()));
        for (i, group) in groups.iter().enumerate() {
            for k in group {
                for id in lookup(k, "sorted_groups")? {
                    flags[id as usize] |= flag::SORTED;
                    sort_group[id as usize] = i as u16 + 1;
                }
            }
        }
        let mut sorted_field = FxHashMap::default();
        for sf in &spec.sorted_fields {
            let field = ts
                .field_id_for_name(&sf.field)
                .map(|f| f.get())
                .ok_or_else(|| RegistryError::UnknownKind {
                    language: spec.name.clone(),
                    kind: sf.field.clone(),
                    field: "sorted_fields.field",
                })?;
            for id in lookup(&sf.kind, "sorted_fields.kind")? {
                sorted_field.insert(id, field);
            }
        }
        let mut space = vec![false; count];
        for k in &spec.space_kinds {
            for id in lookup(k, "space_kinds")? {
                space[id as usize] = true;
            }
        }
        for r in &spec.repairs {
            let bad = [&r.before, &r.insert]
                .iter()
                .any(|t| t.trim().is_empty() || t.contains('\n'));
            if bad || !by_name.contains_key(r.keyword.as_str()) {
                return Err(RegistryError::UnknownKind {
                    language: spec.name.clone(),
                    kind: format!("{} … {:?} / {:?}", r.keyword, r.before, r.insert),
                    field: "repairs (a keyword kind, one-line `before` and `insert` texts)",
                });
            }
        }
        let escapes = match spec.escapes.as_deref() {
            None => Escapes::Spelling,
            Some("python") => Escapes::Python,
            Some("json") => Escapes::Json,
            Some(other) => {
                return Err(RegistryError::UnknownKind {
                    language: spec.name.clone(),
                    kind: other.to_string(),
                    field: "escapes (python or json)",
                })
            }
        };

        let mut entity = FxHashMap::default();
        for e in &spec.entities {
            let field = e.name_field.as_deref().unwrap_or("name");
            let field_id = ts.field_id_for_name(field).map(|f| f.get());
            if e.name_field.is_some() && field_id.is_none() {
                return Err(RegistryError::UnknownKind {
                    language: spec.name.clone(),
                    kind: field.to_string(),
                    field: "entities.name_field",
                });
            }
            for id in lookup(&e.kind, "entities.kind")? {
                flags[id as usize] |= flag::ENTITY;
                entity.insert(id, (e.label.clone(), field_id));
            }
        }

        let mut canon: Vec<u16> = (0..count as u16).collect();
        for group in &spec.equivalent_kinds {
            let mut ids = Vec::new();
            for k in group {
                ids.extend(lookup(k, "equivalent_kinds")?);
            }
            if let Some(&first) = ids.first() {
                for id in ids {
                    canon[id as usize] = first;
                }
            }
        }

        Ok(Language {
            spec,
            ts,
            flags,
            entity,
            unwrap_rules,
            canon,
            sort_group,
            sorted_field,
            escapes,
            space,
        })
    }
}

/// All registered languages, with lookup by file name.
///
/// A language is compiled (its grammar's kind names resolved into the tables above) when it is
/// first asked for: a command that diffs one Python file pays for Python only. [`Registry::from_toml`]
/// compiles and so validates every language at once; [`Registry::embedded`] defers it, since the
/// embedded registry is validated by the tests of this module (`every_embedded_language_compiles`).
#[derive(Debug)]
pub struct Registry {
    slots: Vec<Slot>,
    by_extension: FxHashMap<String, usize>,
    by_filename: FxHashMap<String, usize>,
}

#[derive(Debug)]
struct Slot {
    spec: LanguageSpec,
    lang: std::sync::OnceLock<Language>,
}

impl Registry {
    /// The registry compiled into the binary (`grammars/languages.toml`); each language is
    /// compiled on first use.
    pub fn embedded() -> Result<Self, RegistryError> {
        Self::parse(EMBEDDED_REGISTRY)
    }

    /// Parse and validate a registry (every language compiled now).
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let reg = Self::parse(text)?;
        for slot in &reg.slots {
            let lang = Language::compile(slot.spec.clone())?;
            let _ = slot.lang.set(lang);
        }
        Ok(reg)
    }

    /// Parse the TOML and index the languages by file name, compiling none.
    fn parse(text: &str) -> Result<Self, RegistryError> {
        let file: RegistryFile = toml::from_str(text)?;
        let mut slots: Vec<Slot> = Vec::with_capacity(file.language.len());
        let mut by_extension = FxHashMap::default();
        let mut by_filename = FxHashMap::default();
        for spec in file.language {
            if slots.iter().any(|l| l.spec.name == spec.name) {
                return Err(RegistryError::Duplicate(spec.name));
            }
            let idx = slots.len();
            for ext in &spec.extensions {
                by_extension.insert(ext.trim_start_matches('.').to_ascii_lowercase(), idx);
            }
            for name in &spec.filenames {
                by_filename.insert(name.clone(), idx);
            }
            slots.push(Slot {
                spec,
                lang: std::sync::OnceLock::new(),
            });
        }
        Ok(Registry {
            slots,
            by_extension,
            by_filename,
        })
    }

    /// The compiled language of slot `i`.
    fn get(&self, i: usize) -> &Language {
        let slot = &self.slots[i];
        slot.lang.get_or_init(|| {
            // Only the embedded registry compiles lazily, and its tests compile every language.
            Language::compile(slot.spec.clone())
                .unwrap_or_else(|e| panic!("the embedded language registry does not compile: {e}"))
        })
    }

    /// Every language, compiled.
    pub fn languages(&self) -> Vec<&Language> {
        (0..self.slots.len()).map(|i| self.get(i)).collect()
    }

    pub fn by_name(&self, name: &str) -> Option<&Language> {
        let i = self.slots.iter().position(|s| s.spec.name == name)?;
        Some(self.get(i))
    }

    /// The language of a path, from its file name or extension.
    pub fn for_path(&self, path: &Path) -> Option<&Language> {
        let file_name = path.file_name()?.to_str()?;
        if let Some(&i) = self.by_filename.get(file_name) {
            return Some(self.get(i));
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        self.by_extension.get(&ext).map(|&i| self.get(i))
    }
}

#[cfg(test)]
mod tests;
