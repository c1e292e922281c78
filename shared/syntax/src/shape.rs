//! Unknown fields, all of them at once: a walk over the file's YAML events
//! that holds every mapping to the fields its struct declares.
//!
//! serde stops at the first unknown key (`deny_unknown_fields`), with no field
//! path and a list of every field the struct has. A policy is fixed in one
//! edit, so the raw structs accept unknown keys and this walk names each one
//! with its position, its path (`hooks.AfterAllowTraffic.gates[0].treshold`)
//! and the nearest known field (`did you mean threshold?`).
//!
//! The field names are serde's own (read from the derived `Deserialize` of
//! each raw struct, see [`fields_of`]); only which field holds which struct
//! is written here, in [`child`]. The walk keeps a stack of frames, no
//! recursion, and never expands an alias: a block reused through `*name` is
//! checked once, where it is defined, and a 100,000-deep nesting costs a
//! counter, not a stack.

use crate::{
    RawAnalysis, RawBaselineSpec, RawCanaryScore, RawGate, RawHookPolicy, RawJsonPointer,
    RawMetricDefaults, RawMinSample, RawPolicy, RawProbe, RawProbeExpect, RawProbeTimeout,
    RawQuery, RawRatio,
};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_saphyr::granit_parser::{Event, Parser};

/// One unknown field: where, which, and the nearest known one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// Dotted path of the field, the unknown key last.
    pub path: String,
    /// What is wrong, with a suggestion when one is close.
    pub message: String,
    /// The path of the suggested field, when there is one: its own
    /// "missing" problem says the same thing again, and is left out.
    pub meant: Option<String>,
}

/// Every unknown field in `text`, in file order. Text that is not YAML gives
/// what was found before the error: the parser's own error is reported by
/// [`crate::parse_policy`].
pub fn unknown_fields(text: &str) -> Vec<UnknownField> {
    let mut walk = Walk::default();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        let at = (span.start.line() as u64, span.start.col() as u64 + 1);
        match event {
            Event::MappingStart(..) => walk.node(Node::Mapping, at),
            Event::SequenceStart(..) => walk.node(Node::Sequence, at),
            Event::Scalar(value, ..) => walk.node(Node::Scalar(&value), at),
            Event::Alias(_) => walk.node(Node::Alias, at),
            Event::MappingEnd | Event::SequenceEnd => walk.end(),
            _ => {}
        }
    }
    walk.found
}

/// The known word nearest `word` by edit distance, when it is near enough to
/// be a misspelling (at most a third of its letters wrong, at least one).
pub fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| {
            let distance = strsim::levenshtein(&word.to_ascii_lowercase(), &k.to_ascii_lowercase());
            (distance, k)
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// A struct of the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Policy,
    MetricDefaults,
    Hook,
    CanaryScore,
    Analysis,
    Gate,
    BaselineSpec,
    Probe,
    ProbeExpect,
    JsonPointer,
    ProbeTimeout,
    Ratio,
    MinSample,
    Query,
}

impl Kind {
    /// What a person calls it, in "a gate has no such field".
    fn described(self) -> &'static str {
        match self {
            Kind::Policy => "the top of a policy",
            Kind::MetricDefaults => "`metric_defaults`",
            Kind::Hook => "a hook section",
            Kind::CanaryScore => "`canary_score`",
            Kind::Analysis => "`analysis`",
            Kind::Gate => "a gate",
            Kind::BaselineSpec => "`baseline`",
            Kind::Probe => "`probe`",
            Kind::ProbeExpect => "`probe.expect`",
            Kind::JsonPointer => "`json_pointer`",
            Kind::ProbeTimeout => "`probe.timeout`",
            Kind::Ratio => "`ratio`",
            Kind::MinSample => "`min_sample`",
            Kind::Query => "a metric query",
        }
    }

    /// The struct's fields, as its derived `Deserialize` names them.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Policy => fields_of::<RawPolicy>(),
            Kind::MetricDefaults => fields_of::<RawMetricDefaults>(),
            Kind::Hook => fields_of::<RawHookPolicy>(),
            Kind::CanaryScore => fields_of::<RawCanaryScore>(),
            Kind::Analysis => fields_of::<RawAnalysis>(),
            Kind::Gate => fields_of::<RawGate>(),
            Kind::BaselineSpec => fields_of::<RawBaselineSpec>(),
            Kind::Probe => fields_of::<RawProbe>(),
            Kind::ProbeExpect => fields_of::<RawProbeExpect>(),
            Kind::JsonPointer => fields_of::<RawJsonPointer>(),
            Kind::ProbeTimeout => fields_of::<RawProbeTimeout>(),
            Kind::Ratio => fields_of::<RawRatio>(),
            Kind::MinSample => fields_of::<RawMinSample>(),
            Kind::Query => fields_of::<RawQuery>(),
        }
    }
}

/// What a field's value is checked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Not looked into (scalars, free-form maps such as `dimensions`).
    Leaf,
    /// A mapping of that struct's fields.
    Struct(Kind),
    /// A mapping with free keys, each value that struct (`hooks`).
    Named(Kind),
    /// A list of that struct.
    List(Kind),
}

/// Which struct a field holds; every other field is a [`Shape::Leaf`].
fn child(kind: Kind, field: &str) -> Shape {
    match (kind, field) {
        (Kind::Policy, "metric_defaults") => Shape::Struct(Kind::MetricDefaults),
        (Kind::Policy, "hooks") => Shape::Named(Kind::Hook),
        (Kind::Hook, "analysis") => Shape::Struct(Kind::Analysis),
        (Kind::Hook, "canary_score") => Shape::Struct(Kind::CanaryScore),
        (Kind::Hook, "gates") => Shape::List(Kind::Gate),
        (Kind::Gate, "metric") | (Kind::MinSample, "metric") => Shape::Struct(Kind::Query),
        (Kind::Gate, "ratio") => Shape::Struct(Kind::Ratio),
        (Kind::Gate, "min_sample") => Shape::Struct(Kind::MinSample),
        // `baseline: live` is a scalar; only the long form is a mapping.
        (Kind::Gate, "baseline") => Shape::Struct(Kind::BaselineSpec),
        (Kind::Gate, "probe") => Shape::Struct(Kind::Probe),
        (Kind::Ratio, "numerator" | "denominator") => Shape::List(Kind::Query),
        (Kind::Probe, "expect") => Shape::Struct(Kind::ProbeExpect),
        (Kind::Probe, "timeout") => Shape::Struct(Kind::ProbeTimeout),
        (Kind::ProbeExpect, "json_pointer") => Shape::Struct(Kind::JsonPointer),
        _ => Shape::Leaf,
    }
}

/// A node event, as the walk needs it.
enum Node<'a> {
    Mapping,
    Sequence,
    Scalar(&'a str),
    Alias,
}

/// Where the walk is.
enum Frame {
    /// In a struct's mapping; `value` is set between a key and its value.
    Struct {
        kind: Kind,
        path: String,
        value: Option<(Shape, String)>,
    },
    /// In a mapping of free keys whose values are `kind`.
    Named {
        kind: Kind,
        path: String,
        value: Option<String>,
    },
    /// In a list of `kind`.
    List {
        kind: Kind,
        path: String,
        index: usize,
    },
    /// In a collection nobody checks, this many levels deep.
    Skip(usize),
}

#[derive(Default)]
struct Walk {
    stack: Vec<Frame>,
    found: Vec<UnknownField>,
    /// The document's root was seen (a second document is not checked).
    rooted: bool,
}

/// A key as a message names it: control characters escaped, and no more
/// than its first 64 characters (a key may be 1,024 long, and is copied
/// into logs).
fn shown(key: &str) -> String {
    let mut text: String = key
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if key.chars().count() > 64 {
        text.push_str("...");
    }
    text
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Walk {
    fn node(&mut self, node: Node<'_>, at: (u64, u64)) {
        let collection = matches!(node, Node::Mapping | Node::Sequence);
        let Some(top) = self.stack.last_mut() else {
            if !self.rooted {
                self.rooted = true;
                self.enter(Shape::Struct(Kind::Policy), String::new(), &node);
            } else if collection {
                self.stack.push(Frame::Skip(1));
            }
            return;
        };
        match top {
            Frame::Skip(depth) => {
                if collection {
                    *depth += 1;
                }
            }
            Frame::Struct { kind, path, value } => match value.take() {
                Some((shape, child_path)) => self.enter(shape, child_path, &node),
                None => {
                    let (kind, key_path) = (*kind, path.clone());
                    let shape = match node {
                        Node::Scalar(key) if kind.fields().contains(&key) => {
                            (child(kind, key), join(&key_path, key))
                        }
                        // A merge key brings in fields of the same struct.
                        Node::Scalar("<<") => (Shape::Struct(kind), key_path),
                        Node::Scalar(key) => {
                            let path = join(&key_path, &shown(key));
                            self.unknown(kind, key, path.clone(), at);
                            (Shape::Leaf, path)
                        }
                        _ => {
                            if collection {
                                self.stack.push(Frame::Skip(1));
                            }
                            (Shape::Leaf, key_path)
                        }
                    };
                    // `self.stack` may have grown; the struct frame is below.
                    if let Some(Frame::Struct { value, .. }) = self
                        .stack
                        .iter_mut()
                        .rev()
                        .find(|f| matches!(f, Frame::Struct { .. }))
                    {
                        *value = Some(shape);
                    }
                }
            },
            Frame::Named { kind, path, value } => match value.take() {
                Some(child_path) => {
                    let kind = *kind;
                    self.enter(Shape::Struct(kind), child_path, &node)
                }
                None => {
                    let key = match node {
                        Node::Scalar(key) => join(path, &shown(key)),
                        _ => path.clone(),
                    };
                    *value = Some(key);
                    if collection {
                        self.stack.push(Frame::Skip(1));
                    }
                }
            },
            Frame::List { kind, path, index } => {
                let (kind, child_path) = (*kind, format!("{path}[{index}]"));
                *index += 1;
                self.enter(Shape::Struct(kind), child_path, &node);
            }
        }
    }

    /// A value node of `shape` at `path`: a collection pushes its frame.
    fn enter(&mut self, shape: Shape, path: String, node: &Node<'_>) {
        let frame = match (node, shape) {
            (Node::Mapping, Shape::Struct(kind)) => Frame::Struct {
                kind,
                path,
                value: None,
            },
            (Node::Mapping, Shape::Named(kind)) => Frame::Named {
                kind,
                path,
                value: None,
            },
            (Node::Sequence, Shape::List(kind)) => Frame::List {
                kind,
                path,
                index: 0,
            },
            (Node::Mapping | Node::Sequence, _) => Frame::Skip(1),
            (Node::Scalar(_) | Node::Alias, _) => return,
        };
        self.stack.push(frame);
    }

    fn end(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Skip(depth)) if *depth > 1 => *depth -= 1,
            _ => {
                self.stack.pop();
            }
        }
    }

    fn unknown(&mut self, kind: Kind, key: &str, path: String, (line, column): (u64, u64)) {
        let near = nearest(key, kind.fields().iter().copied());
        let meant = near.map(|near| match path.rsplit_once('.') {
            Some((parent, _)) => format!("{parent}.{near}"),
            None => near.to_string(),
        });
        let message = match near {
            Some(near) => format!("unknown field; did you mean `{near}`?"),
            None => format!(
                "unknown field: {} has no field of this name (the README's policy reference lists them)",
                kind.described()
            ),
        };
        self.found.push(UnknownField {
            line,
            column,
            path,
            message,
            meant,
        });
    }
}

/// The field names `T`'s derived `Deserialize` asks for: it calls
/// `deserialize_struct` with them before reading anything, and this
/// deserializer keeps them and stops there.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field names only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_struct_has_its_fields_from_serde() {
        assert!(Kind::Gate.fields().contains(&"datapoints_to_alarm"));
        assert!(Kind::Query.fields().contains(&"dimensions"));
        for kind in [
            Kind::Policy,
            Kind::MetricDefaults,
            Kind::Hook,
            Kind::CanaryScore,
            Kind::Analysis,
            Kind::Gate,
            Kind::BaselineSpec,
            Kind::Probe,
            Kind::ProbeExpect,
            Kind::JsonPointer,
            Kind::ProbeTimeout,
            Kind::Ratio,
            Kind::MinSample,
            Kind::Query,
        ] {
            assert!(!kind.fields().is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn unknown_fields_are_found_everywhere_once() {
        let text = "version: 1\nextra: 1\nhooks:\n  A:\n    gates:\n      - &g\n        name: x\n        probe: { urll: u, expect: { stauts: 200 } }\n      - *g\n      - name: y\n        ratio: { numerator: [{ nme: M }] }\n";
        let found = unknown_fields(text);
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "extra",
                "hooks.A.gates[0].probe.urll",
                "hooks.A.gates[0].probe.expect.stauts",
                "hooks.A.gates[2].ratio.numerator[0].nme",
            ]
        );
        assert_eq!((found[1].line, found[1].column), (8, 18));
        assert!(found[1].message.contains("did you mean `url`?"));
    }

    #[test]
    fn deep_nesting_and_aliases_cost_no_recursion() {
        let deep = format!(
            "version: 1\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(unknown_fields(&deep).len(), 1);
    }
}
