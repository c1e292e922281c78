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

/// The default AfterAllowTestTraffic health gate and a smoke probe like
/// gates.example.yaml's; the other hooks have no section (skipped).
const PROBE_POLICY: &str = r#"
version: 1
probe_hosts: [test.internal.example.com]
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: "${TARGET_GROUP}", LoadBalancer: "${LOAD_BALANCER}" }
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: healthy-hosts
        ratio:
          numerator:   [{ name: HealthyHostCount, stat: Minimum }]
          denominator: [{ name: HealthyHostCount, stat: Minimum }, { name: UnHealthyHostCount, stat: Maximum }]
        comparison: "<"
        threshold: 95%
        evaluation_periods: 2
      - name: smoke-health
        probe:
          url: https://test.internal.example.com:8443/health
          expect:
            status: 200
            json_pointer: { pointer: /status, equals: UP }
          max_latency: 500ms
          repeat: 5
"#;

/// Rehearses the shipped scenario `name` under PROBE_POLICY; returns the
/// rehearsal and the smoke gate's result.
async fn rehearse_probe(name: &str) -> (Rehearsal, crate::judge::GateResult) {
    let policy = Policy::from_yaml(PROBE_POLICY, "probe.yaml", &rehearsal_env).unwrap();
    let text = SHIPPED_SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1;
    let scenario = Scenario::from_yaml(text, name).unwrap();
    let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
    let smoke = rehearsal
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Hook { record, .. } if record.hook == Hook::AfterAllowTestTraffic => record
                .gates
                .iter()
                .find(|g| g.name == "smoke-health")
                .cloned(),
            _ => None,
        })
        .expect("AfterAllowTestTraffic ran the probe");
    assert!(
        rehearsal.matches(&scenario.expect),
        "{name}: {:?}",
        rehearsal.status
    );
    (rehearsal, smoke)
}

#[tokio::test]
async fn a_scenario_says_what_a_smoke_probe_answers() {
    use crate::judge::GateOutcome;
    let (healthy, smoke) = rehearse_probe("healthy").await;
    assert_eq!(healthy.status, LifecycleStatus::Succeeded);
    assert_eq!(smoke.outcome, GateOutcome::Pass, "{}", smoke.reason);
    let figures = smoke.probe().unwrap();
    assert_eq!((figures.attempts, figures.met), (5, 5));
    assert!(figures
        .listed
        .iter()
        .all(|a| a.status == Some(200) && a.latency_ms == 35 && a.bytes == 16));

    // The broken endpoint's file promises a rollback; with a probe, the smoke
    // test decides it, before production traffic moves.
    let (broken, smoke) = rehearse_probe("broken-endpoint").await;
    assert_eq!(broken.status, LifecycleStatus::Failed);
    assert_eq!(broken.decided_by, Some(Hook::AfterAllowTestTraffic));
    assert_eq!(smoke.outcome, GateOutcome::Fail);
    assert!(
        smoke.reason.contains(
            "0 of 5 attempts met the expectations, 100% required; first failure, attempt 1: status 503, expected 200; JSON \"/status\" is \"DOWN\", expected \"UP\""
        ),
        "{}",
        smoke.reason
    );
}

#[test]
fn probe_answers_are_validated_and_follow_the_minutes() {
    let base = "name: x\ndescription: y\nexpect: {status: Succeeded}\nschedule: {AfterAllowTestTraffic: 7m}\nrequests_per_minute: 1\ncanary: [{from: 0m}]\n";
    let scenario = Scenario::from_yaml(
        &format!("{base}probe:\n  - {{from: 5m, error: connection refused}}\n  - {{from: 0m, status: 200}}\n  - {{from: 9m, status: 200, latency_ms: 9000}}\n"),
        "ok.yaml",
    )
    .unwrap();
    assert_eq!(scenario.probe_answer(0).unwrap().status, Some(200));
    assert_eq!(
        scenario.probe_answer(7).unwrap().error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(scenario.probe_answer(12).unwrap().latency_ms, 9000);
    assert!(Scenario::from_yaml(
        &format!("{base}probe: [{{from: 3m, status: 200}}]\n"),
        "late.yaml"
    )
    .unwrap()
    .probe_answer(2)
    .is_none());

    let err = Scenario::from_yaml(
        &format!("{base}probe:\n  - {{from: 0m, status: 200, error: refused}}\n  - {{from: 1m}}\n  - {{from: 2m, status: 42}}\n  - {{from: soon, status: 200}}\n"),
        "bad.yaml",
    )
    .unwrap_err()
    .to_string();
    for want in [
        "probe[0]: either a `status` (an answer) or an `error` (no answer), not both",
        "probe[1]: give a `status` (the answer) or an `error`",
        "probe[2].status: expected an HTTP status (100 to 599), found 42",
        "probe[3].from: expected minutes",
    ] {
        assert!(err.contains(want), "{want} missing from {err}");
    }
}

/// The ECS-native scenarios under the ECS example policy: each ends as it
/// promises, and the baked traffic stage shows its rounds.
#[tokio::test]
async fn ecs_scenarios_rehearse_their_linear_and_canary_schedules() {
    let policy = Policy::from_yaml(
        include_str!("../../../examples/ecs-native/gates.yaml"),
        "ecs-native/gates.yaml",
        &rehearsal_env,
    )
    .unwrap();
    for (name, text) in super::SHIPPED_ECS_SCENARIOS {
        let scenario = Scenario::from_yaml(text, name).unwrap();
        let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
        assert!(
            rehearsal.matches(&scenario.expect),
            "{name}: {:?} decided by {:?}",
            rehearsal.status,
            rehearsal.decided_by
        );
        let bakes: Vec<&DecisionRecord> = rehearsal
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Hook { record, .. } if record.hook == Hook::EcsProductionTrafficShift => {
                    Some(record.as_ref())
                }
                _ => None,
            })
            .collect();
        assert!(!bakes.is_empty(), "{name}");
        for record in &bakes {
            let analysis = record.analysis.as_ref().expect("a baked stage");
            assert!(analysis.runs >= 1, "{name}");
        }
    }
    let linear = Scenario::from_yaml(super::SHIPPED_ECS_SCENARIOS[0].1, "ecs-linear").unwrap();
    // Once a step: four traffic stages.
    assert_eq!(
        linear
            .schedule
            .iter()
            .filter(|(hook, _)| *hook == Hook::EcsProductionTrafficShift)
            .count(),
        4
    );
}

/// Issue 19: a failing canary kills its flag on a game day.
#[tokio::test]
async fn a_failing_canary_kills_its_flag() {
    let mut policy = Policy::embedded_default(&rehearsal_env).unwrap();
    let flag = crate::policy::FlagRef {
        profile: crate::policy::FlagProfile {
            application: "shop".into(),
            environment: "prod".into(),
            profile: "checkout-flags".into(),
        },
        key: "new_checkout".into(),
    };
    for section in policy.hooks.values_mut() {
        section.kill_switch = vec![flag.clone()];
    }
    let scenario = Scenario::from_yaml(SHIPPED_SCENARIOS[2].1, "error-spike").unwrap();
    let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
    let kills: Vec<String> = rehearsal
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Hook { record, .. } => record.kill_switch.as_ref(),
            _ => None,
        })
        .map(|k| serde_json::to_string(&k.flags).unwrap())
        .collect();
    assert_eq!(
        kills,
        [
            r#"[{"flag":"shop/prod/checkout-flags:new_checkout","outcome":"turned_off","from_version":1,"version":2,"deployment":2,"strategy":"AppConfig.AllAtOnce"}]"#
        ],
        "one kill switch, by the hook that failed"
    );
}
