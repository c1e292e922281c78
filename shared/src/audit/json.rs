//! JSON read strictly: a key twice in one object is an error.
//!
//! serde_json keeps the last of two equal keys, other readers keep the first
//! (or refuse): a record with two `status` values says one thing to the
//! verifier, whose digest it matches, and another to whoever reads it next.
//! So the audit trail reads every line through [`Strict`], a visitor that
//! builds the same `serde_json::Value` serde_json would (the digest is
//! computed over it, so it must) and refuses a repeated key, naming where.
//! serde_json's own recursion limit still applies: the visitor is driven by
//! its deserializer.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Where a value sits in its document, for the message about a repeated key:
/// a borrowed path, so reading builds nothing until there is an error.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                write!(f, "{parent}")?;
                if !matches!(parent, Path::Root) {
                    f.write_str(".")?;
                }
                // Keys are the document's text: escaped, never raw control characters.
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    f.write_str(key)
                } else {
                    write!(f, "{key:?}")
                }
            }
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A JSON value read with duplicate keys refused. Deserialize it with
/// serde_json (`from_str`, `from_slice`, a stream); the error for a repeated
/// key is of the category `Data`, syntax errors keep theirs.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Strict { path: Path::Root }
            .deserialize(deserializer)
            .map(StrictValue)
    }
}

/// The visitor: a value at `path`.
struct Strict<'a> {
    path: Path<'a>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // As serde_json's own `Value` does (JSON text has no NaN or infinity).
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: Path::Index(&self.path, items.len()),
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(match self.path {
                    Path::Root => A::Error::custom(format_args!("duplicate key {key:?}")),
                    at => A::Error::custom(format_args!("duplicate key {key:?} in {at}")),
                });
            }
            let value = map.next_value_seed(Strict {
                path: Path::Key(&self.path, &key),
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// One JSON document from `text`, duplicate keys refused.
pub(crate) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<StrictValue>(text).map(|v| v.0)
}

/// serde_json's message without the " at line L column C" it appends, which
/// the caller places itself (a line of a file, an event of an export).
pub(crate) fn bare_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}
