//! One pass over a delivery: the payload type its event name calls for is deserialised once,
//! and the top-level `action` — which decides whether patchgate handles it at all — is picked
//! up on the way, by a deserializer that taps that one key of the top-level object.
//!
//! This is the fast path of [`super::parse`], and it is strict on purpose: it gives up (an
//! error, which the caller never shows) on anything the envelope-then-typed reading of
//! [`super::diagnose`] might answer differently — a top level or a `repository` that is not a
//! JSON object, an `action` that is not a string or `null` or that comes twice. The caller
//! then reads the body the slow way, which gives every refusal its exact text. So a delivery
//! this pass accepts is one the slow path accepts with the same event, and every answer stays
//! the slow path's.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The top-level `action`: not seen yet, or seen (a string, or `null`).
#[derive(Debug, Default)]
pub(super) struct Action(Option<Option<String>>);

impl Action {
    /// The action's value; `None` when absent or `null`.
    pub(super) fn into_value(self) -> Option<String> {
        self.0.flatten()
    }
}

/// Deserialise `T` from the top-level JSON object `de` reads, tapping its `action` (`T` must
/// not have a field of that name: the tap takes the value, `T` sees `()`, which an ignored
/// field accepts). The top level and its `repository` must be JSON objects.
pub(super) fn with_action<'de, T, D>(de: D) -> Result<(T, Action), D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let mut action = Action::default();
    let value = T::deserialize(Object {
        inner: de,
        tap: Some(&mut action),
    })?;
    Ok((value, action))
}

/// A value that must be a JSON object read into a struct; at the top level (`tap`), its keys
/// are watched for `action` and `repository`.
struct Object<'t, D> {
    inner: D,
    tap: Option<&'t mut Action>,
}

fn not_an_object<E: de::Error>() -> E {
    E::custom("the one-pass reading takes JSON objects only")
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Object<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, D::Error> {
        Err(not_an_object())
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            MapOnly {
                inner: visitor,
                tap: self.tap,
            },
        )
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The struct's visitor, let through for a JSON object only (serde also reads a struct from a
/// JSON array, which the slow path's envelope reads differently).
struct MapOnly<'t, V> {
    inner: V,
    tap: Option<&'t mut Action>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for MapOnly<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        match self.tap {
            Some(action) => self.inner.visit_map(TopMap {
                inner: map,
                action,
                key: Key::Other,
            }),
            None => self.inner.visit_map(map),
        }
    }
}

/// Which key of the top-level object the next value belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Action,
    Repository,
    Other,
}

impl Key {
    fn of(name: &[u8]) -> Key {
        match name {
            b"action" => Key::Action,
            b"repository" => Key::Repository,
            _ => Key::Other,
        }
    }
}

/// The top-level object's entries, as `T`'s visitor reads them.
struct TopMap<'t, A> {
    inner: A,
    action: &'t mut Action,
    key: Key,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TopMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.key = Key::Other;
        self.inner.next_key_seed(KeySeed {
            inner: seed,
            key: &mut self.key,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match std::mem::replace(&mut self.key, Key::Other) {
            Key::Action => {
                if self.action.0.is_some() {
                    return Err(de::Error::custom("`action` comes twice"));
                }
                self.action.0 = Some(self.inner.next_value::<Option<String>>()?);
                // `T` has no field `action`: its visitor ignores the value, and `()` will do.
                seed.deserialize(de::value::UnitDeserializer::<A::Error>::new())
            }
            Key::Repository => self.inner.next_value_seed(ObjectSeed(seed)),
            Key::Other => self.inner.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A value read as an [`Object`] (no tap: only the top level's keys are watched).
struct ObjectSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ObjectSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Object {
            inner: d,
            tap: None,
        })
    }
}

/// A key of the top-level object: noted, then handed to `T`'s field visitor.
struct KeySeed<'k, K> {
    inner: K,
    key: &'k mut Key,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        self.inner.deserialize(KeyDeserializer {
            inner: d,
            key: self.key,
        })
    }
}

struct KeyDeserializer<'k, D> {
    inner: D,
    key: &'k mut Key,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(KeyVisitor {
            inner: visitor,
            key: self.key,
        })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_identifier(KeyVisitor {
            inner: visitor,
            key: self.key,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        ignored_any
    }
}

/// Notes the key's name, then lets the field visitor of `T` see it unchanged.
struct KeyVisitor<'k, V> {
    inner: V,
    key: &'k mut Key,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        *self.key = Key::of(v.as_bytes());
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        *self.key = Key::of(v.as_bytes());
        self.inner.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        *self.key = Key::of(v.as_bytes());
        self.inner.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        *self.key = Key::of(v);
        self.inner.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        *self.key = Key::of(v);
        self.inner.visit_borrowed_bytes(v)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        *self.key = Key::of(&v);
        self.inner.visit_byte_buf(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.inner.visit_u64(v)
    }
}
