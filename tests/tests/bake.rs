//! A bake analysis across Lambda runs, end to end: the real hook binary measures,
//! hands its state to the next run with Lambda `Invoke` (the emulator queues it
//! on the Runtime API, as asynchronous invocation would), and reports once; a
//! continuation is checked against the seal the function keeps in SSM, so a
//! forged one fails the hook and a replayed or duplicate one stands down
//! (issue 15, "Bake analysis across Lambda runs").

use gate_tests::{
    await_invocation, decision_records, epoch_secs, invoke, lifecycle_event, temp_file, AlbMinute,
    Emulator, HookProcess,
};
use metric_gate::continuation::execution_folder;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A 20-second bake measured every 10 s: three measurements.
const BAKED_POLICY: &str = "\
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: \"${TARGET_GROUP}\", LoadBalancer: \"${LOAD_BALANCER}\" }
hooks:
  AfterAllowTraffic:
    analysis: { duration: 20s, interval: 10s }
    gates:
      - name: error-rate
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \">\"
        threshold: 1%
        datapoints_to_alarm: 2
        min_sample: { at_least: 100 }
";

/// Runs of 40 s with a 1 s margin: 19 s of measuring time each, so a run takes
/// two measurements 10 s apart and hands the third to the next run.
const RUN_MS: u64 = 40_000;

/// The hook with the bake policy, continuations given `RUN_MS`.
/// An emulator with a deployment and ten healthy minutes, and the hook
/// running [`BAKED_POLICY`] against it.
fn healthy_bake() -> (Emulator, String, HookProcess) {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let hook = baking_hook(&emulator, BAKED_POLICY, &[]);
    (emulator, deployment, hook)
}

fn baking_hook(emulator: &Emulator, policy: &str, extra: &[(&str, &str)]) -> HookProcess {
    emulator.control(
        "POST",
        "lambda/timeout",
        Some(json!({"timeout_ms": RUN_MS})),
    );
    let policy = temp_file("bake.yaml", policy);
    let mut env = vec![
        ("GATE_POLICY_FILE", policy.to_str().unwrap().to_string()),
        ("GATE_SAFETY_MARGIN_MS", "1000".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    HookProcess::start(emulator, "after-allow-traffic", &env)
}

/// Waits until CodeDeploy received a status (or `within` passes).
fn await_status(emulator: &Emulator, within: Duration) {
    let started = Instant::now();
    while emulator.lifecycle().is_empty() {
        assert!(started.elapsed() < within, "no report within {within:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    // The record and the cleanup follow the report.
    std::thread::sleep(Duration::from_millis(800));
}

/// The self-invocations made so far (Lambda `Invoke` calls).
fn continuations(emulator: &Emulator) -> usize {
    emulator
        .calls()
        .iter()
        .filter(|c| c["service"] == "lambda")
        .count()
}

/// Every invocation the emulator queued, with its event.
fn invocations(emulator: &Emulator) -> Vec<Value> {
    emulator
        .control("GET", "invocations", None)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Queues `event` without waiting; returns its request id.
fn queue(emulator: &Emulator, event: Value, timeout_ms: u64) -> String {
    let queued = emulator.control(
        "POST",
        "invoke",
        Some(json!({"event": event, "timeout_ms": timeout_ms})),
    );
    queued["requestId"]
        .as_str()
        .expect("a request id")
        .to_string()
}

/// Base64 of a JSON object, as CodeDeploy's execution ids are, holding each of
/// `+`, `/` and `=`.
const REAL_SHAPED_EXECUTION_ID: &str =
    "eyJlbmNyeXB0ZWREYXRhIjoiWGNT+Xzn/TjBBY01rK0h0bEw0VGN6cHVQNkt6Y25WIjoxfQ==";

#[test]
fn a_bake_hands_off_between_runs_and_reports_once() {
    let (emulator, deployment, hook) = healthy_bake();
    // An execution id of the shape CodeDeploy sends: base64, with `+`, `/` and
    // `=`, none of which SSM takes in a parameter name (the seal's name is
    // made from a digest of it).
    let first = invoke(
        &emulator,
        lifecycle_event(&deployment, REAL_SHAPED_EXECUTION_ID),
        RUN_MS,
    );
    assert_eq!(first["body"]["status"], "InProgress", "{first}");

    await_status(&emulator, Duration::from_secs(120));
    let (stdout, stderr) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"], "{stderr}");
    let continuations = continuations(&emulator);
    assert!(continuations >= 1, "{continuations} continuations");
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "one final record: {stdout}");
    let analysis = &records[0]["analysis"];
    assert_eq!(
        analysis["measurements"].as_array().unwrap().len(),
        3,
        "{analysis}"
    );
    assert_eq!(
        analysis["runs"].as_u64().unwrap() as usize,
        continuations + 1
    );
    // The continuations are counted and bounded in the record.
    assert_eq!(
        analysis["continuations"].as_u64().unwrap() as usize,
        continuations,
        "{analysis}"
    );
    assert_eq!(analysis["max_continuations"], 300, "{analysis}");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("analysis passed: 3 measurements over 20s"),
        "{}",
        records[0]
    );
    // Progress is visible: a log line per measurement.
    assert_eq!(
        stdout.matches("analysis measurement").count(),
        3,
        "{stdout}"
    );
    // Every run measured: as many runs as runs that logged a measurement.
    let runs_measuring: std::collections::BTreeSet<String> = stdout
        .lines()
        .filter(|l| l.contains("analysis measurement"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["fields"]["run"].to_string())
        .collect();
    assert_eq!(runs_measuring.len(), continuations + 1, "{stdout}");
    // The tombstone removes itself once no delivery can come any more: an
    // advanced parameter with an expiration, 7 h on (Lambda keeps an
    // asynchronous event for 6 h at most). Before, one parameter per baked
    // execution stayed until someone deleted it, and the 10,000 standard
    // parameters of an account would run out.
    let seal = format!(
        "{}seal",
        execution_folder("/codedeploy-gates/", &deployment, REAL_SHAPED_EXECUTION_ID)
    );
    let (tier, policies) = emulator
        .parameter_tier_and_policies(&seal)
        .expect("the seal");
    assert_eq!(tier, "Advanced");
    let expiry: Value = serde_json::from_str(&policies[0]).expect("a policy in JSON");
    assert_eq!(expiry["Type"], "Expiration", "{expiry}");
    let at = expiry["Attributes"]["Timestamp"].as_str().unwrap();
    let at = parse_timestamp(at);
    let now = epoch_secs();
    assert!(
        (now + 6 * 3600..=now + 8 * 3600).contains(&at),
        "expires at {at}, now {now}"
    );
}

/// Epoch seconds of an ISO 8601 UTC timestamp (`2030-01-01T00:00:00.000Z`).
fn parse_timestamp(text: &str) -> i64 {
    use aws_sdk_ssm::primitives::{DateTime, DateTimeFormat};
    DateTime::from_str(text, DateTimeFormat::DateTime)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .secs()
}

/// Issue 15: with a 20 s timeout every run handed off at once (223
/// self-invocations in 45 s, no measurement, no status).
#[test]
fn a_timeout_too_short_to_measure_fails_at_once_naming_the_minimum() {
    let (emulator, deployment, hook) = healthy_bake();
    emulator.control(
        "POST",
        "lambda/timeout",
        Some(json!({"timeout_ms": 20_000})),
    );
    let answer = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-short"),
        20_000,
    );
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, stderr) = hook.finish();
    assert_eq!(answer["body"]["status"], "Failed", "{answer}\n{stderr}");
    let reason = answer["body"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("timeout of 20 s") && reason.contains("at least 34 s"),
        "{reason}"
    );
    assert_eq!(emulator.accepted_statuses(), ["Failed"]);
    assert_eq!(continuations(&emulator), 0, "no self-invocation");
    assert_eq!(stdout.matches("analysis measurement").count(), 0);
}

/// Issue 15: a forged `gate_analysis` with four passing measurements made the
/// hook report Succeeded without measuring, while the metrics showed 5 % errors.
#[test]
fn a_forged_continuation_fails_the_hook() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute {
        errors_5xx: Some(50.0),
        ..AlbMinute::healthy()
    });
    let hook = baking_hook(&emulator, BAKED_POLICY, &[]);
    let now = epoch_secs();
    let pass =
        |i: i64| json!({"at": now - 40 + 10 * i, "outcome": "pass", "reason": "all gates passed"});
    let mut event = lifecycle_event(&deployment, "exec-forged");
    event["gate_analysis"] = json!({
        "version": 1,
        "chain": "forged-chain",
        "started_at": now - 45,
        "runs": 2,
        "measurements": [pass(0), pass(1), pass(2), pass(3)],
    });
    let answer = invoke(&emulator, event, RUN_MS);
    std::thread::sleep(Duration::from_millis(500));
    let (_, stderr) = hook.finish();
    assert_eq!(answer["body"]["status"], "Failed", "{answer}\n{stderr}");
    let reason = answer["body"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("forged"), "{reason}");
    assert_eq!(emulator.accepted_statuses(), ["Failed"]);
    assert_eq!(continuations(&emulator), 0);
}

/// A continuation replayed after its bake concluded stands down: it can change
/// nothing (the live chain reports), and a late duplicate from Lambda's
/// at-least-once delivery looks the same, which must not fail a good deployment.
#[test]
fn a_replayed_continuation_stands_down() {
    let (emulator, deployment, hook) = healthy_bake();
    invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-replay"),
        RUN_MS,
    );
    await_status(&emulator, Duration::from_secs(120));
    let continuation = invocations(&emulator)
        .into_iter()
        .find(|i| i["event"].get("gate_analysis").is_some())
        .expect("a continuation was queued");
    let replay = invoke(&emulator, continuation["event"].clone(), RUN_MS);
    let (stdout, stderr) = hook.finish();
    assert_eq!(replay["body"]["status"], "StoodDown", "{replay}\n{stderr}");
    let reason = replay["body"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("already concluded"), "{reason}");
    assert_eq!(emulator.lifecycle().len(), 1, "one status");
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"]);
    assert_eq!(decision_records(&stdout).len(), 1);
}

/// An earlier continuation replayed while the bake runs on: the seal names a
/// later run, so the replay stands down and the live chain reports once.
#[test]
fn a_continuation_replayed_during_the_bake_stands_down() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    // 60 s every 10 s: seven measurements, two a run, three continuations.
    let policy = BAKED_POLICY.replace("duration: 20s", "duration: 60s");
    let hook = baking_hook(&emulator, &policy, &[]);
    queue(
        &emulator,
        lifecycle_event(&deployment, "exec-midreplay"),
        RUN_MS,
    );
    let started = Instant::now();
    while continuations(&emulator) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no second hand-off"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Run 3 is queued; the replay of run 2's continuation lands behind it and
    // arrives once run 3 has handed on to run 4.
    let run_2 = invocations(&emulator)
        .into_iter()
        .find(|i| i["event"]["gate_analysis"]["runs"] == 2)
        .expect("run 2's continuation");
    let replay = queue(&emulator, run_2["event"].clone(), RUN_MS);
    let replay = await_invocation(&emulator, &replay);
    assert_eq!(replay["body"]["status"], "StoodDown", "{replay}");
    let reason = replay["body"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("run 2 was already handed on to run 4"),
        "{reason}"
    );
    await_status(&emulator, Duration::from_secs(120));
    let (stdout, _) = hook.finish();
    assert_eq!(emulator.lifecycle().len(), 1, "one status");
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"]);
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["analysis"]["measurements"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

/// Issue 15: each duplicate delivery ran a whole bake of its own.
#[test]
fn a_duplicate_delivery_during_a_bake_stands_down() {
    let (emulator, deployment, hook) = healthy_bake();
    let first = queue(&emulator, lifecycle_event(&deployment, "exec-dup"), RUN_MS);
    // The duplicate arrives while the first run measures.
    std::thread::sleep(Duration::from_secs(2));
    let duplicate = queue(&emulator, lifecycle_event(&deployment, "exec-dup"), RUN_MS);
    assert_eq!(
        await_invocation(&emulator, &first)["body"]["status"],
        "InProgress"
    );
    let duplicate = await_invocation(&emulator, &duplicate);
    assert_eq!(duplicate["body"]["status"], "StoodDown", "{duplicate}");
    let reason = duplicate["body"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("already running"), "{reason}");
    await_status(&emulator, Duration::from_secs(120));
    let (stdout, _) = hook.finish();
    assert_eq!(emulator.lifecycle().len(), 1, "one status");
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"]);
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1);
    assert_eq!(
        stdout.matches("analysis measurement").count(),
        3,
        "one bake: {stdout}"
    );
}

/// Two deliveries of the same run at once (before any seal): the run's claim
/// is created with `Overwrite: false`, so SSM lets one of them through.
#[test]
fn a_delivery_finding_its_run_claimed_stands_down() {
    let (emulator, deployment, hook) = healthy_bake();
    // The other delivery's claim, as it would have written it.
    emulator.put_parameter(
        &format!(
            "{}run-1",
            execution_folder("/codedeploy-gates/", &deployment, "exec-race")
        ),
        r#"{"run": 1}"#,
    );
    let answer = invoke(&emulator, lifecycle_event(&deployment, "exec-race"), RUN_MS);
    let (stdout, _) = hook.finish();
    assert_eq!(answer["body"]["status"], "StoodDown", "{answer}");
    let reason = answer["body"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("run 1 of this execution's analysis is already running"),
        "{reason}"
    );
    assert!(emulator.lifecycle().is_empty(), "nothing reported");
    assert_eq!(stdout.matches("analysis measurement").count(), 0);
    assert!(
        stdout.contains("analysis run stood down"),
        "recorded: {stdout}"
    );
    // Counted, so that an alarm can watch for a flood of them.
    let counted: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|doc| doc.get("AnalysisStandDowns").is_some())
        .collect();
    assert_eq!(counted.len(), 1, "one EMF line: {stdout}");
    assert_eq!(counted[0]["AnalysisStandDowns"], 1.0);
    assert_eq!(counted[0]["Hook"], "AfterAllowTraffic");
    assert_eq!(counted[0]["deployment_id"], deployment.as_str());
}

/// The continuations are bounded: a bake that needs more than
/// `GATE_MAX_CONTINUATIONS` fails when it reaches the bound.
#[test]
fn reaching_the_continuation_bound_fails_the_hook() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    // 40 s every 10 s: five measurements, three runs, two continuations.
    let policy = BAKED_POLICY.replace("duration: 20s", "duration: 40s");
    let hook = baking_hook(&emulator, &policy, &[("GATE_MAX_CONTINUATIONS", "1")]);
    invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-bound"),
        RUN_MS,
    );
    await_status(&emulator, Duration::from_secs(120));
    let (stdout, _) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), ["Failed"]);
    assert_eq!(continuations(&emulator), 1);
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "{stdout}");
    let reason = records[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("bound of 1 continuation") && reason.contains("GATE_MAX_CONTINUATIONS"),
        "{reason}"
    );
    assert_eq!(records[0]["analysis"]["continuations"], 1);
    assert_eq!(records[0]["analysis"]["max_continuations"], 1);
}
