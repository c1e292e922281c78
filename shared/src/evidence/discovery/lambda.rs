//! Lambda (SAM `DeploymentPreference`): the alias's target version is the
//! canary, its current version the baseline.

use super::{malformed, Discovery, LambdaTraffic, SubjectValues, BATCH_GET_TARGETS, CODEDEPLOY};
use crate::evidence::EvidenceError;
use aws_sdk_codedeploy::types::{LambdaFunctionInfo, LambdaTarget};

/// The function's name when CodeDeploy gives its ARN
/// (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`).
pub(super) fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        _ => name_or_arn,
    }
}

/// The discovery of a Lambda deployment's traffic shift.
pub(super) fn lambda_discovery(target: &LambdaTarget) -> Result<Discovery, EvidenceError> {
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
