//! The Lambda edge of the ECS-native lifecycle hook: one function for every
//! stage of an ECS blue/green, linear or canary deployment
//! (`functions/ecs-lifecycle-hook`).
//!
//! Cold start is the CodeDeploy hooks' ([`super::HookFunction::from_env`]:
//! the policy, the switches, the clients), plus the ECS client and the seal
//! store. Each invocation:
//!
//! 1. parses the payload in two steps ([`crate::event::ecs`]); a payload that
//!    does not read is an invocation error naming the field, which ECS reads
//!    as a failure (never `SUCCEEDED`);
//! 2. at the stages ECS runs again when it rolls back (`TEST_TRAFFIC_SHIFT`,
//!    `PRODUCTION_TRAFFIC_SHIFT`), asks ECS whether the service deployment is
//!    rolling back (`ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`): if it is,
//!    answers `SUCCEEDED` at once, with a record saying why (a gate must never
//!    hold a rollback; the switches are not consulted either). When ECS
//!    does not answer (an error, or not within 5 s), the stage is neither
//!    passed nor judged: `IN_PROGRESS` with a short `callBackDelay` asks
//!    again, a bounded number of times, then fails closed
//!    ([`crate::run::ecs::rollback_unanswered`]);
//! 3. judges the stage's section through the one pipeline: at once
//!    ([`crate::run::execute`]), or, with an `analysis`, one round of the bake
//!    ([`crate::run::ecs::execute_ecs_round`]), answering `IN_PROGRESS` with
//!    `callBackDelay` and the state in `hookDetails` until it concludes;
//! 4. logs the record and writes the audit chain head as the CodeDeploy
//!    hooks do, then returns `{"hookStatus": ...}`.
//!
//! The deployment is filed under `ecs.CLUSTER.SERVICE.REVISION`
//! ([`crate::event::ecs::EcsInvocation::deployment_key`]): the record's
//! `deployment_id`, the audit chain and the bake seals are per target
//! revision, the switches (`freeze`, `override/STAGE`) as for CodeDeploy.

use super::{HookFunction, StartupError, AFTER_REPORT_SPARE};
use crate::analysis::AnalysisState;
use crate::continuation::{SsmSeals, STATE_FIELD};
use crate::event::ecs::{parse_ecs_event, EcsEventError, EcsInvocation};
use crate::event::{EventError, Payload};
use crate::evidence::discovery::ecs_native::{EcsNativeClients, EcsTarget};
use crate::evidence::EvidenceError;
use crate::judge::{judge, LifecycleStatus};
use crate::report::after::after_report;
use crate::report::ecs::{ecs_answer, EcsHookStatus, ReturnedToEcs};
use crate::report::emf::metric_lines;
use crate::report::{DecisionRecord, LOG_EVENT_BOUND};
use crate::run::ecs::{answer_rollback, execute_ecs_round, give_up_rollback_check, Carried};
use crate::run::ecs::{rollback_unanswered, RollbackUnanswered, ROLLBACK_CHECK_FIELD};
use crate::run::ecs::{EcsBake, EcsRound};
use crate::run::{execute, remaining, Execution, Providers};
use crate::vocab::Hook;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::timeout;

/// How long the rollback question may take: a rollback must not wait on it.
const ROLLBACK_CHECK_BUDGET: Duration = Duration::from_secs(5);

/// What ECS said about a rollback.
enum RollbackCheck {
    /// Not a stage ECS runs again when it rolls back.
    NotAsked,
    /// No rollback: judge the stage.
    Forward,
    /// A rollback: why.
    RollingBack(String),
    /// ECS did not say: why.
    Unanswered(String),
}

/// Why an invocation ended in an error rather than an answer (ECS reads an
/// error as a failure and rolls back).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcsHookError {
    /// The body is not JSON.
    #[error("invalid ECS lifecycle payload: {0}")]
    NotJson(#[from] EventError),
    /// The payload is not an ECS lifecycle hook invocation.
    #[error("invalid ECS lifecycle payload: {0}")]
    InvalidEvent(#[from] EcsEventError),
}

impl From<EcsHookError> for Diagnostic {
    fn from(error: EcsHookError) -> Diagnostic {
        Diagnostic {
            error_type: "InvalidEvent".to_string(),
            error_message: crate::vocab::text::untrusted(&error.to_string()),
        }
    }
}

/// What a warm ECS hook function keeps between invocations.
pub struct EcsHookFunction {
    /// The CodeDeploy hooks' cold start: policy, switches, clients. Its
    /// `hook` is not read here: every invocation names its own stage.
    base: HookFunction,
    ecs: EcsNativeClients,
    seals: SsmSeals,
}

impl EcsHookFunction {
    /// Cold start.
    pub async fn from_env() -> Result<EcsHookFunction, StartupError> {
        let base = HookFunction::from_env(Hook::EcsReconcileService).await?;
        let ecs = EcsNativeClients::new(
            aws_sdk_ecs::Client::new(&base.sdk),
            aws_sdk_elasticloadbalancingv2::Client::new(&base.sdk),
        );
        let seals = SsmSeals::new(aws_sdk_ssm::Client::new(&base.sdk), &base.bake_prefix);
        Ok(EcsHookFunction { base, ecs, seals })
    }

    /// One invocation: parse, check for a rollback, judge, answer.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, EcsHookError> {
        let invocation = parse_ecs_event(&event.payload)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Read as the CodeDeploy hooks read it (`deadline`): a local
        // emulator's duration from now, else epoch milliseconds.
        let deadline_ms =
            super::deadline::invocation_deadline(event.context.deadline, now.as_millis() as u64);
        let left = remaining(deadline_ms, now.as_millis() as u64);
        let execution = Execution {
            hook: invocation.stage,
            deployment_id: invocation.deployment_key(),
            execution_id: invocation.execution_id.clone(),
            now: now.as_secs() as i64,
            deadline: tokio::time::Instant::now() + left,
            safety_margin: self.base.safety_margin,
            function_version: self.base.function_version.clone(),
        };
        let switches = self.base.switches.for_deployment(&execution.deployment_id);
        let deployment = self.ecs.for_invocation(EcsTarget {
            cluster: invocation.service.cluster.clone(),
            service: invocation.service.service.clone(),
            target_revision_arn: invocation.target_revision.arn.clone(),
            production_weights: invocation.production_weights.clone(),
        });
        let providers = || Providers {
            metrics: &self.base.metrics,
            alarms: &self.base.alarms,
            deployments: &deployment,
            reporter: &ReturnedToEcs,
            switches: &switches,
            probes: &self.base.probes,
            flags: &self.base.flags,
        };
        tracing::info!(
            deployment = %execution.deployment_id,
            stage = %execution.hook,
            test_weights = ?invocation.test_weights,
            production_weights = ?invocation.production_weights,
            "ECS lifecycle hook invoked"
        );
        match self.rollback_check(&invocation, &deployment).await {
            RollbackCheck::NotAsked | RollbackCheck::Forward => {}
            RollbackCheck::RollingBack(why) => {
                let reason = format!(
                    "this {} invocation belongs to a rollback ({why}): answered SUCCEEDED at once, nothing judged, so the gate never holds a rollback",
                    invocation.stage
                );
                let record = Box::pin(answer_rollback(
                    &self.base.policy,
                    &execution,
                    providers(),
                    reason,
                ))
                .await;
                return Ok(self.publish(record, &switches, deadline_ms).await);
            }
            RollbackCheck::Unanswered(why) => {
                let carried = invocation.hook_details.get(ROLLBACK_CHECK_FIELD);
                match rollback_unanswered(carried, execution.now, &why) {
                    RollbackUnanswered::AskAgain {
                        recheck,
                        callback_delay_secs,
                        reason,
                    } => {
                        tracing::warn!(
                            deployment = %execution.deployment_id,
                            stage = %execution.hook,
                            tries = recheck.tries,
                            callback_delay_secs,
                            reason = %reason,
                            "rollback check unanswered: ECS calls back"
                        );
                        // The bake's state, if any, goes back as it came.
                        let mut details = invocation.hook_details.clone();
                        details.insert(
                            ROLLBACK_CHECK_FIELD.to_string(),
                            serde_json::to_value(&recheck).unwrap_or(Value::Null),
                        );
                        return Ok(ecs_answer(
                            EcsHookStatus::InProgress {
                                callback_delay_secs,
                            },
                            Some(details),
                            &reason,
                        ));
                    }
                    RollbackUnanswered::GiveUp(reason) => {
                        let record = Box::pin(give_up_rollback_check(
                            &self.base.policy,
                            &execution,
                            providers(),
                            reason,
                        ))
                        .await;
                        return Ok(self.publish(record, &switches, deadline_ms).await);
                    }
                }
            }
        }
        let Some(analysis) = self
            .base
            .policy
            .hook(invocation.stage)
            .and_then(|s| s.analysis)
        else {
            let record = Box::pin(execute(&self.base.policy, &execution, providers(), judge)).await;
            return Ok(self.publish(record, &switches, deadline_ms).await);
        };
        let carried = match invocation.hook_details.get(STATE_FIELD) {
            None => Carried::Nothing,
            Some(value) => match AnalysisState::from_json(value, execution.now) {
                Ok(state) => Carried::State(state),
                Err(error) => Carried::Unusable(error.to_string()),
            },
        };
        let bake = EcsBake {
            analysis: &analysis,
            seals: &self.seals,
            carried,
            max_rounds: self.base.max_continuations,
        };
        let round = Box::pin(execute_ecs_round(
            &self.base.policy,
            &execution,
            providers(),
            judge,
            bake,
        ))
        .await;
        Ok(match round {
            EcsRound::Concluded(record) => self.publish(*record, &switches, deadline_ms).await,
            EcsRound::InProgress {
                state,
                callback_delay_secs,
                reason,
            } => {
                tracing::info!(
                    deployment = %execution.deployment_id,
                    stage = %execution.hook,
                    round = state.runs,
                    measurements = state.measurements.len(),
                    callback_delay_secs,
                    reason = %reason,
                    "analysis in progress: ECS calls back"
                );
                let mut details = invocation.hook_details.clone();
                details.insert(STATE_FIELD.to_string(), state.to_json());
                // ECS answered the rollback question this time: a later
                // unanswered one counts afresh.
                details.remove(ROLLBACK_CHECK_FIELD);
                ecs_answer(
                    EcsHookStatus::InProgress {
                        callback_delay_secs,
                    },
                    Some(details),
                    &reason,
                )
            }
            EcsRound::Overlapping {
                carried,
                callback_delay_secs,
                reason,
            } => {
                tracing::info!(
                    deployment = %execution.deployment_id,
                    stage = %execution.hook,
                    round = carried.as_ref().map_or(1, |state| state.runs),
                    callback_delay_secs,
                    reason = %reason,
                    "round claimed by an overlapping invocation: nothing measured, ECS calls back"
                );
                // The state goes back as it came (or stays absent), so that
                // ECS's callback is a repeat of this round, answered from the
                // seal the other invocation leaves.
                let mut details = invocation.hook_details.clone();
                details.remove(ROLLBACK_CHECK_FIELD);
                ecs_answer(
                    EcsHookStatus::InProgress {
                        callback_delay_secs,
                    },
                    Some(details),
                    &reason,
                )
            }
            EcsRound::Repeated { status, reason } => {
                tracing::info!(
                    deployment = %execution.deployment_id,
                    stage = %execution.hook,
                    status = %status,
                    reason = %reason,
                    "repeated invocation answered from the tombstone"
                );
                ecs_answer(status.into(), None, &reason)
            }
        })
    }

    /// Whether this invocation belongs to a rollback, as ECS says. Only the
    /// stages ECS runs again when it rolls back are asked about. ECS not
    /// answering (an API error, or no answer within
    /// [`ROLLBACK_CHECK_BUDGET`]) is told apart from an answer that names no
    /// rollback (no service deployment targets the revision, say): the
    /// latter is judged as usual.
    async fn rollback_check(
        &self,
        invocation: &EcsInvocation,
        deployment: &crate::evidence::discovery::ecs_native::EcsNativeDeployment<'_>,
    ) -> RollbackCheck {
        if !matches!(
            invocation.stage,
            Hook::EcsTestTrafficShift | Hook::EcsProductionTrafficShift
        ) {
            return RollbackCheck::NotAsked;
        }
        match timeout(ROLLBACK_CHECK_BUDGET, deployment.service_deployment()).await {
            Ok(Ok(found)) => found
                .rolling_back()
                .map_or(RollbackCheck::Forward, RollbackCheck::RollingBack),
            Ok(Err(error @ (EvidenceError::Api { .. } | EvidenceError::TimedOut { .. }))) => {
                RollbackCheck::Unanswered(format!("ECS failed: {error}"))
            }
            Ok(Err(error)) => {
                tracing::warn!(stage = %invocation.stage, error = %error, "ECS names no rollback of this revision; judging the stage as usual");
                RollbackCheck::Forward
            }
            Err(_) => RollbackCheck::Unanswered(format!(
                "ECS did not answer within {} s",
                ROLLBACK_CHECK_BUDGET.as_secs()
            )),
        }
    }

    /// Logs the record, writes the chain head and sends the alert (as the
    /// CodeDeploy hooks do), logs the metrics, and returns ECS's answer.
    async fn publish(
        &self,
        mut record: DecisionRecord,
        switches: &super::switchboard::DeploymentSwitches<'_>,
        deadline_ms: u64,
    ) -> Value {
        println!("{}", record.fit_log_event(LOG_EVENT_BOUND));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let budget = remaining(deadline_ms, now_ms).saturating_sub(AFTER_REPORT_SPARE);
        let after = Box::pin(after_report(
            &record,
            switches,
            self.base.alerts.as_ref(),
            budget,
        ))
        .await;
        for line in metric_lines(&record, &after, now_ms as i64) {
            println!("{line}");
        }
        let status = match record.status {
            LifecycleStatus::Succeeded => EcsHookStatus::Succeeded,
            LifecycleStatus::Failed => EcsHookStatus::Failed,
        };
        ecs_answer(status, None, &record.reason)
    }
}

/// Runs the ECS lifecycle hook binary: the whole of its `main`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    super::config::init_logging();
    let function = match EcsHookFunction::from_env().await {
        Ok(function) => Arc::new(function),
        Err(error) => {
            tracing::error!(error = %error, "refusing to start");
            super::config::report_init_error(&error).await;
            return Err(error.into());
        }
    };
    let stages: Vec<&str> = Hook::ECS_STAGES
        .into_iter()
        .filter(|stage| function.base.policy.hook(*stage).is_some())
        .map(Hook::as_str)
        .collect();
    tracing::info!(
        policy = %function.base.policy.source,
        digest = %function.base.policy.digest,
        stages = ?stages,
        "ready"
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| {
        let function = Arc::clone(&function);
        async move {
            let LambdaEvent { payload, context } = event;
            let payload = payload.into_json().map_err(EcsHookError::from)?;
            function.handle(LambdaEvent::new(payload, context)).await
        }
    }))
    .await
}
