//! One hook execution from event to report: plan, collect, judge, report, record.
//!
//! This is where the fail-closed rules live, in one place, for every hook:
//! - evidence collection and `GetDeployment` run concurrently and are bounded by
//!   the invocation deadline minus a safety margin; what is not collected by then
//!   is an error in the evidence, and the judge turns it into `Failed` (a hook
//!   comparing with the window before the deployment began needs the create
//!   time first, so for it `GetDeployment` comes before the metrics);
//! - a panic inside the judgement becomes a `Failed` verdict that says so;
//! - the status is reported exactly once per invocation, with whatever time the
//!   margin left; the SDK retries throttling and 5xx within it.
//!
//! Everything impure arrives as an argument (providers, reporter, clock, judge),
//! so tests drive each rule with fakes and no network.

use crate::analysis::{classify, next_step, AnalysisPolicy, AnalysisState, Measurement, Next};
use crate::evidence::deployment::{DeploymentInfo, DeploymentSource};
use crate::evidence::discovery::Discovery;
use crate::evidence::probes::{NoProbes, ProbeSource};
use crate::evidence::switches::{interpret, NoSwitches, SwitchSource};
use crate::evidence::{self, AlarmSource, Evidence, EvidenceError, MetricSource};
use crate::judge::{GateOutcome, GateResult, LifecycleStatus, Verdict};
use crate::policy::{HookPolicy, Policy, Severity};
use crate::report::{
    AnalysisSummary, DecisionRecord, DryRunSummary, PolicyRef, ReportError, ReportSummary,
    StatusReporter, RECORD_KIND,
};
use crate::vocab::hook::Hook;
use crate::vocab::stamp;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
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

/// A judge: [`crate::judge::judge`] in production, something that panics in a test.
pub type JudgeFn = fn(&HookPolicy, &Evidence) -> Verdict;

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
    let budget = evidence_budget(execution, started);
    let measured = match policy.hook(execution.hook) {
        None => Measured {
            verdict: Verdict {
                status: LifecycleStatus::Failed,
                reason: format!(
                    "the policy ({}) has no section for {}, so this hook cannot judge anything; add one or remove the hook from the AppSpec",
                    policy.source, execution.hook
                ),
                gates: Vec::new(),
            },
            deployment: None,
            switches: None,
            discovery: None,
        },
        Some(section) => measure(policy, section, execution, execution.now, budget, &providers, judge).await,
    };
    finish(policy, execution, &providers, started, measured, None).await
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

/// Runs (part of) a bake analysis: measures every interval until the analysis
/// concludes, then reports; or, when this run's deadline (`deadline_at`, epoch
/// seconds by `clock`) comes near, hands the state to the next run. A freeze or
/// an override ends the analysis at once.
#[allow(clippy::too_many_arguments)]
pub async fn execute_analysis<M, A, D, R, W, C, K, P>(
    policy: &Policy,
    section: &HookPolicy,
    analysis: &AnalysisPolicy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W, P>,
    judge: JudgeFn,
    clock: &C,
    continuation: &K,
    deadline_at: i64,
    state: AnalysisState,
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
    let mut state = state;
    let mut last: Option<Measured> = None;
    let stop_measuring_at =
        deadline_at - execution.safety_margin.as_secs() as i64 - MEASUREMENT_ALLOWANCE_SECS;
    let (status, reason) = loop {
        match next_step(analysis, &state, clock.now()) {
            Next::Conclude(status, reason) => break (status, reason),
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
                            break (
                                LifecycleStatus::Failed,
                                format!("the analysis could not be handed to the next run ({error}); failing closed"),
                            )
                        }
                    }
                }
                clock.sleep_until(at).await;
                let now = clock.now();
                let budget = Duration::from_secs(MEASUREMENT_ALLOWANCE_SECS as u64);
                let measured =
                    measure(policy, section, execution, now, budget, &providers, judge).await;
                let outcome = classify(&measured.verdict, section.on_inconclusive);
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
                let switched = matches!(&measured.switches, Some(Ok(values))
                    if interpret(values.freeze.as_deref(), values.override_.as_deref(), now).freeze.is_some()
                        || interpret(values.freeze.as_deref(), values.override_.as_deref(), now).override_.is_some());
                last = Some(measured);
                if switched {
                    break (LifecycleStatus::Succeeded, String::new()); // the switches decide in finish
                }
            }
        }
    };
    let measured = match last {
        Some(mut measured) => {
            if !reason.is_empty() {
                measured.verdict.status = status;
                measured.verdict.reason = reason;
            }
            measured
        }
        None => Measured {
            verdict: Verdict {
                status,
                reason,
                gates: Vec::new(),
            },
            deployment: None,
            switches: Some(providers.switches.read(execution.hook).await),
            discovery: None,
        },
    };
    let summary = AnalysisSummary {
        chain: state.chain.clone(),
        started_at: state.started_at,
        runs: state.runs,
        measurements: state.measurements.clone(),
    };
    let record = finish(
        policy,
        execution,
        &providers,
        started,
        measured,
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
    let measured = Measured {
        verdict: Verdict {
            status: LifecycleStatus::Failed,
            reason,
            gates: Vec::new(),
        },
        deployment: None,
        switches: None,
        discovery: None,
    };
    finish(
        policy,
        execution,
        &providers,
        Instant::now(),
        measured,
        None,
    )
    .await
}

/// What one measurement found.
pub struct Measured {
    /// The judge's verdict.
    pub verdict: Verdict,
    /// `GetDeployment`'s answer, when asked.
    pub deployment: Option<Result<DeploymentInfo, EvidenceError>>,
    /// The raw switch values, when read.
    pub switches: Option<Result<crate::evidence::switches::SwitchValues, EvidenceError>>,
    /// What deployment discovery found, when the policy needed it.
    pub discovery: Option<Result<Discovery, String>>,
}

/// How long evidence collection may take: until the deadline minus the margin.
fn evidence_budget(execution: &Execution, started: Instant) -> Duration {
    let decide_by = execution
        .deadline
        .checked_sub(execution.safety_margin)
        .unwrap_or(started);
    decide_by.saturating_duration_since(started)
}

/// Collects evidence, the deployment and the switches concurrently at `now`,
/// each bounded by `budget`, and judges.
async fn measure<M, A, D, R, W, P>(
    policy: &Policy,
    section: &HookPolicy,
    execution: &Execution,
    now: i64,
    budget: Duration,
    providers: &Providers<'_, M, A, D, R, W, P>,
    judge: JudgeFn,
) -> Measured
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
    P: ProbeSource,
{
    let timed_out = EvidenceError::TimedOut {
        budget_ms: budget.as_millis() as u64,
    };
    // Probes may use the budget less a little, so their evidence is in
    // before the collection as a whole times out.
    let probe_deadline = Instant::now() + probe_budget(budget);
    // Discovery (when the policy names `${canary.…}`) must come before the
    // metrics it names, and so must the deployment's create time when a gate
    // compares with the window before the deployment began (the two together);
    // otherwise the deployment and the switches run alongside the metrics.
    let needs_start = policy.needs_deployment_start(execution.hook);
    let evaluate = timeout(budget, async {
        // Only gates that can block make the hook discover: a dry-run gate
        // naming the baseline is judged when discovery runs anyway (or the
        // override variables are set), and recorded as not judged otherwise.
        let needs_discovery = !policy.unbound_blocking(execution.hook).is_empty();
        let discover = async {
            if needs_discovery {
                Some(
                    providers
                        .deployments
                        .discover(&execution.deployment_id)
                        .await,
                )
            } else {
                None
            }
        };
        let describe_first = async {
            if needs_start {
                Some(
                    providers
                        .deployments
                        .deployment(&execution.deployment_id)
                        .await,
                )
            } else {
                None
            }
        };
        let (discovered, described) = tokio::join!(discover, describe_first);
        let (bound, discovery, unjudged) = match discovered {
            Some(Ok(found)) => match crate::bind::bind_discovery(policy, execution.hook, &found) {
                Ok(bound) => (Some(bound), Some(Ok(found)), Vec::new()),
                Err(error) => {
                    let partly = crate::bind::bind_found(policy, execution.hook, &found);
                    if !partly.unbound_blocking(execution.hook).is_empty() {
                        let reason = format!("deployment discovery: {error}; the gates that name them cannot be judged");
                        return (discovery_failed(reason), Some(Ok(found)), described);
                    }
                    let why = format!("not judged: deployment discovery: {error}");
                    let unjudged = unjudged_dry_runs(&partly, execution.hook, &why);
                    (Some(partly), Some(Ok(found)), unjudged)
                }
            },
            Some(Err(error)) => {
                let reason = format!("deployment discovery failed: {error}; the gates that name the canary or baseline cannot be judged");
                return (
                    discovery_failed(reason),
                    Some(Err(error.to_string())),
                    described,
                );
            }
            None => {
                let why = format!(
                    "not judged: it names values deployment discovery would find, and discovery runs only for gates that can block (this one is a dry run); set the override variables ({}) to judge it without discovery",
                    crate::policy::DISCOVERY_OVERRIDES.join(", ")
                );
                (None, None, unjudged_dry_runs(policy, execution.hook, &why))
            }
        };
        let policy = bound.as_ref().unwrap_or(policy);
        let full_section = policy.hook(execution.hook).unwrap_or(section).clone();
        let names: Vec<String> = unjudged.iter().map(|(name, _)| name.clone()).collect();
        let reduced = (!names.is_empty()).then(|| policy.without_gates(execution.hook, &names));
        let policy = reduced.as_ref().unwrap_or(policy);
        let placed = described.as_ref().map(|described| {
            crate::bind::bind_deployment_start(
                policy,
                execution.hook,
                deployment_start(described),
                now,
            )
        });
        let policy = placed.as_ref().unwrap_or(policy);
        let section = policy.hook(execution.hook).unwrap_or(section);
        let plan = evidence::plan(policy, execution.hook, now);
        let evidence = evidence::collect_with_probes(
            &plan,
            now,
            providers.metrics,
            providers.alarms,
            providers.probes,
            probe_deadline,
        )
        .await;
        let verdict = judge_safely(judge, section, &evidence);
        (
            with_unjudged(verdict, &full_section, &unjudged),
            discovery,
            described,
        )
    });
    let describe = async {
        if needs_start {
            None // asked before the metrics, above
        } else {
            Some(
                timeout(
                    budget,
                    providers.deployments.deployment(&execution.deployment_id),
                )
                .await,
            )
        }
    };
    let read_switches = timeout(budget, providers.switches.read(execution.hook));
    let (evaluated, described, switched) = tokio::join!(evaluate, describe, read_switches);
    let (verdict, discovery, described_first) = evaluated.unwrap_or_else(|_| {
        let plan = evidence::plan(policy, execution.hook, now);
        let evidence = Evidence::all_failed(&plan, now, timed_out.clone());
        (judge_safely(judge, section, &evidence), None, None)
    });
    let described = match described {
        Some(described) => described.unwrap_or_else(|_| Err(timed_out.clone())),
        None => described_first.unwrap_or_else(|| Err(timed_out.clone())),
    };
    Measured {
        verdict,
        deployment: Some(described),
        switches: Some(switched.unwrap_or(Err(timed_out))),
        discovery,
    }
}

/// `hook`'s dry-run gates that still name an unbound discovered value, each
/// with the reason it is not judged (naming the values).
fn unjudged_dry_runs(
    policy: &Policy,
    hook: crate::vocab::hook::Hook,
    why: &str,
) -> Vec<(String, String)> {
    policy
        .unbound_gates(hook)
        .into_iter()
        .filter(|(_, dry_run, _)| *dry_run)
        .map(|(name, _, refs)| {
            let named: Vec<String> = refs.iter().map(ToString::to_string).collect();
            (name, format!("{why} (it names {})", named.join(", ")))
        })
        .collect()
}

/// `verdict` (judged without the `unjudged` gates) with those gates back in
/// policy order as errors, and the hook's status recombined. They are dry-run
/// gates, so they never block; the reason lists them as shadow results.
fn with_unjudged(verdict: Verdict, section: &HookPolicy, unjudged: &[(String, String)]) -> Verdict {
    let left_out = |name: &str| unjudged.iter().any(|(n, _)| n == name);
    let kept: Vec<&str> = section
        .gates
        .iter()
        .map(|g| g.name.as_str())
        .filter(|name| !left_out(name))
        .collect();
    let answered = verdict.gates.len() >= kept.len()
        && verdict
            .gates
            .iter()
            .zip(&kept)
            .all(|(g, name)| g.name == *name);
    if unjudged.is_empty() || !answered {
        // Nothing left out, or the judge did not answer gate by gate (it panicked).
        return verdict;
    }
    let mut judged = verdict.gates.into_iter();
    let mut gates: Vec<GateResult> = section
        .gates
        .iter()
        .filter_map(
            |gate| match unjudged.iter().find(|(name, _)| *name == gate.name) {
                Some((_, reason)) => {
                    let mut result = GateResult::new(
                        &gate.name,
                        gate.severity,
                        GateOutcome::Error,
                        reason.clone(),
                    );
                    result.dry_run = gate.dry_run;
                    Some(result)
                }
                None => judged.next(),
            },
        )
        .collect();
    gates.extend(judged); // the canary score and the preflight's checks
    crate::judge::combine(section.on_inconclusive, gates)
}

/// The deployment's create time from `GetDeployment`'s answer, or why there is none.
fn deployment_start(described: &Result<DeploymentInfo, EvidenceError>) -> Result<i64, String> {
    match described {
        Ok(info) => info.create_time.ok_or_else(|| {
            "CodeDeploy GetDeployment returned no createTime for the deployment".into()
        }),
        Err(error) => Err(error.to_string()),
    }
}

/// The verdict when the canary or baseline could not be found: nothing the
/// policy names can be measured, so nothing can pass.
fn discovery_failed(reason: String) -> Verdict {
    Verdict {
        status: LifecycleStatus::Failed,
        reason: reason.clone(),
        gates: vec![GateResult::new(
            "deployment-discovery",
            Severity::Critical,
            GateOutcome::Error,
            reason,
        )],
    }
}

/// Applies dry run and the switches, reports once, and builds the record,
/// sealed into its deployment's audit chain (the head read with the switches).
async fn finish<M, A, D, R, W, P>(
    policy: &Policy,
    execution: &Execution,
    providers: &Providers<'_, M, A, D, R, W, P>,
    started: Instant,
    measured: Measured,
    analysis: Option<AnalysisSummary>,
) -> DecisionRecord
where
    R: StatusReporter,
    W: SwitchSource,
{
    let Measured {
        verdict,
        deployment,
        switches,
        discovery,
    } = measured;
    let (discovery, discovery_error) = match discovery {
        Some(Ok(found)) => (Some(found), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    let stored_head = switches.as_ref().map(|read| match read {
        Ok(values) => Ok(values.audit_head.clone()),
        Err(error) => Err(error.to_string()),
    });
    // Dry run: the verdict is recorded, `Succeeded` is reported.
    let dry_run = policy
        .hook(execution.hook)
        .filter(|section| section.dry_run)
        .map(|_| DryRunSummary {
            would_have_reported: verdict.status,
        });
    let reported = if dry_run.is_some() {
        LifecycleStatus::Succeeded
    } else {
        verdict.status
    };
    // The switches come last: a freeze stops everything, dry run included.
    let (reported, reason, switches, switch_error) = match switches {
        None => (reported, verdict.reason.clone(), None, None),
        Some(Err(error)) => (
            LifecycleStatus::Failed,
            format!(
                "could not read the deployment switches (freeze, override): {error}; failing closed (the gates said: {}: {})",
                verdict.status, verdict.reason
            ),
            None,
            Some(error.to_string()),
        ),
        Some(Ok(values)) => {
            let switches = interpret(
                values.freeze.as_deref(),
                values.override_.as_deref(),
                execution.now,
            );
            let (status, reason) = if let Some(freeze) = &switches.freeze {
                let by = freeze.by.as_deref().map(|b| format!(" (set by {b})")).unwrap_or_default();
                (
                    LifecycleStatus::Failed,
                    format!("deployment freeze: {}{by} (the gates said: {}: {})", freeze.reason, verdict.status, verdict.reason),
                )
            } else if let Some(o) = &switches.override_ {
                (
                    LifecycleStatus::Succeeded,
                    format!(
                        "override by {} until {}: {} (the gates said: {}: {})",
                        o.by,
                        stamp(o.expires),
                        o.reason,
                        verdict.status,
                        verdict.reason
                    ),
                )
            } else {
                (reported, verdict.reason.clone())
            };
            (status, reason, Some(switches), None)
        }
    };

    let report_budget = execution
        .deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(MIN_REPORT_TIME / 2)
        .max(MIN_REPORT_TIME / 2);
    let report = timeout(
        report_budget,
        providers
            .reporter
            .report(&execution.deployment_id, &execution.execution_id, reported),
    )
    .await
    .unwrap_or(Err(ReportError::TimedOut {
        budget_ms: report_budget.as_millis() as u64,
    }));

    let (deployment, deployment_error) = match deployment {
        Some(Ok(info)) => (Some(info), None),
        Some(Err(error)) => (None, Some(error.to_string())),
        None => (None, None),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    // The chain head, when the switches were not read on the way here (no
    // policy section, an unusable continuation): read now, after the report,
    // so the audit trail never delays it.
    let stored_head = match stored_head {
        Some(read) => read,
        None => timeout(report_budget, providers.switches.read(execution.hook))
            .await
            .map_err(|_| "timed out".to_string())
            .and_then(|read| {
                read.map(|values| values.audit_head)
                    .map_err(|e| e.to_string())
            }),
    };
    let mut record = DecisionRecord {
        record: RECORD_KIND,
        deployment_id: execution.deployment_id.clone(),
        lifecycle_event_hook_execution_id: execution.execution_id.clone(),
        hook: execution.hook,
        status: reported,
        dry_run,
        reason,
        switches,
        switch_error,
        gates: verdict.gates,
        report: ReportSummary::from(&report),
        deployment,
        deployment_error,
        discovery,
        discovery_error,
        policy: PolicyRef {
            source: policy.source.clone(),
            digest: policy.digest.clone(),
        },
        evaluated_at: execution.now,
        elapsed_ms,
        function_version: execution.function_version.clone(),
        analysis,
        gate_version: env!("CARGO_PKG_VERSION"),
        omitted: None,
        audit: None,
    };
    record.seal(crate::audit::next_link(
        stored_head.as_ref().map_err(Clone::clone),
    ));
    record
}

/// Time the smoke probes may take: the evidence budget less a little, so the
/// attempts made so far are judged, not lost to the budget's own timeout.
fn probe_budget(budget: Duration) -> Duration {
    budget.saturating_sub((budget / 10).min(PROBE_BUDGET_RESERVE))
}

/// At most this much of the evidence budget is kept back from the probes.
const PROBE_BUDGET_RESERVE: Duration = Duration::from_millis(250);

/// Judges, turning a panic into a `Failed` verdict that names it.
fn judge_safely(judge: JudgeFn, section: &HookPolicy, evidence: &Evidence) -> Verdict {
    catch_unwind(AssertUnwindSafe(|| judge(section, evidence))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".into());
        let reason = format!("the judgement panicked ({message}); failing closed");
        Verdict {
            status: LifecycleStatus::Failed,
            reason: reason.clone(),
            gates: vec![GateResult::new(
                "judgement",
                Severity::Critical,
                GateOutcome::Error,
                reason,
            )],
        }
    })
}

/// Milliseconds left until `deadline_ms` (epoch ms), from `now_ms`.
pub fn remaining(deadline_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod before_deployment_tests;

#[cfg(test)]
mod shadow_tests;
