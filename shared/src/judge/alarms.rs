//! Alarm gates: CloudWatch alarms that must not be in ALARM.
//!
//! An alarm that does not exist is an `Error`, not a pass: a typo in an alarm
//! name must never silently disarm the gate.

use super::{GateOutcome, GateResult};
use crate::evidence::{AlarmStates, EvidenceError};
use crate::policy::{AlarmCheck, Gate};

/// Judges one alarm gate.
pub fn judge(
    gate: &Gate,
    check: &AlarmCheck,
    states: Option<&Result<AlarmStates, EvidenceError>>,
) -> GateResult {
    let (outcome, reason) = match states {
        None => (
            GateOutcome::Error,
            "no alarm evidence was collected for this gate".to_string(),
        ),
        Some(Err(error)) => (GateOutcome::Error, format!("evidence unavailable: {error}")),
        Some(Ok(states)) => {
            let mut worst = GateOutcome::Pass;
            let mut notes = Vec::new();
            for name in &check.names {
                let (outcome, note) = match states.get(name) {
                    None => (GateOutcome::Error, format!("alarm {name:?} does not exist")),
                    Some(alarm) => match alarm_outcome(&alarm.state) {
                        GateOutcome::Pass => (GateOutcome::Pass, String::new()),
                        outcome => (outcome, describe(name, alarm)),
                    },
                };
                worst = worst.max(outcome);
                if !note.is_empty() {
                    notes.push(note);
                }
            }
            let mut watched = check.names.len();
            if let Some(prefix) = &check.prefix {
                let matching: Vec<(&String, &crate::evidence::AlarmObservation)> = states
                    .iter()
                    .filter(|(name, _)| name.starts_with(prefix.as_str()))
                    .filter(|(name, _)| !check.names.contains(name))
                    .collect();
                watched += matching.len();
                if matching.is_empty()
                    && !check.names.iter().any(|n| n.starts_with(prefix.as_str()))
                {
                    worst = worst.max(GateOutcome::Error);
                    notes.push(format!("no alarm name starts with {prefix:?}"));
                }
                for (name, alarm) in matching {
                    let outcome = alarm_outcome(&alarm.state);
                    worst = worst.max(outcome);
                    if outcome != GateOutcome::Pass {
                        notes.push(describe(name, alarm));
                    }
                }
            }
            let reason = if notes.is_empty() {
                format!("all {watched} alarms OK")
            } else {
                notes.join("; ")
            };
            (worst, reason)
        }
    };
    GateResult::new(&gate.name, gate.severity, outcome, reason)
}

fn alarm_outcome(state: &str) -> GateOutcome {
    match state {
        "OK" => GateOutcome::Pass,
        "ALARM" => GateOutcome::Fail,
        _ => GateOutcome::Inconclusive,
    }
}

fn describe(name: &str, alarm: &crate::evidence::AlarmObservation) -> String {
    match alarm.state.as_str() {
        "ALARM" => format!(
            "alarm {name:?} is in ALARM ({})",
            alarm.reason.as_deref().unwrap_or("no reason given")
        ),
        other => format!("alarm {name:?} is {other}"),
    }
}
