//! Alarm gates: CloudWatch alarms that must not be in ALARM.
//!
//! An alarm that does not exist is an `Error`, not a pass: a typo in an alarm
//! name must never silently disarm the gate.
//!
//! The reason names at most [`NAMED_ALARMS`] alarms, the worst first, and
//! counts the rest, and quotes each alarm's state reason escaped and cut: an
//! `alarm_prefix` may match hundreds of alarms, each with up to 1,023
//! characters of reason written by whoever set its state, and the decision
//! record must fit one log event (`policy::limits`).

use super::{GateOutcome, GateResult};
use crate::evidence::{AlarmStates, EvidenceError};
use crate::policy::limits::REASON_BYTES;
use crate::policy::{AlarmCheck, Gate};
use crate::vocab::text::escaped_within;

/// The most alarms one reason names; the others are counted.
const NAMED_ALARMS: usize = 3;
/// How much of an alarm's state reason is quoted, in bytes.
const ALARM_REASON_BYTES: usize = 80;

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
                    notes.push((outcome, note));
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
                    notes.push((
                        GateOutcome::Error,
                        format!("no alarm name starts with {prefix:?}"),
                    ));
                }
                for (name, alarm) in matching {
                    let outcome = alarm_outcome(&alarm.state);
                    worst = worst.max(outcome);
                    if outcome != GateOutcome::Pass {
                        notes.push((outcome, describe(name, alarm)));
                    }
                }
            }
            let reason = if notes.is_empty() {
                format!("all {watched} alarms OK")
            } else {
                named_and_counted(notes, watched)
            };
            (worst, escaped_within(&reason, REASON_BYTES))
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
            escaped_within(
                alarm.reason.as_deref().unwrap_or("no reason given"),
                ALARM_REASON_BYTES
            )
        ),
        other => format!(
            "alarm {:?} is {}",
            name,
            escaped_within(other, ALARM_REASON_BYTES)
        ),
    }
}

/// The notes, worst first: [`NAMED_ALARMS`] of them written out and, when
/// there are more, their count first (so cutting the reason to its bound
/// never loses it).
fn named_and_counted(mut notes: Vec<(GateOutcome, String)>, watched: usize) -> String {
    // Stable: alarms of the same outcome keep their order (policy, then name).
    notes.sort_by_key(|note| std::cmp::Reverse(note.0));
    let total = notes.len();
    let named = notes
        .into_iter()
        .take(NAMED_ALARMS)
        .map(|(_, note)| note)
        .collect::<Vec<_>>()
        .join("; ");
    if total > NAMED_ALARMS {
        format!(
            "{total} of the {watched} alarms watched are not OK, the first {NAMED_ALARMS}: {named}"
        )
    } else {
        named
    }
}
