//! `gatectl evaluate --hook HOOK [--policy FILE] [--deployment ID]`: judge a hook
//! now, against live CloudWatch with the operator's credentials, and print the
//! gate table. It never reports to CodeDeploy: it is how an operator asks "what
//! would the hook say right now?".

use crate::render::{colour_enabled, gate_line};
use anyhow::{anyhow, Result};
use metric_gate::evidence::alarms::CloudWatchAlarms;
use metric_gate::evidence::cloudwatch::CloudWatchMetrics;
use metric_gate::evidence::deployment::{CodeDeployDeployments, DeploymentSource};
use metric_gate::evidence::{collect, plan};
use metric_gate::judge::{judge, LifecycleStatus};
use metric_gate::Hook;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `gatectl evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook to judge: AppSpec spelling or binary name.
    #[arg(long)]
    hook: String,
    /// The policy; the embedded default (or GATE_POLICY_FILE) when absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// A deployment to describe alongside the verdict.
    #[arg(long)]
    deployment: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let hook = Hook::parse(&self.hook).ok_or_else(|| anyhow!("unknown hook {:?}: use BeforeInstall, AfterAllowTestTraffic, BeforeAllowTraffic or AfterAllowTraffic", self.hook))?;
        let policy = crate::hook_policy(self.policy.as_deref(), hook)?;
        let section = policy.hook(hook).expect("hook_policy checked the section");
        let runtime = crate::runtime()?;
        let (evidence, deployment) = runtime.block_on(async {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(metric_gate::aws_http::https_client(
                    metric_gate::aws_http::Roots::System,
                ))
                .load()
                .await;
            let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
            let metrics = CloudWatchMetrics::new(cloudwatch.clone());
            let alarms = CloudWatchAlarms::new(cloudwatch);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64;
            let plan = plan(&policy, hook, now);
            let deployment = async {
                match &self.deployment {
                    Some(id) => Some(
                        CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(&sdk))
                            .deployment(id)
                            .await,
                    ),
                    None => None,
                }
            };
            tokio::join!(collect(&plan, now, &metrics, &alarms), deployment)
        });
        let verdict = judge(section, &evidence);
        let colour = colour_enabled();
        println!("{hook} with {} ({})", policy.source, policy.digest);
        match deployment {
            Some(Ok(info)) => println!(
                "deployment {}: {}",
                self.deployment.unwrap_or_default(),
                serde_json::to_string(&info)?
            ),
            Some(Err(error)) => println!(
                "deployment {}: {error}",
                self.deployment.unwrap_or_default()
            ),
            None => {}
        }
        for gate in &verdict.gates {
            println!("  {}", gate_line(gate, gate.threshold_value(), colour));
        }
        println!("would report {}: {}", verdict.status, verdict.reason);
        Ok(match verdict.status {
            LifecycleStatus::Succeeded => ExitCode::SUCCESS,
            LifecycleStatus::Failed => ExitCode::FAILURE,
        })
    }
}
