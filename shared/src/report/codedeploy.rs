//! `PutLifecycleEventHookExecutionStatus` through the AWS SDK.
//!
//! Throttling and 5xx answers are retried by the SDK's standard retry strategy
//! (exponential backoff with jitter, configured where the client is built), so
//! this file only classifies the final answer. `LifecycleEventAlreadyCompleted`
//! is success: Lambda delivers asynchronous events at least once, and the
//! second delivery of an event must stand down quietly.

use super::{ReportError, ReportOutcome, StatusReporter};
use crate::judge::LifecycleStatus;
use aws_sdk_codedeploy::error::ProvideErrorMetadata;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_codedeploy::Client;

/// Reports to CodeDeploy.
#[derive(Debug, Clone)]
pub struct CodeDeployReporter {
    client: Client,
}

impl CodeDeployReporter {
    /// Wraps a configured client (retries are the client's).
    pub fn new(client: Client) -> Self {
        CodeDeployReporter { client }
    }
}

impl StatusReporter for CodeDeployReporter {
    async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: LifecycleStatus,
    ) -> Result<ReportOutcome, ReportError> {
        let status = match status {
            LifecycleStatus::Succeeded => LifecycleEventStatus::Succeeded,
            LifecycleStatus::Failed => LifecycleEventStatus::Failed,
        };
        let result = self
            .client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(execution_id)
            .status(status)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ReportOutcome::Accepted),
            Err(error) => {
                let code = error.code().map(str::to_string);
                if code.as_deref() == Some("LifecycleEventAlreadyCompletedException") {
                    Ok(ReportOutcome::AlreadyCompleted)
                } else {
                    Err(ReportError::Api {
                        code,
                        message: crate::evidence::aws_error(&error),
                    })
                }
            }
        }
    }
}
