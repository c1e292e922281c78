//! ELBv2: what `DescribeTargetGroups` says about the task sets' target
//! groups, and the CloudWatch dimensions in their ARNs.

use super::{api_error, CodeDeployDiscovery, DESCRIBE_TARGET_GROUPS, ELBV2};
use crate::evidence::{bounded, EvidenceError};

impl CodeDeployDiscovery {
    /// The named target groups, in one call.
    pub(super) async fn target_groups(
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

/// What `DescribeTargetGroups` says about one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TargetGroupRecord {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) load_balancer_arns: Vec<String>,
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
