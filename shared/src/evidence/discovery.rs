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
//! Everything that can be decided without the network (ARN parsing, picking
//! the deployment's one target, Blue and Green) is a pure function below, so
//! the SDK part only fetches.

use super::{bounded, EvidenceError};
// The trait and values this provider implements, where callers import them.
pub use super::{DiscoverySource, NoDiscovery};
pub use crate::bind::{Discovery, EcsTaskSet, LambdaTraffic, SubjectValues};
pub use crate::policy::SUBJECT_KEYS;
use aws_sdk_codedeploy::types::{DeploymentTarget, EcsTarget, LambdaFunctionInfo, LambdaTarget};
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::BTreeSet;

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

    /// The named target groups, in one call.
    async fn target_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<TargetGroupRecord>, EvidenceError> {
        let output = self
            .elb
            .describe_target_groups()
            .set_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| {
                let unknown = e
                    .as_service_error()
                    .is_some_and(|e| e.is_target_group_not_found_exception());
                if unknown {
                    EvidenceError::Api {
                        service: ELBV2,
                        operation: DESCRIBE_TARGET_GROUPS,
                        message: bounded(format!(
                            "ELBv2 does not know one or more of the target groups the \
                             deployment's task sets name ({}): TargetGroupNotFound",
                            names.join(", ")
                        )),
                    }
                } else {
                    api_error(ELBV2, DESCRIBE_TARGET_GROUPS, &e)
                }
            })?;
        Ok(output
            .target_groups()
            .iter()
            .map(|group| TargetGroupRecord {
                name: group.target_group_name().unwrap_or_default().to_string(),
                arn: group.target_group_arn().unwrap_or_default().to_string(),
                load_balancer_arns: group.load_balancer_arns().to_vec(),
            })
            .collect())
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
            Subject::Lambda(target) => lambda_discovery(target),
            Subject::Ecs(target) => {
                let target_id = target.target_id().unwrap_or("?");
                let mut task_sets = ecs_task_sets(target);
                let (green, blue) = blue_green(target_id, &task_sets)?;
                let sides: Vec<usize> = std::iter::once(green).chain(blue).collect();
                let mut names = Vec::new();
                for &i in &sides {
                    let name = target_group_name(target_id, &task_sets[i])?;
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                let groups = self.target_groups(&names).await?;
                for &i in &sides {
                    resolve_target_group(&mut task_sets[i], &groups)?;
                }
                Ok(ecs_discovery(task_sets, green, blue))
            }
        }
    }
}

/// What `DescribeTargetGroups` says about one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetGroupRecord {
    name: String,
    arn: String,
    load_balancer_arns: Vec<String>,
}

/// An ARN that is not the kind of Elastic Load Balancing ARN expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arn:?} is not {expected}")]
pub struct ArnError {
    /// The ARN as given.
    pub arn: String,
    /// What it should have been.
    pub expected: &'static str,
}

/// The resource part of an Elastic Load Balancing ARN
/// (`arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:RESOURCE`).
fn elb_resource<'a>(arn: &'a str, expected: &'static str) -> Result<&'a str, ArnError> {
    let error = || ArnError {
        arn: arn.to_string(),
        expected,
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "elasticloadbalancing", region, account, resource]
            if !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(resource)
        }
        _ => Err(error()),
    }
}

/// `NAME/ID` with both parts non-empty and nothing else.
fn is_name_and_id(rest: &str) -> bool {
    let mut parts = rest.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(name), Some(id), None)
            if !name.is_empty() && !id.is_empty() && !rest.contains(char::is_whitespace)
    )
}

/// The ALB `TargetGroup` dimension (`targetgroup/NAME/ID`) of a target group ARN.
pub fn target_group_dimension(arn: &str) -> Result<String, ArnError> {
    const EXPECTED: &str = "a target group ARN (arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)";
    let resource = elb_resource(arn, EXPECTED)?;
    match resource.strip_prefix("targetgroup/") {
        Some(rest) if is_name_and_id(rest) => Ok(resource.to_string()),
        _ => Err(ArnError {
            arn: arn.to_string(),
            expected: EXPECTED,
        }),
    }
}

/// The `LoadBalancer` dimension of a load balancer ARN: `app/NAME/ID` for an
/// Application Load Balancer, `net/NAME/ID` for a Network Load Balancer.
pub fn load_balancer_dimension(arn: &str) -> Result<String, ArnError> {
    const EXPECTED: &str = "an application or network load balancer ARN (arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)";
    let resource = elb_resource(arn, EXPECTED)?;
    let dimension = resource.strip_prefix("loadbalancer/");
    let name_and_id = dimension.and_then(|d| d.strip_prefix("app/").or(d.strip_prefix("net/")));
    match (dimension, name_and_id) {
        (Some(dimension), Some(rest)) if is_name_and_id(rest) => Ok(dimension.to_string()),
        _ => Err(ArnError {
            arn: arn.to_string(),
            expected: EXPECTED,
        }),
    }
}

/// The one target discovery describes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject<'a> {
    Ecs(&'a EcsTarget),
    Lambda(&'a LambdaTarget),
}

fn target_id(target: &DeploymentTarget) -> Option<&str> {
    target
        .ecs_target()
        .and_then(|t| t.target_id())
        .or_else(|| target.lambda_target().and_then(|t| t.target_id()))
        .or_else(|| target.instance_target().and_then(|t| t.target_id()))
        .or_else(|| target.cloud_formation_target().and_then(|t| t.target_id()))
}

/// The deployment's one ECS or Lambda target, refusing an answer that lacks
/// some requested target and a deployment with several candidates.
fn deployment_subject<'a>(
    deployment_id: &str,
    requested: &[String],
    targets: &'a [DeploymentTarget],
) -> Result<Subject<'a>, EvidenceError> {
    let returned: BTreeSet<&str> = targets.iter().filter_map(target_id).collect();
    let missing: Vec<&str> = requested
        .iter()
        .map(String::as_str)
        .filter(|id| !returned.contains(id))
        .collect();
    if !missing.is_empty() {
        return Err(malformed(
            CODEDEPLOY,
            BATCH_GET_TARGETS,
            format!(
                "the answer lacks {} of the deployment's targets: {}",
                missing.len(),
                some_of(&missing)
            ),
        ));
    }
    let ecs: Vec<&EcsTarget> = targets.iter().filter_map(|t| t.ecs_target()).collect();
    let lambda: Vec<&LambdaTarget> = targets.iter().filter_map(|t| t.lambda_target()).collect();
    match (ecs.as_slice(), lambda.as_slice()) {
        ([only], []) => Ok(Subject::Ecs(only)),
        ([], [only]) => Ok(Subject::Lambda(only)),
        ([], []) => {
            let kinds: BTreeSet<&str> = targets
                .iter()
                .map(|t| t.deployment_target_type().map_or("untyped", |k| k.as_str()))
                .collect();
            Err(malformed(
                CODEDEPLOY,
                BATCH_GET_TARGETS,
                format!(
                    "deployment {deployment_id} has no ECS or Lambda target (only {}); canary \
                     and baseline discovery covers ECS blue/green and Lambda deployments",
                    kinds.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ))
        }
        _ => {
            let ids: Vec<&str> = ecs
                .iter()
                .filter_map(|t| t.target_id())
                .chain(lambda.iter().filter_map(|t| t.target_id()))
                .collect();
            Err(malformed(
                CODEDEPLOY,
                BATCH_GET_TARGETS,
                format!(
                    "deployment {deployment_id} has {} ECS targets and {} Lambda targets, and \
                     discovery cannot tell which one the canary and baseline are: {}",
                    ecs.len(),
                    lambda.len(),
                    some_of(&ids)
                ),
            ))
        }
    }
}

/// How many ids an error message lists before it only counts the rest.
const IDS_NAMED: usize = 5;

/// `a, b, c`, or the first [`IDS_NAMED`] and how many more.
fn some_of(ids: &[&str]) -> String {
    match ids.len().checked_sub(IDS_NAMED) {
        Some(more) if more > 0 => format!("{} and {more} more", ids[..IDS_NAMED].join(", ")),
        _ => ids.join(", "),
    }
}

/// The task sets of an ECS target, before their target groups are resolved.
fn ecs_task_sets(target: &EcsTarget) -> Vec<EcsTaskSet> {
    target
        .task_sets_info()
        .iter()
        .map(|set| EcsTaskSet {
            label: set.task_set_label().map(|l| l.as_str().to_string()),
            identifier: set.identifer().map(str::to_string),
            target_group_name: set
                .target_group()
                .and_then(|g| g.name())
                .map(str::to_string),
            target_group: None,
            load_balancer: None,
            traffic_weight: Some(set.traffic_weight()),
            status: set.status().map(str::to_string),
        })
        .collect()
}

/// The positions of the Green (canary) and, if any, Blue (baseline) task sets.
fn blue_green(
    target_id: &str,
    task_sets: &[EcsTaskSet],
) -> Result<(usize, Option<usize>), EvidenceError> {
    let labelled = |label: &str| -> Vec<usize> {
        let is = |set: &EcsTaskSet| {
            set.label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(label))
        };
        (0..task_sets.len())
            .filter(|&i| is(&task_sets[i]))
            .collect()
    };
    let (green, blue) = (labelled("Green"), labelled("Blue"));
    let green = match green.as_slice() {
        [only] => *only,
        [] => {
            return Err(malformed(
                CODEDEPLOY,
                BATCH_GET_TARGETS,
                format!(
                    "ECS target {target_id} has no Green (replacement) task set, so there is \
                     no canary yet (CodeDeploy creates it after the BeforeInstall hook)"
                ),
            ))
        }
        several => {
            return Err(malformed(
                CODEDEPLOY,
                BATCH_GET_TARGETS,
                format!(
                    "ECS target {target_id} has {} task sets labelled Green; discovery cannot \
                     tell which one is the canary",
                    several.len()
                ),
            ))
        }
    };
    match blue.as_slice() {
        [] => Ok((green, None)),
        [only] => Ok((green, Some(*only))),
        several => Err(malformed(
            CODEDEPLOY,
            BATCH_GET_TARGETS,
            format!(
                "ECS target {target_id} has {} task sets labelled Blue; discovery cannot tell \
                 which one is the baseline",
                several.len()
            ),
        )),
    }
}

fn describe_task_set(set: &EcsTaskSet) -> String {
    format!(
        "the {} task set {}",
        set.label.as_deref().unwrap_or("unlabelled"),
        set.identifier.as_deref().unwrap_or("(no identifier)")
    )
}

fn target_group_name(target_id: &str, set: &EcsTaskSet) -> Result<String, EvidenceError> {
    set.target_group_name
        .clone()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            malformed(
                CODEDEPLOY,
                BATCH_GET_TARGETS,
                format!(
                    "{} of ECS target {target_id} names no target group",
                    describe_task_set(set)
                ),
            )
        })
}

/// Fills the task set's `target_group` and `load_balancer` dimensions from
/// what ELBv2 said about its target group.
fn resolve_target_group(
    set: &mut EcsTaskSet,
    groups: &[TargetGroupRecord],
) -> Result<(), EvidenceError> {
    let name = set.target_group_name.as_deref().unwrap_or_default();
    let elb_error = |message: String| malformed(ELBV2, DESCRIBE_TARGET_GROUPS, message);
    let group = groups.iter().find(|g| g.name == name).ok_or_else(|| {
        elb_error(format!(
            "ELBv2 returned no target group named {name:?} ({} uses it)",
            describe_task_set(set)
        ))
    })?;
    let target_group = target_group_dimension(&group.arn)
        .map_err(|e| elb_error(format!("target group {name:?}: {e}")))?;
    let load_balancer_arn = group.load_balancer_arns.first().ok_or_else(|| {
        elb_error(format!(
            "target group {name:?} ({}) is not attached to any load balancer (no listener or \
             rule forwards to it), so it has no LoadBalancer dimension",
            describe_task_set(set)
        ))
    })?;
    let load_balancer = load_balancer_dimension(load_balancer_arn)
        .map_err(|e| elb_error(format!("the load balancer of target group {name:?}: {e}")))?;
    set.target_group = Some(target_group);
    set.load_balancer = Some(load_balancer);
    Ok(())
}

fn ecs_values(set: &EcsTaskSet) -> SubjectValues {
    [
        ("target_group", set.target_group.as_ref()),
        ("load_balancer", set.load_balancer.as_ref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_string(), value?.clone())))
    .collect()
}

/// The discovery of an ECS deployment whose Green (and Blue) task sets are resolved.
fn ecs_discovery(task_sets: Vec<EcsTaskSet>, green: usize, blue: Option<usize>) -> Discovery {
    Discovery {
        canary: ecs_values(&task_sets[green]),
        baseline: blue.map(|b| ecs_values(&task_sets[b])).unwrap_or_default(),
        lambda: None,
        ecs_task_sets: task_sets,
    }
}

/// The function's name when CodeDeploy gives its ARN
/// (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`).
fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        _ => name_or_arn,
    }
}

/// The discovery of a Lambda deployment's traffic shift.
fn lambda_discovery(target: &LambdaTarget) -> Result<Discovery, EvidenceError> {
    let target_id = target.target_id().unwrap_or("?");
    let info: &LambdaFunctionInfo = target.lambda_function_info().ok_or_else(|| {
        malformed(
            CODEDEPLOY,
            BATCH_GET_TARGETS,
            format!("Lambda target {target_id} has no lambdaFunctionInfo"),
        )
    })?;
    let field = |value: Option<&str>, member: &str| -> Result<String, EvidenceError> {
        value
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                malformed(
                    CODEDEPLOY,
                    BATCH_GET_TARGETS,
                    format!("Lambda target {target_id} has no lambdaFunctionInfo.{member}"),
                )
            })
    };
    let name = function_name(&field(info.function_name(), "functionName")?).to_string();
    let alias = field(info.function_alias(), "functionAlias")?;
    let current_version = field(info.current_version(), "currentVersion")?;
    let target_version = field(info.target_version(), "targetVersion")?;
    let resource = format!("{name}:{alias}");
    let side = |version: &str| -> SubjectValues {
        [
            ("function_name", name.as_str()),
            ("resource", resource.as_str()),
            ("version", version),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    Ok(Discovery {
        ecs_task_sets: Vec::new(),
        canary: side(&target_version),
        baseline: side(&current_version),
        lambda: Some(LambdaTraffic {
            function_name: name.clone(),
            alias,
            current_version: Some(current_version),
            target_version: Some(target_version),
            target_version_weight: Some(info.target_version_weight()),
        }),
    })
}

fn malformed(service: &'static str, operation: &'static str, message: String) -> EvidenceError {
    EvidenceError::Malformed {
        service,
        operation,
        message: bounded(message),
    }
}

fn api_error<E, R>(
    service: &'static str,
    operation: &'static str,
    error: &aws_sdk_codedeploy::error::SdkError<E, R>,
) -> EvidenceError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    EvidenceError::Api {
        service,
        operation,
        message: bounded(aws_sdk_codedeploy::error::DisplayErrorContext(error).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types as sdk;

    const TG_ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/0123456789abcdef";
    const LB_ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/fedcba9876543210";

    fn message(error: EvidenceError) -> String {
        error.to_string()
    }

    #[test]
    fn target_group_arns_become_dimensions() {
        assert_eq!(
            target_group_dimension(TG_ARN).unwrap(),
            "targetgroup/web-green/0123456789abcdef"
        );
        // Other partitions have the same shape.
        assert_eq!(
            target_group_dimension(
                "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/a/1"
            )
            .unwrap(),
            "targetgroup/a/1"
        );
        for bad in [
            "",
            "targetgroup/web/123",
            "arn:aws:ecs:us-east-1:123456789012:targetgroup/web/123",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1/2",
            "arn:aws:elasticloadbalancing:us-east-1:ACCOUNT:targetgroup/web/1",
            "arn:aws:elasticloadbalancing::123456789012:targetgroup/web/1",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/we b/1",
        ] {
            let error = target_group_dimension(bad).unwrap_err();
            assert_eq!(error.arn, bad);
            assert!(
                error.to_string().contains("is not a target group ARN"),
                "{error}"
            );
        }
    }

    #[test]
    fn load_balancer_arns_become_dimensions() {
        assert_eq!(
            load_balancer_dimension(LB_ARN).unwrap(),
            "app/web/fedcba9876543210"
        );
        assert_eq!(
            load_balancer_dimension(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/tcp/42"
            )
            .unwrap(),
            "net/tcp/42"
        );
        for bad in [
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/gwy/fw/42",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/web/42",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/42/7",
            TG_ARN,
            "app/web/42",
        ] {
            let error = load_balancer_dimension(bad).unwrap_err();
            assert!(error.to_string().contains("load balancer ARN"), "{error}");
        }
    }

    fn task_set(label: &str, id: &str, group: Option<&str>) -> sdk::EcsTaskSet {
        let mut set = sdk::EcsTaskSet::builder()
            .identifer(id)
            .task_set_label(sdk::TargetLabel::from(label))
            .traffic_weight(if label == "Blue" { 90.0 } else { 10.0 })
            .status("ACTIVE");
        if let Some(group) = group {
            set = set.target_group(sdk::TargetGroupInfo::builder().name(group).build());
        }
        set.build()
    }

    fn ecs_target(id: &str, sets: Vec<sdk::EcsTaskSet>) -> DeploymentTarget {
        DeploymentTarget::builder()
            .deployment_target_type(sdk::DeploymentTargetType::EcsTarget)
            .ecs_target(
                sdk::EcsTarget::builder()
                    .target_id(id)
                    .set_task_sets_info(Some(sets))
                    .build(),
            )
            .build()
    }

    fn lambda_target(id: &str, info: sdk::LambdaFunctionInfo) -> DeploymentTarget {
        DeploymentTarget::builder()
            .deployment_target_type(sdk::DeploymentTargetType::LambdaTarget)
            .lambda_target(
                sdk::LambdaTarget::builder()
                    .target_id(id)
                    .lambda_function_info(info)
                    .build(),
            )
            .build()
    }

    fn function_info() -> sdk::LambdaFunctionInfo {
        sdk::LambdaFunctionInfo::builder()
            .function_name("orders")
            .function_alias("live")
            .current_version("6")
            .target_version("7")
            .target_version_weight(0.1)
            .build()
    }

    fn ids(targets: &[DeploymentTarget]) -> Vec<String> {
        targets
            .iter()
            .filter_map(target_id)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_one_ecs_or_lambda_target_is_the_subject() {
        let ecs = vec![ecs_target("cluster:web", vec![])];
        assert!(matches!(
            deployment_subject("d-1", &ids(&ecs), &ecs),
            Ok(Subject::Ecs(t)) if t.target_id() == Some("cluster:web")
        ));
        let lambda = vec![lambda_target("orders:live", function_info())];
        assert!(matches!(
            deployment_subject("d-1", &ids(&lambda), &lambda),
            Ok(Subject::Lambda(t)) if t.target_id() == Some("orders:live")
        ));
    }

    #[test]
    fn several_candidates_or_none_are_refused_by_name() {
        let two = vec![
            ecs_target("cluster:web", vec![]),
            ecs_target("cluster:api", vec![]),
        ];
        let text = message(deployment_subject("d-1", &ids(&two), &two).unwrap_err());
        assert!(
            text.contains("has 2 ECS targets and 0 Lambda targets"),
            "{text}"
        );
        assert!(text.contains("cannot tell which"), "{text}");
        assert!(text.contains("cluster:web, cluster:api"), "{text}");

        let mixed = vec![
            ecs_target("cluster:web", vec![]),
            lambda_target("orders:live", function_info()),
        ];
        let text = message(deployment_subject("d-1", &ids(&mixed), &mixed).unwrap_err());
        assert!(
            text.contains("1 ECS targets and 1 Lambda targets"),
            "{text}"
        );

        let instances = vec![DeploymentTarget::builder()
            .deployment_target_type(sdk::DeploymentTargetType::InstanceTarget)
            .instance_target(sdk::InstanceTarget::builder().target_id("i-1").build())
            .build()];
        let text = message(deployment_subject("d-1", &ids(&instances), &instances).unwrap_err());
        assert!(
            text.contains("has no ECS or Lambda target (only InstanceTarget)"),
            "{text}"
        );
    }

    #[test]
    fn long_id_lists_are_counted_not_listed() {
        assert_eq!(some_of(&["a", "b"]), "a, b");
        assert_eq!(some_of(&["a", "b", "c", "d", "e"]), "a, b, c, d, e");
        assert_eq!(
            some_of(&["a", "b", "c", "d", "e", "f", "g"]),
            "a, b, c, d, e and 2 more"
        );
    }

    #[test]
    fn an_answer_missing_a_requested_target_is_refused() {
        let targets = vec![ecs_target("cluster:web", vec![])];
        let requested = vec!["cluster:web".to_string(), "cluster:api".to_string()];
        let error = deployment_subject("d-1", &requested, &targets).unwrap_err();
        assert!(
            matches!(
                &error,
                EvidenceError::Malformed { service: "CodeDeploy", operation: "BatchGetDeploymentTargets", message }
                    if message.contains("lacks 1 of the deployment's targets: cluster:api")
            ),
            "{error}"
        );
    }

    #[test]
    fn green_is_the_canary_and_blue_the_baseline() {
        let target = sdk::EcsTarget::builder()
            .target_id("c:s")
            .task_sets_info(task_set("Blue", "ts-blue", Some("web-blue")))
            .task_sets_info(task_set("Green", "ts-green", Some("web-green")))
            .build();
        let sets = ecs_task_sets(&target);
        assert_eq!(
            sets[1],
            EcsTaskSet {
                label: Some("Green".into()),
                identifier: Some("ts-green".into()),
                target_group_name: Some("web-green".into()),
                target_group: None,
                load_balancer: None,
                traffic_weight: Some(10.0),
                status: Some("ACTIVE".into()),
            }
        );
        assert_eq!(blue_green("c:s", &sets).unwrap(), (1, Some(0)));
        // Green alone (no Blue) leaves the baseline out, not the canary.
        assert_eq!(blue_green("c:s", &sets[1..]).unwrap(), (0, None));
    }

    #[test]
    fn missing_or_repeated_labels_are_refused_by_name() {
        let blue = ecs_task_sets(
            &sdk::EcsTarget::builder()
                .task_sets_info(task_set("Blue", "ts-blue", Some("web-blue")))
                .build(),
        );
        let text = message(blue_green("c:s", &blue).unwrap_err());
        assert!(
            text.contains("ECS target c:s has no Green (replacement) task set"),
            "{text}"
        );

        let mut greens = blue.clone();
        greens[0].label = Some("Green".into());
        greens.push(greens[0].clone());
        let text = message(blue_green("c:s", &greens).unwrap_err());
        assert!(text.contains("2 task sets labelled Green"), "{text}");

        let mut blues = blue.clone();
        blues.push(blue[0].clone());
        blues.push(EcsTaskSet {
            label: Some("Green".into()),
            ..blue[0].clone()
        });
        let text = message(blue_green("c:s", &blues).unwrap_err());
        assert!(text.contains("2 task sets labelled Blue"), "{text}");
    }

    fn resolved(group: TargetGroupRecord) -> Result<EcsTaskSet, EvidenceError> {
        let mut set = EcsTaskSet {
            label: Some("Green".into()),
            identifier: Some("ts-green".into()),
            target_group_name: Some("web-green".into()),
            ..EcsTaskSet::default()
        };
        resolve_target_group(&mut set, &[group]).map(|()| set)
    }

    fn record(name: &str, arn: &str, lbs: &[&str]) -> TargetGroupRecord {
        TargetGroupRecord {
            name: name.into(),
            arn: arn.into(),
            load_balancer_arns: lbs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn target_groups_resolve_to_both_dimensions() {
        let set = resolved(record("web-green", TG_ARN, &[LB_ARN])).unwrap();
        assert_eq!(
            set.target_group.as_deref(),
            Some("targetgroup/web-green/0123456789abcdef")
        );
        assert_eq!(
            set.load_balancer.as_deref(),
            Some("app/web/fedcba9876543210")
        );
        assert_eq!(
            ecs_values(&set),
            BTreeMap::from([
                (
                    "load_balancer".to_string(),
                    "app/web/fedcba9876543210".to_string()
                ),
                (
                    "target_group".to_string(),
                    "targetgroup/web-green/0123456789abcdef".to_string()
                ),
            ])
        );
    }

    #[test]
    fn unresolvable_target_groups_are_refused_by_name() {
        let text = message(resolved(record("web-blue", TG_ARN, &[LB_ARN])).unwrap_err());
        assert!(
            text.contains("ELBv2 returned no target group named \"web-green\" (the Green task set ts-green uses it)"),
            "{text}"
        );
        let text = message(resolved(record("web-green", TG_ARN, &[])).unwrap_err());
        assert!(
            text.contains("is not attached to any load balancer"),
            "{text}"
        );
        let text = message(resolved(record("web-green", "tg-arn?", &[LB_ARN])).unwrap_err());
        assert!(
            text.contains("target group \"web-green\": \"tg-arn?\" is not a target group ARN"),
            "{text}"
        );
        let text = message(resolved(record("web-green", TG_ARN, &[TG_ARN])).unwrap_err());
        assert!(
            text.contains("the load balancer of target group \"web-green\""),
            "{text}"
        );
    }

    #[test]
    fn lambda_targets_give_versions_and_the_alias_resource() {
        let target = sdk::LambdaTarget::builder()
            .target_id("orders:live")
            .lambda_function_info(function_info())
            .build();
        let discovery = lambda_discovery(&target).unwrap();
        let side = |version: &str| {
            BTreeMap::from([
                ("function_name".to_string(), "orders".to_string()),
                ("resource".to_string(), "orders:live".to_string()),
                ("version".to_string(), version.to_string()),
            ])
        };
        assert_eq!(discovery.canary, side("7"));
        assert_eq!(discovery.baseline, side("6"));
        let traffic = discovery.lambda.unwrap();
        assert_eq!(traffic.target_version_weight, Some(0.1));
        assert_eq!(traffic.alias, "live");
    }

    #[test]
    fn lambda_function_arns_give_the_name_dimension() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:orders:live"),
            "orders"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:orders"),
            "orders"
        );
        assert_eq!(function_name("orders"), "orders");
    }

    #[test]
    fn incomplete_lambda_targets_are_refused_by_field() {
        let info = sdk::LambdaFunctionInfo::builder()
            .function_name("orders")
            .function_alias("live")
            .current_version("6")
            .build();
        let target = sdk::LambdaTarget::builder()
            .target_id("orders:live")
            .lambda_function_info(info)
            .build();
        let text = message(lambda_discovery(&target).unwrap_err());
        assert!(
            text.contains("Lambda target orders:live has no lambdaFunctionInfo.targetVersion"),
            "{text}"
        );
        let bare = sdk::LambdaTarget::builder()
            .target_id("orders:live")
            .build();
        let text = message(lambda_discovery(&bare).unwrap_err());
        assert!(text.contains("has no lambdaFunctionInfo"), "{text}");
    }
}
