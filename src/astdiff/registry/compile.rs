//! Compiling a language: its registry entry resolved against its grammar into kind-id tables.

use rustc_hash::FxHashMap;

use super::{flag, Escapes, Language, LanguageSpec, RegistryError, Unwrap, GRAMMARS};

/// Tokens that carry no meaning once the tree is built: separators and delimiters. Formatters
/// add and drop them freely (trailing commas, optional semicolons, parentheses).
const DEFAULT_DROP_TOKENS: &[&str] = &[",", ";", "(", ")", "{", "}", "[", "]", "\"", "'", "`"];

impl Language {
    pub(super) fn compile(spec: LanguageSpec) -> Result<Self, RegistryError> {
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
