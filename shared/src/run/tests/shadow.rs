//! The embedded default policy's shadow gate (`latency-vs-baseline`, dry run):
//! it compares with the version being replaced when discovery finds it, and
//! never makes a hook depend on discovery or on the baseline's traffic.

use super::every_minute;
use super::*;
use crate::evidence::discovery::Discovery;
use crate::evidence::{AlarmStates, MetricData, MetricIdentity, MetricRequest};
use crate::judge::judge;
use crate::judge::{GateOutcome, GateResult};
use crate::report::ReportOutcome;

const NOW: i64 = 1_700_000_400;
const GREEN: &str = "targetgroup/green/1";
const BLUE: &str = "targetgroup/blue/2";

/// Healthy ALB numbers; the canary's p95 is `canary_p95`, the baseline's 0.2.
struct Alb {
    canary_p95: f64,
}

impl MetricSource for Alb {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        Ok(request
            .queries
            .iter()
            .map(|q| {
                let blue = q.dimensions.iter().any(|(_, v)| v == BLUE);
                let value = match q.metric_name.as_str() {
                    "RequestCount" => 1000.0,
                    "HTTPCode_Target_5XX_Count" => 1.0,
                    "TargetResponseTime" if blue => 0.2,
                    "TargetResponseTime" => self.canary_p95,
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

impl AlarmSource for Alb {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

/// Discovery that finds the canary, and the baseline when `blue` is set.
struct Found {
    blue: bool,
}

impl DeploymentSource for Found {
    async fn deployment(&self, _: &str) -> Result<DeploymentInfo, EvidenceError> {
        Ok(DeploymentInfo::default())
    }

    async fn discover(&self, _: &str) -> Result<Discovery, EvidenceError> {
        let side = |tg: &str| {
            [("target_group", tg), ("load_balancer", "app/web/9")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Ok(Discovery {
            canary: side(GREEN),
            baseline: if self.blue {
                side(BLUE)
            } else {
                Default::default()
            },
            ..Discovery::default()
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

/// BeforeAllowTraffic under the embedded default, everything discovered.
async fn before_allow_traffic(blue: bool, canary_p95: f64) -> DecisionRecord {
    let policy = Policy::embedded_default(&|_| None).unwrap();
    let metrics = Alb { canary_p95 };
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics: &metrics,
        alarms: &metrics,
        deployments: &Found { blue },
        reporter: &Reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    let execution = Execution {
        hook: Hook::BeforeAllowTraffic,
        deployment_id: "d-SHADOW".into(),
        execution_id: "exec-1".into(),
        now: NOW,
        deadline: Instant::now() + Duration::from_secs(30),
        safety_margin: Duration::from_secs(3),
        function_version: None,
    };
    execute(&policy, &execution, providers, judge).await
}

fn shadow(record: &DecisionRecord) -> &GateResult {
    record
        .gates
        .iter()
        .find(|g| g.name == "latency-vs-baseline")
        .expect("the default policy has the shadow gate")
}

#[tokio::test]
async fn the_shadow_gate_records_what_it_would_have_decided_without_blocking() {
    // 0.3 s against the Blue task set's 0.2 s: 1.5 x, under the static 1 s.
    let record = before_allow_traffic(true, 0.3).await;
    let gate = shadow(&record);
    assert!(gate.dry_run);
    assert_eq!(gate.outcome, GateOutcome::Fail, "{}", gate.reason);
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert_eq!(
        record.reason,
        "all 3 critical gates passed; dry run, would have blocked: latency-vs-baseline [fail]"
    );
    let record = before_allow_traffic(true, 0.2).await;
    assert_eq!(shadow(&record).outcome, GateOutcome::Pass);
    assert_eq!(record.reason, "all 3 critical gates passed");
}

#[tokio::test]
async fn a_baseline_discovery_cannot_find_never_fails_the_hook() {
    let record = before_allow_traffic(false, 0.2).await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    let gate = shadow(&record);
    assert_eq!(gate.outcome, GateOutcome::Inconclusive);
    assert_eq!(gate.not_judged, Some(crate::judge::NotJudged::NoBaseline));
    assert!(
        gate.reason.contains(
            "deployment discovery: the policy refers to ${baseline.load_balancer}, which deployment discovery did not find"
        ),
        "{}",
        gate.reason
    );
    assert!(
        record
            .reason
            .ends_with("; latency-vs-baseline not judged: no baseline"),
        "{}",
        record.reason
    );
    // The blocking gates were judged as usual, in policy order around it.
    let names: Vec<&str> = record.gates.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "error-rate",
            "latency-p95",
            "latency-vs-baseline",
            "healthy-hosts"
        ]
    );
    assert!(record
        .gates
        .iter()
        .filter(|g| !g.dry_run)
        .all(|g| g.outcome == GateOutcome::Pass));
}
