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
//! when, or to conclude; how much measuring time a run needs
//! ([`required_window`]); and the rules that admit a run ([`admit_first`],
//! [`admit_continuation`]) against the [`Seal`] the function keeps for each
//! execution. The loop that sleeps, measures and hands off lives in
//! [`crate::run`]; the seal's storage in [`crate::continuation`].
//!
//! Why a seal beside the payload, rather than the whole state kept server-side:
//! anyone allowed to invoke the function can write a payload, so the state it
//! carries is believed only when its digest is the one the function recorded
//! when it handed that run off (in SSM, under its own prefix, where only its
//! role writes). A forged or edited state then fails the hook; an earlier
//! state replayed names a run already handed on, and stands down. The state
//! itself stays in the payload because it does not fit SSM: a 45-minute bake
//! measured every 10 s is 271 measurements with their reasons, tens of
//! kilobytes, against a standard parameter's 4 KB (8 KB advanced, which costs
//! per parameter); the seal is a few hundred bytes.

use crate::judge::{GateOutcome, LifecycleStatus, Verdict};
pub use crate::policy::{AnalysisPolicy, HARD_LIMIT_SECS};
use crate::vocab::digest::sha256_digest;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

    /// `sha256:<hex>` of the state's canonical JSON (its fields in declaration
    /// order, as serde writes them): a state read back from a payload digests
    /// the same as the state written, whatever spacing or key order the
    /// payload used, and any change to a value changes it.
    pub fn digest(&self) -> String {
        sha256_digest(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Time a measurement plus a hand-off may take: a run stops measuring when less
/// than this is left before its deadline minus the safety margin.
pub const MEASUREMENT_ALLOWANCE_SECS: i64 = 20;

/// Spare measuring time for the next run starting a little later than its
/// predecessor handed off (the invocation's latency, a cold start).
pub const HANDOFF_SLACK_SECS: i64 = 3;

/// The default bound on continuations (`GATE_MAX_CONTINUATIONS`). Every run
/// measures at least once, so a bake of n planned measurements needs at most
/// n − 1 continuations; the longest a policy can ask for (45 minutes every
/// 10 s) plans 271, so a valid policy never reaches this bound: it stops a
/// chain that went wrong.
pub const DEFAULT_MAX_CONTINUATIONS: u32 = 300;

/// The measuring time (seconds before the run's deadline minus the safety
/// margin and [`MEASUREMENT_ALLOWANCE_SECS`]) a run needs so that it, and every
/// run after it, takes at least one measurement: the first is due
/// `initial_delay` after the start, and each next one an `interval` after the
/// last, which may have been taken at the very end of the previous run.
pub fn required_window(policy: &AnalysisPolicy) -> i64 {
    policy
        .initial_delay_secs
        .max(policy.interval_secs + HANDOFF_SLACK_SECS)
}

/// The safety margin in whole seconds, rounded up: a run's measuring time and
/// the minimum timeout both count it so.
pub fn margin_secs(safety_margin: Duration) -> i64 {
    (safety_margin.as_millis() as i64 + 999) / 1000
}

/// The shortest Lambda timeout, in whole seconds, for a hook with `policy`
/// and this safety margin.
pub fn minimum_timeout_secs(policy: &AnalysisPolicy, safety_margin: Duration) -> i64 {
    margin_secs(safety_margin) + MEASUREMENT_ALLOWANCE_SECS + required_window(policy)
}

/// What the function keeps for one hook execution while it bakes (and after,
/// as a tombstone): the run the analysis was last handed to and the digest of
/// the state handed over. A continuation is believed only when it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The analysis' chain id.
    pub chain: String,
    /// The run the state was handed to (its `runs`).
    pub runs: u32,
    /// [`AnalysisState::digest`] of that state.
    pub digest: String,
    /// Once the analysis reported: the status it reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concluded: Option<String>,
    /// An ECS round that answered `IN_PROGRESS`: what it answered with
    /// beyond the state it was invoked with, so that ECS invoking that round
    /// again gets the same answer ([`admit_ecs_round`]). Never written by a
    /// CodeDeploy bake, whose duplicates stand down instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<Answered>,
}

/// What an ECS round added to the state it was invoked with before it
/// answered `IN_PROGRESS` (the round number aside): with the state of its
/// invocation, it rebuilds the state answered, whose digest the seal holds.
/// Small on purpose: a seal must stay a standard SSM parameter (4 KB), so it
/// keeps the one measurement a round takes, not the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answered {
    /// [`AnalysisState::digest`] of the state the round was invoked with;
    /// none for the stage's first round, invoked without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// When the analysis started: the first round's state is rebuilt from it.
    pub started_at: i64,
    /// The measurement the round took, if one was due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took: Option<Measurement>,
}

impl Seal {
    /// The seal of `state`, handed to its run `state.runs`.
    pub fn of(state: &AnalysisState) -> Seal {
        Seal {
            version: STATE_VERSION,
            chain: state.chain.clone(),
            runs: state.runs,
            digest: state.digest(),
            concluded: None,
            answered: None,
        }
    }

    /// The seal of `state` as an ECS round answered it, having been invoked
    /// with the state whose digest is `from` and taken `took`.
    pub fn answered(
        state: &AnalysisState,
        from: Option<String>,
        took: Option<Measurement>,
    ) -> Seal {
        Seal {
            answered: Some(Answered {
                from,
                started_at: state.started_at,
                took,
            }),
            ..Seal::of(state)
        }
    }

    /// The tombstone of an analysis that reported `status` with `state`.
    pub fn concluded(state: &AnalysisState, status: LifecycleStatus) -> Seal {
        Seal {
            concluded: Some(status.to_string()),
            ..Seal::of(state)
        }
    }

    /// Reads a stored seal.
    pub fn from_text(text: &str) -> Result<Seal, StateError> {
        let seal: Seal =
            serde_json::from_str(text).map_err(|e| StateError::Malformed(e.to_string()))?;
        if seal.version != STATE_VERSION {
            return Err(StateError::Version {
                found: seal.version,
            });
        }
        Ok(seal)
    }

    /// The seal as stored.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a run may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (after claiming the run).
    Proceed,
    /// Another run carries the analysis, or it is over: do nothing, report
    /// nothing. Why, for the log.
    StandDown(String),
    /// The continuation is not one this function handed off: report `Failed`
    /// for this reason.
    Refuse(String),
}

/// Admits a first run (the CodeDeploy event) given the execution's seal: a
/// seal means a bake of this execution already runs, or ran, so this delivery
/// is a duplicate.
pub fn admit_first(seal: Option<&Seal>) -> Admission {
    match seal {
        None => Admission::Proceed,
        Some(seal) => Admission::StandDown(match &seal.concluded {
            Some(status) => format!(
                "a duplicate delivery: the analysis of this execution already concluded ({status}, chain {})",
                seal.chain
            ),
            None => format!(
                "a duplicate delivery: the analysis of this execution is already running (chain {}, run {})",
                seal.chain, seal.runs
            ),
        }),
    }
}

/// Admits a continuation carrying `state`, given the execution's seal.
pub fn admit_continuation(state: &AnalysisState, seal: Option<&Seal>) -> Admission {
    let Some(seal) = seal else {
        return Admission::Refuse(format!(
            "the continuation (run {}) was refused: no analysis of this execution was handed off by this function, so its state is forged (or outlived the record of its analysis); failing closed",
            state.runs
        ));
    };
    if let Some(status) = &seal.concluded {
        return Admission::StandDown(format!(
            "a replayed or duplicate continuation (run {}): the analysis already concluded ({status}, chain {})",
            state.runs, seal.chain
        ));
    }
    if state.runs < seal.runs {
        return Admission::StandDown(format!(
            "a replayed or duplicate continuation: run {} was already handed on to run {} (chain {})",
            state.runs, seal.runs, seal.chain
        ));
    }
    if state.runs > seal.runs || state.chain != seal.chain || state.digest() != seal.digest {
        return Admission::Refuse(format!(
            "the continuation (chain {:?}, run {}, state {}) is not the one handed off (chain {}, run {}, state {}): its state is forged or edited; failing closed",
            state.chain,
            state.runs,
            state.digest(),
            seal.chain,
            seal.runs,
            seal.digest
        ));
    }
    Admission::Proceed
}

/// Whether an ECS round may go ahead, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcsAdmission {
    /// Measure if due, with this state (a fresh one for the first round).
    Proceed(AnalysisState),
    /// ECS invoked the round that answered last again (a retry): answer
    /// `IN_PROGRESS` with this state, the one answered then, and neither
    /// measure nor seal.
    Repeat(AnalysisState),
    /// The state is not one this function answered last, or last but one:
    /// answer `FAILED` for this reason.
    Refuse(String),
}

/// Admits an ECS round of execution `execution_id` invoked with `carried`
/// (the state in `hookDetails`, `None` when there was none) given the
/// execution's seal; `now` starts a fresh analysis. The caller answers an
/// execution whose seal is a tombstone from it, before asking.
///
/// ECS calls back with the last answer's `hookDetails`, so a state is either
/// the one sealed last (the next round: [`EcsAdmission::Proceed`]), or the
/// one the last round was invoked with, when ECS invoked that round again
/// (it retried, or took the answer as lost): the seal's [`Answered`] rebuilds
/// the answer it got, so it gets the same one ([`EcsAdmission::Repeat`]).
/// Anything else fails closed, saying which: a state of another execution, an
/// older round's (stale: replayed), one the seal does not vouch for (forged or
/// edited), or none although the bake is past its first round.
pub fn admit_ecs_round(
    execution_id: &str,
    carried: Option<&AnalysisState>,
    seal: Option<&Seal>,
    now: i64,
) -> EcsAdmission {
    if let Some(state) = carried.filter(|state| state.chain != execution_id) {
        return EcsAdmission::Refuse(format!(
            "the analysis state in hookDetails belongs to another execution (chain {:?}, round {}), not to this one ({execution_id:?}): replayed or forged; failing closed",
            state.chain, state.runs
        ));
    }
    let (seal, state) = match (seal, carried) {
        (None, None) => {
            return EcsAdmission::Proceed(AnalysisState::new(execution_id.to_string(), now))
        }
        // No seal vouches for it: refused, as a continuation would be.
        (None, Some(state)) => return admitted(admit_continuation(state, None), state),
        (Some(seal), _) if seal.concluded.is_some() => {
            return EcsAdmission::Refuse(format!(
                "the analysis of this execution already concluded ({}, chain {})",
                seal.concluded.as_deref().unwrap_or_default(),
                seal.chain
            ))
        }
        (Some(seal), None) if seal.answered.as_ref().is_some_and(|a| a.from.is_none()) => {
            return repeat(None, seal)
        }
        (Some(seal), None) => {
            return EcsAdmission::Refuse(format!(
                "invoked without the analysis state in hookDetails, although this execution's bake is at round {} (ECS passes each answer's hookDetails back): a stale repeat of its first invocation; failing closed",
                seal.runs
            ))
        }
        (Some(seal), Some(state)) => (seal, state),
    };
    if state.runs + 1 == seal.runs {
        return repeat(Some(state), seal);
    }
    if state.runs + 1 < seal.runs {
        return EcsAdmission::Refuse(format!(
            "the analysis state in hookDetails is stale: it is the state of round {}, and round {} has answered since (the bake is at round {}, chain {}); ECS calls back with the last answer, so this one was replayed; failing closed",
            state.runs,
            seal.runs - 1,
            seal.runs,
            seal.chain
        ));
    }
    admitted(admit_continuation(state, Some(seal)), state)
}

/// A continuation's admission as an ECS round's: go ahead with `state`, or
/// fail closed (an ECS round never stands down: it must answer).
fn admitted(admission: Admission, state: &AnalysisState) -> EcsAdmission {
    match admission {
        Admission::Proceed => EcsAdmission::Proceed(state.clone()),
        Admission::StandDown(reason) | Admission::Refuse(reason) => EcsAdmission::Refuse(reason),
    }
}

/// The answer of the round that answered last, rebuilt from the state it was
/// invoked with (`None`: the first round) and the seal's [`Answered`].
fn repeat(carried: Option<&AnalysisState>, seal: &Seal) -> EcsAdmission {
    let round = seal.runs.saturating_sub(1);
    let Some(answered) = &seal.answered else {
        return EcsAdmission::Refuse(format!(
            "a repeat of round {round}, but its seal keeps no answer to repeat (written by an earlier build); failing closed"
        ));
    };
    let from = carried.map(AnalysisState::digest);
    if answered.from != from {
        return EcsAdmission::Refuse(format!(
            "the analysis state in hookDetails (round {round}, state {}) is not the one round {round} was invoked with (state {}, chain {}): forged or edited; failing closed",
            from.as_deref().unwrap_or("none"),
            answered.from.as_deref().unwrap_or("none"),
            seal.chain
        ));
    }
    let mut state = carried
        .cloned()
        .unwrap_or_else(|| AnalysisState::new(seal.chain.clone(), answered.started_at));
    state.runs = seal.runs;
    state.measurements.extend(answered.took.iter().cloned());
    if state.digest() != seal.digest {
        return EcsAdmission::Refuse(format!(
            "a repeat of round {round} does not rebuild the state it answered (state {}, sealed {}): the seal and the state disagree; failing closed",
            state.digest(),
            seal.digest
        ));
    }
    EcsAdmission::Repeat(state)
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

    #[test]
    fn the_digest_is_of_the_values_not_the_spelling() {
        let state = state(&[Pass, Fail]);
        let respelled: serde_json::Value = serde_json::from_str(&format!(
            r#"{{ "measurements": {}, "runs": 1, "started_at": {T0}, "chain": "c1", "version": 1 }}"#,
            serde_json::to_string(&state.measurements).unwrap()
        ))
        .unwrap();
        let read = AnalysisState::from_json(&respelled, T0 + 200).unwrap();
        assert_eq!(read.digest(), state.digest());
        let mut edited = read.clone();
        edited.measurements[1].outcome = Pass;
        assert_ne!(edited.digest(), state.digest());
        let mut renumbered = read;
        renumbered.runs = 2;
        assert_ne!(renumbered.digest(), state.digest());
    }

    #[test]
    fn seals_round_trip_and_admit_only_the_run_handed_off() {
        let mut handed = state(&[Pass, Pass]);
        handed.runs = 3;
        let seal = Seal::of(&handed);
        assert_eq!(Seal::from_text(&seal.to_text()).unwrap(), seal);
        assert!(matches!(
            Seal::from_text(r#"{"version": 1}"#),
            Err(StateError::Malformed(_))
        ));
        assert_eq!(admit_continuation(&handed, Some(&seal)), Admission::Proceed);
        assert!(
            matches!(admit_continuation(&handed, None), Admission::Refuse(r) if r.contains("forged"))
        );
        let mut later = handed.clone();
        later.runs = 4;
        assert!(
            matches!(admit_continuation(&later, Some(&seal)), Admission::Refuse(r) if r.contains("forged or edited"))
        );
        let mut other_chain = handed.clone();
        other_chain.chain = "c2\u{1b}[31m".into();
        assert!(
            matches!(admit_continuation(&other_chain, Some(&seal)), Admission::Refuse(r) if r.contains("\\u{1b}")),
            "an attacker's chain id is quoted, escapes and all"
        );
        let mut earlier = handed.clone();
        earlier.runs = 2;
        assert!(
            matches!(admit_continuation(&earlier, Some(&seal)), Admission::StandDown(r) if r.contains("run 2 was already handed on to run 3"))
        );
        let done = Seal::concluded(&handed, LifecycleStatus::Failed);
        assert!(
            matches!(admit_continuation(&handed, Some(&done)), Admission::StandDown(r) if r.contains("already concluded (Failed"))
        );
        assert_eq!(admit_first(None), Admission::Proceed);
        assert!(
            matches!(admit_first(Some(&seal)), Admission::StandDown(r) if r.contains("already running (chain c1, run 3)"))
        );
    }

    #[test]
    fn the_minimum_timeout_leaves_every_run_a_measurement() {
        let mut p = policy();
        assert_eq!(required_window(&p), 63);
        assert_eq!(minimum_timeout_secs(&p, Duration::from_millis(3000)), 86);
        p.interval_secs = 10;
        assert_eq!(minimum_timeout_secs(&p, Duration::from_millis(1000)), 34);
        assert_eq!(minimum_timeout_secs(&p, Duration::from_millis(1500)), 35);
        p.initial_delay_secs = 300;
        assert_eq!(required_window(&p), 300);
    }
}
