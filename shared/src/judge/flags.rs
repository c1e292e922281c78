//! Flag gates: an AWS AppConfig feature flag must exist and be in the
//! expected state; and the preflight's check that the release is behind a
//! kill switch (every kill-switch flag of the other hooks exists).
//!
//! Only a flag that was read and found in the expected state passes. A
//! profile that could not be read (throttled, not found, nothing deployed)
//! and a key the profile does not define are errors, as a missing alarm is:
//! a typo in a flag key must never read as a pass.

use super::{GateFigures, GateOutcome, GateResult};
use crate::evidence::{Evidence, FlagResults};
use crate::policy::{FlagCheck, FlagRef, FlagState, Gate, Severity};
use serde::Serialize;

/// What a flag gate was held to and what was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagFigures {
    /// The flag.
    pub flag: FlagRef,
    /// The state required.
    pub expected: FlagState,
    /// The state read; `None` when it could not be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<FlagState>,
}

/// The state of `flag` in the evidence, or the outcome and reason why
/// there is none.
fn read(flag: &FlagRef, flags: &FlagResults) -> Result<FlagState, (GateOutcome, String)> {
    match flags.get(&flag.profile) {
        None => Err((
            GateOutcome::Error,
            format!("profile {} was not read", flag.profile),
        )),
        Some(Err(error)) => Err((
            GateOutcome::Error,
            format!("flag {flag} could not be read: {error}"),
        )),
        Some(Ok(values)) => match values.get(&flag.key) {
            Some(enabled) => Ok(FlagState::of(*enabled)),
            None => Err((
                GateOutcome::Error,
                format!(
                    "profile {} has no flag {:?} ({} flags deployed): check the key",
                    flag.profile,
                    flag.key,
                    values.len()
                ),
            )),
        },
    }
}

/// Judges one flag gate.
pub fn judge(gate: &Gate, check: &FlagCheck, flags: &FlagResults) -> GateResult {
    let observed = read(&check.flag, flags);
    let (outcome, reason) = match &observed {
        Err((outcome, reason)) => (*outcome, reason.clone()),
        Ok(state) if *state == check.expect => {
            (GateOutcome::Pass, format!("flag {} is {state}", check.flag))
        }
        Ok(state) => (
            GateOutcome::Fail,
            format!("flag {} is {state}, expected {}", check.flag, check.expect),
        ),
    };
    let mut result = GateResult::new(&gate.name, gate.severity, outcome, reason);
    result.figures = GateFigures::Flag(Box::new(FlagFigures {
        flag: check.flag.clone(),
        expected: check.expect,
        observed: observed.ok(),
    }));
    result
}

/// The preflight's kill-switch checks: one critical result per flag.
pub fn preflight(evidence: &Evidence) -> Vec<GateResult> {
    evidence
        .preflight
        .flags
        .iter()
        .map(|flag| {
            let (outcome, reason) = match read(flag, &evidence.flags) {
                Ok(state) => (
                    GateOutcome::Pass,
                    format!("kill-switch flag {flag} exists ({state})"),
                ),
                // Read, but no such key: the release is not behind it.
                Err((GateOutcome::Error, reason))
                    if !reason.contains("could not be read")
                        && !reason.contains("was not read") =>
                {
                    (
                        GateOutcome::Fail,
                        format!("the release is not behind its kill switch: {reason}"),
                    )
                }
                Err((outcome, reason)) => (outcome, reason),
            };
            GateResult::new(
                &format!("preflight:kill-switch:{}", flag.key),
                Severity::Critical,
                outcome,
                reason,
            )
        })
        .collect()
}
