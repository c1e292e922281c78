//! `gatectl evaluate --hook HOOK [--policy FILE] [--deployment ID]`: judge a hook
//! now, against live CloudWatch with the operator's credentials, and print the
//! gate table. It never reports to CodeDeploy: it is how an operator asks "what
//! would the hook say right now?".
//!
//! It runs the hook's own decision pipeline (`metric_gate::run::decide`):
//! deployment discovery and binding (`${canary.*}`, `${baseline.*}`), the
//! deployment's start (`baseline: before_deployment`), the plan, the
//! collection (metrics, alarms, probes), the judge and its decision. So the
//! gates it prints are the gates the hook would write in its decision record.
//! Only the switches are left out: an operator asks what the gates say.

use crate::render::{colour_enabled, gate_lines};
use anyhow::{anyhow, bail, Result};
use metric_gate::evidence::alarms::CloudWatchAlarms;
use metric_gate::evidence::cloudwatch::CloudWatchMetrics;
use metric_gate::evidence::deployment::{CodeDeployDeployments, DeploymentInfo, DeploymentSource};
use metric_gate::evidence::discovery::CodeDeployDiscovery;
use metric_gate::evidence::probes::HttpProbes;
use metric_gate::evidence::switches::NoSwitches;
use metric_gate::evidence::EvidenceError;
use metric_gate::judge::{judge, LifecycleStatus};
use metric_gate::run::{decide, Question, Sources};
use metric_gate::Hook;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the evidence may take: a hook's default timeout less its margin.
const BUDGET: Duration = Duration::from_secs(55);

/// Arguments of `gatectl evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook to judge (its binary name, such as before-allow-traffic, also works).
    #[arg(long, value_parser = crate::hook_parser())]
    hook: Hook,
    /// The policy; the embedded default (or GATE_POLICY_FILE) when absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The deployment to judge: discovery finds its canary and baseline, and
    /// its create time places `baseline: before_deployment`.
    #[arg(long)]
    deployment: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let hook = self.hook;
        let policy = crate::hook_policy(self.policy.as_deref(), hook)?;
        match &self.deployment {
            None => needs_no_deployment(&policy, hook)?,
            Some(id) => {
                metric_gate::event::DeploymentId::parse(id).map_err(|problem| {
                    anyhow!(
                        "--deployment {}: not a CodeDeploy deployment id ({problem})",
                        metric_gate::vocab::text::escaped(id)
                    )
                })?;
            }
        }
        let runtime = crate::runtime()?;
        let outcome = runtime.block_on(async {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(metric_gate::aws_http::https_client(
                    metric_gate::aws_http::Roots::System,
                ))
                .load()
                .await;
            let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
            let codedeploy = aws_sdk_codedeploy::Client::new(&sdk);
            let deployments = match &self.deployment {
                Some(_) => Deployments::Given(CodeDeployDeployments::with_discovery(
                    codedeploy.clone(),
                    CodeDeployDiscovery::new(
                        codedeploy,
                        aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
                    ),
                )),
                None => Deployments::None,
            };
            let sources = Sources {
                metrics: &CloudWatchMetrics::new(cloudwatch.clone()),
                alarms: &CloudWatchAlarms::new(cloudwatch),
                deployments: &deployments,
                switches: &NoSwitches,
                probes: &HttpProbes::new(),
                // Read through the data plane as the hook reads them; the
                // kill switch is never run by `evaluate`.
                flags: &metric_gate::evidence::flags::AppConfigFlags::new(
                    aws_sdk_appconfigdata::Client::new(&sdk),
                    aws_sdk_appconfig::Client::new(&sdk),
                ),
            };
            let question = Question {
                policy: &policy,
                hook,
                deployment_id: self.deployment.as_deref().unwrap_or_default(),
                now: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs() as i64,
                budget: BUDGET,
            };
            decide(question, &sources, judge).await
        });
        let colour = colour_enabled();
        println!("{hook} with {} ({})", policy.source, policy.digest);
        if let Some(id) = &self.deployment {
            match &outcome.found.deployment {
                Some(Ok(info)) => println!("deployment {id}: {}", serde_json::to_string(info)?),
                Some(Err(error)) => println!("deployment {id}: {error}"),
                None => {}
            }
            match &outcome.found.discovery {
                Some(Ok(found)) => println!("discovered: {}", found.summary()),
                Some(Err(error)) => println!("discovery failed: {error}"),
                None => {}
            }
        }
        let decision = &outcome.decision;
        for line in gate_lines(&decision.verdict.gates, colour) {
            println!("  {line}");
        }
        println!("would report {}: {}", decision.status, decision.reason);
        Ok(match decision.status {
            LifecycleStatus::Succeeded => ExitCode::SUCCESS,
            LifecycleStatus::Failed => ExitCode::FAILURE,
        })
    }
}

/// Refuses to judge without a deployment when the hook's gates need one: the
/// answer would be about no deployment at all.
fn needs_no_deployment(policy: &metric_gate::policy::Policy, hook: Hook) -> Result<()> {
    let unbound = policy.unbound_blocking(hook);
    if !unbound.is_empty() {
        let names: Vec<String> = unbound.iter().map(ToString::to_string).collect();
        bail!(
            "{hook}'s gates name {}, which deployment discovery finds: give --deployment ID, or set the override variables ({})",
            names.join(", "),
            metric_gate::policy::DISCOVERY_OVERRIDES.join(", ")
        );
    }
    if policy.needs_deployment_start(hook) {
        bail!("{hook}'s gates compare with the window before the deployment began: give --deployment ID");
    }
    Ok(())
}

/// The deployment's source: CodeDeploy when one was given, none otherwise
/// (then only gates that need no deployment are judged; see
/// [`needs_no_deployment`]).
enum Deployments {
    Given(CodeDeployDeployments<CodeDeployDiscovery>),
    None,
}

impl DeploymentSource for Deployments {
    async fn deployment(&self, deployment_id: &str) -> Result<DeploymentInfo, EvidenceError> {
        match self {
            Deployments::Given(codedeploy) => codedeploy.deployment(deployment_id).await,
            Deployments::None => Err(no_deployment("GetDeployment")),
        }
    }

    async fn discover(
        &self,
        deployment_id: &str,
    ) -> Result<metric_gate::bind::Discovery, EvidenceError> {
        match self {
            Deployments::Given(codedeploy) => codedeploy.discover(deployment_id).await,
            Deployments::None => Err(no_deployment("discovery")),
        }
    }
}

fn no_deployment(operation: &'static str) -> EvidenceError {
    EvidenceError::Api {
        service: "CodeDeploy",
        operation,
        message: "no deployment was given (--deployment)".into(),
    }
}
