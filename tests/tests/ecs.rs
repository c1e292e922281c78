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
//!
//! Beside the whole deployment: a round ECS invokes again (the same answer,
//! nothing measured twice), also while the first invocation of it still runs
//! (two instances of the function), and stale or foreign state; the freeze, an
//! override and a dry run at once and mid-bake, with the audit chain; and
//! the rollback check when ECS is slow or failing (the emulator's faults).

use gate_tests::{
    await_invocation, decision_records, invoke, temp_file, AlbMinute, Emulator, HookProcess,
};
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

/// An ECS service mid-deployment in the emulator: blue and green target
/// groups behind one load balancer, the deployment `IN_PROGRESS`, both
/// sides healthy so far.
struct Service {
    emulator: Emulator,
    green: String,
    load_balancer: String,
}

impl Service {
    fn start() -> Service {
        let emulator = Emulator::start();
        let alb = emulator.create_alb_with_target_groups("web", &["web-blue", "web-green"]);
        let arn = |dimension: &str| {
            format!("arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:{dimension}")
        };
        let (blue, green) = (alb.target_groups[0].clone(), alb.target_groups[1].clone());
        emulator.control(
            "POST",
            "ecs/service-deployments",
            Some(service_deployment("IN_PROGRESS", &arn(&blue), &arn(&green))),
        );
        emulator.seed_alb_on(&green, &alb.load_balancer, 10, |_| AlbMinute::healthy());
        emulator.seed_alb_on(&blue, &alb.load_balancer, 10, |_| AlbMinute::healthy());
        Service {
            emulator,
            green,
            load_balancer: alb.load_balancer,
        }
    }

    /// Green's 5XX share climbs to 8 %.
    fn regress(&self) {
        self.emulator
            .seed_alb_on(&self.green, &self.load_balancer, 10, |_| AlbMinute {
                errors_5xx: Some(80.0),
                ..AlbMinute::default()
            });
    }

    fn hook(&self, policy: &str) -> HookProcess {
        let policy = temp_file("ecs.yaml", policy);
        HookProcess::start_with(
            &self.emulator,
            "ecs-lifecycle-hook",
            &[
                ("GATE_POLICY_FILE", policy.to_str().unwrap()),
                ("GATE_SAFETY_MARGIN_MS", "2000"),
            ],
            &["TARGET_GROUP", "LOAD_BALANCER"],
        )
    }

    /// A second instance of the hook [`Service::hook`] started, taking
    /// invocations beside it (the same environment, the same `policy`).
    fn hook_beside(&self, policy: &str) -> HookProcess {
        let policy = temp_file("ecs-beside.yaml", policy);
        HookProcess::start_beside(
            &self.emulator,
            "ecs-lifecycle-hook",
            &[
                ("GATE_POLICY_FILE", policy.to_str().unwrap()),
                ("GATE_SAFETY_MARGIN_MS", "2000"),
            ],
            &["TARGET_GROUP", "LOAD_BALANCER"],
        )
    }

    /// Queues one invocation without waiting for it; its request id.
    fn queue(&self, stage: &str, execution: &str, details: Option<&Value>) -> String {
        let queued = self.emulator.control(
            "POST",
            "invoke",
            Some(json!({"event": payload(stage, execution, 25.0, details), "timeout_ms": RUN_MS})),
        );
        queued["requestId"]
            .as_str()
            .expect("a request id")
            .to_string()
    }

    /// The answer of a queued invocation.
    fn answer(&self, request_id: &str) -> Value {
        let outcome = await_invocation(&self.emulator, request_id);
        assert_eq!(outcome["state"], "success", "{outcome}");
        outcome["body"].clone()
    }

    /// How many `GetMetricData` calls the emulator received (each
    /// measurement makes some).
    fn metric_queries(&self) -> usize {
        self.emulator
            .calls()
            .iter()
            .filter(|call| call["operation"] == "GetMetricData")
            .count()
    }

    /// One invocation; its answer.
    fn invoke(&self, stage: &str, execution: &str, details: Option<&Value>) -> Value {
        let outcome = invoke(
            &self.emulator,
            payload(stage, execution, 25.0, details),
            RUN_MS,
        );
        assert_eq!(outcome["state"], "success", "{stage}: {outcome}");
        outcome["body"].clone()
    }

    /// Waits the answer's `callBackDelay`, as ECS would, and invokes again
    /// with its `hookDetails`.
    fn call_back(&self, stage: &str, execution: &str, answer: &Value) -> Value {
        assert_eq!(answer["hookStatus"], "IN_PROGRESS", "{answer}");
        let delay = answer["callBackDelay"].as_u64().expect("a callBackDelay");
        std::thread::sleep(Duration::from_secs(delay));
        self.invoke(stage, execution, Some(&answer["hookDetails"]))
    }
}

fn reason(answer: &Value) -> &str {
    answer["reason"].as_str().unwrap_or_default()
}

/// ECS invoking a round again (a retry of one it was already answered):
/// the same `IN_PROGRESS` answer, the same `hookDetails`, nothing measured
/// twice; a state older than that fails the stage, saying it is stale.
#[test]
fn a_retried_round_gets_the_same_answer_and_a_stale_one_fails() {
    let service = Service::start();
    let hook = service.hook(POLICY);
    let stage = "PRODUCTION_TRAFFIC_SHIFT";

    let first = service.invoke(stage, "exec-retried", None);
    let second = service.call_back(stage, "exec-retried", &first);
    assert_eq!(second["hookStatus"], "IN_PROGRESS", "{second}");
    // ECS retries the second round: the same answer.
    let retried = service.invoke(stage, "exec-retried", Some(&first["hookDetails"]));
    assert_eq!(retried["hookStatus"], "IN_PROGRESS", "{retried}");
    assert_eq!(retried["hookDetails"], second["hookDetails"], "{retried}");
    let delay = retried["callBackDelay"].as_u64().unwrap_or(0);
    assert!(
        (1..=second["callBackDelay"].as_u64().unwrap()).contains(&delay),
        "{retried} after {second}"
    );
    assert!(
        reason(&retried).contains("a repeat of round 2"),
        "{retried}"
    );
    // The bake goes on from the answer, once.
    let third = service.call_back(stage, "exec-retried", &retried);
    assert_eq!(third["hookStatus"], "SUCCEEDED", "{third}");

    // Another execution: two rounds, then its first invocation again, when
    // ECS would call back with the second's answer: stale.
    let first = service.invoke(stage, "exec-stale", None);
    let second = service.call_back(stage, "exec-stale", &first);
    assert_eq!(second["hookStatus"], "IN_PROGRESS", "{second}");
    let stale = service.invoke(stage, "exec-stale", None);
    assert_eq!(stale["hookStatus"], "FAILED", "{stale}");
    assert!(reason(&stale).contains("stale"), "{stale}");
    // And another execution's state is refused as such.
    let foreign = service.invoke(stage, "exec-foreign", Some(&second["hookDetails"]));
    assert_eq!(foreign["hookStatus"], "FAILED", "{foreign}");
    assert!(reason(&foreign).contains("another execution"), "{foreign}");

    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    let concluded: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["lifecycle_event_hook_execution_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        concluded,
        [
            ("exec-retried", "Succeeded"),
            ("exec-stale", "Failed"),
            ("exec-foreign", "Failed")
        ],
        "{stderr}"
    );
    // 20 s measured every 10 s: three measurements, the retry took none.
    let measurements = records[0]["analysis"]["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 3, "{}", records[0]);
}

/// Two invocations of the same round at once (ECS invoking it again while
/// the first still runs), in two instances of the function: the one that
/// claims the round measures and seals; the other measures nothing and
/// answers `IN_PROGRESS` with `hookDetails` as they came, and ECS calling
/// back with them gets the first one's answer from the seal. The bake goes
/// on to `SUCCEEDED`, one record, each round measured once.
#[test]
fn overlapping_invocations_of_a_round_measure_it_once() {
    let service = Service::start();
    let first_instance = service.hook(POLICY);
    let second_instance = service.hook_beside(POLICY);
    let (stage, execution) = ("PRODUCTION_TRAFFIC_SHIFT", "exec-overlapping");

    let first = service.invoke(stage, execution, None);
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    let delay = first["callBackDelay"].as_u64().expect("a callBackDelay");
    std::thread::sleep(Duration::from_secs(delay));
    // Round 2's first metric query is slow (8 s: room for a loaded machine
    // to start the second invocation, within the bake's 10 s interval, so the
    // callback still finds the round fresh): the invocation measuring it is
    // still at it (it claimed the round before measuring) when ECS invokes
    // the round again.
    service.emulator.inject(
        json!({"service": "cloudwatch", "operation": "GetMetricData",
                                   "status": 200, "delay_ms": 8000, "times": 1}),
    );
    let queries = service.metric_queries();
    let running = service.queue(stage, execution, Some(&first["hookDetails"]));
    let waiting = Instant::now();
    while service.metric_queries() == queries {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "round 2 never measured"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let overlapping = service.queue(stage, execution, Some(&first["hookDetails"]));
    let overlapping = service.answer(&overlapping);
    let running = service.answer(&running);

    assert_eq!(overlapping["hookStatus"], "IN_PROGRESS", "{overlapping}");
    assert_eq!(
        overlapping["hookDetails"], first["hookDetails"],
        "the overlapping invocation answered with other hookDetails: {overlapping}"
    );
    assert_eq!(overlapping["callBackDelay"], 10, "{overlapping}");
    assert!(
        reason(&overlapping).contains("claimed by another invocation"),
        "{overlapping}"
    );
    assert_eq!(running["hookStatus"], "IN_PROGRESS", "{running}");
    assert_ne!(running["hookDetails"], first["hookDetails"], "{running}");

    // ECS calls back with the overlapping invocation's answer: the running
    // one's, from the seal, nothing measured.
    let queries = service.metric_queries();
    let repeated = service.call_back(stage, execution, &overlapping);
    assert_eq!(
        repeated["hookDetails"], running["hookDetails"],
        "{repeated}"
    );
    assert!(
        reason(&repeated).contains("a repeat of round 2"),
        "{repeated}"
    );
    assert_eq!(service.metric_queries(), queries, "the repeat measured");
    let mut last = repeated;
    for _ in 0..5 {
        if last["hookStatus"] != "IN_PROGRESS" {
            break;
        }
        last = service.call_back(stage, execution, &last);
    }
    assert_eq!(last["hookStatus"], "SUCCEEDED", "{last}");

    let (first_out, first_err) = first_instance.finish();
    let (second_out, second_err) = second_instance.finish();
    let records = decision_records(&format!("{first_out}\n{second_out}"));
    assert_eq!(records.len(), 1, "{first_err}\n{second_err}");
    assert_eq!(records[0]["status"], "Succeeded", "{}", records[0]);
    // 20 s measured every 10 s: three measurements, whichever instance took
    // each round; the overlapping invocation took none.
    let measurements = records[0]["analysis"]["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 3, "{}", records[0]);
}

/// Every stage gated at once but `PRODUCTION_TRAFFIC_SHIFT` (baked as in
/// [`POLICY`]); `POST_SCALE_UP` and `POST_PRODUCTION_TRAFFIC_SHIFT` in dry
/// run, the latter baked after a delay (its first round measures nothing).
const SWITCHED_POLICY: &str = "\
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: \"${canary.target_group}\", LoadBalancer: \"${canary.load_balancer}\" }
hooks:
  POST_SCALE_UP:
    dry_run: true
    gates: &gates
      - name: error-rate
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \">\"
        threshold: 1%
        datapoints_to_alarm: 2
        min_sample: { at_least: 100 }
  POST_TEST_TRAFFIC_SHIFT:
    gates: *gates
  PRODUCTION_TRAFFIC_SHIFT:
    analysis: { duration: 20s, interval: 10s }
    gates: *gates
  POST_PRODUCTION_TRAFFIC_SHIFT:
    dry_run: true
    analysis: { duration: 20s, interval: 10s, initial_delay: 5s }
    gates: *gates
";

/// The freeze, an override for an ECS stage and a dry run, through the real
/// hook: as for the CodeDeploy hooks (a freeze fails, an override passes,
/// both saying so; a dry run passes and records what it would have
/// answered), at once and in the middle of a bake, every record in the
/// revision's audit chain.
#[test]
fn freeze_override_and_dry_run_decide_ecs_stages_at_once_and_mid_bake() {
    let service = Service::start();
    let hook = service.hook(SWITCHED_POLICY);
    let emulator = &service.emulator;
    let freeze = "/codedeploy-gates/freeze";
    let override_of = |stage: &str| format!("/codedeploy-gates/override/{stage}");
    let override_value = r#"{"reason": "the 5XX are the load test, INC-9", "by": "alice", "expires": "2099-01-01T00:00:00Z"}"#;
    let mut answers = Vec::new();

    // A freeze, at once: a healthy stage fails.
    emulator.put_parameter(freeze, "change freeze for the holidays");
    let frozen = service.invoke("POST_TEST_TRAFFIC_SHIFT", "exec-frozen", None);
    assert_eq!(frozen["hookStatus"], "FAILED", "{frozen}");
    assert!(
        reason(&frozen).starts_with("deployment freeze: change freeze"),
        "{frozen}"
    );
    answers.push(frozen);

    // A freeze set mid-bake ends the bake FAILED at its next measurement.
    emulator.delete_parameter(freeze);
    let first = service.invoke("PRODUCTION_TRAFFIC_SHIFT", "exec-bake-frozen", None);
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    emulator.put_parameter(freeze, "incident INC-12 in progress");
    let frozen = service.call_back("PRODUCTION_TRAFFIC_SHIFT", "exec-bake-frozen", &first);
    assert_eq!(frozen["hookStatus"], "FAILED", "{frozen}");
    assert!(
        reason(&frozen).starts_with("deployment freeze: incident INC-12"),
        "{frozen}"
    );
    answers.push(frozen);
    emulator.delete_parameter(freeze);

    // An override set mid-bake ends it SUCCEEDED at its next measurement,
    // before the bake's own end (a third measurement).
    let first = service.invoke("PRODUCTION_TRAFFIC_SHIFT", "exec-bake-overridden", None);
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    emulator.put_parameter(&override_of("PRODUCTION_TRAFFIC_SHIFT"), override_value);
    let overridden = service.call_back("PRODUCTION_TRAFFIC_SHIFT", "exec-bake-overridden", &first);
    assert_eq!(overridden["hookStatus"], "SUCCEEDED", "{overridden}");
    assert!(
        reason(&overridden).starts_with("override by alice"),
        "{overridden}"
    );
    answers.push(overridden);
    emulator.delete_parameter(&override_of("PRODUCTION_TRAFFIC_SHIFT"));

    // Green regresses. An override, at once: the failing stage passes.
    service.regress();
    emulator.put_parameter(&override_of("POST_TEST_TRAFFIC_SHIFT"), override_value);
    let overridden = service.invoke("POST_TEST_TRAFFIC_SHIFT", "exec-overridden", None);
    assert_eq!(overridden["hookStatus"], "SUCCEEDED", "{overridden}");
    assert!(
        reason(&overridden).starts_with("override by alice"),
        "{overridden}"
    );
    answers.push(overridden);
    emulator.delete_parameter(&override_of("POST_TEST_TRAFFIC_SHIFT"));
    // Without it, the same stage fails: the override made the difference.
    let unswitched = service.invoke("POST_TEST_TRAFFIC_SHIFT", "exec-unswitched", None);
    assert_eq!(unswitched["hookStatus"], "FAILED", "{unswitched}");
    answers.push(unswitched);

    // A dry run, at once and mid-bake: SUCCEEDED, recording FAILED.
    let dry = service.invoke("POST_SCALE_UP", "exec-dry", None);
    assert_eq!(dry["hookStatus"], "SUCCEEDED", "{dry}");
    answers.push(dry);
    let first = service.invoke("POST_PRODUCTION_TRAFFIC_SHIFT", "exec-bake-dry", None);
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    let dry = service.call_back("POST_PRODUCTION_TRAFFIC_SHIFT", "exec-bake-dry", &first);
    assert_eq!(dry["hookStatus"], "SUCCEEDED", "{dry}");
    answers.push(dry);

    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    let got: Vec<(&str, &str, Value)> = records
        .iter()
        .map(|r| {
            (
                r["lifecycle_event_hook_execution_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["dry_run"]["would_have_reported"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("exec-frozen", "Failed", Value::Null),
            ("exec-bake-frozen", "Failed", Value::Null),
            ("exec-bake-overridden", "Succeeded", Value::Null),
            ("exec-overridden", "Succeeded", Value::Null),
            ("exec-unswitched", "Failed", Value::Null),
            ("exec-dry", "Succeeded", json!("Failed")),
            ("exec-bake-dry", "Succeeded", json!("Failed")),
        ],
        "{stderr}"
    );
    // Each record says what its answer said, and the switches as read.
    for (record, answer) in records.iter().zip(&answers) {
        assert_eq!(record["reason"], answer["reason"], "{record}");
    }
    assert_eq!(
        records[0]["switches"]["freeze"]["reason"], "change freeze for the holidays",
        "{}",
        records[0]
    );
    assert_eq!(
        records[2]["analysis"]["measurements"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{}",
        records[2]
    );
    // One audit chain for the revision: every decision in order, linked.
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["deployment_id"], "ecs.web-cluster.web.2");
        assert_eq!(record["audit"]["sequence"], i as u64 + 1, "{record}");
        let previous = if i == 0 {
            Value::Null
        } else {
            records[i - 1]["audit"]["digest"].clone()
        };
        assert_eq!(record["audit"]["previous_digest"], previous, "{record}");
    }
    let head: Value = serde_json::from_str(
        &emulator
            .get_parameter("/codedeploy-gates/audit/ecs.web-cluster.web.2")
            .expect("the chain head"),
    )
    .unwrap();
    assert_eq!(head["sequence"], records.len() as u64);
    assert_eq!(head["digest"], records.last().unwrap()["audit"]["digest"]);
}

/// ECS not saying whether a traffic shift belongs to a rollback: the stage
/// is neither passed nor judged but asked again (`IN_PROGRESS`, a short
/// delay); once ECS answers, it is judged; if it never does, the stage fails
/// closed after a bounded number of tries, saying why.
#[test]
fn an_unanswered_rollback_check_asks_again_and_ends_failed_closed() {
    let service = Service::start();
    let hook = service.hook(POLICY);
    let emulator = &service.emulator;
    let stage = "TEST_TRAFFIC_SHIFT";
    let judged = || {
        emulator
            .calls()
            .iter()
            .filter(|c| c["operation"] == "GetMetricData")
            .count()
    };

    // ECS slower than the check's 5 s budget, once.
    emulator.inject(
        json!({"service": "ecs", "operation": "ListServiceDeployments",
                           "status": 200, "delay_ms": 6500, "times": 1}),
    );
    let before = judged();
    let asked = service.invoke(stage, "exec-slow", None);
    assert_eq!(asked["hookStatus"], "IN_PROGRESS", "{asked}");
    assert_eq!(asked["callBackDelay"], 10, "{asked}");
    assert_eq!(
        asked["hookDetails"]["gate_rollback_check"]["tries"], 1,
        "{asked}"
    );
    assert!(
        reason(&asked).contains("neither passed nor blocked"),
        "{asked}"
    );
    assert_eq!(
        judged(),
        before,
        "judged while the rollback question was open"
    );
    // ECS answers at the callback: judged as usual.
    let answered = service.invoke(stage, "exec-slow", Some(&asked["hookDetails"]));
    assert_eq!(answered["hookStatus"], "SUCCEEDED", "{answered}");

    // ECS failing every time: asked again six times, then FAILED. (This
    // test calls back at once: the count, not the clock, ends it.)
    emulator.inject(
        json!({"service": "ecs", "operation": "ListServiceDeployments",
                           "status": 500, "code": "ServerException"}),
    );
    let mut details: Option<Value> = None;
    let mut tries = Vec::new();
    let last = loop {
        let answer = service.invoke(stage, "exec-down", details.as_ref());
        if answer["hookStatus"] != "IN_PROGRESS" {
            break answer;
        }
        tries.push(answer["hookDetails"]["gate_rollback_check"]["tries"].clone());
        assert!(tries.len() <= 6, "no end to the asking: {answer}");
        details = Some(answer["hookDetails"].clone());
    };
    assert_eq!(tries, [1, 2, 3, 4, 5, 6].map(|n| json!(n)));
    assert_eq!(last["hookStatus"], "FAILED", "{last}");
    assert!(
        reason(&last).contains("did not say whether this deployment is rolling back"),
        "{last}"
    );
    assert!(reason(&last).contains("ServerException"), "{last}");
    emulator.control("DELETE", "faults", None);

    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    let concluded: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["lifecycle_event_hook_execution_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        concluded,
        [("exec-slow", "Succeeded"), ("exec-down", "Failed")],
        "{stderr}"
    );
}
