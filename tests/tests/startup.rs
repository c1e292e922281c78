//! What a hook does with bad input: malformed events, broken policies, custom
//! policies and alarm vetoes, through the real binaries.

use gate_tests::{invoke, lifecycle_event, temp_file, AlbMinute, Emulator, HookProcess};
use serde_json::json;
use std::time::Duration;

#[test]
fn a_malformed_event_is_a_clear_error_and_nothing_is_reported() {
    let emulator = Emulator::start();
    let hook = HookProcess::start(&emulator, "after-allow-traffic", &[]);
    let cases = [
        (
            json!({"DeploymentId": 42, "LifecycleEventHookExecutionId": "e"}),
            "`DeploymentId` field must be a non-empty string, found a number 42",
        ),
        (
            json!({"DeploymentId": "d-1"}),
            "no `LifecycleEventHookExecutionId` field",
        ),
        (json!(["not", "an", "event"]), "not a JSON object"),
    ];
    for (event, expected) in cases {
        let invocation = invoke(&emulator, event, 10_000);
        assert_eq!(invocation["state"], "error", "{invocation}");
        assert_eq!(invocation["errorType"], "InvalidEvent");
        assert!(
            invocation["errorMessage"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{invocation}"
        );
    }
    drop(hook);
    assert!(emulator.lifecycle().is_empty());
}

#[test]
fn an_invalid_policy_stops_the_function_at_init() {
    let emulator = Emulator::start();
    let policy = temp_file(
        "broken.yaml",
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: errors\n        metric: { namespace: AWS/ApplicationELB, name: RequestCount, stat: p101 }\n        comparison: \">\"\n        threshold: 3\n",
    );
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
    );
    let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0));
    let output = format!("{stdout}{stderr}");
    let expected = format!(
        "{}:6:76: hooks.AfterAllowTraffic.gates[0].metric.stat: unknown statistic \\\"p101\\\"",
        policy.display()
    );
    assert!(
        output.contains(&expected),
        "expected {expected} in:\n{output}"
    );
    // Lambda is told why: the invocation fails as PolicyInvalid with the problems.
    let init_error = emulator.control("GET", "init-error", None);
    assert_eq!(init_error["errorType"], "PolicyInvalid", "{init_error}");
    let message = init_error["errorMessage"].as_str().unwrap();
    let position = format!(
        "{}:6:76: hooks.AfterAllowTraffic.gates[0].metric.stat",
        policy.display()
    );
    assert!(message.contains(&position), "{message}");
    assert!(
        emulator.calls().is_empty(),
        "an invalid policy must not reach AWS"
    );
}

#[test]
fn an_unreadable_policy_file_stops_the_function() {
    let emulator = Emulator::start();
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("GATE_POLICY_FILE", "/nonexistent/gates.yaml")],
    );
    let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0));
    assert!(
        format!("{stdout}{stderr}").contains("cannot read policy file /nonexistent/gates.yaml"),
        "{stdout}{stderr}"
    );
}

/// Hooks read the region and the role's credentials from the variables Lambda
/// sets (no profile files, no metadata endpoints): without them a hook says
/// which variable is missing at init, before anything reaches AWS.
#[test]
fn a_missing_lambda_variable_stops_the_function_naming_it() {
    for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let emulator = Emulator::start();
        let hook = HookProcess::start_without(&emulator, "before-allow-traffic", &[missing]);
        let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
        assert_ne!(code, Some(0), "{missing}");
        let output = format!("{stdout}{stderr}");
        assert!(
            output.contains(&format!("{missing}=\\\"\\\" is not valid: set by Lambda")),
            "{missing}: {output}"
        );
        assert!(
            emulator.calls().is_empty(),
            "{missing}: nothing reaches AWS"
        );
    }
}

/// A switch prefix that is no SSM path stops the function at init, naming
/// the variable: a freeze must never be missed because of how the prefix was
/// written (a missing final `/` is added instead: tests/tests/switches.rs).
#[test]
fn a_switch_prefix_that_is_no_ssm_path_stops_the_function_naming_it() {
    for written in ["gates/", "/ga tes/", "//gates/"] {
        let emulator = Emulator::start();
        let hook = HookProcess::start(
            &emulator,
            "before-allow-traffic",
            &[("GATE_SWITCH_PREFIX", written)],
        );
        let (code, stdout, stderr) = hook.wait_for_exit(Duration::from_secs(30));
        assert_ne!(code, Some(0), "{written:?}");
        let output = format!("{stdout}{stderr}");
        assert!(
            output.contains("GATE_SWITCH_PREFIX=") && output.contains("is not valid: an SSM path"),
            "{written:?}: {output}"
        );
        assert!(
            emulator.calls().is_empty(),
            "{written:?}: nothing reaches AWS"
        );
    }
}

#[test]
fn an_operator_alarm_vetoes_the_deployment() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    emulator.put_alarm("FakeUserCanaryCheckAlarm", "ALARM");
    let policy = temp_file(
        "veto.yaml",
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: canary-check\n        alarms: [FakeUserCanaryCheckAlarm]\n",
    );
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
    );
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-veto"), 30_000);
    emulator.put_alarm("FakeUserCanaryCheckAlarm", "OK");
    let second = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-after"),
        30_000,
    );
    let (stdout, _) = hook.finish();
    assert_eq!(first["body"]["status"], "Failed", "{first}");
    assert_eq!(second["body"]["status"], "Succeeded", "{second}");
    let records = gate_tests::decision_records(&stdout);
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .contains("\"FakeUserCanaryCheckAlarm\" is in ALARM"),
        "{}",
        records[0]
    );
    assert_eq!(records[0]["policy"]["source"], policy.to_str().unwrap());
}

#[test]
fn preflight_catches_a_misconfigured_gate_before_traffic_moves() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let good = HookProcess::start(&emulator, "before-install", &[]);
    let passed = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-pre-1"),
        30_000,
    );
    drop(good);
    assert_eq!(passed["body"]["status"], "Succeeded", "{passed}");

    let wrong = HookProcess::start(
        &emulator,
        "before-install",
        &[("TARGET_GROUP", "targetgroup/typo/0000")],
    );
    let failed = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-pre-2"),
        30_000,
    );
    let (stdout, _) = wrong.finish();
    assert_eq!(failed["body"]["status"], "Failed", "{failed}");
    let record = &gate_tests::decision_records(&stdout)[0];
    let reason = record["reason"].as_str().unwrap();
    assert!(reason.contains("AWS/ApplicationELB/RequestCount [LoadBalancer=app/web/fedcba9876543210, TargetGroup=targetgroup/typo/0000] is not in CloudWatch"), "{reason}");
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded", "Failed"]);
}

#[test]
fn any_alarm_under_a_prefix_vetoes_the_deployment() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.put_alarm("web-prod-latency", "OK");
    emulator.put_alarm("web-prod-errors", "ALARM");
    emulator.put_alarm("other-team-alarm", "ALARM");
    let policy = temp_file(
        "prefix.yaml",
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: service-alarms\n        alarm_prefix: web-prod-\n",
    );
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
    );
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    emulator.put_alarm("web-prod-errors", "OK");
    let second = invoke(&emulator, lifecycle_event(&deployment, "exec-2"), 30_000);
    let (stdout, _) = hook.finish();
    assert_eq!(first["body"]["status"], "Failed", "{first}");
    // Only the service's alarms count: another team's ALARM is not ours.
    assert_eq!(second["body"]["status"], "Succeeded", "{second}");
    let records = gate_tests::decision_records(&stdout);
    let reason = records[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"web-prod-errors\" is in ALARM"),
        "{reason}"
    );
    assert!(!reason.contains("other-team-alarm"), "{reason}");
    assert!(
        records[1]["gates"][0]["reason"] == "all 2 alarms OK",
        "{}",
        records[1]
    );
}
