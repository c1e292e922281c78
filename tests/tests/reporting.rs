//! Reporting to CodeDeploy, end to end: exactly one status per hook execution,
//! retries on throttling, duplicate deliveries, and failing closed when
//! evidence is unavailable or late.

use gate_tests::{await_invocation, invoke, lifecycle_event, AlbMinute, Emulator, HookProcess};
use serde_json::json;

fn ready(binary: &str, extra: &[(&str, &str)]) -> (Emulator, String, HookProcess) {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let hook = HookProcess::start(&emulator, binary, extra);
    (emulator, deployment, hook)
}

#[test]
fn cloudwatch_500s_fail_the_hook_and_are_reported() {
    let (emulator, deployment, hook) = ready("before-allow-traffic", &[]);
    emulator.inject(json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 500, "code": "InternalFailure", "message": "injected outage"}));
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-500"), 30_000);
    let (stdout, _) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"]);
    let get_metric_data = emulator
        .calls()
        .iter()
        .filter(|c| c["operation"] == "GetMetricData")
        .count();
    assert_eq!(
        get_metric_data, 4,
        "the SDK retries a 5xx up to its attempt limit"
    );
    let record = &gate_tests::decision_records(&stdout)[0];
    assert_eq!(record["status"], "Failed");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("InternalFailure"),
        "{record}"
    );
    // Every gate judged is an error; the default's shadow gate was not
    // judged at all (no BASELINE_TARGET_GROUP), and says so, not as an error.
    for gate in record["gates"].as_array().unwrap() {
        if gate["not_judged"].is_string() {
            assert_eq!(
                (&gate["dry_run"], &gate["not_judged"]),
                (&json!(true), &json!("no baseline")),
                "{gate}"
            );
        } else {
            assert_eq!(gate["outcome"], "error", "{gate}");
        }
    }
}

#[test]
fn codedeploy_throttling_twice_still_reports_once() {
    let (emulator, deployment, hook) = ready("after-allow-traffic", &[]);
    emulator.inject(json!({"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus", "status": 400, "code": "ThrottlingException", "message": "Rate exceeded", "times": 2}));
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-throttled"),
        30_000,
    );
    drop(hook);
    assert_eq!(invocation["state"], "success", "{invocation}");
    let attempts: Vec<String> = emulator
        .lifecycle()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        attempts,
        vec!["ThrottlingException", "ThrottlingException", "accepted"]
    );
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"]);
}

#[test]
fn a_duplicate_delivery_stands_down() {
    let (emulator, deployment, hook) = ready("after-allow-traffic", &[]);
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-dup"), 30_000);
    let second = invoke(&emulator, lifecycle_event(&deployment, "exec-dup"), 30_000);
    let (stdout, _) = hook.finish();
    assert_eq!(first["state"], "success", "{first}");
    assert_eq!(second["state"], "success", "{second}");
    assert_eq!(
        second["body"]["report"]["outcome"], "already_completed",
        "{second}"
    );
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"]);
    let records = gate_tests::decision_records(&stdout);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["report"]["outcome"], "already_completed");
}

#[test]
fn evidence_slower_than_the_deadline_reports_failed_in_time() {
    let (emulator, deployment, hook) =
        ready("before-allow-traffic", &[("GATE_SAFETY_MARGIN_MS", "3000")]);
    emulator.inject(json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 200, "delay_ms": 20000}));
    let queued = emulator.control(
        "POST",
        "invoke",
        Some(json!({"event": lifecycle_event(&deployment, "exec-slow"), "timeout_ms": 6000})),
    );
    let invocation = await_invocation(&emulator, queued["requestId"].as_str().unwrap());
    let (stdout, _) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"]);
    let reported_at = emulator.lifecycle()[0]["at"].as_f64().unwrap();
    let delivered_at = invocation["deliveredAt"].as_f64().unwrap();
    assert!(
        reported_at - delivered_at < 6.0,
        "reported {:.1}s after delivery; the deadline was 6s",
        reported_at - delivered_at
    );
    let record = &gate_tests::decision_records(&stdout)[0];
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("evidence was not collected within"),
        "{record}"
    );
}

#[test]
fn an_unreportable_status_is_an_invocation_error() {
    let (emulator, _deployment, hook) = ready("after-allow-traffic", &[]);
    let invocation = invoke(&emulator, lifecycle_event("d-NOSUCHDEP", "exec-x"), 30_000);
    drop(hook);
    assert_eq!(invocation["state"], "error", "{invocation}");
    assert_eq!(invocation["errorType"], "StatusReportFailed");
    assert!(
        invocation["errorMessage"]
            .as_str()
            .unwrap()
            .contains("DeploymentDoesNotExistException"),
        "{invocation}"
    );
}
