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

mod compile;
mod spec;

use spec::RegistryFile;
pub use spec::{EntitySpec, HeredocSpec, LanguageSpec, RepairSpec, SortedField, UnwrapRule};

include!(concat!(env!("OUT_DIR"), "/grammars.rs"));
include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// One language of the embedded registry as `build.rs` split it off: what finding it by file
/// name needs, and its entry's own TOML text, parsed only when the language is first used.
struct EmbeddedLanguage {
    name: &'static str,
    /// Lower case, without the dot.
    extensions: &'static [&'static str],
    filenames: &'static [&'static str],
    toml: &'static str,
}

/// The registry shipped inside the binary.
pub const EMBEDDED_REGISTRY: &str = include_str!("../../grammars/languages.toml");

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
}

/// All registered languages, with lookup by file name.
///
/// A language is compiled (its grammar's kind names resolved into the tables above) when it is
/// first asked for: a command that diffs one Python file pays for Python only. [`Registry::from_toml`]
/// compiles and so validates every language at once; [`Registry::embedded`] defers it, since the
/// embedded registry is validated by the tests of this module (`every_embedded_language_compiles`),
/// and defers even reading a language's entry: `build.rs` split the file into one TOML text per
/// language, and only the text of a language asked for is parsed.
#[derive(Debug)]
pub struct Registry {
    slots: Vec<Slot>,
    by_extension: FxHashMap<String, usize>,
    by_filename: FxHashMap<String, usize>,
}

#[derive(Debug)]
struct Slot {
    spec: SlotSpec,
    lang: std::sync::OnceLock<Language>,
}

/// A language's entry: its name, and the entry parsed or still as text.
#[derive(Debug)]
struct SlotSpec {
    name: String,
    entry: Entry,
}

#[derive(Debug)]
enum Entry {
    Parsed(Box<LanguageSpec>),
    /// One `[[language]]` part of the embedded registry (see [`EmbeddedLanguage`]).
    Embedded(&'static str),
}

impl Registry {
    /// The registry compiled into the binary (`grammars/languages.toml`); each language is
    /// compiled on first use.
    pub fn embedded() -> Result<Self, RegistryError> {
        let mut slots = Vec::with_capacity(EMBEDDED.len());
        let mut by_extension = FxHashMap::default();
        let mut by_filename = FxHashMap::default();
        for (idx, e) in EMBEDDED.iter().enumerate() {
            for ext in e.extensions {
                by_extension.insert(ext.to_string(), idx);
            }
            for name in e.filenames {
                by_filename.insert(name.to_string(), idx);
            }
            slots.push(Slot {
                spec: SlotSpec {
                    name: e.name.to_string(),
                    entry: Entry::Embedded(e.toml),
                },
                lang: std::sync::OnceLock::new(),
            });
        }
        Ok(Registry {
            slots,
            by_extension,
            by_filename,
        })
    }

    /// Parse and validate a registry (every language compiled now).
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let reg = Self::parse(text)?;
        for slot in &reg.slots {
            if let Entry::Parsed(spec) = &slot.spec.entry {
                let _ = slot.lang.set(Language::compile(LanguageSpec::clone(spec))?);
            }
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
                spec: SlotSpec {
                    name: spec.name.clone(),
                    entry: Entry::Parsed(Box::new(spec)),
                },
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
            let spec = match &slot.spec.entry {
                Entry::Parsed(spec) => LanguageSpec::clone(spec),
                Entry::Embedded(text) => embedded_spec(text),
            };
            Language::compile(spec)
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

/// The entry of one embedded language, from its part of the registry (`build.rs` checked that
/// the part parses to the entry the whole file holds; the tests check it again, field by field).
fn embedded_spec(text: &str) -> LanguageSpec {
    let file: RegistryFile = toml::from_str(text)
        .unwrap_or_else(|e| panic!("the embedded language registry does not parse: {e}"));
    match <[LanguageSpec; 1]>::try_from(file.language) {
        Ok([spec]) => spec,
        Err(v) => panic!("an embedded registry part holds {} languages", v.len()),
    }
}

#[cfg(test)]
mod tests;
