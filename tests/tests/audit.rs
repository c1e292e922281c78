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

    // A deployment id of another shape (from a file or the command line) is
    // never made into an SSM name: its head is a named failure.
    let (output, text) = gatectl_verify(
        &emulator,
        &["--head", "--deployment", "../../x", file.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("../../x: BROKEN: the deployment id is not of CodeDeploy's shape")
            && !text.contains("/audit/../"),
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

/// The log lines three real hooks printed for one deployment (decision
/// records, EMF and their JSON logs), chained through the head in SSM.
fn real_chain(emulator: &Emulator, deployment: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (binary, execution) in [
        ("after-allow-test-traffic", "exec-1"),
        ("before-allow-traffic", "exec-2"),
        ("after-allow-traffic", "exec-3"),
    ] {
        let (outcome, stdout, stderr) = run_hook(emulator, binary, deployment, execution, &[]);
        assert_eq!(
            outcome["body"]["status"], "Succeeded",
            "{outcome}\n{stderr}"
        );
        lines.extend(stdout.lines().map(str::to_string));
    }
    lines
}

/// The index of the line holding the record with this sequence number.
fn record_line(lines: &[String], sequence: u64) -> usize {
    lines
        .iter()
        .position(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| {
                v["record"] == "codedeploy-gates.decision.v1" && v["audit"]["sequence"] == sequence
            })
        })
        .unwrap_or_else(|| panic!("no record {sequence} in {lines:?}"))
}

/// `record` sealed again after an edit, as a forger with the code would.
fn reseal(mut record: Value) -> Value {
    let digest = metric_gate::audit::record_digest(&record);
    record["audit"]["digest"] = json!(digest);
    record
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// Every forgery of records the real hooks wrote exits 1 and names the line
/// (or the link) that gives it away; the untouched log verifies. Issue 15,
/// "Audit trail": each of these exited 0 before.
#[test]
fn forgeries_of_real_records_each_exit_1_naming_the_first_broken_link() {
    let emulator = Emulator::start();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let deployment = emulator.create_deployment();
    let lines = real_chain(&emulator, &deployment);
    let (two, three) = (record_line(&lines, 2), record_line(&lines, 3));
    // A fourth hook with the switches off: its record is sealed, not chained.
    let (outcome, stdout, _) = run_hook(
        &emulator,
        "after-allow-traffic",
        &deployment,
        "exec-off",
        &[("GATE_SWITCH_PREFIX", "none")],
    );
    assert_eq!(outcome["body"]["status"], "Succeeded", "{outcome}");
    let unchained: Vec<String> = stdout.lines().map(str::to_string).collect();
    let off = unchained
        .iter()
        .position(|l| l.contains("\"unchained\""))
        .expect("an unchained record");

    // The genuine logs verify, the unchained record with a note.
    for (name, text) in [
        ("genuine.log", lines.join("\n")),
        ("off.log", unchained.join("\n")),
    ] {
        let file = temp_file(name, &text);
        let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
        assert!(output.status.success(), "{name}: {text}");
    }

    // (name, lines of the forged file, the line to name (1-based), what the message says)
    let mut cases: Vec<(&str, Vec<String>, Option<usize>, &str)> = Vec::new();
    let edit = |index: usize, f: &dyn Fn(&mut Value)| -> Vec<String> {
        let mut forged = lines.clone();
        let mut record = parsed(&forged[index]);
        f(&mut record);
        forged[index] = record.to_string();
        forged
    };

    let mut off_edited = unchained.clone();
    let mut record = parsed(&off_edited[off]);
    record["status"] = json!("Failed");
    off_edited[off] = record.to_string();
    cases.push((
        "an edited unchained record",
        off_edited,
        Some(off + 1),
        "was altered",
    ));

    let mut twin = parsed(&lines[two]);
    twin["status"] = json!("Failed");
    twin["reason"] = json!("error-rate [fail]");
    twin["report"] = json!({"outcome": "already_completed"});
    let twin = reseal(twin).to_string();
    let mut forged = lines.clone();
    forged.push(twin.clone());
    cases.push((
        "a re-sealed twin with another status",
        forged,
        Some(lines.len() + 1),
        "record 2 exists twice",
    ));
    // Without its successor (and without --head), the twin read first used
    // to become the chain's record 2.
    let mut forged: Vec<String> = lines[..three].to_vec();
    forged.insert(two, twin.clone());
    cases.push((
        "a re-sealed twin of the last record, read first",
        forged,
        Some(two + 1),
        "the two differ in reason",
    ));

    let mut zero = parsed(&lines[two]);
    zero["audit"]["sequence"] = json!(0);
    let mut forged = lines.clone();
    forged.insert(two, reseal(zero).to_string());
    cases.push((
        "a re-sealed record with sequence 0",
        forged,
        Some(two + 1),
        "audit.sequence",
    ));

    let mut forged = lines.clone();
    forged.insert(1, r#"{"events":[]}"#.into());
    cases.push((
        "a stray export page among JSON lines",
        forged,
        Some(2),
        "not a decision record",
    ));

    let mut forged = lines.clone();
    forged[two] = forged[two].replacen('{', r#"{"status":"Failed","#, 1);
    cases.push((
        "a record with two statuses",
        forged,
        Some(two + 1),
        "duplicate key \"status\"",
    ));

    cases.push((
        "a record without its digest",
        edit(two, &|r| {
            r["audit"].as_object_mut().unwrap().remove("digest");
        }),
        Some(two + 1),
        "audit.digest is missing",
    ));
    cases.push((
        "a digest that is not hex",
        edit(two, &|r| {
            r["audit"]["digest"] = json!(format!("sha256:{}", "zz".repeat(32)))
        }),
        Some(two + 1),
        "is not a SHA-256 digest",
    ));
    let mut skip = parsed(&lines[three]);
    skip["audit"]["sequence"] = json!(4);
    let mut forged = lines.clone();
    forged[three] = reseal(skip).to_string();
    cases.push(("a sequence that skips", forged, None, "record 3 is missing"));
    let mut repeat = parsed(&lines[three]);
    repeat["audit"]["sequence"] = json!(2);
    let mut forged = lines.clone();
    forged[three] = reseal(repeat).to_string();
    cases.push((
        "a sequence that repeats",
        forged,
        Some(three + 1),
        "record 2 exists twice",
    ));
    let (mut a, mut b) = (parsed(&lines[two]), parsed(&lines[three]));
    a["audit"]["sequence"] = json!(3);
    b["audit"]["sequence"] = json!(2);
    let mut forged = lines.clone();
    forged[two] = reseal(a).to_string();
    forged[three] = reseal(b).to_string();
    cases.push((
        "records reordered",
        forged,
        None,
        "follows record 1, not record 2",
    ));
    let mut forged = lines[..=three].to_vec();
    let cut = forged[three].len() / 2;
    forged[three].truncate(cut);
    cases.push(("a truncated last line", forged, Some(three + 1), "not JSON"));
    cases.push((
        "a record of another kind",
        edit(two, &|r| {
            r["record"] = json!("codedeploy-gates.decision.v2")
        }),
        Some(two + 1),
        "codedeploy-gates.decision.v2",
    ));
    cases.push((
        "a record without its kind",
        edit(two, &|r| {
            r.as_object_mut().unwrap().remove("record");
        }),
        Some(two + 1),
        "not a decision record",
    ));
    let mut forged = lines.clone();
    forged.insert(
        1,
        json!({"timestamp": "2026-12-06T22:00:00Z", "level": "INFO", "fields": {"message": "x".repeat(300_000)}})
            .to_string(),
    );
    cases.push((
        "a huge line",
        forged,
        Some(2),
        "longer than a CloudWatch Logs event",
    ));
    let export = json!({"events": [
        {"timestamp": 1, "message": lines[two], "eventId": "1"},
        {"timestamp": 2, "message": "{\"hello\":\"world\"}", "eventId": "2"},
    ]});
    cases.push((
        "an export with an unknown event",
        vec![export.to_string()],
        None,
        "event 2",
    ));

    let mut failures = Vec::new();
    for (name, forged, line, says) in &cases {
        let file = temp_file("forged.log", &forged.join("\n"));
        let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
        let at = line.map(|n| format!("{}:{n}", file.display()));
        let named = at.as_ref().is_none_or(|at| text.contains(at.as_str()));
        if output.status.code() != Some(1) || !text.contains(says) || !named {
            failures.push(format!(
                "{name}: exit {:?}, expected 1 naming {at:?} and saying {says:?}:\n{text}",
                output.status.code()
            ));
        }
    }
    // Bytes that are not UTF-8 in one record: the line is named.
    let mut bytes = lines[..two].join("\n").into_bytes();
    bytes.extend_from_slice(b"\n");
    let mut broken = lines[two].clone().into_bytes();
    let at = broken.len() / 2;
    broken.insert(at, 0xff);
    bytes.extend_from_slice(&broken);
    let file = temp_file("bytes.log", "");
    std::fs::write(&file, &bytes).unwrap();
    let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
    if output.status.code() != Some(1)
        || !text.contains(&format!("{}:{}: not UTF-8", file.display(), two + 1))
    {
        failures.push(format!(
            "bytes that are not UTF-8: exit {:?}:\n{text}",
            output.status.code()
        ));
    }
    // A record forged after the last one, linked and sealed as the hook
    // would: only the head in SSM can tell, and --head does.
    let mut fourth = parsed(&lines[three]);
    fourth["audit"]["sequence"] = json!(4);
    fourth["audit"]["previous_digest"] = parsed(&lines[three])["audit"]["digest"].clone();
    fourth["lifecycle_event_hook_execution_id"] = json!("exec-4");
    let mut forged = lines.clone();
    forged.push(reseal(fourth).to_string());
    let file = temp_file("appended.log", &forged.join("\n"));
    let (output, text) = gatectl_verify(&emulator, &[file.to_str().unwrap()]);
    assert!(
        output.status.success()
            && text.contains("without --head, records removed from or added at the end"),
        "{text}"
    );
    let (output, text) = gatectl_verify(&emulator, &["--head", file.to_str().unwrap()]);
    if output.status.code() != Some(1) || !text.contains("is not the newest record") {
        failures.push(format!("an appended record with --head: {text}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A genuine duplicate delivery (the first run's head write failed, so the
/// second read the same head) verifies with a note, against the head too; a
/// twin re-sealed with another status, or with the same status and other
/// gates, does not.
#[test]
fn a_genuine_duplicate_delivery_verifies_but_a_resealed_twin_does_not() {
    let (emulator, deployment, log) = loop {
        let emulator = Emulator::start();
        emulator.seed_alb(10, |_| AlbMinute::healthy());
        let deployment = emulator.create_deployment();
        emulator.inject(
            json!({"service": "ssm", "operation": "PutParameter", "status": 400,
            "code": "AccessDeniedException", "message": "not allowed", "times": 1}),
        );
        let mut log = String::new();
        for execution in ["exec-dup", "exec-dup", "exec-next"] {
            let (outcome, stdout, stderr) = run_hook(
                &emulator,
                "after-allow-traffic",
                &deployment,
                execution,
                &[],
            );
            assert_eq!(outcome["state"], "success", "{outcome}\n{stderr}");
            log.push_str(&stdout);
        }
        let records = decision_records(&log);
        // Two deliveries a minute apart judge other periods: a real difference, try again.
        if records[0]["evaluated_at"].as_i64().unwrap() / 60
            == records[1]["evaluated_at"].as_i64().unwrap() / 60
        {
            break (emulator, deployment, log);
        }
    };
    let records = decision_records(&log);
    assert_eq!(
        records
            .iter()
            .map(|r| (
                r["audit"]["sequence"].as_u64().unwrap(),
                r["report"]["outcome"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(1, "accepted"), (1, "already_completed"), (2, "accepted")]
    );
    let file = temp_file("dup.log", &log);
    let (output, text) = gatectl_verify(&emulator, &["--head", file.to_str().unwrap()]);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(&format!("{deployment}: intact: 3 records; record 2 is"))
            && text.contains("duplicate delivery of execution exec-dup"),
        "{text}"
    );

    for (what, edit) in [
        (
            "status",
            &(|r: &mut Value| r["status"] = json!("Failed")) as &dyn Fn(&mut Value),
        ),
        ("gates", &|r: &mut Value| {
            r["gates"][0]["outcome"] = json!("fail")
        }),
    ] {
        // A third record at place 1: the accepted delivery's twin, re-sealed
        // with `edit`, as if a delivery had reported it and been refused.
        let mut twin = records[0].clone();
        edit(&mut twin);
        twin["report"] = json!({"outcome": "already_completed"});
        let mut forged: Vec<String> = log.lines().map(str::to_string).collect();
        forged.insert(0, reseal(twin).to_string());
        let file = temp_file("dup-forged.log", &forged.join("\n"));
        let (output, text) = gatectl_verify(&emulator, &["--head", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{what}: {text}");
        assert!(
            text.contains(&format!(
                "{deployment}: BROKEN: first broken link: record 1 exists twice"
            )) && text.contains(&format!("differ in {what}")),
            "{what}: {text}"
        );
    }
}
