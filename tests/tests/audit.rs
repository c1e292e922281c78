//! The audit trail end to end: the real hooks of one deployment chain their
//! decision records through the head in SSM, `gatectl audit verify` checks the
//! chain and names tampering, a failed hook alerts through SNS after its
//! report, and every decision leaves EMF metrics.

use gate_tests::{
    decision_records, emf_documents, hook_binary, invoke, lifecycle_event, temp_file, AlbMinute,
    Emulator, HookProcess,
};
use serde_json::{json, Value};
use std::process::{Command, Output};

/// Runs `binary` on one event of `deployment`, returns everything it printed on stdout.
fn run_hook(
    emulator: &Emulator,
    binary: &str,
    deployment: &str,
    execution: &str,
    extra: &[(&str, &str)],
) -> (Value, String, String) {
    let hook = HookProcess::start(emulator, binary, extra);
    let outcome = invoke(emulator, lifecycle_event(deployment, execution), 30_000);
    let (stdout, stderr) = hook.finish();
    (outcome, stdout, stderr)
}

fn gatectl_verify(emulator: &Emulator, args: &[&str]) -> (Output, String) {
    let output = Command::new(hook_binary("gatectl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", format!("http://{}", emulator.address))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["audit", "verify"])
        .args(args)
        .output()
        .expect("run gatectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn the_hooks_of_one_deployment_form_a_chain_that_verifies_against_the_head_in_ssm() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());

    let mut log = String::new();
    for (binary, execution) in [
        ("after-allow-test-traffic", "exec-1"),
        ("before-allow-traffic", "exec-2"),
        ("after-allow-traffic", "exec-3"),
    ] {
        let (outcome, stdout, stderr) = run_hook(&emulator, binary, &deployment, execution, &[]);
        assert_eq!(
            outcome["body"]["status"], "Succeeded",
            "{outcome}\n{stderr}"
        );
        // One EMF decision line per invocation, after the record.
        let emf = emf_documents(&stdout);
        assert!(
            emf.iter()
                .any(|d| d["Evaluations"] == 1.0 && d["AuditWriteFailures"] == 0.0),
            "{stdout}"
        );
        log.push_str(&stdout);
    }
    let records = decision_records(&log);
    assert_eq!(records.len(), 3, "{log}");
    let links: Vec<(u64, Value)> = records
        .iter()
        .map(|r| {
            (
                r["audit"]["sequence"].as_u64().unwrap(),
                r["audit"]["previous_digest"].clone(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            (1, Value::Null),
            (2, records[0]["audit"]["digest"].clone()),
            (3, records[1]["audit"]["digest"].clone()),
        ]
    );
    let head: Value = serde_json::from_str(
        &emulator
            .get_parameter(&format!("/codedeploy-gates/audit/{deployment}"))
            .expect("the chain head parameter"),
    )
    .unwrap();
    assert_eq!(
        head,
        json!({"sequence": 3, "digest": records[2]["audit"]["digest"]})
    );
    // The head is written after the status is reported, every time.
    let calls: Vec<String> = emulator
        .calls()
        .iter()
        .filter_map(|c| c["operation"].as_str().map(str::to_string))
        .filter(|op| {
            ["PutLifecycleEventHookExecutionStatus", "PutParameter"].contains(&op.as_str())
        })
        .collect();
    assert_eq!(
        calls,
        [
            "PutLifecycleEventHookExecutionStatus",
            "PutParameter",
            "PutLifecycleEventHookExecutionStatus",
            "PutParameter",
            "PutLifecycleEventHookExecutionStatus",
            "PutParameter"
        ]
    );

    let file = temp_file("hooks.log", &log);
    let (output, text) = gatectl_verify(&emulator, &["--head", file.to_str().unwrap()]);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "{deployment}: intact: 3 records; record 3 is sha256:"
        )) && text.contains("matching the head in SSM"),
        "{text}"
    );

    // An edited record: the verifier names it and exits 1.
    let tampered: Vec<String> = log
        .lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(mut record) if record["audit"]["sequence"] == 2 => {
                record["status"] = json!("Failed");
                record.to_string()
            }
            _ => line.to_string(),
        })
        .collect();
    let file = temp_file("tampered.log", &tampered.join("\n"));
    let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{deployment}: BROKEN: first broken link: record 2 ("
        )) && text.contains("was altered"),
        "{text}"
    );

    // The newest record removed: only the head in SSM can tell.
    let truncated: Vec<&str> = log
        .lines()
        .filter(|line| !line.contains("\"sequence\":3"))
        .collect();
    let file = temp_file("truncated.log", &truncated.join("\n"));
    let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "without the head a truncation is invisible: {text}"
    );
    let (output, text) = gatectl_verify(&emulator, &["--head", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "records 3 to 3 are missing: the head in SSM is at record 3 but the records end at 2"
        ),
        "{text}"
    );
}

#[test]
fn a_failed_hook_alerts_through_sns_after_its_report() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let topic = emulator.create_topic("gate-alerts");
    // 3 % errors: the error-rate gate fails.
    emulator.seed_alb(10, |_| AlbMinute {
        errors_5xx: Some(30.0),
        ..AlbMinute::healthy()
    });
    let (outcome, stdout, stderr) = run_hook(
        &emulator,
        "after-allow-traffic",
        &deployment,
        "exec-1",
        &[("GATE_ALERT_TOPIC_ARN", &topic)],
    );
    assert_eq!(outcome["body"]["status"], "Failed", "{outcome}\n{stderr}");
    let messages = emulator.sns_messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (subject, message) = (
        messages[0]["subject"].as_str().unwrap(),
        messages[0]["message"].as_str().unwrap(),
    );
    assert_eq!(messages[0]["topicArn"], topic.as_str());
    assert_eq!(
        subject,
        format!("Rollback: web {deployment} AfterAllowTraffic failed on error-rate")
    );
    for expected in [
        format!("The AfterAllowTraffic gate FAILED deployment {deployment} of application web, deployment group web-prod."),
        "shifts traffic back to the original version".to_string(),
        "- error-rate [fail]:".to_string(),
        "threshold: breach when > 1%".to_string(),
        "observed, oldest first: 3% (breach)".to_string(),
        "Hook: AfterAllowTraffic (execution exec-1)".to_string(),
    ] {
        assert!(message.contains(&expected), "missing {expected:?} in:\n{message}");
    }
    // Published after the report, never before.
    let operations: Vec<String> = emulator
        .calls()
        .iter()
        .filter_map(|c| c["operation"].as_str().map(str::to_string))
        .collect();
    let position = |op: &str| operations.iter().position(|o| o == op).unwrap();
    assert!(
        position("PutLifecycleEventHookExecutionStatus") < position("Publish"),
        "{operations:?}"
    );
    let decision = emf_documents(&stdout)
        .into_iter()
        .find(|d| d.get("Evaluations").is_some())
        .unwrap();
    assert_eq!(
        (
            &decision["Failures"],
            &decision["AlertFailures"],
            &decision["alert"]
        ),
        (&json!(1.0), &json!(0.0), &json!("sent"))
    );

    // A healthy release sends nothing.
    let quiet = Emulator::start();
    let deployment = quiet.create_deployment();
    let topic = quiet.create_topic("gate-alerts");
    quiet.seed_alb(10, |_| AlbMinute::healthy());
    let (outcome, _, _) = run_hook(
        &quiet,
        "after-allow-traffic",
        &deployment,
        "exec-1",
        &[("GATE_ALERT_TOPIC_ARN", &topic)],
    );
    assert_eq!(outcome["body"]["status"], "Succeeded", "{outcome}");
    assert_eq!(quiet.sns_messages(), Vec::<Value>::new());
}

#[test]
fn a_failed_audit_write_never_changes_the_report_and_is_counted() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    emulator.inject(
        json!({"service": "ssm", "operation": "PutParameter", "status": 400,
        "code": "AccessDeniedException", "message": "not allowed"}),
    );
    let (outcome, stdout, _) = run_hook(
        &emulator,
        "before-allow-traffic",
        &deployment,
        "exec-1",
        &[],
    );
    assert_eq!(outcome["state"], "success", "{outcome}");
    assert_eq!(outcome["body"]["status"], "Succeeded", "{outcome}");
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"]);
    // Logged loudly (the JSON logs go to stdout, as Lambda collects them).
    assert!(stdout.contains("AUDIT CHAIN HEAD NOT WRITTEN"), "{stdout}");
    let decision = emf_documents(&stdout)
        .into_iter()
        .find(|d| d.get("Evaluations").is_some())
        .unwrap();
    assert_eq!(decision["AuditWriteFailures"], 1.0, "{decision}");
    assert!(
        decision["audit_write"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{decision}"
    );
    // The record itself is still sealed as the first of its chain.
    let records = decision_records(&stdout);
    assert_eq!(records[0]["audit"]["sequence"], 1);
    assert_eq!(
        emulator.get_parameter(&format!("/codedeploy-gates/audit/{deployment}")),
        None
    );
}
