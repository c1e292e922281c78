//! The deployment's one target: an answer that lacks a requested target, or a
//! deployment with several candidates, is refused by name.

use super::{malformed, BATCH_GET_TARGETS, CODEDEPLOY};
use crate::evidence::EvidenceError;
use aws_sdk_codedeploy::types::{DeploymentTarget, EcsTarget, LambdaTarget};
use std::collections::BTreeSet;

/// The one target discovery describes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Subject<'a> {
    Ecs(&'a EcsTarget),
    Lambda(&'a LambdaTarget),
}

pub(super) fn target_id(target: &DeploymentTarget) -> Option<&str> {
    target
        .ecs_target()
        .and_then(|t| t.target_id())
        .or_else(|| target.lambda_target().and_then(|t| t.target_id()))
        .or_else(|| target.instance_target().and_then(|t| t.target_id()))
        .or_else(|| target.cloud_formation_target().and_then(|t| t.target_id()))
}

/// The deployment's one ECS or Lambda target, refusing an answer that lacks
/// some requested target and a deployment with several candidates.
pub(super) fn deployment_subject<'a>(
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
pub(super) fn some_of(ids: &[&str]) -> String {
    match ids.len().checked_sub(IDS_NAMED) {
        Some(more) if more > 0 => format!("{} and {more} more", ids[..IDS_NAMED].join(", ")),
        _ => ids.join(", "),
    }
}
