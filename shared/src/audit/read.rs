//! Reading decision records as they were logged: the hooks' JSON lines, or
//! the JSON `aws logs filter-log-events` prints.
//!
//! Reading fails closed. A file is an AWS CLI export only when every JSON
//! document in it is an export page (an object with an `events` array);
//! otherwise it is read line by line, and one stray `{"events":[]}` among
//! JSON lines is a line of its own, not a reason to read the file another
//! way. Each line (or exported event) is classified: a decision record, or one
//! of the lines the hooks' log groups also hold (EMF metrics, the hooks' JSON
//! logs, Lambda's platform lines), or a problem naming `FILE:LINE`: not UTF-8,
//! longer than a CloudWatch Logs event can be, not JSON, a key given twice
//! (see [`super::json`]), a record of a kind this version does not read, or a
//! line of no known kind. A line skipped unread could be a record hidden from
//! the verifier, so nothing is skipped without being recognised.

use super::json::{self, StrictValue};
use super::{AuditError, RECORD_KIND};
use serde_json::{Map, Value};

/// The longest line (or exported message) read, in bytes: the most one
/// CloudWatch Logs event can hold (256 KiB). The hooks fit their records
/// well within it (`report::LOG_EVENT_BOUND`); a longer line was never logged
/// whole, and reading it would only cost memory.
pub const LINE_BOUND: usize = 256 * 1024;

/// The beginnings of Lambda's own lines in a function's log group (text log
/// format): they carry no record.
const PLATFORM_LINES: [&str; 9] = [
    "START RequestId: ",
    "END RequestId: ",
    "REPORT RequestId: ",
    "INIT_START ",
    "INIT_REPORT ",
    "RESTORE_START ",
    "RESTORE_REPORT ",
    "EXTENSION ",
    "TELEMETRY ",
];

/// A decision record read from a file, with where it came from.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// `FILE:LINE` or `FILE: event N`.
    pub origin: String,
    /// The record as logged.
    pub record: Value,
}

/// What a file held: its records, and every line that could not be read as
/// a record or recognised as another kind of log line.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The decision records, in file order.
    pub records: Vec<ReadRecord>,
    /// The problems, in file order: each names its line or event.
    pub problems: Vec<AuditError>,
}

/// Reads the decision records in `input` (the bytes of the file `name`):
/// JSON lines as the hooks print them, or the JSON `aws logs
/// filter-log-events` prints (its `events[].message` are the lines).
pub fn read_records(name: &str, input: &[u8]) -> Reading {
    let mut reading = Reading::default();
    match export_pages(input) {
        Some(Ok(pages)) => {
            let events = pages
                .iter()
                .flat_map(|page| page["events"].as_array().into_iter().flatten());
            for (i, event) in events.enumerate() {
                let origin = format!("{name}: event {}", i + 1);
                let read = match event.get("message") {
                    Some(Value::String(message)) if message.len() > LINE_BOUND => {
                        Err(AuditError::TooLong {
                            origin,
                            bytes: message.len(),
                        })
                    }
                    Some(Value::String(message)) => read_record(origin, message),
                    _ => Err(AuditError::NoMessage { origin }),
                };
                reading.keep(read);
            }
        }
        Some(Err(error)) => reading.problems.push(AuditError::DuplicateKey {
            origin: format!("{name}:{}", error.line()),
            column: error.column(),
            detail: json::bare_message(&error),
        }),
        None => {
            for (i, line) in input.split(|&b| b == b'\n').enumerate() {
                let origin = format!("{name}:{}", i + 1);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let read = if line.len() > LINE_BOUND {
                    Err(AuditError::TooLong {
                        origin,
                        bytes: line.len(),
                    })
                } else {
                    match std::str::from_utf8(line) {
                        Ok(text) => read_record(origin, text),
                        Err(error) => Err(AuditError::NotUtf8 {
                            origin,
                            column: error.valid_up_to() + 1,
                        }),
                    }
                };
                reading.keep(read);
            }
        }
    }
    reading
}

/// The pages of an AWS CLI export, when every JSON document in `input` is
/// one (an object with an `events` array; the CLI prints one, or one per
/// page): `None` when the input is anything else, to be read line by line;
/// an error when the pages hold a key twice. Read leniently first, strictly
/// only when it is an export: JSON lines are classified after their first
/// line.
fn export_pages(input: &[u8]) -> Option<Result<Vec<Value>, serde_json::Error>> {
    let is_page = |d: &Value| d.get("events").is_some_and(Value::is_array);
    let mut documents = 0;
    for document in serde_json::Deserializer::from_slice(input).into_iter::<Value>() {
        match document {
            Ok(document) if is_page(&document) => documents += 1,
            _ => return None,
        }
    }
    if documents == 0 {
        return None;
    }
    Some(
        serde_json::Deserializer::from_slice(input)
            .into_iter::<StrictValue>()
            .map(|d| d.map(|d| d.0))
            .collect(),
    )
}

impl Reading {
    fn keep(&mut self, read: Result<Option<ReadRecord>, AuditError>) {
        match read {
            Ok(Some(record)) => self.records.push(record),
            Ok(None) => {}
            Err(problem) => self.problems.push(problem),
        }
    }
}

/// The decision record logged as `line` (read at `origin`); `None` for a
/// blank line or one of the other lines a hook's log group holds (EMF
/// metrics, the hooks' JSON logs, Lambda's platform lines); an error for
/// anything else. The caller bounds the line's length ([`LINE_BOUND`]).
pub fn read_record(origin: String, line: &str) -> Result<Option<ReadRecord>, AuditError> {
    let text = line.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.starts_with('{') && PLATFORM_LINES.iter().any(|p| text.starts_with(p)) {
        return Ok(None);
    }
    let value = json::parse(text).map_err(|error| {
        if error.is_data() {
            AuditError::DuplicateKey {
                origin: origin.clone(),
                column: error.column(),
                detail: json::bare_message(&error),
            }
        } else {
            AuditError::NotJson {
                origin: origin.clone(),
                reason: error.to_string(),
            }
        }
    })?;
    let Value::Object(fields) = &value else {
        return Err(AuditError::UnknownLine {
            origin,
            what: describe(&value),
        });
    };
    match fields.get("record") {
        Some(Value::String(kind)) if kind == RECORD_KIND => {
            match fields.get("deployment_id") {
                Some(Value::String(id)) if !id.is_empty() => {}
                other => {
                    return Err(AuditError::Malformed {
                        origin,
                        problem: format!(
                            "the record's deployment_id is {}, not a deployment id: it cannot be placed in a chain",
                            other.map_or("missing".into(), shown)
                        ),
                    })
                }
            }
            Ok(Some(ReadRecord {
                origin,
                record: value,
            }))
        }
        Some(Value::String(kind)) if kind.starts_with("codedeploy-gates.") => {
            Err(AuditError::UnknownKind {
                origin,
                kind: kind.clone(),
            })
        }
        Some(Value::Object(_)) if is_platform(fields) => Ok(None),
        None if !fields.contains_key("audit")
            && (is_metrics(fields) || is_log(fields) || is_platform(fields)) =>
        {
            Ok(None)
        }
        _ => Err(AuditError::UnknownLine {
            origin,
            what: describe(&value),
        }),
    }
}

/// An EMF document: `_aws.CloudWatchMetrics` (what `report::emf` prints).
fn is_metrics(fields: &Map<String, Value>) -> bool {
    fields
        .get("_aws")
        .and_then(|aws| aws.get("CloudWatchMetrics"))
        .is_some_and(Value::is_array)
}

/// A line of the hooks' JSON logs (tracing's JSON format: `timestamp`,
/// `level`, `fields`).
fn is_log(fields: &Map<String, Value>) -> bool {
    let level = fields.get("level").and_then(Value::as_str);
    fields.get("timestamp").is_some_and(Value::is_string)
        && fields.get("fields").is_some_and(Value::is_object)
        && level.is_some_and(|l| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&l))
}

/// Lambda's platform line in the JSON log format (`type: platform.*`).
fn is_platform(fields: &Map<String, Value>) -> bool {
    fields.get("time").is_some_and(Value::is_string)
        && fields
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("platform."))
}

/// What an unrecognised line is, in a few words (its keys, escaped).
fn describe(value: &Value) -> String {
    match value {
        Value::Object(fields) if fields.is_empty() => "an empty JSON object".into(),
        Value::Object(fields) => {
            let keys: Vec<String> = fields.keys().take(6).map(|k| format!("{k:?}")).collect();
            let more = if fields.len() > keys.len() {
                ", …"
            } else {
                ""
            };
            format!("a JSON object with the keys {}{more}", keys.join(", "))
        }
        Value::Array(_) => "a JSON array".into(),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "JSON null".into(),
    }
}

/// A value for a message: JSON text, cut at 80 characters.
pub(super) fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
