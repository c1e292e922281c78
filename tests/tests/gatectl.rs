//! gatectl against the emulator: `backtest` on an export made by the real AWS
//! CLI (`aws cloudwatch get-metric-data --output json`), and `evaluate` against
//! "live" CloudWatch.

use gate_tests::{
    epoch_secs, hook_binary, temp_file, workspace_root, AlbMinute, Emulator, LOAD_BALANCER,
    TARGET_GROUP,
};
use std::process::Command;

#[test]
fn backtest_finds_the_windows_a_policy_would_have_failed() {
    let emulator = Emulator::start();
    // 30 minutes, oldest first; 3 % errors in minutes 20, 21 and 22 only.
    emulator.seed_alb(30, |i| AlbMinute {
        errors_5xx: Some(if (20..=22).contains(&i) { 30.0 } else { 2.0 }),
        ..AlbMinute::healthy()
    });
    let gatectl = hook_binary("gatectl");
    let env = [
        ("TARGET_GROUP", TARGET_GROUP),
        ("LOAD_BALANCER", LOAD_BALANCER),
    ];
    let queries = Command::new(&gatectl)
        .envs(env)
        .args(["backtest", "--hook", "AfterAllowTraffic", "--print-queries"])
        .output()
        .unwrap();
    assert!(queries.status.success(), "{queries:?}");
    let queries = temp_file("queries.json", &String::from_utf8(queries.stdout).unwrap());

    let now = epoch_secs();
    let export = Command::new(workspace_root().join(".venv/bin/aws"))
        .env("AWS_ENDPOINT_URL", format!("http://{}", emulator.address))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["cloudwatch", "get-metric-data", "--output", "json"])
        .arg("--metric-data-queries")
        .arg(format!("file://{}", queries.display()))
        .args([
            "--start-time",
            &(now - 3600).to_string(),
            "--end-time",
            &now.to_string(),
        ])
        .output()
        .expect("run the AWS CLI from .venv (./dev test installs it)");
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let data = temp_file("day.json", &String::from_utf8(export.stdout).unwrap());

    let report = data.with_file_name("backtest.html");
    let output = Command::new(&gatectl)
        .envs(env)
        .args(["backtest", "--hook", "AfterAllowTraffic", "--data"])
        .arg(&data)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A 5-minute window fails when it holds 2 of the 3 bad minutes: it starts at
    // minute 17, 18, 19, 20 or 21. Nothing else fails.
    assert!(
        stdout.contains("the hook would have reported Failed in 5 of"),
        "{stdout}"
    );
    let error_rate = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("error-rate"))
        .unwrap();
    assert!(
        error_rate.contains("XXXXX") && error_rate.contains("5 failing"),
        "{error_rate}"
    );
    for other in ["healthy-hosts", "latency-p95"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(other))
            .unwrap();
        assert!(line.contains("0 failing"), "{line}");
    }
    // The report: a chart per gate (the default's shadow gate
    // latency-vs-baseline included: no history); the five failing
    // evaluations shaded, and a red dot only where the evaluation's newest
    // period breached (minutes 20, 21 and 22), never on a quiet minute.
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    assert_eq!(html.matches("class=\"failed\"").count(), 5, "{html}");
    assert_eq!(html.matches("class=\"breach\"").count(), 3, "{html}");
}

/// gatectl with the default policy's fixed dimensions, talking to `emulator`.
fn gatectl_against(emulator: &Emulator) -> Command {
    let mut command = Command::new(hook_binary("gatectl"));
    command
        .env("TARGET_GROUP", TARGET_GROUP)
        .env("LOAD_BALANCER", LOAD_BALANCER)
        .env("AWS_ENDPOINT_URL", format!("http://{}", emulator.address))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Operator input is checked as an event's id is: nothing is asked of AWS
/// about a deployment id CodeDeploy never issues, and the terminal gets it
/// escaped.
#[test]
fn evaluate_refuses_a_deployment_id_of_another_shape_before_any_aws_call() {
    let emulator = Emulator::start();
    let output = gatectl_against(&emulator)
        .args([
            "evaluate",
            "--hook",
            "before-allow-traffic",
            "--deployment",
            "d-../\u{1b}[31m",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--deployment d-../\\u{1b}[31m: not a CodeDeploy deployment id ('.' (U+002E) at position 3"),
        "{stderr}"
    );
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

#[test]
fn evaluate_judges_now_and_never_reports() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute {
        latencies: vec![(0.2, 900.0), (1.5, 100.0)],
        ..AlbMinute::healthy()
    });
    let output = gatectl_against(&emulator)
        .args([
            "evaluate",
            "--hook",
            "before-allow-traffic",
            "--deployment",
            &deployment,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit 1 when the hook would fail:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("would report Failed: 1 of 3 critical gates blocked: latency-p95 [fail]"),
        "{stdout}"
    );
    assert!(stdout.contains("\"application_name\":\"web\""), "{stdout}");
    let operations: Vec<String> = emulator
        .calls()
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        operations.contains(&"GetMetricData".to_string()),
        "{operations:?}"
    );
    assert!(
        !operations.contains(&"PutLifecycleEventHookExecutionStatus".to_string()),
        "evaluate must never report: {operations:?}"
    );
}
