//! Deployment metrics as CloudWatch Embedded Metric Format log lines.
//!
//! CloudWatch Logs turns a JSON log line with an `_aws` member into metrics
//! (`_aws.Timestamp`, `_aws.CloudWatchMetrics[{Namespace, Dimensions, Metrics}]`,
//! the values as top-level members): no `PutMetricData` call, no extra
//! permission, no time taken from the hook's deadline.
//!
//! One line per decision, dimension `Hook`: `Evaluations`, `Failures` (the hook
//! reported `Failed`), `DecisionLatency` (invocation to report),
//! `AuditWriteFailures`, `AlertFailures`. When the decision called for a kill
//! switch, one more line, dimension `Hook`: `KillSwitchFlips` (flags turned
//! off) and `KillSwitchFailures` (flags that could not be; alarm on it). And one line per gate, dimensions
//! `Hook` + `Gate`: `GateEvaluations`, `GateFailures`, `GateErrors`,
//! `GateInconclusive`, `GateNotJudged` (no baseline to compare with, say:
//! counted apart, so that an alarm on `GateInconclusive` means thin
//! evidence, not a baseline gate waiting for its history). A dimension has one value per document, so failures
//! by gate need a document per gate; the per-gate lines carry the deployment
//! id too, for Logs Insights, as a plain member that is not a dimension.
//!
//! And one line per bake-analysis run that stood down (a duplicate or
//! replayed delivery, see `analysis`), dimension `Hook`:
//! `AnalysisStandDowns`. One now and then is Lambda's at-least-once delivery;
//! a flood of them is someone replaying invocations, worth an alarm.

use super::after::{AfterReport, AlertOutcome, AuditWrite};
use super::DecisionRecord;
use crate::judge::{GateOutcome, LifecycleStatus};
use serde_json::{json, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "CodeDeployGates";

fn document(
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: &[(&str, &str, f64)],
    extra: Value,
) -> Value {
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
    });
    for (name, _, value) in metrics {
        doc[*name] = json!(value);
    }
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    doc
}

fn count(yes: bool) -> f64 {
    if yes {
        1.0
    } else {
        0.0
    }
}

/// The EMF documents of one decision, as log lines (decision first, then one
/// per gate in the record's order).
pub fn metric_lines(
    record: &DecisionRecord,
    after: &AfterReport,
    timestamp_ms: i64,
) -> Vec<String> {
    let hook = record.hook.as_str();
    let common = json!({
        "Hook": hook,
        "deployment_id": record.deployment_id,
        "lifecycle_event_hook_execution_id": record.lifecycle_event_hook_execution_id,
    });
    let mut decision = common.clone();
    decision["status"] = json!(record.status);
    decision["audit_write"] = json!(after.audit_write.to_string());
    decision["alert"] = json!(after.alert.to_string());
    let mut lines = vec![document(
        timestamp_ms,
        &["Hook"],
        &[
            ("Evaluations", "Count", 1.0),
            (
                "Failures",
                "Count",
                count(record.status == LifecycleStatus::Failed),
            ),
            ("DecisionLatency", "Milliseconds", record.elapsed_ms as f64),
            (
                "AuditWriteFailures",
                "Count",
                count(matches!(after.audit_write, AuditWrite::Failed(_))),
            ),
            (
                "AlertFailures",
                "Count",
                count(matches!(after.alert, AlertOutcome::Failed(_))),
            ),
        ],
        decision,
    )];
    if let Some(kill_switch) = &record.kill_switch {
        // A line of its own, only when the decision called for a kill
        // switch: the decision's line keeps its metrics.
        let mut extra = common.clone();
        extra["kill_switch"] = json!(kill_switch);
        lines.push(document(
            timestamp_ms,
            &["Hook"],
            &[
                ("KillSwitchFlips", "Count", kill_switch.turned_off() as f64),
                ("KillSwitchFailures", "Count", kill_switch.failed() as f64),
            ],
            extra,
        ));
    }
    for gate in &record.gates {
        let mut extra = common.clone();
        extra["Gate"] = json!(gate.name);
        lines.push(document(
            timestamp_ms,
            &["Hook", "Gate"],
            &[
                ("GateEvaluations", "Count", 1.0),
                (
                    "GateFailures",
                    "Count",
                    count(gate.outcome == GateOutcome::Fail),
                ),
                (
                    "GateErrors",
                    "Count",
                    count(gate.outcome == GateOutcome::Error),
                ),
                (
                    "GateInconclusive",
                    "Count",
                    count(gate.outcome == GateOutcome::Inconclusive && gate.not_judged.is_none()),
                ),
                ("GateNotJudged", "Count", count(gate.not_judged.is_some())),
            ],
            extra,
        ));
    }
    lines.into_iter().map(|doc| doc.to_string()).collect()
}

/// The EMF line of a bake-analysis run that stood down without measuring
/// or reporting, with its reason for Logs Insights.
pub fn stand_down_line(
    hook: &str,
    deployment_id: &str,
    execution_id: &str,
    reason: &str,
    timestamp_ms: i64,
) -> String {
    document(
        timestamp_ms,
        &["Hook"],
        &[("AnalysisStandDowns", "Count", 1.0)],
        json!({
            "Hook": hook,
            "deployment_id": deployment_id,
            "lifecycle_event_hook_execution_id": execution_id,
            "reason": reason,
        }),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::GateResult;
    use crate::policy::Severity;
    use crate::report::{PolicyRef, ReportSummary, RECORD_KIND};
    use crate::vocab::hook::Hook;

    /// Checks one line against the EMF specification: `_aws.Timestamp` in epoch
    /// milliseconds, `_aws.CloudWatchMetrics` directives each with a namespace,
    /// dimension sets naming top-level string members, and metrics naming
    /// top-level numeric members with a valid unit. Returns the document.
    fn conforming(line: &str) -> Value {
        let doc: Value = serde_json::from_str(line).expect("an EMF line is one JSON object");
        let aws = &doc["_aws"];
        assert!(
            aws["Timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_000_000_000_000),
            "{line}"
        );
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics array");
        assert!(!directives.is_empty());
        for directive in directives {
            let namespace = directive["Namespace"].as_str().unwrap();
            assert!(!namespace.is_empty() && namespace.len() <= 255);
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(!set.is_empty() && set.len() <= 30);
                for key in set {
                    let key = key.as_str().unwrap();
                    assert!(
                        doc[key].is_string(),
                        "dimension {key} is not a top-level string: {line}"
                    );
                }
            }
            let metrics = directive["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().unwrap();
                assert!(
                    doc[name].is_number(),
                    "metric {name} has no top-level value: {line}"
                );
                assert!(
                    ["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()),
                    "{line}"
                );
            }
        }
        doc
    }

    fn record(status: LifecycleStatus, gates: Vec<GateResult>) -> DecisionRecord {
        DecisionRecord {
            kill_switch: None,
            discovery: None,
            discovery_error: None,
            record: RECORD_KIND,
            deployment_id: "d-EMF".into(),
            lifecycle_event_hook_execution_id: "exec-1".into(),
            hook: Hook::BeforeAllowTraffic,
            status,
            dry_run: None,
            reason: "r".into(),
            switches: None,
            switch_error: None,
            gates,
            report: ReportSummary::Accepted,
            deployment: None,
            deployment_error: None,
            policy: PolicyRef {
                source: "embedded".into(),
                digest: "sha256:00".into(),
            },
            evaluated_at: 1_795_428_240,
            elapsed_ms: 842,
            analysis: None,
            function_version: None,
            gate_version: "0.1.0",
            omitted: None,
            audit: None,
        }
    }

    #[test]
    fn one_decision_line_and_one_line_per_gate_all_valid_emf() {
        let gates = vec![
            GateResult::new(
                "error-rate",
                Severity::Critical,
                GateOutcome::Fail,
                "x".into(),
            ),
            GateResult::new(
                "latency-p95",
                Severity::Critical,
                GateOutcome::Pass,
                "x".into(),
            ),
            GateResult::new(
                "healthy-hosts",
                Severity::Critical,
                GateOutcome::Error,
                "x".into(),
            ),
        ];
        let after = AfterReport {
            audit_write: AuditWrite::Failed("AccessDenied".into()),
            alert: AlertOutcome::Sent,
        };
        let lines = metric_lines(
            &record(LifecycleStatus::Failed, gates),
            &after,
            1_795_428_240_123,
        );
        let docs: Vec<Value> = lines.iter().map(|l| conforming(l)).collect();
        assert_eq!(docs.len(), 4);
        let decision = &docs[0];
        assert_eq!(
            decision["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        assert_eq!(
            decision["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Hook"]])
        );
        assert_eq!(decision["_aws"]["Timestamp"], 1_795_428_240_123i64);
        assert_eq!(
            (
                &decision["Hook"],
                &decision["Evaluations"],
                &decision["Failures"],
                &decision["DecisionLatency"],
                &decision["AuditWriteFailures"],
                &decision["AlertFailures"]
            ),
            (
                &json!("BeforeAllowTraffic"),
                &json!(1.0),
                &json!(1.0),
                &json!(842.0),
                &json!(1.0),
                &json!(0.0)
            )
        );
        let per_gate: Vec<(String, f64, f64)> = docs[1..]
            .iter()
            .map(|d| {
                assert_eq!(
                    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                    json!([["Hook", "Gate"]])
                );
                (
                    d["Gate"].as_str().unwrap().to_string(),
                    d["GateFailures"].as_f64().unwrap(),
                    d["GateErrors"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            per_gate,
            [
                ("error-rate".to_string(), 1.0, 0.0),
                ("latency-p95".to_string(), 0.0, 0.0),
                ("healthy-hosts".to_string(), 0.0, 1.0)
            ]
        );
    }

    /// A gate the judge could not judge (no baseline) is counted apart: an
    /// alarm on `GateInconclusive` fired on every healthy deployment of the
    /// default policy, whose dry-run baseline gate has no history at first.
    #[test]
    fn a_gate_not_judged_is_counted_apart_from_inconclusive() {
        let mut not_judged = GateResult::new(
            "latency-vs-baseline",
            Severity::Critical,
            GateOutcome::Inconclusive,
            "x".into(),
        );
        not_judged.not_judged = Some(crate::bind::NotJudged::NoBaseline);
        let thin = GateResult::new(
            "error-rate",
            Severity::Critical,
            GateOutcome::Inconclusive,
            "x".into(),
        );
        let after = AfterReport {
            audit_write: AuditWrite::Written,
            alert: AlertOutcome::NotDue,
        };
        let lines = metric_lines(
            &record(LifecycleStatus::Succeeded, vec![not_judged, thin]),
            &after,
            1_795_428_240_123,
        );
        let counts: Vec<(f64, f64)> = lines[1..]
            .iter()
            .map(|l| conforming(l))
            .map(|d| {
                (
                    d["GateInconclusive"].as_f64().unwrap(),
                    d["GateNotJudged"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(counts, [(0.0, 1.0), (1.0, 0.0)]);
    }

    #[test]
    fn a_stand_down_is_one_valid_emf_line_counting_one() {
        let line = stand_down_line(
            "AfterAllowTraffic",
            "d-ABCDEFGHI",
            "ZXhlYw==",
            "run 1 is already running",
            1_760_000_000_000,
        );
        let doc = conforming(&line);
        assert_eq!(doc["AnalysisStandDowns"], 1.0);
        assert_eq!(doc["Hook"], "AfterAllowTraffic");
        assert_eq!(doc["reason"], "run 1 is already running");
    }

    #[test]
    fn a_success_counts_no_failure() {
        let after = AfterReport {
            audit_write: AuditWrite::Written,
            alert: AlertOutcome::NotDue,
        };
        let lines = metric_lines(
            &record(LifecycleStatus::Succeeded, Vec::new()),
            &after,
            1_795_428_240_000,
        );
        assert_eq!(lines.len(), 1);
        let doc = conforming(&lines[0]);
        assert_eq!(
            (&doc["Failures"], &doc["AuditWriteFailures"]),
            (&json!(0.0), &json!(0.0))
        );
    }
}
