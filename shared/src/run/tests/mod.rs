//! The fail-closed rules of one execution, with fakes: deadline, panic, report once.

use super::*;
use crate::evidence::deployment::DeploymentInfo;
use crate::evidence::Evidence;
use crate::evidence::{
    AlarmStates, MetricData, MetricIdentity, MetricRequest, RawSeries, SeriesStatus,
};
use crate::judge::judge;
use crate::policy::HookPolicy;
use crate::report::ReportOutcome;
use crate::report::ReportSummary;
use std::sync::Mutex;

/// A complete series with a point at every minute of `range`, valued by `at`.
pub(super) fn every_minute(range: &crate::window::TimeRange, at: impl Fn(i64) -> f64) -> RawSeries {
    RawSeries {
        points: (range.start..range.end)
            .step_by(60)
            .map(|t| (t, at(t)))
            .collect(),
        status: SeriesStatus::Complete,
        messages: vec![],
    }
}

/// A clock that jumps to whatever time a run sleeps until.
pub(super) struct SimClock(pub(super) std::sync::atomic::AtomicI64);

impl Clock for SimClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    async fn sleep_until(&self, at: i64) {
        self.0.fetch_max(at, std::sync::atomic::Ordering::SeqCst);
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "TARGET_GROUP" => Some("targetgroup/green/1".into()),
        "LOAD_BALANCER" => Some("app/web/2".into()),
        _ => None,
    }
}

const NOW: i64 = 1_700_000_400;

/// Healthy ALB numbers for every query, after an optional delay.
struct FakeCloudWatch {
    delay: Duration,
}

impl MetricSource for FakeCloudWatch {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        tokio::time::sleep(self.delay).await;
        Ok(request
            .queries
            .iter()
            .map(|q| {
                let value = match q.metric_name.as_str() {
                    "RequestCount" => 1000.0,
                    "HTTPCode_Target_5XX_Count" => 1.0,
                    "TargetResponseTime" => 0.2,
                    "HealthyHostCount" => 3.0,
                    _ => 0.0,
                };
                (q.clone(), every_minute(&request.range, |_| value))
            })
            .collect())
    }

    async fn metric_exists(&self, _: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(true)
    }
}

impl AlarmSource for FakeCloudWatch {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

struct FakeCodeDeploy;

impl DeploymentSource for FakeCodeDeploy {
    async fn deployment(&self, _: &str) -> Result<DeploymentInfo, EvidenceError> {
        Ok(DeploymentInfo {
            application_name: Some("web".into()),
            ..Default::default()
        })
    }
}

/// Records every report; answers with `answer`.
struct FakeReporter {
    answer: Result<ReportOutcome, ReportError>,
    reports: Mutex<Vec<(LifecycleStatus, Instant)>>,
}

impl FakeReporter {
    fn answering(answer: Result<ReportOutcome, ReportError>) -> Self {
        FakeReporter {
            answer,
            reports: Mutex::new(Vec::new()),
        }
    }
}

impl StatusReporter for FakeReporter {
    async fn report(
        &self,
        _: &str,
        _: &str,
        status: LifecycleStatus,
    ) -> Result<ReportOutcome, ReportError> {
        self.reports.lock().unwrap().push((status, Instant::now()));
        self.answer.clone()
    }
}

fn execution(hook: Hook, left: Duration) -> Execution {
    Execution {
        hook,
        deployment_id: "d-TEST".into(),
        execution_id: "exec-1".into(),
        now: NOW,
        deadline: Instant::now() + left,
        safety_margin: Duration::from_secs(3),
        function_version: Some("7".into()),
    }
}

async fn run(
    hook: Hook,
    left: Duration,
    cloudwatch: &FakeCloudWatch,
    reporter: &FakeReporter,
    judge: JudgeFn,
) -> DecisionRecord {
    let policy = Policy::embedded_default(&env).unwrap();
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: cloudwatch,
        alarms: cloudwatch,
        deployments: &FakeCodeDeploy,
        reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    execute(&policy, &execution(hook, left), providers, judge).await
}

/// A run with healthy, instant evidence and 30 s left.
async fn run_quick(hook: Hook, reporter: &FakeReporter, judge: JudgeFn) -> DecisionRecord {
    let cloudwatch = FakeCloudWatch {
        delay: Duration::ZERO,
    };
    run(hook, Duration::from_secs(30), &cloudwatch, reporter, judge).await
}

#[tokio::test]
async fn healthy_evidence_reports_succeeded_once() {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let record = run_quick(Hook::BeforeAllowTraffic, &reporter, judge).await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert_eq!(record.report, ReportSummary::Accepted);
    assert_eq!(
        record.deployment.unwrap().application_name.as_deref(),
        Some("web")
    );
    let reports = reporter.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, LifecycleStatus::Succeeded);
}

#[tokio::test]
async fn slow_evidence_reports_failed_before_the_deadline() {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let started = Instant::now();
    // 4 s left and a 3 s safety margin: about 1 s for evidence that would take a minute.
    let record = run(
        Hook::BeforeAllowTraffic,
        Duration::from_secs(4),
        &FakeCloudWatch {
            delay: Duration::from_secs(60),
        },
        &reporter,
        judge,
    )
    .await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    let budget_ms: u64 = record
        .reason
        .split("evidence was not collected within ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no budget in {}", record.reason));
    assert!((900..=1000).contains(&budget_ms), "{}", record.reason);
    let reports = reporter.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, LifecycleStatus::Failed);
    let reported_after = reports[0].1 - started;
    assert!(
        reported_after < Duration::from_secs(4),
        "reported {reported_after:?} after start, deadline was 4s"
    );
}

fn panicking_judge(_: &HookPolicy, _: &Evidence) -> Verdict {
    panic!("index out of bounds in a gate")
}

#[tokio::test]
async fn a_panicking_judgement_reports_failed() {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let record = run_quick(Hook::AfterAllowTraffic, &reporter, panicking_judge).await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record
            .reason
            .contains("the judgement panicked (index out of bounds in a gate)"),
        "{}",
        record.reason
    );
    assert_eq!(
        reporter.reports.lock().unwrap()[0].0,
        LifecycleStatus::Failed
    );
}

#[tokio::test]
async fn already_completed_is_a_clean_finish() {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::AlreadyCompleted));
    let record = run_quick(Hook::AfterAllowTraffic, &reporter, judge).await;
    assert_eq!(record.report, ReportSummary::AlreadyCompleted);
}

#[tokio::test]
async fn a_failed_report_is_recorded() {
    let reporter = FakeReporter::answering(Err(ReportError::Api {
        code: Some("DeploymentDoesNotExistException".into()),
        message: "DeploymentDoesNotExistException: no such deployment".into(),
    }));
    let record = run_quick(Hook::AfterAllowTraffic, &reporter, judge).await;
    let ReportSummary::Failed(message) = &record.report else {
        panic!("{:?}", record.report)
    };
    assert!(
        message.contains("DeploymentDoesNotExistException"),
        "{message}"
    );
}

#[tokio::test]
async fn a_hook_missing_from_the_policy_fails_closed() {
    let policy = Policy::from_yaml(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: v\n        alarms: [x]\n",
        "only-after.yaml",
        &env,
    )
    .unwrap();
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let cloudwatch = FakeCloudWatch {
        delay: Duration::ZERO,
    };
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: &cloudwatch,
        alarms: &cloudwatch,
        deployments: &FakeCodeDeploy,
        reporter: &reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    let record = execute(
        &policy,
        &execution(Hook::BeforeAllowTraffic, Duration::from_secs(30)),
        providers,
        judge,
    )
    .await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record
            .reason
            .contains("has no section for BeforeAllowTraffic"),
        "{}",
        record.reason
    );
    assert_eq!(reporter.reports.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_record_carries_the_figures() {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let record = run_quick(Hook::BeforeAllowTraffic, &reporter, judge).await;
    let json: serde_json::Value = serde_json::from_str(&record.to_json_line()).unwrap();
    assert_eq!(json["record"], "codedeploy-gates.decision.v1");
    assert_eq!(json["deployment_id"], "d-TEST");
    assert_eq!(json["hook"], "BeforeAllowTraffic");
    assert_eq!(json["status"], "Succeeded");
    assert_eq!(json["function_version"], "7");
    assert_eq!(json["report"]["outcome"], "accepted");
    assert_eq!(json["gates"].as_array().unwrap().len(), 4);
    assert_eq!(json["gates"][0]["name"], "error-rate");
    // The default's shadow gate compares with the version being replaced:
    // with TARGET_GROUP set and no BASELINE_TARGET_GROUP, nothing discovers
    // it, and the gate says it is not judged, without blocking and without
    // reading as an error or as "would have blocked".
    let shadow = &json["gates"][2];
    assert_eq!(shadow["name"], "latency-vs-baseline");
    assert_eq!(
        (
            &shadow["dry_run"],
            &shadow["outcome"],
            &shadow["not_judged"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!("inconclusive"),
            &serde_json::json!("no baseline")
        )
    );
    assert_eq!(
        shadow["reason"],
        "it names ${baseline.target_group}: deployment discovery finds these values, and discovery runs only for gates that can block (this one is a dry run); set BASELINE_TARGET_GROUP to judge it without discovery",
        "{shadow}"
    );
    assert_eq!(
        json["reason"],
        "all 3 critical gates passed; latency-vs-baseline not judged: no baseline"
    );
    assert_eq!(json["gates"][0]["threshold"], "> 1%");
    assert_eq!(json["gates"][0]["series"]["values"][0], 0.001);
    assert!(json["policy"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

/// Evidence that breaches every gate: 10 % errors, p95 3 s, no healthy host.
struct BadCloudWatch;

impl MetricSource for BadCloudWatch {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        let mut data = FakeCloudWatch {
            delay: Duration::ZERO,
        }
        .metric_data(request)
        .await?;
        for (query, series) in data.iter_mut() {
            let bad = match query.metric_name.as_str() {
                "HTTPCode_Target_5XX_Count" => 100.0,
                "TargetResponseTime" => 3.0,
                "HealthyHostCount" => 0.0,
                "UnHealthyHostCount" => 3.0,
                _ => continue,
            };
            for point in &mut series.points {
                point.1 = bad;
            }
        }
        Ok(data)
    }

    async fn metric_exists(&self, _: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(true)
    }
}

impl AlarmSource for BadCloudWatch {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

#[tokio::test]
async fn a_hook_in_dry_run_reports_succeeded_and_records_the_verdict() {
    let yaml = crate::policy::DEFAULT_POLICY_YAML.replace(
        "  AfterAllowTraffic: *production-gates",
        "  AfterAllowTraffic:\n    dry_run: true\n    gates: *gates",
    );
    let yaml = yaml.replace(
        "    on_inconclusive: fail\n    gates:\n",
        "    on_inconclusive: fail\n    gates: &gates\n",
    );
    let policy = Policy::from_yaml(&yaml, "dry.yaml", &env).unwrap();
    assert!(policy.hook(Hook::AfterAllowTraffic).unwrap().dry_run);
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: &BadCloudWatch,
        alarms: &BadCloudWatch,
        deployments: &FakeCodeDeploy,
        reporter: &reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    let record = execute(
        &policy,
        &execution(Hook::AfterAllowTraffic, Duration::from_secs(30)),
        providers,
        judge,
    )
    .await;
    assert_eq!(
        reporter.reports.lock().unwrap()[0].0,
        LifecycleStatus::Succeeded
    );
    assert_eq!(record.status, LifecycleStatus::Succeeded);
    assert_eq!(
        record.dry_run,
        Some(crate::report::DryRunSummary {
            would_have_reported: LifecycleStatus::Failed
        })
    );
    assert!(
        record.reason.starts_with("3 of 3 critical gates blocked"),
        "{}",
        record.reason
    );
    let json: serde_json::Value = serde_json::from_str(&record.to_json_line()).unwrap();
    assert_eq!(json["dry_run"]["would_have_reported"], "Failed");
    // The same evidence without dry run fails.
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: &BadCloudWatch,
        alarms: &BadCloudWatch,
        deployments: &FakeCodeDeploy,
        reporter: &reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    let record = execute(
        &policy,
        &execution(Hook::BeforeAllowTraffic, Duration::from_secs(30)),
        providers,
        judge,
    )
    .await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert_eq!(record.dry_run, None);
}

/// Switch values as SSM would hold them, or a failure to read them.
struct FakeSwitches(Result<crate::evidence::switches::SwitchValues, EvidenceError>);

impl crate::evidence::switches::SwitchSource for FakeSwitches {
    async fn read(
        &self,
        _: Hook,
    ) -> Result<crate::evidence::switches::SwitchValues, EvidenceError> {
        self.0.clone()
    }
}

async fn run_switched(
    switches: FakeSwitches,
    metrics: &(impl MetricSource + AlarmSource),
    policy: &Policy,
) -> (DecisionRecord, Vec<LifecycleStatus>) {
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics,
        alarms: metrics,
        deployments: &FakeCodeDeploy,
        reporter: &reporter,
        switches: &switches,
        probes: &NoProbes,
    };
    let record = execute(
        policy,
        &execution(Hook::AfterAllowTraffic, Duration::from_secs(30)),
        providers,
        judge,
    )
    .await;
    let reports = reporter
        .reports
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.0)
        .collect();
    (record, reports)
}

#[tokio::test]
async fn a_freeze_fails_every_hook_and_says_why() {
    let policy = Policy::embedded_default(&env).unwrap();
    let healthy = FakeCloudWatch {
        delay: Duration::ZERO,
    };
    let freeze = FakeSwitches(Ok((
        Some(r#"{"reason": "black friday", "by": "sre"}"#.into()),
        None,
    )
        .into()));
    let (record, reports) = run_switched(freeze, &healthy, &policy).await;
    assert_eq!(reports, [LifecycleStatus::Failed]);
    assert!(
        record
            .reason
            .starts_with("deployment freeze: black friday (set by sre) (the gates said: Succeeded"),
        "{}",
        record.reason
    );
    assert_eq!(
        record.switches.unwrap().freeze.unwrap().reason,
        "black friday"
    );
}

#[tokio::test]
async fn an_override_succeeds_and_records_who_why_and_until_when() {
    let policy = Policy::embedded_default(&env).unwrap();
    let value = r#"{"reason": "p95 alarm is a known false positive, INC-7", "by": "alice", "expires": "2099-01-01T00:00:00Z"}"#;
    let (record, reports) = run_switched(
        FakeSwitches(Ok((None, Some(value.into())).into())),
        &BadCloudWatch,
        &policy,
    )
    .await;
    assert_eq!(reports, [LifecycleStatus::Succeeded]);
    assert!(
        record.reason.starts_with("override by alice until 2099-01-01T00:00:00Z: p95 alarm is a known false positive, INC-7 (the gates said: Failed: 3 of 3"),
        "{}",
        record.reason
    );
    let json: serde_json::Value = serde_json::from_str(&record.to_json_line()).unwrap();
    assert_eq!(json["switches"]["override"]["by"], "alice");

    // An expired override is ignored, and the record says so.
    let expired = value.replace("2099", "2001");
    let (record, reports) = run_switched(
        FakeSwitches(Ok((None, Some(expired)).into())),
        &BadCloudWatch,
        &policy,
    )
    .await;
    assert_eq!(reports, [LifecycleStatus::Failed]);
    assert!(record
        .switches
        .unwrap()
        .ignored_override
        .unwrap()
        .contains("expired at 2001-01-01T00:00:00Z"));
}

#[tokio::test]
async fn a_freeze_wins_over_an_override_and_a_dry_run() {
    let yaml = crate::policy::DEFAULT_POLICY_YAML.replace(
        "    on_inconclusive: fail\n",
        "    on_inconclusive: fail\n    dry_run: true\n",
    );
    let policy = Policy::from_yaml(&yaml, "dry.yaml", &env).unwrap();
    let both = FakeSwitches(Ok((
        Some("incident".into()),
        Some(r#"{"reason": "r", "by": "bob", "expires": "2099-01-01T00:00:00Z"}"#.into()),
    )
        .into()));
    let (record, reports) = run_switched(
        both,
        &FakeCloudWatch {
            delay: Duration::ZERO,
        },
        &policy,
    )
    .await;
    assert_eq!(reports, [LifecycleStatus::Failed]);
    assert!(
        record.reason.starts_with("deployment freeze: incident"),
        "{}",
        record.reason
    );
}

#[tokio::test]
async fn unreadable_switches_fail_closed() {
    let policy = Policy::embedded_default(&env).unwrap();
    let denied = FakeSwitches(Err(EvidenceError::Api {
        service: "SSM",
        operation: "GetParameters",
        message: "AccessDeniedException".into(),
    }));
    let (record, reports) = run_switched(
        denied,
        &FakeCloudWatch {
            delay: Duration::ZERO,
        },
        &policy,
    )
    .await;
    assert_eq!(reports, [LifecycleStatus::Failed]);
    assert!(record.reason.starts_with("could not read the deployment switches (freeze, override): SSM GetParameters failed: AccessDeniedException; failing closed"), "{}", record.reason);
    assert!(record.switch_error.is_some());
}

mod bake;
mod before_deployment;
mod ecs;
mod shadow;
