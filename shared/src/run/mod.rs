//! One hook execution from event to report: the decision pipeline
//! ([`pipeline`]: bind, plan, collect, judge, decide), then the report and the
//! record. Orchestration only: what is decided is decided in the judge.
//!
//! The fail-closed rules of an execution, in one place, for every hook:
//! - the pipeline's evidence is bounded by the invocation deadline minus a
//!   safety margin (see [`pipeline`] for what happens inside it);
//! - the status is reported exactly once per invocation, with whatever time the
//!   margin left; the SDK retries throttling and 5xx within it;
//! - a bake analysis never runs past its hard limit, and hands off before the
//!   run's deadline.
//!
//! Everything impure arrives as an argument (providers, reporter, clock, judge),
//! so tests drive each rule with fakes and no network.

mod pipeline;

pub use pipeline::{conclude, decide, measure, JudgeFn, Measured, Outcome, Question, Sources};

use crate::analysis::{classify, next_step, AnalysisPolicy, AnalysisState, Measurement, Next};
use crate::evidence::deployment::DeploymentSource;
use crate::evidence::probes::{NoProbes, ProbeSource};
use crate::evidence::switches::{interpret, NoSwitches, SwitchSource};
use crate::evidence::{AlarmSource, EvidenceError, MetricSource};
use crate::judge::{LifecycleStatus, Verdict};
use crate::policy::Policy;
use crate::report::{AnalysisSummary, DecisionRecord, ReportError, StatusReporter};
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
pub struct Providers<'a, M, A, D, R, W = NoSwitches, P = NoProbes> {
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
}

impl<'a, M, A, D, R, W, P> Providers<'a, M, A, D, R, W, P> {
    /// The evidence sources: everything but the reporter.
    pub fn sources(&self) -> Sources<'a, M, A, D, W, P> {
        Sources {
            metrics: self.metrics,
            alarms: self.alarms,
            deployments: self.deployments,
            switches: self.switches,
            probes: self.probes,
        }
    }
}

/// Runs one hook execution and returns its decision record (also when the
/// report failed: the record says so, and the caller turns it into an error).
pub async fn execute<M, A, D, R, W, P>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P>,
    judge: JudgeFn,
) -> DecisionRecord
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
    P: ProbeSource,
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

/// Hands an unfinished analysis to the next Lambda run.
pub trait Continuation: Sync {
    /// Starts the next run with `state` (asynchronously: returns once queued).
    fn hand_off(
        &self,
        execution: &Execution,
        state: &AnalysisState,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
}

/// What an analysis run ended with.
#[derive(Debug)]
pub enum AnalysisRun {
    /// The analysis concluded and reported.
    Reported(Box<DecisionRecord>),
    /// This run's time is up: the next run carries on with the state.
    HandedOff(AnalysisState),
}

/// Time a measurement plus a hand-off may take: a run stops measuring when less
/// than this is left before its deadline minus the safety margin.
const MEASUREMENT_ALLOWANCE_SECS: i64 = 20;

/// A bake analysis as one Lambda run carries it: the settings, the clock it
/// runs by, how it hands off, this run's deadline and the state so far.
pub struct Bake<'a, C, K> {
    /// The hook's analysis settings.
    pub analysis: &'a AnalysisPolicy,
    /// The clock: the wall clock on Lambda, a simulated one in tests.
    pub clock: &'a C,
    /// Starts the next run.
    pub continuation: &'a K,
    /// This run's deadline, epoch seconds by `clock`.
    pub deadline_at: i64,
    /// The measurements so far.
    pub state: AnalysisState,
}

/// Runs (part of) a bake analysis: measures every interval until the analysis
/// concludes, then reports; or, when this run's deadline comes near, hands the
/// state to the next run. A freeze or an override ends the analysis at once.
pub async fn execute_analysis<M, A, D, R, W, C, K, P>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P>,
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
    C: Clock,
    K: Continuation,
{
    let started = Instant::now();
    let Bake {
        analysis,
        clock,
        continuation,
        deadline_at,
        mut state,
    } = bake;
    let sources = providers.sources();
    let mut last: Option<Measured> = None;
    let stop_measuring_at =
        deadline_at - execution.safety_margin.as_secs() as i64 - MEASUREMENT_ALLOWANCE_SECS;
    let concluded = loop {
        match next_step(analysis, &state, clock.now()) {
            Next::Conclude(status, reason) => break Some((status, reason)),
            Next::MeasureAt(at) => {
                if at.max(clock.now()) > stop_measuring_at {
                    // Use this run's time before handing off, so a short
                    // Lambda timeout cannot turn into a loop of runs that
                    // hand off at once.
                    clock.sleep_until(stop_measuring_at).await;
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
                // Progress is visible: one line per measurement.
                tracing::info!(
                    deployment = %execution.deployment_id,
                    hook = %execution.hook,
                    chain = %state.chain,
                    measurement = state.measurements.len(),
                    outcome = ?outcome,
                    reason = %measured.verdict.reason,
                    "analysis measurement"
                );
                // A switch decides at once: the judge says whether one is on.
                let switched = matches!(&measured.switches, Some(Ok(values))
                    if crate::judge::switched(&interpret(values.freeze.as_deref(), values.override_.as_deref(), now)));
                last = Some(measured);
                if switched {
                    break None; // the switches decide in the decision
                }
            }
        }
    };
    let measured = match last {
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
                switches: Some(providers.switches.read(execution.hook).await),
            }
        }
    };
    let summary = AnalysisSummary {
        chain: state.chain.clone(),
        started_at: state.started_at,
        runs: state.runs,
        measurements: state.measurements.clone(),
    };
    let outcome = conclude(policy, execution.hook, execution.now, measured);
    let record = finish(
        policy,
        execution,
        &providers,
        started,
        outcome,
        Some(summary),
    )
    .await;
    AnalysisRun::Reported(Box::new(record))
}

/// Reports `Failed` for `reason` without collecting evidence (an unreadable
/// continuation, say): the fail-closed answer when there is nothing to judge.
pub async fn fail_without_evidence<M, A, D, R, W, P>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P>,
    reason: String,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
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
async fn finish<M, A, D, R, W, P>(
    policy: &Policy,
    execution: &Execution,
    providers: &Providers<'_, M, A, D, R, W, P>,
    started: Instant,
    outcome: Outcome,
    analysis: Option<AnalysisSummary>,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
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
