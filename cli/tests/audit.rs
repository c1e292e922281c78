//! `gatectl audit verify` on files, without AWS: an intact chain, and each kind
//! of tampering named at its link with exit status 1. (The `--head` check
//! against SSM is in the end-to-end tests, `tests/tests/audit.rs`.)

use metric_gate::audit::{record_digest, AuditLink, ChainHead};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// `n` sealed records of deployment `d-CLI`, as JSON lines.
fn chain(n: u64) -> Vec<Value> {
    let mut previous: Option<ChainHead> = None;
    (1..=n)
        .map(|i| {
            let mut record = json!({
                "record": "codedeploy-gates.decision.v1",
                "deployment_id": "d-CLI",
                "lifecycle_event_hook_execution_id": format!("exec-{i}"),
                "hook": "AfterAllowTraffic",
                "status": "Succeeded",
                "gates": [{"name": "error-rate", "observations": [{"value": 0.002}]}],
            });
            record["audit"] = serde_json::to_value(AuditLink::after(previous.as_ref())).unwrap();
            let digest = record_digest(&record);
            record["audit"]["digest"] = json!(digest);
            previous = Some(ChainHead {
                sequence: i,
                digest,
            });
            record
        })
        .collect()
}

fn write(name: &str, records: &[Value]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatectl-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    path
}

fn verify(path: &PathBuf) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).replace(&path.display().to_string(), "FILE"),
    )
}

#[test]
fn an_intact_chain_exits_0() {
    let records = chain(3);
    let (code, stdout) = verify(&write("intact.jsonl", &records));
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        stdout,
        format!(
            "d-CLI: intact: 3 records; record 3 is {}\n",
            records[2]["audit"]["digest"].as_str().unwrap()
        )
    );
}

#[test]
fn a_tampered_file_names_the_first_broken_link() {
    let mut records = chain(4);
    records[1]["status"] = json!("Failed");
    let (code, stdout) = verify(&write("edited.jsonl", &records));
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "d-CLI: BROKEN: first broken link: record 2 (FILE:2) was altered: its content no longer matches its digest\n"
    );

    let mut records = chain(4);
    records.remove(2);
    let (code, stdout) = verify(&write("deleted.jsonl", &records));
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "d-CLI: BROKEN: first broken link: record 3 is missing\n"
    );
}

#[test]
fn a_file_without_records_is_an_error() {
    let log = json!({"timestamp": "2026-12-06T22:00:00Z", "level": "INFO", "fields": {"message": "ready"}});
    let (code, _) = verify(&write("empty.jsonl", &[log]));
    assert_eq!(code, Some(2));
    // A line of no known kind is named, with exit status 1 (issue 15).
    let (code, stdout) = verify(&write("unknown.jsonl", &[json!({"level": "INFO"})]));
    assert_eq!(code, Some(1));
    assert!(
        stdout.starts_with("BROKEN: FILE:1: not a decision record"),
        "{stdout}"
    );
}

#[test]
fn text_from_the_files_reaches_the_terminal_escaped() {
    // Issue 15: ids and reasons come from the files verified.
    let mut records = chain(1);
    records[0]["deployment_id"] = json!("d-\u{1b}[2J\u{202e}X");
    let record = records[0].clone();
    records[0]["audit"]["digest"] = json!(record_digest(&record));
    let (code, stdout) = verify(&write("escapes.jsonl", &records));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.starts_with("d-\\u{1b}[2J\\u{202e}X: intact: 1 record;"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{202e}'));
}
