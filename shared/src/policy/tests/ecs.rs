//! ECS-native lifecycle stages as policy sections: the same gate language as
//! the CodeDeploy hooks, under the ECS API's stage names.

use super::*;
use crate::vocab::Hook;

const LINEAR: &str = "\
version: 1
hooks:
  POST_TEST_TRAFFIC_SHIFT:
    gates:
      - name: errors
        metric: { namespace: AWS/ApplicationELB, name: HTTPCode_Target_5XX_Count, stat: Sum, dimensions: { TargetGroup: targetgroup/green/1 } }
        comparison: \">\"
        threshold: 5
  PRODUCTION_TRAFFIC_SHIFT:
    analysis: { interval: 1m, duration: 5m }
    gates:
      - name: latency-vs-blue
        metric: { namespace: AWS/ApplicationELB, name: TargetResponseTime, stat: p99, dimensions: { TargetGroup: '${canary.target_group}' } }
        baseline: default
        comparison: \">\"
        threshold: 1.5 x baseline
  BeforeAllowTraffic:
    gates:
      - name: alarms
        alarms: [web-5xx]
";

#[test]
fn ecs_stage_sections_validate_beside_codedeploy_hooks() {
    let policy = Policy::from_yaml(LINEAR, "gates.yaml", &alb_env).unwrap();
    assert!(policy.hook(Hook::EcsPostTestTrafficShift).is_some());
    let shift = policy.hook(Hook::EcsProductionTrafficShift).unwrap();
    assert!(shift.analysis.is_some());
    // Blue still serves production during a traffic step: `default` is live.
    assert!(
        format!("{:?}", shift.gates[0].check).contains("Live"),
        "{:?}",
        shift.gates[0].check
    );
    assert!(policy.hook(Hook::BeforeAllowTraffic).is_some());
    assert!(policy.hook(Hook::EcsPreScaleUp).is_none());
}

#[test]
fn a_misspelt_stage_is_named_with_the_nearest_stage() {
    let found = problems("version: 1\nhooks:\n  PRODUCTION_TRAFIC_SHIFT:\n    gates:\n      - name: a\n        alarms: [x]\n");
    assert!(
        found[0].contains(
            "unknown hook \"PRODUCTION_TRAFIC_SHIFT\"; did you mean `PRODUCTION_TRAFFIC_SHIFT`?"
        ),
        "{found:?}"
    );
    // A stage no hook can be attached to is not a section.
    let found = problems(
        "version: 1\nhooks:\n  BAKE_TIME:\n    gates:\n      - name: a\n        alarms: [x]\n",
    );
    assert!(
        found[0].contains("the ECS lifecycle stages RECONCILE_SERVICE"),
        "{found:?}"
    );
}

#[test]
fn a_stage_section_has_the_hook_sections_shape_checks() {
    let found = problems("version: 1\nhooks:\n  POST_SCALE_UP:\n    gates:\n      - name: x\n        alarms: [a]\n        treshold: 3\n");
    assert!(
        found
            .iter()
            .any(|p| p.contains("hooks.POST_SCALE_UP.gates[0].treshold: unknown field")),
        "{found:?}"
    );
}
