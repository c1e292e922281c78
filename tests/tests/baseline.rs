//! Canary against baseline, end to end: the hook binary compares the replacement's
//! target group with the one it replaces, both seeded into moto, both under the
//! static thresholds.

use gate_tests::{
    decision_records, epoch_secs, invoke, lifecycle_event, temp_file, AlbMinute, Emulator,
    HookProcess,
};
use serde_json::{json, Value};

const BASELINE_TARGET_GROUP: &str = "targetgroup/web-blue/fedcba9876543210";

const POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions:
    TargetGroup: ${canary.target_group}
    LoadBalancer: ${canary.load_balancer}
hooks:
  BeforeAllowTraffic:
    gates:
      - name: latency-vs-baseline
        description: p95 no more than 1.4 x the version being replaced (the playbook's rule)
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: live
        comparison: ">"
        threshold: 1.4 x baseline
        evaluation_periods: 5
        datapoints_to_alarm: 3
        min_sample: { at_least: 100, metric: { name: RequestCount, stat: Sum } }
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1.0
"#;

/// Seeds canary and baseline, runs BeforeAllowTraffic once, returns the record.
fn compare(canary: AlbMinute, baseline: AlbMinute) -> (Vec<String>, Value) {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| canary.clone());
    emulator.seed_alb_for(BASELINE_TARGET_GROUP, 10, |_| baseline.clone());
    let policy = temp_file("baseline.yaml", POLICY);
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[
            ("GATE_POLICY_FILE", policy.to_str().unwrap()),
            ("BASELINE_TARGET_GROUP", BASELINE_TARGET_GROUP),
        ],
    );
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}\n{stderr}");
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "{stderr}");
    (emulator.accepted_statuses(), records[0].clone())
}

fn gate<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no gate {name} in {record}"))
}

#[test]
fn a_canary_one_and_a_half_times_slower_fails_under_the_static_threshold() {
    let (accepted, record) = compare(AlbMinute::healthy().slower(1.5), AlbMinute::healthy());
    assert_eq!(accepted, vec!["Failed"], "{record}");
    let relative = gate(&record, "latency-vs-baseline");
    assert_eq!(relative["outcome"], "fail", "{relative}");
    assert_eq!(relative["threshold"], "> 1.4 x baseline");
    assert_eq!(
        relative["reason"],
        "5 of the last 5 periods > 1.4 x baseline (fails at 3); worst 0.375 s (baseline 0.25 s)"
    );
    // Both sides are far under the ADR's 1 s: only the comparison sees it.
    assert_eq!(gate(&record, "latency-static")["outcome"], "pass");
    // The record's series: the newest 5 periods judged, the baseline's value
    // beside each.
    let series = &relative["series"];
    let periods = series["values"].as_array().unwrap().len();
    let judged_from = series["judged_from"].as_u64().unwrap() as usize;
    assert_eq!(periods - judged_from, 5, "{relative}");
    let baseline = series["baseline"].as_array().unwrap();
    assert!(
        baseline[judged_from..].iter().all(|b| *b == 0.25),
        "{relative}"
    );
}

#[test]
fn equal_distributions_pass() {
    let (accepted, record) = compare(AlbMinute::healthy(), AlbMinute::healthy());
    assert_eq!(accepted, vec!["Succeeded"], "{record}");
    assert_eq!(gate(&record, "latency-vs-baseline")["outcome"], "pass");
}

#[test]
fn low_canary_traffic_is_inconclusive_and_blocks() {
    let trickle = AlbMinute {
        requests: Some(10.0),
        ..AlbMinute::healthy().slower(1.5)
    };
    let (accepted, record) = compare(trickle, AlbMinute::healthy());
    assert_eq!(accepted, vec!["Failed"], "{record}");
    let relative = gate(&record, "latency-vs-baseline");
    assert_eq!(relative["outcome"], "inconclusive", "{relative}");
    assert!(
        relative["reason"]
            .as_str()
            .unwrap()
            .starts_with("sample too small to judge: 50 RequestCount"),
        "{relative}"
    );
}

#[test]
fn a_missing_baseline_is_not_a_pass() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let policy = temp_file("baseline.yaml", POLICY);
    // No BASELINE_TARGET_GROUP and no deployment targets: discovery cannot
    // find the version being replaced, and the hook says so.
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
    );
    invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"], "{stderr}");
    let record = &decision_records(&stdout)[0];
    let reason = record["reason"].as_str().unwrap();
    assert!(reason.contains("deployment discovery"), "{reason}");
    assert!(record["discovery_error"].is_string(), "{record}");
}

#[test]
fn discovery_finds_green_and_blue_and_compares_them() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let alb = emulator.ecs_blue_green_with_slower_green(&deployment, 10, 1.5);
    let (blue, green) = (&alb.target_groups[0], &alb.target_groups[1]);
    let policy = temp_file("baseline.yaml", POLICY);
    // Empty overrides: the hook must find both sides from the deployment.
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[
            ("GATE_POLICY_FILE", policy.to_str().unwrap()),
            ("TARGET_GROUP", ""),
            ("LOAD_BALANCER", ""),
        ],
    );
    invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"], "{stderr}");
    let record = &decision_records(&stdout)[0];
    assert_eq!(
        record["discovery"]["canary"]["target_group"],
        green.as_str(),
        "{record}"
    );
    assert_eq!(
        record["discovery"]["baseline"]["target_group"],
        blue.as_str()
    );
    assert_eq!(
        record["discovery"]["canary"]["load_balancer"],
        alb.load_balancer.as_str()
    );
    let relative = gate(record, "latency-vs-baseline");
    assert_eq!(relative["outcome"], "fail", "{relative}");
    let calls: Vec<String> = emulator
        .calls()
        .iter()
        .filter_map(|c| c["operation"].as_str().map(str::to_string))
        .collect();
    for call in [
        "ListDeploymentTargets",
        "BatchGetDeploymentTargets",
        "DescribeTargetGroups",
    ] {
        assert!(
            calls.iter().any(|c| c == call),
            "{call} missing from {calls:?}"
        );
    }
}

const BEFORE_DEPLOYMENT_POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions:
    TargetGroup: ${canary.target_group}
    LoadBalancer: ${canary.load_balancer}
hooks:
  AfterAllowTraffic:
    gates:
      - name: latency-vs-before-deployment
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: before_deployment         # the 5 minutes before the deployment began
        comparison: ">"
        threshold: 1.4 x baseline
        datapoints_to_alarm: 3
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1.0
"#;

/// Creates a deployment that began 15 minutes ago (moto's createTime, set
/// through the harness), seeds the replacement's target group with healthy
/// minutes before it and `after` from then on, runs AfterAllowTraffic with a
/// GetDeployment that answers 300 ms late, and returns the record and the
/// AWS calls (operation, arrival time).
fn before_deployment(after: AlbMinute) -> (Vec<String>, Value, Vec<(String, f64)>) {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let now = epoch_secs();
    let created = now - now % 60 - 15 * 60 + 10;
    let patched = emulator.control(
        "POST",
        &format!("deployments/{deployment}"),
        Some(json!({ "createTime": created })),
    );
    assert_eq!(patched["patched"], true, "{patched}");
    // seed_alb's minute i starts at (this minute) - 60 x (30 - i): minutes
    // 0-14 lie before the deployment's minute, 15 on after it.
    emulator.seed_alb(30, |i| {
        if i < 15 {
            AlbMinute::healthy()
        } else {
            after.clone()
        }
    });
    emulator.inject(
        json!({"service": "codedeploy", "operation": "GetDeployment", "status": 200, "delay_ms": 300}),
    );
    let policy = temp_file("before-deployment.yaml", BEFORE_DEPLOYMENT_POLICY);
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", policy.to_str().unwrap())],
    );
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}\n{stderr}");
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "{stderr}");
    let record = records[0].clone();
    assert_eq!(record["deployment"]["create_time"], created, "{record}");
    let calls = emulator
        .calls()
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap_or_default().to_string(),
                c["at"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    (emulator.accepted_statuses(), record, calls)
}

#[test]
fn a_canary_slower_than_the_window_before_the_deployment_fails() {
    let (accepted, record, calls) = before_deployment(AlbMinute::healthy().slower(1.5));
    assert_eq!(accepted, vec!["Failed"], "{record}");
    let relative = gate(&record, "latency-vs-before-deployment");
    assert_eq!(relative["outcome"], "fail", "{relative}");
    assert!(
        relative["threshold"]
            .as_str()
            .unwrap()
            .starts_with("> 1.4 x baseline (the window before the deployment began, ending "),
        "{relative}"
    );
    // p95 0.375 s against 0.25 s before the deployment, under the static 1 s.
    assert!(
        relative["reason"]
            .as_str()
            .unwrap()
            .contains("(baseline 0.25 s)"),
        "{relative}"
    );
    assert_eq!(gate(&record, "latency-static")["outcome"], "pass");
    // The create time is needed first: both GetMetricData calls (canary and
    // the window before the deployment) come after GetDeployment's answer,
    // which the harness held back 300 ms. One more sequential round trip.
    let deployment_at = calls
        .iter()
        .find(|(op, _)| op == "GetDeployment")
        .map(|(_, at)| *at)
        .expect("GetDeployment was called");
    let metrics: Vec<f64> = calls
        .iter()
        .filter(|(op, _)| op == "GetMetricData")
        .map(|(_, at)| *at)
        .collect();
    assert_eq!(metrics.len(), 2, "{calls:?}");
    assert!(
        metrics.iter().all(|at| *at >= deployment_at + 0.3),
        "{calls:?}"
    );
}

#[test]
fn a_canary_like_the_window_before_the_deployment_passes() {
    let (accepted, record, _) = before_deployment(AlbMinute::healthy());
    assert_eq!(accepted, vec!["Succeeded"], "{record}");
    let relative = gate(&record, "latency-vs-before-deployment");
    assert_eq!(relative["outcome"], "pass", "{relative}");
    // Judged against the p95 before the deployment, period by period.
    assert!(
        relative["reason"].as_str().unwrap().starts_with(
            "0 of the last 5 periods > 1.4 x baseline (fails at 3); worst 0.25 s (baseline 0.25 s)"
        ),
        "{relative}"
    );
}

#[test]
fn the_default_policy_records_its_shadow_comparison_without_blocking() {
    // The embedded default policy, the replacement 1.5 x slower than the Blue
    // target group, both under the static 1 s: the shadow gate would have
    // failed, the deployment goes on, and the record says so.
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy().slower(1.5));
    emulator.seed_alb_for(BASELINE_TARGET_GROUP, 10, |_| AlbMinute::healthy());
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("BASELINE_TARGET_GROUP", BASELINE_TARGET_GROUP)],
    );
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}\n{stderr}");
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"], "{stderr}");
    let record = &decision_records(&stdout)[0];
    assert_eq!(
        record["reason"],
        "all 3 critical gates passed; dry run, would have blocked: latency-vs-baseline [fail]",
        "{record}"
    );
    let shadow = gate(record, "latency-vs-baseline");
    assert_eq!(shadow["dry_run"], true);
    assert!(
        shadow["reason"]
            .as_str()
            .unwrap()
            .contains("worst 0.375 s (baseline 0.25 s)"),
        "{shadow}"
    );
    // The baseline's queries ride in the same GetMetricData: no extra call.
    let calls: Vec<String> = emulator
        .calls()
        .iter()
        .filter_map(|c| c["operation"].as_str().map(str::to_string))
        .filter(|op| op == "GetMetricData")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
}
