//! Impossible values in CloudWatch's answer, end to end (issue 15, "Evidence
//! values"): the real hook binary judges a series in which `GetMetricData`
//! serves NaN, an infinity (which `PutMetricData` refuses, so the emulator
//! serves them: `POST /_harness/cloudwatch/served-values`) or a negative
//! count (which the API takes), and must report `Failed`, the gate's reason
//! naming the series and the value.

use gate_tests::{
    decision_records, epoch_secs, invoke, lifecycle_event, AlbMinute, Emulator, HookProcess,
    LOAD_BALANCER, TARGET_GROUP,
};
use serde_json::{json, Value};

/// What one hook execution did.
struct Run {
    accepted: Vec<String>,
    records: Vec<Value>,
    stderr: String,
}

impl Run {
    fn gate(&self, name: &str) -> Value {
        assert_eq!(self.records.len(), 1, "stderr:\n{}", self.stderr);
        self.records[0]["gates"]
            .as_array()
            .and_then(|gates| gates.iter().find(|g| g["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no gate {name} in {}", self.records[0]))
    }
}

/// Ten healthy minutes seeded (`per_minute` may change them), then `served`
/// values (metric, minutes before the current one, value) in GetMetricData's
/// answer, then one BeforeAllowTraffic execution under the default policy.
fn judged(per_minute: impl Fn(usize) -> AlbMinute, served: &[(&str, i64, &str)]) -> Run {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, per_minute);
    let current = epoch_secs() - epoch_secs() % 60;
    if !served.is_empty() {
        let values: Vec<Value> = served
            .iter()
            .map(|(metric, minutes_back, value)| {
                json!({
                    "namespace": "AWS/ApplicationELB",
                    "metric_name": metric,
                    "dimensions": { "TargetGroup": TARGET_GROUP, "LoadBalancer": LOAD_BALANCER },
                    "timestamp": current - 60 * minutes_back,
                    "value": value,
                })
            })
            .collect();
        emulator.control(
            "POST",
            "cloudwatch/served-values",
            Some(json!({ "values": values })),
        );
    }
    let hook = HookProcess::start(&emulator, "before-allow-traffic", &[]);
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}\n{stderr}");
    Run {
        accepted: emulator.accepted_statuses(),
        records: decision_records(&stdout),
        stderr,
    }
}

/// The hook failed on `gate`, an error whose reason names `series` and `value`.
#[track_caller]
fn refused(run: &Run, gate: &str, series: &str, value: &str) {
    assert_eq!(run.accepted, vec!["Failed"], "{}", run.stderr);
    let judged = run.gate(gate);
    assert_eq!(judged["outcome"], "error", "{judged}");
    let reason = judged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(series) && reason.contains(value),
        "the reason should name {series} and {value}: {reason}"
    );
    let record = run.records[0]["reason"].as_str().unwrap_or_default();
    assert!(record.contains(gate), "{record}");
}

#[test]
fn healthy_minutes_pass_with_nothing_served() {
    // The control for the cases below: the same minutes, nothing odd served.
    let run = judged(|_| AlbMinute::healthy(), &[]);
    assert_eq!(run.accepted, vec!["Succeeded"], "{}", run.stderr);
}

#[test]
fn a_nan_error_count_fails_the_hook_naming_the_series() {
    let run = judged(
        |_| AlbMinute::healthy(),
        &[("HTTPCode_Target_5XX_Count", 4, "NaN")],
    );
    refused(&run, "error-rate", "HTTPCode_Target_5XX_Count", "NaN");
}

#[test]
fn an_infinite_error_count_fails_the_hook() {
    let run = judged(
        |_| AlbMinute::healthy(),
        &[("HTTPCode_Target_5XX_Count", 3, "Infinity")],
    );
    refused(&run, "error-rate", "HTTPCode_Target_5XX_Count", "inf");
}

#[test]
fn an_infinite_p95_in_the_newest_periods_fails_under_missing_data_ignore() {
    // latency-p95 skips periods without a value (`missing_data: ignore`): an
    // infinity is no missing value, and the older periods must not decide.
    let run = judged(
        |_| AlbMinute::healthy(),
        &[
            ("TargetResponseTime", 1, "Infinity"),
            ("TargetResponseTime", 2, "Infinity"),
            ("TargetResponseTime", 3, "Infinity"),
        ],
    );
    refused(&run, "latency-p95", "TargetResponseTime p95", "inf");
}

#[test]
fn a_negative_request_count_fails_the_hook() {
    // Negative values are values to the API: seeded through PutMetricData.
    let run = judged(
        |minute| AlbMinute {
            requests: Some(if minute == 7 { -1000.0 } else { 1000.0 }),
            ..AlbMinute::healthy()
        },
        &[],
    );
    refused(&run, "error-rate", "RequestCount", "-1000");
}
