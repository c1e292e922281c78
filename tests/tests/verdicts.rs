//! The ADR's rollback triggers, end to end: real hook binaries under the Lambda
//! Runtime API, judging metrics seeded into moto through the real SDK.

use gate_tests::{gate_once, AlbMinute};

#[test]
fn healthy_release_succeeds() {
    let outcome = gate_once("before-allow-traffic", |_| AlbMinute::healthy());
    assert_eq!(
        outcome.invocation["state"], "success",
        "{}",
        outcome.invocation
    );
    assert_eq!(outcome.accepted, vec!["Succeeded"], "{}", outcome.stderr);
    // One GetMetricData for every gate, alongside GetDeployment and the
    // switches' GetParameters (which also reads the audit chain head), then the
    // report: two sequential round trips before it. The chain head is written
    // after the report.
    let mut calls = outcome.calls.clone();
    calls[..3].sort();
    assert_eq!(
        calls,
        [
            "GetDeployment",
            "GetMetricData",
            "GetParameters",
            "PutLifecycleEventHookExecutionStatus",
            "PutParameter"
        ]
    );
    let record = &outcome.records[0];
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(record["hook"], "BeforeAllowTraffic");
    assert_eq!(record["deployment"]["application_name"], "web");
    for gate in ["error-rate", "latency-p95", "healthy-hosts"] {
        assert_eq!(
            outcome.gate(gate)["outcome"],
            "pass",
            "{}",
            outcome.gate(gate)
        );
    }
    // p95 of the seeded distribution: the 950th of 1000 samples is in the 0.25 s bucket.
    let latency = outcome.gate("latency-p95");
    assert!(
        latency["series"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| *v == 0.25),
        "{latency}"
    );
}

#[test]
fn three_percent_errors_fail() {
    let outcome = gate_once("after-allow-traffic", |_| AlbMinute {
        errors_5xx: Some(30.0),
        ..AlbMinute::healthy()
    });
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let gate = outcome.gate("error-rate");
    assert_eq!(gate["outcome"], "fail");
    assert_eq!(
        gate["reason"],
        "5 of the last 5 periods > 1% (fails at 2); worst 3%"
    );
}

#[test]
fn p95_of_one_and_a_half_seconds_fails() {
    let outcome = gate_once("before-allow-traffic", |_| AlbMinute {
        latencies: vec![(0.2, 900.0), (1.5, 100.0)],
        ..AlbMinute::healthy()
    });
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let gate = outcome.gate("latency-p95");
    assert_eq!(gate["outcome"], "fail", "{gate}");
    assert!(
        gate["reason"].as_str().unwrap().contains("worst 1.5"),
        "{gate}"
    );
    assert_eq!(outcome.gate("error-rate")["outcome"], "pass");
}

#[test]
fn half_the_hosts_unhealthy_fails() {
    let outcome = gate_once("after-allow-traffic", |_| AlbMinute {
        healthy: Some(2.0),
        unhealthy: Some(2.0),
        ..AlbMinute::healthy()
    });
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let gate = outcome.gate("healthy-hosts");
    assert_eq!(gate["outcome"], "fail");
    assert!(gate["reason"].as_str().unwrap().contains("< 95%"), "{gate}");
}

#[test]
fn no_data_fails() {
    let outcome = gate_once("before-allow-traffic", |_| AlbMinute::default());
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    for gate in ["error-rate", "latency-p95", "healthy-hosts"] {
        assert_eq!(
            outcome.gate(gate)["outcome"],
            "inconclusive",
            "{}",
            outcome.gate(gate)
        );
    }
    assert!(outcome.gate("error-rate")["reason"]
        .as_str()
        .unwrap()
        .starts_with("no datapoints at all"));
}

#[test]
fn test_traffic_hook_judges_host_health() {
    let healthy = gate_once("after-allow-test-traffic", |_| AlbMinute::healthy());
    assert_eq!(healthy.accepted, vec!["Succeeded"], "{}", healthy.stderr);
    let sick = gate_once("after-allow-test-traffic", |_| AlbMinute {
        healthy: Some(1.0),
        unhealthy: Some(3.0),
        ..AlbMinute::healthy()
    });
    assert_eq!(sick.accepted, vec!["Failed"], "{}", sick.stderr);
}
