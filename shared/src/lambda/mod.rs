//! The Lambda edge: the handler and its error types ([`config`]: what cold
//! start reads and builds; [`switchboard`]: the switches as configured).
//!
//! Every hook binary's `main` is one call to [`serve`]. Cold start does the work
//! that must happen once: JSON logging, reading and validating the policy (an
//! invalid policy stops the function before it can judge anything), loading the
//! AWS configuration and building the clients. The handler then parses the event,
//! runs [`crate::run::execute`] and prints the decision record.

mod config;
mod deadline;
pub mod ecs;
mod switchboard;

pub use config::{
    load_policy, StartupError, MAX_CONTINUATIONS_VAR, POLICY_FILE_VAR, SAFETY_MARGIN_VAR,
    SWITCH_PREFIX_VAR,
};

use crate::analysis::AnalysisState;
use crate::continuation::{SelfInvoke, STATE_FIELD};
use crate::event::{parse_event, EventError, Payload};
use crate::evidence::alarms::CloudWatchAlarms;
use crate::evidence::cloudwatch::CloudWatchMetrics;
use crate::evidence::deployment::CodeDeployDeployments;
use crate::evidence::discovery::CodeDeployDiscovery;
use crate::evidence::flags::{AppConfigFlags, PolicyFlags};
use crate::evidence::probes::guard::RUNTIME_API_VAR;
use crate::evidence::probes::HttpProbes;
use crate::evidence::switches::{switch_prefix, SsmSwitches, DEFAULT_PREFIX};
use crate::judge::judge;
use crate::policy::Policy;
use crate::report::after::after_report;
use crate::report::alert::{SnsAlerts, ALERT_TOPIC_VAR};
use crate::report::codedeploy::CodeDeployReporter;
use crate::report::emf::{metric_lines, stand_down_line};
use crate::report::DecisionRecord;
use crate::report::{ReportSummary, LOG_EVENT_BOUND};
use crate::run::{
    execute, execute_analysis, fail_without_evidence, remaining, AnalysisRun, Arrival, Bake,
    Execution, Providers, WallClock,
};
use crate::vocab::hook::Hook;
use aws_config::SdkConfig;
use config::{
    init_logging, lambda_sdk_config, max_continuations, report_init_error, safety_margin,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard::{DeploymentSwitches, Switchboard};

/// Time kept free at the very end of an invocation, after the chain head and
/// the alert, to print the metrics and answer the Runtime API.
const AFTER_REPORT_SPARE: Duration = Duration::from_millis(200);

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
            // The message quotes what others sent (an event's field, an AWS
            // error): escaped and bounded here, the one way out.
            error_message: crate::vocab::text::untrusted(&error.to_string()),
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
    /// Where a bake analysis keeps its seals: the switch prefix, or the
    /// default one when the switches are off (a bake needs its seal).
    bake_prefix: String,
    /// `GATE_MAX_CONTINUATIONS`.
    max_continuations: u32,
    sdk: SdkConfig,
    probes: HttpProbes,
    /// `GATE_ALERT_TOPIC_ARN`'s topic, when set.
    alerts: Option<SnsAlerts>,
    /// AppConfig, when the policy names a feature flag.
    flags: PolicyFlags,
}

impl HookFunction {
    /// Cold start: validate configuration, then build clients.
    pub async fn from_env(hook: Hook) -> Result<HookFunction, StartupError> {
        let env = |name: &str| std::env::var(name).ok();
        let policy = load_policy(&env)?;
        let safety_margin = safety_margin(&env)?;
        let max_continuations = max_continuations(&env)?;
        let sdk = lambda_sdk_config(&env)?;
        let mut bake_prefix = DEFAULT_PREFIX.to_string();
        let switches = match env(SWITCH_PREFIX_VAR).as_deref() {
            Some("none") => Switchboard::Off,
            None | Some("") => Switchboard::Ssm(SsmSwitches::new(
                aws_sdk_ssm::Client::new(&sdk),
                DEFAULT_PREFIX,
            )),
            Some(written) => {
                let prefix = switch_prefix(written).map_err(|_| StartupError::Setting {
                    var: SWITCH_PREFIX_VAR,
                    value: written.to_string(),
                    expected: "an SSM path such as /codedeploy-gates/ (letters, digits, / _ . -; a missing final / is added), or none",
                })?;
                bake_prefix.clone_from(&prefix);
                Switchboard::Ssm(SsmSwitches::new(aws_sdk_ssm::Client::new(&sdk), &prefix))
            }
        };
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
        let codedeploy = aws_sdk_codedeploy::Client::new(&sdk);
        let flags = PolicyFlags(policy.uses_flags().then(|| {
            AppConfigFlags::new(
                aws_sdk_appconfigdata::Client::new(&sdk),
                aws_sdk_appconfig::Client::new(&sdk),
            )
        }));
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
            bake_prefix,
            max_continuations,
            // Probes never connect to the Runtime API this function polls.
            probes: match env(RUNTIME_API_VAR) {
                Some(api) if !api.is_empty() => HttpProbes::with_runtime_api(&api),
                _ => HttpProbes::new(),
            },
            alerts: env(ALERT_TOPIC_VAR)
                .filter(|arn| !arn.is_empty())
                .map(|arn| SnsAlerts::new(aws_sdk_sns::Client::new(&sdk), &arn)),
            flags,
            sdk,
        })
    }

    /// One invocation: parse, decide and report, log the record, answer.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HookError> {
        // Only validated ids go further: into AWS calls, SSM names, logs and
        // the record.
        let lifecycle = parse_event(&event.payload)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now_ms = now.as_millis() as u64;
        if deadline::is_relative(event.context.deadline) {
            tracing::info!(
                deadline_ms = event.context.deadline,
                "the Runtime API sent the deadline as a duration (a local emulator's), read from now"
            );
        }
        let deadline_ms = deadline::invocation_deadline(event.context.deadline, now_ms);
        let left = remaining(deadline_ms, now_ms);
        let execution = Execution {
            hook: self.hook,
            deployment_id: lifecycle.deployment_id.into(),
            execution_id: lifecycle.execution_id.into(),
            now: now.as_secs() as i64,
            deadline: tokio::time::Instant::now() + left,
            safety_margin: self.safety_margin,
            function_version: self.function_version.clone(),
        };
        let switches = self.switches.for_deployment(&execution.deployment_id);
        // Boxed: the nested SDK futures are deep enough to overflow the
        // compiler's layout recursion limit in the binaries otherwise.
        match Box::pin(self.run(&execution, &switches, &event, deadline_ms)).await {
            AnalysisRun::HandedOff(state) => Ok(handed_off(&execution, &state)),
            AnalysisRun::StoodDown(reason) => {
                println!(
                    "{}",
                    stand_down_line(
                        self.hook.as_str(),
                        &execution.deployment_id,
                        &execution.execution_id,
                        &reason,
                        now.as_millis() as i64,
                    )
                );
                Ok(json!({"status": "StoodDown", "reason": reason}))
            }
            AnalysisRun::Reported(record) => self.publish(*record, &switches, deadline_ms).await,
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
        PolicyFlags,
    > {
        Providers {
            metrics: &self.metrics,
            alarms: &self.alarms,
            deployments: &self.deployments,
            reporter: &self.reporter,
            switches,
            probes: &self.probes,
            flags: &self.flags,
        }
    }

    /// Decides and reports: at once, or as a bake analysis over several runs
    /// (this run's part of it, which may end in a hand-off). `deadline_ms`:
    /// the invocation's deadline, epoch milliseconds.
    async fn run(
        &self,
        execution: &Execution,
        switches: &DeploymentSwitches<'_>,
        event: &LambdaEvent<Value>,
        deadline_ms: u64,
    ) -> AnalysisRun {
        let providers = self.providers(switches);
        let Some(analysis) = self.policy.hook(self.hook).and_then(|s| s.analysis) else {
            let record = execute(&self.policy, execution, providers, judge).await;
            return AnalysisRun::Reported(Box::new(record));
        };
        let arrival = match event.payload.get(STATE_FIELD) {
            None => Arrival::First {
                chain: event.context.request_id.clone(),
            },
            Some(value) => match AnalysisState::from_json(value, execution.now) {
                Ok(state) => Arrival::Continued(state),
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
        let continuation = SelfInvoke::new(
            lambda.clone(),
            &event.context.invoked_function_arn,
            aws_sdk_ssm::Client::new(&self.sdk),
            &self.bake_prefix,
        );
        let bake = Bake {
            analysis: &analysis,
            clock: &WallClock,
            continuation: &continuation,
            deadline_at: (deadline_ms / 1000) as i64,
            run_secs: execution
                .deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_secs_f64()
                .ceil() as i64,
            max_continuations: self.max_continuations,
            arrival,
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
    // The payload is taken as `Payload`, which any body deserialises into,
    // so a body that is not JSON is answered as `InvalidEvent` by us rather
    // than as the runtime's own deserialisation error.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| {
        let function = Arc::clone(&function);
        async move {
            let LambdaEvent { payload, context } = event;
            let payload = payload.into_json()?;
            function.handle(LambdaEvent::new(payload, context)).await
        }
    }))
    .await
}
