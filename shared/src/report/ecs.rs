//! The ECS-native lifecycle hook's answer: the function's return value.
//!
//! ECS does not take a status call: it reads `hookStatus` (`SUCCEEDED`,
//! `FAILED`, `IN_PROGRESS`), `callBackDelay` and `hookDetails` from what the
//! function returns ("Lifecycle hooks for Amazon ECS service deployments",
//! ECS developer guide). So the record's report is [`ReturnedToEcs`]'s
//! "accepted" (the answer goes out with the return, which nothing can refuse
//! short of the function failing, and ECS reads a failure as `FAILED`), and
//! this module writes the answer.

use super::{ReportError, ReportOutcome, StatusReporter};
use crate::judge::LifecycleStatus;
use serde_json::{json, Map, Value};

/// The "reporter" of the ECS hook: the status goes back as the return value,
/// so there is nothing to call.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReturnedToEcs;

impl StatusReporter for ReturnedToEcs {
    async fn report(
        &self,
        _deployment_id: &str,
        _execution_id: &str,
        _status: LifecycleStatus,
    ) -> Result<ReportOutcome, ReportError> {
        Ok(ReportOutcome::Accepted)
    }
}

/// What ECS is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsHookStatus {
    /// The deployment goes on to the next stage.
    Succeeded,
    /// ECS rolls the deployment back.
    Failed,
    /// ECS invokes the function again after the delay, with the `hookDetails`.
    InProgress {
        /// `callBackDelay`, seconds.
        callback_delay_secs: u32,
    },
}

impl From<LifecycleStatus> for EcsHookStatus {
    fn from(status: LifecycleStatus) -> Self {
        match status {
            LifecycleStatus::Succeeded => EcsHookStatus::Succeeded,
            LifecycleStatus::Failed => EcsHookStatus::Failed,
        }
    }
}

/// The return value: `{"hookStatus": ..., "callBackDelay": ..., "hookDetails": ...}`.
/// `hookDetails` is returned only with `IN_PROGRESS` (the next invocation is
/// the only reader); `reason` is for a person reading the invocation's result.
pub fn ecs_answer(
    status: EcsHookStatus,
    hook_details: Option<Map<String, Value>>,
    reason: &str,
) -> Value {
    let mut answer = match status {
        EcsHookStatus::Succeeded => json!({"hookStatus": "SUCCEEDED"}),
        EcsHookStatus::Failed => json!({"hookStatus": "FAILED"}),
        EcsHookStatus::InProgress {
            callback_delay_secs,
        } => json!({"hookStatus": "IN_PROGRESS", "callBackDelay": callback_delay_secs}),
    };
    if let (EcsHookStatus::InProgress { .. }, Some(details)) = (status, hook_details) {
        answer["hookDetails"] = Value::Object(details);
    }
    answer["reason"] = json!(reason);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_documented_fields() {
        let done = ecs_answer(EcsHookStatus::Succeeded, None, "fine");
        assert_eq!(done, json!({"hookStatus": "SUCCEEDED", "reason": "fine"}));
        let mut details = Map::new();
        details.insert("gate_analysis".into(), json!({"version": 1}));
        let waiting = ecs_answer(
            EcsHookStatus::InProgress {
                callback_delay_secs: 60,
            },
            Some(details),
            "baking",
        );
        assert_eq!(waiting["hookStatus"], "IN_PROGRESS");
        assert_eq!(waiting["callBackDelay"], 60);
        assert_eq!(waiting["hookDetails"]["gate_analysis"]["version"], 1);
        assert_eq!(
            ecs_answer(EcsHookStatus::Failed, None, "bad")["hookStatus"],
            "FAILED"
        );
    }
}
