//! Discovery without the network: ARNs to dimensions, the deployment's one
//! target, Blue and Green, Lambda versions.

use super::ecs::{blue_green, ecs_task_sets, ecs_values, resolve_target_group};
use super::elb::TargetGroupRecord;
use super::lambda::{function_name, lambda_discovery};
use super::targets::{deployment_subject, some_of, target_id, Subject};
use super::*;
use aws_sdk_codedeploy::types as sdk;
use std::collections::BTreeMap;

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/0123456789abcdef";
const LB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/fedcba9876543210";

fn message(error: EvidenceError) -> String {
    error.to_string()
}

#[test]
fn target_group_arns_become_dimensions() {
    assert_eq!(
        target_group_dimension(TG_ARN).unwrap(),
        "targetgroup/web-green/0123456789abcdef"
    );
    // Other partitions have the same shape.
    assert_eq!(
        target_group_dimension(
            "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/a/1"
        )
        .unwrap(),
        "targetgroup/a/1"
    );
    for bad in [
        "",
        "targetgroup/web/123",
        "arn:aws:ecs:us-east-1:123456789012:targetgroup/web/123",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1/2",
        "arn:aws:elasticloadbalancing:us-east-1:ACCOUNT:targetgroup/web/1",
        "arn:aws:elasticloadbalancing::123456789012:targetgroup/web/1",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/we b/1",
    ] {
        let error = target_group_dimension(bad).unwrap_err();
        assert_eq!(error.arn, bad);
        assert!(
            error.to_string().contains("is not a target group ARN"),
            "{error}"
        );
    }
}

#[test]
fn load_balancer_arns_become_dimensions() {
    assert_eq!(
        load_balancer_dimension(LB_ARN).unwrap(),
        "app/web/fedcba9876543210"
    );
    assert_eq!(
        load_balancer_dimension(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/tcp/42"
        )
        .unwrap(),
        "net/tcp/42"
    );
    for bad in [
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/gwy/fw/42",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/web/42",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/42/7",
        TG_ARN,
        "app/web/42",
    ] {
        let error = load_balancer_dimension(bad).unwrap_err();
        assert!(error.to_string().contains("load balancer ARN"), "{error}");
    }
}

fn task_set(label: &str, id: &str, group: Option<&str>) -> sdk::EcsTaskSet {
    let mut set = sdk::EcsTaskSet::builder()
        .identifer(id)
        .task_set_label(sdk::TargetLabel::from(label))
        .traffic_weight(if label == "Blue" { 90.0 } else { 10.0 })
        .status("ACTIVE");
    if let Some(group) = group {
        set = set.target_group(sdk::TargetGroupInfo::builder().name(group).build());
    }
    set.build()
}

fn ecs_target(id: &str, sets: Vec<sdk::EcsTaskSet>) -> DeploymentTarget {
    DeploymentTarget::builder()
        .deployment_target_type(sdk::DeploymentTargetType::EcsTarget)
        .ecs_target(
            sdk::EcsTarget::builder()
                .target_id(id)
                .set_task_sets_info(Some(sets))
                .build(),
        )
        .build()
}

fn lambda_target(id: &str, info: sdk::LambdaFunctionInfo) -> DeploymentTarget {
    DeploymentTarget::builder()
        .deployment_target_type(sdk::DeploymentTargetType::LambdaTarget)
        .lambda_target(
            sdk::LambdaTarget::builder()
                .target_id(id)
                .lambda_function_info(info)
                .build(),
        )
        .build()
}

fn function_info() -> sdk::LambdaFunctionInfo {
    sdk::LambdaFunctionInfo::builder()
        .function_name("orders")
        .function_alias("live")
        .current_version("6")
        .target_version("7")
        .target_version_weight(0.1)
        .build()
}

fn ids(targets: &[DeploymentTarget]) -> Vec<String> {
    targets
        .iter()
        .filter_map(target_id)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_one_ecs_or_lambda_target_is_the_subject() {
    let ecs = vec![ecs_target("cluster:web", vec![])];
    assert!(matches!(
        deployment_subject("d-1", &ids(&ecs), &ecs),
        Ok(Subject::Ecs(t)) if t.target_id() == Some("cluster:web")
    ));
    let lambda = vec![lambda_target("orders:live", function_info())];
    assert!(matches!(
        deployment_subject("d-1", &ids(&lambda), &lambda),
        Ok(Subject::Lambda(t)) if t.target_id() == Some("orders:live")
    ));
}

#[test]
fn several_candidates_or_none_are_refused_by_name() {
    let two = vec![
        ecs_target("cluster:web", vec![]),
        ecs_target("cluster:api", vec![]),
    ];
    let text = message(deployment_subject("d-1", &ids(&two), &two).unwrap_err());
    assert!(
        text.contains("has 2 ECS targets and 0 Lambda targets"),
        "{text}"
    );
    assert!(text.contains("cannot tell which"), "{text}");
    assert!(text.contains("cluster:web, cluster:api"), "{text}");

    let mixed = vec![
        ecs_target("cluster:web", vec![]),
        lambda_target("orders:live", function_info()),
    ];
    let text = message(deployment_subject("d-1", &ids(&mixed), &mixed).unwrap_err());
    assert!(
        text.contains("1 ECS targets and 1 Lambda targets"),
        "{text}"
    );

    let instances = vec![DeploymentTarget::builder()
        .deployment_target_type(sdk::DeploymentTargetType::InstanceTarget)
        .instance_target(sdk::InstanceTarget::builder().target_id("i-1").build())
        .build()];
    let text = message(deployment_subject("d-1", &ids(&instances), &instances).unwrap_err());
    assert!(
        text.contains("has no ECS or Lambda target (only InstanceTarget)"),
        "{text}"
    );
}

#[test]
fn long_id_lists_are_counted_not_listed() {
    assert_eq!(some_of(&["a", "b"]), "a, b");
    assert_eq!(some_of(&["a", "b", "c", "d", "e"]), "a, b, c, d, e");
    assert_eq!(
        some_of(&["a", "b", "c", "d", "e", "f", "g"]),
        "a, b, c, d, e and 2 more"
    );
}

#[test]
fn an_answer_missing_a_requested_target_is_refused() {
    let targets = vec![ecs_target("cluster:web", vec![])];
    let requested = vec!["cluster:web".to_string(), "cluster:api".to_string()];
    let error = deployment_subject("d-1", &requested, &targets).unwrap_err();
    assert!(
        matches!(
            &error,
            EvidenceError::Malformed { service: "CodeDeploy", operation: "BatchGetDeploymentTargets", message }
                if message.contains("lacks 1 of the deployment's targets: cluster:api")
        ),
        "{error}"
    );
}

#[test]
fn green_is_the_canary_and_blue_the_baseline() {
    let target = sdk::EcsTarget::builder()
        .target_id("c:s")
        .task_sets_info(task_set("Blue", "ts-blue", Some("web-blue")))
        .task_sets_info(task_set("Green", "ts-green", Some("web-green")))
        .build();
    let sets = ecs_task_sets(&target);
    assert_eq!(
        sets[1],
        EcsTaskSet {
            label: Some("Green".into()),
            identifier: Some("ts-green".into()),
            target_group_name: Some("web-green".into()),
            target_group: None,
            load_balancer: None,
            traffic_weight: Some(10.0),
            status: Some("ACTIVE".into()),
        }
    );
    assert_eq!(blue_green("c:s", &sets).unwrap(), (1, Some(0)));
    // Green alone (no Blue) leaves the baseline out, not the canary.
    assert_eq!(blue_green("c:s", &sets[1..]).unwrap(), (0, None));
}

#[test]
fn missing_or_repeated_labels_are_refused_by_name() {
    let blue = ecs_task_sets(
        &sdk::EcsTarget::builder()
            .task_sets_info(task_set("Blue", "ts-blue", Some("web-blue")))
            .build(),
    );
    let text = message(blue_green("c:s", &blue).unwrap_err());
    assert!(
        text.contains("ECS target c:s has no Green (replacement) task set"),
        "{text}"
    );

    let mut greens = blue.clone();
    greens[0].label = Some("Green".into());
    greens.push(greens[0].clone());
    let text = message(blue_green("c:s", &greens).unwrap_err());
    assert!(text.contains("2 task sets labelled Green"), "{text}");

    let mut blues = blue.clone();
    blues.push(blue[0].clone());
    blues.push(EcsTaskSet {
        label: Some("Green".into()),
        ..blue[0].clone()
    });
    let text = message(blue_green("c:s", &blues).unwrap_err());
    assert!(text.contains("2 task sets labelled Blue"), "{text}");
}

fn resolved(group: TargetGroupRecord) -> Result<EcsTaskSet, EvidenceError> {
    let mut set = EcsTaskSet {
        label: Some("Green".into()),
        identifier: Some("ts-green".into()),
        target_group_name: Some("web-green".into()),
        ..EcsTaskSet::default()
    };
    resolve_target_group(&mut set, &[group]).map(|()| set)
}

fn record(name: &str, arn: &str, lbs: &[&str]) -> TargetGroupRecord {
    TargetGroupRecord {
        name: name.into(),
        arn: arn.into(),
        load_balancer_arns: lbs.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn target_groups_resolve_to_both_dimensions() {
    let set = resolved(record("web-green", TG_ARN, &[LB_ARN])).unwrap();
    assert_eq!(
        set.target_group.as_deref(),
        Some("targetgroup/web-green/0123456789abcdef")
    );
    assert_eq!(
        set.load_balancer.as_deref(),
        Some("app/web/fedcba9876543210")
    );
    assert_eq!(
        ecs_values(&set),
        BTreeMap::from([
            (
                "load_balancer".to_string(),
                "app/web/fedcba9876543210".to_string()
            ),
            (
                "target_group".to_string(),
                "targetgroup/web-green/0123456789abcdef".to_string()
            ),
        ])
    );
}

#[test]
fn unresolvable_target_groups_are_refused_by_name() {
    let text = message(resolved(record("web-blue", TG_ARN, &[LB_ARN])).unwrap_err());
    assert!(
        text.contains("ELBv2 returned no target group named \"web-green\" (the Green task set ts-green uses it)"),
        "{text}"
    );
    let text = message(resolved(record("web-green", TG_ARN, &[])).unwrap_err());
    assert!(
        text.contains("is not attached to any load balancer"),
        "{text}"
    );
    let text = message(resolved(record("web-green", "tg-arn?", &[LB_ARN])).unwrap_err());
    assert!(
        text.contains("target group \"web-green\": \"tg-arn?\" is not a target group ARN"),
        "{text}"
    );
    let text = message(resolved(record("web-green", TG_ARN, &[TG_ARN])).unwrap_err());
    assert!(
        text.contains("the load balancer of target group \"web-green\""),
        "{text}"
    );
}

#[test]
fn lambda_targets_give_versions_and_the_alias_resource() {
    let target = sdk::LambdaTarget::builder()
        .target_id("orders:live")
        .lambda_function_info(function_info())
        .build();
    let discovery = lambda_discovery(&target).unwrap();
    let side = |version: &str| {
        BTreeMap::from([
            ("function_name".to_string(), "orders".to_string()),
            ("resource".to_string(), "orders:live".to_string()),
            ("version".to_string(), version.to_string()),
        ])
    };
    assert_eq!(discovery.canary, side("7"));
    assert_eq!(discovery.baseline, side("6"));
    let traffic = discovery.lambda.unwrap();
    assert_eq!(traffic.target_version_weight, Some(0.1));
    assert_eq!(traffic.alias, "live");
}

#[test]
fn lambda_function_arns_give_the_name_dimension() {
    assert_eq!(
        function_name("arn:aws:lambda:us-east-1:123456789012:function:orders:live"),
        "orders"
    );
    assert_eq!(
        function_name("arn:aws:lambda:us-east-1:123456789012:function:orders"),
        "orders"
    );
    assert_eq!(function_name("orders"), "orders");
}

#[test]
fn incomplete_lambda_targets_are_refused_by_field() {
    let info = sdk::LambdaFunctionInfo::builder()
        .function_name("orders")
        .function_alias("live")
        .current_version("6")
        .build();
    let target = sdk::LambdaTarget::builder()
        .target_id("orders:live")
        .lambda_function_info(info)
        .build();
    let text = message(lambda_discovery(&target).unwrap_err());
    assert!(
        text.contains("Lambda target orders:live has no lambdaFunctionInfo.targetVersion"),
        "{text}"
    );
    let bare = sdk::LambdaTarget::builder()
        .target_id("orders:live")
        .build();
    let text = message(lambda_discovery(&bare).unwrap_err());
    assert!(text.contains("has no lambdaFunctionInfo"), "{text}");
}
