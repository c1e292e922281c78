//! The CloudWatch alarms provider: `DescribeAlarms` by name.
//!
//! An alarm gate lets an operator (or any other system) veto a deployment by
//! putting an alarm into ALARM, e.g. with `aws cloudwatch set-alarm-state`. The
//! provider returns each alarm's state; a name missing from the answer does not
//! exist, which the judge treats as an error, never as "not alarming".

use super::{AlarmObservation, AlarmSource, AlarmStates, EvidenceError};
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::AlarmType;
use aws_sdk_cloudwatch::Client;

/// `DescribeAlarms` takes at most 100 names per call.
const MAX_NAMES_PER_CALL: usize = 100;

/// CloudWatch alarms through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        CloudWatchAlarms { client }
    }
}

impl AlarmSource for CloudWatchAlarms {
    async fn alarm_states(&self, names: &[String]) -> Result<AlarmStates, EvidenceError> {
        let mut states = AlarmStates::new();
        for chunk in names.chunks(MAX_NAMES_PER_CALL) {
            let output = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(100)
                .send()
                .await
                .map_err(|e| EvidenceError::Api {
                    service: "CloudWatch",
                    operation: "DescribeAlarms",
                    message: crate::evidence::bounded(DisplayErrorContext(&e).to_string()),
                })?;
            let metric = output.metric_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value().map(|s| s.as_str()),
                    a.state_reason(),
                )
            });
            let composite = output.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value().map(|s| s.as_str()),
                    a.state_reason(),
                )
            });
            for (name, state, reason) in metric.chain(composite) {
                if let Some(name) = name {
                    states.insert(
                        name.to_string(),
                        AlarmObservation {
                            state: state.unwrap_or("UNKNOWN").to_string(),
                            reason: reason.map(str::to_string),
                        },
                    );
                }
            }
        }
        Ok(states)
    }
}
