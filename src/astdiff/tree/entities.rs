//! The named entities of a [`SyntaxTree`] (functions, methods, classes…): their names, and
//! which entity encloses each node.

use super::text::collapse_ws;
use super::{SyntaxTree, NONE};

/// A named entity: a function, method, class, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Reader label from the registry, e.g. `fn`.
    pub label: String,
    pub name: String,
    /// The entity's node.
    pub node: u32,
    /// Enclosing entity, or [`NONE`].
    pub parent: u32,
}

impl Entity {
    /// `fn parse_config`
    pub fn display(&self) -> String {
        Entity::display_of(&self.label, &self.name)
    }

    pub(super) fn display_of(label: &str, name: &str) -> String {
        if name.is_empty() {
            label.to_string()
        } else {
            format!("{label} {name}")
        }
    }
}

impl<'s> SyntaxTree<'s> {
    /// The entity label and name `node` would get, when its kind names an entity.
    pub(super) fn entity_label_and_name(
        &self,
        node: tree_sitter::Node<'_>,
    ) -> Option<(&'s str, String)> {
        let (label, field) = self.lang.entity(node.kind_id())?;
        let name_node = field.and_then(|f| node.child_by_field_id(f)).or_else(|| {
            let mut c = node.walk();
            let found = node.named_children(&mut c).find(|n| {
                let k = n.kind();
                k.contains("identifier") || k.contains("name")
            });
            found
        });
        let name = name_node
            .map(|n| collapse_ws(&self.source[n.byte_range()]))
            .unwrap_or_default();
        let name = if name.chars().count() > 80 {
            format!("{}…", name.chars().take(80).collect::<String>())
        } else {
            name
        };
        Some((label, name))
    }

    pub(super) fn record_entity(&mut self, node: tree_sitter::Node<'_>, id: u32) {
        let Some((label, name)) = self.entity_label_and_name(node) else {
            return;
        };
        self.entities.push(Entity {
            label: label.to_string(),
            name,
            node: id,
            parent: NONE,
        });
    }

    /// Give every node its innermost enclosing entity, and every entity its parent.
    pub(super) fn resolve_entities(&mut self) {
        let mut own: Vec<u32> = vec![NONE; self.nodes.len()];
        for (i, e) in self.entities.iter().enumerate() {
            own[e.node as usize] = i as u32;
        }
        // Reverse post-order visits parents before children.
        for id in (0..self.nodes.len()).rev() {
            let parent = self.nodes[id].parent;
            let inherited = if parent == NONE {
                NONE
            } else {
                self.nodes[parent as usize].entity
            };
            if own[id] != NONE {
                self.entities[own[id] as usize].parent = inherited;
                self.nodes[id].entity = own[id];
            } else {
                self.nodes[id].entity = inherited;
            }
        }
    }
}
