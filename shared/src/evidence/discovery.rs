//! Deployment discovery: what is being deployed, and where its metrics live.
//!
//! A policy names `${canary.target_group}` or `${baseline.version}` instead of
//! hard-coded dimensions; this provider finds the values from the deployment
//! itself, so one policy serves every service and every deployment:
//! - ECS blue/green: `ListDeploymentTargets` + `BatchGetDeploymentTargets` give
//!   the task sets labelled Blue (baseline) and Green (canary) with their target
//!   group names and traffic weights; ELBv2 `DescribeTargetGroups` turns the
//!   names into the ALB metric dimensions (`targetgroup/NAME/ID`, `app/NAME/ID`).
//! - Lambda (SAM `DeploymentPreference`): the function, alias, current version
//!   (baseline) and target version (canary), for `Resource` and `ExecutedVersion`.
//!
//! Discovery only runs when the policy still has such references after the
//! explicit `TARGET_GROUP`/`LOAD_BALANCER` overrides were applied at load time.

use super::EvidenceError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;

/// The keys a policy may refer to as `${canary.KEY}` or `${baseline.KEY}`.
pub const SUBJECT_KEYS: &[&str] = &[
    "target_group",
    "load_balancer",
    "function_name",
    "resource",
    "version",
];

/// Which side of the comparison a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The new version being deployed (ECS Green task set, Lambda target version).
    Canary,
    /// The version it replaces (ECS Blue task set, Lambda current version).
    Baseline,
}

impl Side {
    /// `canary` or `baseline`, as written in a policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        }
    }
}

/// Dimension values for one side, keyed by [`SUBJECT_KEYS`].
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
    /// The values for one side.
    pub fn side(&self, side: Side) -> &SubjectValues {
        match side {
            Side::Canary => &self.canary,
            Side::Baseline => &self.baseline,
        }
    }
}

/// Finds what a deployment deploys.
pub trait DiscoverySource: Sync {
    /// Discovers the canary and baseline of `deployment_id`.
    fn discover(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Discovery, EvidenceError>> + Send;
}

/// For hooks whose policy needs no discovery, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDiscovery;

impl DiscoverySource for NoDiscovery {
    async fn discover(&self, _deployment_id: &str) -> Result<Discovery, EvidenceError> {
        Err(EvidenceError::Malformed {
            service: "CodeDeploy",
            operation: "ListDeploymentTargets",
            message: "deployment discovery is not configured for this run".into(),
        })
    }
}
