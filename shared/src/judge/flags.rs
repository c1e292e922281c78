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

/// Why a flag has no state in the evidence.
enum NoState {
    /// Its profile was not read, or could not be: why.
    Unreadable(String),
    /// The profile was read and has no such key: why.
    Missing(String),
}

/// The state of `flag` in the evidence, or why there is none.
fn read(flag: &FlagRef, flags: &FlagResults) -> Result<FlagState, NoState> {
    match flags.get(&flag.profile) {
        None => Err(NoState::Unreadable(format!(
            "profile {} was not read",
            flag.profile
        ))),
        Some(Err(error)) => Err(NoState::Unreadable(format!(
            "flag {flag} could not be read: {error}"
        ))),
        Some(Ok(values)) => match values.get(&flag.key) {
            Some(enabled) => Ok(FlagState::of(*enabled)),
            None => Err(NoState::Missing(format!(
                "profile {} has no flag {:?} ({} flags deployed): check the key",
                flag.profile,
                flag.key,
                values.len()
            ))),
        },
    }
}

/// Judges one flag gate.
pub fn judge(gate: &Gate, check: &FlagCheck, flags: &FlagResults) -> GateResult {
    let observed = read(&check.flag, flags);
    let (outcome, reason) = match &observed {
        // Unknown is never a pass: an error, as a missing alarm is.
        Err(NoState::Unreadable(reason) | NoState::Missing(reason)) => {
            (GateOutcome::Error, reason.clone())
        }
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
                Err(NoState::Missing(reason)) => (
                    GateOutcome::Fail,
                    format!("the release is not behind its kill switch: {reason}"),
                ),
                Err(NoState::Unreadable(reason)) => (GateOutcome::Error, reason),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{EvidenceError, FlagValues};
    use crate::policy::{FlagProfile, GateCheck};

    fn flag(key: &str) -> FlagRef {
        FlagRef {
            profile: FlagProfile {
                application: "shop".into(),
                environment: "prod".into(),
                profile: "flags".into(),
            },
            key: key.into(),
        }
    }

    fn gate(key: &str, expect: FlagState) -> (Gate, FlagCheck) {
        let check = FlagCheck {
            flag: flag(key),
            expect,
        };
        let gate = Gate {
            name: "flag".into(),
            description: None,
            severity: Severity::Critical,
            dry_run: false,
            check: GateCheck::Flag(check.clone()),
        };
        (gate, check)
    }

    fn served(read: Result<&[(&str, bool)], EvidenceError>) -> FlagResults {
        let values = read.map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<FlagValues>()
        });
        [(flag("x").profile, values)].into_iter().collect()
    }

    #[test]
    fn only_a_flag_read_in_the_expected_state_passes() {
        let throttled = EvidenceError::Api {
            service: "AppConfig",
            operation: "GetLatestConfiguration",
            message: "ThrottlingException: Rate exceeded".into(),
        };
        let table: Vec<(&str, FlagState, FlagResults, GateOutcome)> = vec![
            (
                "on",
                FlagState::Enabled,
                served(Ok(&[("on", true)])),
                GateOutcome::Pass,
            ),
            (
                "on",
                FlagState::Disabled,
                served(Ok(&[("on", true)])),
                GateOutcome::Fail,
            ),
            (
                "off",
                FlagState::Disabled,
                served(Ok(&[("off", false)])),
                GateOutcome::Pass,
            ),
            (
                "gone",
                FlagState::Disabled,
                served(Ok(&[("on", true)])),
                GateOutcome::Error,
            ),
            (
                "on",
                FlagState::Enabled,
                served(Err(throttled)),
                GateOutcome::Error,
            ),
            (
                "on",
                FlagState::Enabled,
                FlagResults::new(),
                GateOutcome::Error,
            ),
        ];
        for (key, expect, flags, want) in table {
            let (gate, check) = gate(key, expect);
            let result = judge(&gate, &check, &flags);
            assert_eq!(result.outcome, want, "{key} {expect}: {}", result.reason);
        }
    }

    #[test]
    fn the_preflight_fails_a_release_not_behind_its_kill_switch() {
        let mut evidence = Evidence {
            now: 0,
            metrics: None,
            alarms: None,
            preflight: Default::default(),
            history: Default::default(),
            probes: Default::default(),
            flags: served(Ok(&[("on", true)])),
        };
        evidence.preflight.flags = [flag("on"), flag("gone")].into_iter().collect();
        let results = preflight(&evidence);
        let outcomes: Vec<(&str, GateOutcome)> = results
            .iter()
            .map(|r| (r.name.as_str(), r.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("preflight:kill-switch:gone", GateOutcome::Fail),
                ("preflight:kill-switch:on", GateOutcome::Pass)
            ]
        );
        evidence.flags = served(Err(EvidenceError::TimedOut { budget_ms: 1 }));
        assert!(preflight(&evidence)
            .iter()
            .all(|r| r.outcome == GateOutcome::Error));
    }
}
