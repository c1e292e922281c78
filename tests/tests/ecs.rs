//! An ECS-native linear deployment, end to end (issue 18): the real
//! `ecs-lifecycle-hook` binary under the Lambda Runtime API driver, invoked
//! as ECS would invoke it at each stage, answering by return value.
//!
//! The test plays ECS: it sends each stage's payload, and when the answer is
//! `IN_PROGRESS` it waits the answer's `callBackDelay` and invokes again with
//! the answer's `hookDetails`. The service's deployments and revisions are in
//! the emulator's ECS (`ecs_ext.py`), its load balancer and target groups in
//! moto's ELBv2, so the canary (green) and baseline (blue) target groups are
//! discovered, not configured.

use gate_tests::{decision_records, invoke, temp_file, AlbMinute, Emulator, HookProcess};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web";
const DEPLOYMENT: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/lin1";

fn revision(id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service-revision/web-cluster/web/{id}")
}

/// Every stage gated; the production traffic shift bakes: 20 s measured
/// every 10 s, so each step takes IN_PROGRESS rounds before it concludes.
const POLICY: &str = "\
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: \"${canary.target_group}\", LoadBalancer: \"${canary.load_balancer}\" }
hooks:
  POST_SCALE_UP:
    gates: &gates
      - name: error-rate
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \">\"
        threshold: 1%
        datapoints_to_alarm: 2
        min_sample: { at_least: 100 }
  TEST_TRAFFIC_SHIFT:
    gates: *gates
  POST_TEST_TRAFFIC_SHIFT:
    gates: *gates
  PRODUCTION_TRAFFIC_SHIFT:
    analysis: { duration: 20s, interval: 10s }
    gates: *gates
";

const RUN_MS: u64 = 30_000;

/// The service deployment from blue (revision 1) to green (revision 2), with
/// the target group ECS resolved for each revision.
fn service_deployment(status: &str, blue_arn: &str, green_arn: &str) -> Value {
    json!({
        "serviceDeployments": [{
            "serviceDeploymentArn": DEPLOYMENT,
            "serviceArn": SERVICE,
            "clusterArn": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/web-cluster"),
            "createdAt": gate_tests::epoch_secs() - 300,
            "status": status,
            "targetServiceRevision": {"arn": revision("2")},
            "sourceServiceRevisions": [{"arn": revision("1")}],
            "deploymentConfiguration": {"strategy": "LINEAR"}
        }],
        "serviceRevisions": [
            {"serviceRevisionArn": revision("1"), "serviceArn": SERVICE,
             "loadBalancers": [{"targetGroupArn": blue_arn,
                                "advancedConfiguration": {"alternateTargetGroupArn": green_arn}}]},
            {"serviceRevisionArn": revision("2"), "serviceArn": SERVICE,
             "loadBalancers": [{"targetGroupArn": blue_arn,
                                "advancedConfiguration": {"alternateTargetGroupArn": green_arn}}],
             "resolvedConfiguration": {"loadBalancers": [{"targetGroupArn": green_arn}]}}
        ]
    })
}

/// A stage's payload as ECS sends it, green at `green` % of production.
fn payload(stage: &str, execution: &str, green: f64, hook_details: Option<&Value>) -> Value {
    let mut payload = json!({
        "executionId": execution,
        "lifecycleStage": stage,
        "resourceArn": SERVICE,
        "executionDetails": {
            "serviceArn": SERVICE,
            "targetServiceRevisionArn": revision("2"),
            "testTrafficWeights": { revision("2"): 100, revision("1"): 0 },
            "productionTrafficWeights": { revision("2"): green, revision("1"): 100.0 - green }
        }
    });
    if let Some(details) = hook_details {
        payload["hookDetails"] = details.clone();
    }
    payload
}

/// Plays ECS for one stage execution: invokes, and while the answer is
/// `IN_PROGRESS` waits its delay and invokes again with its `hookDetails`.
/// Returns every answer.
fn run_stage(emulator: &Emulator, stage: &str, execution: &str, green: f64) -> Vec<Value> {
    let mut answers = Vec::new();
    let mut details: Option<Value> = None;
    let started = Instant::now();
    loop {
        let outcome = invoke(
            emulator,
            payload(stage, execution, green, details.as_ref()),
            RUN_MS,
        );
        assert_eq!(outcome["state"], "success", "{stage}: {outcome}");
        let answer = outcome["body"].clone();
        answers.push(answer.clone());
        if answer["hookStatus"] != "IN_PROGRESS" {
            return answers;
        }
        let delay = answer["callBackDelay"].as_u64().expect("a callBackDelay");
        assert!((1..=60).contains(&delay), "{answer}");
        details = Some(answer["hookDetails"].clone());
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{stage} never concluded: {answers:?}"
        );
        std::thread::sleep(Duration::from_secs(delay));
    }
}

fn status(answers: &[Value]) -> &str {
    answers.last().unwrap()["hookStatus"].as_str().unwrap()
}

#[test]
fn a_linear_deployment_bakes_each_step_fails_on_a_regression_and_lets_the_rollback_through() {
    let emulator = Emulator::start();
    let alb = emulator.create_alb_with_target_groups("web", &["web-blue", "web-green"]);
    let arn =
        |dimension: &str| format!("arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:{dimension}");
    let (blue, green) = (&alb.target_groups[0], &alb.target_groups[1]);
    emulator.control(
        "POST",
        "ecs/service-deployments",
        Some(service_deployment("IN_PROGRESS", &arn(blue), &arn(green))),
    );
    emulator.seed_alb_on(green, &alb.load_balancer, 10, |_| AlbMinute::healthy());
    emulator.seed_alb_on(blue, &alb.load_balancer, 10, |_| AlbMinute::healthy());
    let policy = temp_file("ecs.yaml", POLICY);
    let hook = HookProcess::start_with(
        &emulator,
        "ecs-lifecycle-hook",
        &[
            ("GATE_POLICY_FILE", policy.to_str().unwrap()),
            ("GATE_SAFETY_MARGIN_MS", "2000"),
        ],
        // Discovery, not configuration, names the target groups.
        &["TARGET_GROUP", "LOAD_BALANCER"],
    );

    // A payload that is not ECS's is an invocation error (ECS rolls back),
    // never SUCCEEDED.
    let refused = invoke(&emulator, json!({"lifecycleStage": "PRE_SCALE_UP"}), RUN_MS);
    assert_eq!(refused["state"], "error", "{refused}");
    assert!(
        refused["errorMessage"]
            .as_str()
            .unwrap()
            .contains("executionId"),
        "{refused}"
    );

    // Before production traffic moves: judged at once.
    for (stage, execution) in [
        ("POST_SCALE_UP", "exec-scale"),
        ("TEST_TRAFFIC_SHIFT", "exec-test"),
        ("POST_TEST_TRAFFIC_SHIFT", "exec-post-test"),
    ] {
        let answers = run_stage(&emulator, stage, execution, 0.0);
        assert_eq!(answers.len(), 1, "{stage}: {answers:?}");
        assert_eq!(status(&answers), "SUCCEEDED", "{stage}: {answers:?}");
    }

    // Linear step 1 (green at 25 %): the bake answers IN_PROGRESS, carrying
    // its state in hookDetails, until the evidence is in.
    let step1 = run_stage(&emulator, "PRODUCTION_TRAFFIC_SHIFT", "exec-step-1", 25.0);
    assert_eq!(status(&step1), "SUCCEEDED", "{step1:?}");
    assert!(step1.len() >= 3, "several IN_PROGRESS rounds: {step1:?}");
    for round in &step1[..step1.len() - 1] {
        assert_eq!(round["hookStatus"], "IN_PROGRESS", "{round}");
        // The time left until the next measurement: the 10 s interval less
        // what this round took (a second or more on a loaded machine).
        let delay = round["callBackDelay"].as_u64().unwrap_or(0);
        assert!((1..=10).contains(&delay), "{round}");
        assert_eq!(
            round["hookDetails"]["gate_analysis"]["version"], 1,
            "{round}"
        );
    }

    // Step 2 (green at 50 %): green's 5XX share climbs.
    emulator.seed_alb_on(green, &alb.load_balancer, 10, |_| AlbMinute {
        errors_5xx: Some(80.0),
        ..AlbMinute::default()
    });
    let step2 = run_stage(&emulator, "PRODUCTION_TRAFFIC_SHIFT", "exec-step-2", 50.0);
    assert_eq!(status(&step2), "FAILED", "{step2:?}");
    assert!(
        step2.last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("error-rate"),
        "{step2:?}"
    );
    // The same execution invoked again: the same answer, not a second judgement.
    let again = invoke(
        &emulator,
        payload("PRODUCTION_TRAFFIC_SHIFT", "exec-step-2", 50.0, None),
        RUN_MS,
    );
    assert_eq!(again["body"]["hookStatus"], "FAILED", "{again}");

    // ECS rolls back, and runs the traffic shift hooks again: the gate lets
    // them through at once, though green is still failing.
    emulator.control(
        "POST",
        "ecs/service-deployments",
        Some(service_deployment(
            "ROLLBACK_IN_PROGRESS",
            &arn(blue),
            &arn(green),
        )),
    );
    for (stage, execution) in [
        ("PRODUCTION_TRAFFIC_SHIFT", "exec-rollback-prod"),
        ("TEST_TRAFFIC_SHIFT", "exec-rollback-test"),
    ] {
        let answers = run_stage(&emulator, stage, execution, 0.0);
        assert_eq!(answers.len(), 1, "{stage}: {answers:?}");
        assert_eq!(status(&answers), "SUCCEEDED", "{stage}: {answers:?}");
    }

    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    // One record per concluded execution, IN_PROGRESS rounds leave none.
    let stages: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["hook"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("POST_SCALE_UP", "Succeeded"),
            ("TEST_TRAFFIC_SHIFT", "Succeeded"),
            ("POST_TEST_TRAFFIC_SHIFT", "Succeeded"),
            ("PRODUCTION_TRAFFIC_SHIFT", "Succeeded"),
            ("PRODUCTION_TRAFFIC_SHIFT", "Failed"),
            ("PRODUCTION_TRAFFIC_SHIFT", "Succeeded"),
            ("TEST_TRAFFIC_SHIFT", "Succeeded"),
        ],
        "{stderr}"
    );
    for record in &records {
        assert_eq!(record["deployment_id"], "ecs.web-cluster.web.2", "{record}");
    }
    // Discovery found green as the canary and blue as the baseline.
    let discovered = &records[0]["discovery"];
    assert_eq!(
        discovered["canary"]["target_group"],
        green.as_str(),
        "{discovered}"
    );
    assert_eq!(
        discovered["baseline"]["target_group"],
        blue.as_str(),
        "{discovered}"
    );
    // The bake's measurements are in the step's record.
    assert!(
        records[3]["analysis"]["measurements"]
            .as_array()
            .unwrap()
            .len()
            >= 3,
        "{}",
        records[3]
    );
    let rollback = &records[5];
    assert!(
        rollback["reason"]
            .as_str()
            .unwrap()
            .contains("belongs to a rollback"),
        "{rollback}"
    );
    assert!(
        rollback["reason"]
            .as_str()
            .unwrap()
            .contains("ROLLBACK_IN_PROGRESS"),
        "{rollback}"
    );
}
