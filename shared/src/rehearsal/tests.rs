//! Every shipped scenario ends the way its file says, through the real hook code.

use super::*;

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
