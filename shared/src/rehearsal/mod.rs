//! Rehearsal: an offline game day. A scenario describes how a replacement behaves
//! and when CodeDeploy runs each hook; the real hook code ([`crate::run::execute`]
//! with the real judge) runs through the lifecycle on a simulated clock against
//! an embedded evidence source, and the result is a timeline of who decided
//! what, when, and why.
//!
//! As in CodeDeploy, the first hook that reports `Failed` ends the deployment
//! (rollback): later hooks do not run.
//!
//! Feature flags live in memory
//! ([`flags`]): every flag the policy names starts enabled, and a failing
//! hook's kill switch turns its flags off.
//!
//! ECS-native scenarios ([`SHIPPED_ECS_SCENARIOS`]) schedule ECS lifecycle
//! stages, a traffic stage once per linear or canary step; a stage whose
//! section has an `analysis` bakes as the ECS hook does
//! ([`crate::run::ecs::execute_ecs_round`]), answering `IN_PROGRESS` and
//! being invoked again after its `callBackDelay` on the simulated clock, until
//! it concludes. They need a policy with ECS stage sections: without
//! `--policy`, `gatectl rehearse` uses the ECS example's ([`ECS_EXAMPLE_POLICY`]).

pub mod flags;
mod scenario;
pub mod source;

pub use scenario::{Expectation, Minute, ProbeAnswer, Scenario, Segment, Version};

use crate::analysis::{AnalysisPolicy, Seal, DEFAULT_MAX_CONTINUATIONS};
use crate::evidence::EvidenceError;
use crate::judge::{judge, LifecycleStatus};
use crate::policy::Policy;
use crate::report::DecisionRecord;
use crate::run::ecs::{execute_ecs_round, Carried, EcsBake, EcsRound, SealStore};
use crate::run::{execute, Execution, Providers};
use crate::vocab::hook::{Hook, Platform};
use source::ScenarioSource;
use std::sync::Mutex;
use std::time::Duration;

/// Minute 0 of every rehearsal: a fixed instant, so output is reproducible.
pub const REHEARSAL_START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// The scenarios shipped in `scenarios/`, embedded so `gatectl rehearse` works anywhere.
pub const SHIPPED_SCENARIOS: [(&str, &str); 7] = [
    ("healthy", include_str!("../../../scenarios/healthy.yaml")),
    (
        "latency-regression",
        include_str!("../../../scenarios/latency-regression.yaml"),
    ),
    (
        "error-spike",
        include_str!("../../../scenarios/error-spike.yaml"),
    ),
    ("flapping", include_str!("../../../scenarios/flapping.yaml")),
    (
        "missing-data",
        include_str!("../../../scenarios/missing-data.yaml"),
    ),
    (
        "low-traffic",
        include_str!("../../../scenarios/low-traffic.yaml"),
    ),
    (
        "broken-endpoint",
        include_str!("../../../scenarios/broken-endpoint.yaml"),
    ),
];

/// The ECS-native scenarios shipped in `scenarios/`: rehearsed under a policy
/// with ECS stage sections (kept apart from [`SHIPPED_SCENARIOS`], which every
/// policy of the decision-record goldens rehearses).
pub const SHIPPED_ECS_SCENARIOS: [(&str, &str); 2] = [
    (
        "ecs-linear",
        include_str!("../../../scenarios/ecs-linear.yaml"),
    ),
    (
        "ecs-canary-regression",
        include_str!("../../../scenarios/ecs-canary-regression.yaml"),
    ),
];

/// The policy `gatectl rehearse` rehearses the ECS scenarios under when none
/// is given: the ECS example's, which has a section per stage they schedule.
pub const ECS_EXAMPLE_POLICY: &str = include_str!("../../../examples/ecs-native/gates.yaml");
/// How [`ECS_EXAMPLE_POLICY`] is named in errors and records.
pub const ECS_EXAMPLE_POLICY_SOURCE: &str = "<embedded ECS example policy>";

/// One thing that happened during a rehearsal.
#[derive(Debug, Clone)]
pub enum Step {
    /// Production traffic on the replacement changed.
    Traffic {
        /// Minutes after the start.
        minute: i64,
        /// The new share.
        share: f64,
    },
    /// A hook ran and decided.
    Hook {
        /// Minutes after the start.
        minute: i64,
        /// The hook's decision record.
        record: Box<DecisionRecord>,
    },
    /// A scheduled hook has no section in the policy, so is not in the AppSpec.
    Skipped {
        /// Minutes after the start.
        minute: i64,
        /// The hook.
        hook: Hook,
    },
}

/// A finished rehearsal.
#[derive(Debug, Clone)]
pub struct Rehearsal {
    /// What happened, in time order.
    pub steps: Vec<Step>,
    /// `Failed` if a hook rolled the deployment back.
    pub status: LifecycleStatus,
    /// The hook that failed, if one did.
    pub decided_by: Option<Hook>,
}

impl Rehearsal {
    /// Whether the rehearsal ended the way the scenario promises.
    pub fn matches(&self, expect: &Expectation) -> bool {
        self.status == expect.status
            && (expect.decided_by.is_none() || expect.decided_by == self.decided_by)
    }
}

/// Runs `scenario` under `policy`. `on_step` sees each step as it happens
/// (for progress display).
pub async fn rehearse(
    scenario: &Scenario,
    policy: &Policy,
    mut on_step: impl FnMut(&Step),
) -> Rehearsal {
    let baseline = rehearsal_env("BASELINE_TARGET_GROUP").unwrap_or_default();
    let source = ScenarioSource::new(scenario, REHEARSAL_START, &baseline);
    let flags = flags::RehearsalFlags::for_policy(policy);
    let mut events: Vec<(i64, u8, Option<Hook>, f64)> = scenario
        .traffic
        .iter()
        .map(|&(minute, share)| (minute, 0, None, share))
        .chain(
            scenario
                .schedule
                .iter()
                .map(|&(hook, minute)| (minute, 1, Some(hook), 0.0)),
        )
        .collect();
    // Traffic moves before a hook scheduled in the same minute looks at it.
    events.sort_by_key(|(minute, order, hook, _)| (*minute, *order, *hook));
    let mut steps = Vec::new();
    let mut outcome = (LifecycleStatus::Succeeded, None);
    for (minute, _, hook, share) in events {
        let step = match hook {
            None => Step::Traffic { minute, share },
            Some(hook) if policy.hook(hook).is_none() => Step::Skipped { minute, hook },
            Some(hook) => {
                source.set_minute(minute);
                let execution = Execution {
                    hook,
                    deployment_id: format!("d-{}", scenario.name),
                    execution_id: match hook.platform() {
                        Platform::CodeDeploy => {
                            format!("rehearsal-{}-{minute}", hook.binary_name())
                        }
                        Platform::Ecs => format!("rehearsal-{}-{minute}", hook.as_str()),
                    },
                    now: REHEARSAL_START + minute * 60,
                    deadline: tokio::time::Instant::now() + Duration::from_secs(60),
                    safety_margin: Duration::from_secs(3),
                    function_version: None,
                };
                let providers = Providers {
                    metrics: &source,
                    alarms: &source,
                    deployments: &source,
                    reporter: &source,
                    switches: &crate::evidence::switches::NoSwitches,
                    probes: &source,
                    flags: &flags,
                };
                let ecs_bake = policy
                    .hook(hook)
                    .and_then(|section| section.analysis)
                    .filter(|_| hook.platform() == Platform::Ecs);
                let record = match ecs_bake {
                    Some(analysis) => {
                        Box::pin(ecs_rounds(policy, &source, &flags, execution, &analysis)).await
                    }
                    None => Box::pin(execute(policy, &execution, providers, judge)).await,
                };
                if record.status == LifecycleStatus::Failed {
                    outcome = (LifecycleStatus::Failed, Some(hook));
                }
                Step::Hook {
                    minute,
                    record: Box::new(record),
                }
            }
        };
        on_step(&step);
        steps.push(step);
        if outcome.0 == LifecycleStatus::Failed {
            break; // CodeDeploy rolls back: nothing after the failed hook runs.
        }
    }
    Rehearsal {
        steps,
        status: outcome.0,
        decided_by: outcome.1,
    }
}

/// The seal and the claimed rounds of one rehearsed ECS bake, in memory.
#[derive(Default)]
struct RehearsalSeals(
    Mutex<Option<Seal>>,
    Mutex<std::collections::BTreeMap<u32, i64>>,
);

impl SealStore for RehearsalSeals {
    async fn seal(&self, _: &Execution) -> Result<Option<Seal>, EvidenceError> {
        Ok(self.0.lock().map(|seal| seal.clone()).unwrap_or(None))
    }
    async fn put_seal(&self, _: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(seal.clone());
        }
        Ok(())
    }
    async fn claim(&self, execution: &Execution, round: u32) -> Result<bool, EvidenceError> {
        Ok(self
            .1
            .lock()
            .map(|mut claimed| claimed.insert(round, execution.now).is_none())
            .unwrap_or(false))
    }
    async fn claimed_at(&self, _: &Execution, round: u32) -> Result<Option<i64>, EvidenceError> {
        Ok(self
            .1
            .lock()
            .ok()
            .and_then(|claimed| claimed.get(&round).copied()))
    }
    async fn drop_claims(&self, _: &Execution, rounds: u32) -> Result<(), EvidenceError> {
        if let Ok(mut claimed) = self.1.lock() {
            claimed.retain(|round, _| *round > rounds);
        }
        Ok(())
    }
}

/// An ECS stage's bake as ECS drives it: each `IN_PROGRESS` answer is
/// followed, `callBackDelay` later on the simulated clock, by the next
/// invocation with the state returned, until the stage concludes.
async fn ecs_rounds(
    policy: &Policy,
    source: &ScenarioSource<'_>,
    flags: &flags::RehearsalFlags,
    first: Execution,
    analysis: &AnalysisPolicy,
) -> DecisionRecord {
    let seals = RehearsalSeals::default();
    let mut carried = Carried::Nothing;
    let mut execution = first;
    loop {
        source.set_minute((execution.now - REHEARSAL_START).div_euclid(60));
        let providers = Providers {
            metrics: source,
            alarms: source,
            deployments: source,
            reporter: source,
            switches: &crate::evidence::switches::NoSwitches,
            probes: source,
            flags,
        };
        let bake = EcsBake {
            analysis,
            seals: &seals,
            carried,
            max_rounds: DEFAULT_MAX_CONTINUATIONS,
        };
        match Box::pin(execute_ecs_round(
            policy, &execution, providers, judge, bake,
        ))
        .await
        {
            EcsRound::Concluded(record) => return *record,
            EcsRound::InProgress {
                state,
                callback_delay_secs,
                ..
            } => {
                execution.now += i64::from(callback_delay_secs);
                execution.deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                carried = Carried::State(state);
            }
            // One invocation per round here: never overlapping; were it, ECS
            // would call back with the same state.
            EcsRound::Overlapping {
                carried: again,
                callback_delay_secs,
                ..
            } => {
                execution.now += i64::from(callback_delay_secs);
                execution.deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                carried = again.map_or(Carried::Nothing, Carried::State);
            }
            // A fresh seal store per stage execution: never concluded before.
            EcsRound::Repeated { reason, .. } => {
                let providers = Providers {
                    metrics: source,
                    alarms: source,
                    deployments: source,
                    reporter: source,
                    switches: &crate::evidence::switches::NoSwitches,
                    probes: source,
                    flags,
                };
                return crate::run::fail_without_evidence(policy, &execution, providers, reason)
                    .await;
            }
        }
    }
}

/// The environment a rehearsal resolves `${VAR}` references with: the process
/// environment, with placeholders for the ALB dimensions: `TARGET_GROUP` (the
/// replacement), `BASELINE_TARGET_GROUP` (the version replaced), `LOAD_BALANCER`.
pub fn rehearsal_env(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| match name {
        "TARGET_GROUP" => Some("targetgroup/rehearsal-green/0000000000000000".into()),
        "LOAD_BALANCER" => Some("app/rehearsal/0000000000000000".into()),
        "BASELINE_TARGET_GROUP" => Some("targetgroup/rehearsal-blue/0000000000000000".into()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
