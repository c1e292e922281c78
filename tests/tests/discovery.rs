//! Deployment discovery against the emulator: CodeDeploy's deployment targets
//! (the harness layer) and ELBv2's target groups (moto), through the real SDK.

use gate_tests::Emulator;
use metric_gate::evidence::discovery::{CodeDeployDiscovery, Discovery, DiscoverySource};
use metric_gate::evidence::EvidenceError;
use serde_json::{json, Value};

fn discover(emulator: &Emulator, deployment_id: &str) -> Result<Discovery, EvidenceError> {
    let discovery = CodeDeployDiscovery::new(
        aws_sdk_codedeploy::Client::new(emulator.sdk_config()),
        aws_sdk_elasticloadbalancingv2::Client::new(emulator.sdk_config()),
    );
    emulator.block_on(discovery.discover(deployment_id))
}

/// The error's text, after checking it names the service and operation.
fn refused(result: Result<Discovery, EvidenceError>, service: &str, operation: &str) -> String {
    let error = result.expect_err("discovery should have been refused");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{service} {operation} ")),
        "expected a {service} {operation} error, got: {text}"
    );
    text
}

fn count(emulator: &Emulator, operation: &str) -> usize {
    emulator
        .calls()
        .iter()
        .filter(|c| c["operation"] == operation)
        .count()
}

fn value<'a>(side: &'a std::collections::BTreeMap<String, String>, key: &str) -> &'a str {
    side.get(key)
        .unwrap_or_else(|| panic!("no {key} in {side:?}"))
}

#[test]
fn ecs_blue_green_gives_the_green_target_group_as_canary_and_blue_as_baseline() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let alb = emulator.create_alb_with_target_groups("web", &["web-blue", "web-green"]);
    emulator.register_ecs_blue_green(&deployment, "cluster:web", "web-blue", "web-green");

    let found = discover(&emulator, &deployment).unwrap();

    let (blue, green) = (&alb.target_groups[0], &alb.target_groups[1]);
    assert!(green.starts_with("targetgroup/web-green/"), "{green}");
    assert!(blue.starts_with("targetgroup/web-blue/"), "{blue}");
    assert!(
        alb.load_balancer.starts_with("app/web/"),
        "{}",
        alb.load_balancer
    );
    assert_eq!(value(&found.canary, "target_group"), green);
    assert_eq!(value(&found.baseline, "target_group"), blue);
    assert_eq!(value(&found.canary, "load_balancer"), alb.load_balancer);
    assert_eq!(value(&found.baseline, "load_balancer"), alb.load_balancer);
    assert_eq!(found.canary.len(), 2);
    assert!(found.lambda.is_none());

    let sets: Vec<(Option<&str>, Option<f64>, Option<&str>)> = found
        .ecs_task_sets
        .iter()
        .map(|s| {
            (
                s.label.as_deref(),
                s.traffic_weight,
                s.target_group_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        sets,
        [
            (Some("Blue"), Some(90.0), Some("web-blue")),
            (Some("Green"), Some(10.0), Some("web-green"))
        ]
    );
    // Both target groups in one ELBv2 call.
    assert_eq!(count(&emulator, "DescribeTargetGroups"), 1);
}

#[test]
fn a_green_task_set_without_blue_still_gives_the_canary() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let alb = emulator.create_alb_with_target_groups("web", &["web-green"]);
    emulator.register_deployment_targets(
        &deployment,
        vec![json!({"targetId": "cluster:web", "taskSetsInfo": [
            {"identifier": "ts-green", "taskSetLabel": "Green", "trafficWeight": 0.0,
             "targetGroup": {"name": "web-green"}}
        ]})],
    );
    let found = discover(&emulator, &deployment).unwrap();
    assert_eq!(value(&found.canary, "target_group"), alb.target_groups[0]);
    assert!(found.baseline.is_empty(), "{:?}", found.baseline);
}

#[test]
fn a_lambda_target_gives_versions_and_the_alias_resource() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.register_lambda_target(&deployment, "orders", "live", "6", "7", 0.1);

    let found = discover(&emulator, &deployment).unwrap();

    for side in [&found.canary, &found.baseline] {
        assert_eq!(value(side, "function_name"), "orders");
        assert_eq!(value(side, "resource"), "orders:live");
    }
    assert_eq!(value(&found.canary, "version"), "7");
    assert_eq!(value(&found.baseline, "version"), "6");
    let traffic = found.lambda.expect("the Lambda traffic split");
    assert_eq!(
        (traffic.alias.as_str(), traffic.target_version_weight),
        ("live", Some(0.1))
    );
    assert!(found.ecs_task_sets.is_empty());
    assert_eq!(count(&emulator, "DescribeTargetGroups"), 0);
}

#[test]
fn thirty_targets_are_read_over_every_page_and_two_batches() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let targets: Vec<Value> = (0..30)
        .map(|i| json!({"targetId": format!("cluster:svc-{i:02}"), "taskSetsInfo": []}))
        .collect();
    emulator.register_deployment_targets(&deployment, targets);
    emulator.control(
        "POST",
        "codedeploy/list-targets-page-size",
        Some(json!({"targets": 7})),
    );

    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "BatchGetDeploymentTargets",
    );
    // Every target of every page and both batches was seen...
    assert!(
        text.contains("has 30 ECS targets and 0 Lambda targets"),
        "{text}"
    );
    assert!(
        text.contains("cluster:svc-00, cluster:svc-01, cluster:svc-02, cluster:svc-03, cluster:svc-04 and 25 more"),
        "{text}"
    );
    // ...in 5 pages of at most 7 and 2 batches of at most 25.
    assert_eq!(count(&emulator, "ListDeploymentTargets"), 5);
    assert_eq!(count(&emulator, "BatchGetDeploymentTargets"), 2);
}

#[test]
fn a_deployment_without_targets_is_refused() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "ListDeploymentTargets",
    );
    assert!(
        text.contains(&format!(
            "deployment {deployment} has no deployment targets"
        )),
        "{text}"
    );
}

#[test]
fn an_unknown_deployment_is_refused_with_the_api_error() {
    let emulator = Emulator::start();
    let text = refused(
        discover(&emulator, "d-NOSUCHONE"),
        "CodeDeploy",
        "ListDeploymentTargets",
    );
    assert!(text.contains("DeploymentDoesNotExistException"), "{text}");
}

#[test]
fn two_ecs_or_two_lambda_targets_are_refused() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.register_deployment_targets(
        &deployment,
        vec![
            json!({"targetId": "cluster:web", "taskSetsInfo": []}),
            json!({"targetId": "cluster:api", "taskSetsInfo": []}),
        ],
    );
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "BatchGetDeploymentTargets",
    );
    assert!(text.contains("2 ECS targets"), "{text}");
    assert!(text.contains("cannot tell which"), "{text}");
    assert!(text.contains("cluster:web, cluster:api"), "{text}");

    let info = json!({"functionName": "orders", "functionAlias": "live",
                      "currentVersion": "1", "targetVersion": "2"});
    emulator.register_deployment_targets(
        &deployment,
        vec![
            json!({"targetId": "orders:live", "lambdaFunctionInfo": info}),
            json!({"targetId": "orders:beta", "lambdaFunctionInfo": info}),
        ],
    );
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "BatchGetDeploymentTargets",
    );
    assert!(
        text.contains("0 ECS targets and 2 Lambda targets"),
        "{text}"
    );
}

#[test]
fn an_ecs_target_without_a_green_task_set_is_refused() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.create_alb_with_target_groups("web", &["web-blue"]);
    emulator.register_deployment_targets(
        &deployment,
        vec![json!({"targetId": "cluster:web", "taskSetsInfo": [
            {"identifier": "ts-blue", "taskSetLabel": "BLUE", "trafficWeight": 100.0,
             "targetGroup": {"name": "web-blue"}}
        ]})],
    );
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "BatchGetDeploymentTargets",
    );
    assert!(
        text.contains("ECS target cluster:web has no Green (replacement) task set"),
        "{text}"
    );
    assert_eq!(count(&emulator, "DescribeTargetGroups"), 0);
}

#[test]
fn a_target_group_elbv2_does_not_know_is_refused_by_name() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.create_alb_with_target_groups("web", &["web-blue"]);
    emulator.register_ecs_blue_green(&deployment, "cluster:web", "web-blue", "web-gren");
    let text = refused(
        discover(&emulator, &deployment),
        "ELBv2",
        "DescribeTargetGroups",
    );
    assert!(text.contains("ELBv2 does not know"), "{text}");
    assert!(text.contains("web-gren"), "{text}");
    assert!(text.contains("TargetGroupNotFound"), "{text}");
}

#[test]
fn a_target_group_without_a_load_balancer_is_refused() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.create_alb_with_target_groups("web", &["web-blue"]);
    emulator.create_target_group("web-green");
    emulator.register_ecs_blue_green(&deployment, "cluster:web", "web-blue", "web-green");
    let text = refused(
        discover(&emulator, &deployment),
        "ELBv2",
        "DescribeTargetGroups",
    );
    assert!(
        text.contains("target group \"web-green\" (the Green task set ecs-svc/green) is not attached to any load balancer"),
        "{text}"
    );
}

/// A `DescribeTargetGroups` answer (awsQuery XML) with the given ARNs.
fn target_groups_answer(name: &str, group_arn: &str, balancer_arn: &str) -> String {
    format!(
        "<DescribeTargetGroupsResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <DescribeTargetGroupsResult><TargetGroups><member>\
         <TargetGroupName>{name}</TargetGroupName><TargetGroupArn>{group_arn}</TargetGroupArn>\
         <LoadBalancerArns><member>{balancer_arn}</member></LoadBalancerArns>\
         </member></TargetGroups></DescribeTargetGroupsResult>\
         <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
         </DescribeTargetGroupsResponse>"
    )
}

#[test]
fn arns_that_do_not_parse_are_refused_by_value() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.register_deployment_targets(
        &deployment,
        vec![json!({"targetId": "cluster:web", "taskSetsInfo": [
            {"identifier": "ts-green", "taskSetLabel": "Green", "trafficWeight": 0.0,
             "targetGroup": {"name": "web-green"}}
        ]})],
    );
    let good_balancer =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
    let cases = [
        // A target group ARN without its id.
        (
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green",
            good_balancer,
            "is not a target group ARN",
        ),
        // A Gateway Load Balancer has no ALB/NLB LoadBalancer dimension.
        (
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/6d0ecf831eec9f09",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/gwy/fw/50dc6c495c0c9188",
            "is not an application or network load balancer ARN",
        ),
    ];
    for (group_arn, balancer_arn, problem) in cases {
        emulator.inject(json!({
            "service": "elasticloadbalancing", "operation": "DescribeTargetGroups",
            "status": 200, "times": 1,
            "body": target_groups_answer("web-green", group_arn, balancer_arn),
        }));
        let text = refused(
            discover(&emulator, &deployment),
            "ELBv2",
            "DescribeTargetGroups",
        );
        assert!(text.contains(problem), "{text}");
        let quoted = if problem.contains("target group") {
            group_arn
        } else {
            balancer_arn
        };
        assert!(text.contains(quoted), "{text}");
    }
}

#[test]
fn an_incomplete_lambda_target_is_refused_by_field() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.register_deployment_targets(
        &deployment,
        vec![json!({"targetId": "orders:live", "lambdaFunctionInfo": {
            "functionName": "orders", "functionAlias": "live", "currentVersion": "6"
        }})],
    );
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "BatchGetDeploymentTargets",
    );
    assert!(
        text.contains("Lambda target orders:live has no lambdaFunctionInfo.targetVersion"),
        "{text}"
    );
}

#[test]
fn a_next_token_handed_out_twice_is_refused_instead_of_paging_forever() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.inject(json!({
        "service": "codedeploy", "operation": "ListDeploymentTargets", "status": 200,
        "body": r#"{"targetIds": ["cluster:web"], "nextToken": "again"}"#,
    }));
    let text = refused(
        discover(&emulator, &deployment),
        "CodeDeploy",
        "ListDeploymentTargets",
    );
    assert!(
        text.contains("returned the nextToken \"again\" a second time"),
        "{text}"
    );
    assert_eq!(count(&emulator, "ListDeploymentTargets"), 2);
}
