//! The file's shape, every problem of it at once: a walk over the YAML events
//! that holds every mapping to the fields its struct declares, and every value
//! to the sort it must be (a mapping, a list, a whole number, `true`/`false`).
//!
//! serde stops at the first problem, with no field path; for an unknown key
//! (`deny_unknown_fields`) it lists every field the struct has. A policy is
//! fixed in one edit, so the raw structs accept unknown keys and this walk
//! names each one with its position, its path
//! (`hooks.AfterAllowTraffic.gates[0].treshold`) and the nearest known field
//! (`did you mean threshold?`), and each value of the wrong sort with its path.
//! serde still reads the file afterwards, and its first error is reported too
//! unless this walk already named that place.
//!
//! A value of the wrong sort would stop serde too, and hide every *value*
//! problem in the file (a bad `missing_data` beside a `threshold: [1]`) until
//! it is fixed. So the walk also writes a repaired copy of the text for serde
//! ([`ShapeCheck::repaired`]): each wrong-sort value is replaced by null when
//! its field is optional, by a neutral value of the right sort when serde
//! requires the field, and a wrong-sort list item or hook section by the
//! smallest struct serde reads. Every other character keeps its line and
//! column (the rest of a replaced value becomes spaces, its line breaks stay),
//! so what serde and the validator say about the rest is placed where it is
//! written. The validator drops whatever it says at or under a repaired path:
//! the shape problem already named that place, and anything more would be a
//! follow-on of the stand-in value ([`ShapeCheck::repaired_paths`]).
//!
//! The field names are serde's own (read from the derived `Deserialize` of
//! each raw struct, see [`fields_of`]); only which field holds which struct
//! or which sort of scalar is written here, in [`child`]. The walk keeps a stack of frames, no
//! recursion, and never expands an alias: a block reused through `*name` is
//! checked once, where it is defined, and a 100,000-deep nesting costs a
//! counter, not a stack.

use crate::{
    RawAnalysis, RawBaselineSpec, RawCanaryScore, RawFlag, RawGate, RawHookPolicy, RawJsonPointer,
    RawMetricDefaults, RawMinSample, RawPolicy, RawProbe, RawProbeExpect, RawProbeTimeout,
    RawQuery, RawRatio,
};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// One shape problem: where, which field, what is wrong (for an unknown
/// field, with the nearest known one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProblem {
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

/// What the walk found, and the text serde reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeCheck {
    /// Every unknown field and every value of the wrong sort, in file order.
    pub problems: Vec<ShapeProblem>,
    /// The text with each wrong-sort value replaced by a stand-in (see the
    /// module's doc), `None` when nothing needed replacing.
    pub repaired: Option<String>,
    /// The paths whose values were replaced: whatever else is said at or
    /// under one of them is a follow-on of the stand-in.
    pub repaired_paths: Vec<String>,
}

/// Every unknown field and every value of the wrong sort in `text`, in file order. Text that is not YAML gives
/// what was found before the error: the parser's own error is reported by
/// [`crate::parse_policy`].
pub fn shape_problems(text: &str) -> Vec<ShapeProblem> {
    shape_check(text).problems
}

/// [`shape_problems`], and the repaired text serde reads instead of `text`
/// so that a wrong-sort value hides no other problem.
pub fn shape_check(text: &str) -> ShapeCheck {
    let mut walk = Walk::default();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        let place = Place {
            at: (span.start.line() as u64, span.start.col() as u64 + 1),
            start: span.start.index(),
            end: span.end.index(),
            // A block scalar's span leaves out its `|`/`>` header, and a
            // tag would stay in front of the stand-in: those are not
            // replaced (serde then stops there, as it did before).
            replaceable: match &event {
                Event::Scalar(_, style, _, tag) => {
                    tag.is_none() && !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                }
                Event::MappingStart(_, _, tag) | Event::SequenceStart(_, _, tag) => tag.is_none(),
                _ => false,
            },
        };
        match event {
            Event::MappingStart(..) => walk.node(Node::Mapping, place),
            Event::SequenceStart(..) => walk.node(Node::Sequence, place),
            Event::Scalar(value, ..) => walk.node(Node::Scalar(&value), place),
            Event::Alias(_) => walk.node(Node::Alias, place),
            Event::MappingEnd | Event::SequenceEnd => walk.end(place.end),
            _ => {}
        }
    }
    walk.repairs.sort_by_key(|r| r.start);
    let repaired = (!walk.repairs.is_empty()).then(|| repair(text, &mut walk.repairs));
    ShapeCheck {
        problems: walk.found,
        repaired,
        repaired_paths: walk.repairs.into_iter().map(|r| r.path).collect(),
    }
}

/// Where an event is: its line and column (1-based) for messages, and its
/// character range for a repair.
#[derive(Debug, Clone, Copy)]
struct Place {
    at: (u64, u64),
    start: usize,
    end: usize,
    replaceable: bool,
}

/// One wrong-sort value to replace: characters `start..end` by `with`.
#[derive(Debug, Clone)]
struct Repair {
    start: usize,
    end: usize,
    with: &'static str,
    path: String,
}

/// `text` with every repair applied: the stand-in where the value began, then
/// spaces for the rest of the value, its line breaks kept. Repairs do not
/// nest (a replaced collection's insides are skipped by the walk). A stand-in
/// longer than the value's first line (`{name: ""}` for a gate written `x`)
/// pushes what follows on that line to the right; a repair that would move
/// something other than spaces or a comment is not made, so every place
/// serde or the validator names stays where it is written.
fn repair(text: &str, repairs: &mut Vec<Repair>) -> String {
    let chars: Vec<char> = text.chars().collect();
    repairs.retain(|r| {
        let first_line = chars[r.start..r.end]
            .iter()
            .take_while(|c| **c != '\n')
            .count();
        let ends_on_its_line = r.start + first_line == r.end;
        let mut rest_of_line = chars[r.end.min(chars.len())..]
            .iter()
            .take_while(|c| **c != '\n');
        r.with.chars().count() <= first_line
            || !ends_on_its_line
            || rest_of_line.clone().all(|c| c.is_whitespace())
            || rest_of_line
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| *c == '#')
    });
    let mut out = String::with_capacity(text.len());
    let mut next = 0;
    for r in repairs.iter() {
        out.extend(&chars[next..r.start]);
        out.push_str(r.with);
        let mut covered = r.with.chars().count();
        for c in &chars[r.start..r.end] {
            if *c == '\n' || *c == '\r' {
                out.push(*c);
                covered = 0;
            } else if covered > 0 {
                covered -= 1;
            } else {
                out.push(' ');
            }
        }
        next = r.end;
    }
    out.extend(&chars[next.min(chars.len())..]);
    out
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
    Flag,
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
            Kind::Flag => "a feature flag",
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
            Kind::Flag => fields_of::<RawFlag>(),
        }
    }
}

/// What a field's value is checked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Anything (`expect.status`, `json_pointer.equals`, a merge's value).
    Leaf,
    /// One scalar of that kind.
    Scalar(Scalar),
    /// A list of scalars (`probe_hosts`, `alarms`).
    Scalars,
    /// A mapping of free names to scalars (`dimensions`, `headers`).
    Pairs,
    /// A mapping of that struct's fields.
    Struct(Kind),
    /// That struct, or a scalar (`baseline: live`).
    StructOrScalar(Kind),
    /// A mapping with free keys, each value that struct (`hooks`).
    Named(Kind),
    /// A list of that struct.
    List(Kind),
}

/// What a scalar must read as. Only what can never be read is reported:
/// serde decides the rest (and a quoted `"3"` is left to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    /// Text, or a number or duration written with a unit.
    Text,
    /// A whole number.
    Whole,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
}

impl Scalar {
    /// Whether `value` can be read as this, and what was expected if not.
    fn check(self, value: &str) -> Result<(), &'static str> {
        if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
            return Ok(()); // An absent optional value.
        }
        let ok = match self {
            Scalar::Text => true,
            Scalar::Whole => {
                let digits = value.strip_prefix('+').unwrap_or(value);
                digits.parse::<u64>().is_ok()
                    || digits.starts_with("0x")
                    || digits.starts_with("0o")
                    || value.parse::<f64>().is_ok_and(|f| f.fract() == 0.0)
            }
            Scalar::Number => {
                value.parse::<f64>().is_ok()
                    || matches!(
                        value.to_ascii_lowercase().as_str(),
                        ".inf" | "+.inf" | "-.inf" | ".nan"
                    )
            }
            Scalar::Bool => matches!(
                value.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off"
            ),
        };
        match (ok, self) {
            (true, _) => Ok(()),
            (false, Scalar::Whole) => Err("a whole number"),
            (false, Scalar::Number) => Err("a number"),
            (false, _) => Err("`true` or `false`"),
        }
    }
}

/// Which struct a field holds, or which kind of scalar.
fn child(kind: Kind, field: &str) -> Shape {
    let scalar = |s| Shape::Scalar(s);
    match (kind, field) {
        (Kind::Policy, "version") => scalar(Scalar::Whole),
        (Kind::Policy, "probe_hosts") | (Kind::Gate, "alarms") => Shape::Scalars,
        (Kind::MetricDefaults | Kind::Query, "dimensions") | (Kind::Probe, "headers") => {
            Shape::Pairs
        }
        (Kind::Hook, "preflight" | "dry_run" | "require_kill_switch") | (Kind::Gate, "dry_run") => {
            scalar(Scalar::Bool)
        }
        (Kind::CanaryScore, "pass" | "marginal" | "no_data_limit")
        | (Kind::Gate, "alpha" | "weight")
        | (Kind::MinSample, "at_least") => scalar(Scalar::Number),
        (Kind::Analysis, "failure_limit" | "consecutive_error_limit" | "inconclusive_limit")
        | (Kind::Gate, "evaluation_periods" | "datapoints_to_alarm")
        | (Kind::Probe, "repeat" | "concurrency") => scalar(Scalar::Whole),
        (Kind::ProbeExpect, "status") | (Kind::JsonPointer, "equals") => Shape::Leaf,
        (Kind::Policy, "metric_defaults") => Shape::Struct(Kind::MetricDefaults),
        (Kind::Policy, "hooks") => Shape::Named(Kind::Hook),
        (Kind::Hook, "analysis") => Shape::Struct(Kind::Analysis),
        (Kind::Hook, "canary_score") => Shape::Struct(Kind::CanaryScore),
        (Kind::Hook, "gates") => Shape::List(Kind::Gate),
        (Kind::Gate, "metric") | (Kind::MinSample, "metric") => Shape::Struct(Kind::Query),
        (Kind::Gate, "ratio") => Shape::Struct(Kind::Ratio),
        (Kind::Gate, "min_sample") => Shape::Struct(Kind::MinSample),
        // `baseline: live` is a scalar; only the long form is a mapping.
        (Kind::Gate, "baseline") => Shape::StructOrScalar(Kind::BaselineSpec),
        (Kind::Gate, "probe") => Shape::Struct(Kind::Probe),
        (Kind::Gate, "flag") => Shape::Struct(Kind::Flag),
        (Kind::Hook, "kill_switch") => Shape::List(Kind::Flag),
        (Kind::Ratio, "numerator" | "denominator") => Shape::List(Kind::Query),
        (Kind::Probe, "expect") => Shape::Struct(Kind::ProbeExpect),
        (Kind::Probe, "timeout") => Shape::Struct(Kind::ProbeTimeout),
        (Kind::ProbeExpect, "json_pointer") => Shape::Struct(Kind::JsonPointer),
        // Every other field is one scalar: text, or a value with a unit.
        _ => scalar(Scalar::Text),
    }
}

/// The stand-in for a wrong-sort value of a field serde requires, or reads
/// as a list: a value of the right sort that says nothing (the validator's
/// words about it are dropped). `None`: the field is optional, and null
/// stands in.
fn stand_in(kind: Kind, field: &str) -> Option<&'static str> {
    Some(match (kind, field) {
        (Kind::Policy, "version") => "1",
        (Kind::Policy, "hooks") => "{}",
        (Kind::Ratio, "numerator" | "denominator") | (Kind::Hook, "gates") => "[]",
        (Kind::MinSample, "at_least") => "0",
        (Kind::JsonPointer, "equals") => "~",
        (Kind::Analysis, "duration")
        | (Kind::Gate, "name")
        | (Kind::BaselineSpec, "history")
        | (Kind::Probe, "url")
        | (Kind::JsonPointer, "pointer")
        | (Kind::Query, "name" | "stat") => "\"\"",
        _ => return None,
    })
}

/// The smallest mapping serde reads as `kind`: the stand-in for a list item
/// or a hook section of the wrong sort.
fn smallest(kind: Kind) -> &'static str {
    match kind {
        Kind::Policy => "{version: 1, hooks: {}}",
        Kind::Analysis => "{duration: \"\"}",
        Kind::Gate => "{name: \"\"}",
        Kind::BaselineSpec => "{history: \"\"}",
        Kind::Probe => "{url: \"\"}",
        Kind::JsonPointer => "{pointer: \"\", equals: ~}",
        Kind::Ratio => "{numerator: [], denominator: []}",
        Kind::MinSample => "{at_least: 0}",
        Kind::Query => "{name: \"\", stat: \"\"}",
        Kind::MetricDefaults
        | Kind::Hook
        | Kind::CanaryScore
        | Kind::ProbeExpect
        | Kind::ProbeTimeout
        | Kind::Flag => "{}",
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
        value: Option<(Shape, String, Option<&'static str>)>,
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
    found: Vec<ShapeProblem>,
    /// The wrong-sort values to replace in the text serde reads.
    repairs: Vec<Repair>,
    /// A wrong-sort collection being skipped, to replace once its end is
    /// seen: the depth of its `Skip` frame, and the repair so far.
    open_repair: Option<(usize, Repair)>,
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
    fn node(&mut self, node: Node<'_>, place: Place) {
        let at = place.at;
        let collection = matches!(node, Node::Mapping | Node::Sequence);
        let Some(top) = self.stack.last_mut() else {
            if !self.rooted {
                self.rooted = true;
                let root = Shape::Struct(Kind::Policy);
                self.enter(root, String::new(), &node, place, None);
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
                Some((shape, child_path, stand_in)) => {
                    self.enter(shape, child_path, &node, place, stand_in)
                }
                None => {
                    let (kind, key_path) = (*kind, path.clone());
                    let shape = match node {
                        Node::Scalar(key) if kind.fields().contains(&key) => {
                            let stand_in = self::stand_in(kind, key).unwrap_or("~");
                            (child(kind, key), join(&key_path, key), Some(stand_in))
                        }
                        // A merge key brings in fields of the same struct.
                        Node::Scalar("<<") => (Shape::Leaf, key_path, None),
                        Node::Scalar(key) => {
                            let path = join(&key_path, &shown(key));
                            self.unknown(kind, key, path.clone(), at);
                            (Shape::Leaf, path, None)
                        }
                        _ => {
                            if collection {
                                self.stack.push(Frame::Skip(1));
                            }
                            (Shape::Leaf, key_path, None)
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
                    let stand_in = Some(smallest(kind));
                    self.enter(Shape::Struct(kind), child_path, &node, place, stand_in)
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
                let stand_in = Some(smallest(kind));
                self.enter(Shape::Struct(kind), child_path, &node, place, stand_in);
            }
        }
    }

    /// A value node of `shape` at `path`: a collection pushes its frame; a
    /// node of the wrong sort is reported (and a collection skipped), and
    /// replaced by `stand_in` in the text serde reads when there is one.
    fn enter(
        &mut self,
        shape: Shape,
        path: String,
        node: &Node<'_>,
        place: Place,
        stand_in: Option<&'static str>,
    ) {
        let at = place.at;
        let repair = |path: &String| {
            stand_in.filter(|_| place.replaceable).map(|with| Repair {
                start: place.start,
                end: place.end,
                with,
                path: path.clone(),
            })
        };
        let found = match node {
            Node::Mapping => "a mapping",
            Node::Sequence => "a list",
            Node::Scalar(_) => "a single value",
            Node::Alias => return, // Checked where it is defined.
        };
        let expected = match (node, shape) {
            (Node::Scalar(value), Shape::Scalar(scalar)) => match scalar.check(value) {
                Ok(()) => None,
                Err(expected) => {
                    let message = format!("expected {expected}, found {:?}", shown(value));
                    self.repairs.extend(repair(&path));
                    self.problem(at, path.clone(), message);
                    None
                }
            },
            (Node::Scalar(value), _) if matches!(*value, "" | "~" | "null") => None,
            (_, Shape::Leaf) => None,
            (Node::Scalar(_), Shape::StructOrScalar(_)) => None,
            (
                Node::Mapping,
                Shape::Struct(_) | Shape::StructOrScalar(_) | Shape::Named(_) | Shape::Pairs,
            ) => None,
            (Node::Sequence, Shape::List(_) | Shape::Scalars) => None,
            (_, Shape::Scalar(_)) => Some("a single value".to_string()),
            (_, Shape::Scalars) => Some("a list of values, e.g. `[a, b]`".to_string()),
            (_, Shape::Pairs) => Some("a mapping of names to values".to_string()),
            (_, Shape::Struct(kind) | Shape::StructOrScalar(kind)) => {
                Some(format!("a mapping of {}'s fields", kind.described()))
            }
            (_, Shape::Named(_)) => Some("a mapping of hook names to their sections".to_string()),
            (_, Shape::List(kind)) => Some(format!("a list, each item {}", kind.described())),
        };
        if let Some(expected) = expected {
            let repair = repair(&path);
            self.problem(at, path, format!("expected {expected}, found {found}"));
            if matches!(node, Node::Mapping | Node::Sequence) {
                self.stack.push(Frame::Skip(1));
                // Its end is known when the collection closes.
                self.open_repair = repair.map(|r| (self.stack.len(), r));
            } else {
                self.repairs.extend(repair);
            }
            return;
        }
        let frame = match (node, shape) {
            (Node::Mapping, Shape::Struct(kind) | Shape::StructOrScalar(kind)) => Frame::Struct {
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

    /// A collection closes at character `end`.
    fn end(&mut self, end: usize) {
        match self.stack.last_mut() {
            Some(Frame::Skip(depth)) if *depth > 1 => *depth -= 1,
            _ => {
                if let Some((depth, mut repair)) = self.open_repair.take() {
                    if depth == self.stack.len() {
                        repair.end = end;
                        self.repairs.push(repair);
                    } else {
                        self.open_repair = Some((depth, repair));
                    }
                }
                self.stack.pop();
            }
        }
    }

    fn problem(&mut self, (line, column): (u64, u64), path: String, message: String) {
        self.found.push(ShapeProblem {
            line,
            column,
            path,
            message,
            meant: None,
        });
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
        self.found.push(ShapeProblem {
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
        for kind in KINDS {
            assert!(!kind.fields().is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn unknown_fields_are_found_everywhere_once() {
        let text = "version: 1\nextra: 1\nhooks:\n  A:\n    gates:\n      - &g\n        name: x\n        probe: { urll: u, expect: { stauts: 200 } }\n      - *g\n      - name: y\n        ratio: { numerator: [{ nme: M }] }\n";
        let found = shape_problems(text);
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
    fn values_of_the_wrong_sort_are_found_everywhere_at_once() {
        let text = "version: one\nprobe_hosts: h\nhooks:\n  A:\n    preflight: maybe\n    gates:\n      - name: x\n        evaluation_periods: five\n        alpha: [1]\n        metric: M\n        baseline: live\n      - name: y\n        baseline: { history: 7d }\n        datapoints_to_alarm: 3\n        dry_run: ~\n";
        let found: Vec<String> = shape_problems(text)
            .iter()
            .map(|p| format!("{}:{} {}: {}", p.line, p.column, p.path, p.message))
            .collect();
        assert_eq!(
            found,
            [
                "1:10 version: expected a whole number, found \"one\"",
                "2:14 probe_hosts: expected a list of values, e.g. `[a, b]`, found a single value",
                "5:16 hooks.A.preflight: expected `true` or `false`, found \"maybe\"",
                "8:29 hooks.A.gates[0].evaluation_periods: expected a whole number, found \"five\"",
                "9:16 hooks.A.gates[0].alpha: expected a single value, found a list",
                "10:17 hooks.A.gates[0].metric: expected a mapping of a metric query's fields, found a single value",
            ]
        );
    }

    /// Reads `text` as `kind`'s raw struct, serde's error if it cannot.
    fn read_as(kind: Kind, text: &str) -> Result<(), String> {
        fn read<T: for<'de> Deserialize<'de>>(text: &str) -> Result<(), String> {
            serde_saphyr::from_str::<T>(text)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        match kind {
            Kind::Policy => read::<RawPolicy>(text),
            Kind::MetricDefaults => read::<RawMetricDefaults>(text),
            Kind::Hook => read::<RawHookPolicy>(text),
            Kind::CanaryScore => read::<RawCanaryScore>(text),
            Kind::Analysis => read::<RawAnalysis>(text),
            Kind::Gate => read::<RawGate>(text),
            Kind::BaselineSpec => read::<RawBaselineSpec>(text),
            Kind::Probe => read::<RawProbe>(text),
            Kind::ProbeExpect => read::<RawProbeExpect>(text),
            Kind::JsonPointer => read::<RawJsonPointer>(text),
            Kind::ProbeTimeout => read::<RawProbeTimeout>(text),
            Kind::Ratio => read::<RawRatio>(text),
            Kind::MinSample => read::<RawMinSample>(text),
            Kind::Query => read::<RawQuery>(text),
            Kind::Flag => read::<RawFlag>(text),
        }
    }

    /// Every struct of the file (`read_as` names each, so a new one is
    /// noticed there).
    const KINDS: [Kind; 15] = [
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
        Kind::Flag,
    ];

    /// The stand-ins agree with serde: `smallest` is read, a field serde
    /// cannot do without has a stand-in, and every field reads its stand-in
    /// (null for most). A field serde starts to require fails here instead
    /// of hiding problems again.
    #[test]
    fn stand_ins_agree_with_what_serde_requires() {
        for kind in KINDS {
            let smallest = smallest(kind);
            read_as(kind, smallest).unwrap_or_else(|e| panic!("{kind:?} {smallest}: {e}"));
            for field in kind.fields() {
                let others: Vec<String> = kind
                    .fields()
                    .iter()
                    .filter(|f| *f != field)
                    .filter_map(|f| stand_in(kind, f).map(|v| format!("{f}: {v}")))
                    .collect();
                let without = format!("{{{}}}", others.join(", "));
                if let Err(error) = read_as(kind, &without) {
                    assert!(error.contains("missing"), "{kind:?}.{field}: {error}");
                    assert!(
                        stand_in(kind, field).is_some(),
                        "{kind:?}.{field} is required"
                    );
                }
                let value = stand_in(kind, field).unwrap_or("~");
                let with = format!("{{{field}: {value}, {}", &without[1..]);
                read_as(kind, &with).unwrap_or_else(|e| panic!("{with}: {e}"));
            }
        }
    }

    #[test]
    fn wrong_sort_values_are_replaced_in_place() {
        let text = "version: 1\nhooks:\n  A:\n    gates:\n      - x\n      - name: [a, b]\n        threshold:\n          nested: 1\n        evaluation_periods: five # why\n        missing_data: bogus\n        metric: { name: M, stat: [p9], kind: z }\n  B: [1]\n";
        let check = shape_check(text);
        let repaired = check.repaired.expect("repaired");
        assert_eq!(
            repaired,
            "version: 1\nhooks:\n  A:\n    gates:\n      - {name: \"\"}\n      - name: \"\"    \n        threshold:\n          ~        \n        evaluation_periods: ~    # why\n        missing_data: bogus\n        metric: { name: M, stat: \"\"  , kind: z }\n  B: {} \n"
        );
        assert_eq!(
            check.repaired_paths,
            [
                "hooks.A.gates[0]",
                "hooks.A.gates[1].name",
                "hooks.A.gates[1].threshold",
                "hooks.A.gates[1].evaluation_periods",
                "hooks.A.gates[1].metric.stat",
                "hooks.B",
            ]
        );
        crate::parse_policy(&repaired).expect("serde reads the repaired text");
    }

    #[test]
    fn a_stand_in_that_would_move_a_neighbour_is_not_made() {
        // `{name: ""}` is longer than `x`, and `{name: y}` follows on its line.
        let text = "version: 1\nhooks:\n  A:\n    gates: [x, {name: y}]\n";
        let check = shape_check(text);
        assert_eq!(check.problems.len(), 1);
        assert_eq!(check.repaired.as_deref(), Some(text));
        assert!(check.repaired_paths.is_empty());
    }

    #[test]
    fn deep_nesting_and_aliases_cost_no_recursion() {
        let deep = format!(
            "version: 1\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(shape_problems(&deep).len(), 1);
    }
}
