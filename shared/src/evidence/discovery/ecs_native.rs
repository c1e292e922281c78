//! ECS-native deployments (no CodeDeploy): the deployment, its green and blue
//! service revisions and their target groups, from the ECS API.
//!
//! 1. `ListServiceDeployments` (cluster, service): the service deployment
//!    whose target revision is the payload's `targetServiceRevisionArn` (the
//!    newest such, the API lists newest first);
//! 2. `DescribeServiceDeployments` on it: its status (`ROLLBACK_REQUESTED`,
//!    `ROLLBACK_IN_PROGRESS` say a rollback runs), its source revisions (blue)
//!    and its creation time;
//! 3. `DescribeServiceRevisions` of green and blue: each revision's target
//!    group, from its `resolvedConfiguration.loadBalancers` (the target group
//!    the revision actually serves from, which alternates between the
//!    service's `targetGroupArn` and `advancedConfiguration.alternateTargetGroupArn`
//!    deployment by deployment), or, without one, its first `loadBalancers`
//!    entry; when both sides name the same group, green's is the alternate;
//! 4. ELBv2 `DescribeTargetGroups` by ARN: each group's load balancer, for the
//!    `LoadBalancer` dimension.
//!
//! Canary is green (the target revision), baseline is blue; the traffic
//! weights are the payload's, and the record carries both sides as it does a
//! CodeDeploy deployment's task sets (`ecs_task_sets`, labelled `Green` and
//! `Blue`, `identifier` the revision ARN). `TARGET_GROUP`, `LOAD_BALANCER`
//! and `BASELINE_TARGET_GROUP` override what is found, as for CodeDeploy.

use super::elb::{load_balancer_dimension, target_group_dimension};
use super::{malformed, Discovery, EcsTaskSet, SubjectValues, DESCRIBE_TARGET_GROUPS, ELBV2};
use crate::evidence::{DeploymentInfo, DeploymentSource, EvidenceError};
use aws_sdk_ecs::types::{ServiceDeployment, ServiceDeploymentStatus, ServiceRevision};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;

const ECS: &str = "ECS";

/// The clients, kept by the warm function.
#[derive(Debug, Clone)]
pub struct EcsNativeClients {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl EcsNativeClients {
    /// Wraps configured clients.
    pub fn new(ecs: aws_sdk_ecs::Client, elb: aws_sdk_elasticloadbalancingv2::Client) -> Self {
        EcsNativeClients { ecs, elb }
    }

    /// The deployment source of one invocation.
    pub fn for_invocation(&self, target: EcsTarget) -> EcsNativeDeployment<'_> {
        EcsNativeDeployment {
            clients: self,
            target,
            found: tokio::sync::OnceCell::new(),
        }
    }
}

/// What the payload says is being deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsTarget {
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub service: String,
    /// The target (green) revision's ARN.
    pub target_revision_arn: String,
    /// Production weight per revision ARN, from the payload.
    pub production_weights: BTreeMap<String, f64>,
}

/// The ECS API's view of one invocation's deployment.
pub struct EcsNativeDeployment<'a> {
    clients: &'a EcsNativeClients,
    target: EcsTarget,
    /// The service deployment, asked of ECS once per invocation: the rollback
    /// check, the deployment's facts and discovery all read it, and each
    /// asking is two sequential calls. A failure is not kept: the next reader
    /// asks again.
    found: tokio::sync::OnceCell<ServiceDeploymentFound>,
}

/// The service deployment as discovery reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDeploymentFound {
    /// Its ARN.
    pub arn: String,
    /// `IN_PROGRESS`, `ROLLBACK_IN_PROGRESS`, ...
    pub status: Option<String>,
    /// Blue: the source revisions' ARNs.
    pub source_revisions: Vec<String>,
    /// When created, epoch seconds.
    pub created_at: Option<i64>,
    /// The rollback's reason, when one runs or ran.
    pub rollback_reason: Option<String>,
}

impl ServiceDeploymentFound {
    /// Whether ECS is rolling this deployment back: why, when it is.
    pub fn rolling_back(&self) -> Option<String> {
        let status = self.status.as_deref()?;
        matches!(status, "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS").then(|| {
            format!(
                "the service deployment {} is {status}{}",
                self.arn,
                self.rollback_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        })
    }
}

fn api<E>(
    operation: &'static str,
    service: &'static str,
    e: &SdkError<E, HttpResponse>,
) -> EvidenceError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    EvidenceError::Api {
        service,
        operation,
        message: crate::evidence::aws_error(e),
    }
}

impl EcsNativeDeployment<'_> {
    /// The service deployment of the target revision (steps 1 and 2), asked
    /// once per invocation.
    pub async fn service_deployment(&self) -> Result<ServiceDeploymentFound, EvidenceError> {
        // Boxed: the SDK's futures nested under the memo are deep enough that
        // the hook's top-level future overflows the compiler's layout query
        // depth; one allocation per invocation keeps it shallow.
        self.found
            .get_or_try_init(|| Box::pin(self.ask_service_deployment()))
            .await
            .cloned()
    }

    async fn ask_service_deployment(&self) -> Result<ServiceDeploymentFound, EvidenceError> {
        let listed = self
            .clients
            .ecs
            .list_service_deployments()
            .cluster(&self.target.cluster)
            .service(&self.target.service)
            .send()
            .await
            .map_err(|e| api("ListServiceDeployments", ECS, &e))?;
        let arn = listed
            .service_deployments()
            .iter()
            .find(|d| {
                d.target_service_revision_arn() == Some(self.target.target_revision_arn.as_str())
            })
            .and_then(|d| d.service_deployment_arn())
            .ok_or_else(|| {
                malformed(
                    ECS,
                    "ListServiceDeployments",
                    format!(
                        "no service deployment of {}/{} targets {}",
                        self.target.cluster, self.target.service, self.target.target_revision_arn
                    ),
                )
            })?
            .to_string();
        let described = self
            .clients
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(&arn)
            .send()
            .await
            .map_err(|e| api("DescribeServiceDeployments", ECS, &e))?;
        let deployment: &ServiceDeployment =
            described.service_deployments().first().ok_or_else(|| {
                malformed(
                    ECS,
                    "DescribeServiceDeployments",
                    format!("{arn} was not described"),
                )
            })?;
        Ok(ServiceDeploymentFound {
            arn,
            status: deployment
                .status()
                .map(ServiceDeploymentStatus::as_str)
                .map(str::to_string),
            source_revisions: deployment
                .source_service_revisions()
                .iter()
                .filter_map(|r| r.arn())
                .map(str::to_string)
                .collect(),
            created_at: deployment.created_at().map(|t| t.secs()),
            rollback_reason: deployment
                .rollback()
                .and_then(|r| r.reason())
                .map(str::to_string),
        })
    }

    async fn revisions(&self, arns: &[String]) -> Result<Vec<ServiceRevision>, EvidenceError> {
        let output = self
            .clients
            .ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| api("DescribeServiceRevisions", ECS, &e))?;
        Ok(output.service_revisions().to_vec())
    }

    async fn load_balancer_of(
        &self,
        target_group_arns: &[String],
    ) -> Result<BTreeMap<String, String>, EvidenceError> {
        let output = self
            .clients
            .elb
            .describe_target_groups()
            .set_target_group_arns(Some(target_group_arns.to_vec()))
            .send()
            .await
            .map_err(|e| api(DESCRIBE_TARGET_GROUPS, ELBV2, &e))?;
        Ok(output
            .target_groups()
            .iter()
            .filter_map(|g| {
                Some((
                    g.target_group_arn()?.to_string(),
                    g.load_balancer_arns().first()?.to_string(),
                ))
            })
            .collect())
    }
}

/// The target group a revision serves from, and the alternate it names.
fn target_groups_of(revision: &ServiceRevision) -> (Option<String>, Option<String>) {
    let resolved = revision
        .resolved_configuration()
        .and_then(|c| c.load_balancers().first())
        .and_then(|lb| lb.target_group_arn());
    let configured = revision.load_balancers().first();
    let primary = resolved.or_else(|| configured.and_then(|lb| lb.target_group_arn()));
    let alternate = configured
        .and_then(|lb| lb.advanced_configuration())
        .and_then(|a| a.alternate_target_group_arn());
    (primary.map(str::to_string), alternate.map(str::to_string))
}

impl DeploymentSource for EcsNativeDeployment<'_> {
    async fn deployment(&self, _deployment_id: &str) -> Result<DeploymentInfo, EvidenceError> {
        let found = self.service_deployment().await?;
        Ok(DeploymentInfo {
            application_name: Some(self.target.service.clone()),
            deployment_group_name: Some(self.target.cluster.clone()),
            deployment_config_name: Some(found.arn.clone()),
            compute_platform: Some("ECS".into()),
            status: found.status.clone(),
            creator: None,
            create_time: found.created_at,
        })
    }

    async fn discover(&self, _deployment_id: &str) -> Result<Discovery, EvidenceError> {
        let found = self.service_deployment().await?;
        let green_arn = self.target.target_revision_arn.clone();
        let blue_arn = found.source_revisions.first().cloned();
        let mut arns = vec![green_arn.clone()];
        arns.extend(blue_arn.clone());
        let revisions = self.revisions(&arns).await?;
        let of = |arn: &str| {
            revisions
                .iter()
                .find(|r| r.service_revision_arn() == Some(arn))
                .map(target_groups_of)
        };
        let (green_primary, green_alternate) = of(&green_arn).ok_or_else(|| {
            malformed(
                ECS,
                "DescribeServiceRevisions",
                format!("{green_arn} was not described"),
            )
        })?;
        let blue_group = blue_arn
            .as_deref()
            .and_then(of)
            .and_then(|(primary, _)| primary);
        let green_group = match (&green_primary, &blue_group) {
            (Some(green), Some(blue)) if green == blue => green_alternate.or(green_primary),
            _ => green_primary,
        };
        let groups: Vec<String> = green_group
            .iter()
            .chain(blue_group.iter())
            .cloned()
            .collect();
        let load_balancers = if groups.is_empty() {
            BTreeMap::new()
        } else {
            self.load_balancer_of(&groups).await?
        };
        let side = |label: &str,
                    revision: Option<&String>,
                    group: Option<&String>|
         -> Result<(EcsTaskSet, SubjectValues), EvidenceError> {
            let mut values = SubjectValues::new();
            let mut set = EcsTaskSet {
                label: Some(label.to_string()),
                identifier: revision.cloned(),
                traffic_weight: revision
                    .and_then(|r| self.target.production_weights.get(r).copied()),
                ..EcsTaskSet::default()
            };
            if let Some(group) = group {
                let dimension = target_group_dimension(group)
                    .map_err(|e| malformed(ECS, "DescribeServiceRevisions", e.to_string()))?;
                set.target_group_name = dimension.split('/').nth(1).map(str::to_string);
                values.insert("target_group".into(), dimension.clone());
                set.target_group = Some(dimension);
                if let Some(lb) = load_balancers.get(group) {
                    let dimension = load_balancer_dimension(lb)
                        .map_err(|e| malformed(ELBV2, DESCRIBE_TARGET_GROUPS, e.to_string()))?;
                    values.insert("load_balancer".into(), dimension.clone());
                    set.load_balancer = Some(dimension);
                }
            }
            Ok((set, values))
        };
        let (green, canary) = side("Green", Some(&green_arn), green_group.as_ref())?;
        let (blue, baseline) = side("Blue", blue_arn.as_ref(), blue_group.as_ref())?;
        let mut ecs_task_sets = vec![green];
        if blue_arn.is_some() {
            ecs_task_sets.push(blue);
        }
        Ok(Discovery {
            ecs_task_sets,
            lambda: None,
            canary,
            baseline,
        })
    }
}
