//! Parsing the CodeDeploy lifecycle event a hook is invoked with, and the
//! validated ids it carries ([`ecs`]: the ECS-native lifecycle hook's payload).
//!
//! The event is read in two steps, as a policy is: the raw step
//! ([`RawEvent::from_value`]) checks the JSON shape field by field, so a
//! malformed event names the field that is wrong ("LifecycleEventHookExecutionId:
//! expected a non-empty string, found 42") instead of serde's position-only
//! message; the validated step ([`LifecycleEvent`]) holds each id to the shape
//! CodeDeploy gives it ([`DeploymentId`], [`ExecutionId`]). An id of any other
//! shape did not come from CodeDeploy, and it would otherwise travel on into
//! AWS calls, SSM parameter names (the audit chain's head is stored under the
//! deployment id), log lines and the decision record: it is refused here,
//! before anything else runs, and only a validated id exists past this module.
//!
//! A body that is not JSON at all is read too ([`Payload`]), so it is
//! answered as an invalid event like any other, not with the runtime's own
//! deserialisation error.
//!
//! A malformed event cannot be reported to CodeDeploy (there is no execution
//! id to report against), so the only honest answer is an invocation error.
//! Its message quotes at most a short, escaped preview of what was sent
//! ([`crate::vocab::text::preview`]).
//!
//! The id types are not tied to the Lambda hooks: any caller that takes a
//! deployment id from outside (a future ECS-native hook, `gatectl`) parses it
//! with [`DeploymentId::parse`].

pub mod ecs;

use crate::vocab::text::preview;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;

/// Why an event is not a usable CodeDeploy lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The body is not JSON (truncated, empty, a number out of range, ...).
    #[error("the event is not valid JSON ({problem}); CodeDeploy sends {{\"DeploymentId\": ..., \"LifecycleEventHookExecutionId\": ...}}")]
    NotJson {
        /// The JSON parser's message (position included), escaped and bounded.
        problem: String,
    },
    /// The payload is not a JSON object at all.
    #[error("the event is not a JSON object (found {found}); CodeDeploy sends {{\"DeploymentId\": ..., \"LifecycleEventHookExecutionId\": ...}}")]
    NotAnObject {
        /// What was found instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("the event has no `{field}` field; CodeDeploy always sends it, so this event did not come from a lifecycle hook")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// A field is present with the wrong type or an empty value.
    #[error("the event's `{field}` field must be a non-empty string, found {found}")]
    InvalidField {
        /// The offending field.
        field: &'static str,
        /// A short description of what was found.
        found: String,
    },
    /// A field is a string, but not an id CodeDeploy would send.
    #[error("the event's `{field}` field is not an id CodeDeploy sends: {problem}; found {found}")]
    InvalidId {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it, and what CodeDeploy's ids look like.
        problem: IdProblem,
        /// A short, escaped preview of the value ([`preview`]).
        found: String,
    },
}

/// What is wrong with an id that is a non-empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdProblem {
    /// Longer or shorter than CodeDeploy's ids.
    #[error("{chars} characters, where {expected}")]
    Length {
        /// The id's length in characters (checked after the alphabet, so
        /// the id is ASCII and its bytes are its characters).
        chars: usize,
        /// The shape expected, in words.
        expected: &'static str,
    },
    /// A character outside the id's alphabet.
    #[error("{found} at position {position}, where {expected}")]
    Character {
        /// The character, escaped.
        found: EscapedChar,
        /// 1-based, in characters.
        position: usize,
        /// The shape expected, in words.
        expected: &'static str,
    },
    /// The id does not start as CodeDeploy's do.
    #[error("no `{prefix}` prefix, where {expected}")]
    Prefix {
        /// The prefix required.
        prefix: &'static str,
        /// The shape expected, in words.
        expected: &'static str,
    },
}

/// A character quoted in a message: printable ones as themselves in quotes,
/// the rest as their code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscapedChar(pub char);

impl fmt::Display for EscapedChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if crate::vocab::text::is_unsafe(c) || c.is_whitespace() {
            write!(f, "U+{:04X}", c as u32)
        } else {
            write!(f, "{c:?} (U+{:04X})", c as u32)
        }
    }
}

/// The two identifiers a hook needs from its event.
pub const DEPLOYMENT_ID: &str = "DeploymentId";
/// See [`DEPLOYMENT_ID`].
pub const EXECUTION_ID: &str = "LifecycleEventHookExecutionId";

/// How many characters of a refused value a message quotes.
const PREVIEW_CHARS: usize = 40;

// Where the id shapes come from.
//
// The CodeDeploy API reference documents neither id with a length or a
// pattern: in PutLifecycleEventHookExecutionStatus
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_PutLifecycleEventHookExecutionStatus.html)
// both `deploymentId` and `lifecycleEventHookExecutionId` are "Type: String"
// with no "Length Constraints" or "Pattern" line, and the service model
// (codedeploy 2014-10-06, shapes `DeploymentId` and
// `LifecycleEventHookExecutionId`, as shipped in botocore 1.43) declares both
// `{"type": "string"}` with no `min`, `max` or `pattern` (the model does give
// them to `ApplicationName`, for instance: 1-100 of `[A-Za-z0-9+=,.@_-]`).
// So the shapes below are what CodeDeploy issues, not a documented contract:
//
// - deployment ids are `d-` and nine upper-case letters or digits: every one
//   in AWS's own references (`d-A1B2C3123` in the CLI's get-deployment
//   example, `d-QZMRGSTEX` in the Tools for PowerShell reference) and in real
//   hook events (`events/*.json`, `d-CATAGDYBL`);
// - execution ids are an opaque token: in real events base64 of a JSON
//   document (`eyJlbmNyeXB0ZWREYXRhIjoi...`, 330 to 360 characters); the
//   base64 and base64url alphabets are accepted, up to 2,048 characters
//   (about six times the real length, while a hostile megabyte is refused).
//
// Should CodeDeploy ever send another shape, every hook refuses it as
// `InvalidEvent` naming the field and the shape expected: it fails closed
// (the deployment waits for the hook's timeout and rolls back), and widening
// the constants below is the fix.

/// The shape of a deployment id, in words.
const DEPLOYMENT_ID_SHAPE: &str =
    "CodeDeploy's deployment ids are `d-` and 9 upper-case letters or digits, such as d-A1B2C3123";
/// The prefix of every deployment id.
pub const DEPLOYMENT_ID_PREFIX: &str = "d-";
/// Characters after [`DEPLOYMENT_ID_PREFIX`].
pub const DEPLOYMENT_ID_BODY_CHARS: usize = 9;

/// The shape of an execution id, in words.
const EXECUTION_ID_SHAPE: &str =
    "CodeDeploy's execution ids are 1 to 2048 letters, digits and + / = - _ (a base64 token)";
/// The longest execution id accepted.
pub const EXECUTION_ID_MAX_CHARS: usize = 2048;

/// A deployment id of the shape CodeDeploy issues (the comment "Where the id
/// shapes come from" in this module's source says where): safe in an SSM
/// parameter name, a URL path, a log line and a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// Checks `text` against the shape; the error says what is wrong.
    pub fn parse(text: &str) -> Result<DeploymentId, IdProblem> {
        let expected = DEPLOYMENT_ID_SHAPE;
        let length = DEPLOYMENT_ID_PREFIX.len() + DEPLOYMENT_ID_BODY_CHARS;
        if !text.starts_with(DEPLOYMENT_ID_PREFIX) {
            // The first character that cannot begin an id, when there is one,
            // says more than a missing prefix ("U+001B at position 1").
            if let Some(problem) = first_outside(text, expected, |i, c| {
                DEPLOYMENT_ID_PREFIX.chars().nth(i) == Some(c)
            }) {
                return Err(problem);
            }
            return Err(IdProblem::Prefix {
                prefix: DEPLOYMENT_ID_PREFIX,
                expected,
            });
        }
        let body = &text[DEPLOYMENT_ID_PREFIX.len()..];
        if let Some(IdProblem::Character {
            found, position, ..
        }) = first_outside(body, expected, |_, c| {
            c.is_ascii_uppercase() || c.is_ascii_digit()
        }) {
            return Err(IdProblem::Character {
                found,
                position: position + DEPLOYMENT_ID_PREFIX.len(),
                expected,
            });
        }
        if text.len() != length {
            return Err(IdProblem::Length {
                chars: text.len(),
                expected,
            });
        }
        Ok(DeploymentId(text.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lifecycle hook execution id of the shape CodeDeploy issues: an opaque
/// token of base64 characters, bounded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId(String);

impl ExecutionId {
    /// Checks `text` against the shape; the error says what is wrong.
    pub fn parse(text: &str) -> Result<ExecutionId, IdProblem> {
        let expected = EXECUTION_ID_SHAPE;
        // The character check first: it stops at the first bad character, so
        // a hostile megabyte costs no more than its first bad byte.
        if let Some(problem) = first_outside(text, expected, |_, c| {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')
        }) {
            return Err(problem);
        }
        if text.is_empty() || text.len() > EXECUTION_ID_MAX_CHARS {
            return Err(IdProblem::Length {
                chars: text.len(),
                expected,
            });
        }
        Ok(ExecutionId(text.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first character of `text` that `allowed(index, char)` refuses.
fn first_outside(
    text: &str,
    expected: &'static str,
    allowed: impl Fn(usize, char) -> bool,
) -> Option<IdProblem> {
    text.chars()
        .enumerate()
        .find(|&(i, c)| !allowed(i, c))
        .map(|(i, c)| IdProblem::Character {
            found: EscapedChar(c),
            position: i + 1,
            expected,
        })
}

macro_rules! id_traits {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}
id_traits!(DeploymentId);
id_traits!(ExecutionId);

/// The event as the raw step reads it: the two ids are non-blank strings,
/// nothing more is known of them yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// `DeploymentId`, unchecked.
    pub deployment_id: &'a str,
    /// `LifecycleEventHookExecutionId`, unchecked.
    pub execution_id: &'a str,
}

impl<'a> RawEvent<'a> {
    /// The raw step: `payload` is an object with both ids as non-blank strings.
    pub fn from_value(payload: &'a Value) -> Result<RawEvent<'a>, EventError> {
        let object = payload.as_object().ok_or(EventError::NotAnObject {
            found: json_type(payload),
        })?;
        let field = |name: &'static str| -> Result<&'a str, EventError> {
            match object.get(name) {
                None => Err(EventError::MissingField { field: name }),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
                Some(Value::String(_)) => Err(EventError::InvalidField {
                    field: name,
                    found: "an empty string".into(),
                }),
                Some(other) => Err(EventError::InvalidField {
                    field: name,
                    found: format!("{} {}", json_type(other), truncate(&other.to_string())),
                }),
            }
        };
        Ok(RawEvent {
            deployment_id: field(DEPLOYMENT_ID)?,
            execution_id: field(EXECUTION_ID)?,
        })
    }

    /// The validated step: each id holds to CodeDeploy's shape.
    pub fn validate(self) -> Result<LifecycleEvent, EventError> {
        let invalid = |field: &'static str, text: &str, problem: IdProblem| EventError::InvalidId {
            field,
            problem,
            found: preview(text, PREVIEW_CHARS),
        };
        let deployment_id = DeploymentId::parse(self.deployment_id)
            .map_err(|p| invalid(DEPLOYMENT_ID, self.deployment_id, p))?;
        let execution_id = ExecutionId::parse(self.execution_id)
            .map_err(|p| invalid(EXECUTION_ID, self.execution_id, p))?;
        Ok(LifecycleEvent {
            deployment_id,
            execution_id,
        })
    }
}

/// A lifecycle event whose ids are CodeDeploy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// The hook execution to report against.
    pub execution_id: ExecutionId,
}

/// Parses and checks a lifecycle event: both steps.
pub fn parse_event(payload: &Value) -> Result<LifecycleEvent, EventError> {
    RawEvent::from_value(payload)?.validate()
}

/// An invocation's payload as the runtime hands it over: JSON, or why the
/// body is not JSON. Deserialising it never fails, so a body that is not JSON
/// reaches the handler (and is answered as [`EventError::NotJson`]) instead
/// of being answered by the runtime with its own error type.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The body, parsed.
    Json(Value),
    /// The body is not JSON: the parser's message.
    NotJson(String),
}

impl Payload {
    /// A body read as `lambda_runtime` (1.5, `deserializer.rs`) reads it: one
    /// value from a `serde_json` deserializer of the bytes, with no check for
    /// trailing bytes. For tests and the fuzz target.
    pub fn from_body(body: &[u8]) -> Payload {
        match Payload::deserialize(&mut serde_json::Deserializer::from_slice(body)) {
            Ok(payload) => payload,
            // Unreachable: `deserialize` keeps every error as data.
            Err(error) => Payload::NotJson(error.to_string()),
        }
    }

    /// The JSON payload, or the event error for a body that is not JSON.
    pub fn into_json(self) -> Result<Value, EventError> {
        match self {
            Payload::Json(value) => Ok(value),
            Payload::NotJson(problem) => Err(EventError::NotJson {
                problem: crate::vocab::text::untrusted(&problem),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Payload, D::Error> {
        // The runtime hands over a deserializer of the whole body; an error
        // here is the body's (syntax, depth, a number out of range), and
        // nothing is read after this value, so keeping the message as data is
        // the whole of the handling.
        Ok(match Value::deserialize(deserializer) {
            Ok(value) => Payload::Json(value),
            Err(error) => Payload::NotJson(error.to_string()),
        })
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value's JSON text, cut and escaped for a message.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 60;
    let escaped = crate::vocab::text::escaped(text);
    if escaped.chars().count() <= MAX {
        escaped.into_owned()
    } else {
        format!("{}...", escaped.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REAL_EXECUTION: &str = "eyJlbmNyeXB0ZWREYXRhIjoi";

    #[test]
    fn accepts_a_real_event() {
        let event = parse_event(&json!({
            "DeploymentId": "d-ABCDEF123",
            "LifecycleEventHookExecutionId": REAL_EXECUTION
        }))
        .unwrap();
        assert_eq!(event.deployment_id.as_str(), "d-ABCDEF123");
        assert_eq!(event.execution_id.as_str(), REAL_EXECUTION);
    }

    #[test]
    fn accepts_the_sample_events() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let payload: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                parse_event(&payload).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            (json!([]), "not a JSON object"),
            (
                json!({"LifecycleEventHookExecutionId": "x"}),
                "`DeploymentId`",
            ),
            (
                json!({"DeploymentId": "d-1"}),
                "`LifecycleEventHookExecutionId`",
            ),
            (
                json!({"DeploymentId": 42, "LifecycleEventHookExecutionId": "x"}),
                "`DeploymentId` field must be a non-empty string, found a number 42",
            ),
            (
                json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "  "}),
                "found an empty string",
            ),
        ];
        for (payload, expected) in cases {
            let message = parse_event(&payload).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn deployment_ids_of_another_shape_are_refused_saying_why() {
        let cases = [
            ("d-ABC\u{0}DEF12", "U+0000 at position 6"),
            ("\u{1b}[31md-CATAGDYBL", "U+001B at position 1"),
            (
                "../../codedeploy-gates/freeze",
                "'.' (U+002E) at position 1",
            ),
            ("d-CATAGDYBL\n{}", "U+000A at position 12"),
            ("d-catagdybl", "'c' (U+0063) at position 3"),
            ("d-\u{202e}LBYDGATAC", "U+202E at position 3"),
            ("d-CATAGDYB", "10 characters"),
            ("d-CATAGDYBLX", "12 characters"),
            ("x-CATAGDYBL", "'x' (U+0078) at position 1"),
            ("D-CATAGDYBL", "'D' (U+0044) at position 1"),
            ("d", "no `d-` prefix"),
            (
                "8e3c0b6a-1f3e-4c55-9e0b-2f9f2a8e1c11",
                "'8' (U+0038) at position 1",
            ),
        ];
        for (id, expected) in cases {
            let error = parse_event(&json!({
                "DeploymentId": id,
                "LifecycleEventHookExecutionId": REAL_EXECUTION,
            }))
            .unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(
                    error,
                    EventError::InvalidId {
                        field: "DeploymentId",
                        ..
                    }
                ),
                "{id:?}: {message}"
            );
            assert!(message.contains(expected), "{id:?}: {message}");
            assert!(message.contains("such as d-A1B2C3123"), "{message}");
            assert!(
                !message.chars().any(crate::vocab::text::is_unsafe),
                "{message:?}"
            );
        }
    }

    #[test]
    fn execution_ids_of_another_shape_are_refused() {
        let long = "e".repeat(EXECUTION_ID_MAX_CHARS + 1);
        let cases = [
            ("eyJ\r\nX-Injected: yes", "U+000D at position 4"),
            ("../../etc/passwd", "'.' (U+002E) at position 1"),
            ("exec id", "U+0020 at position 5"),
            (long.as_str(), "2049 characters"),
        ];
        for (id, expected) in cases {
            let error = parse_event(&json!({
                "DeploymentId": "d-CATAGDYBL",
                "LifecycleEventHookExecutionId": id,
            }))
            .unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(
                    error,
                    EventError::InvalidId {
                        field: "LifecycleEventHookExecutionId",
                        ..
                    }
                ),
                "{message}"
            );
            assert!(message.contains(expected), "{id:.40}: {message}");
        }
        // The longest accepted, and the base64url alphabet.
        let longest = "e".repeat(EXECUTION_ID_MAX_CHARS);
        assert!(ExecutionId::parse(&longest).is_ok());
        assert!(ExecutionId::parse("exec-a_b+c/d=").is_ok());
    }

    #[test]
    fn a_huge_id_is_refused_with_a_short_message() {
        let huge = format!("d-{}", "A".repeat(5_000_000));
        let message = parse_event(&json!({
            "DeploymentId": huge,
            "LifecycleEventHookExecutionId": REAL_EXECUTION,
        }))
        .unwrap_err()
        .to_string();
        assert!(message.contains("5000002 characters"), "{message}");
        assert!(message.contains("(5000002 characters in all)"), "{message}");
        assert!(message.len() < 400, "{} bytes", message.len());
    }

    #[test]
    fn a_body_that_is_not_json_is_an_event_error() {
        for (body, expected) in [
            (
                &br#"{"DeploymentId": "d-CATAGDYBL", "Lifecycle"#[..],
                "EOF while parsing",
            ),
            (b"", "EOF while parsing"),
            (br#"{"DeploymentId": 1e400}"#, "number out of range"),
            (b"{\"DeploymentId\": \"\xff\"}", "invalid unicode"),
            (b"\x1b[2J", "expected value"),
        ] {
            let payload = Payload::from_body(body);
            let error = payload.into_json().unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("the event is not valid JSON (") && message.contains(expected),
                "{body:?}: {message}"
            );
        }
        // JSON is JSON, whatever it holds.
        let payload = Payload::from_body(br#"[1]"#);
        assert_eq!(payload, Payload::Json(json!([1])));
    }
}
