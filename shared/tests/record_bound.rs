//! Issue 15: a policy's strings make up its decision record, and six gates
//! named with 100,000 characters made a 1 MB record that no log event holds.
//! Validation now bounds every hook section's record
//! (`policy::limits::record_bytes_at_most`). This test takes the largest
//! policy validation accepts, writes the worst record it can produce (every
//! gate failing, every series failed by CloudWatch, reasons as long as
//! the judge writes them, every discovered value at its largest) and checks
//! the record still fits one CloudWatch Logs event.

use metric_gate::evidence::SeriesStatus;
use metric_gate::judge::{
    GateFigures, GateOutcome, GateResult, GateSeries, LifecycleStatus, Rule, SampleFigures,
    SeriesCompleteness, ThresholdFigure, ThresholdFigures,
};
use metric_gate::policy::limits::{
    DISCOVERED_VALUE_BYTES, MAX_GATES_PER_HOOK, MAX_GATE_NAME_CHARS, REASON_BYTES, RECORD_BUDGET,
};
use metric_gate::policy::{GateCheck, Policy, Severity};
use metric_gate::report::{DecisionRecord, PolicyRef, ReportSummary, LOG_EVENT_BOUND, RECORD_KIND};
use metric_gate::vocab::TimeRange;
use metric_gate::Hook;

const PERIODS: usize = 1440;
const START: i64 = 1_795_428_000;

/// A policy of `gates` ratio gates with a live baseline, each name and label
/// as long as validation allows, each dimension a discovered value.
fn policy(gates: usize, long_labels: bool) -> Result<Policy, String> {
    let long = |c: &str, n: usize| {
        if long_labels {
            c.repeat(n)
        } else {
            c.to_string()
        }
    };
    let query = |name: &str| {
        format!(
            "{{ namespace: {}, name: {name}{}, stat: p99.99, dimensions: {{ TargetGroup: \"${{canary.target_group}}\", LoadBalancer: \"${{canary.load_balancer}}\", {}: {} }} }}",
            long("N", 255),
            long("m", 240),
            long("D", 255),
            long("v", 1024),
        )
    };
    let mut yaml = String::from("version: 1\nhooks:\n  BeforeAllowTraffic:\n    gates:\n");
    for i in 0..gates {
        let name = format!("{i:03}{}", "g".repeat(MAX_GATE_NAME_CHARS - 3));
        yaml.push_str(&format!(
            "      - name: {name}\n        ratio: {{ numerator: [{}], denominator: [{}] }}\n        min_sample: {{ at_least: 10 }}\n        comparison: \">\"\n        threshold: 1.5 x baseline\n        baseline: live\n",
            query("A"),
            query("B"),
        ));
    }
    Policy::from_yaml(&yaml, "bound.yaml", &|_| None).map_err(|e| e.to_string())
}

/// The query label a record names, each discovered value filled in at its
/// largest.
fn filled(label: String) -> String {
    let big = "x".repeat(DISCOVERED_VALUE_BYTES);
    label
        .replace("${canary.target_group}", &big)
        .replace("${canary.load_balancer}", &big)
        .replace("${baseline.target_group}", &big)
        .replace("${baseline.load_balancer}", &big)
}

#[test]
fn the_worst_record_of_the_largest_valid_policy_fits_one_log_event() {
    assert_eq!(RECORD_BUDGET, LOG_EVENT_BOUND);
    worst_record_fits(true);
    worst_record_fits(false);
}

fn worst_record_fits(long_labels: bool) {
    let policy = |n| policy(n, long_labels);
    // The largest number of these gates validation accepts.
    let accepted = (1..=MAX_GATES_PER_HOOK)
        .take_while(|n| policy(*n).is_ok())
        .last()
        .expect("one gate is accepted");
    let refused = policy(accepted + 1).unwrap_err();
    assert!(
        refused.contains("could reach") || refused.contains("at most"),
        "{}",
        &refused[..refused.len().min(600)]
    );
    let policy = policy(accepted).unwrap();
    let section = policy.hook(Hook::BeforeAllowTraffic).unwrap();

    let mut gates = Vec::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            unreachable!()
        };
        let labels: Vec<String> = check
            .all_queries()
            .map(|q| filled(format!("baseline: {q}")))
            .collect();
        let longest = labels.iter().map(String::len).max().unwrap();
        let reason = "r".repeat(REASON_BYTES + longest);
        let mut result = GateResult::new(&gate.name, Severity::Critical, GateOutcome::Fail, reason);
        result.blocking = true;
        let mut figures = ThresholdFigures::new(
            ThresholdFigure {
                comparison: check.comparison,
                limit: check.threshold,
                baseline: None,
            },
            Rule {
                datapoints_to_alarm: 1440,
                evaluation_periods: 1440,
                period_secs: 60,
            },
            TimeRange {
                start: START,
                end: START + 60 * PERIODS as i64,
            },
        );
        figures.breaching = Some(PERIODS);
        figures.completeness = labels
            .iter()
            .map(|label| SeriesCompleteness {
                query: label.as_str().into(),
                expected: PERIODS,
                present: 0,
                status: SeriesStatus::Failed(format!(
                    "CloudWatch status InternalError for {label}"
                )),
            })
            .collect();
        figures.sample = Some(SampleFigures {
            query: filled(check.min_sample.as_ref().unwrap().query.to_string()).into(),
            observed: 123_456_789.123,
            required: 10.0,
        });
        let values = (0..PERIODS).map(|i| 0.123_456_789 + i as f64).collect();
        figures.series = Some(GateSeries::unjudged(START, 60, values));
        result.figures = GateFigures::Threshold(figures);
        gates.push(result);
    }
    let details: Vec<String> = gates
        .iter()
        .map(|g| format!("{} [{}]: {}", g.name, g.outcome, g.reason))
        .collect();
    let mut record = DecisionRecord {
        kill_switch: None,
        record: RECORD_KIND,
        deployment_id: "d-ABCDEFGHI".into(),
        lifecycle_event_hook_execution_id: "x".repeat(128),
        hook: Hook::BeforeAllowTraffic,
        status: LifecycleStatus::Failed,
        dry_run: None,
        reason: format!(
            "{n} of {n} critical gates blocked: {}",
            details.join("; "),
            n = gates.len()
        ),
        switches: None,
        switch_error: None,
        gates,
        report: ReportSummary::Failed("f".repeat(400)),
        deployment: None,
        deployment_error: Some("d".repeat(420)),
        discovery: None,
        discovery_error: Some("d".repeat(420)),
        policy: PolicyRef {
            source: format!("/var/task/{}", "p".repeat(1000)),
            digest: format!("sha256:{}", "0".repeat(64)),
        },
        evaluated_at: START + 86_400,
        elapsed_ms: 12_345,
        analysis: None,
        function_version: Some("$LATEST".into()),
        gate_version: "0.1.0",
        omitted: None,
        audit: None,
    };
    record.seal(metric_gate::audit::AuditLink::after(None));
    let line = record.fit_log_event(LOG_EVENT_BOUND);
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    // Whole, or with what it had to leave out, and fitting.
    assert_ne!(json["omitted"]["fits"], false, "{} bytes", line.len());
    assert!(line.len() <= LOG_EVENT_BOUND, "{} bytes", line.len());
    eprintln!(
        "{accepted} gates accepted, worst record {} bytes of {LOG_EVENT_BOUND}",
        line.len()
    );
}
