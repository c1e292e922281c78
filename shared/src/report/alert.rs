//! The SNS message a person gets when a hook reports `Failed`.
//!
//! Written for the on-call engineer reading it on a phone: which deployment
//! (application, group), which hook, which gates blocked with what they saw
//! against what they allow, and what CodeDeploy does next. Sent only for a
//! `Failed` that CodeDeploy accepted: a duplicate delivery of the same event
//! (already completed) must not page twice, and a report that failed is
//! retried by Lambda, whose retry will alert if it gets through.

use super::kill_switch::FlagOutcome;
use super::{rule_text, threshold_text, DecisionRecord, ReportSummary};
use crate::judge::{GateResult, LifecycleStatus};
use crate::policy::ThresholdUnit;
use crate::vocab::stamp;
use std::fmt::Write as _;
use std::future::Future;

/// Environment variable with the SNS topic ARN; unset or empty: no alerts.
pub const ALERT_TOPIC_VAR: &str = "GATE_ALERT_TOPIC_ARN";

/// An alert, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// SNS subject (e-mail subject line): ASCII, at most 100 characters.
    pub subject: String,
    /// The body, plain text.
    pub message: String,
}

/// Where alerts go.
pub trait AlertSink: Sync {
    /// Publishes one alert.
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// An SNS topic through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    /// Publishes to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: &str) -> Self {
        SnsAlerts {
            client,
            topic_arn: topic_arn.to_string(),
        }
    }
}

impl AlertSink for SnsAlerts {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), String> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::evidence::aws_error(&e))
    }
}

/// The gates that made the hook fail, as the judge marked them.
fn blocking(record: &DecisionRecord) -> Vec<&GateResult> {
    record.gates.iter().filter(|g| g.blocking).collect()
}

/// A value in the threshold's terms: a percentage threshold shows percentages.
fn show(value: f64, percent: bool) -> String {
    if percent {
        format!("{}%", round(value * 100.0))
    } else {
        round(value)
    }
}

fn round(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The alert for `record`, when one is due: the hook reported `Failed` and
/// CodeDeploy accepted it.
pub fn alert_for(record: &DecisionRecord) -> Option<Alert> {
    if record.status != LifecycleStatus::Failed || record.report != ReportSummary::Accepted {
        return None;
    }
    let blocked = blocking(record);
    let names: Vec<&str> = blocked.iter().map(|g| g.name.as_str()).collect();
    let deployment = record.deployment.as_ref();
    let application = deployment
        .and_then(|d| d.application_name.as_deref())
        .unwrap_or("unknown application");
    let group = deployment
        .and_then(|d| d.deployment_group_name.as_deref())
        .unwrap_or("unknown group");

    let what = if names.is_empty() {
        "failed".to_string()
    } else {
        format!("failed on {}", names.join(", "))
    };
    let subject = format!(
        "Rollback: {} {} {} {what}",
        application, record.deployment_id, record.hook
    );
    let subject: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(100)
        .collect();

    let mut m = String::new();
    let _ = writeln!(
        m,
        "The {} gate FAILED deployment {} of application {application}, deployment group {group}.",
        record.hook, record.deployment_id
    );
    let _ = writeln!(m);
    let _ = writeln!(
        m,
        "What happens now: CodeDeploy has been told Failed for this hook. It stops the deployment and, \
         with automatic rollback on failure enabled for the group (the usual blue/green setup), shifts \
         traffic back to the original version. Nothing needs to be done to start the rollback; watch it \
         in the CodeDeploy console and find out why the new version broke the gate before deploying again."
    );
    let _ = writeln!(m);
    let _ = writeln!(m, "Why: {}", record.reason);
    if !blocked.is_empty() {
        let _ = writeln!(m);
        let _ = writeln!(m, "Gates that blocked (observed vs threshold):");
        for gate in &blocked {
            let _ = writeln!(m, "- {} [{}]: {}", gate.name, gate.outcome, gate.reason);
            // Values in percent when the gate's absolute threshold is one.
            let percent = gate
                .threshold_figures()
                .and_then(|f| f.threshold.absolute())
                .is_some_and(|t| t.unit == ThresholdUnit::Percent);
            if let Some(threshold) = threshold_text(gate) {
                let judged: Vec<String> = gate
                    .observations()
                    .filter(|o| o.judged)
                    .map(|o| {
                        let value = o.value.map_or("no data".into(), |v| show(v, percent));
                        if o.breaching {
                            format!("{value} (breach)")
                        } else {
                            value
                        }
                    })
                    .collect();
                let _ = writeln!(
                    m,
                    "    threshold: breach when {threshold}{}",
                    rule_text(gate)
                        .map(|r| format!(", {r}"))
                        .unwrap_or_default()
                );
                if !judged.is_empty() {
                    let _ = writeln!(m, "    observed, oldest first: {}", judged.join(", "));
                }
            }
            if let Some(window) = gate.window() {
                let _ = writeln!(
                    m,
                    "    window: {} to {}",
                    stamp(window.start),
                    stamp(window.end)
                );
            }
        }
    }
    let others: Vec<String> = record
        .gates
        .iter()
        .filter(|g| !blocked.iter().any(|b| std::ptr::eq(*b, *g)))
        .map(|g| match g.not_judged {
            Some(why) => format!("{} not judged: {why}", g.name),
            None => format!("{} {}", g.name, g.outcome),
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(m, "Other gates: {}", others.join(", "));
    }
    if let Some(kill_switch) = &record.kill_switch {
        let _ = writeln!(m);
        if kill_switch.failed() > 0 {
            let _ = writeln!(
                m,
                "KILL SWITCH FAILED for {} of {} flags: turn them off by hand (AppConfig console or CLI); it is not retried.",
                kill_switch.failed(),
                kill_switch.flags.len()
            );
        }
        let _ = writeln!(m, "Kill switch (feature flags):");
        for flag in &kill_switch.flags {
            let what = match &flag.outcome {
                FlagOutcome::TurnedOff {
                    version,
                    deployment,
                    strategy,
                    ..
                } => format!("turned off (version {version}, deployment {deployment}, {strategy})"),
                FlagOutcome::AlreadyOff { version } => {
                    format!("already off in the deployed version {version}")
                }
                FlagOutcome::WouldTurnOff => "would be turned off (dry run)".into(),
                FlagOutcome::NotAttempted => "not attempted".into(),
                FlagOutcome::Failed { error } => format!("NOT turned off: {error}"),
            };
            let _ = writeln!(m, "- {}: {what}", flag.flag);
        }
    }
    let _ = writeln!(m);
    let _ = writeln!(m, "Deployment: {}", record.deployment_id);
    if let Some(config) = deployment.and_then(|d| d.deployment_config_name.as_deref()) {
        let _ = writeln!(m, "Deployment configuration: {config}");
    }
    let _ = writeln!(
        m,
        "Hook: {} (execution {})",
        record.hook, record.lifecycle_event_hook_execution_id
    );
    let _ = writeln!(m, "Decided at: {}", stamp(record.evaluated_at));
    let _ = writeln!(
        m,
        "Policy: {} ({})",
        record.policy.source, record.policy.digest
    );
    let _ = writeln!(
        m,
        "Decision record: the hook's log group, filter {{ $.deployment_id = \"{}\" }}; `gatectl audit verify` checks its chain.",
        record.deployment_id
    );
    Some(Alert {
        subject,
        message: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::deployment::DeploymentInfo;
    use crate::judge::{
        GateFigures, GateOutcome, GateSeries, Observation, Rule, ThresholdFigure, ThresholdFigures,
    };
    use crate::policy::{Comparison, Severity, Threshold};
    use crate::report::{PolicyRef, RECORD_KIND};
    use crate::vocab::hook::Hook;
    use crate::vocab::TimeRange;

    /// A `>` threshold gate's figures, 3 of the last 5 one-minute periods.
    fn threshold_figures(value: f64, unit: ThresholdUnit) -> ThresholdFigures {
        ThresholdFigures::new(
            ThresholdFigure {
                comparison: Comparison::GreaterThan,
                limit: Threshold { value, unit },
                baseline: None,
            },
            Rule {
                datapoints_to_alarm: 3,
                evaluation_periods: 5,
                period_secs: 60,
            },
            TimeRange {
                start: 1_795_428_000,
                end: 1_795_428_300,
            },
        )
    }

    fn failed_record() -> DecisionRecord {
        let mut p95 = GateResult::new(
            "latency-p95",
            Severity::Critical,
            GateOutcome::Fail,
            "5 of the last 5 periods > 1 (fails at 3); worst 1.6".into(),
        );
        let observations: Vec<Observation> = (0..5)
            .map(|i| Observation {
                baseline: None,
                timestamp: 1_795_428_000 + 60 * i,
                value: Some(1.2 + 0.1 * i as f64),
                breaching: true,
                judged: true,
            })
            .collect();
        let mut figures = threshold_figures(1.0, ThresholdUnit::Plain);
        figures.series = Some(GateSeries::from_observations(60, &observations));
        p95.figures = GateFigures::Threshold(figures);
        let mut errors = GateResult::new(
            "error-rate",
            Severity::Critical,
            GateOutcome::Fail,
            "2 of 5 > 1%".into(),
        );
        let mut figures = threshold_figures(0.01, ThresholdUnit::Percent);
        figures.series = Some(GateSeries::from_observations(
            60,
            &[Observation {
                baseline: None,
                timestamp: 1_795_428_000,
                value: Some(0.034),
                breaching: true,
                judged: true,
            }],
        ));
        errors.figures = GateFigures::Threshold(figures);
        let healthy = GateResult::new(
            "healthy-hosts",
            Severity::Critical,
            GateOutcome::Pass,
            "fine".into(),
        );
        let advisory = GateResult::new(
            "test-error-rate",
            Severity::Warning,
            GateOutcome::Fail,
            "thin".into(),
        );
        DecisionRecord {
            kill_switch: None,
            discovery: None,
            discovery_error: None,
            record: RECORD_KIND,
            deployment_id: "d-ROLLME".into(),
            lifecycle_event_hook_execution_id: "exec-9".into(),
            hook: Hook::AfterAllowTraffic,
            status: LifecycleStatus::Failed,
            dry_run: None,
            reason: "2 of 3 critical gates blocked".into(),
            switches: None,
            switch_error: None,
            gates: crate::judge::combine(
                crate::policy::InconclusiveAction::Fail,
                vec![errors, p95, healthy, advisory],
            )
            .gates,
            report: ReportSummary::Accepted,
            deployment: Some(DeploymentInfo {
                application_name: Some("web".into()),
                deployment_group_name: Some("web-prod".into()),
                deployment_config_name: Some("CodeDeployDefault.ECSCanary10Percent5Minutes".into()),
                compute_platform: Some("ECS".into()),
                status: Some("InProgress".into()),
                creator: Some("user".into()),
                create_time: None,
            }),
            deployment_error: None,
            policy: PolicyRef {
                source: "embedded default".into(),
                digest: "sha256:00".into(),
            },
            evaluated_at: 1_795_428_240,
            elapsed_ms: 120,
            analysis: None,
            function_version: None,
            gate_version: "0.1.0",
            omitted: None,
            audit: None,
        }
    }

    #[test]
    fn a_failed_hook_names_gates_figures_deployment_and_rollback() {
        let alert = alert_for(&failed_record()).unwrap();
        assert_eq!(
            alert.subject,
            "Rollback: web d-ROLLME AfterAllowTraffic failed on error-rate, latency-p95"
        );
        let m = &alert.message;
        for expected in [
            "The AfterAllowTraffic gate FAILED deployment d-ROLLME of application web, deployment group web-prod.",
            "shifts traffic back to the original version",
            "- latency-p95 [fail]: 5 of the last 5 periods > 1 (fails at 3); worst 1.6",
            "threshold: breach when > 1, 3 of the last 5 periods of 60s",
            "window: 2026-11-23T10:00:00Z to 2026-11-23T10:05:00Z",
            "observed, oldest first: 1.2 (breach), 1.3 (breach), 1.4 (breach), 1.5 (breach), 1.6 (breach)",
            "- error-rate [fail]: 2 of 5 > 1%",
            "observed, oldest first: 3.4% (breach)",
            "Other gates: healthy-hosts pass, test-error-rate fail",
            "Deployment configuration: CodeDeployDefault.ECSCanary10Percent5Minutes",
            "Hook: AfterAllowTraffic (execution exec-9)",
        ] {
            assert!(m.contains(expected), "missing {expected:?} in:\n{m}");
        }
    }

    /// The alert names the gates the judge marked blocking, and no other: an
    /// inconclusive critical gate allowed by `on_inconclusive: pass` did not
    /// make the hook fail, so it is not named as a cause (it was, before the
    /// alert read the judge's flag instead of its own rule).
    #[test]
    fn the_alert_names_only_the_gates_the_judge_marked_blocking() {
        let mut record = failed_record();
        let thin = GateResult::new(
            "latency-vs-baseline",
            Severity::Critical,
            GateOutcome::Inconclusive,
            "sample too small to judge".into(),
        );
        let mut gates: Vec<GateResult> = record.gates.drain(..).collect();
        gates.push(thin);
        let verdict = crate::judge::combine(crate::policy::InconclusiveAction::Pass, gates);
        assert_eq!(verdict.status, LifecycleStatus::Failed);
        record.gates = verdict.gates;
        let alert = alert_for(&record).unwrap();
        assert_eq!(
            alert.subject,
            "Rollback: web d-ROLLME AfterAllowTraffic failed on error-rate, latency-p95"
        );
        assert!(
            !alert
                .message
                .contains("- latency-vs-baseline [inconclusive]"),
            "{}",
            alert.message
        );
        assert!(
            alert.message.contains("latency-vs-baseline inconclusive"),
            "listed among the other gates: {}",
            alert.message
        );
        // A gate with no baseline is named as not judged, not as an outcome.
        let mut record = failed_record();
        let mut shadow = GateResult::new(
            "latency-vs-baseline",
            Severity::Critical,
            GateOutcome::Inconclusive,
            "the baseline had no datapoint in the window".into(),
        );
        shadow.dry_run = true;
        shadow.not_judged = Some(crate::judge::NotJudged::NoBaseline);
        record.gates.push(shadow);
        let alert = alert_for(&record).unwrap();
        assert!(
            alert
                .message
                .contains("latency-vs-baseline not judged: no baseline"),
            "{}",
            alert.message
        );
    }

    #[test]
    fn no_alert_for_a_success_a_duplicate_or_an_undelivered_report() {
        let mut record = failed_record();
        record.status = LifecycleStatus::Succeeded;
        assert_eq!(alert_for(&record), None);
        let mut record = failed_record();
        record.report = ReportSummary::AlreadyCompleted;
        assert_eq!(alert_for(&record), None);
        record.report = ReportSummary::Failed("throttled".into());
        assert_eq!(alert_for(&record), None);
    }

    #[test]
    fn the_subject_fits_sns() {
        let mut record = failed_record();
        record.deployment = None;
        record
            .gates
            .iter_mut()
            .for_each(|g| g.name = format!("gate-ü-{}", "x".repeat(40)));
        let alert = alert_for(&record).unwrap();
        assert!(alert.subject.len() <= 100, "{}", alert.subject);
        assert!(alert
            .subject
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' '));
        assert!(alert
            .message
            .contains("of application unknown application, deployment group unknown group"));
    }
}
