//! Parsing the CodeDeploy lifecycle event a hook is invoked with.
//!
//! The event is checked field by field rather than handed to serde directly, so a
//! malformed event names the field that is wrong ("LifecycleEventHookExecutionId:
//! expected a non-empty string, found 42") instead of serde's position-only message.
//! A malformed event cannot be reported to CodeDeploy (there is no execution id to
//! report against), so the only honest answer is an invocation error.

use aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent;
use serde_json::Value;

/// Why an event is not a usable CodeDeploy lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The payload is not a JSON object at all.
    #[error("the event is not a JSON object (found {found}); CodeDeploy sends {{\"DeploymentId\": ..., \"LifecycleEventHookExecutionId\": ...}}")]
    NotAnObject {
        /// What was found instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("the event has no `{field}` field; CodeDeploy always sends it, so this event did not come from a lifecycle hook")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// A field is present with the wrong type or an empty value.
    #[error("the event's `{field}` field must be a non-empty string, found {found}")]
    InvalidField {
        /// The offending field.
        field: &'static str,
        /// A short description of what was found.
        found: String,
    },
}

/// The two identifiers a hook needs from its event.
pub const DEPLOYMENT_ID: &str = "DeploymentId";
/// See [`DEPLOYMENT_ID`].
pub const EXECUTION_ID: &str = "LifecycleEventHookExecutionId";

/// Parses and checks a lifecycle event.
pub fn parse_event(payload: &Value) -> Result<CodeDeployLifecycleEvent, EventError> {
    let object = payload.as_object().ok_or(EventError::NotAnObject {
        found: json_type(payload),
    })?;
    let field = |name: &'static str| -> Result<String, EventError> {
        match object.get(name) {
            None => Err(EventError::MissingField { field: name }),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(EventError::InvalidField {
                field: name,
                found: "an empty string".into(),
            }),
            Some(other) => Err(EventError::InvalidField {
                field: name,
                found: format!("{} {}", json_type(other), truncate(&other.to_string())),
            }),
        }
    };
    let deployment_id = field(DEPLOYMENT_ID)?;
    let lifecycle_event_hook_execution_id = field(EXECUTION_ID)?;
    let mut event = CodeDeployLifecycleEvent::default();
    event.deployment_id = deployment_id;
    event.lifecycle_event_hook_execution_id = lifecycle_event_hook_execution_id;
    Ok(event)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_real_event() {
        let event = parse_event(&json!({
            "DeploymentId": "d-ABCDEF123",
            "LifecycleEventHookExecutionId": "eyJlbmNyeXB0ZWREYXRhIjoi"
        }))
        .unwrap();
        assert_eq!(event.deployment_id, "d-ABCDEF123");
        assert_eq!(
            event.lifecycle_event_hook_execution_id,
            "eyJlbmNyeXB0ZWREYXRhIjoi"
        );
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            (json!([]), "not a JSON object"),
            (
                json!({"LifecycleEventHookExecutionId": "x"}),
                "`DeploymentId`",
            ),
            (
                json!({"DeploymentId": "d-1"}),
                "`LifecycleEventHookExecutionId`",
            ),
            (
                json!({"DeploymentId": 42, "LifecycleEventHookExecutionId": "x"}),
                "`DeploymentId` field must be a non-empty string, found a number 42",
            ),
            (
                json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "  "}),
                "found an empty string",
            ),
        ];
        for (payload, expected) in cases {
            let message = parse_event(&payload).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }
}
