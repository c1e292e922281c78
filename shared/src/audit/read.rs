//! Reading decision records as they were logged: the hooks' JSON lines, or
//! the JSON `aws logs filter-log-events` prints.

use super::RECORD_KIND;
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
                let Some(message) = event["message"].as_str() else {
                    unreadable += 1;
                    continue;
                };
                match serde_json::from_str::<Value>(message.trim()) {
                    Ok(value) if value["record"] == RECORD_KIND => records.push(ReadRecord {
                        origin: format!("{name}: event {n}"),
                        record: value,
                    }),
                    Ok(_) => {}
                    Err(_) => unreadable += 1,
                }
            }
        }
        return (records, unreadable);
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(value) if value["record"] == RECORD_KIND => records.push(ReadRecord {
                origin: format!("{name}:{}", i + 1),
                record: value,
            }),
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    (records, unreadable)
}
