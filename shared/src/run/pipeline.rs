//! The decision pipeline: bind → plan → collect → judge → decide, for one hook
//! at one instant, without reporting.
//!
//! Every caller that wants to know what a hook decides goes through
//! [`decide`] (or [`measure`] and [`crate::judge::decide`], for a bake analysis
//! that measures many times and decides once): the four hooks, `gatectl
//! evaluate`, `gatectl backtest` and `gatectl rehearse`. So what an operator
//! is shown is what the hook does.
//!
//! Fail-closed rules of the collection live here:
//! - evidence collection (metrics, alarms, probes, feature flags) and
//!   `GetDeployment` run concurrently and are bounded by
//!   the budget; what is not collected by then is an error in the evidence, and
//!   the judge turns it into `Failed` (a hook comparing with the window before
//!   the deployment began needs the create time first, so for it
//!   `GetDeployment` comes before the metrics);
//! - a panic inside the judgement becomes a `Failed` verdict that says so.

use crate::bind::{self, LeftOut, Unplaceable};
use crate::evidence::deployment::{DeploymentEvidence, DeploymentInfo, DeploymentSource};
use crate::evidence::probes::{NoProbes, ProbeSource};
use crate::evidence::switches::{interpret, NoSwitches, StoredHead, SwitchSource, SwitchValues};
use crate::evidence::{
    self, AlarmSource, Evidence, EvidenceError, FlagSource, MetricSource, NoFlags,
};
use crate::judge::{self, Decision, Verdict};
use crate::policy::{HookPolicy, Policy};
use crate::vocab::Hook;
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// A judge: [`crate::judge::judge`] in production, something that panics in a test.
pub type JudgeFn = fn(&HookPolicy, &Evidence) -> Verdict;

/// Where the evidence comes from: everything impure the pipeline reads.
pub struct Sources<'a, M, A, D, W = NoSwitches, P = NoProbes, F = NoFlags> {
    /// CloudWatch metrics.
    pub metrics: &'a M,
    /// CloudWatch alarms.
    pub alarms: &'a A,
    /// CodeDeploy deployments (and discovery).
    pub deployments: &'a D,
    /// The freeze and override switches (and the audit chain head).
    pub switches: &'a W,
    /// The HTTP smoke probes.
    pub probes: &'a P,
    /// AWS AppConfig feature flags.
    pub flags: &'a F,
}

/// One hook to judge: which hook, under which policy, of which deployment,
/// at which instant, with how long to gather evidence.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The hook.
    pub hook: Hook,
    /// The deployment.
    pub deployment_id: &'a str,
    /// The instant judged, epoch seconds: the windows derive from it.
    pub now: i64,
    /// How long the evidence may take.
    pub budget: Duration,
}

/// One measurement: the gates' verdict and what was read on the way.
pub struct Measured {
    /// The judge's verdict.
    pub verdict: Verdict,
    /// The deployment and discovery.
    pub found: DeploymentEvidence,
    /// The raw switch values, when read.
    pub switches: Option<Result<SwitchValues, EvidenceError>>,
}

impl Measured {
    /// A measurement that judged nothing: `Failed` for `reason`.
    pub fn nothing(reason: String) -> Measured {
        Measured {
            verdict: Verdict::nothing_judged(reason),
            found: DeploymentEvidence::default(),
            switches: None,
        }
    }
}

/// The pipeline's answer: the decision, and what it was made from.
pub struct Outcome {
    /// What the hook reports, and why.
    pub decision: Decision,
    /// The deployment and discovery.
    pub found: DeploymentEvidence,
    /// The audit chain head as read with the switches: `None` when the
    /// switches were not read.
    pub audit_head: Option<Result<StoredHead, String>>,
}

/// The whole pipeline: measures, then decides (dry run and the switches).
pub async fn decide<M, A, D, W, P, F>(
    question: Question<'_>,
    sources: &Sources<'_, M, A, D, W, P, F>,
    judge: JudgeFn,
) -> Outcome
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    W: SwitchSource,
    P: ProbeSource,
    F: FlagSource,
{
    let measured = match question.policy.hook(question.hook) {
        None => Measured::nothing(format!(
            "the policy ({}) has no section for {}, so this hook cannot judge anything; add one or remove the hook from the AppSpec",
            question.policy.source, question.hook
        )),
        Some(_) => measure(question, sources, judge).await,
    };
    conclude(question.policy, question.hook, question.now, measured)
}

/// The decision from a measurement: the judge's last step, applied to the
/// hook's dry run and the switches as read (interpreted at `now`).
pub fn conclude(policy: &Policy, hook: Hook, now: i64, measured: Measured) -> Outcome {
    let Measured {
        verdict,
        found,
        switches,
    } = measured;
    let audit_head = switches.as_ref().map(|read| match read {
        Ok(values) => Ok(values.audit_head.clone()),
        Err(error) => Err(error.to_string()),
    });
    let reading = switches.map(|read| {
        read.map(|values| interpret(values.freeze.as_deref(), values.override_.as_deref(), now))
            .map_err(|error| error.to_string())
    });
    let dry_run = policy.hook(hook).is_some_and(|section| section.dry_run);
    Outcome {
        decision: judge::decide(verdict, dry_run, reading),
        found,
        audit_head,
    }
}

/// Binds, plans, collects and judges `question`'s hook (which must have a
/// section), reading the deployment and the switches alongside, each bounded
/// by the budget.
pub async fn measure<M, A, D, W, P, F>(
    question: Question<'_>,
    sources: &Sources<'_, M, A, D, W, P, F>,
    judge: JudgeFn,
) -> Measured
where
    M: MetricSource,
    A: AlarmSource,
    D: DeploymentSource,
    W: SwitchSource,
    P: ProbeSource,
    F: FlagSource,
{
    let Question {
        policy,
        hook,
        deployment_id,
        now,
        budget,
    } = question;
    let Some(section) = policy.hook(hook) else {
        return Measured::nothing(format!("the policy has no section for {hook}"));
    };
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
    let needs_start = policy.needs_deployment_start(hook);
    let evaluate = timeout(budget, async {
        // Only gates that can block make the hook discover: a dry-run gate
        // naming the baseline is judged when discovery runs anyway (or the
        // override variables are set), and recorded as not judged otherwise.
        let needs_discovery = !policy.unbound_blocking(hook).is_empty();
        let discover = async {
            match needs_discovery {
                true => Some(sources.deployments.discover(deployment_id).await),
                false => None,
            }
        };
        let describe_first = async {
            match needs_start {
                true => Some(sources.deployments.deployment(deployment_id).await),
                false => None,
            }
        };
        let (discovered, described) = tokio::join!(discover, describe_first);
        let discovery = discovered.map(|found| found.map_err(|e| e.to_string()));
        let placed = bind::place(
            policy,
            hook,
            discovery.as_ref().map(|d| d.as_ref().map_err(Clone::clone)),
            described.as_ref().map(deployment_start),
            now,
        );
        let verdict = match placed {
            Err(Unplaceable(reason)) => Verdict::failed_closed("deployment-discovery", reason),
            Ok(placement) => {
                let plan = evidence::plan(&placement.to_fetch(hook), hook, now);
                let evidence = evidence::collect_all(
                    &plan,
                    now,
                    sources.metrics,
                    sources.alarms,
                    sources.probes,
                    sources.flags,
                    probe_deadline,
                )
                .await;
                let full = placement.policy.hook(hook).unwrap_or(section);
                let judged = judge_safely(judge, &without(full, &placement.not_judged), &evidence);
                judge::with_not_judged(judged, full, &placement.not_judged)
            }
        };
        (verdict, discovery, described)
    });
    let describe = async {
        match needs_start {
            true => None, // asked before the metrics, above
            false => Some(timeout(budget, sources.deployments.deployment(deployment_id)).await),
        }
    };
    let read_switches = timeout(budget, sources.switches.read(hook));
    let (evaluated, described, switched) = tokio::join!(evaluate, describe, read_switches);
    let (verdict, discovery, described_first) = evaluated.unwrap_or_else(|_| {
        let plan = evidence::plan(policy, hook, now);
        let evidence = Evidence::all_failed(&plan, now, timed_out.clone());
        (judge_safely(judge, section, &evidence), None, None)
    });
    let described = match described {
        Some(described) => described.unwrap_or_else(|_| Err(timed_out.clone())),
        None => described_first.unwrap_or_else(|| Err(timed_out.clone())),
    };
    Measured {
        verdict,
        found: DeploymentEvidence {
            deployment: Some(described),
            discovery,
        },
        switches: Some(switched.unwrap_or(Err(timed_out))),
    }
}

/// `section` without the gates named in `not_judged` (itself, not a copy,
/// when there are none).
fn without<'a>(section: &'a HookPolicy, not_judged: &[LeftOut]) -> Cow<'a, HookPolicy> {
    if not_judged.is_empty() {
        return Cow::Borrowed(section);
    }
    let mut kept = section.clone();
    kept.gates
        .retain(|gate| !not_judged.iter().any(|l| l.gate == gate.name));
    Cow::Owned(kept)
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
        Verdict::failed_closed(
            "judgement",
            format!("the judgement panicked ({message}); failing closed"),
        )
    })
}
