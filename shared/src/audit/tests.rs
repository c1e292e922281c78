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

/// `record` sealed again after an edit, as a forger with the code would.
fn resealed(mut record: Value) -> Value {
    let digest = record_digest(&record);
    record["audit"]["digest"] = json!(digest);
    record
}

/// A line of the hooks' JSON logs, as tracing prints it.
const LOG_LINE: &str = r#"{"timestamp":"2026-12-06T22:00:00.123456Z","level":"INFO","fields":{"message":"gate evaluated","gate":"error-rate"}}"#;

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
    let mut twin = sealed(DEPLOYMENT, "exec-2", Some(&first), 0.27);
    twin["report"] = json!({"outcome": "already_completed"});
    twin["elapsed_ms"] = json!(912);
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
    let unchained = resealed(unchained);
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
            kill_switch: None,
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
    let Reading { records, problems } = read_records("hook.log", lines.join("\n").as_bytes());
    assert_eq!((records.len(), problems), (3, vec![]));
    let report = check(&records);
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.last, previous);
}

#[test]
fn records_are_read_from_json_lines_and_from_the_aws_cli_export() {
    let records = chain(DEPLOYMENT, 2);
    let lines = format!(
        "{}\n{LOG_LINE}\n\nSTART RequestId: 1f2e Version: $LATEST\n{}\n",
        records[0].record, records[1].record
    );
    let Reading {
        records: read,
        problems,
    } = read_records("a.log", lines.as_bytes());
    assert_eq!((read.len(), problems), (2, vec![]));
    assert_eq!(read[1].origin, "a.log:5");

    let export = json!({
        "events": [
            {"logStreamName": "s", "timestamp": 1, "message": format!("{}\n", records[0].record), "eventId": "1"},
            {"logStreamName": "s", "timestamp": 2, "message": "{\"_aws\": {\"Timestamp\": 1, \"CloudWatchMetrics\": []}, \"Evaluations\": 1}", "eventId": "2"},
            {"logStreamName": "s", "timestamp": 3, "message": records[1].record.to_string(), "eventId": "3"},
        ],
        "searchedLogStreams": [],
    });
    let Reading {
        records: read,
        problems,
    } = read_records(
        "export.json",
        serde_json::to_string_pretty(&export).unwrap().as_bytes(),
    );
    assert_eq!((read.len(), problems), (2, vec![]));
    assert_eq!(read[1].origin, "export.json: event 3");
    assert!(check(&read).intact());
}

#[test]
fn a_line_that_is_not_json_is_an_error_naming_where_it_was_read() {
    let record = &chain(DEPLOYMENT, 1)[0].record;
    let read = read_record("a.log:1".into(), &format!("  {record}\n")).unwrap();
    assert_eq!(read.map(|r| r.origin).as_deref(), Some("a.log:1"));
    assert!(matches!(read_record("a.log:2".into(), LOG_LINE), Ok(None)));
    let error = read_record("a.log:3".into(), "not json at all").unwrap_err();
    assert!(
        matches!(&error, AuditError::NotJson { origin, .. } if origin == "a.log:3"),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("a.log:3: not JSON: "),
        "{error}"
    );
    // An exported event without a message is a problem named by its place.
    let export = json!({"events": [{"timestamp": 1}, {"message": record.to_string()}]});
    let Reading {
        records: read,
        problems,
    } = read_records("export.json", export.to_string().as_bytes());
    assert_eq!(
        (read.len(), problems),
        (
            1,
            vec![AuditError::NoMessage {
                origin: "export.json: event 1".into()
            }]
        )
    );
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

// Issue 15, "Audit trail": forgeries that verified before, each now a break
// or a problem naming its line.

fn read(origin: &str, record: Value) -> ReadRecord {
    ReadRecord {
        origin: origin.into(),
        record,
    }
}

fn unchained_record(status: &str) -> Value {
    let mut record = json!({"record": RECORD_KIND, "deployment_id": DEPLOYMENT,
        "lifecycle_event_hook_execution_id": "exec-off", "hook": "AfterAllowTraffic",
        "status": status});
    record["audit"] = serde_json::to_value(AuditLink::unchained(
        "no chain head is kept: the switches are off (GATE_SWITCH_PREFIX=none)".into(),
    ))
    .unwrap();
    resealed(record)
}

#[test]
fn an_unchained_record_has_its_digest_checked() {
    let genuine = unchained_record("Failed");
    let report = check(&[read("off.log:1", genuine.clone())]);
    assert!(report.intact(), "{report:?}");
    assert!(
        report.notes[0].contains("is not chained: no chain head is kept")
            && report.notes[0].contains("its own digest holds"),
        "{:?}",
        report.notes
    );
    let mut edited = genuine;
    edited["status"] = json!("Succeeded");
    let report = check(&[read("off.log:1", edited)]);
    assert_eq!(
        report.breaks,
        [Break::AlteredUnchained {
            origin: "off.log:1".into()
        }]
    );
    assert_eq!(
        report.breaks[0].to_string(),
        "the unchained record at off.log:1 was altered: its content no longer matches its digest"
    );
}

/// A twin of record 2 (same execution, same predecessor) re-sealed with
/// `edit` applied.
fn twin_of_2(records: &[ReadRecord], edit: impl Fn(&mut Value)) -> ReadRecord {
    let mut twin = records[1].record.clone();
    twin["report"] = json!({"outcome": "already_completed"});
    edit(&mut twin);
    read("twin.log:1", resealed(twin))
}

#[test]
fn a_resealed_twin_with_another_status_is_a_fork_wherever_it_is_read() {
    let records = chain(DEPLOYMENT, 3);
    let twin = twin_of_2(&records, |t| t["status"] = json!("Failed"));
    // After the genuine record, before it, and with no successor to pick the
    // genuine one (the end of the chain, no head): a fork every time.
    let orders = [
        vec![
            records[0].clone(),
            records[1].clone(),
            records[2].clone(),
            twin.clone(),
        ],
        vec![
            twin.clone(),
            records[0].clone(),
            records[1].clone(),
            records[2].clone(),
        ],
        vec![records[0].clone(), twin.clone(), records[1].clone()],
    ];
    for order in orders {
        let report = check(&order);
        assert_eq!(report.breaks.len(), 1, "{report:?}");
        let Break::Fork {
            sequence: 2,
            origins,
            difference,
        } = &report.breaks[0]
        else {
            panic!("{report:?}");
        };
        assert!(origins.contains(&"twin.log:1".to_string()), "{origins:?}");
        assert_eq!(
            difference,
            r#"status: "Succeeded" vs "Failed""#
                .replace(
                    if origins[0] == "twin.log:1" {
                        "\"Succeeded\" vs \"Failed\""
                    } else {
                        ""
                    },
                    if origins[0] == "twin.log:1" {
                        "\"Failed\" vs \"Succeeded\""
                    } else {
                        ""
                    },
                )
                .as_str()
        );
        assert!(report.breaks[0]
            .to_string()
            .starts_with("record 2 exists twice ("));
    }
}

#[test]
fn a_duplicate_delivery_may_differ_only_in_delivery_metadata() {
    let records = chain(DEPLOYMENT, 3);
    let genuine = twin_of_2(&records, |t| {
        t["elapsed_ms"] = json!(4_321);
        t["evaluated_at"] = json!(1_795_428_301);
    });
    let mut with_twin = records.clone();
    with_twin.push(genuine);
    let report = check(&with_twin);
    assert!(report.intact(), "{report:?}");
    assert!(report.notes[0].contains("agree on everything but delivery metadata"));

    for (edit, says) in [
        (
            (|t: &mut Value| t["gates"][0]["observations"][0]["value"] = json!(0.99))
                as fn(&mut Value),
            "gates[0].observations[0].value: 0.27 vs 0.99",
        ),
        (
            |t: &mut Value| t["reason"] = json!("forged"),
            r#"reason: absent vs "forged""#,
        ),
        (
            |t: &mut Value| t["hook"] = json!("BeforeAllowTraffic"),
            r#"hook: "AfterAllowTraffic" vs "BeforeAllowTraffic""#,
        ),
        (
            |t: &mut Value| t["lifecycle_event_hook_execution_id"] = json!("exec-other"),
            r#"lifecycle_event_hook_execution_id: "exec-2" vs "exec-other""#,
        ),
        (
            |t: &mut Value| {
                t["report"] = json!({"outcome": "accepted"});
                t["elapsed_ms"] = json!(5);
            },
            "report: both say CodeDeploy accepted their status",
        ),
    ] {
        let mut records = records.clone();
        // The genuine record 2 says CodeDeploy accepted its status.
        records[1].record["report"] = json!({"outcome": "accepted"});
        records[1].record = resealed(records[1].record.clone());
        records[2].record["audit"]["previous_digest"] =
            records[1].record["audit"]["digest"].clone();
        records[2].record = resealed(records[2].record.clone());
        records.push(twin_of_2(&records, edit));
        let report = check(&records);
        assert!(
            matches!(&report.breaks[..], [Break::Fork { sequence: 2, difference, .. }] if difference.starts_with(says)),
            "{says}: {report:?}"
        );
    }
}

#[test]
fn a_record_whose_link_is_malformed_is_a_break_naming_its_field() {
    let records = chain(DEPLOYMENT, 3);
    let problem = |edit: &dyn Fn(&mut Value)| -> String {
        let mut forged = records.clone();
        edit(&mut forged[1].record);
        forged[1].record = resealed(forged[1].record.clone());
        // (A removed digest stays removed.)
        edit(&mut forged[1].record);
        let report = check(&forged);
        let first = report
            .breaks
            .first()
            .unwrap_or_else(|| panic!("intact: {report:?}"));
        assert!(
            matches!(first, Break::Malformed { origin, .. } if origin == "records.jsonl:2"),
            "{report:?}"
        );
        first.to_string()
    };
    type Edit<'a> = &'a dyn Fn(&mut Value);
    let cases: [(Edit, &str); 12] = [
        (
            &|r| r["audit"]["sequence"] = json!(0),
            "audit.sequence 0 is not a whole number from 1",
        ),
        (
            &|r| r["audit"]["sequence"] = json!(-2),
            "audit.sequence -2 is not a whole number from 1",
        ),
        (
            &|r| r["audit"]["sequence"] = json!(2.5),
            "audit.sequence 2.5 is not",
        ),
        (
            &|r| r["audit"]["sequence"] = json!("2"),
            r#"audit.sequence "2" is not"#,
        ),
        (
            &|r| {
                r["audit"].as_object_mut().unwrap().remove("digest");
            },
            "audit.digest is missing",
        ),
        (
            &|r| r["audit"]["digest"] = json!("sha256:XYZ"),
            r#"audit.digest "sha256:XYZ" is not a SHA-256 digest"#,
        ),
        (
            &|r| r["audit"]["digest"] = json!(format!("sha256:{}", "AB".repeat(32))),
            "is not a SHA-256 digest",
        ),
        (
            &|r| {
                r["audit"]
                    .as_object_mut()
                    .unwrap()
                    .remove("previous_digest");
            },
            "audit.previous_digest is missing",
        ),
        (
            &|r| r["audit"]["previous_digest"] = Value::Null,
            "record 2 names no predecessor",
        ),
        (
            &|r| r["audit"]["unchained"] = json!("why"),
            "audit.sequence and audit.unchained are both set",
        ),
        (
            &|r| r["hook"] = json!("AfterEverything"),
            r#"hook is "AfterEverything", not one of the four hooks"#,
        ),
        (
            &|r| {
                r.as_object_mut().unwrap().remove("audit");
            },
            "it has no audit link",
        ),
    ];
    for (edit, says) in cases {
        let text = problem(edit);
        assert!(text.contains(says), "{says:?} not in {text:?}");
        assert!(
            text.contains("(records.jsonl:2)") || text.contains("at records.jsonl:2"),
            "{text}"
        );
    }
    // A record placed at sequence 0 is named before anything else.
    let mut zero = records[1].record.clone();
    zero["audit"]["sequence"] = json!(0);
    let mut forged = records.clone();
    forged.insert(1, read("inserted.log:1", resealed(zero)));
    let report = check(&forged);
    assert_eq!(
        report.breaks[0].to_string(),
        "the record at inserted.log:1 cannot be verified: audit.sequence 0 is not a whole number from 1"
    );
}

#[test]
fn a_sequence_at_the_end_of_the_numbers_does_not_overflow() {
    let mut records = chain(DEPLOYMENT, 2);
    records[1].record["audit"]["sequence"] = json!(u64::MAX);
    records[1].record = resealed(records[1].record.clone());
    let mut twin = records[1].record.clone();
    twin["status"] = json!("Failed");
    records.push(read("twin.log:1", resealed(twin)));
    let report = check(&records);
    assert_eq!(
        report.breaks.first(),
        Some(&Break::Missing {
            from: 2,
            to: u64::MAX - 1
        }),
        "{report:?}"
    );
    assert!(report
        .breaks
        .iter()
        .any(|b| matches!(b, Break::Fork { .. })));
}

fn problems(input: &str) -> Vec<String> {
    read_records("f.log", input.as_bytes())
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_stray_export_page_among_json_lines_is_a_line_of_its_own() {
    let records = chain(DEPLOYMENT, 2);
    let text = format!(
        "{}\n{{\"events\":[]}}\n{}\n",
        records[0].record, records[1].record
    );
    let reading = read_records("f.log", text.as_bytes());
    assert_eq!(reading.records.len(), 2);
    assert_eq!(
        reading.problems,
        [AuditError::UnknownLine {
            origin: "f.log:2".into(),
            what: r#"a JSON object with the keys "events""#.into()
        }]
    );
    assert!(reading.problems[0].to_string().starts_with(
        "f.log:2: not a decision record, EMF metrics, a hook's log line or a Lambda platform line"
    ));
    // Export pages in one line each (the CLI's compact output) are an export.
    let pages = format!(
        "{}\n{}\n",
        json!({"events": [{"message": records[0].record.to_string()}]}),
        json!({"events": [{"message": records[1].record.to_string()}], "nextToken": null})
    );
    let reading = read_records("pages.json", pages.as_bytes());
    assert_eq!((reading.records.len(), reading.problems), (2, vec![]));
    assert_eq!(reading.records[1].origin, "pages.json: event 2");
}

#[test]
fn a_key_given_twice_anywhere_is_refused() {
    let record = chain(DEPLOYMENT, 1)[0].record.to_string();
    let top = record.replacen('{', r#"{"status":"Failed","#, 1);
    let nested = record.replacen(
        r#""outcome":"pass""#,
        r#""outcome":"fail","outcome":"pass""#,
        1,
    );
    assert_ne!(nested, record);
    let found = problems(&format!("{top}\n{nested}"));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with(r#"f.log:1: duplicate key "status" (column "#),
        "{found:?}"
    );
    assert!(
        found[1].starts_with(r#"f.log:2: duplicate key "outcome" in gates[0] (column "#),
        "{found:?}"
    );
    // In an export: in the message, and in the export's own JSON.
    let export = json!({"events": [{"message": top}]}).to_string();
    assert!(problems(&export)[0].starts_with(r#"f.log: event 1: duplicate key "status""#));
    let export = format!(
        r#"{{"events": [{{"message": {}, "message": "{{}}"}}]}}"#,
        serde_json::to_string(&record).unwrap()
    );
    assert!(
        problems(&export)[0].starts_with(r#"f.log:1: duplicate key "message" in events[0]"#),
        "{:?}",
        problems(&export)
    );
    // Keys in messages are escaped.
    let odd = problems(r#"{"a":{"b\u001b[2J":1,"b\u001b[2J":2}}"#);
    assert!(
        odd[0].contains(r#"duplicate key "b\u{1b}[2J" in a"#),
        "{odd:?}"
    );
}

#[test]
fn the_strict_reading_builds_the_value_serde_json_builds() {
    let record = chain(DEPLOYMENT, 1)[0].record.to_string();
    let line = format!(
        r#"{},"x":[1,-2,3.5e-7,0.1,1e300,18446744073709551615,18446744073709551616,-0,true,null,"é\u0000"]}}"#,
        &record[..record.len() - 1]
    );
    let strict = super::json::parse(&line).unwrap();
    let plain: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(strict, plain);
    assert_eq!(record_digest(&strict), record_digest(&plain));
    // serde_json's nesting limit still holds.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(super::json::parse(&deep).is_err());
    let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    assert!(
        matches!(
            read_record("f.log:1".into(), &deep),
            Err(AuditError::NotJson { reason, .. }) if reason.starts_with("recursion limit exceeded")
        ),
        "a nesting bomb is not JSON we read, not a key given twice"
    );
}

#[test]
fn every_line_is_classified_and_unknown_ones_are_named() {
    let known = [
        LOG_LINE.to_string(),
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"CodeDeployGates","Dimensions":[["Hook"]],"Metrics":[]}]},"Hook":"AfterAllowTraffic","Evaluations":1}"#.into(),
        "START RequestId: 8f5e Version: $LATEST".into(),
        "END RequestId: 8f5e".into(),
        "REPORT RequestId: 8f5e\tDuration: 12.5 ms".into(),
        "INIT_START Runtime Version: provided:al2023.v99".into(),
        r#"{"time":"2026-12-06T22:00:00.000Z","type":"platform.start","record":{"requestId":"8f5e"}}"#.into(),
        "   ".into(),
    ];
    assert_eq!(problems(&known.join("\n")), Vec::<String>::new());
    for (line, says) in [
        (
            r#"{"events":[]}"#,
            r#"(a JSON object with the keys "events")"#,
        ),
        (r#"{"hello":"world"}"#, "not a decision record"),
        ("[1,2]", "(a JSON array)"),
        ("42", "(a JSON number)"),
        (r#"{"level":"INFO"}"#, "not a decision record"),
        (r#"{"_aws":{}}"#, "not a decision record"),
        (r#"{"record":"something-else"}"#, "not a decision record"),
        (
            r#"{"timestamp":"t","level":"INFO","fields":{},"audit":{"digest":"x"}}"#,
            "not a decision record",
        ),
        (
            r#"{"record":"codedeploy-gates.decision.v2","deployment_id":"d-1"}"#,
            r#"a record of kind "codedeploy-gates.decision.v2""#,
        ),
        (
            r#"{"record":"codedeploy-gates.decision.v1"}"#,
            "the record's deployment_id is missing",
        ),
        (
            r#"{"record":"codedeploy-gates.decision.v1","deployment_id":""}"#,
            r#"the record's deployment_id is """#,
        ),
        ("thread 'main' panicked at src/main.rs:1:1", "not JSON"),
        (
            r#"{"record":"codedeploy-gates.decision.v1","deployment_id":"d-1","#,
            "not JSON: EOF while parsing",
        ),
    ] {
        let found = problems(&format!("{LOG_LINE}\n{line}"));
        assert_eq!(found.len(), 1, "{line}: {found:?}");
        assert!(found[0].starts_with("f.log:2: "), "{found:?}");
        assert!(found[0].contains(says), "{says:?} not in {found:?}");
    }
}

#[test]
fn bytes_that_are_not_utf8_and_lines_too_long_are_named() {
    let record = chain(DEPLOYMENT, 1)[0].record.to_string();
    let mut input = format!("{LOG_LINE}\n").into_bytes();
    input.extend_from_slice(&record.as_bytes()[..10]);
    input.push(0xC3);
    input.extend_from_slice(&record.as_bytes()[10..]);
    let reading = read_records("f.log", &input);
    assert_eq!(
        reading.problems,
        [AuditError::NotUtf8 {
            origin: "f.log:2".into(),
            column: 11
        }]
    );
    let long = format!(
        "{record}\n{{\"timestamp\":\"t\",\"level\":\"INFO\",\"fields\":{{\"message\":\"{}\"}}}}\n",
        "x".repeat(LINE_BOUND)
    );
    let found = problems(&long);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("f.log:2: 2622")
            && found[0]
                .contains(" bytes, longer than a CloudWatch Logs event can be (262144 bytes)"),
        "{found:?}"
    );
    // A message longer than an event, in an export.
    let export = json!({"events": [{"message": "y".repeat(LINE_BOUND + 1)}]}).to_string();
    assert!(problems(&export)[0].starts_with("f.log: event 1: 262145 bytes, longer than"));
    // A file ending in a line cut short.
    let cut = format!("{record}\n{}", &record[..record.len() / 2]);
    let found = problems(&cut);
    assert!(
        found[0].starts_with("f.log:2: not JSON: EOF while parsing"),
        "{found:?}"
    );
}

#[test]
fn an_unchained_record_of_a_chained_execution_points_at_the_chained_one() {
    let mut records = chain(DEPLOYMENT, 2);
    let mut forged = unchained_record("Succeeded");
    forged["lifecycle_event_hook_execution_id"] = json!("exec-2");
    records.push(read("extra.log:1", resealed(forged)));
    let report = check(&records);
    assert!(report.intact(), "{report:?}");
    assert!(
        report.notes[0].ends_with(
            "its own digest holds, but no chain vouches for it; the chain holds execution exec-2 as record 2"
        ),
        "{:?}",
        report.notes
    );
}

mod property {
    //! Any one byte of a genuine log changed, inserted or removed: either the
    //! records read are the ones written (the change was whitespace), or the
    //! verifier says something is wrong. Never a different record passing.
    use super::*;
    use proptest::prelude::*;

    fn genuine() -> (Vec<u8>, Vec<Value>) {
        let records = chain(DEPLOYMENT, 3);
        let values: Vec<Value> = records.iter().map(|r| r.record.clone()).collect();
        let mut text = String::new();
        for (i, record) in values.iter().enumerate() {
            text.push_str(&record.to_string());
            text.push('\n');
            if i == 0 {
                text.push_str(LOG_LINE);
                text.push('\n');
            }
        }
        (text.into_bytes(), values)
    }

    fn passes(input: &[u8]) -> Option<Vec<Value>> {
        let reading = read_records("f.log", input);
        let reports = verify(&reading.records, &HashMap::new());
        let intact = reading.problems.is_empty() && reports.iter().all(ChainReport::intact);
        intact.then(|| reading.records.into_iter().map(|r| r.record).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn one_byte_changed_is_noticed_or_harmless(at in any::<prop::sample::Index>(), byte in any::<u8>(), how in 0..3u8) {
            let (mut input, values) = genuine();
            let at = at.index(input.len());
            match how {
                0 => input[at] = byte,
                1 => input.insert(at, byte),
                _ => { input.remove(at); }
            }
            if let Some(read) = passes(&input) {
                let mut read = read;
                // A whole record dropped from the end (the last newline and
                // line turned into nothing) is the documented limit: only
                // the head shows it. Anything else must read as written.
                read.sort_by_key(|r| r["audit"]["sequence"].as_u64());
                prop_assert_eq!(&read[..], &values[..read.len()]);
                prop_assert!(read.len() == values.len(), "a record vanished: {}", String::from_utf8_lossy(&input));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_never_pass_as_records(input in prop::collection::vec(any::<u8>(), 0..400)) {
            let reading = read_records("f.log", &input);
            prop_assert!(reading.records.is_empty());
            let _ = verify(&reading.records, &HashMap::new());
        }
    }
}
