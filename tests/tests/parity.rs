//! Parity (issue 14): `gatectl evaluate` and the hook go through one pipeline,
//! so for the same deployment, emulator data and policy, what the operator is
//! shown is what the hook decides. The policy names the replacement only
//! through `${canary.*}` and compares it with the version it replaces
//! (`baseline: live`, so `${baseline.*}`): nothing can be judged without
//! deployment discovery and binding.
//!
//! Written against gatectl's observable output (a line per gate with its name
//! and outcome, then `would report STATUS: REASON`), not its code.

use gate_tests::{
    decision_records, hook_binary, invoke, lifecycle_event, workspace_root, Emulator, HookProcess,
};
use serde_json::Value;
use std::process::{Command, Output};

/// The policy under test: see its comments for the outcome each gate should have.
const POLICY: &str = "tests/fixtures/parity.yaml";

/// The outcomes a gate line can show.
const OUTCOMES: [&str; 4] = ["pass", "fail", "inconclusive", "error"];

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The (name, outcome) of every gate line gatectl printed, in order. A gate
/// line is a gate name, an optional sparkline (and any other token without a
/// letter or digit, such as a mark before the name), then the outcome.
fn printed_gates(stdout: &str) -> Vec<(String, String)> {
    let wordless = |token: &&str| !token.chars().any(char::is_alphanumeric);
    strip_ansi(stdout)
        .lines()
        .filter_map(|line| {
            let mut tokens = line.split_whitespace().skip_while(wordless);
            let name = tokens.next()?;
            let outcome = tokens.find(|t| !wordless(t))?;
            OUTCOMES
                .contains(&outcome)
                .then(|| (name.to_string(), outcome.to_string()))
        })
        .collect()
}

/// The STATUS of gatectl's `would report STATUS: REASON` line.
fn printed_status(stdout: &str) -> Option<String> {
    strip_ansi(stdout).lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("would report ")?;
        Some(rest.split(':').next()?.trim().to_string())
    })
}

/// The (name, outcome) of every gate in a decision record, in order.
fn recorded_gates(record: &Value) -> Vec<(String, String)> {
    record["gates"]
        .as_array()
        .unwrap_or_else(|| panic!("no gates in {record}"))
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap_or_default().to_string(),
                g["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `gatectl evaluate` against the emulator with nothing in its environment but
/// what reaching the emulator needs: no TARGET_GROUP or LOAD_BALANCER to stand
/// in for discovery.
fn evaluate(emulator: &Emulator, hook: &str, deployment: &str) -> Output {
    Command::new(hook_binary("gatectl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", format!("http://{}", emulator.address))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .args(["evaluate", "--hook", hook, "--policy"])
        .arg(workspace_root().join(POLICY))
        .args(["--deployment", deployment])
        .output()
        .expect("run gatectl evaluate")
}

#[test]
fn evaluate_prints_the_gate_outcomes_the_hook_records() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    // An ECS blue/green deployment: Blue serves production, Green is the
    // replacement 1.5 x slower, each with its target group behind one ALB;
    // 15 minutes, so the settled window has data whichever minute either run
    // starts in.
    let alb = emulator.ecs_blue_green_with_slower_green(&deployment, 15, 1.5);
    let (blue, green) = (&alb.target_groups[0], &alb.target_groups[1]);

    // gatectl first: it must never report, so the hook then finds the
    // deployment as CodeDeploy left it.
    let output = evaluate(&emulator, "BeforeAllowTraffic", &deployment);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let shown = format!(
        "gatectl evaluate exited {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status.code()
    );
    assert!(
        emulator
            .lifecycle()
            .iter()
            .all(|r| r["outcome"] != "accepted"),
        "gatectl evaluate reported to CodeDeploy\n{shown}"
    );

    // The hook, on the same deployment and data, the same policy, with empty
    // overrides: it finds both target groups from the deployment.
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[
            (
                "GATE_POLICY_FILE",
                workspace_root().join(POLICY).to_str().unwrap(),
            ),
            ("TARGET_GROUP", ""),
            ("LOAD_BALANCER", ""),
        ],
    );
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (hook_stdout, hook_stderr) = hook.finish();
    assert_eq!(
        invocation["state"], "success",
        "{invocation}\n{hook_stderr}"
    );
    let records = decision_records(&hook_stdout);
    assert_eq!(records.len(), 1, "{hook_stderr}");
    let record = &records[0];

    // Not vacuous: the hook found both sides and the data decided, gate by
    // gate, as the fixture says.
    assert_eq!(
        record["discovery"]["canary"]["target_group"],
        green.as_str(),
        "{record}"
    );
    assert_eq!(
        record["discovery"]["baseline"]["target_group"],
        blue.as_str(),
        "{record}"
    );
    let recorded = recorded_gates(record);
    let expected: Vec<(String, String)> = [
        ("error-rate", "pass"),
        ("latency-vs-baseline", "fail"),
        ("latency-static", "pass"),
        ("elb-5xx", "inconclusive"),
    ]
    .iter()
    .map(|(n, o)| (n.to_string(), o.to_string()))
    .collect();
    assert_eq!(recorded, expected, "{record}");
    assert_eq!(record["status"], "Failed", "{record}");
    assert_eq!(
        emulator.accepted_statuses(),
        vec!["Failed"],
        "{hook_stderr}"
    );

    // Parity: gatectl printed the same gates with the same outcomes, in the
    // same order, and would report the same status.
    assert_eq!(
        printed_gates(&stdout),
        recorded,
        "gatectl evaluate's gate lines differ from the hook's decision record \
         (left: printed, right: recorded; the record's reason: {})\n{shown}",
        record["reason"]
    );
    assert_eq!(
        printed_status(&stdout).as_deref(),
        record["status"].as_str(),
        "gatectl evaluate would report another status than the hook (the record's reason: {})\n{shown}",
        record["reason"]
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "gatectl evaluate exits 1 when the hook fails\n{shown}"
    );
}

#[test]
fn gate_lines_are_read_with_or_without_sparkline_colour_and_mark() {
    let stdout = "BeforeAllowTraffic with tests/fixtures/parity.yaml (sha256:ab)\n\
        deployment d-1: {\"status\":\"InProgress\"}\n  \
        error-rate                 ▁▁▁▁▁ \x1b[32mpass        \x1b[0m 0 of the last 5 periods > 1%\n  \
        latency-vs-baseline        ▃·▃▃█ fail         5 of the last 5 periods\n  \
        ✗ latency-static           inconclusive no data for the last 5 periods\n  \
        elb-5xx                    error        GetMetricData failed (warning)\n\
        would report Failed: 1 of 3 critical gates blocked: latency-vs-baseline [fail]\n";
    assert_eq!(
        printed_gates(stdout),
        [
            ("error-rate", "pass"),
            ("latency-vs-baseline", "fail"),
            ("latency-static", "inconclusive"),
            ("elb-5xx", "error"),
        ]
        .map(|(n, o)| (n.to_string(), o.to_string()))
    );
    assert_eq!(printed_status(stdout).as_deref(), Some("Failed"));
}
