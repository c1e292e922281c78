//! The lifecycle moments this project gates, and their names: CodeDeploy's
//! four hooks and the stages of Amazon ECS's own (CodeDeploy-free)
//! blue/green, linear and canary deployments.
//!
//! One enum, used everywhere (policy sections, decision records, binaries), so
//! a hook's spelling exists in exactly one place: the platform's own. A
//! CodeDeploy hook is spelled as in the AppSpec (`BeforeAllowTraffic`), an ECS
//! stage as in the ECS API's `lifecycleStages` (`PRODUCTION_TRAFFIC_SHIFT`),
//! so a policy section's name says which platform calls it. Both kinds share
//! the whole pipeline: a section of either is judged by the same gate
//! language, evidence, judge and audit chain.
//!
//! The ECS stages are the ones the ECS API reference lists for
//! `DeploymentLifecycleHook.lifecycleStages`
//! (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html>):
//! the seven of the first release, and `PRE_PRODUCTION_TRAFFIC_SHIFT`, which
//! the reference added later ("for linear and canary deployments, this stage
//! is invoked before every traffic shift step"). `SCALE_UP`, `BAKE_TIME` and
//! `CLEAN_UP` are stages of a deployment (`ServiceDeployment.lifecycleStage`)
//! that no hook can be attached to, so they are not hooks here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A lifecycle moment that can invoke a gate function: a CodeDeploy hook or
/// an ECS-native deployment's lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Hook {
    /// Before the replacement task set or version is installed: nothing has moved yet.
    BeforeInstall,
    /// After the test listener sends traffic to the replacement.
    AfterAllowTestTraffic,
    /// Before production traffic moves to the replacement.
    BeforeAllowTraffic,
    /// After production traffic has moved to the replacement.
    AfterAllowTraffic,
    /// ECS: a new deployment starts while more than one service revision is
    /// ACTIVE.
    #[serde(rename = "RECONCILE_SERVICE")]
    EcsReconcileService,
    /// ECS: the green revision has not started; blue serves all production
    /// traffic; no test traffic.
    #[serde(rename = "PRE_SCALE_UP")]
    EcsPreScaleUp,
    /// ECS: the green revision runs; blue still serves all production traffic.
    #[serde(rename = "POST_SCALE_UP")]
    EcsPostScaleUp,
    /// ECS: test traffic moves from 0 % to 100 % onto green. Run again when
    /// ECS rolls back.
    #[serde(rename = "TEST_TRAFFIC_SHIFT")]
    EcsTestTrafficShift,
    /// ECS: green takes all the test traffic; blue all the production traffic.
    #[serde(rename = "POST_TEST_TRAFFIC_SHIFT")]
    EcsPostTestTrafficShift,
    /// ECS: before production traffic shifts (before every step of a linear
    /// or canary deployment).
    #[serde(rename = "PRE_PRODUCTION_TRAFFIC_SHIFT")]
    EcsPreProductionTrafficShift,
    /// ECS: production traffic moves onto green (at every step of a linear or
    /// canary deployment). Run again when ECS rolls back.
    #[serde(rename = "PRODUCTION_TRAFFIC_SHIFT")]
    EcsProductionTrafficShift,
    /// ECS: green serves all production traffic.
    #[serde(rename = "POST_PRODUCTION_TRAFFIC_SHIFT")]
    EcsPostProductionTrafficShift,
}

/// Which service invokes a hook, and so which contract it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// CodeDeploy: the function reports with `PutLifecycleEventHookExecutionStatus`.
    CodeDeploy,
    /// Amazon ECS: the function answers with its return value (`hookStatus`).
    Ecs,
}

/// The name of the one Lambda binary that serves every ECS stage.
pub const ECS_BINARY: &str = "ecs-lifecycle-hook";

impl Hook {
    /// Every CodeDeploy hook, in lifecycle order.
    pub const ALL: [Hook; 4] = [
        Hook::BeforeInstall,
        Hook::AfterAllowTestTraffic,
        Hook::BeforeAllowTraffic,
        Hook::AfterAllowTraffic,
    ];

    /// Every ECS lifecycle stage a hook can be attached to, in lifecycle order.
    pub const ECS_STAGES: [Hook; 8] = [
        Hook::EcsReconcileService,
        Hook::EcsPreScaleUp,
        Hook::EcsPostScaleUp,
        Hook::EcsTestTrafficShift,
        Hook::EcsPostTestTrafficShift,
        Hook::EcsPreProductionTrafficShift,
        Hook::EcsProductionTrafficShift,
        Hook::EcsPostProductionTrafficShift,
    ];

    /// Every section a policy may have: the CodeDeploy hooks, then the ECS stages.
    pub fn sections() -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().chain(Hook::ECS_STAGES)
    }

    /// Which service invokes this hook.
    pub fn platform(self) -> Platform {
        match self {
            Hook::BeforeInstall
            | Hook::AfterAllowTestTraffic
            | Hook::BeforeAllowTraffic
            | Hook::AfterAllowTraffic => Platform::CodeDeploy,
            _ => Platform::Ecs,
        }
    }

    /// The platform's spelling: the AppSpec's (`BeforeAllowTraffic`) or the
    /// ECS API's (`PRODUCTION_TRAFFIC_SHIFT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::BeforeInstall => "BeforeInstall",
            Hook::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            Hook::BeforeAllowTraffic => "BeforeAllowTraffic",
            Hook::AfterAllowTraffic => "AfterAllowTraffic",
            Hook::EcsReconcileService => "RECONCILE_SERVICE",
            Hook::EcsPreScaleUp => "PRE_SCALE_UP",
            Hook::EcsPostScaleUp => "POST_SCALE_UP",
            Hook::EcsTestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Hook::EcsPostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Hook::EcsPreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            Hook::EcsProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Hook::EcsPostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }

    /// Parses a section's spelling (a CodeDeploy hook or an ECS stage) or a
    /// CodeDeploy hook binary's kebab-case name.
    pub fn parse(name: &str) -> Option<Hook> {
        Hook::sections()
            .find(|h| h.as_str() == name || Hook::ALL.contains(h) && h.binary_name() == name)
    }

    /// Parses an ECS stage, as the ECS payload's `lifecycleStage` spells it.
    pub fn parse_ecs_stage(name: &str) -> Option<Hook> {
        Hook::ECS_STAGES.into_iter().find(|h| h.as_str() == name)
    }

    /// Whether this hook, once it succeeded, moves production traffic only
    /// in a later step: a CodeDeploy hook before traffic is allowed, or an
    /// ECS stage while blue still serves production. The `default` baseline
    /// is the live version being replaced at these moments.
    pub fn before_production_moves(self) -> bool {
        matches!(
            self,
            Hook::AfterAllowTestTraffic
                | Hook::BeforeAllowTraffic
                | Hook::EcsTestTrafficShift
                | Hook::EcsPostTestTrafficShift
                | Hook::EcsPreProductionTrafficShift
                | Hook::EcsProductionTrafficShift
        )
    }

    /// The name of the Lambda binary that serves this hook.
    pub fn binary_name(self) -> &'static str {
        match self {
            Hook::BeforeInstall => "before-install",
            Hook::AfterAllowTestTraffic => "after-allow-test-traffic",
            Hook::BeforeAllowTraffic => "before-allow-traffic",
            Hook::AfterAllowTraffic => "after-allow-traffic",
            _ => ECS_BINARY,
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        for hook in Hook::ALL {
            assert_eq!(Hook::parse(hook.as_str()), Some(hook));
            assert_eq!(Hook::parse(hook.binary_name()), Some(hook));
        }
        assert_eq!(Hook::parse("AfterInstall"), None);
    }

    #[test]
    fn ecs_stages_keep_the_ecs_spelling_everywhere() {
        for stage in Hook::ECS_STAGES {
            assert_eq!(stage.platform(), Platform::Ecs);
            assert_eq!(Hook::parse(stage.as_str()), Some(stage));
            assert_eq!(Hook::parse_ecs_stage(stage.as_str()), Some(stage));
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::json!(stage.as_str())
            );
            assert_eq!(stage.binary_name(), ECS_BINARY);
        }
        // One binary serves every stage: its name names none of them.
        assert_eq!(Hook::parse(ECS_BINARY), None);
        assert_eq!(Hook::parse_ecs_stage("BeforeAllowTraffic"), None);
        assert_eq!(Hook::parse_ecs_stage("SCALE_UP"), None);
        assert_eq!(Hook::sections().count(), 12);
    }
}
