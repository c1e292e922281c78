//! The embedded evidence source of a rehearsal: a scenario turned into the
//! datapoints CloudWatch would hold for the replacement's target group.
//!
//! It implements the same provider traits as the CloudWatch and CodeDeploy
//! providers, so the hook code under rehearsal is the production code; only
//! where the numbers come from differs. It publishes what an ALB publishes:
//! host counts every minute, request counts and response times only in minutes
//! with requests, and 5XX counts only when there were some. A smoke probe gets
//! the answer the scenario gives for the minute the hook runs in, for every
//! attempt; no network is touched.

use super::scenario::{Minute, Scenario, Version};
use crate::evidence::deployment::{DeploymentInfo, DeploymentSource};
use crate::evidence::probes::{ProbeAttempt, ProbeRun, ProbeSource, MAX_BODY_BYTES};
use crate::evidence::{
    AlarmSource, AlarmStates, EvidenceError, MetricData, MetricIdentity, MetricRequest,
    MetricSource, RawSeries, SeriesStatus,
};
use crate::judge::LifecycleStatus;
use crate::policy::MetricQuery;
use crate::report::{ReportError, ReportOutcome, StatusReporter};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Metrics the scenario can answer for.
const PUBLISHED: [&str; 5] = [
    "RequestCount",
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime",
    "HealthyHostCount",
    "UnHealthyHostCount",
];

/// A scenario as CloudWatch and CodeDeploy would present it.
pub struct ScenarioSource<'a> {
    scenario: &'a Scenario,
    /// The `TargetGroup` dimension value of the version being replaced;
    /// every other target group is the replacement's.
    baseline_target_group: String,
    /// Epoch seconds of minute 0.
    start: i64,
    /// The minute the hook under rehearsal runs in (for probe answers).
    minute: AtomicI64,
    reports: Mutex<Vec<LifecycleStatus>>,
}

impl<'a> ScenarioSource<'a> {
    /// A source whose minute 0 is `start` (epoch seconds, on a minute boundary).
    pub fn new(scenario: &'a Scenario, start: i64, baseline_target_group: &str) -> Self {
        ScenarioSource {
            scenario,
            baseline_target_group: baseline_target_group.to_string(),
            start,
            minute: AtomicI64::new(0),
            reports: Mutex::new(Vec::new()),
        }
    }

    /// Sets the minute the next hook runs in: probes get that minute's answer.
    pub fn set_minute(&self, minute: i64) {
        self.minute.store(minute, Ordering::SeqCst);
    }

    /// The value one version's metric had in one minute, `None` when the ALB
    /// would publish nothing.
    pub fn value(&self, version: Version, metric: &str, minute: i64) -> Option<f64> {
        if minute < 0 && version == Version::Canary {
            return None; // the replacement did not exist yet
        }
        let m: Minute = self.scenario.version_minute(version, minute);
        if m.missing {
            return None;
        }
        match metric {
            "RequestCount" => (m.requests > 0.0).then_some(m.requests),
            "HTTPCode_Target_5XX_Count" => {
                let errors = (m.requests * m.error_rate).round();
                (errors > 0.0).then_some(errors)
            }
            "TargetResponseTime" => (m.requests > 0.0).then_some(m.p95),
            "HealthyHostCount" => Some(m.healthy_hosts),
            "UnHealthyHostCount" => Some(m.unhealthy_hosts),
            _ => None,
        }
    }

    fn series(&self, query: &MetricQuery, request: &MetricRequest) -> RawSeries {
        let is_baseline = query
            .dimensions
            .iter()
            .any(|(name, value)| name == "TargetGroup" && *value == self.baseline_target_group);
        let version = if is_baseline {
            Version::Baseline
        } else {
            Version::Canary
        };
        let period = query.period_secs.max(60);
        let first = request.range.start.div_euclid(period) * period;
        let points = (first..request.range.end)
            .step_by(period as usize)
            .filter_map(|bucket| {
                let values: Vec<f64> = (bucket..bucket + period)
                    .step_by(60)
                    .filter_map(|t| {
                        self.value(version, &query.metric_name, (t - self.start).div_euclid(60))
                    })
                    .collect();
                aggregate(&query.stat, &values).map(|v| (bucket, v))
            })
            .collect();
        RawSeries {
            points,
            status: SeriesStatus::Complete,
            messages: Vec::new(),
        }
    }

    /// Every status reported so far.
    pub fn reports(&self) -> Vec<LifecycleStatus> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Combines the minutes of one period as CloudWatch would for `stat`
/// (a percentile of per-minute percentiles is approximated by their maximum).
fn aggregate(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().sum();
    Some(match stat {
        "Sum" | "SampleCount" => sum,
        "Average" => sum / values.len() as f64,
        "Minimum" => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

impl MetricSource for ScenarioSource<'_> {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        Ok(request
            .queries
            .iter()
            .map(|q| (q.clone(), self.series(q, request)))
            .collect())
    }

    async fn metric_exists(&self, metric: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(PUBLISHED.contains(&metric.metric_name.as_str()))
    }
}

impl AlarmSource for ScenarioSource<'_> {
    async fn alarm_states(&self, _names: &[String]) -> Result<AlarmStates, EvidenceError> {
        // A rehearsal has no alarms: an alarm gate sees them as missing and errs.
        Ok(AlarmStates::new())
    }
}

impl ProbeSource for ScenarioSource<'_> {
    async fn probe(
        &self,
        check: &crate::policy::ProbeCheck,
        _deadline: tokio::time::Instant,
    ) -> ProbeRun {
        // A rehearsal never touches the network. Without an answer in the
        // scenario the gate is inconclusive, and the hook's `on_inconclusive`
        // decides, as it would with no answer.
        let minute = self.minute.load(Ordering::SeqCst);
        let Some(answer) = self.scenario.probe_answer(minute) else {
            return ProbeRun::NotRun(format!(
                "a rehearsal sends no HTTP probes, and scenario {:?} says nothing about probe answers at minute {minute} (see `probe:` in scenario files)",
                self.scenario.name
            ));
        };
        ProbeRun::Attempts(
            (1..=check.repeat)
                .map(|index| simulated_attempt(answer, check, index))
                .collect(),
        )
    }
}

/// One attempt as the real provider would report the scenario's answer: an
/// answer slower than the total timeout is a timeout, a body is bounded.
fn simulated_attempt(
    answer: &crate::rehearsal::ProbeAnswer,
    check: &crate::policy::ProbeCheck,
    index: u32,
) -> ProbeAttempt {
    if answer.latency_ms > check.total_timeout_ms {
        return ProbeAttempt {
            index,
            latency_ms: check.total_timeout_ms,
            error: Some(format!(
                "no complete answer within the total timeout of {}ms",
                check.total_timeout_ms
            )),
            ..ProbeAttempt::default()
        };
    }
    let bytes = answer.body.as_bytes();
    let kept = &bytes[..bytes.len().min(MAX_BODY_BYTES)];
    ProbeAttempt {
        index,
        status: answer.status,
        latency_ms: answer.latency_ms,
        body: kept.to_vec(),
        body_bytes: kept.len(),
        body_truncated: bytes.len() > MAX_BODY_BYTES,
        redirects: Vec::new(),
        error: answer.error.clone(),
        refused: None,
    }
}

impl DeploymentSource for ScenarioSource<'_> {
    async fn deployment(&self, _deployment_id: &str) -> Result<DeploymentInfo, EvidenceError> {
        Ok(DeploymentInfo {
            application_name: Some("rehearsal".into()),
            deployment_group_name: Some(self.scenario.name.clone()),
            compute_platform: Some("ECS".into()),
            status: Some("InProgress".into()),
            ..DeploymentInfo::default()
        })
    }
}

impl StatusReporter for ScenarioSource<'_> {
    async fn report(
        &self,
        _deployment_id: &str,
        _execution_id: &str,
        status: LifecycleStatus,
    ) -> Result<ReportOutcome, ReportError> {
        if let Ok(mut reports) = self.reports.lock() {
            reports.push(status);
        }
        Ok(ReportOutcome::Accepted)
    }
}

#[cfg(test)]
mod probe_tests {
    use crate::judge::{GateOutcome, LifecycleStatus};
    use crate::policy::Policy;
    use crate::rehearsal::{rehearsal_env, rehearse, Scenario, Step, SHIPPED_SCENARIOS};
    use crate::vocab::hook::Hook;

    /// The default AfterAllowTestTraffic section with a probe gate added, and
    /// `on_inconclusive` as given.
    fn policy_with_probe(on_inconclusive: &str) -> Policy {
        let yaml = format!(
            "version: 1
probe_hosts: [test.internal.example.com]
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: {{ TargetGroup: \"${{TARGET_GROUP}}\", LoadBalancer: \"${{LOAD_BALANCER}}\" }}
hooks:
  AfterAllowTestTraffic:
    on_inconclusive: {on_inconclusive}
    gates:
      - name: healthy-hosts
        ratio:
          numerator:   [{{ name: HealthyHostCount, stat: Minimum }}]
          denominator: [{{ name: HealthyHostCount, stat: Minimum }}, {{ name: UnHealthyHostCount, stat: Maximum }}]
        comparison: \"<\"
        threshold: 95%
        window: 3m
        evaluation_periods: 2
      - name: smoke
        probe: {{ url: \"http://test.internal.example.com/health\" }}
"
        );
        Policy::from_yaml(&yaml, "probe.yaml", &rehearsal_env).unwrap()
    }

    /// AfterAllowTestTraffic of latency-regression, whose file says nothing
    /// about probe answers.
    async fn test_traffic_hook(policy: &Policy) -> (LifecycleStatus, String, GateOutcome, String) {
        let (name, text) = SHIPPED_SCENARIOS[1];
        let scenario = Scenario::from_yaml(text, name).unwrap();
        let rehearsal = rehearse(&scenario, policy, |_| {}).await;
        rehearsal
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Hook { record, .. } if record.hook == Hook::AfterAllowTestTraffic => {
                    let smoke = record.gates.iter().find(|g| g.name == "smoke").unwrap();
                    Some((
                        record.status,
                        record.reason.clone(),
                        smoke.outcome,
                        smoke.reason.clone(),
                    ))
                }
                _ => None,
            })
            .expect("the scenario runs AfterAllowTestTraffic")
    }

    #[tokio::test]
    async fn a_rehearsal_sends_no_probe_and_says_so() {
        let (status, reason, outcome, smoke) = test_traffic_hook(&policy_with_probe("fail")).await;
        assert_eq!(outcome, GateOutcome::Inconclusive);
        assert!(
            smoke.starts_with("probe GET http://test.internal.example.com/health was not sent: a rehearsal sends no HTTP probes, and scenario \"latency-regression\" says nothing about probe answers at minute 7"),
            "{smoke}"
        );
        // Unknown is not healthy: under the default on_inconclusive the hook fails.
        assert_eq!(status, LifecycleStatus::Failed, "{reason}");
        let (status, reason, _, _) = test_traffic_hook(&policy_with_probe("pass")).await;
        assert_eq!(status, LifecycleStatus::Succeeded, "{reason}");
        assert!(
            reason.contains("1 inconclusive, allowed by on_inconclusive: pass"),
            "{reason}"
        );
    }
}
