//! ECS blue/green: the Green task set is the canary, the Blue one the
//! baseline; each side's target group gives its `TargetGroup` and
//! `LoadBalancer` dimensions.

use super::elb::{load_balancer_dimension, target_group_dimension, TargetGroupRecord};
use super::{
    malformed, CodeDeployDiscovery, Discovery, EcsTaskSet, SubjectValues, BATCH_GET_TARGETS,
    CODEDEPLOY, DESCRIBE_TARGET_GROUPS, ELBV2,
};
use crate::evidence::EvidenceError;
use aws_sdk_codedeploy::types::EcsTarget;

impl CodeDeployDiscovery {
    /// The canary (Green) and baseline (Blue) of an ECS deployment, their
    /// target groups resolved to dimensions with one `DescribeTargetGroups`.
    pub(super) async fn ecs_discovery(
        &self,
        target: &EcsTarget,
    ) -> Result<Discovery, EvidenceError> {
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
        Ok(discovery(task_sets, green, blue))
    }
}

/// The task sets of an ECS target, before their target groups are resolved.
pub(super) fn ecs_task_sets(target: &EcsTarget) -> Vec<EcsTaskSet> {
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
pub(super) fn blue_green(
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
pub(super) fn resolve_target_group(
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

pub(super) fn ecs_values(set: &EcsTaskSet) -> SubjectValues {
    [
        ("target_group", set.target_group.as_ref()),
        ("load_balancer", set.load_balancer.as_ref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_string(), value?.clone())))
    .collect()
}

/// The discovery of an ECS deployment whose Green (and Blue) task sets are resolved.
fn discovery(task_sets: Vec<EcsTaskSet>, green: usize, blue: Option<usize>) -> Discovery {
    Discovery {
        canary: ecs_values(&task_sets[green]),
        baseline: blue.map(|b| ecs_values(&task_sets[b])).unwrap_or_default(),
        lambda: None,
        ecs_task_sets: task_sets,
    }
}
