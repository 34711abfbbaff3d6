//! ast-grep's `Language` over any language of patchgate's registry.
//!
//! ast-grep ships one type per language (`ast-grep-language`); patchgate's languages are data
//! (`grammars/languages.toml`), so this module wraps the registry's tree-sitter grammar in one
//! dynamic type. Pattern meta-variables (`$VAR`, `$$$ARGS`) are rewritten to an "expando"
//! character for grammars where `$` cannot start an identifier, exactly as ast-grep's own
//! language crate does.
//!
//! It must never parse anything but the pattern text it is given: no file access, no grammar
//! loading of its own — the registry stays the single source of grammars.

use std::borrow::Cow;
use std::sync::Arc;

use ast_grep_core::matcher::PatternBuilder;
use ast_grep_core::tree_sitter::{LanguageExt, StrDoc, TSLanguage};
use ast_grep_core::{Language, Pattern, PatternError};

use crate::astdiff::registry;

/// A registry language as ast-grep sees it.
#[derive(Clone)]
pub struct DynLang {
    name: Arc<str>,
    ts: TSLanguage,
    expando: char,
}

impl std::fmt::Debug for DynLang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynLang")
            .field("name", &self.name)
            .field("expando", &self.expando)
            .finish()
    }
}

/// The character that stands in for `$` in patterns of a language whose identifiers cannot
/// contain `$` (ast-grep's choices: `µ` where any Unicode letter may start an identifier, `_`
/// for C/C++, whose tree-sitter grammars reject non-ASCII identifiers).
pub fn expando_char_for(language: &str) -> char {
    match language {
        // `$` is a valid identifier character (or plain scalar text) in these grammars.
        "javascript" | "typescript" | "tsx" | "java" | "bash" | "json" | "yaml" | "kotlin"
        | "scala" | "lua" => '$',
        "c" | "cpp" | "css" | "toml" | "nix" => '_',
        // rust, python, go, ruby, csharp, php, swift, elixir, haskell, and any language added
        // later: Unicode letters start identifiers.
        _ => 'µ',
    }
}

impl DynLang {
    pub fn new(lang: &registry::Language) -> Self {
        let name = lang.name();
        DynLang {
            name: Arc::from(name),
            ts: lang.ts.clone(),
            expando: expando_char_for(name),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// ast-grep's pattern pre-processing: `$A`, `$$A`, `$$$A`, `$_` and `$$$` become expando
/// sequences; a `$` followed by anything else stays (it may be code, e.g. a string `"$5"`).
fn replace_meta_vars(expando: char, query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut dollars = 0usize;
    for c in query.chars() {
        if c == '$' {
            dollars += 1;
            continue;
        }
        let meta = c.is_ascii_uppercase() || c == '_' || dollars == 3;
        let sigil = if meta { expando } else { '$' };
        out.extend(std::iter::repeat_n(sigil, dollars));
        dollars = 0;
        out.push(c);
    }
    let sigil = if dollars == 3 { expando } else { '$' };
    out.extend(std::iter::repeat_n(sigil, dollars));
    out
}

impl Language for DynLang {
    fn pre_process_pattern<'q>(&self, query: &'q str) -> Cow<'q, str> {
        if self.expando == '$' {
            Cow::Borrowed(query)
        } else {
            Cow::Owned(replace_meta_vars(self.expando, query))
        }
    }

    fn expando_char(&self) -> char {
        self.expando
    }

    fn kind_to_id(&self, kind: &str) -> u16 {
        self.ts.id_for_node_kind(kind, true)
    }

    fn field_to_id(&self, field: &str) -> Option<u16> {
        self.ts.field_id_for_name(field).map(|f| f.get())
    }

    fn build_pattern(&self, builder: &PatternBuilder) -> Result<Pattern, PatternError> {
        builder.build(|src| StrDoc::try_new(src, self.clone()))
    }
}

impl LanguageExt for DynLang {
    fn get_ts_language(&self) -> TSLanguage {
        self.ts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_vars_are_rewritten_like_ast_grep() {
        assert_eq!(
            replace_meta_vars('µ', "foo($A, $$$ARGS)"),
            "foo(µA, µµµARGS)"
        );
        assert_eq!(replace_meta_vars('µ', "bar($$$)"), "bar(µµµ)");
        assert_eq!(replace_meta_vars('µ', "x = \"$5\" + $_"), "x = \"$5\" + µ_");
        assert_eq!(replace_meta_vars('µ', "$$$"), "µµµ");
    }
}
