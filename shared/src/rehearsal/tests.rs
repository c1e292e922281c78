//! Every shipped scenario ends the way its file says, through the real hook code.

use super::*;
use crate::judge::LifecycleStatus;

#[tokio::test]
async fn every_shipped_scenario_ends_as_its_file_says() {
    let policy = Policy::embedded_default(&rehearsal_env).unwrap();
    for (name, text) in SHIPPED_SCENARIOS {
        let scenario = Scenario::from_yaml(text, name).unwrap();
        assert_eq!(scenario.name, name);
        let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
        let reasons: Vec<String> = rehearsal
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Hook { record, .. } => Some(format!(
                    "{}: {} {}",
                    record.hook, record.status, record.reason
                )),
                _ => None,
            })
            .collect();
        assert!(
            rehearsal.matches(&scenario.expect),
            "{name}: ended {:?} by {:?}, expected {:?}\n{}",
            rehearsal.status,
            rehearsal.decided_by,
            scenario.expect,
            reasons.join("\n")
        );
    }
}

#[tokio::test]
async fn a_failed_hook_ends_the_lifecycle() {
    let policy = Policy::embedded_default(&rehearsal_env).unwrap();
    let scenario = Scenario::from_yaml(SHIPPED_SCENARIOS[2].1, "error-spike").unwrap();
    let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
    let hooks: Vec<Hook> = rehearsal
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Hook { record, .. } => Some(record.hook),
            _ => None,
        })
        .collect();
    assert_eq!(
        hooks,
        [
            Hook::BeforeInstall,
            Hook::AfterAllowTestTraffic,
            Hook::BeforeAllowTraffic
        ]
    );
    assert!(matches!(rehearsal.steps.last(), Some(Step::Hook { .. })));
}

#[test]
fn scenario_errors_name_the_field() {
    let err = Scenario::from_yaml(
        "name: x\ndescription: y\nexpect: {status: Maybe}\nschedule: {Deploy: 3}\nrequests_per_minute: 1\ncanary: [{from: 0m, error_rate: lots}]\n",
        "bad.yaml",
    )
    .unwrap_err()
    .to_string();
    for want in [
        "expect.status",
        "schedule.Deploy: unknown hook",
        "canary[0].error_rate",
    ] {
        assert!(err.contains(want), "{want} missing from {err}");
    }
}

#[test]
fn minutes_follow_the_segments_and_the_traffic_schedule() {
    let scenario = Scenario::from_yaml(SHIPPED_SCENARIOS[1].1, "latency-regression").unwrap();
    let early = scenario.minute(10);
    assert_eq!((early.p95, early.canary_share), (0.3, 0.05));
    assert_eq!(early.requests, 120.0 + 200.0);
    let late = scenario.minute(40);
    assert_eq!(
        (late.p95, late.canary_share, late.requests),
        (1.6, 1.0, 4120.0)
    );
}

#[test]
fn the_baseline_takes_the_production_traffic_the_replacement_does_not() {
    let scenario = Scenario::from_yaml(SHIPPED_SCENARIOS[1].1, "latency-regression").unwrap();
    let source = source::ScenarioSource::new(&scenario, REHEARSAL_START, "targetgroup/blue/1");
    // Before the deployment only the baseline exists.
    assert_eq!(source.value(Version::Canary, "RequestCount", -5), None);
    assert_eq!(
        source.value(Version::Baseline, "RequestCount", -5),
        Some(4000.0)
    );
    // At 25 % the baseline serves the other 75 %, at its own latency.
    assert_eq!(
        source.value(Version::Baseline, "RequestCount", 20),
        Some(3000.0)
    );
    assert_eq!(
        source.value(Version::Baseline, "TargetResponseTime", 30),
        Some(0.3)
    );
    assert_eq!(
        source.value(Version::Canary, "TargetResponseTime", 30),
        Some(1.6)
    );
}

#[tokio::test]
async fn a_gate_on_the_baseline_target_group_reads_the_baseline() {
    let policy_at = |hook: &str| {
        let yaml = format!("version: 1\nmetric_defaults:\n  namespace: AWS/ApplicationELB\n  dimensions: {{ TargetGroup: \"${{BASELINE_TARGET_GROUP}}\", LoadBalancer: \"${{LOAD_BALANCER}}\" }}\nhooks:\n  {hook}:\n    gates:\n      - name: baseline-latency\n        metric: {{ name: TargetResponseTime, stat: p95 }}\n        comparison: \">\"\n        threshold: 1.0\n");
        Policy::from_yaml(&yaml, "baseline.yaml", &rehearsal_env).unwrap()
    };
    let scenario = Scenario::from_yaml(SHIPPED_SCENARIOS[1].1, "latency-regression").unwrap();
    // Before traffic moves the baseline serves production at 0.3 s: the gate passes
    // (the replacement's regression is not what this gate looks at).
    let before = rehearse(&scenario, &policy_at("BeforeAllowTraffic"), |_| {}).await;
    assert_eq!(before.status, LifecycleStatus::Succeeded);
    // After all traffic moved the old version serves nothing: no live baseline.
    let after = rehearse(&scenario, &policy_at("AfterAllowTraffic"), |_| {}).await;
    assert_eq!(after.status, LifecycleStatus::Failed);
    let Some(Step::Hook { record, .. }) = after.steps.last() else {
        panic!()
    };
    assert!(
        record
            .reason
            .contains("no datapoints at all for TargetResponseTime"),
        "{}",
        record.reason
    );
}
