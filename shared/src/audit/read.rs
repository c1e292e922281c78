//! Reading decision records as they were logged: the hooks' JSON lines, or
//! the JSON `aws logs filter-log-events` prints.

use super::{AuditError, RECORD_KIND};
use serde_json::Value;

/// A decision record read from a file, with where it came from.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// `FILE:LINE` or `FILE: event N`.
    pub origin: String,
    /// The record as logged.
    pub record: Value,
}

/// Reads the decision records in `text`: JSON lines as the hooks print them,
/// or the JSON `aws logs filter-log-events` prints (its `events[].message`
/// are the lines). Lines that are not decision records (other logs, metrics)
/// are skipped; the count of unparsable lines is returned with them.
pub fn read_records(name: &str, text: &str) -> (Vec<ReadRecord>, usize) {
    let mut records = Vec::new();
    let mut unreadable = 0;
    // A whole document first: the AWS CLI's output (possibly several pages).
    let documents: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect();
    let exported = documents.as_ref().ok().filter(|docs| {
        docs.iter()
            .any(|d| d.get("events").is_some_and(Value::is_array))
    });
    if let Some(documents) = exported {
        let mut n = 0;
        for document in documents {
            for event in document["events"].as_array().into_iter().flatten() {
                n += 1;
                let origin = format!("{name}: event {n}");
                let read = match event["message"].as_str() {
                    Some(message) => read_record(origin, message),
                    None => Err(AuditError::NoMessage { origin }),
                };
                keep(read, &mut records, &mut unreadable);
            }
        }
        return (records, unreadable);
    }
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let read = read_record(format!("{name}:{}", i + 1), line);
        keep(read, &mut records, &mut unreadable);
    }
    (records, unreadable)
}

/// The decision record logged as `line` (read at `origin`), or `None` when
/// the line is JSON but another kind of log line (a metric, another log).
pub fn read_record(origin: String, line: &str) -> Result<Option<ReadRecord>, AuditError> {
    match serde_json::from_str::<Value>(line.trim()) {
        Ok(value) if value["record"] == RECORD_KIND => Ok(Some(ReadRecord {
            origin,
            record: value,
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(AuditError::NotJson {
            origin,
            reason: e.to_string(),
        }),
    }
}

/// Keeps a record read, counts a line that could not be.
fn keep(
    read: Result<Option<ReadRecord>, AuditError>,
    records: &mut Vec<ReadRecord>,
    unreadable: &mut usize,
) {
    match read {
        Ok(Some(record)) => records.push(record),
        Ok(None) => {}
        Err(_) => *unreadable += 1,
    }
}
