//! One hook execution from event to report: the decision pipeline
//! ([`pipeline`]: bind, plan, collect, judge, decide), then the report and the
//! record. Orchestration only: what is decided is decided in the judge.
//!
//! The fail-closed rules of an execution, in one place, for every hook:
//! - the pipeline's evidence is bounded by the invocation deadline minus a
//!   safety margin (see [`pipeline`] for what happens inside it);
//! - the status is reported exactly once per invocation, with whatever time the
//!   margin left; the SDK retries throttling and 5xx within it;
//! - a kill switch (feature flags off after `Failed`) runs after the report,
//!   only when CodeDeploy accepted it (a duplicate delivery does not flip
//!   again), once, and its outcome is sealed into the record;
//! - a bake analysis never runs past its hard limit, and hands off before the
//!   run's deadline; a run is admitted only against the seal of its execution
//!   (a forged continuation fails the hook, a duplicate or replayed one stands
//!   down), measures at least once before it hands off (a run too short to
//!   measure fails the hook, naming the timeout it needs), and the number of
//!   continuations is bounded.
//!
//! Everything impure arrives as an argument (providers, reporter, clock, judge),
//! so tests drive each rule with fakes and no network.

pub mod ecs;
mod pipeline;

pub use pipeline::{conclude, decide, measure, JudgeFn, Measured, Outcome, Question, Sources};

use crate::analysis::{
    admit_continuation, admit_first, classify, margin_secs, minimum_timeout_secs, next_step,
    required_window, Admission, AnalysisPolicy, AnalysisState, Measurement, Next, Seal,
    MEASUREMENT_ALLOWANCE_SECS,
};
use crate::evidence::deployment::DeploymentSource;
use crate::evidence::probes::{NoProbes, ProbeSource};
use crate::evidence::switches::{interpret, NoSwitches, SwitchSource};
use crate::evidence::{AlarmSource, EvidenceError, FlagSource, FlagWriter, MetricSource, NoFlags};
use crate::judge::{LifecycleStatus, Verdict};
use crate::policy::Policy;
use crate::report::{AnalysisSummary, DecisionRecord, ReportError, ReportSummary, StatusReporter};
use crate::vocab::Hook;
use std::future::Future;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// The time a status report is always left, even when evidence took everything else.
const MIN_REPORT_TIME: Duration = Duration::from_millis(500);

/// The identity and timing of one hook execution.
#[derive(Debug, Clone)]
pub struct Execution {
    /// Which hook this binary serves.
    pub hook: Hook,
    /// From the event.
    pub deployment_id: String,
    /// From the event.
    pub execution_id: String,
    /// Wall clock at invocation, epoch seconds: the windows derive from it.
    pub now: i64,
    /// When the invocation is cut off (Lambda's deadline).
    pub deadline: Instant,
    /// How long before the deadline the verdict must be decided, so the
    /// report still has time to go out.
    pub safety_margin: Duration,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, for the record.
    pub function_version: Option<String>,
}

/// The impure parts of a hook, as arguments.
pub struct Providers<'a, M, A, D, R, W = NoSwitches, P = NoProbes, F = NoFlags> {
    /// CloudWatch metrics.
    pub metrics: &'a M,
    /// CloudWatch alarms.
    pub alarms: &'a A,
    /// CodeDeploy deployments.
    pub deployments: &'a D,
    /// The status call.
    pub reporter: &'a R,
    /// The freeze and override switches.
    pub switches: &'a W,
    /// The HTTP smoke probes.
    pub probes: &'a P,
    /// AWS AppConfig feature flags: read by flag gates, turned off by the
    /// kill switch.
    pub flags: &'a F,
}

impl<'a, M, A, D, R, W, P, F> Providers<'a, M, A, D, R, W, P, F> {
    /// The evidence sources: everything but the reporter.
    pub fn sources(&self) -> Sources<'a, M, A, D, W, P, F> {
        Sources {
            metrics: self.metrics,
            alarms: self.alarms,
            deployments: self.deployments,
            switches: self.switches,
            probes: self.probes,
            flags: self.flags,
        }
    }
}

/// A switch decides at once, in the middle of a bake: the judge says
/// whether one is on in what `measured` read.
fn a_switch_decides(measured: &Measured, now: i64) -> bool {
    matches!(&measured.switches, Some(Ok(values))
        if crate::judge::switched(&interpret(values.freeze.as_deref(), values.override_.as_deref(), now)))
}

/// What a bake concludes on: the last measurement, its verdict replaced by
/// the bake's own conclusion when there is one with a reason; or, when
/// nothing was measured in this run, the conclusion alone (`Failed` when
/// there is none), with the switches read now so that they still decide.
async fn concluding_measurement<W: SwitchSource>(
    last: Option<Measured>,
    concluded: Option<(LifecycleStatus, String)>,
    switches: &W,
    hook: Hook,
) -> Measured {
    match last {
        Some(mut measured) => {
            if let Some((status, reason)) = concluded.filter(|(_, reason)| !reason.is_empty()) {
                measured.verdict.status = status;
                measured.verdict.reason = reason;
            }
            measured
        }
        None => {
            let (status, reason) = concluded.unwrap_or((LifecycleStatus::Failed, String::new()));
            Measured {
                verdict: Verdict {
                    status,
                    reason,
                    gates: Vec::new(),
                },
                found: crate::evidence::deployment::DeploymentEvidence::default(),
                switches: Some(switches.read(hook).await),
            }
        }
    }
}

/// The record's account of a bake: its chain, runs and measurements.
fn analysis_summary(state: &AnalysisState, max_continuations: u32) -> AnalysisSummary {
    AnalysisSummary {
        chain: state.chain.clone(),
        started_at: state.started_at,
        runs: state.runs,
        continuations: state.runs.saturating_sub(1),
        max_continuations,
        measurements: state.measurements.clone(),
    }
}

/// Runs one hook execution and returns its decision record (also when the
/// report failed: the record says so, and the caller turns it into an error).
pub async fn execute<M, A, D, R, W, P, F>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    judge: JudgeFn,
) -> DecisionRecord
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
    P: ProbeSource,
    F: FlagSource + FlagWriter,
{
    let started = Instant::now();
    let question = Question {
        policy,
        hook: execution.hook,
        deployment_id: &execution.deployment_id,
        now: execution.now,
        budget: evidence_budget(execution, started),
    };
    let outcome = decide(question, &providers.sources(), judge).await;
    finish(policy, execution, &providers, started, outcome, None).await
}

/// A clock an analysis runs by: the wall clock on Lambda, a simulated one in
/// tests, so a 30-minute bake runs in milliseconds.
pub trait Clock: Sync {
    /// Epoch seconds.
    fn now(&self) -> i64;
    /// Returns at `at` (epoch seconds).
    fn sleep_until(&self, at: i64) -> impl Future<Output = ()> + Send;
}

/// The real clock.
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    async fn sleep_until(&self, at: i64) {
        let wait = (at - self.now()).max(0) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

/// Carries an analysis from one Lambda run to the next, and keeps the seal
/// that tells a genuine continuation from a forged, replayed or duplicate one.
pub trait Continuation: Sync {
    /// The seal kept for the execution (`None`: no analysis of it was ever
    /// handed off or concluded).
    fn seal(
        &self,
        execution: &Execution,
    ) -> impl Future<Output = Result<Option<Seal>, EvidenceError>> + Send;
    /// Claims run `run` of the execution, atomically: `false` when a delivery
    /// of the same run claimed it first.
    fn claim(
        &self,
        execution: &Execution,
        run: u32,
    ) -> impl Future<Output = Result<bool, EvidenceError>> + Send;
    /// Seals `state` for its run and starts that run (asynchronously: returns
    /// once queued).
    fn hand_off(
        &self,
        execution: &Execution,
        state: &AnalysisState,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
    /// After the report: leaves `seal` (a tombstone: later deliveries stand
    /// down) and drops the claims of runs 1 to `seal.runs`.
    fn close(
        &self,
        execution: &Execution,
        seal: &Seal,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
    /// After a report that failed: drops the claim of run `run`, so Lambda's
    /// retry of the same event (the invocation returns an error) may run it.
    fn release(
        &self,
        execution: &Execution,
        run: u32,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
}

/// How a run of an analysis arrived.
#[derive(Debug, Clone)]
pub enum Arrival {
    /// The CodeDeploy event: a new analysis, with this chain id.
    First {
        /// Names the analysis (the first run's request id).
        chain: String,
    },
    /// A continuation, carrying this state (admitted against the seal).
    Continued(AnalysisState),
}

/// What an analysis run ended with.
#[derive(Debug)]
pub enum AnalysisRun {
    /// The analysis concluded and reported.
    Reported(Box<DecisionRecord>),
    /// This run's time is up: the next run carries on with the state.
    HandedOff(AnalysisState),
    /// Another run carries the analysis, or it is over: nothing was measured
    /// or reported. Why.
    StoodDown(String),
}

/// A bake analysis as one Lambda run carries it: the settings, the clock it
/// runs by, how it hands off, this run's deadline and how it arrived.
pub struct Bake<'a, C, K> {
    /// The hook's analysis settings.
    pub analysis: &'a AnalysisPolicy,
    /// The clock: the wall clock on Lambda, a simulated one in tests.
    pub clock: &'a C,
    /// Starts the next run, and keeps the seal.
    pub continuation: &'a K,
    /// This run's deadline, epoch seconds by `clock`.
    pub deadline_at: i64,
    /// How long this run was given, whole seconds (the function's timeout):
    /// for the reason when it is too short.
    pub run_secs: i64,
    /// The most continuations the analysis may use (`GATE_MAX_CONTINUATIONS`).
    pub max_continuations: u32,
    /// The CodeDeploy event or a continuation.
    pub arrival: Arrival,
}

/// Runs (part of) a bake analysis: admits the run against the execution's
/// seal, measures every interval until the analysis concludes, then reports;
/// or, when the next measurement falls after this run's measuring time, hands
/// the state to the next run. A freeze or an override ends the analysis at
/// once.
pub async fn execute_analysis<M, A, D, R, W, C, K, P, F>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P, F>,
    judge: JudgeFn,
    bake: Bake<'_, C, K>,
) -> AnalysisRun
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
    P: ProbeSource,
    F: FlagSource + FlagWriter,
    C: Clock,
    K: Continuation,
{
    let started = Instant::now();
    let Bake {
        analysis,
        clock,
        continuation,
        deadline_at,
        run_secs,
        max_continuations,
        arrival,
    } = bake;
    let (mut state, concluded) = match admit(execution, continuation, arrival, clock.now()).await {
        Admitted::Run(state) => (state, None),
        Admitted::StandDown(reason) => {
            tracing::warn!(
                deployment = %execution.deployment_id,
                hook = %execution.hook,
                reason = %reason,
                "analysis run stood down"
            );
            return AnalysisRun::StoodDown(reason);
        }
        Admitted::Fail(state, reason) => (state, Some((LifecycleStatus::Failed, reason))),
    };
    let sources = providers.sources();
    let mut last: Option<Measured> = None;
    let stop_measuring_at =
        deadline_at - margin_secs(execution.safety_margin) - MEASUREMENT_ALLOWANCE_SECS;
    let mut measured_here = 0usize;
    let too_short = stop_measuring_at - clock.now() < required_window(analysis);
    let concluded = match concluded {
        Some(refused) => Some(refused),
        // A run too short to measure would hand off at once, and so would every
        // run after it: fail before anything is measured or invoked.
        None if too_short => Some((
            LifecycleStatus::Failed,
            format!(
                "the function's timeout of {run_secs} s leaves no time to measure: this analysis (interval {}s, initial delay {}s) needs a Lambda timeout of at least {} s (safety margin {} ms + {MEASUREMENT_ALLOWANCE_SECS} s for a measurement and the hand-off + {} s of measuring time); failing closed",
                analysis.interval_secs,
                analysis.initial_delay_secs,
                minimum_timeout_secs(analysis, execution.safety_margin),
                execution.safety_margin.as_millis(),
                required_window(analysis),
            ),
        )),
        None => loop {
            match next_step(analysis, &state, clock.now()) {
                Next::Conclude(status, reason) => break Some((status, reason)),
                Next::MeasureAt(at) => {
                    if at.max(clock.now()) > stop_measuring_at {
                        if let Some(refusal) =
                            hand_off_refusal(&state, measured_here, max_continuations)
                        {
                            break Some((LifecycleStatus::Failed, refusal));
                        }
                        let mut next = state.clone();
                        next.runs += 1;
                        match continuation.hand_off(execution, &next).await {
                            Ok(()) => return AnalysisRun::HandedOff(next),
                            Err(error) => {
                                break Some((
                                    LifecycleStatus::Failed,
                                    format!("the analysis could not be handed to the next run ({error}); failing closed"),
                                ))
                            }
                        }
                    }
                    clock.sleep_until(at).await;
                    let now = clock.now();
                    let question = Question {
                        policy,
                        hook: execution.hook,
                        deployment_id: &execution.deployment_id,
                        now,
                        budget: Duration::from_secs(MEASUREMENT_ALLOWANCE_SECS as u64),
                    };
                    let measured = measure(question, &sources, judge).await;
                    let outcome = classify(&measured.verdict);
                    state.measurements.push(Measurement {
                        at: now,
                        outcome,
                        reason: measured.verdict.reason.clone(),
                    });
                    measured_here += 1;
                    // Progress is visible: one line per measurement.
                    tracing::info!(
                        deployment = %execution.deployment_id,
                        hook = %execution.hook,
                        chain = %state.chain,
                        run = state.runs,
                        measurement = state.measurements.len(),
                        outcome = ?outcome,
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
        },
    };
    let measured =
        concluding_measurement(last, concluded, providers.switches, execution.hook).await;
    let summary = analysis_summary(&state, max_continuations);
    let outcome = conclude(policy, execution.hook, execution.now, measured);
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
    // After the report, so the seal never delays it. Delivered (or already
    // there): later deliveries of this execution find the analysis over and
    // stand down. Not delivered: the invocation fails so that Lambda retries
    // the same event, which must then be able to claim this run again.
    let sealed = if matches!(record.report, ReportSummary::Failed(_)) {
        continuation.release(execution, state.runs).await
    } else {
        continuation
            .close(execution, &Seal::concluded(&state, status))
            .await
    };
    if let Err(error) = sealed {
        tracing::warn!(
            deployment = %execution.deployment_id,
            hook = %execution.hook,
            error = %error,
            "the analysis' seal or claim was not updated after the report; a later delivery may stand down or bake again (CodeDeploy keeps the first status)"
        );
    }
    AnalysisRun::Reported(Box::new(record))
}

/// The outcome of admitting a run.
enum Admitted {
    /// Measure with this state.
    Run(AnalysisState),
    /// Do nothing: why.
    StandDown(String),
    /// Report `Failed` for this reason (the state, for the record).
    Fail(AnalysisState, String),
}

/// Admits a run against its execution's seal, then claims it, so that one run
/// of each number ever measures. An unreadable seal or claim fails closed.
async fn admit<K: Continuation>(
    execution: &Execution,
    continuation: &K,
    arrival: Arrival,
    now: i64,
) -> Admitted {
    let (state, first) = match arrival {
        Arrival::First { chain } => (AnalysisState::new(chain, now), true),
        Arrival::Continued(state) => (state, false),
    };
    let seal = match continuation.seal(execution).await {
        Ok(seal) => seal,
        Err(error) => {
            let reason = format!("the analysis' seal could not be read ({error}); failing closed");
            return Admitted::Fail(state, reason);
        }
    };
    let admission = if first {
        admit_first(seal.as_ref())
    } else {
        admit_continuation(&state, seal.as_ref())
    };
    match admission {
        Admission::Proceed => {}
        Admission::StandDown(reason) => return Admitted::StandDown(reason),
        // The forged state is not the analysis': the record carries none of it.
        Admission::Refuse(reason) => {
            return Admitted::Fail(AnalysisState::new(state.chain.clone(), now), reason)
        }
    }
    match continuation.claim(execution, state.runs).await {
        Ok(true) => Admitted::Run(state),
        Ok(false) => Admitted::StandDown(format!(
            "a duplicate delivery: run {} of this execution's analysis is already running (chain {})",
            state.runs, state.chain
        )),
        Err(error) => {
            let reason = format!(
                "run {} of the analysis could not be claimed ({error}); failing closed",
                state.runs
            );
            Admitted::Fail(state, reason)
        }
    }
}

/// Why this run must not hand off, if it must not: it measured nothing (the
/// next run would be no better off), or the continuations reached their bound.
fn hand_off_refusal(
    state: &AnalysisState,
    measured_here: usize,
    max_continuations: u32,
) -> Option<String> {
    if measured_here == 0 {
        return Some(format!(
            "run {} of the analysis ended without a measurement (its timeout is shorter than the interval needs); failing closed rather than handing off without measuring",
            state.runs
        ));
    }
    // `state.runs` runs so far: handing off is continuation number `state.runs`.
    if state.runs > max_continuations {
        return Some(format!(
            "the analysis reached its bound of {max_continuations} continuation{} (GATE_MAX_CONTINUATIONS) after {} measurements; failing closed",
            if max_continuations == 1 { "" } else { "s" },
            state.measurements.len()
        ));
    }
    None
}

/// Reports `Failed` for `reason` without collecting evidence (an unreadable
/// continuation, say): the fail-closed answer when there is nothing to judge.
pub async fn fail_without_evidence<M, A, D, R, W, P, F>(
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
    let outcome = conclude(
        policy,
        execution.hook,
        execution.now,
        Measured::nothing(reason),
    );
    finish(policy, execution, &providers, Instant::now(), outcome, None).await
}

/// How long evidence collection may take: until the deadline minus the margin.
fn evidence_budget(execution: &Execution, started: Instant) -> Duration {
    let decide_by = execution
        .deadline
        .checked_sub(execution.safety_margin)
        .unwrap_or(started);
    decide_by.saturating_duration_since(started)
}

/// Reports the decision once, and builds the record, sealed into its
/// deployment's audit chain (the head read with the switches).
async fn finish<M, A, D, R, W, P, F>(
    policy: &Policy,
    execution: &Execution,
    providers: &Providers<'_, M, A, D, R, W, P, F>,
    started: Instant,
    outcome: Outcome,
    analysis: Option<AnalysisSummary>,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
    F: FlagWriter,
{
    let report_budget = execution
        .deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(MIN_REPORT_TIME / 2)
        .max(MIN_REPORT_TIME / 2);
    let report = timeout(
        report_budget,
        providers.reporter.report(
            &execution.deployment_id,
            &execution.execution_id,
            outcome.decision.status,
        ),
    )
    .await
    .unwrap_or(Err(ReportError::TimedOut {
        budget_ms: report_budget.as_millis() as u64,
    }));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    // The kill switch, after the report (it cannot delay or change it) and
    // before the record is sealed (its outcome is in the audit chain).
    let kill_switch = match crate::judge::kill_switch_due(
        &outcome.decision,
        policy
            .hook(execution.hook)
            .map_or(&[][..], |section| &section.kill_switch),
    ) {
        None => None,
        Some(due) => {
            let budget = execution
                .deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(MIN_REPORT_TIME / 2);
            let by = format!(
                "codedeploy-gates {} hook, deployment {}, hook execution {}{}",
                execution.hook,
                execution.deployment_id,
                execution.execution_id,
                execution
                    .function_version
                    .as_deref()
                    .map(|v| format!(", function version {v}"))
                    .unwrap_or_default()
            );
            Some(
                crate::report::kill_switch::run_kill_switch(
                    due,
                    report.clone().map_err(|e| e.to_string()),
                    providers.flags,
                    by,
                    outcome.decision.reason.clone(),
                    budget,
                )
                .await,
            )
        }
    };
    // The chain head, when the switches were not read on the way here (no
    // policy section, an unusable continuation): read now, after the report,
    // so the audit trail never delays it.
    let audit_head = match &outcome.audit_head {
        Some(read) => read.clone(),
        None => timeout(report_budget, providers.switches.read(execution.hook))
            .await
            .map_err(|_| "timed out".to_string())
            .and_then(|read| {
                read.map(|values| values.audit_head)
                    .map_err(|e| e.to_string())
            }),
    };
    let mut record = DecisionRecord::new(
        crate::report::Subject {
            deployment_id: &execution.deployment_id,
            execution_id: &execution.execution_id,
            hook: execution.hook,
            evaluated_at: execution.now,
            function_version: execution.function_version.as_deref(),
        },
        policy,
        outcome.decision,
        outcome.found,
        &report,
    );
    record.elapsed_ms = elapsed_ms;
    record.analysis = analysis;
    record.kill_switch = kill_switch;
    record.seal(crate::audit::next_link(
        audit_head.as_ref().map_err(Clone::clone),
    ));
    record
}

/// Milliseconds left until `deadline_ms` (epoch ms), from `now_ms`.
pub fn remaining(deadline_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests;
