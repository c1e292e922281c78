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
//!
//! [`CodeDeployDiscovery`] asks the real APIs:
//! 1. `ListDeploymentTargets`, every page (`nextToken`);
//! 2. `BatchGetDeploymentTargets`, 25 ids a call (the API's limit), the chunks
//!    concurrently;
//! 3. for an ECS deployment, one `DescribeTargetGroups` naming every target
//!    group of the task sets.
//!
//! What each side's keys hold, and the CloudWatch dimensions they are for:
//!
//! | key             | ECS (`AWS/ApplicationELB`)            | Lambda (`AWS/Lambda`)                  |
//! |-----------------|---------------------------------------|----------------------------------------|
//! | `target_group`  | `TargetGroup` = `targetgroup/NAME/ID` | -                                      |
//! | `load_balancer` | `LoadBalancer` = `app/NAME/ID`        | -                                      |
//! | `function_name` | -                                     | `FunctionName` = the function's name   |
//! | `resource`      | -                                     | `Resource` = `FUNCTION:ALIAS`          |
//! | `version`       | -                                     | `ExecutedVersion` = the version number |
//!
//! ECS: canary is the task set CodeDeploy labels Green (the replacement),
//! baseline the one labelled Blue (the original). The target group's ARN
//! `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`
//! gives `targetgroup/NAME/ID`; its first load balancer's ARN
//! `...:loadbalancer/app/NAME/ID` gives `app/NAME/ID` (`net/NAME/ID` for a
//! Network Load Balancer, whose metrics live in `AWS/NetworkELB`). A
//! deployment without a Blue task set leaves the baseline empty, so only a
//! policy that names the baseline fails (when it binds).
//!
//! Lambda: both sides share `function_name` and `resource`; canary's `version`
//! is the target version, baseline's the current one. Lambda publishes
//! per-version metrics of an alias with the dimensions `FunctionName`,
//! `Resource` (`FUNCTION:ALIAS`) and `ExecutedVersion` together, so a policy
//! gates one side with all three.
//!
//! Everything that can be decided without the network is a pure function, so
//! the SDK part only fetches: picking the deployment's one target (`targets`),
//! Blue and Green and their target groups (`ecs`), ARNs to dimensions (`elb`,
//! which also holds the `DescribeTargetGroups` call), versions and the alias
//! (`lambda`). The discovered values themselves are [`crate::bind`]'s.

// The trait this provider implements, where callers import it.
pub use super::{DiscoverySource, NoDiscovery};
pub use crate::bind::{Discovery, EcsTaskSet, LambdaTraffic, SubjectValues};
pub use crate::policy::SUBJECT_KEYS;
pub use elb::{load_balancer_dimension, target_group_dimension, ArnError};

use super::{bounded, EvidenceError};
use aws_sdk_codedeploy::types::DeploymentTarget;
use std::collections::BTreeSet;
use targets::{deployment_subject, Subject};

mod ecs;
pub mod ecs_native;
mod elb;
mod lambda;
mod targets;

/// CodeDeploy's limit on ids per `BatchGetDeploymentTargets` call.
pub const BATCH_GET_TARGETS_LIMIT: usize = 25;

const CODEDEPLOY: &str = "CodeDeploy";
const ELBV2: &str = "ELBv2";
const LIST_TARGETS: &str = "ListDeploymentTargets";
const BATCH_GET_TARGETS: &str = "BatchGetDeploymentTargets";
const DESCRIBE_TARGET_GROUPS: &str = "DescribeTargetGroups";

/// Discovery through the AWS SDK: CodeDeploy for the deployment's targets,
/// ELBv2 for the ARNs of an ECS deployment's target groups.
#[derive(Debug, Clone)]
pub struct CodeDeployDiscovery {
    codedeploy: aws_sdk_codedeploy::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl CodeDeployDiscovery {
    /// Wraps configured clients.
    pub fn new(
        codedeploy: aws_sdk_codedeploy::Client,
        elb: aws_sdk_elasticloadbalancingv2::Client,
    ) -> Self {
        CodeDeployDiscovery { codedeploy, elb }
    }

    /// Every target id of the deployment, following `nextToken`.
    async fn target_ids(&self, deployment_id: &str) -> Result<Vec<String>, EvidenceError> {
        let mut ids = Vec::new();
        let mut seen = BTreeSet::new();
        let mut tokens = BTreeSet::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .codedeploy
                .list_deployment_targets()
                .deployment_id(deployment_id)
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|e| api_error(CODEDEPLOY, LIST_TARGETS, &e))?;
            ids.extend(
                page.target_ids()
                    .iter()
                    .filter(|id| seen.insert(id.to_string()))
                    .cloned(),
            );
            match page.next_token().filter(|token| !token.is_empty()) {
                None => return Ok(ids),
                // A token handed out twice would page forever.
                Some(token) if !tokens.insert(token.to_string()) => {
                    return Err(malformed(
                        CODEDEPLOY,
                        LIST_TARGETS,
                        format!("returned the nextToken {token:?} a second time"),
                    ))
                }
                Some(token) => next_token = Some(token.to_string()),
            }
        }
    }

    /// The targets behind `ids`, [`BATCH_GET_TARGETS_LIMIT`] a call, the calls concurrently.
    async fn targets(
        &self,
        deployment_id: &str,
        ids: &[String],
    ) -> Result<Vec<DeploymentTarget>, EvidenceError> {
        let calls = ids.chunks(BATCH_GET_TARGETS_LIMIT).map(|chunk| async move {
            self.codedeploy
                .batch_get_deployment_targets()
                .deployment_id(deployment_id)
                .set_target_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map(|output| output.deployment_targets.unwrap_or_default())
                .map_err(|e| api_error(CODEDEPLOY, BATCH_GET_TARGETS, &e))
        });
        let chunks = futures_util::future::try_join_all(calls).await?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

impl DiscoverySource for CodeDeployDiscovery {
    async fn discover(&self, deployment_id: &str) -> Result<Discovery, EvidenceError> {
        let ids = self.target_ids(deployment_id).await?;
        if ids.is_empty() {
            return Err(malformed(
                CODEDEPLOY,
                LIST_TARGETS,
                format!(
                    "deployment {deployment_id} has no deployment targets (CodeDeploy has not \
                     created them yet), so there is no canary or baseline to discover"
                ),
            ));
        }
        let targets = self.targets(deployment_id, &ids).await?;
        match deployment_subject(deployment_id, &ids, &targets)? {
            Subject::Lambda(target) => lambda::lambda_discovery(target),
            Subject::Ecs(target) => self.ecs_discovery(target).await,
        }
    }
}

fn malformed(service: &'static str, operation: &'static str, message: String) -> EvidenceError {
    EvidenceError::Malformed {
        service,
        operation,
        message: bounded(message),
    }
}

fn api_error<E>(
    service: &'static str,
    operation: &'static str,
    error: &aws_sdk_codedeploy::error::SdkError<E>,
) -> EvidenceError
where
    E: std::error::Error + aws_sdk_codedeploy::error::ProvideErrorMetadata + 'static,
{
    EvidenceError::Api {
        service,
        operation,
        message: crate::evidence::aws_error(error),
    }
}

#[cfg(test)]
mod tests;
