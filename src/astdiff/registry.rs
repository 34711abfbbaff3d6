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
#[derive(Debug)]
pub struct Registry {
    languages: Vec<Language>,
    by_extension: FxHashMap<String, usize>,
    by_filename: FxHashMap<String, usize>,
}

impl Registry {
    /// The registry compiled into the binary (`grammars/languages.toml`).
    pub fn embedded() -> Result<Self, RegistryError> {
        Self::from_toml(EMBEDDED_REGISTRY)
    }

    /// Parse and validate a registry.
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let file: RegistryFile = toml::from_str(text)?;
        let mut languages: Vec<Language> = Vec::with_capacity(file.language.len());
        let mut by_extension = FxHashMap::default();
        let mut by_filename = FxHashMap::default();
        for spec in file.language {
            if languages.iter().any(|l| l.spec.name == spec.name) {
                return Err(RegistryError::Duplicate(spec.name));
            }
            let idx = languages.len();
            for ext in &spec.extensions {
                by_extension.insert(ext.trim_start_matches('.').to_ascii_lowercase(), idx);
            }
            for name in &spec.filenames {
                by_filename.insert(name.clone(), idx);
            }
            languages.push(Language::compile(spec)?);
        }
        Ok(Registry {
            languages,
            by_extension,
            by_filename,
        })
    }

    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    pub fn by_name(&self, name: &str) -> Option<&Language> {
        self.languages.iter().find(|l| l.spec.name == name)
    }

    /// The language of a path, from its file name or extension.
    pub fn for_path(&self, path: &Path) -> Option<&Language> {
        let file_name = path.file_name()?.to_str()?;
        if let Some(&i) = self.by_filename.get(file_name) {
            return Some(&self.languages[i]);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        self.by_extension.get(&ext).map(|&i| &self.languages[i])
    }
}

#[cfg(test)]
mod tests {
    //! The registry is data; these tests hold it to the grammars. Each language has realistic
    //! samples that must parse cleanly, and every kind the registry names must occur in them —
    //! a kind the grammar knows but never produces (an alias, a hidden rule) would silently
    //! switch a rule off. A small reference reading of the schema (`canon`) checks that the
    //! normalisation rules make the formatter variants they target compare equal.

    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use tree_sitter::Node;

    /// A realistic source of `lang`, under a path that must resolve to `lang`.
    struct Sample {
        lang: &'static str,
        path: &'static str,
        src: &'static str,
    }

    const fn sample(lang: &'static str, path: &'static str, src: &'static str) -> Sample {
        Sample { lang, path, src }
    }

    const LANGUAGES: &[&str] = &[
        "rust",
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "bash",
        "json",
        "yaml",
        "toml",
    ];

    /// TypeScript shared by the `typescript` and `tsx` samples (no `<T>x` casts: not TSX).
    macro_rules! ts_sample {
        () => {
            r##"#!/usr/bin/env ts-node
import { b, a } from "./mod";
import type { Options } from './types';
<!-- legacy html comment
// Line comment.
/* Block comment. */
export { a, b };

export interface Shape {
  name: string;
  area(): number;
}

export type Id = string | (number);

enum Color { Red = 0xFF, Green }

declare module "ambient" {
  export function helper(x: number): void;
}

namespace Geometry {
  export const PI = 3.14E0;
}

function pick(x: string): string;
function pick(x: any) { return x; }

function* ids() { yield `id-${1}`; }

abstract class Base {
  abstract size(): number;
}

class Square extends Base implements Shape {
  name = 'square';
  constructor(private side: number) { super(); }
  size() { return (this.side) * this.side; }
  area(): number { return this.size(); }
}

const double = (x) => x * 2;
const triple = x => x * 3;
let opts: Options | undefined;

for (let i = 0; i < 3; i++) { opts = undefined; }
for (const k in opts) { if (k) { break; } else { continue; } }
while (opts) { opts = undefined; }
"##
        };
    }

    const SAMPLES: &[Sample] = &[
        sample(
            "rust",
            "src/geometry.rs",
            r##"#!/usr/bin/env run-cargo-script
//! Crate docs.
use std::collections::{HashMap, BTreeMap};
use std::fmt;

/* Block comment. */
pub const LIMIT: u32 = 0xFF;
static GREETING: &str = "hi";
pub type Pairs = Vec<(u8, char)>;

#[derive(Debug)]
#[allow(dead_code)]
pub struct Point {
    x: f64,
    y: f64,
}

pub enum Shape {
    Dot(Point),
    Empty,
}

#[repr(C)]
pub union Bits {
    i: u32,
    f: f32,
}

pub trait Area {
    type Unit;
    fn area(&self) -> f64;
}

impl Area for Point {
    type Unit = f64;
    fn area(&self) -> f64 {
        let raw = r"raw";
        let c = 'c';
        (self.x * self.y).abs() + 1.5e3 + raw.len() as f64 + c as u8 as f64
    }
}

mod geometry {
    pub fn origin() -> super::Point {
        super::Point { x: 0.0, y: 0.0 }
    }
}

macro_rules! square {
    ($x:expr) => {
        $x * $x
    };
}

fn classify(n: i32) -> &'static str {
    match n {
        0 => { "zero" }
        _ => "many",
    }
}
"##,
        ),
        sample(
            "python",
            "pkg/greeter.py",
            r##"#!/usr/bin/env python3
"""Module docstring."""
from __future__ import annotations

import os, sys
from typing import (
    Any,
    Optional,
)

MASK = 0xFF
RATE = 1.5E3


# A class comment.
class Greeter:
    def greet(self, name: str) -> str:
        total = (1 + 2) * 3 + \
            4
        return f"hello {name}" 'and' "more" + str(total)


def main() -> None:
    print(Greeter().greet("x"), os.sep, sys.argv, Any, Optional)
"##,
        ),
        sample(
            "javascript",
            "web/app.jsx",
            r##"#!/usr/bin/env node
import { b, a } from "./mod.js";
import def from './def.js';
<!-- legacy html comment
// Line comment.
/* Block comment. */
export { a, b };

const add = (x) => x + 0xFF;
const inc = x => x + 1.5e3;

function* gen() { yield `tpl ${add(1)}`; }

function main() { return (1 + 2) * inc(def); }

class Counter {
  count = 0;
  increment() { this.count += 1; }
}

const view = <div className="x">Hello   {"world"}</div>;

for (let i = 0; i < 3; i++) { if (i) { main(); } else { gen(); } }
for (const k of [a, b]) { add(k); }
while (view) { break; }
"##,
        ),
        sample("typescript", "src/shapes.ts", ts_sample!()),
        sample(
            "tsx",
            "src/View.tsx",
            concat!(
                ts_sample!(),
                r##"
export function View({ title }: { title: string }) {
  return <section className="view">Hello   {title}</section>;
}
"##
            ),
        ),
        sample(
            "go",
            "demo/demo.go",
            r##"// Package demo shows every Go entity kind.
package demo

import (
	"strings"
	"fmt"
)

import "os"

/* Block comment. */
const Mask = 0xFF

var (
	rate  = 1.5E3
	phase = 2.5i
	ptr   *(int)
)

type Point struct{ X, Y float64 }

type Alias = Point

type Shape interface {
	Area() float64
}

func (p Point) Area() float64 { return (p.X * p.Y) }

func Greet(name string) string {
	r := 'x'
	raw := `raw`
	fmt.Println(strings.ToUpper(name), r, raw, os.Args, rate, phase, ptr)
	return "hello " + name
}
"##,
        ),
        sample(
            "java",
            "src/main/java/demo/Demo.java",
            r##"package demo;

import java.util.function.Function;
import java.util.List;

/** Doc comment. */
public final class Demo {
    // Line comment.
    static final int MASK = 0xFF;
    static final int OCT = 017;
    static final int BIN = 0b1010;
    static final double RATE = 1.5E3;
    static final double HEX = 0x1.8p1;
    private final String text = """
        block
        """;

    public Demo() { }

    public int twice(int x) { return (x + 1) * 2; }

    interface Shape { double area(); }

    enum Color { RED, GREEN }

    record Point(int x, int y) {
        Point {
            if (x < 0) throw new IllegalArgumentException("x");
        }
    }

    @interface Marker { }

    void lambdas(List<Integer> xs) {
        Function<Integer, Integer> f = (y) -> y + 1;
        Function<Integer, Integer> g = y -> y + 'c';
        for (int i = 0; i < 3; i++) { if (i > 1) { break; } }
        for (int x : xs) { twice(x); }
        while (xs.isEmpty()) { return; }
    }
}
"##,
        ),
        sample(
            "c",
            "src/point.c",
            r##"/* Block comment. */
#include <stdio.h>
#include "local.h"

// Line comment.
#define MASK 0xFFu
#define SQUARE(x) ((x) * (x))

typedef unsigned long size_type;

struct point { int x; int y; };
union bits { int i; float f; };
enum color { RED, GREEN = 2 };

static int add(int a, int b) { return (a + b) * 1; }

int main(void) {
    const char *s = "hi";
    char c = 'c';
    double d = 1.5E3;
    printf("%s %c %f %d\n", s, c, d, add(1, 2));
    for (int i = 0; i < 3; i++) { if (i) { continue; } else { break; } }
    while (c) { c--; }
    return 0;
}
"##,
        ),
        sample(
            "cpp",
            "src/shape.cpp",
            r##"// Line comment.
#include <vector>
#include <string>

using std::vector;
using std::string;

/* Block comment. */
#define VERSION 2
#define MAX(a, b) ((a) > (b) ? (a) : (b))

namespace geo {

typedef double real;
using Id = unsigned long;

template <typename T>
concept Small = sizeof(T) <= 0xFF;

struct Point { real x, y; };
union Bits { int i; float f; };
enum class Color { Red, Green };

class Shape {
public:
    virtual ~Shape() = default;
    double area() const { return (w * h); }
private:
    double w = 1.5e3, h = 2.0;
};

int add(int a, int b) {
    for (int i = 0; i < b; i++) { if (i) { a++; } else { a--; } }
    for (int x : {1, 2}) { a += x; }
    while (a > 0xFF) { a /= 2; }
    return a + b;
}

}  // namespace geo

std::string greet() { return std::string(R"(raw)") + "x" + 'c'; }
"##,
        ),
        sample(
            "csharp",
            "src/Demo.cs",
            r##"// Line comment.
using System.Text;
using System;

namespace Demo
{
    /* Block comment. */
    public delegate int Op(int a, int b);

    public interface IShape { double Area(); }

    public enum Color { Red, Green }

    public record Point(int X, int Y);

    public struct Pair { public int A; }

    public static class Util
    {
        static public int Mask = 0xFF;
        public static string Name { get; set; } = "x";
        public static double Rate() => 1.5E3;
        public static bool Small(int x) => x is (> 0 and < 10);
    }

    public class Counter : IDisposable
    {
        public Counter() { }
        ~Counter() { }
        public void Dispose()
        {
            int Local(int x) => (x + 1) * 2;
            var s = @"verbatim" + $"interp {Local(1)}" + """raw""" + 'c';
            for (int i = 0; i < 3; i++) { if (i > 1) { break; } }
            foreach (var ch in s) { Local(ch); }
            while (s.Length > 0) { return; }
        }
    }
}
"##,
        ),
        sample(
            "csharp",
            "src/Scoped.cs",
            r##"namespace Demo.Scoped;

// A file-scoped namespace.
public class Other { }
"##,
        ),
        sample(
            "ruby",
            "lib/shapes.rb",
            r##"# frozen_string_literal: true
require "json"

module Shapes
  class Circle < Base
    RADIUS = 0xFF

    def initialize(r = 1.5E3)
      @r = (r)
    end

    def self.unit
      new(1)
    end

    def label
      "circle #{@r}" + 'x' + ?c + :"sym bol".to_s
    end
  end
end
"##,
        ),
        sample(
            "ruby",
            "Gemfile",
            r##"# Gems.
source "https://rubygems.org"
gem 'rails', '~> 7.1'
"##,
        ),
        sample(
            "ruby",
            "Rakefile",
            r##"# Tasks.
task default: :test
"##,
        ),
        sample(
            "bash",
            "scripts/build.sh",
            r##"#!/usr/bin/env bash
# Build everything.
set -euo pipefail

greet() {
  local name="$1"
  echo "hello ${name}" 'raw' $'ansi\n'
}

function count {
  echo $(( (1 + 2) * 0xFF ))
}

greet "$(whoami)"
"##,
        ),
        sample(
            "json",
            "package.json",
            r##"{
  // A comment (JSON with comments).
  "name": "patchgate",
  "version": 1.5E3,
  "nested": {"a": [1, 2, true, null]}
}
"##,
        ),
        sample(
            "yaml",
            ".github/workflows/ci.yml",
            r##"# CI workflow.
---
name: ci
on: {push: {branches: [main]}}
jobs:
  test:
    runs-on: 'ubuntu-latest'
    timeout: 0x1F
    ratio: 1.5E3
    enabled: True
    skip: null
    steps:
      - run: "cargo test"
"##,
        ),
        sample(
            "toml",
            "Cargo.toml",
            r##"# Manifest.
title = "patchgate"
"quoted key" = 'literal'
mask = 0xFF
rate = 1.5E3

[package]
name = "x"

[[bin]]
name = "y"
"##,
        ),
        // Kinds that only formatters' output shows: a closure body in a block (rustfmt), a
        // parenthesised unpacking target (black), an empty statement (prettier `semi: false`).
        sample(
            "rust",
            "src/closure.rs",
            "fn g() -> u8 {\n    let f = |x: u8| { x };\n    f(1)\n}\n",
        ),
        sample("python", "unpack.py", "(a, b) = pair\n"),
        sample("javascript", "empty.js", "f();;\n"),
        sample("typescript", "empty.ts", "f();;\n"),
        sample("tsx", "empty.tsx", "f();;\n"),
        // Escapes, adjacent literals, heredocs, generator arguments, object keys.
        sample("rust", "src/esc.rs", "const E: &str = \"tab\\t\\x41\";\n"),
        sample(
            "python",
            "esc.py",
            "from a import c, b\nE = '\\x1b[0m' 'done'\nany((x for x in y))\n",
        ),
        sample(
            "javascript",
            "esc.js",
            "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\nconst f = (a,) => a;\n",
        ),
        sample(
            "typescript",
            "esc.ts",
            "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\n",
        ),
        sample(
            "tsx",
            "esc.tsx",
            "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\n",
        ),
        sample("go", "esc.go", "package esc\n\nvar E = \"a\\x41\\n\"\n"),
        sample("java", "Esc.java", "class Esc { String e = \"a\\tb\"; }\n"),
        sample("c", "esc.c", "const char *e = \"a\\x41\" \"b\";\n"),
        sample("cpp", "esc.cpp", "const char *e = \"a\\n\" \"b\";\n"),
        sample("csharp", "Esc.cs", "class Esc { string e = \"a\\tb\"; }\n"),
        sample(
            "ruby",
            "esc.rb",
            "x = \"a\\x41\"\ny = <<~TEXT\n  hi #{x}\nTEXT\n",
        ),
        sample("json", "esc.json", "{\"e\": \"caf\\u00e9\"}\n"),
        sample("toml", "esc.toml", "e = \"caf\\u00E9\"\n"),
    ];

    /// (language, entity kind, expected name): each must be found in the language's samples,
    /// and every entity kind the registry names must be listed here.
    const ENTITIES: &[(&str, &str, &str)] = &[
        ("rust", "function_item", "area"),
        ("rust", "function_item", "origin"),
        ("rust", "function_item", "classify"),
        ("rust", "function_signature_item", "area"),
        ("rust", "struct_item", "Point"),
        ("rust", "enum_item", "Shape"),
        ("rust", "union_item", "Bits"),
        ("rust", "trait_item", "Area"),
        ("rust", "impl_item", "Point"),
        ("rust", "mod_item", "geometry"),
        ("rust", "const_item", "LIMIT"),
        ("rust", "static_item", "GREETING"),
        ("rust", "type_item", "Pairs"),
        ("rust", "type_item", "Unit"),
        ("rust", "associated_type", "Unit"),
        ("rust", "macro_definition", "square"),
        ("python", "class_definition", "Greeter"),
        ("python", "function_definition", "greet"),
        ("python", "function_definition", "main"),
        ("javascript", "function_declaration", "main"),
        ("javascript", "generator_function_declaration", "gen"),
        ("javascript", "class_declaration", "Counter"),
        ("javascript", "method_definition", "increment"),
        ("typescript", "function_declaration", "pick"),
        ("typescript", "generator_function_declaration", "ids"),
        ("typescript", "function_signature", "pick"),
        ("typescript", "function_signature", "helper"),
        ("typescript", "class_declaration", "Square"),
        ("typescript", "abstract_class_declaration", "Base"),
        ("typescript", "method_definition", "constructor"),
        ("typescript", "method_definition", "size"),
        ("typescript", "method_signature", "area"),
        ("typescript", "abstract_method_signature", "size"),
        ("typescript", "interface_declaration", "Shape"),
        ("typescript", "type_alias_declaration", "Id"),
        ("typescript", "enum_declaration", "Color"),
        ("typescript", "internal_module", "Geometry"),
        ("typescript", "module", "\"ambient\""),
        ("tsx", "function_declaration", "pick"),
        ("tsx", "function_declaration", "View"),
        ("tsx", "generator_function_declaration", "ids"),
        ("tsx", "function_signature", "pick"),
        ("tsx", "class_declaration", "Square"),
        ("tsx", "abstract_class_declaration", "Base"),
        ("tsx", "method_definition", "area"),
        ("tsx", "method_signature", "area"),
        ("tsx", "abstract_method_signature", "size"),
        ("tsx", "interface_declaration", "Shape"),
        ("tsx", "type_alias_declaration", "Id"),
        ("tsx", "enum_declaration", "Color"),
        ("tsx", "internal_module", "Geometry"),
        ("tsx", "module", "\"ambient\""),
        ("go", "function_declaration", "Greet"),
        ("go", "method_declaration", "Area"),
        ("go", "method_elem", "Area"),
        ("go", "type_spec", "Point"),
        ("go", "type_spec", "Shape"),
        ("go", "type_alias", "Alias"),
        ("java", "class_declaration", "Demo"),
        ("java", "interface_declaration", "Shape"),
        ("java", "enum_declaration", "Color"),
        ("java", "record_declaration", "Point"),
        ("java", "annotation_type_declaration", "Marker"),
        ("java", "method_declaration", "twice"),
        ("java", "method_declaration", "area"),
        ("java", "constructor_declaration", "Demo"),
        ("java", "compact_constructor_declaration", "Point"),
        // C keeps a function's name inside its declarator: the whole declarator names it.
        ("c", "function_definition", "add(int a, int b)"),
        ("c", "function_definition", "main(void)"),
        ("c", "struct_specifier", "point"),
        ("c", "union_specifier", "bits"),
        ("c", "enum_specifier", "color"),
        ("c", "type_definition", "size_type"),
        ("c", "preproc_def", "MASK"),
        ("c", "preproc_function_def", "SQUARE"),
        ("cpp", "function_definition", "add(int a, int b)"),
        ("cpp", "function_definition", "area() const"),
        ("cpp", "function_definition", "greet()"),
        ("cpp", "class_specifier", "Shape"),
        ("cpp", "struct_specifier", "Point"),
        ("cpp", "union_specifier", "Bits"),
        ("cpp", "enum_specifier", "Color"),
        ("cpp", "namespace_definition", "geo"),
        ("cpp", "alias_declaration", "Id"),
        ("cpp", "concept_definition", "Small"),
        ("cpp", "type_definition", "real"),
        ("cpp", "preproc_def", "VERSION"),
        ("cpp", "preproc_function_def", "MAX"),
        ("csharp", "namespace_declaration", "Demo"),
        ("csharp", "file_scoped_namespace_declaration", "Demo.Scoped"),
        ("csharp", "class_declaration", "Util"),
        ("csharp", "class_declaration", "Other"),
        ("csharp", "struct_declaration", "Pair"),
        ("csharp", "interface_declaration", "IShape"),
        ("csharp", "enum_declaration", "Color"),
        ("csharp", "record_declaration", "Point"),
        ("csharp", "delegate_declaration", "Op"),
        ("csharp", "method_declaration", "Rate"),
        ("csharp", "method_declaration", "Dispose"),
        ("csharp", "constructor_declaration", "Counter"),
        ("csharp", "destructor_declaration", "Counter"),
        ("csharp", "property_declaration", "Name"),
        ("csharp", "local_function_statement", "Local"),
        ("ruby", "module", "Shapes"),
        ("ruby", "class", "Circle"),
        ("ruby", "method", "initialize"),
        ("ruby", "method", "label"),
        ("ruby", "singleton_method", "unit"),
        ("bash", "function_definition", "greet"),
        ("bash", "function_definition", "count"),
        ("json", "pair", "\"name\""),
        ("json", "pair", "\"a\""),
        ("yaml", "block_mapping_pair", "jobs"),
        ("yaml", "block_mapping_pair", "runs-on"),
        ("yaml", "flow_pair", "push"),
    ];

    fn registry() -> Registry {
        Registry::embedded().expect("the embedded registry loads")
    }

    fn parse(lang: &Language, src: &str) -> tree_sitter::Tree {
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&lang.ts).expect("grammar loads");
        parser.parse(src, None).expect("tree-sitter returns a tree")
    }

    /// Every node of a tree, pre-order.
    fn nodes(tree: &tree_sitter::Tree) -> Vec<Node<'_>> {
        let mut out = Vec::new();
        let mut stack = vec![tree.root_node()];
        while let Some(n) = stack.pop() {
            out.push(n);
            let mut c = n.walk();
            let kids: Vec<Node<'_>> = n.children(&mut c).collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// The first ERROR or MISSING node, as `line: text`.
    fn first_error(tree: &tree_sitter::Tree, src: &str) -> Option<String> {
        nodes(tree)
            .into_iter()
            .find(|n| n.is_error() || n.is_missing())
            .map(|n| {
                format!(
                    "line {}: {} {:?}",
                    n.start_position().row + 1,
                    n.kind(),
                    &src[n.byte_range()]
                )
            })
    }

    /// An entity's name as the schema documents it: the name field (`name` unless
    /// `name_field` says otherwise), or, when the node has no such field, the first
    /// identifier-like named child.
    fn entity_name<'s>(lang: &Language, node: Node<'_>, src: &'s str) -> Option<&'s str> {
        let (_, field) = lang.entity(node.kind_id())?;
        let named = field.and_then(|f| node.child_by_field_id(f)).or_else(|| {
            let mut c = node.walk();
            let found = node.named_children(&mut c).find(|n| {
                let k = n.kind();
                k.contains("identifier") || k.contains("name")
            });
            found
        })?;
        Some(&src[named.byte_range()])
    }

    fn samples_of(lang: &str) -> impl Iterator<Item = &'static Sample> + '_ {
        SAMPLES.iter().filter(move |s| s.lang == lang)
    }

    /// Every kind the registry names for a language, with the field that names it.
    fn named_kinds(spec: &LanguageSpec) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        for (field, kinds) in [
            ("comment_kinds", &spec.comment_kinds),
            ("ignore_kinds", &spec.ignore_kinds),
            ("string_kinds", &spec.string_kinds),
            ("case_insensitive_kinds", &spec.case_insensitive_kinds),
            ("leaf_kinds", &spec.leaf_kinds),
            ("sorted_kinds", &spec.sorted_kinds),
            ("sorted_children", &spec.sorted_children),
            ("escape_kinds", &spec.escape_kinds),
            ("concat_kinds", &spec.concat_kinds),
            ("macro_kinds", &spec.macro_kinds),
            ("value_kinds", &spec.value_kinds),
            ("space_kinds", &spec.space_kinds),
        ] {
            out.extend(kinds.iter().map(|k| (field, k.as_str())));
        }
        for group in &spec.sorted_groups {
            out.extend(group.iter().map(|k| ("sorted_groups", k.as_str())));
        }
        for sf in &spec.sorted_fields {
            out.push(("sorted_fields.kind", sf.kind.as_str()));
        }
        if let Some(h) = &spec.heredoc {
            out.push(("heredoc.content", h.content.as_str()));
            out.push(("heredoc.end", h.end.as_str()));
        }
        for u in &spec.unwrap {
            out.push(("unwrap.kind", u.kind.as_str()));
            if let Some(p) = &u.parent {
                out.push(("unwrap.parent", p.as_str()));
            }
            if let Some(c) = &u.child {
                out.push(("unwrap.child", c.as_str()));
            }
        }
        for e in &spec.entities {
            out.push(("entities.kind", e.kind.as_str()));
        }
        out
    }

    #[test]
    fn embedded_registry_loads_with_every_language() {
        let reg = registry();
        let names: Vec<&str> = reg.languages().iter().map(|l| l.name()).collect();
        assert_eq!(names, LANGUAGES);
        for lang in reg.languages() {
            let spec = &lang.spec;
            assert!(
                !spec.extensions.is_empty() || !spec.filenames.is_empty(),
                "{}: no files",
                spec.name
            );
            assert!(!spec.comment_kinds.is_empty(), "{}: no comments", spec.name);
            assert!(
                !spec.string_kinds.is_empty(),
                "{}: no string kinds",
                spec.name
            );
            assert!(
                !spec.case_insensitive_kinds.is_empty(),
                "{}: no number kinds",
                spec.name
            );
            assert!(reg.by_name(&spec.name).is_some());
        }
    }

    #[test]
    fn samples_parse_without_errors() {
        let reg = registry();
        for s in SAMPLES {
            let lang = reg.by_name(s.lang).expect("sample language registered");
            let tree = parse(lang, s.src);
            assert!(
                !tree.root_node().has_error(),
                "{} sample {} does not parse: {}",
                s.lang,
                s.path,
                first_error(&tree, s.src).unwrap_or_default()
            );
        }
        for lang in LANGUAGES {
            assert!(samples_of(lang).next().is_some(), "{lang}: no sample");
        }
    }

    #[test]
    fn every_registered_kind_occurs_in_the_samples() {
        let reg = registry();
        for lang in reg.languages() {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            for s in samples_of(lang.name()) {
                let tree = parse(lang, s.src);
                seen.extend(nodes(&tree).iter().map(|n| n.kind().to_string()));
            }
            for (field, kind) in named_kinds(&lang.spec) {
                assert!(
                    seen.contains(kind),
                    "{}: `{kind}` ({field}) never occurs in the samples",
                    lang.name()
                );
            }
            // Comments in particular are what the samples must show.
            for kind in &lang.spec.comment_kinds {
                assert!(seen.contains(kind.as_str()), "{}: {kind}", lang.name());
            }
        }
    }

    #[test]
    fn entities_occur_and_are_named_by_their_field() {
        let reg = registry();
        for lang in reg.languages() {
            // (kind, name) of every entity node in the samples.
            let mut found: BTreeSet<(String, String)> = BTreeSet::new();
            for s in samples_of(lang.name()) {
                let tree = parse(lang, s.src);
                for node in nodes(&tree) {
                    if lang.entity(node.kind_id()).is_none() {
                        continue;
                    }
                    assert!(lang.flags(node.kind_id()) & flag::ENTITY != 0);
                    let name = entity_name(lang, node, s.src).unwrap_or_else(|| {
                        panic!(
                            "{}: {} at line {} has no name",
                            lang.name(),
                            node.kind(),
                            node.start_position().row + 1
                        )
                    });
                    found.insert((node.kind().to_string(), name.to_string()));
                }
            }
            let expected: Vec<(&str, &str)> = ENTITIES
                .iter()
                .filter(|(l, _, _)| *l == lang.name())
                .map(|(_, k, n)| (*k, *n))
                .collect();
            for e in &lang.spec.entities {
                assert!(
                    expected.iter().any(|(k, _)| *k == e.kind),
                    "{}: entity kind `{}` has no expected name in ENTITIES",
                    lang.name(),
                    e.kind
                );
            }
            for (kind, name) in expected {
                assert!(
                    found.contains(&(kind.to_string(), name.to_string())),
                    "{}: no {kind} named {name:?}; found {found:?}",
                    lang.name()
                );
            }
        }
    }

    #[test]
    fn entity_labels_are_short_reader_words() {
        let reg = registry();
        for lang in reg.languages() {
            for e in &lang.spec.entities {
                assert!(
                    !e.label.is_empty() && e.label.len() <= 12 && !e.label.contains(' '),
                    "{}: label {:?}",
                    lang.name(),
                    e.label
                );
            }
        }
    }

    #[test]
    fn lookup_by_extension_and_file_name() {
        let reg = registry();
        let cases: &[(&str, Option<&str>)] = &[
            ("src/main.rs", Some("rust")),
            ("SRC/MAIN.RS", Some("rust")),
            ("a/b.py", Some("python")),
            ("stubs/x.pyi", Some("python")),
            ("x.pyw", Some("python")),
            ("x.js", Some("javascript")),
            ("x.mjs", Some("javascript")),
            ("x.cjs", Some("javascript")),
            ("x.jsx", Some("javascript")),
            ("x.ts", Some("typescript")),
            ("x.mts", Some("typescript")),
            ("x.cts", Some("typescript")),
            ("types/x.d.ts", Some("typescript")),
            ("x.tsx", Some("tsx")),
            ("x.go", Some("go")),
            ("Main.java", Some("java")),
            ("x.c", Some("c")),
            ("x.h", Some("c")),
            ("x.cc", Some("cpp")),
            ("x.cpp", Some("cpp")),
            ("x.cxx", Some("cpp")),
            ("x.hpp", Some("cpp")),
            ("x.hh", Some("cpp")),
            ("x.hxx", Some("cpp")),
            ("X.CPP", Some("cpp")),
            ("x.cs", Some("csharp")),
            ("lib/x.rb", Some("ruby")),
            ("Gemfile", Some("ruby")),
            ("sub/dir/Rakefile", Some("ruby")),
            ("x.sh", Some("bash")),
            ("x.bash", Some("bash")),
            ("package.json", Some("json")),
            ("ci.yml", Some("yaml")),
            ("ci.yaml", Some("yaml")),
            ("Cargo.toml", Some("toml")),
            // Misses: no extension, an unknown one, file names are exact.
            ("README", None),
            ("notes.txt", None),
            ("Gemfile.lock", None),
            ("gemfile", None),
            ("Makefile", None),
        ];
        for (path, want) in cases {
            let got = reg.for_path(Path::new(path)).map(|l| l.name());
            assert_eq!(got, *want, "{path}");
        }
        // Every registered extension and file name resolves to its own language, and no two
        // languages claim the same one (the later would silently win).
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for lang in reg.languages() {
            for ext in &lang.spec.extensions {
                let key = format!("*.{}", ext.to_ascii_lowercase());
                assert!(
                    owner.insert(key, lang.name()).is_none(),
                    "{ext} claimed twice"
                );
                let path = format!("dir/file.{ext}");
                assert_eq!(
                    reg.for_path(Path::new(&path)).map(|l| l.name()),
                    Some(lang.name())
                );
            }
            for name in &lang.spec.filenames {
                assert!(
                    owner.insert(name.clone(), lang.name()).is_none(),
                    "{name} claimed twice"
                );
                let path = format!("dir/{name}");
                assert_eq!(
                    reg.for_path(Path::new(&path)).map(|l| l.name()),
                    Some(lang.name())
                );
            }
        }
        // Each sample's path resolves to the sample's language.
        for s in SAMPLES {
            assert_eq!(
                reg.for_path(Path::new(s.path)).map(|l| l.name()),
                Some(s.lang),
                "{}",
                s.path
            );
        }
    }

    #[test]
    fn explicit_drop_tokens_are_tokens_of_the_grammar() {
        // drop_tokens are not validated at load (the default list spans all grammars), so an
        // explicit list is checked here: each entry must be an anonymous token of the grammar.
        let reg = registry();
        for lang in reg.languages() {
            let Some(drop) = &lang.spec.drop_tokens else {
                continue;
            };
            for tok in drop {
                let known = (0..lang.ts.node_kind_count() as u16).any(|id| {
                    lang.ts.node_kind_for_id(id) == Some(tok.as_str())
                        && !lang.ts.node_kind_is_named(id)
                        && lang.flags(id) & flag::DROP != 0
                });
                assert!(
                    known,
                    "{}: drop token {tok:?} is not a token of the grammar",
                    lang.name()
                );
            }
        }
    }

    /// The normalised tree the engine builds, as its root hash and its node count (so two
    /// texts compare equal exactly when `patchgate diff` finds nothing between them).
    fn canonical(reg: &Registry, lang: &str, src: &str) -> String {
        use crate::astdiff::tree::{Limits, SyntaxTree, TreeOptions};
        let lang = reg.by_name(lang).unwrap();
        let tree = SyntaxTree::parse(lang, src, &Limits::default(), TreeOptions::default())
            .unwrap_or_else(|e| panic!("{}: {src:?}: {e}", lang.name()));
        let root = tree.node(tree.root());
        format!("{:016x}/{}", root.hash, tree.len())
    }

    #[test]
    fn formatter_variants_normalise_to_the_same_tree() {
        let reg = registry();
        let same: &[(&str, &str, &str)] = &[
            // Rust: a block around a lone match-arm expression; use order and use lists.
            (
                "rust",
                "fn f(x: u8) -> u8 { match x { 0 => { 1 } _ => 2, } }",
                "fn f(x: u8) -> u8 {\n    match x {\n        0 => 1,\n        _ => 2,\n    }\n}\n",
            ),
            (
                "rust",
                "use b::{y, x};\nuse a;\n",
                "use a;\nuse b::{x, y};\n",
            ),
            ("rust", "const X: u8 = (0xFF);", "const X: u8 = 0xff;"),
            // Python: import order, redundant parentheses, backslash continuation.
            (
                "python",
                "import sys, os\nx = (1)\n",
                "import os, sys\nx = 1\n",
            ),
            ("python", "y = 1 + \\\n    2\n", "y = 1 + 2\n"),
            (
                "python",
                "from a import b\nimport c\n",
                "from a import (\n    b,\n)\nimport c\n",
            ),
            // JavaScript: prettier's arrow parentheses, import and specifier order, semicolons.
            ("javascript", "const f = (x) => x;", "const f = x => x"),
            (
                "javascript",
                "import { b, a } from \"m\";\nimport c from \"n\";\n",
                "import c from \"n\"\nimport { a, b } from \"m\"\n",
            ),
            ("javascript", "let n = (0XFF + 1);", "let n = 0xff + 1"),
            // TypeScript / TSX: the same, through required_parameter; redundant type parens.
            ("typescript", "const f = (x) => x;", "const f = x => x;"),
            ("typescript", "type T = (string);", "type T = string;"),
            (
                "tsx",
                "const f = (x) => <b>{x}</b>;",
                "const f = x => <b>{x}</b>;",
            ),
            // Go: a lone import in parentheses, import order.
            (
                "go",
                "package p\nimport \"fmt\"\n",
                "package p\n\nimport (\n\t\"fmt\"\n)\n",
            ),
            (
                "go",
                "package p\nimport (\n\t\"os\"\n\t\"fmt\"\n)\n",
                "package p\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n",
            ),
            // Java: lambda parentheses, modifier order, import order.
            (
                "java",
                "class A { Object f = (y) -> y; }",
                "class A {\n  Object f = y -> y;\n}",
            ),
            (
                "java",
                "import b.B;\nimport a.A;\nclass C { static public final int X = 0XFF; }",
                "import a.A;\nimport b.B;\nclass C { public static final int X = 0xff; }",
            ),
            // C / C++: include and using-declaration order, redundant parentheses.
            (
                "c",
                "#include <stdio.h>\n#include \"a.h\"\nint f(int x) { return (x); }\n",
                "#include \"a.h\"\n#include <stdio.h>\nint f(int x)\n{\n    return x;\n}\n",
            ),
            (
                "cpp",
                "using std::vector;\nusing std::string;\nint x = (1);\n",
                "using std::string;\nusing std::vector;\nint x = 1;\n",
            ),
            // C#: using order, modifier order.
            (
                "csharp",
                "using System.Text;\nusing System;\nstatic public class A { }\n",
                "using System;\nusing System.Text;\npublic static class A\n{\n}\n",
            ),
            // Ruby: redundant parentheses, call parentheses.
            ("ruby", "x = (1 + 2)\nputs(x)\n", "x = 1 + 2\nputs x\n"),
            // Bash: `function` keyword, backquotes.
            (
                "bash",
                "function f { echo hi; }\nx=`date`\n",
                "f() {\n  echo hi\n}\nx=$(date)\n",
            ),
            // Braces around a lone statement under if/else/for/while.
            (
                "c",
                "void f() { if (x) { y(); } else { z(); } while (x) { y(); } }",
                "void f() { if (x) y(); else z(); while (x) y(); }",
            ),
            (
                "cpp",
                "void f() { for (int i : v) { g(i); } }",
                "void f() { for (int i : v) g(i); }",
            ),
            (
                "java",
                "class A { void f() { if (x) { y(); } for (int i : v) { g(i); } } }",
                "class A { void f() { if (x) y(); for (int i : v) g(i); } }",
            ),
            (
                "csharp",
                "class A { void F() { if (x) { Y(); } foreach (var i in v) { G(i); } } }",
                "class A { void F() { if (x) Y(); foreach (var i in v) G(i); } }",
            ),
            (
                "javascript",
                "if (x) { y(); } else { z(); }\nfor (const k of v) { g(k); }\n",
                "if (x) y(); else z();\nfor (const k of v) g(k);\n",
            ),
            ("typescript", "while (x) { y(); }", "while (x) y();"),
            // Data: member order of objects and mappings; structural punctuation.
            (
                "json",
                "{\"a\": 1, \"b\": [1, 2]}",
                "{\n  \"b\": [1, 2],\n  \"a\": 1\n}\n",
            ),
            ("yaml", "a: 1\nb: [x, y]\n", "---\nb:\n  [x, y]\na: 1\n"),
            ("yaml", "m: {k: 1, j: 2}\n", "m: {j: 2, k: 1}\n"),
            (
                "toml",
                "b = 1\na = 0xFF\n[t]\nx = 1\n",
                "a = 0xff\nb = 1\n\n[t]\nx = 1\n",
            ),
            (
                "toml",
                "[b]\nx = 1\n[a]\ny = 2\n",
                "[a]\ny = 2\n[b]\nx = 1\n",
            ),
        ];
        for (lang, a, b) in same {
            assert_eq!(
                canonical(&reg, lang, a),
                canonical(&reg, lang, b),
                "{lang}: {a:?} vs {b:?}"
            );
        }
        // And what must stay apart: precedence, sequence order, multi-parameter lists.
        let differ: &[(&str, &str, &str)] = &[
            (
                "rust",
                "fn f() -> u8 { (1 + 2) * 3 }",
                "fn f() -> u8 { 1 + 2 * 3 }",
            ),
            ("python", "x = (a + b) * c\n", "x = a + b * c\n"),
            (
                "javascript",
                "const f = (x, y) => x;",
                "const f = (y, x) => x;",
            ),
            (
                "go",
                "package p\nvar x = (a + b) * c\n",
                "package p\nvar x = a + b*c\n",
            ),
            ("json", "[1, 2]", "[2, 1]"),
            ("yaml", "- x\n- y\n", "- y\n- x\n"),
            ("yaml", "a: 1\n", "a: \"1\"\n"),
            (
                "toml",
                "[[bin]]\nname = \"a\"\n[[bin]]\nname = \"b\"\n",
                "[[bin]]\nname = \"b\"\n[[bin]]\nname = \"a\"\n",
            ),
            ("bash", "echo \"$x\"\n", "echo '$x'\n"),
            ("bash", "echo \"$x\"\n", "echo $x\n"),
            // What only a kept token tells apart: slice bounds, repeat vs list, for-loop slots,
            // an expansion operator.
            ("python", "y = x[1:]\n", "y = x[:1]\n"),
            (
                "rust",
                "fn f() { let v = vec![0; n]; }",
                "fn f() { let v = vec![0, n]; }",
            ),
            (
                "rust",
                "fn f() { let a = [0; 3]; }",
                "fn f() { let a = [0, 3]; }",
            ),
            (
                "c",
                "void f() { for (;; i++) g(); }",
                "void f() { for (i++;;) g(); }",
            ),
            (
                "cpp",
                "void f() { for (;; i++) g(); }",
                "void f() { for (i++;;) g(); }",
            ),
            (
                "java",
                "class A { void f() { for (;; i++) g(); } }",
                "class A { void f() { for (i++;;) g(); } }",
            ),
            (
                "csharp",
                "class A { void F() { for (;; i++) G(); } }",
                "class A { void F() { for (i++;;) G(); } }",
            ),
            ("javascript", "for (; x;) f();", "for (x;;) f();"),
            ("javascript", "for (;; x) f();", "for (x;;) f();"),
            ("bash", "echo ${x,}\n", "echo ${x}\n"),
            // Unwrapped braces keep a dangling else where it belongs.
            (
                "c",
                "void f() { if (a) { if (b) x(); } else y(); }",
                "void f() { if (a) if (b) x(); else y(); }",
            ),
        ];
        for (lang, a, b) in differ {
            assert_ne!(
                canonical(&reg, lang, a),
                canonical(&reg, lang, b),
                "{lang}: {a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn rules_name_nodes_not_keyword_tokens() {
        // `class`, `module`, `string`, … are both node kinds and keyword tokens in several
        // grammars; a rule is about the node. An anonymous token carries no flag but DROP.
        let reg = registry();
        for lang in reg.languages() {
            for id in 0..lang.ts.node_kind_count() as u16 {
                if lang.ts.node_kind_is_named(id) {
                    continue;
                }
                assert_eq!(
                    lang.flags(id) & !flag::DROP,
                    0,
                    "{}: token {:?} carries a rule",
                    lang.name(),
                    lang.ts.node_kind_for_id(id)
                );
                assert!(lang.entity(id).is_none());
            }
        }
        // The keyword in `class Circle` is not a second, nameless entity.
        let ruby = reg.by_name("ruby").unwrap();
        let src = "class Circle
end
";
        let tree = parse(ruby, src);
        let entities: Vec<&str> = nodes(&tree)
            .into_iter()
            .filter(|n| ruby.entity(n.kind_id()).is_some())
            .map(|n| n.kind())
            .collect();
        assert_eq!(entities, ["class"]);
    }

    fn load_err(text: &str) -> String {
        match Registry::from_toml(text) {
            Ok(_) => panic!("this registry must be refused:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str =
        "[[language]]\nname = \"mini\"\ngrammar = \"tree_sitter_rust::LANGUAGE\"\n";

    #[test]
    fn a_minimal_registry_loads() {
        let reg = Registry::from_toml(MINIMAL).unwrap();
        assert_eq!(reg.languages().len(), 1);
        // No extensions: nothing resolves to it.
        assert!(reg.for_path(Path::new("a.rs")).is_none());
    }

    #[test]
    fn unknown_kinds_and_grammars_are_refused_by_name() {
        // A typo in the shipped registry is caught, naming the kind, the field and the language.
        let typo = EMBEDDED_REGISTRY.replacen("\"html_comment\"", "\"htm_comment\"", 1);
        assert_ne!(typo, EMBEDDED_REGISTRY);
        let err = load_err(&typo);
        assert!(
            err.contains("`htm_comment`")
                && err.contains("comment_kinds")
                && err.contains("`javascript`"),
            "{err}"
        );

        let err =
            load_err("[[language]]\nname = \"cobol\"\ngrammar = \"tree_sitter_cobol::LANGUAGE\"\n");
        assert!(
            err.contains("`tree_sitter_cobol::LANGUAGE`") && err.contains("`cobol`"),
            "{err}"
        );

        for (extra, kind, field) in [
            ("string_kinds = [\"strng\"]", "strng", "string_kinds"),
            (
                "case_insensitive_kinds = [\"integr\"]",
                "integr",
                "case_insensitive_kinds",
            ),
            ("leaf_kinds = [\"nope\"]", "nope", "leaf_kinds"),
            ("ignore_kinds = [\"nope\"]", "nope", "ignore_kinds"),
            ("sorted_kinds = [\"imprt\"]", "imprt", "sorted_kinds"),
            (
                "sorted_children = [\"uselist\"]",
                "uselist",
                "sorted_children",
            ),
            ("unwrap = [{ kind = \"paren\" }]", "paren", "unwrap.kind"),
            (
                "unwrap = [{ kind = \"block\", parent = \"match_arn\" }]",
                "match_arn",
                "unwrap.parent",
            ),
            (
                "entities = [{ kind = \"fn_item\", label = \"fn\" }]",
                "fn_item",
                "entities.kind",
            ),
            (
                "entities = [{ kind = \"function_item\", label = \"fn\", name_field = \"title\" }]",
                "title",
                "entities.name_field",
            ),
        ] {
            let err = load_err(&format!("{MINIMAL}{extra}\n"));
            assert!(
                err.contains(&format!("`{kind}`")) && err.contains(field) && err.contains("`mini`"),
                "{extra}: {err}"
            );
        }
    }

    #[test]
    fn malformed_registries_are_refused() {
        // Unknown fields are refused, not ignored (a misspelt rule would be silently off).
        let err = load_err(&format!("{MINIMAL}comments = [\"line_comment\"]\n"));
        assert!(err.contains("comments"), "{err}");
        let err = load_err(&format!("{MINIMAL}{MINIMAL}"));
        assert!(err.contains("`mini`") && err.contains("twice"), "{err}");
        let err = load_err("[[language]]\nname = \"x\"\n");
        assert!(err.contains("grammar"), "{err}");
    }
}
