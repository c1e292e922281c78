//! The fault matrix: what a hook does when AWS misbehaves, end to end.
//!
//! Each test runs a real hook binary under the Lambda Runtime API against its
//! own emulator, injects one fault with the emulator's control API (see
//! `tests/harness/emulator.py`), and asserts the single status CodeDeploy
//! received (or why there is none) and the reason in the decision record. The
//! table in `docs/reliability.md` lists every row with its test; keep the two
//! in step.
//!
//! Not covered here: CloudWatch `PartialData` with `NextToken` paging. The
//! emulator pages only when a response would exceed `MaxDatapoints` (default
//! 100,800), the library never sends `MaxDatapoints`, and a hook's window holds
//! a few dozen datapoints, so paging cannot be triggered from outside; a
//! hand-written first page injected as a raw body would fake the paging, not
//! exercise it. That leaves the provider's `NextToken` loop untested: a gap.

use gate_tests::{
    decision_records, invoke, lifecycle_event, temp_file, AlbMinute, Emulator, HookProcess,
};
use serde_json::{json, Value};
use std::time::Duration;

/// An emulator with a deployment and ten healthy minutes of ALB metrics, and
/// `binary` running against it on the default policy.
fn healthy_release(binary: &str, extra: &[(&str, &str)]) -> (Emulator, String, HookProcess) {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let hook = HookProcess::start(&emulator, binary, extra);
    (emulator, deployment, hook)
}

/// Stops the hook and returns its only decision record.
fn only_record(hook: HookProcess) -> Value {
    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    assert_eq!(
        records.len(),
        1,
        "expected one decision record; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    records.into_iter().next().unwrap()
}

/// How many times the hook called `operation` (seeding calls are other operations).
fn calls_of(emulator: &Emulator, operation: &str) -> usize {
    emulator
        .calls()
        .iter()
        .filter(|c| c["operation"] == operation)
        .count()
}

/// The outcome of every `PutLifecycleEventHookExecutionStatus` attempt, in order.
fn report_attempts(emulator: &Emulator) -> Vec<String> {
    emulator
        .lifecycle()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no text {field} in {value}"))
}

/// Asserts every gate of the record that can block ended in `error` with
/// `fragment` in its reason. The default policy's shadow gate
/// (`latency-vs-baseline`, a dry run) is left out: at BeforeAllowTraffic,
/// without BASELINE_TARGET_GROUP, it is not judged at all.
fn all_gates_errored(record: &Value, fragment: &str) {
    let gates: Vec<&Value> = record["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .filter(|g| g["dry_run"] != true)
        .collect();
    assert!(!gates.is_empty(), "{record}");
    for gate in gates {
        assert_eq!(gate["outcome"], "error", "{gate}");
        assert!(text(gate, "reason").contains(fragment), "{gate}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------ CloudWatch

#[test]
fn cloudwatch_throttling_twice_is_retried_to_a_success() {
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 400,
        "code": "ThrottlingException", "message": "Rate exceeded", "times": 2}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cw-throttle"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"], "{record}");
    assert_eq!(
        calls_of(&emulator, "GetMetricData"),
        4,
        "two throttled attempts, then the two requests (this window, and a week earlier for the shadow gate) answered"
    );
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(
        record["reason"],
        "all 3 critical gates passed; latency-vs-baseline not judged: no baseline"
    );
    assert_eq!(record["report"]["outcome"], "accepted");
}

#[test]
fn cloudwatch_paging_is_followed_to_the_same_verdict() {
    // 5 series of 5 settled minutes (plus the filling ones in range): with pages
    // of 7 datapoints the answer arrives in several NextToken pages, each marked
    // PartialData but the last.
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    emulator.control(
        "POST",
        "cloudwatch/page-size",
        Some(json!({"datapoints": 7})),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-paged"),
        30_000,
    );
    let record = only_record(hook);
    assert_eq!(invocation["state"], "success", "{invocation}");
    let pages = calls_of(&emulator, "GetMetricData");
    assert!(pages >= 4, "expected several pages, got {pages}");
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"], "{record}");
    // The default's shadow gate (dry run) finds no history a week back in
    // the emulator; every gate that can block passes.
    let gates: Vec<&Value> = record["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["dry_run"] != true)
        .collect();
    assert!(gates.iter().all(|g| g["outcome"] == "pass"), "{record}");
    // Every page was read: each series is complete, not PartialData.
    for gate in gates {
        for series in gate["completeness"].as_array().unwrap() {
            assert_eq!(series["status"]["status"], "complete", "{series}");
            assert_eq!(series["present"], 5, "{series}");
        }
    }
}

#[test]
fn cloudwatch_503_forever_fails_closed_and_is_reported() {
    let (emulator, deployment, hook) = healthy_release("before-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 503,
        "code": "ServiceUnavailable", "message": "injected outage"}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cw-503"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"]);
    assert_eq!(
        calls_of(&emulator, "GetMetricData"),
        4,
        "the SDK's attempt limit, then fail closed"
    );
    assert_eq!(record["status"], "Failed");
    assert!(
        text(&record, "reason").contains("ServiceUnavailable"),
        "{record}"
    );
    all_gates_errored(
        &record,
        "evidence unavailable: CloudWatch GetMetricData failed",
    );
}

#[test]
fn cloudwatch_slower_than_the_deadline_fails_before_it() {
    const TIMEOUT_MS: u64 = 4_000;
    let (emulator, deployment, hook) =
        healthy_release("after-allow-traffic", &[("GATE_SAFETY_MARGIN_MS", "1500")]);
    // A normal answer, 20 s late: well past the 4 s invocation deadline.
    emulator.inject(
        json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 200,
        "delay_ms": 20_000}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cw-slow"),
        TIMEOUT_MS,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"]);
    let delivered = invocation["deliveredAt"].as_f64().unwrap();
    let reported = emulator.lifecycle()[0]["at"].as_f64().unwrap() - delivered;
    let answered = invocation["finishedAt"].as_f64().unwrap() - delivered;
    let deadline = TIMEOUT_MS as f64 / 1000.0;
    assert!(
        reported < deadline && answered < deadline,
        "reported {reported:.2}s and answered {answered:.2}s after delivery; the deadline was {deadline}s"
    );
    // It waited for the evidence budget (deadline minus margin) before giving up.
    assert!(
        reported > 2.0,
        "gave up after only {reported:.2}s of a ~2.5s budget"
    );
    assert!(
        record["elapsed_ms"].as_u64().unwrap() < TIMEOUT_MS,
        "{record}"
    );
    assert_eq!(record["status"], "Failed");
    all_gates_errored(&record, "evidence was not collected within");
}

#[test]
fn cloudwatch_truncated_cbor_fails_naming_the_decode_error() {
    // {"MetricDataResults": [{"Id": "q… cut off inside the id string.
    let mut truncated = vec![0xa1, 0x71];
    truncated.extend_from_slice(b"MetricDataResults");
    truncated.extend_from_slice(&[0x81, 0xa2, 0x62]);
    truncated.extend_from_slice(b"Id");
    truncated.extend_from_slice(&[0x62, b'q']);
    malformed_answer_fails(
        json!({"body_hex": hex(&truncated)}),
        "exec-cw-truncated",
        "end of input bytes",
    );
}

#[test]
fn cloudwatch_garbage_body_fails_naming_the_decode_error() {
    malformed_answer_fails(
        json!({"body": "<html><body>502 Bad Gateway</body></html>"}),
        "exec-cw-garbage",
        // '<' is 0x3c: CBOR reads a negative integer where the output map should be.
        "unexpected type 0x3c at position 0: expected map",
    );
}

/// A 200 answer whose body is not a `GetMetricData` output: the hook must fail
/// closed, report, and name the decoder's complaint.
fn malformed_answer_fails(body: Value, execution: &str, decode_error: &str) {
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    let mut fault = json!({"service": "cloudwatch", "operation": "GetMetricData", "status": 200});
    fault
        .as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    emulator.inject(fault);
    let invocation = invoke(&emulator, lifecycle_event(&deployment, execution), 30_000);
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"], "{record}");
    assert_eq!(
        calls_of(&emulator, "GetMetricData"),
        2,
        "an undecodable answer is not retried (one request for this window, one a week earlier for the shadow gate)"
    );
    assert_eq!(record["status"], "Failed");
    all_gates_errored(
        &record,
        "evidence unavailable: CloudWatch GetMetricData failed",
    );
    for gate in record["gates"].as_array().unwrap() {
        let reason = text(gate, "reason");
        assert!(
            reason.contains(decode_error)
                && reason.contains("could not read the service's answer (HTTP 200)"),
            "the decode error is not named: {reason}"
        );
    }
}

// ------------------------------------------------------------------ CodeDeploy

#[test]
fn codedeploy_5xx_twice_then_ok_reports_once() {
    let (emulator, deployment, hook) = healthy_release("before-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus",
        "status": 503, "code": "ServiceUnavailableException", "message": "injected", "times": 2}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cd-5xx"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(
        report_attempts(&emulator),
        vec![
            "ServiceUnavailableException",
            "ServiceUnavailableException",
            "accepted"
        ]
    );
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"]);
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(record["report"]["outcome"], "accepted");
}

#[test]
fn an_already_completed_event_stands_down_cleanly() {
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus",
        "status": 400, "code": "LifecycleEventAlreadyCompletedException",
        "message": "The lifecycle event hook execution already completed"}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cd-done"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert!(invocation["errorType"].is_null(), "{invocation}");
    assert_eq!(
        invocation["body"]["report"]["outcome"], "already_completed",
        "{invocation}"
    );
    assert_eq!(
        report_attempts(&emulator),
        vec!["LifecycleEventAlreadyCompletedException"],
        "one attempt, not retried"
    );
    assert!(emulator.accepted_statuses().is_empty());
    assert_eq!(record["report"]["outcome"], "already_completed", "{record}");
}

#[test]
fn an_invalid_execution_id_is_a_status_report_failed_error() {
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus",
        "status": 400, "code": "InvalidLifecycleEventHookExecutionIdException",
        "message": "The lifecycle event hook execution ID is not valid"}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cd-bad-id"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "error", "{invocation}");
    assert_eq!(invocation["errorType"], "StatusReportFailed");
    assert!(
        text(&invocation, "errorMessage").contains("InvalidLifecycleEventHookExecutionIdException"),
        "{invocation}"
    );
    assert_eq!(
        report_attempts(&emulator),
        vec!["InvalidLifecycleEventHookExecutionIdException"],
        "a client error is not retried"
    );
    assert!(emulator.accepted_statuses().is_empty());
    assert_eq!(record["report"]["outcome"], "failed", "{record}");
    assert!(
        text(&record["report"], "error").contains("InvalidLifecycleEventHookExecutionIdException"),
        "{record}"
    );
}

#[test]
fn an_unknown_deployment_is_an_invocation_error() {
    let (emulator, _deployment, hook) = healthy_release("before-allow-traffic", &[]);
    let invocation = invoke(
        &emulator,
        lifecycle_event("d-NOSUCHDEP", "exec-cd-unknown"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "error", "{invocation}");
    assert_eq!(invocation["errorType"], "StatusReportFailed");
    assert!(
        text(&invocation, "errorMessage").contains("DeploymentDoesNotExistException"),
        "{invocation}"
    );
    assert_eq!(
        report_attempts(&emulator),
        vec!["DeploymentDoesNotExistException"]
    );
    assert!(emulator.accepted_statuses().is_empty());
    assert!(
        text(&record, "deployment_error").contains("DeploymentDoesNotExistException"),
        "{record}"
    );
    assert_eq!(record["report"]["outcome"], "failed", "{record}");
    // Read by people: the service's code and message, no Rust debug
    // structures (`ServiceError(ServiceError { source: ...`).
    for message in [
        text(&invocation, "errorMessage"),
        text(&record, "deployment_error"),
        text(&record["report"], "error"),
    ] {
        assert!(
            !message.contains("ServiceError") && !message.contains('{'),
            "{message}"
        );
    }
}

#[test]
fn get_deployment_failing_is_recorded_and_the_metrics_still_decide() {
    let (emulator, deployment, hook) = healthy_release("after-allow-traffic", &[]);
    emulator.inject(
        json!({"service": "codedeploy", "operation": "GetDeployment", "status": 400,
        "code": "AccessDeniedException",
        "message": "not authorized to perform: codedeploy:GetDeployment"}),
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-cd-getdep"),
        30_000,
    );
    let record = only_record(hook);

    assert_eq!(invocation["state"], "success", "{invocation}");
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"], "{record}");
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(
        record["reason"],
        "all 3 critical gates passed; latency-vs-baseline not judged: no baseline"
    );
    let error = text(&record, "deployment_error");
    assert!(
        error.contains("GetDeployment") && error.contains("AccessDeniedException"),
        "{record}"
    );
    assert!(record.get("deployment").is_none(), "{record}");
    assert_eq!(calls_of(&emulator, "GetDeployment"), 1);
}

// ------------------------------------------------------------------ policy

#[test]
fn a_broken_policy_file_refuses_to_start_without_calling_aws() {
    let cases = [
        (
            "truncated.yaml",
            // Cut off in the middle of a flow mapping.
            "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: errors\n        metric: { name: RequestCount, stat: Sum\n",
            vec!["truncated.yaml:"],
        ),
        (
            "contradictory.yaml",
            // Two problems: both must be listed, each with its position.
            "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: errors\n        metric: { namespace: AWS/ApplicationELB, name: RequestCount, stat: Sum }\n        comparison: \">\"\n        threshold: 3\n        evaluation_periods: 2\n        datapoints_to_alarm: 3\n        missing_data: sometimes\n",
            vec![
                "contradictory.yaml:10:30: hooks.AfterAllowTraffic.gates[0].datapoints_to_alarm: must be between 1 and evaluation_periods (2), found 3",
                "contradictory.yaml:11:23: hooks.AfterAllowTraffic.gates[0].missing_data",
            ],
        ),
    ];
    for (name, yaml, expected) in cases {
        let emulator = Emulator::start();
        let policy = temp_file(name, yaml);
        let hook = HookProcess::start(
            &emulator,
            "after-allow-traffic",
            &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
        );
        let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
        assert_ne!(code, Some(0), "{name}: the function must not start");
        let init_error = emulator.control("GET", "init-error", None);
        assert_eq!(
            init_error["errorType"], "PolicyInvalid",
            "{name}: {init_error}"
        );
        let message = text_or_empty(&init_error, "errorMessage");
        let output = format!("{stdout}{stderr}");
        assert!(output.contains("refusing to start"), "{name}: {output}");
        for fragment in expected {
            let located = fragment.replacen(name, &policy.display().to_string(), 1);
            assert!(
                message.contains(&located),
                "{name}: expected {located} in {message}"
            );
        }
        assert!(
            emulator.calls().is_empty(),
            "{name}: a broken policy must not reach AWS: {:?}",
            emulator.calls()
        );
        assert!(emulator.lifecycle().is_empty(), "{name}");
    }
}

/// Issue 15: a policy path naming a FIFO hung the function's init (the read
/// waits for a writer that never comes). It is refused by name at once.
#[test]
fn a_policy_path_that_is_not_a_regular_file_refuses_to_start_at_once() {
    let dir = temp_file("placeholder", "").parent().unwrap().to_path_buf();
    let fifo = dir.join("policy-fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, kind) in [
        (fifo.to_str().unwrap(), "named pipe"),
        ("/dev/zero", "device"),
    ] {
        let emulator = Emulator::start();
        let hook = HookProcess::start(
            &emulator,
            "after-allow-traffic",
            &[("GATE_POLICY_FILE", path)],
        );
        let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
        assert_ne!(code, Some(0), "{path}: the function must not start");
        let init_error = emulator.control("GET", "init-error", None);
        assert_eq!(
            init_error["errorType"], "PolicyInvalid",
            "{path}: {init_error} {stdout}{stderr}"
        );
        let message = text_or_empty(&init_error, "errorMessage");
        assert!(
            message.contains(path) && message.contains(kind),
            "{path}: {message}"
        );
        assert!(
            emulator.calls().is_empty(),
            "{path}: {:?}",
            emulator.calls()
        );
    }
}

fn text_or_empty<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}
