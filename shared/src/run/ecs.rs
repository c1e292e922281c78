//! One invocation of the ECS-native lifecycle hook: the same pipeline as the
//! CodeDeploy hooks ([`super::decide`], [`super::measure`],
//! [`super::conclude`]), answered by return value instead of a status call.
//!
//! A stage without an `analysis` section is one [`super::execute`], as a
//! CodeDeploy hook is. A stage with one bakes, but not by invoking itself:
//! ECS invokes the function again when it answers `IN_PROGRESS`, after the
//! answer's `callBackDelay`, with the answer's `hookDetails`. So each
//! invocation measures at most once (bounded by the evidence budget: it
//! answers well before its deadline, which ECS would read as a failure),
//! then either concludes (`SUCCEEDED`/`FAILED`, with the decision record) or
//! answers `IN_PROGRESS` with the delay until the next measurement is due and
//! the analysis state in `hookDetails`.
//!
//! The state is the CodeDeploy bake's ([`AnalysisState`]: versioned, validated
//! when read back) and is believed on the same terms: its digest must be the
//! [`Seal`] this function stored when it answered (under its own SSM prefix,
//! which only its role writes). `hookDetails` can be written by whoever may
//! update the service (`DeploymentLifecycleHook.hookDetails`), so a state that
//! is not the one sealed (forged, edited, or the seal missing) fails the
//! stage. Once concluded the seal stays as a tombstone holding the status, so
//! the same execution invoked again gets the same answer without a second
//! judgement. While it bakes, the seal also keeps what the last round added
//! to the state it was invoked with ([`crate::analysis::Answered`]: the one
//! measurement it took), so ECS invoking that round again (a retry) gets the
//! same `IN_PROGRESS` answer, rebuilt, without a second measurement or a
//! second step of the bake ([`crate::analysis::admit_ecs_round`]). An older
//! state than that (stale), another execution's, or one the seal does not
//! vouch for still fails the stage, the record naming which.
//!
//! A retry may also arrive while the round it repeats is still running: so
//! each round is claimed before it measures ([`SealStore::claim`], atomic, as
//! a CodeDeploy bake claims its runs), and the invocation that finds its round
//! claimed measures nothing and seals nothing: it answers `IN_PROGRESS` with
//! `hookDetails` as they came and a short delay
//! ([`OVERLAP_RECHECK_DELAY_SECS`]), so that ECS's callback is a retry of the
//! same round, answered from the seal the other invocation left. A claim that
//! cannot be taken (SSM failing) fails the stage closed, and so does a round
//! claimed longer ago than any invocation runs ([`LONGEST_ROUND_SECS`]) and
//! never sealed. The claims go with the tombstone.

use super::{a_switch_decides, analysis_summary, concluding_measurement};
use super::{conclude, fail_without_evidence, finish, measure, Execution, JudgeFn, Measured};
use super::{Providers, Question};
use crate::analysis::{
    admit_ecs_round, classify, next_step, AnalysisPolicy, AnalysisState, EcsAdmission, Measurement,
    Next, Seal, MEASUREMENT_ALLOWANCE_SECS,
};
use crate::evidence::deployment::DeploymentSource;
use crate::evidence::probes::ProbeSource;
use crate::evidence::switches::SwitchSource;
use crate::evidence::{AlarmSource, EvidenceError, FlagSource, FlagWriter, MetricSource};
use crate::judge::{LifecycleStatus, Verdict};
use crate::policy::Policy;
use crate::report::{DecisionRecord, StatusReporter};
use crate::vocab::text::escaped_within;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The most bytes of a measurement's reason an ECS round keeps in its state
/// (and in its seal, for a repeat): a seal must stay within a standard SSM
/// parameter's 4 KB with an execution id of 512 characters beside it; the
/// concluding measurement's reason is whole in the decision record.
pub const MEASUREMENT_REASON_BYTES: usize = 1024;

/// How soon ECS is asked to call back an invocation that found its round
/// claimed by another: about when that one's measurement
/// ([`MEASUREMENT_ALLOWANCE_SECS`]) has been sealed.
pub const OVERLAP_RECHECK_DELAY_SECS: u32 = 10;

/// How long after a round was claimed its invocation may still be running:
/// Lambda's longest timeout (15 minutes) and a minute of clock skew. A round
/// claimed longer ago than that, and not sealed, was claimed by an invocation
/// that failed or timed out: the round fails closed rather than answering
/// `IN_PROGRESS` for ever.
pub const LONGEST_ROUND_SECS: i64 = 15 * 60 + 60;

/// Keeps the seal of each baked ECS execution, and the claims of its rounds.
pub trait SealStore: Sync {
    /// The seal kept for `execution`, if any.
    fn seal(
        &self,
        execution: &Execution,
    ) -> impl Future<Output = Result<Option<Seal>, EvidenceError>> + Send;
    /// Stores `seal` for `execution` (overwriting).
    fn put_seal(
        &self,
        execution: &Execution,
        seal: &Seal,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
    /// Claims round `round` of `execution`, atomically: `false` when another
    /// invocation of the same round claimed it first.
    fn claim(
        &self,
        execution: &Execution,
        round: u32,
    ) -> impl Future<Output = Result<bool, EvidenceError>> + Send;
    /// When round `round` of `execution` was claimed (`None`: it is not).
    fn claimed_at(
        &self,
        execution: &Execution,
        round: u32,
    ) -> impl Future<Output = Result<Option<i64>, EvidenceError>> + Send;
    /// Drops the claims of rounds 1 to `rounds` of `execution`, once its
    /// tombstone is written (names that are gone are no error).
    fn drop_claims(
        &self,
        execution: &Execution,
        rounds: u32,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
}

/// What the invocation's `hookDetails` carried of the gate's own field.
#[derive(Debug, Clone)]
pub enum Carried {
    /// Nothing: the stage's first invocation.
    Nothing,
    /// A state, readable (not yet admitted against the seal).
    State(AnalysisState),
    /// A state that does not read: why.
    Unusable(String),
}

/// A bake of an ECS stage as one invocation carries it.
pub struct EcsBake<'a, K> {
    /// The stage's analysis settings.
    pub analysis: &'a AnalysisPolicy,
    /// Where the seals live.
    pub seals: &'a K,
    /// What `hookDetails` carried.
    pub carried: Carried,
    /// The most `IN_PROGRESS` rounds the analysis may use
    /// (`GATE_MAX_CONTINUATIONS`).
    pub max_rounds: u32,
}

/// How one ECS invocation ended.
#[derive(Debug)]
pub enum EcsRound {
    /// Decided, with its record: `SUCCEEDED` or `FAILED`.
    Concluded(Box<DecisionRecord>),
    /// The analysis goes on: answer `IN_PROGRESS` with this state (sealed)
    /// and delay.
    InProgress {
        /// The state for `hookDetails`.
        state: AnalysisState,
        /// `callBackDelay`, seconds.
        callback_delay_secs: u32,
        /// For the answer and the log.
        reason: String,
    },
    /// Another invocation of the same round holds its claim and is measuring
    /// (ECS invoked the round again while it ran): nothing measured, nothing
    /// sealed; answer `IN_PROGRESS` with `hookDetails` as they came, so that
    /// ECS calls back with them and gets the other invocation's answer from
    /// the seal ([`EcsAdmission::Repeat`]).
    Overlapping {
        /// The state the invocation carried (`None`: the first round).
        carried: Option<AnalysisState>,
        /// `callBackDelay`, seconds ([`OVERLAP_RECHECK_DELAY_SECS`]).
        callback_delay_secs: u32,
        /// For the answer and the log.
        reason: String,
    },
    /// The execution concluded before: the same status again, no new record.
    Repeated {
        /// The status concluded.
        status: LifecycleStatus,
        /// Why, for the answer and the log.
        reason: String,
    },
}

/// Runs one invocation of a baked ECS stage: admits the carried state against
/// the seal, measures if a measurement is due, then concludes or answers
/// `IN_PROGRESS` with the delay until the next one.
pub async fn execute_ecs_round<M, A, D, R, W, P, F, K>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    judge: JudgeFn,
    bake: EcsBake<'_, K>,
) -> EcsRound
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
    P: ProbeSource,
    F: FlagSource + FlagWriter,
    K: SealStore,
{
    let started = Instant::now();
    let now = execution.now;
    let EcsBake {
        analysis,
        seals,
        carried,
        max_rounds,
    } = bake;
    let seal = match seals.seal(execution).await {
        Ok(seal) => seal,
        Err(error) => {
            let reason = format!("the analysis' seal could not be read ({error}); failing closed");
            let record = fail_without_evidence(policy, execution, providers, reason).await;
            return EcsRound::Concluded(Box::new(record));
        }
    };
    if let Some(repeated) = seal.as_ref().and_then(repeated) {
        return repeated;
    }
    // The rounds that may hold a claim, for a refusal to drop.
    let sealed_rounds = seal.as_ref().map_or(0, |seal| seal.runs);
    let carried = match carried {
        Carried::Nothing => None,
        Carried::State(state) => Some(state),
        Carried::Unusable(reason) => {
            let reason =
                format!("the analysis state in hookDetails is unusable: {reason}; failing closed");
            return refuse(policy, execution, providers, seals, sealed_rounds, reason).await;
        }
    };
    // What the seal keeps of this round's answer: the state it was invoked with.
    let invoked_with = carried.as_ref().map(AnalysisState::digest);
    let mut state = match admit_ecs_round(
        &execution.execution_id,
        carried.as_ref(),
        seal.as_ref(),
        now,
    ) {
        EcsAdmission::Proceed(state) => state,
        EcsAdmission::Repeat(state) => match next_step(analysis, &state, now) {
            // A retry arrives soon after the round it repeats, before the
            // round after it is overdue: later, ECS has had the answer (or
            // never passes hookDetails back, and repeating would loop).
            Next::MeasureAt(at) if now < at + analysis.interval_secs.max(1) => {
                let delay = (at - now).max(1);
                return EcsRound::InProgress {
                    reason: format!(
                        "a repeat of round {} (ECS invoked it again): its IN_PROGRESS answer again, nothing measured; the next measurement in {delay} s",
                        state.runs - 1
                    ),
                    callback_delay_secs: u32::try_from(delay).unwrap_or(u32::MAX),
                    state,
                };
            }
            _ => {
                let reason = format!(
                    "a repeat of round {} arrived after the round after it was due (the bake's state in hookDetails is stale; ECS passes each answer back); failing closed",
                    state.runs - 1
                );
                return refuse(policy, execution, providers, seals, sealed_rounds, reason).await;
            }
        },
        EcsAdmission::Refuse(reason) => {
            return refuse(policy, execution, providers, seals, sealed_rounds, reason).await;
        }
    };
    // One invocation of each round measures: ECS may invoke a round again
    // while the first invocation of it still runs (a retry), and both would
    // measure and seal, the one sealed over failing at its next round.
    let claim_failed = match seals.claim(execution, state.runs).await {
        Ok(true) => None,
        Ok(false) => match seals.claimed_at(execution, state.runs).await {
            Ok(Some(at)) if now - at > LONGEST_ROUND_SECS => Some((
                LifecycleStatus::Failed,
                format!(
                    "round {} of the analysis was claimed {} s ago by an invocation that never sealed its answer (it failed or timed out: an invocation lasts at most {LONGEST_ROUND_SECS} s); failing closed",
                    state.runs,
                    now - at
                ),
            )),
            Ok(_) => return overlapping(carried, state.runs),
            Err(error) => Some((
                LifecycleStatus::Failed,
                format!(
                    "round {} of the analysis is claimed, and the claim could not be read ({error}); failing closed",
                    state.runs
                ),
            )),
        },
        // As the CodeDeploy bake: an unknown claim fails closed, the state so
        // far in the record.
        Err(error) => Some((
            LifecycleStatus::Failed,
            format!(
                "round {} of the analysis could not be claimed ({error}); failing closed",
                state.runs
            ),
        )),
    };
    let sources = providers.sources();
    let mut last: Option<Measured> = None;
    let concluded = if claim_failed.is_some() {
        claim_failed
    } else {
        loop {
            match next_step(analysis, &state, now) {
                Next::Conclude(status, reason) => break Some((status, reason)),
                Next::MeasureAt(at) if at > now || last.is_some() => {
                    // `state.runs` rounds so far: another is round `state.runs + 1`.
                    if state.runs > max_rounds {
                        break Some((
                        LifecycleStatus::Failed,
                        format!(
                            "the analysis reached its bound of {max_rounds} IN_PROGRESS rounds (GATE_MAX_CONTINUATIONS) after {} measurements; failing closed",
                            state.measurements.len()
                        ),
                    ));
                    }
                    state.runs += 1;
                    let took = last.as_ref().and(state.measurements.last().cloned());
                    let sealed = Seal::answered(&state, invoked_with.clone(), took);
                    if let Err(error) = seals.put_seal(execution, &sealed).await {
                        break Some((
                            LifecycleStatus::Failed,
                            format!(
                            "the analysis' progress could not be sealed ({error}); failing closed"
                        ),
                        ));
                    }
                    let reason = match &last {
                        Some(measured) => format!(
                            "measurement {} of the analysis: {}; next in {} s",
                            state.measurements.len(),
                            measured.verdict.reason,
                            (at - now).max(1)
                        ),
                        None => format!("the analysis starts measuring in {} s", (at - now).max(1)),
                    };
                    return EcsRound::InProgress {
                        callback_delay_secs: u32::try_from((at - now).max(1)).unwrap_or(u32::MAX),
                        state,
                        reason,
                    };
                }
                Next::MeasureAt(_) => {
                    let question = Question {
                        policy,
                        hook: execution.hook,
                        deployment_id: &execution.deployment_id,
                        now,
                        budget: super::evidence_budget(execution, started)
                            .min(Duration::from_secs(MEASUREMENT_ALLOWANCE_SECS as u64)),
                    };
                    let measured = measure(question, &sources, judge).await;
                    state.measurements.push(Measurement {
                        at: now,
                        outcome: classify(&measured.verdict),
                        // Bounded: the seal keeps this measurement (`Seal::answered`).
                        reason: escaped_within(&measured.verdict.reason, MEASUREMENT_REASON_BYTES),
                    });
                    tracing::info!(
                        deployment = %execution.deployment_id,
                        stage = %execution.hook,
                        round = state.runs,
                        measurement = state.measurements.len(),
                        reason = %measured.verdict.reason,
                        "analysis measurement"
                    );
                    let switched = a_switch_decides(&measured, now);
                    last = Some(measured);
                    if switched {
                        break None; // the switches decide in the decision
                    }
                }
            }
        }
    };
    let measured =
        concluding_measurement(last, concluded, providers.switches, execution.hook).await;
    let summary = analysis_summary(&state, max_rounds);
    let outcome = conclude(policy, execution.hook, now, measured);
    let status = outcome.decision.status;
    let record = finish(
        policy,
        execution,
        &providers,
        started,
        outcome,
        Some(summary),
    )
    .await;
    keep_tombstone(
        seals,
        execution,
        &Seal::concluded(&state, status),
        state.runs,
    )
    .await;
    EcsRound::Concluded(Box::new(record))
}

/// The answer of an invocation that found its round (`round`) claimed by
/// another: `IN_PROGRESS` with the state it `carried`, soon, so that ECS's
/// callback is a repeat of the round, answered from the other's seal.
fn overlapping(carried: Option<AnalysisState>, round: u32) -> EcsRound {
    EcsRound::Overlapping {
        reason: format!(
            "round {round} of the analysis is claimed by another invocation of it, still running (ECS invoked the round again): nothing measured, its answer in {OVERLAP_RECHECK_DELAY_SECS} s"
        ),
        callback_delay_secs: OVERLAP_RECHECK_DELAY_SECS,
        carried,
    }
}

/// Fails the stage for `reason` without measuring, and leaves a `FAILED`
/// tombstone: the bake is over, whatever state comes next. The claims of
/// rounds 1 to `rounds` (the bake's so far) are dropped.
async fn refuse<M, A, D, R, W, P, F, K>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    seals: &K,
    rounds: u32,
    reason: String,
) -> EcsRound
where
    R: StatusReporter,
    W: SwitchSource,
    F: FlagWriter,
    K: SealStore,
{
    let record = fail_without_evidence(policy, execution, providers, reason).await;
    let refused = AnalysisState::new(execution.execution_id.clone(), execution.now);
    keep_tombstone(
        seals,
        execution,
        &Seal::concluded(&refused, LifecycleStatus::Failed),
        rounds,
    )
    .await;
    EcsRound::Concluded(Box::new(record))
}

/// The answer of an execution that already concluded, from its tombstone.
fn repeated(seal: &Seal) -> Option<EcsRound> {
    let concluded = seal.concluded.as_deref()?;
    let status = if concluded == LifecycleStatus::Succeeded.to_string() {
        LifecycleStatus::Succeeded
    } else {
        LifecycleStatus::Failed
    };
    Some(EcsRound::Repeated {
        status,
        reason: format!(
            "this execution's analysis already concluded {concluded} (chain {}, round {}): the same answer again",
            seal.chain, seal.runs
        ),
    })
}

/// Leaves the concluded seal, then drops the claims of rounds 1 to `rounds`
/// (the tombstone answers any later invocation); a failure is logged (the
/// answer stands: a repeated invocation would judge again, or claims are left
/// in SSM).
async fn keep_tombstone<K: SealStore>(seals: &K, execution: &Execution, seal: &Seal, rounds: u32) {
    if let Err(error) = seals.put_seal(execution, seal).await {
        tracing::warn!(
            deployment = %execution.deployment_id,
            stage = %execution.hook,
            error = %error,
            "the analysis' tombstone was not written; a repeated invocation of this execution would judge again"
        );
        return;
    }
    if let Err(error) = seals.drop_claims(execution, rounds).await {
        tracing::warn!(
            deployment = %execution.deployment_id,
            stage = %execution.hook,
            rounds,
            error = %error,
            "the claims of the analysis' rounds were not dropped; they stay in SSM until deleted"
        );
    }
}

/// The record of an invocation that belongs to a rollback: `SUCCEEDED` at
/// once, nothing measured, the switches not consulted (a freeze must not hold
/// a rollback either), `reason` saying how the rollback was recognised.
pub async fn answer_rollback<M, A, D, R, W, P, F>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    reason: String,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
    F: FlagWriter,
{
    let measured = Measured {
        verdict: Verdict {
            status: LifecycleStatus::Succeeded,
            reason,
            gates: Vec::new(),
        },
        found: crate::evidence::deployment::DeploymentEvidence::default(),
        switches: None,
    };
    let outcome = conclude(policy, execution.hook, execution.now, measured);
    finish(policy, execution, &providers, Instant::now(), outcome, None).await
}

/// Ends a stage whose rollback question went unanswered too long
/// ([`RollbackUnanswered::GiveUp`]): `Failed` for `reason`, nothing measured,
/// unless a switch decides, read now as a bake's conclusion reads them: an
/// operator's override for the stage still passes it during an outage of
/// ECS's API (a freeze fails it, as the give-up would).
pub async fn give_up_rollback_check<M, A, D, R, W, P, F>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    reason: String,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
    F: FlagWriter,
{
    let measured = concluding_measurement(
        None,
        Some((LifecycleStatus::Failed, reason)),
        providers.switches,
        execution.hook,
    )
    .await;
    let outcome = conclude(policy, execution.hook, execution.now, measured);
    finish(policy, execution, &providers, Instant::now(), outcome, None).await
}

/// The `hookDetails` field that counts the invocations at which ECS could
/// not say whether the deployment is rolling back.
pub const ROLLBACK_CHECK_FIELD: &str = "gate_rollback_check";
/// How soon ECS is asked to call back when it could not say: short, since a
/// rollback may be waiting.
pub const ROLLBACK_RECHECK_DELAY_SECS: u32 = 10;
/// The most invocations in a row the question may go unanswered before the
/// stage fails closed: a minute of asking at the delay above.
pub const ROLLBACK_CHECK_TRIES: u32 = 6;
/// The longest the question may go unanswered, from the first try, whatever
/// the count: ECS may call back later than asked.
pub const ROLLBACK_CHECK_WINDOW_SECS: i64 = 300;

/// The count carried in `hookDetails` while the rollback question goes
/// unanswered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRecheck {
    /// Invocations so far whose question went unanswered.
    pub tries: u32,
    /// When the first went unanswered, epoch seconds.
    pub since: i64,
}

/// What to do when ECS did not say whether the deployment is rolling back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackUnanswered {
    /// Neither pass nor block: answer `IN_PROGRESS` with this count in
    /// `hookDetails`, so ECS calls back and the question is asked again.
    AskAgain {
        /// For `hookDetails` ([`ROLLBACK_CHECK_FIELD`]).
        recheck: RollbackRecheck,
        /// `callBackDelay`, seconds.
        callback_delay_secs: u32,
        /// For the answer and the log.
        reason: String,
    },
    /// Asked long enough: fail closed for this reason.
    GiveUp(String),
}

/// Decides what an invocation does when ECS did not say (`why`) whether its
/// deployment is rolling back, given the count `carried` in `hookDetails`
/// (absent at the first such invocation).
///
/// Judging the stage anyway could fail a rollback on the very regression it
/// rolls back from, and passing it could let a bad release through: so the
/// question is asked again, a few seconds later, by answering `IN_PROGRESS`,
/// until ECS answers it (the count is dropped, the stage goes on as usual) or
/// [`ROLLBACK_CHECK_TRIES`] invocations or [`ROLLBACK_CHECK_WINDOW_SECS`]
/// passed, when the stage fails closed saying why. The count is not sealed:
/// editing it in transit would take rewriting ECS's own callback, and a
/// `hookDetails` configured on the service with this field is read like any
/// other count (an unreadable one fails closed).
pub fn rollback_unanswered(
    carried: Option<&serde_json::Value>,
    now: i64,
    why: &str,
) -> RollbackUnanswered {
    let before = match carried.map(|value| serde_json::from_value::<RollbackRecheck>(value.clone())) {
        None => None,
        Some(Ok(recheck)) if recheck.since <= now => Some(recheck),
        Some(Ok(recheck)) => {
            return RollbackUnanswered::GiveUp(format!(
                "the rollback check's count in hookDetails ({ROLLBACK_CHECK_FIELD}) started in the future ({}); failing closed",
                recheck.since
            ))
        }
        Some(Err(error)) => {
            return RollbackUnanswered::GiveUp(format!(
                "the rollback check's count in hookDetails ({ROLLBACK_CHECK_FIELD}) is unreadable ({error}); failing closed"
            ))
        }
    };
    let recheck = RollbackRecheck {
        tries: before.as_ref().map_or(0, |b| b.tries).saturating_add(1),
        since: before.as_ref().map_or(now, |b| b.since),
    };
    let waited = now - recheck.since;
    if recheck.tries > ROLLBACK_CHECK_TRIES || waited > ROLLBACK_CHECK_WINDOW_SECS {
        return RollbackUnanswered::GiveUp(format!(
            "ECS did not say whether this deployment is rolling back at {} invocations over {waited} s (at most {ROLLBACK_CHECK_TRIES} over {ROLLBACK_CHECK_WINDOW_SECS} s; last: {why}): failing closed rather than judging a stage that may belong to a rollback",
            recheck.tries
        ));
    }
    RollbackUnanswered::AskAgain {
        reason: format!(
            "ECS did not say whether this deployment is rolling back ({why}): neither passed nor blocked, asking again in {ROLLBACK_RECHECK_DELAY_SECS} s (try {} of {ROLLBACK_CHECK_TRIES})",
            recheck.tries
        ),
        recheck,
        callback_delay_secs: ROLLBACK_RECHECK_DELAY_SECS,
    }
}
