//! Chain tests: a good chain verifies, and each kind of tampering is named at
//! the right link.

use super::*;
use crate::judge::{
    GateFigures, GateOutcome, GateResult, GateSeries, LifecycleStatus, Observation, Rule,
    ThresholdFigure, ThresholdFigures,
};
use crate::policy::{Comparison, Severity, Threshold, ThresholdUnit};
use crate::report::{DecisionRecord, PolicyRef, ReportSummary};
use crate::vocab::hook::Hook;
use crate::vocab::TimeRange;
use serde_json::json;
use std::collections::HashMap;

const DEPLOYMENT: &str = "d-ABCDEF123";

/// One record's JSON, linked after `previous` and sealed.
fn sealed(deployment: &str, execution: &str, previous: Option<&ChainHead>, p95: f64) -> Value {
    let mut value = json!({
        "record": RECORD_KIND,
        "deployment_id": deployment,
        "lifecycle_event_hook_execution_id": execution,
        "hook": "AfterAllowTraffic",
        "status": "Succeeded",
        "gates": [{"name": "latency-p95", "outcome": "pass", "observations": [{"value": p95}]}],
    });
    value["audit"] = serde_json::to_value(AuditLink::after(previous)).unwrap();
    let digest = record_digest(&value);
    value["audit"]["digest"] = json!(digest);
    value
}

fn chain(deployment: &str, n: u64) -> Vec<ReadRecord> {
    let mut previous: Option<ChainHead> = None;
    (1..=n)
        .map(|i| {
            let record = sealed(
                deployment,
                &format!("exec-{i}"),
                previous.as_ref(),
                0.25 + i as f64 / 100.0,
            );
            previous = Some(ChainHead {
                sequence: i,
                digest: record["audit"]["digest"].as_str().unwrap().to_string(),
            });
            ReadRecord {
                origin: format!("records.jsonl:{i}"),
                record,
            }
        })
        .collect()
}

fn check(records: &[ReadRecord]) -> ChainReport {
    let mut reports = verify(records, &HashMap::new());
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.remove(0)
}

fn head_of(records: &[ReadRecord]) -> ChainHead {
    let last = &records.last().unwrap().record["audit"];
    ChainHead {
        sequence: last["sequence"].as_u64().unwrap(),
        digest: last["digest"].as_str().unwrap().into(),
    }
}

#[test]
fn an_intact_chain_verifies_in_any_order_and_read_twice() {
    let records = chain(DEPLOYMENT, 4);
    let report = check(&records);
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.records, report.last), (4, Some(head_of(&records))));
    // Four log groups exported separately arrive in any order, and overlapping
    // exports repeat records.
    let mut shuffled: Vec<ReadRecord> = records.iter().rev().cloned().collect();
    shuffled.push(records[1].clone());
    let report = check(&shuffled);
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.records, 4);
}

#[test]
fn an_edited_record_is_named() {
    let mut records = chain(DEPLOYMENT, 4);
    records[2].record["status"] = json!("Failed");
    let report = check(&records);
    assert_eq!(
        report.breaks,
        [Break::Altered {
            sequence: 3,
            origin: "records.jsonl:3".into()
        }]
    );
    assert_eq!(
        report.breaks[0].to_string(),
        "record 3 (records.jsonl:3) was altered: its content no longer matches its digest"
    );
}

#[test]
fn an_edited_number_deep_inside_is_named() {
    let mut records = chain(DEPLOYMENT, 3);
    records[1].record["gates"][0]["observations"][0]["value"] = json!(0.2701);
    assert!(matches!(
        check(&records).breaks.as_slice(),
        [Break::Altered { sequence: 2, .. }]
    ));
}

#[test]
fn a_deleted_record_is_named() {
    let mut records = chain(DEPLOYMENT, 5);
    records.remove(2);
    let report = check(&records);
    assert_eq!(report.breaks, [Break::Missing { from: 3, to: 3 }]);
    assert_eq!(report.breaks[0].to_string(), "record 3 is missing");
    let mut records = chain(DEPLOYMENT, 5);
    records.drain(0..2);
    assert_eq!(check(&records).breaks, [Break::Missing { from: 1, to: 2 }]);
}

#[test]
fn a_record_recomputed_after_editing_breaks_the_next_link() {
    // A forger who edits record 2 and recomputes its digest still breaks record 3.
    let mut records = chain(DEPLOYMENT, 3);
    let first = head_of(&records[..1]);
    records[1].record = sealed(DEPLOYMENT, "exec-2", Some(&first), 9.9);
    let report = check(&records);
    assert_eq!(
        report.breaks,
        [Break::Relinked {
            sequence: 3,
            origin: "records.jsonl:3".into(),
            links_to: None
        }]
    );
    assert!(report.breaks[0]
        .to_string()
        .contains("record 2 was replaced or removed"));
}

#[test]
fn reordered_records_are_named() {
    // Records 2 and 3 swap places, re-sealed so their own digests hold: the
    // links say what happened (record 3 now follows record 1).
    let records = chain(DEPLOYMENT, 4);
    let mut swapped = records.clone();
    let renumber = |record: &mut Value, sequence: u64| {
        record["audit"]["sequence"] = json!(sequence);
        let digest = record_digest(record);
        record["audit"]["digest"] = json!(digest);
    };
    renumber(&mut swapped[1].record, 3);
    renumber(&mut swapped[2].record, 2);
    let report = check(&swapped);
    assert!(
        report.breaks.iter().any(|b| matches!(
            b,
            Break::Relinked {
                sequence: 3,
                links_to: Some(1),
                ..
            }
        )),
        "{:?}",
        report.breaks
    );
    assert!(!report.intact());
}

#[test]
fn the_head_catches_a_truncated_tail() {
    let records = chain(DEPLOYMENT, 5);
    let head = head_of(&records);
    let heads = HashMap::from([(DEPLOYMENT.to_string(), head.clone())]);
    assert!(verify(&records, &heads)[0].intact());
    let truncated = &records[..3];
    let report = verify(truncated, &heads).remove(0);
    assert_eq!(
        report.breaks[0].to_string(),
        "records 4 to 5 are missing: the head in SSM is at record 5 but the records end at 3"
    );
    // Without the head, a truncated tail cannot be seen: the documented limit.
    assert!(check(truncated).intact());
}

#[test]
fn a_duplicate_delivery_on_a_side_branch_is_a_note_but_a_foreign_fork_is_a_break() {
    let records = chain(DEPLOYMENT, 3);
    let first = head_of(&records[..1]);
    // The same event (exec-2) delivered twice, both runs read head 1.
    let mut twin = sealed(DEPLOYMENT, "exec-2", Some(&first), 0.31);
    twin["report"] = json!({"outcome": "already_completed"});
    let digest = record_digest(&twin);
    twin["audit"]["digest"] = json!(digest);
    let mut with_twin = records.clone();
    with_twin.push(ReadRecord {
        origin: "dup.jsonl:1".into(),
        record: twin,
    });
    let report = check(&with_twin);
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].contains("duplicate delivery of execution exec-2"));

    let stranger = sealed(DEPLOYMENT, "exec-forged", Some(&first), 0.31);
    let mut forked = records;
    forked.push(ReadRecord {
        origin: "forged.jsonl:1".into(),
        record: stranger,
    });
    assert!(matches!(
        check(&forked).breaks.as_slice(),
        [Break::Fork { sequence: 2, .. }]
    ));
}

#[test]
fn deployments_are_checked_apart_and_unchained_records_are_noted() {
    let mut records = chain("d-ONE", 2);
    records.extend(chain("d-TWO", 3));
    let mut unchained = json!({"record": RECORD_KIND, "deployment_id": "d-TWO",
        "lifecycle_event_hook_execution_id": "exec-x", "hook": "BeforeInstall"});
    unchained["audit"] = serde_json::to_value(AuditLink::unchained(
        "the chain head could not be read: denied".into(),
    ))
    .unwrap();
    records.push(ReadRecord {
        origin: "x:1".into(),
        record: unchained,
    });
    let reports = verify(&records, &HashMap::new());
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.deployment_id.as_str(), r.records, r.intact()))
            .collect::<Vec<_>>(),
        [("d-ONE", 2, true), ("d-TWO", 3, true)]
    );
    assert!(reports[1].notes[0].contains("not chained: the chain head could not be read: denied"));
}

#[test]
fn next_link_follows_the_stored_head() {
    use crate::evidence::switches::StoredHead;
    let first = next_link(Ok(&StoredHead::Absent));
    assert_eq!((first.sequence, first.previous_digest), (Some(1), None));
    let digest = format!("sha256:{}", "ab".repeat(32));
    let stored = StoredHead::Value(format!(r#"{{"sequence":7,"digest":"{digest}"}}"#));
    let next = next_link(Ok(&stored));
    assert_eq!(
        (next.sequence, next.previous_digest),
        (Some(8), Some(digest))
    );
    for (stored, why) in [
        (StoredHead::Value("7".into()), "is not JSON"),
        (
            StoredHead::Value(r#"{"sequence":0,"digest":"sha256:00"}"#.into()),
            "needs a sequence from 1",
        ),
        (StoredHead::NotKept, "switches are off"),
    ] {
        let link = next_link(Ok(&stored));
        assert_eq!(link.sequence, None);
        assert!(link.unchained.as_deref().unwrap().contains(why), "{link:?}");
    }
    let failed = next_link(Err("AccessDenied".into()));
    assert!(failed
        .unchained
        .unwrap()
        .contains("could not be read: AccessDenied"));
}

#[test]
fn a_sealed_decision_record_verifies_from_its_logged_line() {
    // The digest the hook computes from the struct is the one a verifier
    // computes from the printed line, floats and all.
    let mut gate = GateResult::new(
        "error-rate",
        Severity::Critical,
        GateOutcome::Fail,
        "3 of 5".into(),
    );
    let mut figures = ThresholdFigures::new(
        ThresholdFigure {
            comparison: Comparison::GreaterThan,
            limit: Threshold {
                value: 0.01,
                unit: ThresholdUnit::Plain,
            },
            baseline: None,
        },
        Rule {
            datapoints_to_alarm: 3,
            evaluation_periods: 5,
            period_secs: 60,
        },
        TimeRange {
            start: 1_795_428_000,
            end: 1_795_428_300,
        },
    );
    figures.series = Some(GateSeries::from_observations(
        60,
        &[
            Observation {
                baseline: None,
                timestamp: 1_795_428_000,
                value: Some(0.1 + 0.2),
                breaching: true,
                judged: true,
            },
            Observation {
                baseline: None,
                timestamp: 1_795_428_060,
                value: Some(1e-7),
                breaching: false,
                judged: true,
            },
            Observation {
                baseline: None,
                timestamp: 1_795_428_120,
                value: None,
                breaching: false,
                judged: false,
            },
        ],
    ));
    gate.figures = GateFigures::Threshold(figures);
    let mut previous = None;
    let mut lines = Vec::new();
    for i in 1..=3 {
        let mut record = DecisionRecord {
            discovery: None,
            discovery_error: None,
            record: RECORD_KIND,
            deployment_id: DEPLOYMENT.into(),
            lifecycle_event_hook_execution_id: format!("exec-{i}"),
            hook: Hook::AfterAllowTraffic,
            status: LifecycleStatus::Failed,
            dry_run: None,
            reason: "error-rate [fail] ünïcödé \"quoted\"".into(),
            switches: None,
            switch_error: None,
            gates: vec![gate.clone()],
            report: ReportSummary::Accepted,
            deployment: None,
            deployment_error: None,
            policy: PolicyRef {
                source: "embedded".into(),
                digest: "sha256:00".into(),
            },
            evaluated_at: 1_795_428_240,
            elapsed_ms: 17,
            analysis: None,
            function_version: Some("$LATEST".into()),
            gate_version: "0.1.0",
            omitted: None,
            audit: None,
        };
        record.seal(AuditLink::after(previous.as_ref()));
        previous = record.audit.as_ref().and_then(AuditLink::head);
        lines.push(record.to_json_line());
    }
    let (records, unreadable) = read_records("hook.log", &lines.join("\n"));
    assert_eq!((records.len(), unreadable), (3, 0));
    let report = check(&records);
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.last, previous);
}

#[test]
fn records_are_read_from_json_lines_and_from_the_aws_cli_export() {
    let records = chain(DEPLOYMENT, 2);
    let lines = format!(
        "{}\nnot json at all\n{{\"level\":\"INFO\",\"message\":\"ready\"}}\n{}\n",
        records[0].record, records[1].record
    );
    let (read, unreadable) = read_records("a.log", &lines);
    assert_eq!((read.len(), unreadable), (2, 1));
    assert_eq!(read[1].origin, "a.log:4");

    let export = json!({
        "events": [
            {"logStreamName": "s", "timestamp": 1, "message": format!("{}\n", records[0].record), "eventId": "1"},
            {"logStreamName": "s", "timestamp": 2, "message": "{\"_aws\": {}}", "eventId": "2"},
            {"logStreamName": "s", "timestamp": 3, "message": records[1].record.to_string(), "eventId": "3"},
        ],
        "searchedLogStreams": [],
    });
    let (read, unreadable) = read_records(
        "export.json",
        &serde_json::to_string_pretty(&export).unwrap(),
    );
    assert_eq!((read.len(), unreadable), (2, 0));
    assert_eq!(read[1].origin, "export.json: event 3");
    assert!(check(&read).intact());
}

#[test]
fn a_line_that_is_not_json_is_an_error_naming_where_it_was_read() {
    let record = &chain(DEPLOYMENT, 1)[0].record;
    let read = read_record("a.log:1".into(), &format!("  {record}\n")).unwrap();
    assert_eq!(read.map(|r| r.origin).as_deref(), Some("a.log:1"));
    assert!(matches!(
        read_record("a.log:2".into(), r#"{"level":"INFO"}"#),
        Ok(None)
    ));
    let error = read_record("a.log:3".into(), "not json at all").unwrap_err();
    assert!(
        matches!(&error, AuditError::NotJson { origin, .. } if origin == "a.log:3"),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("a.log:3: not JSON: "),
        "{error}"
    );
    // An exported event without a message counts as unreadable.
    let export = json!({"events": [{"timestamp": 1}, {"message": record.to_string()}]});
    let (read, unreadable) = read_records("export.json", &export.to_string());
    assert_eq!((read.len(), unreadable), (1, 1));
    assert_eq!(read[0].origin, "export.json: event 2");
}

#[test]
fn a_head_that_cannot_be_followed_is_an_audit_error() {
    use crate::evidence::switches::StoredHead;
    let digest = format!("sha256:{}", "cd".repeat(32));
    let text = format!(r#"{{"sequence":3,"digest":"{digest}"}}"#);
    assert_eq!(
        ChainHead::parse(&text),
        Ok(ChainHead {
            sequence: 3,
            digest: digest.clone()
        })
    );
    assert_eq!(
        previous_head(Ok(&StoredHead::Value(text)))
            .unwrap()
            .map(|h| h.sequence),
        Some(3)
    );
    assert_eq!(previous_head(Ok(&StoredHead::Absent)), Ok(None));
    assert_eq!(
        previous_head(Ok(&StoredHead::NotKept)),
        Err(AuditError::HeadNotKept)
    );
    assert_eq!(
        previous_head(Err("AccessDenied".into())),
        Err(AuditError::HeadUnreadable("AccessDenied".into()))
    );
    assert!(matches!(
        ChainHead::parse("7"),
        Err(AuditError::HeadNotJson { text, .. }) if text == "7"
    ));
    let zero = format!(r#"{{"sequence":0,"digest":"{digest}"}}"#);
    assert_eq!(
        ChainHead::parse(&zero),
        Err(AuditError::HeadInvalid { text: zero.clone() })
    );
    assert_eq!(
        ChainHead::parse(r#"{"sequence":1,"digest":"sha256:00"}"#)
            .unwrap_err()
            .to_string(),
        r#"the chain head "{\"sequence\":1,\"digest\":\"sha256:00\"}" needs a sequence from 1 and a sha256:<64 hex> digest"#
    );
}
