//! The Lambda edge: configuration at cold start, the handler, error types.
//!
//! Every hook binary's `main` is one call to [`serve`]. Cold start does the work
//! that must happen once: JSON logging, reading and validating the policy (an
//! invalid policy stops the function before it can judge anything), loading the
//! AWS configuration and building the clients. The handler then parses the event,
//! runs [`crate::run::execute`] and prints the decision record.

use crate::analysis::AnalysisState;
use crate::audit::{ChainHead, HeadStore};
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
use crate::hook::Hook;
use crate::judge::judge;
use crate::policy::{Policy, PolicyError};
use crate::report::after::after_report;
use crate::report::alert::{SnsAlerts, ALERT_TOPIC_VAR};
use crate::report::codedeploy::CodeDeployReporter;
use crate::report::emf::metric_lines;
use crate::report::{ReportSummary, LOG_EVENT_BOUND};
use crate::run::{
    execute, execute_analysis, fail_without_evidence, remaining, AnalysisRun, Execution, Providers,
    WallClock,
};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
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
    sdk: aws_config::SdkConfig,
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
        let sdk = with_aws_roots(aws_config::defaults(BehaviorVersion::latest()))
            .retry_config(
                // Exponential backoff with full jitter for throttling and 5xx;
                // the deadline, not the attempt count, is the real bound.
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
            )
            .load()
            .await;
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

    /// One invocation: parse, execute, log the record, answer.
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
        let providers = || Providers {
            metrics: &self.metrics,
            alarms: &self.alarms,
            deployments: &self.deployments,
            reporter: &self.reporter,
            switches: &switches,
            probes: &self.probes,
        };
        let section = self.policy.hook(self.hook);
        // Boxed: the nested SDK futures are deep enough to overflow the
        // compiler's layout recursion limit in the binaries otherwise.
        let record = match (section, section.and_then(|s| s.analysis)) {
            (Some(section), Some(analysis)) => {
                let state = match event.payload.get(STATE_FIELD) {
                    None => Ok(AnalysisState::new(
                        event.context.request_id.clone(),
                        execution.now,
                    )),
                    Some(value) => AnalysisState::from_json(value, execution.now),
                };
                match state {
                    Err(error) => {
                        let reason =
                            format!("the continuation is unusable: {error}; failing closed");
                        Box::pin(fail_without_evidence(
                            &self.policy,
                            &execution,
                            providers(),
                            reason,
                        ))
                        .await
                    }
                    Ok(state) => {
                        let lambda = self
                            .lambda
                            .get_or_init(|| aws_sdk_lambda::Client::new(&self.sdk));
                        let continuation =
                            SelfInvoke::new(lambda.clone(), &event.context.invoked_function_arn);
                        let deadline_at = (event.context.deadline / 1000) as i64;
                        let run = Box::pin(execute_analysis(
                            &self.policy,
                            section,
                            &analysis,
                            &execution,
                            providers(),
                            judge,
                            &WallClock,
                            &continuation,
                            deadline_at,
                            state,
                        ))
                        .await;
                        match run {
                            AnalysisRun::Reported(record) => *record,
                            AnalysisRun::HandedOff(state) => {
                                tracing::info!(
                                    deployment = %execution.deployment_id,
                                    hook = %self.hook,
                                    chain = %state.chain,
                                    run = state.runs,
                                    measurements = state.measurements.len(),
                                    "analysis handed to the next run"
                                );
                                return Ok(json!({
                                    "status": "InProgress",
                                    "chain": state.chain,
                                    "next_run": state.runs,
                                    "measurements": state.measurements.len(),
                                }));
                            }
                        }
                    }
                }
            }
            _ => Box::pin(execute(&self.policy, &execution, providers(), judge)).await,
        };
        // The record is the audit trail: one JSON line on stdout, which Lambda
        // ships to CloudWatch Logs as is, as one event: bounded to fit one
        // (the series of passing gates go first; the record says what went),
        // and sealed again if anything went, so the chain head written next is
        // the digest of the line logged. Then, the status being delivered, the
        // chain head and the alert, and the metrics of it all (EMF lines).
        let mut record = record;
        println!("{}", record.fit_log_event(LOG_EVENT_BOUND));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let budget = remaining(event.context.deadline, now_ms).saturating_sub(AFTER_REPORT_SPARE);
        let after = Box::pin(after_report(
            &record,
            &switches,
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}

/// The roots AWS service endpoints chain to: Amazon Root CA 1 to 4 (Amazon
/// Trust Services) and Starfield Services Root G2, which cross-signs them.
const AWS_SERVICE_ROOTS: &[u8] = include_bytes!("../certs/aws-service-roots.pem");

/// Gives all of the function's AWS clients one HTTPS client that trusts
/// [`AWS_SERVICE_ROOTS`] instead of the system's certificate store. Reading
/// and parsing that store (about 290 certificates) was the largest cost of a
/// cold start, ~3 ms of ~10 (benches/cold-start/RESULTS.md). The SDK's
/// default client stays when the environment points at other roots or at
/// a proxy (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `*_PROXY`): a proxy with its own
/// CA then works as it would with any SDK client.
fn with_aws_roots(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    let overridden = [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|var| std::env::var_os(var).is_some());
    let roots = TrustStore::empty().with_pem_certificate(AWS_SERVICE_ROOTS);
    match TlsContext::builder().with_trust_store(roots).build() {
        Ok(context) if !overridden => loader.http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        ),
        _ => loader,
    }
}
