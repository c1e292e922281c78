//! Handing a bake analysis to the next Lambda run: an asynchronous invocation
//! of the function itself, with the event and the analysis state in the payload.
//!
//! Why self-invocation rather than a Step Functions wait loop: it needs no
//! other resource to deploy, the state is small (a few kilobytes for an
//! hour of minutes), and every run is the same code path as the first. The
//! state is versioned and validated when read back
//! ([`crate::analysis::AnalysisState::from_json`]).

use crate::analysis::AnalysisState;
use crate::evidence::EvidenceError;
use crate::run::{Continuation, Execution};
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;
use serde_json::json;

/// The payload field that carries the state.
pub const STATE_FIELD: &str = "gate_analysis";

/// Invokes the running function again, asynchronously.
#[derive(Debug, Clone)]
pub struct SelfInvoke {
    client: Client,
    function_arn: String,
}

impl SelfInvoke {
    /// `function_arn` is the invoked function's ARN (from the Lambda context),
    /// so a continuation runs the same version or alias.
    pub fn new(client: Client, function_arn: &str) -> Self {
        SelfInvoke {
            client,
            function_arn: function_arn.to_string(),
        }
    }
}

/// The payload of a continuation: the CodeDeploy event plus the state.
pub fn continuation_payload(execution: &Execution, state: &AnalysisState) -> serde_json::Value {
    json!({
        "DeploymentId": execution.deployment_id,
        "LifecycleEventHookExecutionId": execution.execution_id,
        STATE_FIELD: state.to_json(),
    })
}

impl Continuation for SelfInvoke {
    async fn hand_off(
        &self,
        execution: &Execution,
        state: &AnalysisState,
    ) -> Result<(), EvidenceError> {
        let payload = continuation_payload(execution, state);
        self.client
            .invoke()
            .function_name(&self.function_arn)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| EvidenceError::Api {
                service: "Lambda",
                operation: "Invoke",
                message: crate::evidence::bounded(DisplayErrorContext(&e).to_string()),
            })?;
        Ok(())
    }
}
