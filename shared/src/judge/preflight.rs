//! Preflight checks (BeforeInstall): can the other hooks' gates decide at all?
//!
//! A gate whose metric does not exist would sit inconclusive at AfterAllowTraffic,
//! after production traffic has already moved. Checking existence before anything
//! moves turns that into an early, cheap failure. A counter that CloudWatch only
//! publishes when non-zero (5XX counts) may legitimately be absent, so its absence
//! is a warning; a gauge, a denominator or a sample metric must exist.

use super::{GateOutcome, GateResult};
use crate::evidence::Evidence;
use crate::policy::Severity;

/// One result per metric and per alarm the other hooks rely on.
pub fn judge(evidence: &Evidence) -> Vec<GateResult> {
    let mut results = Vec::new();
    for (metric, (blocking, exists)) in &evidence.preflight.metrics {
        let dims: Vec<String> = metric
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let what = format!(
            "{}/{} [{}]",
            metric.namespace,
            metric.metric_name,
            dims.join(", ")
        );
        let severity = if *blocking {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let (outcome, reason) = match exists {
            Ok(true) => (GateOutcome::Pass, format!("{what} exists")),
            Ok(false) => (
                GateOutcome::Fail,
                format!("{what} is not in CloudWatch (no datapoint in the last two weeks with exactly these dimensions): check the dimension values and the namespace"),
            ),
            Err(error) => (GateOutcome::Error, format!("could not check {what}: {error}")),
        };
        results.push(GateResult::new(
            &format!("preflight:{}", metric.metric_name),
            severity,
            outcome,
            reason,
        ));
    }
    for name in &evidence.preflight.alarms {
        let (outcome, reason) = match &evidence.alarms {
            Some(Ok(states)) if states.contains_key(name) => {
                (GateOutcome::Pass, format!("alarm {name:?} exists"))
            }
            Some(Ok(_)) => (GateOutcome::Fail, format!("alarm {name:?} does not exist")),
            Some(Err(error)) => (
                GateOutcome::Error,
                format!("could not check alarm {name:?}: {error}"),
            ),
            None => (
                GateOutcome::Error,
                format!("alarm {name:?} was not looked up"),
            ),
        };
        results.push(GateResult::new(
            &format!("preflight:alarm:{name}"),
            Severity::Critical,
            outcome,
            reason,
        ));
    }
    results
}
