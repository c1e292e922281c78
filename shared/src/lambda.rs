//! The Lambda edge: configuration at cold start, the handler, error types.
//!
//! Every hook binary's `main` is one call to [`serve`]. Cold start does the work
//! that must happen once: JSON logging, reading and validating the policy (an
//! invalid policy stops the function before it can judge anything), loading the
//! AWS configuration and building the clients. The handler then parses the event,
//! runs [`crate::run::execute`] and prints the decision record.

use crate::analysis::AnalysisState;
use crate::audit::{ChainHead, HeadStore};
use crate::aws_http::{https_client, Roots};
use crate::continuation::{SelfInvoke, STATE_FIELD};
use crate::event::{parse_event, EventError};
use crate::evidence::alarms::CloudWatchAlarms;
use crate::evidence::cloudwatch::CloudWatchMetrics;
use crate::evidence::deployment::CodeDeployDeployments;
use crate::evidence::discovery::CodeDeployDiscovery;
use crate::evidence::probes::HttpProbes;
use crate::evidence::switches::{
    NoSwitches, ScopedSsmSwitches, SsmSwitches, SwitchSource, DEFAULT_PREFIX,
};
use crate::evidence::EvidenceError;
use crate::judge::judge;
use crate::policy::{Policy, PolicyError};
use crate::report::after::after_report;
use crate::report::alert::{SnsAlerts, ALERT_TOPIC_VAR};
use crate::report::codedeploy::CodeDeployReporter;
use crate::report::emf::metric_lines;
use crate::report::DecisionRecord;
use crate::report::{ReportSummary, LOG_EVENT_BOUND};
use crate::run::{
    execute, execute_analysis, fail_without_evidence, remaining, AnalysisRun, Bake, Execution,
    Providers, WallClock,
};
use crate::vocab::hook::Hook;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SystemTimeSource;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Environment variable naming a policy file; unset means the embedded default.
pub const POLICY_FILE_VAR: &str = "GATE_POLICY_FILE";
/// Environment variable for the SSM prefix of the freeze and override switches
/// (default `/codedeploy-gates/`; `none` turns the switches off).
pub const SWITCH_PREFIX_VAR: &str = "GATE_SWITCH_PREFIX";
/// Environment variable for the safety margin before the deadline, in milliseconds.
pub const SAFETY_MARGIN_VAR: &str = "GATE_SAFETY_MARGIN_MS";
const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(3000);
/// Time kept free at the very end of an invocation, after the chain head and
/// the alert, to print the metrics and answer the Runtime API.
const AFTER_REPORT_SPARE: Duration = Duration::from_millis(200);

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

/// Why an invocation ended in an error rather than a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The event is not a CodeDeploy lifecycle event: nothing can be reported.
    #[error("invalid CodeDeploy lifecycle event: {0}")]
    InvalidEvent(#[from] EventError),
    /// The status could not be reported; Lambda's async retry will try again.
    #[error("could not report {status} for deployment {deployment_id}: {message}")]
    StatusReportFailed {
        /// The deployment.
        deployment_id: String,
        /// The status that was not delivered.
        status: String,
        /// Why.
        message: String,
    },
}

impl From<HookError> for Diagnostic {
    fn from(error: HookError) -> Diagnostic {
        let error_type = match &error {
            HookError::InvalidEvent(_) => "InvalidEvent",
            HookError::StatusReportFailed { .. } => "StatusReportFailed",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: error.to_string(),
        }
    }
}

/// What a warm function keeps between invocations.
pub struct HookFunction {
    hook: Hook,
    policy: Policy,
    safety_margin: Duration,
    function_version: Option<String>,
    metrics: CloudWatchMetrics,
    alarms: CloudWatchAlarms,
    deployments: CodeDeployDeployments<CodeDeployDiscovery>,
    reporter: CodeDeployReporter,
    switches: Switchboard,
    /// Built on first use: only a hook whose section has an `analysis` hands
    /// off to itself, and a client costs cold-start time.
    lambda: OnceLock<aws_sdk_lambda::Client>,
    sdk: SdkConfig,
    probes: HttpProbes,
    /// `GATE_ALERT_TOPIC_ARN`'s topic, when set.
    alerts: Option<SnsAlerts>,
}

/// The switches as configured: read from SSM, or turned off.
enum Switchboard {
    Ssm(SsmSwitches),
    Off,
}

impl SwitchSource for Switchboard {
    async fn read(
        &self,
        hook: Hook,
    ) -> Result<crate::evidence::switches::SwitchValues, EvidenceError> {
        match self {
            Switchboard::Ssm(ssm) => ssm.read(hook).await,
            Switchboard::Off => NoSwitches.read(hook).await,
        }
    }
}

impl Switchboard {
    /// The switches for one deployment: with SSM, its audit chain head too.
    fn for_deployment<'a>(&'a self, deployment_id: &'a str) -> DeploymentSwitches<'a> {
        match self {
            Switchboard::Ssm(ssm) => DeploymentSwitches::Ssm(ssm.for_deployment(deployment_id)),
            Switchboard::Off => DeploymentSwitches::Off,
        }
    }
}

/// [`Switchboard`] scoped to one deployment, for one invocation.
enum DeploymentSwitches<'a> {
    Ssm(ScopedSsmSwitches<'a>),
    Off,
}

impl SwitchSource for DeploymentSwitches<'_> {
    async fn read(
        &self,
        hook: Hook,
    ) -> Result<crate::evidence::switches::SwitchValues, EvidenceError> {
        match self {
            DeploymentSwitches::Ssm(ssm) => ssm.read(hook).await,
            DeploymentSwitches::Off => NoSwitches.read(hook).await,
        }
    }
}

impl HeadStore for DeploymentSwitches<'_> {
    async fn write_head(&self, head: &ChainHead) -> Result<(), EvidenceError> {
        match self {
            DeploymentSwitches::Ssm(ssm) => ssm.write_head(head).await,
            // Never called: without switches no record is chained.
            DeploymentSwitches::Off => Ok(()),
        }
    }
}

/// Reads the policy named by the environment (or the embedded default).
pub fn load_policy(env: &dyn Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
    match env(POLICY_FILE_VAR).filter(|p| !p.is_empty()) {
        None => Policy::embedded_default(env),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
                path: path.clone(),
                source,
            })?;
            Policy::from_yaml(&text, &path, env)
        }
    }
}

fn safety_margin(env: &dyn Fn(&str) -> Option<String>) -> Result<Duration, StartupError> {
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

impl HookFunction {
    /// Cold start: validate configuration, then build clients.
    pub async fn from_env(hook: Hook) -> Result<HookFunction, StartupError> {
        let env = |name: &str| std::env::var(name).ok();
        let policy = load_policy(&env)?;
        let safety_margin = safety_margin(&env)?;
        let sdk = lambda_sdk_config(&env)?;
        let switches = match env(SWITCH_PREFIX_VAR).as_deref() {
            Some("none") => Switchboard::Off,
            prefix => Switchboard::Ssm(SsmSwitches::new(
                aws_sdk_ssm::Client::new(&sdk),
                prefix.filter(|p| !p.is_empty()).unwrap_or(DEFAULT_PREFIX),
            )),
        };
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
        let codedeploy = aws_sdk_codedeploy::Client::new(&sdk);
        Ok(HookFunction {
            hook,
            policy,
            safety_margin,
            function_version: env("AWS_LAMBDA_FUNCTION_VERSION"),
            metrics: CloudWatchMetrics::new(cloudwatch.clone()),
            alarms: CloudWatchAlarms::new(cloudwatch),
            deployments: CodeDeployDeployments::with_discovery(
                codedeploy.clone(),
                CodeDeployDiscovery::new(
                    codedeploy.clone(),
                    aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
                ),
            ),
            reporter: CodeDeployReporter::new(codedeploy),
            switches,
            lambda: OnceLock::new(),
            probes: HttpProbes::new(),
            alerts: env(ALERT_TOPIC_VAR)
                .filter(|arn| !arn.is_empty())
                .map(|arn| SnsAlerts::new(aws_sdk_sns::Client::new(&sdk), &arn)),
            sdk,
        })
    }

    /// One invocation: parse, decide and report, log the record, answer.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HookError> {
        let lifecycle = parse_event(&event.payload)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let left = remaining(event.context.deadline, now.as_millis() as u64);
        let execution = Execution {
            hook: self.hook,
            deployment_id: lifecycle.deployment_id,
            execution_id: lifecycle.lifecycle_event_hook_execution_id,
            now: now.as_secs() as i64,
            deadline: tokio::time::Instant::now() + left,
            safety_margin: self.safety_margin,
            function_version: self.function_version.clone(),
        };
        let switches = self.switches.for_deployment(&execution.deployment_id);
        // Boxed: the nested SDK futures are deep enough to overflow the
        // compiler's layout recursion limit in the binaries otherwise.
        match Box::pin(self.run(&execution, &switches, &event)).await {
            AnalysisRun::HandedOff(state) => Ok(handed_off(&execution, &state)),
            AnalysisRun::Reported(record) => {
                self.publish(*record, &switches, event.context.deadline)
                    .await
            }
        }
    }

    /// The providers of one invocation.
    fn providers<'a>(
        &'a self,
        switches: &'a DeploymentSwitches<'a>,
    ) -> Providers<
        'a,
        CloudWatchMetrics,
        CloudWatchAlarms,
        CodeDeployDeployments<CodeDeployDiscovery>,
        CodeDeployReporter,
        DeploymentSwitches<'a>,
        HttpProbes,
    > {
        Providers {
            metrics: &self.metrics,
            alarms: &self.alarms,
            deployments: &self.deployments,
            reporter: &self.reporter,
            switches,
            probes: &self.probes,
        }
    }

    /// Decides and reports: at once, or as a bake analysis over several runs
    /// (this run's part of it, which may end in a hand-off).
    async fn run(
        &self,
        execution: &Execution,
        switches: &DeploymentSwitches<'_>,
        event: &LambdaEvent<Value>,
    ) -> AnalysisRun {
        let providers = self.providers(switches);
        let Some(analysis) = self.policy.hook(self.hook).and_then(|s| s.analysis) else {
            let record = execute(&self.policy, execution, providers, judge).await;
            return AnalysisRun::Reported(Box::new(record));
        };
        let state = match event.payload.get(STATE_FIELD) {
            None => AnalysisState::new(event.context.request_id.clone(), execution.now),
            Some(value) => match AnalysisState::from_json(value, execution.now) {
                Ok(state) => state,
                Err(error) => {
                    let reason = format!("the continuation is unusable: {error}; failing closed");
                    let record =
                        fail_without_evidence(&self.policy, execution, providers, reason).await;
                    return AnalysisRun::Reported(Box::new(record));
                }
            },
        };
        let lambda = self
            .lambda
            .get_or_init(|| aws_sdk_lambda::Client::new(&self.sdk));
        let continuation = SelfInvoke::new(lambda.clone(), &event.context.invoked_function_arn);
        let bake = Bake {
            analysis: &analysis,
            clock: &WallClock,
            continuation: &continuation,
            deadline_at: (event.context.deadline / 1000) as i64,
            state,
        };
        execute_analysis(&self.policy, execution, providers, judge, bake).await
    }

    /// Logs the record, then (the status being delivered) writes the chain
    /// head and sends the alert, logs the metrics of it all, and answers.
    ///
    /// The record is the audit trail: one JSON line on stdout, which Lambda
    /// ships to CloudWatch Logs as is, as one event: bounded to fit one (the
    /// series of passing gates go first; the record says what went), and
    /// sealed again if anything went, so the chain head written next is the
    /// digest of the line logged.
    async fn publish(
        &self,
        mut record: DecisionRecord,
        switches: &DeploymentSwitches<'_>,
        deadline_ms: u64,
    ) -> Result<Value, HookError> {
        println!("{}", record.fit_log_event(LOG_EVENT_BOUND));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let budget = remaining(deadline_ms, now_ms).saturating_sub(AFTER_REPORT_SPARE);
        let after = Box::pin(after_report(
            &record,
            switches,
            self.alerts.as_ref(),
            budget,
        ))
        .await;
        for line in metric_lines(&record, &after, now_ms as i64) {
            println!("{line}");
        }
        match &record.report {
            ReportSummary::Failed(message) => Err(HookError::StatusReportFailed {
                deployment_id: record.deployment_id.clone(),
                status: record.status.to_string(),
                message: message.clone(),
            }),
            summary => Ok(json!({
                "status": record.status,
                "reason": record.reason,
                "report": summary,
            })),
        }
    }
}

/// The invocation's answer when a bake analysis carries on in the next run.
fn handed_off(execution: &Execution, state: &AnalysisState) -> Value {
    tracing::info!(
        deployment = %execution.deployment_id,
        hook = %execution.hook,
        chain = %state.chain,
        run = state.runs,
        measurements = state.measurements.len(),
        "analysis handed to the next run"
    );
    json!({
        "status": "InProgress",
        "chain": state.chain,
        "next_run": state.runs,
        "measurements": state.measurements.len(),
    })
}

/// Runs a hook binary: the whole of its `main`.
pub async fn serve(hook: Hook) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let function = match HookFunction::from_env(hook).await {
        Ok(function) => Arc::new(function),
        Err(error) => {
            tracing::error!(error = %error, hook = %hook, "refusing to start");
            report_init_error(&error).await;
            return Err(error.into());
        }
    };
    tracing::info!(
        hook = %hook,
        policy = %function.policy.source,
        digest = %function.policy.digest,
        "ready"
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(event).await }
    }))
    .await
}

/// Tells the Lambda service why the function will not start, so the invocation
/// fails with our error type and message (`PolicyInvalid: file:line:column: ...`)
/// rather than an anonymous `Runtime.ExitError`. Best effort: the process exits
/// with the error whatever happens here.
async fn report_init_error(error: &StartupError) {
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
fn lambda_sdk_config(env: &impl Fn(&str) -> Option<String>) -> Result<SdkConfig, StartupError> {
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
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let setting = std::env::var("RUST_LOG").ok();
    let parsed = setting.as_deref().map(str::parse::<Targets>);
    let filter = match &parsed {
        Some(Ok(targets)) => targets.clone(),
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
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
