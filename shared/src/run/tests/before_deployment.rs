//! `baseline: before_deployment` through a whole execution: the create time is
//! asked for first, only when a gate needs it, and its failures fail only the
//! gates that compare with it; a bake keeps comparing with the same window.

use super::*;
use super::{every_minute, SimClock};
use crate::evidence::deployment::DeploymentInfo;
use crate::evidence::{AlarmStates, MetricData, MetricIdentity, MetricRequest};
use crate::judge::judge;
use crate::judge::{GateOutcome, GateResult};
use crate::report::ReportOutcome;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// 2023-11-14T22:14:17Z: when the deployment was created.
const CREATED: i64 = 1_700_000_000 - 1_700_000_000 % 60 + 60 + 17;

const POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: targetgroup/web/1 }
  window: 5m
hooks:
  AfterAllowTraffic:
    gates:
      - name: latency-vs-before
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: before_deployment
        comparison: ">"
        threshold: 1.4 x baseline
        datapoints_to_alarm: 3
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1
  BeforeAllowTraffic:
    gates:
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1
"#;

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml(yaml, "before.yaml", &|_| None).unwrap()
}

/// What the fakes saw, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A p95 of 0.2 s before the deployment and `after` from its creation on.
struct Latency<'a> {
    after: f64,
    log: &'a Log,
}

impl MetricSource for Latency<'_> {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        self.log.push(format!(
            "GetMetricData [{}, {})",
            request.range.start - CREATED,
            request.range.end - CREATED
        ));
        Ok(request
            .queries
            .iter()
            .map(|q| {
                let after = self.after;
                let series =
                    every_minute(&request.range, |t| if t < CREATED { 0.2 } else { after });
                (q.clone(), series)
            })
            .collect())
    }

    async fn metric_exists(&self, _: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(true)
    }
}

impl AlarmSource for Latency<'_> {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

/// GetDeployment, answering after 20 ms with `answer`.
struct Deployments<'a> {
    answer: Result<Option<i64>, EvidenceError>,
    log: &'a Log,
}

impl DeploymentSource for Deployments<'_> {
    async fn deployment(&self, _: &str) -> Result<DeploymentInfo, EvidenceError> {
        self.log.push("GetDeployment sent".into());
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.log.push("GetDeployment answered".into());
        self.answer.clone().map(|create_time| DeploymentInfo {
            application_name: Some("web".into()),
            create_time,
            ..DeploymentInfo::default()
        })
    }
}

struct Reporter;

impl StatusReporter for Reporter {
    async fn report(
        &self,
        _: &str,
        _: &str,
        _: LifecycleStatus,
    ) -> Result<ReportOutcome, crate::report::ReportError> {
        Ok(ReportOutcome::Accepted)
    }
}

fn execution(hook: Hook, now: i64) -> Execution {
    Execution {
        hook,
        deployment_id: "d-BEFORE".into(),
        execution_id: "exec-1".into(),
        now,
        deadline: Instant::now() + Duration::from_secs(30),
        safety_margin: Duration::from_secs(3),
        function_version: None,
    }
}

async fn run(
    policy: &Policy,
    hook: Hook,
    after: f64,
    answer: Result<Option<i64>, EvidenceError>,
) -> (DecisionRecord, Vec<String>) {
    let log = Log::default();
    let metrics = Latency { after, log: &log };
    let deployments = Deployments { answer, log: &log };
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: &metrics,
        alarms: &metrics,
        deployments: &deployments,
        reporter: &Reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    let record = execute(
        policy,
        &execution(hook, CREATED + 20 * 60),
        providers,
        judge,
    )
    .await;
    (record, log.lines())
}

fn gate<'a>(record: &'a DecisionRecord, name: &str) -> &'a GateResult {
    record.gates.iter().find(|g| g.name == name).unwrap()
}

#[tokio::test]
async fn the_deployment_is_described_first_and_places_the_baseline_before_it() {
    let policy = policy(POLICY);
    // 0.3 s against 0.2 s before the deployment: 1.5 x, under the static 1 s.
    let (record, log) = run(&policy, Hook::AfterAllowTraffic, 0.3, Ok(Some(CREATED))).await;
    assert_eq!(record.status, LifecycleStatus::Failed, "{}", record.reason);
    let relative = gate(&record, "latency-vs-before");
    assert_eq!(relative.outcome, GateOutcome::Fail, "{}", relative.reason);
    assert!(
        relative.reason.contains("worst 0.3 s (baseline 0.2 s)"),
        "{}",
        relative.reason
    );
    assert_eq!(
        crate::report::threshold_text(relative).as_deref(),
        Some("> 1.4 x baseline (the window before the deployment began, ending 2023-11-14T22:14:00Z)")
    );
    assert_eq!(gate(&record, "latency-static").outcome, GateOutcome::Pass);
    assert_eq!(
        record.deployment.as_ref().unwrap().create_time,
        Some(CREATED)
    );
    // GetDeployment is answered before any metric is asked for; the baseline's
    // window is the 5 minutes before the minute the deployment began in.
    assert_eq!(log[..2], ["GetDeployment sent", "GetDeployment answered"]);
    let mut metric_calls = log[2..].to_vec();
    metric_calls.sort();
    assert_eq!(
        metric_calls,
        ["GetMetricData [-317, -17)", "GetMetricData [763, 1063)"],
        "the canary's window ends 2 minutes (ingestion lag) before now"
    );

    let (record, _) = run(&policy, Hook::AfterAllowTraffic, 0.22, Ok(Some(CREATED))).await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
}

#[tokio::test]
async fn hooks_without_it_describe_the_deployment_alongside_the_metrics() {
    let (record, log) = run(
        &policy(POLICY),
        Hook::BeforeAllowTraffic,
        0.3,
        Ok(Some(CREATED)),
    )
    .await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    // The metrics were asked for while GetDeployment was still out.
    let sent = log.iter().position(|l| l == "GetDeployment sent").unwrap();
    let answered = log
        .iter()
        .position(|l| l == "GetDeployment answered")
        .unwrap();
    let metrics = log
        .iter()
        .position(|l| l.starts_with("GetMetricData"))
        .unwrap();
    assert!(sent < answered && metrics < answered, "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
}

#[tokio::test]
async fn without_a_create_time_only_the_gates_comparing_with_it_fail() {
    let failed = EvidenceError::Api {
        service: "CodeDeploy",
        operation: "GetDeployment",
        message: "AccessDeniedException: not authorized".into(),
    };
    let cases = [
        (
            Err(failed),
            "its start is unknown: CodeDeploy GetDeployment failed: AccessDeniedException: not authorized",
        ),
        (
            Ok(None),
            "its start is unknown: CodeDeploy GetDeployment returned no createTime",
        ),
        // Created a minute before "now": nothing before it has settled yet.
        (Ok(Some(CREATED + 19 * 60)), "has not settled in CloudWatch yet"),
    ];
    for (answer, want) in cases {
        let (record, log) = run(&policy(POLICY), Hook::AfterAllowTraffic, 0.2, answer).await;
        assert_eq!(record.status, LifecycleStatus::Failed, "{want}");
        let relative = gate(&record, "latency-vs-before");
        assert_eq!(relative.outcome, GateOutcome::Error);
        assert!(relative.reason.contains(want), "{}", relative.reason);
        assert!(record.reason.contains(want), "{}", record.reason);
        assert_eq!(gate(&record, "latency-static").outcome, GateOutcome::Pass);
        // No history was fetched for a window that could not be placed.
        assert_eq!(
            log.iter()
                .filter(|l| l.starts_with("GetMetricData"))
                .count(),
            1,
            "{log:?}"
        );
    }
}

use super::bake::Ledger;

#[tokio::test]
async fn a_bake_compares_every_measurement_with_the_same_window_across_continuations() {
    let policy = policy(&POLICY.replace(
        "  AfterAllowTraffic:\n",
        "  AfterAllowTraffic:\n    analysis: { duration: 20m, interval: 2m }\n",
    ));
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap();
    let analysis = section.analysis.unwrap();
    let start = CREATED + 10 * 60;
    let clock = SimClock(AtomicI64::new(start));
    let handoffs = Ledger::default();
    let log = Log::default();
    let metrics = Latency {
        after: 0.22,
        log: &log,
    };
    let deployments = Deployments {
        answer: Ok(Some(CREATED)),
        log: &log,
    };
    let mut arrival = Arrival::First {
        chain: "chain-before".into(),
    };
    let mut record = None;
    for _run in 0..10 {
        let providers = Providers {
            flags: &crate::evidence::NoFlags,
            metrics: &metrics,
            alarms: &metrics,
            deployments: &deployments,
            reporter: &Reporter,
            switches: &crate::evidence::switches::NoSwitches,
            probes: &NoProbes,
        };
        // Each Lambda run lasts 8 minutes: the bake needs several.
        let deadline_at = clock.now() + 8 * 60;
        match execute_analysis(
            &policy,
            &execution(Hook::AfterAllowTraffic, start),
            providers,
            judge,
            Bake {
                analysis: &analysis,
                clock: &clock,
                continuation: &handoffs,
                deadline_at,
                run_secs: 8 * 60,
                max_continuations: crate::analysis::DEFAULT_MAX_CONTINUATIONS,
                arrival,
            },
        )
        .await
        {
            AnalysisRun::Reported(done) => {
                record = Some(done);
                break;
            }
            AnalysisRun::HandedOff(next) => {
                clock.0.fetch_add(5, Ordering::SeqCst);
                arrival = Arrival::Continued(next);
            }
            AnalysisRun::StoodDown(reason) => panic!("stood down: {reason}"),
        }
    }
    let record = record.expect("the bake concluded");
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert!(handoffs.handoffs().len() >= 2);
    let measurements = record.analysis.as_ref().unwrap().measurements.len();
    assert_eq!(measurements, 11, "{}", record.reason);
    // One GetDeployment per measurement, each before its metrics; every
    // baseline request is the same five minutes before the deployment.
    let lines = log.lines();
    let baseline_requests: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("GetMetricData") && l.contains(", -17)"))
        .collect();
    assert_eq!(baseline_requests.len(), measurements, "{lines:?}");
    assert!(baseline_requests
        .iter()
        .all(|l| *l == "GetMetricData [-317, -17)"));
    let canary_requests: std::collections::BTreeSet<&String> = lines
        .iter()
        .filter(|l| l.starts_with("GetMetricData") && !l.contains(", -17)"))
        .collect();
    assert_eq!(
        canary_requests.len(),
        measurements,
        "the canary's window moves on: {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| *l == "GetDeployment sent").count(),
        measurements
    );
}
