//! Bake analysis: watching a hook's gates for longer than one Lambda run.
//!
//! CodeDeploy waits up to an hour for a hook; a Lambda run stops at 15 minutes.
//! A hook with an `analysis` section measures (collects and judges) every
//! `interval` for `duration`, as Argo Rollouts' analysis runs do, stops early as
//! soon as the evidence is decisive, and hands its state to the next run
//! (an asynchronous invocation of itself, with the state in the payload) before
//! its own deadline. The state is small, versioned and validated when read back.
//!
//! This module is the pure part: the state, its validation, and [`next_step`],
//! which decides from the measurements so far and the time whether to measure,
//! when, or to conclude. The loop that sleeps, measures and hands off lives in
//! [`crate::run`].

use crate::judge::{GateOutcome, LifecycleStatus, Verdict};
pub use crate::policy::{AnalysisPolicy, HARD_LIMIT_SECS};
use serde::{Deserialize, Serialize};

/// The state format this build writes and reads.
pub const STATE_VERSION: u32 = 1;
/// The most measurements a state may carry (a payload must stay small).
const MAX_MEASUREMENTS: usize = 720;

/// One measurement, as carried in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    /// When (epoch seconds).
    pub at: i64,
    /// What it found: the worst of the blocking gates, a failure counting
    /// before an error (see [`classify`]).
    pub outcome: GateOutcome,
    /// The verdict's one-line reason.
    pub reason: String,
}

/// What one run hands to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Identifies this analysis among duplicate deliveries of the same event.
    pub chain: String,
    /// When the first run started (epoch seconds).
    pub started_at: i64,
    /// How many runs have carried the analysis so far.
    pub runs: u32,
    /// Every measurement so far, oldest first.
    pub measurements: Vec<Measurement>,
}

/// Why a state read back from a payload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not the shape this build writes.
    #[error("the analysis state is not readable: {0}")]
    Malformed(String),
    /// Written by an incompatible build.
    #[error("the analysis state has version {found}; this build reads version {STATE_VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// Values that cannot be right.
    #[error("the analysis state is inconsistent: {0}")]
    Inconsistent(String),
}

impl AnalysisState {
    /// A fresh analysis.
    pub fn new(chain: String, started_at: i64) -> Self {
        AnalysisState {
            version: STATE_VERSION,
            chain,
            started_at,
            runs: 1,
            measurements: Vec::new(),
        }
    }

    /// Reads and validates a state from a continuation payload.
    pub fn from_json(value: &serde_json::Value, now: i64) -> Result<Self, StateError> {
        let version = value["version"].as_u64().unwrap_or(0) as u32;
        if version != STATE_VERSION {
            return Err(StateError::Version { found: version });
        }
        let state: AnalysisState = serde_json::from_value(value.clone())
            .map_err(|e| StateError::Malformed(e.to_string()))?;
        if state.chain.is_empty() || state.chain.len() > 128 {
            return Err(StateError::Inconsistent(
                "the chain id must be 1 to 128 characters".into(),
            ));
        }
        if state.started_at > now + 300 {
            return Err(StateError::Inconsistent(format!(
                "it started in the future ({})",
                state.started_at
            )));
        }
        if state.measurements.len() > MAX_MEASUREMENTS {
            return Err(StateError::Inconsistent(format!(
                "{} measurements, at most {MAX_MEASUREMENTS}",
                state.measurements.len()
            )));
        }
        let ordered = state.measurements.windows(2).all(|w| w[0].at <= w[1].at);
        let after_start = state.measurements.iter().all(|m| m.at >= state.started_at);
        if !ordered || !after_start {
            return Err(StateError::Inconsistent(
                "measurements out of order or before the start".into(),
            ));
        }
        Ok(state)
    }

    /// The state as a payload value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Take the next measurement at this instant (possibly already due).
    MeasureAt(i64),
    /// The analysis is over: report this.
    Conclude(LifecycleStatus, String),
}

/// Classifies a verdict as a measurement outcome, from the gates the judge
/// marked blocking.
pub fn classify(verdict: &Verdict) -> GateOutcome {
    let blocking: Vec<GateOutcome> = verdict
        .gates
        .iter()
        .filter(|g| g.blocking)
        .map(|g| g.outcome)
        .collect();
    if blocking.contains(&GateOutcome::Fail) {
        GateOutcome::Fail
    } else if blocking.contains(&GateOutcome::Error) {
        GateOutcome::Error
    } else if blocking.contains(&GateOutcome::Inconclusive)
        || verdict.status == LifecycleStatus::Failed
    {
        GateOutcome::Inconclusive
    } else {
        GateOutcome::Pass
    }
}

/// Decides, purely, what an analysis does next at `now`.
pub fn next_step(policy: &AnalysisPolicy, state: &AnalysisState, now: i64) -> Next {
    let m = &state.measurements;
    let count = |o: GateOutcome| m.iter().filter(|x| x.outcome == o).count() as u32;
    let failures = count(GateOutcome::Fail);
    let inconclusive = count(GateOutcome::Inconclusive);
    let consecutive_errors = m
        .iter()
        .rev()
        .take_while(|x| x.outcome == GateOutcome::Error)
        .count() as u32;
    let last_reason = || m.last().map(|x| x.reason.clone()).unwrap_or_default();
    if failures > policy.failure_limit {
        return Next::Conclude(
            LifecycleStatus::Failed,
            format!(
                "{failures} failed measurements, more than the {} allowed; last: {}",
                policy.failure_limit,
                last_reason()
            ),
        );
    }
    if consecutive_errors > policy.consecutive_error_limit {
        return Next::Conclude(
            LifecycleStatus::Failed,
            format!("{consecutive_errors} measurement errors in a row, more than the {} allowed; last: {}", policy.consecutive_error_limit, last_reason()),
        );
    }
    if inconclusive > policy.inconclusive_limit {
        return Next::Conclude(
            LifecycleStatus::Failed,
            format!(
                "{inconclusive} inconclusive measurements, more than the {} allowed; last: {}",
                policy.inconclusive_limit,
                last_reason()
            ),
        );
    }
    let first = state.started_at + policy.initial_delay_secs;
    let planned = policy.duration_secs / policy.interval_secs.max(1) + 1;
    let taken = m.len() as i64;
    if taken >= planned {
        return Next::Conclude(
            LifecycleStatus::Succeeded,
            format!(
                "analysis passed: {taken} measurements over {}s ({} failed, {} inconclusive, {} errors)",
                policy.duration_secs,
                failures,
                inconclusive,
                count(GateOutcome::Error)
            ),
        );
    }
    if now >= state.started_at + HARD_LIMIT_SECS {
        return Next::Conclude(
            LifecycleStatus::Failed,
            format!(
                "the analysis ran out of time: {taken} of {planned} measurements {}s after it started, and CodeDeploy gives a hook one hour",
                now - state.started_at
            ),
        );
    }
    Next::MeasureAt(first + taken * policy.interval_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_428_000;

    fn policy() -> AnalysisPolicy {
        AnalysisPolicy {
            duration_secs: 30 * 60,
            interval_secs: 60,
            initial_delay_secs: 0,
            failure_limit: 0,
            consecutive_error_limit: 2,
            inconclusive_limit: 3,
        }
    }

    fn state(outcomes: &[GateOutcome]) -> AnalysisState {
        let mut state = AnalysisState::new("c1".into(), T0);
        for (i, &outcome) in outcomes.iter().enumerate() {
            state.measurements.push(Measurement {
                at: T0 + 60 * i as i64,
                outcome,
                reason: format!("m{i}"),
            });
        }
        state
    }

    use GateOutcome::*;

    #[test]
    fn measures_every_interval_then_passes_after_the_full_duration() {
        assert_eq!(next_step(&policy(), &state(&[]), T0), Next::MeasureAt(T0));
        assert_eq!(
            next_step(&policy(), &state(&[Pass, Pass]), T0 + 90),
            Next::MeasureAt(T0 + 120)
        );
        let all = vec![Pass; 31];
        let Next::Conclude(status, reason) = next_step(&policy(), &state(&all), T0 + 1800) else {
            panic!()
        };
        assert_eq!(status, LifecycleStatus::Succeeded);
        assert!(
            reason.starts_with("analysis passed: 31 measurements over 1800s"),
            "{reason}"
        );
    }

    #[test]
    fn stops_early_on_a_decisive_failure() {
        let Next::Conclude(status, reason) =
            next_step(&policy(), &state(&[Pass, Pass, Fail]), T0 + 130)
        else {
            panic!()
        };
        assert_eq!(status, LifecycleStatus::Failed);
        assert_eq!(
            reason,
            "1 failed measurements, more than the 0 allowed; last: m2"
        );
    }

    #[test]
    fn error_and_inconclusive_limits() {
        // Two errors in a row are tolerated, three are not; an error streak resets.
        assert!(matches!(
            next_step(&policy(), &state(&[Error, Error]), T0),
            Next::MeasureAt(_)
        ));
        assert!(matches!(
            next_step(&policy(), &state(&[Error, Error, Pass, Error, Error]), T0),
            Next::MeasureAt(_)
        ));
        assert!(matches!(
            next_step(&policy(), &state(&[Pass, Error, Error, Error]), T0),
            Next::Conclude(LifecycleStatus::Failed, _)
        ));
        assert!(matches!(
            next_step(&policy(), &state(&[Inconclusive; 3]), T0),
            Next::MeasureAt(_)
        ));
        assert!(matches!(
            next_step(&policy(), &state(&[Inconclusive; 4]), T0),
            Next::Conclude(LifecycleStatus::Failed, _)
        ));
    }

    #[test]
    fn never_past_codedeploys_hour() {
        let Next::Conclude(status, reason) =
            next_step(&policy(), &state(&[Pass; 5]), T0 + HARD_LIMIT_SECS)
        else {
            panic!()
        };
        assert_eq!(status, LifecycleStatus::Failed);
        assert!(
            reason.starts_with("the analysis ran out of time: 5 of 31 measurements"),
            "{reason}"
        );
    }

    #[test]
    fn state_round_trips_and_is_validated_when_read_back() {
        let state = state(&[Pass, Fail]);
        assert_eq!(
            AnalysisState::from_json(&state.to_json(), T0 + 200).unwrap(),
            state
        );
        let mut v = state.to_json();
        v["version"] = 2.into();
        assert_eq!(
            AnalysisState::from_json(&v, T0).unwrap_err(),
            StateError::Version { found: 2 }
        );
        let mut v = state.to_json();
        v["measurements"][0]["at"] = (T0 + 999).into();
        assert!(matches!(
            AnalysisState::from_json(&v, T0 + 2000),
            Err(StateError::Inconsistent(_))
        ));
        let mut v = state.to_json();
        v["extra"] = 1.into();
        assert!(matches!(
            AnalysisState::from_json(&v, T0 + 200),
            Err(StateError::Malformed(_))
        ));
        assert!(matches!(
            AnalysisState::from_json(&serde_json::json!("x"), T0),
            Err(StateError::Version { found: 0 })
        ));
    }
}
