//! One hook execution from event to report: plan, collect, judge, report, record.
//!
//! This is where the fail-closed rules live, in one place, for every hook:
//! - evidence collection and `GetDeployment` run concurrently and are bounded by
//!   the invocation deadline minus a safety margin; what is not collected by then
//!   is an error in the evidence, and the judge turns it into `Failed`;
//! - a panic inside the judgement becomes a `Failed` verdict that says so;
//! - the status is reported exactly once per invocation, with whatever time the
//!   margin left; the SDK retries throttling and 5xx within it.
//!
//! Everything impure arrives as an argument (providers, reporter, clock, judge),
//! so tests drive each rule with fakes and no network.

use crate::evidence::deployment::DeploymentSource;
use crate::evidence::switches::{interpret, stamp, NoSwitches, SwitchSource};
use crate::evidence::{self, AlarmSource, Evidence, EvidenceError, MetricSource};
use crate::hook::Hook;
use crate::judge::{GateOutcome, GateResult, LifecycleStatus, Verdict};
use crate::policy::{HookPolicy, Policy, Severity};
use crate::report::{
    DecisionRecord, DryRunSummary, PolicyRef, ReportError, ReportSummary, StatusReporter,
    RECORD_KIND,
};
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
pub struct Providers<'a, M, A, D, R, W = NoSwitches> {
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
}

/// A judge: [`crate::judge::judge`] in production, something that panics in a test.
pub type JudgeFn = fn(&HookPolicy, &Evidence) -> Verdict;

/// Runs one hook execution and returns its decision record (also when the
/// report failed: the record says so, and the caller turns it into an error).
pub async fn execute<M, A, D, R, W>(
    policy: &Policy,
    execution: &Execution,
    providers: Providers<'_, M, A, D, R, W>,
    judge: JudgeFn,
) -> DecisionRecord
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    R: StatusReporter,
    W: SwitchSource,
{
    let started = Instant::now();
    let decide_by = execution
        .deadline
        .checked_sub(execution.safety_margin)
        .unwrap_or(started);
    let budget = decide_by.saturating_duration_since(started);
    let timed_out = EvidenceError::TimedOut {
        budget_ms: budget.as_millis() as u64,
    };

    let (verdict, deployment, switches) = match policy.hook(execution.hook) {
        None => (
            Verdict {
                status: LifecycleStatus::Failed,
                reason: format!(
                    "the policy ({}) has no section for {}, so this hook cannot judge anything; add one or remove the hook from the AppSpec",
                    policy.source, execution.hook
                ),
                gates: Vec::new(),
            },
            None,
            None,
        ),
        Some(section) => {
            let plan = evidence::plan(policy, execution.hook, execution.now);
            let collect = timeout(
                budget,
                evidence::collect(&plan, execution.now, providers.metrics, providers.alarms),
            );
            let describe = timeout(budget, providers.deployments.deployment(&execution.deployment_id));
            let read_switches = timeout(budget, providers.switches.read(execution.hook));
            let (collected, described, switched) = tokio::join!(collect, describe, read_switches);
            let evidence = collected
                .unwrap_or_else(|_| Evidence::all_failed(&plan, execution.now, timed_out.clone()));
            let deployment = described.unwrap_or_else(|_| Err(timed_out.clone()));
            let switched = switched.unwrap_or_else(|_| Err(timed_out.clone()));
            (judge_safely(judge, section, &evidence), Some(deployment), Some(switched))
        }
    };
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
        Some(Ok((freeze, override_))) => {
            let switches = interpret(freeze.as_deref(), override_.as_deref(), execution.now);
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
    DecisionRecord {
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
        policy: PolicyRef {
            source: policy.source.clone(),
            digest: policy.digest.clone(),
        },
        evaluated_at: execution.now,
        elapsed_ms: started.elapsed().as_millis() as u64,
        function_version: execution.function_version.clone(),
        gate_version: env!("CARGO_PKG_VERSION"),
    }
}

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
