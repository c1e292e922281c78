//! What deployment discovery found, and binding it: filling `${canary.KEY}`
//! and `${baseline.KEY}` with the values found.
//!
//! Validation resolves environment references at load time, including the
//! explicit overrides (`TARGET_GROUP`, `LOAD_BALANCER`, `BASELINE_TARGET_GROUP`,
//! `BASELINE_LOAD_BALANCER`); what is left are references only the deployment
//! can answer. They are kept verbatim in dimension values until the hook knows
//! its deployment, then bound here, purely, so the plan and the judge only ever
//! see concrete dimensions. The provider that asks CodeDeploy and ELB is
//! `evidence::discovery`; these are the values it returns.

use crate::policy::reference::references;
use crate::policy::{GateCheck, Policy, SubjectRef};
use crate::vocab::{Hook, Side};
use serde::Serialize;
use std::collections::BTreeMap;

/// Dimension values for one side, keyed by [`crate::policy::SUBJECT_KEYS`].
pub type SubjectValues = BTreeMap<String, String>;

/// One ECS task set of the deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EcsTaskSet {
    /// `Blue` or `Green`.
    pub label: Option<String>,
    /// The task set's identifier.
    pub identifier: Option<String>,
    /// As CodeDeploy names it.
    pub target_group_name: Option<String>,
    /// The ALB `TargetGroup` dimension, `targetgroup/NAME/ID`.
    pub target_group: Option<String>,
    /// The ALB `LoadBalancer` dimension, `app/NAME/ID`.
    pub load_balancer: Option<String>,
    /// Share of production traffic, 0-100.
    pub traffic_weight: Option<f64>,
    /// CodeDeploy's status of the task set.
    pub status: Option<String>,
}

/// The traffic split of a Lambda deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LambdaTraffic {
    /// The function.
    pub function_name: String,
    /// The alias whose traffic shifts.
    pub alias: String,
    /// The version traffic moves away from (baseline).
    pub current_version: Option<String>,
    /// The version traffic moves to (canary).
    pub target_version: Option<String>,
    /// Share of traffic on the target version.
    pub target_version_weight: Option<f64>,
}

/// What discovery found, for the binding and the decision record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Discovery {
    /// ECS task sets, Blue and Green.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ecs_task_sets: Vec<EcsTaskSet>,
    /// A Lambda deployment's traffic split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaTraffic>,
    /// Values for `${canary.KEY}`.
    pub canary: SubjectValues,
    /// Values for `${baseline.KEY}`.
    pub baseline: SubjectValues,
}

impl Discovery {
    /// What was found, in one line for a person: `canary: KEY=VALUE, ...;
    /// baseline: ...` (`nothing` for a side without values).
    pub fn summary(&self) -> String {
        let side = |values: &SubjectValues| {
            if values.is_empty() {
                "nothing".to_string()
            } else {
                values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        format!(
            "canary: {}; baseline: {}",
            side(&self.canary),
            side(&self.baseline)
        )
    }

    /// The values for one side.
    pub fn side(&self, side: Side) -> &SubjectValues {
        match side {
            Side::Canary => &self.canary,
            Side::Baseline => &self.baseline,
        }
    }
}

/// Why a policy could not be bound to a deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the policy refers to {missing}, which deployment discovery did not find ({found})")]
pub struct BindError {
    /// The first reference without a value.
    pub missing: String,
    /// What discovery did find, for the person reading the reason.
    pub found: String,
}

/// [`bind_discovery`] that never fails: what discovery could not answer is
/// left as written (see [`Policy::unbound_gates`]).
pub fn bind_found(policy: &Policy, hook: Hook, discovery: &Discovery) -> Policy {
    bind_all(policy, hook, discovery).0
}

/// The policy with every reference `discovery` can answer filled in. A
/// reference left unanswered in `hook`'s own section is an error; in the
/// other sections (a preflight's view) it stays, and the preflight skips it.
pub fn bind_discovery(
    policy: &Policy,
    hook: Hook,
    discovery: &Discovery,
) -> Result<Policy, BindError> {
    match bind_all(policy, hook, discovery) {
        (bound, None) => Ok(bound),
        (_, Some(reference)) => Err(BindError {
            missing: reference.to_string(),
            found: discovery.summary(),
        }),
    }
}

fn bind_all(policy: &Policy, hook: Hook, discovery: &Discovery) -> (Policy, Option<SubjectRef>) {
    let mut bound = policy.clone();
    let mut missing: Option<SubjectRef> = None;
    for (section_hook, section) in bound.hooks.iter_mut() {
        let own = *section_hook == hook;
        for gate in &mut section.gates {
            if let GateCheck::Threshold(check) = &mut gate.check {
                check.map_queries(&mut |query| {
                    for (_, value) in &mut query.dimensions {
                        let (text, unanswered) = bind_value(value, discovery);
                        *value = text;
                        if own && missing.is_none() {
                            missing = unanswered;
                        }
                    }
                });
            }
        }
    }
    (bound, missing)
}

fn bind_value(value: &str, discovery: &Discovery) -> (String, Option<SubjectRef>) {
    let mut out = String::new();
    let mut last = 0;
    let mut unanswered = None;
    for (start, end, reference) in references(value) {
        out.push_str(&value[last..start]);
        match discovery.side(reference.side).get(&reference.key) {
            Some(found) => out.push_str(found),
            None => {
                out.push_str(&value[start..end]);
                unanswered.get_or_insert(reference);
            }
        }
        last = end;
    }
    out.push_str(&value[last..]);
    (out, unanswered)
}
