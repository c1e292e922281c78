//! The CloudWatch alarms provider: `DescribeAlarms` by name or name prefix.
//!
//! An alarm gate lets an operator (or any other system) veto a deployment by
//! putting an alarm into ALARM, e.g. with `aws cloudwatch set-alarm-state`. The
//! provider returns each alarm's state; a name missing from the answer does not
//! exist, which the judge treats as an error, never as "not alarming".

use super::{AlarmObservation, AlarmSource, AlarmStates, EvidenceError};
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::AlarmType;
use aws_sdk_cloudwatch::Client;

/// `DescribeAlarms` takes at most 100 names per call.
const MAX_NAMES_PER_CALL: usize = 100;
/// At most this many pages of 100 alarms are read for one prefix.
const MAX_PREFIX_PAGES: usize = 10;

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

impl CloudWatchAlarms {
    /// `DescribeAlarms` for metric and composite alarms, a full page at a time.
    fn describe(&self) -> DescribeAlarmsFluentBuilder {
        self.client
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(100)
    }
}

fn api_error<E>(error: aws_sdk_cloudwatch::error::SdkError<E>) -> EvidenceError
where
    E: std::error::Error + aws_sdk_cloudwatch::error::ProvideErrorMetadata + 'static,
{
    EvidenceError::Api {
        service: "CloudWatch",
        operation: "DescribeAlarms",
        message: crate::evidence::aws_error(&error),
    }
}

impl AlarmSource for CloudWatchAlarms {
    async fn alarm_states(&self, names: &[String]) -> Result<AlarmStates, EvidenceError> {
        let mut states = AlarmStates::new();
        for chunk in names.chunks(MAX_NAMES_PER_CALL) {
            let output = self
                .describe()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api_error)?;
            record(&mut states, &output);
        }
        Ok(states)
    }

    async fn alarm_states_with_prefix(&self, prefix: &str) -> Result<AlarmStates, EvidenceError> {
        let mut states = AlarmStates::new();
        let mut next_token: Option<String> = None;
        // A bound on pages: a prefix matching thousands of alarms is a policy
        // mistake, and a token that never ends must not hang the hook.
        for _ in 0..MAX_PREFIX_PAGES {
            let output = self
                .describe()
                .alarm_name_prefix(prefix)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(api_error)?;
            record(&mut states, &output);
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(states),
            }
        }
        Err(EvidenceError::Malformed {
            service: "CloudWatch",
            operation: "DescribeAlarms",
            message: format!(
                "more than {} pages of alarms start with {prefix:?}: use a narrower prefix",
                MAX_PREFIX_PAGES
            ),
        })
    }
}

/// Adds every metric and composite alarm of one `DescribeAlarms` answer.
fn record(states: &mut AlarmStates, output: &DescribeAlarmsOutput) {
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
