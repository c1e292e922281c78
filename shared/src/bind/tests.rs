//! `bind::place`, table by table: what discovery found (or why not) and the
//! deployment's start decide what the judge gets, purely.

use super::*;
use crate::policy::{BaselineSource, DeploymentStart, GateCheck};

const POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: "${canary.target_group}" }
hooks:
  AfterAllowTraffic:
    gates:
      - name: latency
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1
      - name: shadow
        dry_run: true
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: live
        comparison: ">"
        threshold: 1.4 x baseline
      - name: before
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: before_deployment
        comparison: ">"
        threshold: 1.4 x baseline
        window: 10m
"#;

const HOOK: Hook = Hook::AfterAllowTraffic;
const NOW: i64 = 1_700_000_400;

fn load() -> Policy {
    Policy::from_yaml(POLICY, "bind.yaml", &|_| None).unwrap()
}

fn found(baseline: bool) -> Discovery {
    let mut discovery = Discovery::default();
    discovery
        .canary
        .insert("target_group".into(), "targetgroup/green/1".into());
    if baseline {
        discovery
            .baseline
            .insert("target_group".into(), "targetgroup/blue/2".into());
    }
    discovery
}

fn dimensions(placement: &Placement, gate: &str) -> Vec<String> {
    let section = placement.policy.hook(HOOK).unwrap();
    let gate = section.gates.iter().find(|g| g.name == gate).unwrap();
    let GateCheck::Threshold(check) = &gate.check else {
        panic!("{} is a threshold gate", gate.name)
    };
    check
        .all_queries()
        .flat_map(|q| q.dimensions.iter().map(|(_, v)| v.clone()))
        .collect()
}

fn start_of(placement: &Placement) -> DeploymentStart {
    let section = placement.policy.hook(HOOK).unwrap();
    let gate = section.gates.iter().find(|g| g.name == "before").unwrap();
    let GateCheck::Threshold(check) = &gate.check else {
        panic!()
    };
    match &check.baseline.as_ref().unwrap().source {
        BaselineSource::BeforeDeployment(start) => start.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn everything_found_binds_every_gate_and_judges_them_all() {
    let policy = load();
    let placement = place(&policy, HOOK, Some(Ok(&found(true))), None, NOW).unwrap();
    assert!(placement.not_judged.is_empty());
    assert!(dimensions(&placement, "latency")
        .iter()
        .all(|v| v == "targetgroup/green/1"));
    assert!(dimensions(&placement, "shadow").contains(&"targetgroup/blue/2".to_string()));
    assert_eq!(placement.to_fetch(HOOK).hook(HOOK).unwrap().gates.len(), 3);
}

#[test]
fn a_dry_run_gate_discovery_cannot_serve_is_left_out_and_named() {
    let policy = load();
    let placement = place(&policy, HOOK, Some(Ok(&found(false))), None, NOW).unwrap();
    assert_eq!(placement.not_judged.len(), 1, "{:?}", placement.not_judged);
    let LeftOut { gate, why, reason } = &placement.not_judged[0];
    assert_eq!(gate, "shadow");
    assert_eq!(*why, NotJudged::NoBaseline, "only the baseline is missing");
    assert!(
        reason.starts_with("it names ${baseline.target_group}: deployment discovery: "),
        "{reason}"
    );
    // The plan never asks for it; the judge still sees it, to record it.
    let fetched = placement.to_fetch(HOOK);
    let names: Vec<&str> = fetched
        .hook(HOOK)
        .unwrap()
        .gates
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["latency", "before"]);
    assert_eq!(placement.policy.hook(HOOK).unwrap().gates.len(), 3);
}

#[test]
fn a_blocking_gate_discovery_cannot_serve_makes_the_hook_unplaceable() {
    let policy = load();
    let mut canary_missing = found(true);
    canary_missing.canary.clear();
    let Err(Unplaceable(why)) = place(&policy, HOOK, Some(Ok(&canary_missing)), None, NOW) else {
        panic!("a blocking gate without its canary must not be placed")
    };
    assert!(why.contains("${canary.target_group}"), "{why}");
    let Err(Unplaceable(why)) = place(&policy, HOOK, Some(Err("AccessDenied".into())), None, NOW)
    else {
        panic!("failed discovery must not be placed")
    };
    assert!(
        why.starts_with("deployment discovery failed: AccessDenied"),
        "{why}"
    );
}

#[test]
fn without_discovery_the_dry_run_gates_that_need_it_are_not_judged() {
    let policy = load();
    let placement = place(&policy, HOOK, None, None, NOW).unwrap();
    let names: Vec<&str> = placement
        .not_judged
        .iter()
        .map(|l| l.gate.as_str())
        .collect();
    assert_eq!(names, ["shadow"]);
    let reason = &placement.not_judged[0].reason;
    assert!(
        reason.contains("discovery runs only for gates that can block"),
        "{reason}"
    );
    assert!(
        reason
            .ends_with("set TARGET_GROUP and BASELINE_TARGET_GROUP to judge it without discovery"),
        "the variables that fill it are named: {reason}"
    );
    // It lacks the canary's values too: not only a baseline.
    assert_eq!(placement.not_judged[0].why, NotJudged::Undiscovered);
}

#[test]
fn the_deployment_start_places_before_deployment_baselines_or_says_why_not() {
    let policy = load();
    let created = NOW - 30 * 60;
    let placement = place(
        &policy,
        HOOK,
        Some(Ok(&found(true))),
        Some(Ok(created)),
        NOW,
    )
    .unwrap();
    let DeploymentStart::At { created_at, .. } = start_of(&placement) else {
        panic!("{:?}", start_of(&placement))
    };
    assert_eq!(created_at, created);
    let unknown = place(
        &policy,
        HOOK,
        Some(Ok(&found(true))),
        Some(Err("GetDeployment denied".into())),
        NOW,
    )
    .unwrap();
    let DeploymentStart::Unknown(why) = start_of(&unknown) else {
        panic!()
    };
    assert!(
        why.ends_with("its start is unknown: GetDeployment denied"),
        "{why}"
    );
}
