//! A bake analysis across Lambda runs, end to end: the real hook binary measures,
//! hands its state to the next run with Lambda `Invoke` (the emulator queues it
//! on the Runtime API, as asynchronous invocation would), and reports once.

use gate_tests::{
    decision_records, invoke, lifecycle_event, temp_file, AlbMinute, Emulator, HookProcess,
};
use serde_json::json;
use std::time::{Duration, Instant};

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

#[test]
fn a_bake_hands_off_between_runs_and_reports_once() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    // Short Lambda runs (25 s, 1 s margin): the 20-second bake needs several.
    emulator.control(
        "POST",
        "lambda/timeout",
        Some(json!({"timeout_ms": 25_000})),
    );
    let policy = temp_file("bake.yaml", BAKED_POLICY);
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[
            ("GATE_POLICY_FILE", policy.to_str().unwrap()),
            ("GATE_SAFETY_MARGIN_MS", "1000"),
        ],
    );
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-bake"), 25_000);
    assert_eq!(first["body"]["status"], "InProgress", "{first}");

    let started = Instant::now();
    while emulator.lifecycle().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no report within two minutes"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, stderr) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"], "{stderr}");
    let continuations = emulator
        .calls()
        .iter()
        .filter(|c| c["service"] == "lambda")
        .count();
    assert!(continuations >= 2, "{continuations} continuations");
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
}
