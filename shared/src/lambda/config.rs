//! Cold-start configuration: the environment variables a hook reads once
//! (policy file, switch prefix, safety margin), the policy they name, the SDK
//! configuration from Lambda's own variables, JSON logging, and the typed
//! error a function refuses to start with, told to the Runtime API so the
//! failure reads `PolicyInvalid` or `SettingInvalid`, not an anonymous exit.

use crate::aws_http::{https_client, Roots};
use crate::policy::{Policy, PolicyError};
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SystemTimeSource;
use serde_json::json;
use std::time::Duration;

/// Environment variable naming a policy file; unset means the embedded default.
pub const POLICY_FILE_VAR: &str = "GATE_POLICY_FILE";
/// Environment variable for the SSM prefix of the freeze and override switches
/// (default `/codedeploy-gates/`; `none` turns the switches off).
pub const SWITCH_PREFIX_VAR: &str = "GATE_SWITCH_PREFIX";
/// Environment variable for the safety margin before the deadline, in milliseconds.
pub const SAFETY_MARGIN_VAR: &str = "GATE_SAFETY_MARGIN_MS";
const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(3000);
/// Environment variable bounding the continuations of a bake analysis
/// (default [`crate::analysis::DEFAULT_MAX_CONTINUATIONS`]; 0: a bake must
/// fit in one run).
pub const MAX_CONTINUATIONS_VAR: &str = "GATE_MAX_CONTINUATIONS";
/// Why a function refuses to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The policy is unreadable or invalid.
    #[error("invalid gate policy: {0}")]
    Policy(#[from] PolicyError),
    /// An environment setting is malformed.
    #[error("{var}={value:?} is not valid: {expected}")]
    Setting {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// Reads the policy named by the environment (or the embedded default).
pub fn load_policy(env: &dyn Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
    match env(POLICY_FILE_VAR).filter(|p| !p.is_empty()) {
        None => Policy::embedded_default(env),
        Some(path) => crate::policy::load_file(std::path::Path::new(&path), env),
    }
}

pub(super) fn safety_margin(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Duration, StartupError> {
    match env(SAFETY_MARGIN_VAR) {
        None => Ok(DEFAULT_SAFETY_MARGIN),
        Some(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (100..=600_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or(StartupError::Setting {
                var: SAFETY_MARGIN_VAR,
                value,
                expected: "whole milliseconds between 100 and 600000",
            }),
    }
}

pub(super) fn max_continuations(env: &dyn Fn(&str) -> Option<String>) -> Result<u32, StartupError> {
    match env(MAX_CONTINUATIONS_VAR) {
        None => Ok(crate::analysis::DEFAULT_MAX_CONTINUATIONS),
        Some(value) => value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or(StartupError::Setting {
                var: MAX_CONTINUATIONS_VAR,
                value,
                expected: "a whole number of continuations between 0 and 1000",
            }),
    }
}

/// Tells the Lambda service why the function will not start, so the invocation
/// fails with our error type and message (`PolicyInvalid: file:line:column: ...`)
/// rather than an anonymous `Runtime.ExitError`. Best effort: the process exits
/// with the error whatever happens here.
pub(super) async fn report_init_error(error: &StartupError) {
    // Outside Lambda (a plain run, a unit test) there is no Runtime API to tell.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let client = lambda_runtime_api_client::PooledClient::builder().build();
    let error_type = match error {
        StartupError::Policy(_) => "PolicyInvalid",
        StartupError::Setting { .. } => "SettingInvalid",
    };
    let body = json!({"errorType": error_type, "errorMessage": error.to_string()});
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", error_type)
        .body(lambda_runtime_api_client::body::Body::from(
            body.to_string(),
        ));
    if let Ok(request) = request {
        if let Err(e) = client.call(request).await {
            tracing::warn!(error = %e, "could not report the init error to the Runtime API");
        }
    }
}

/// The SDK configuration of a function on Lambda, from the variables Lambda
/// sets: `AWS_REGION`, the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and the standard
/// `AWS_ENDPOINT_URL`, `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT`
/// when set. aws-config's default chains (profile files, SSO, web identity
/// through STS, container and instance metadata) serve other environments:
/// they cost about 1 MB of each hook's artifact and file probing at every cold
/// start, and on Lambda they end where this starts. gatectl keeps the full chain.
pub(super) fn lambda_sdk_config(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SdkConfig, StartupError> {
    let required = |var: &'static str| {
        env(var)
            .filter(|value| !value.is_empty())
            .ok_or(StartupError::Setting {
                var,
                value: String::new(),
                expected:
                    "set by Lambda for every function; outside Lambda, set it as Lambda would",
            })
    };
    let flag = |var: &'static str| match env(var).as_deref().map(str::to_ascii_lowercase).as_deref()
    {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(StartupError::Setting {
            var,
            value: env(var).unwrap_or_default(),
            expected: "true or false",
        }),
    };
    let region = required("AWS_REGION")?;
    required("AWS_ACCESS_KEY_ID")?;
    required("AWS_SECRET_ACCESS_KEY")?;
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https_client(Roots::AwsServices))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SystemTimeSource::new())
        // Exponential backoff with full jitter for throttling and 5xx; the
        // deadline, not the attempt count, is the real bound.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        );
    config.set_endpoint_url(env("AWS_ENDPOINT_URL").filter(|url| !url.is_empty()));
    config.set_use_fips(flag("AWS_USE_FIPS_ENDPOINT")?);
    config.set_use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT")?);
    Ok(config.build())
}

/// JSON logs at the level `RUST_LOG` names (`info`, or per target such as
/// `info,metric_gate=debug`); an unreadable value keeps `info` and says so.
/// The `lambda_runtime` module that logs raw invocation bodies at TRACE.
const RAW_EVENT_LOG_TARGET: &str = "lambda_runtime::layers::api_response";

pub(super) fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let setting = std::env::var("RUST_LOG").ok();
    let parsed = setting.as_deref().map(str::parse::<Targets>);
    let filter = match &parsed {
        Some(Ok(targets)) => targets.clone(),
        _ => Targets::new().with_default(LevelFilter::INFO),
    }
    // At TRACE the runtime logs every invocation's raw body ("raw JSON event
    // received from Lambda"): an event's unchecked ids (megabytes, control
    // characters) and a bake's continuation state. Nothing unchecked reaches
    // a log line, whatever RUST_LOG says; the event's problems are logged by
    // the handler, escaped and bounded.
    .with_target(RAW_EVENT_LOG_TARGET, LevelFilter::DEBUG);
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_target(false);
    // A second call (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init();
    if let Some(Err(error)) = parsed {
        tracing::warn!(RUST_LOG = setting.as_deref().unwrap_or_default(), %error, "RUST_LOG not understood; logging at info");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_continuation_bound_is_read_once_and_refused_when_malformed() {
        let with = |value: Option<&str>| {
            let value = value.map(str::to_string);
            max_continuations(&move |name: &str| {
                (name == MAX_CONTINUATIONS_VAR)
                    .then(|| value.clone())
                    .flatten()
            })
        };
        assert_eq!(
            with(None).unwrap(),
            crate::analysis::DEFAULT_MAX_CONTINUATIONS
        );
        assert_eq!(with(Some("0")).unwrap(), 0);
        assert_eq!(with(Some(" 12 ")).unwrap(), 12);
        for bad in ["", "-1", "1001", "many", "2.5"] {
            let error = with(Some(bad)).unwrap_err().to_string();
            assert!(
                error.starts_with("GATE_MAX_CONTINUATIONS=")
                    && error.contains("between 0 and 1000"),
                "{bad:?}: {error}"
            );
        }
    }
}
