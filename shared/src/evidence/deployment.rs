//! The CodeDeploy deployment provider: `GetDeployment` for the decision record.
//!
//! The hook fetches the deployment concurrently with its metrics, so knowing what
//! is being deployed costs no extra round trip. A failure here is recorded, not
//! fatal: the metrics decide, and the status report says whether the deployment
//! exists. The one exception is a hook whose gates compare with the window
//! before the deployment began (`baseline: before_deployment`): it needs the
//! create time before it can ask for metrics, so it calls `GetDeployment` first
//! and pays one more sequential round trip; a failure then fails those gates.

// The trait and values this provider implements, where callers import them.
pub use super::{DeploymentInfo, DeploymentSource};
use super::{DiscoverySource, EvidenceError, NoDiscovery};
use crate::bind::Discovery;
use aws_sdk_codedeploy::Client;
use std::future::Future;

/// CodeDeploy through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CodeDeployDeployments<V = NoDiscovery> {
    client: Client,
    discovery: V,
}

impl CodeDeployDeployments {
    /// Wraps a configured client; no discovery.
    pub fn new(client: Client) -> Self {
        CodeDeployDeployments {
            client,
            discovery: NoDiscovery,
        }
    }
}

impl<V: DiscoverySource> CodeDeployDeployments<V> {
    /// Wraps a configured client and a discovery provider.
    pub fn with_discovery(client: Client, discovery: V) -> Self {
        CodeDeployDeployments { client, discovery }
    }
}

impl<V: DiscoverySource> DeploymentSource for CodeDeployDeployments<V> {
    fn discover(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Discovery, EvidenceError>> + Send {
        self.discovery.discover(deployment_id)
    }

    async fn deployment(&self, deployment_id: &str) -> Result<DeploymentInfo, EvidenceError> {
        let output = self
            .client
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| EvidenceError::Api {
                service: "CodeDeploy",
                operation: "GetDeployment",
                message: crate::evidence::aws_error(&e),
            })?;
        let info = output.deployment_info();
        Ok(DeploymentInfo {
            application_name: info.and_then(|d| d.application_name()).map(str::to_string),
            deployment_group_name: info
                .and_then(|d| d.deployment_group_name())
                .map(str::to_string),
            deployment_config_name: info
                .and_then(|d| d.deployment_config_name())
                .map(str::to_string),
            compute_platform: info
                .and_then(|d| d.compute_platform())
                .map(|p| p.as_str().to_string()),
            status: info
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_string()),
            creator: info
                .and_then(|d| d.creator())
                .map(|c| c.as_str().to_string()),
            create_time: info.and_then(|d| d.create_time()).map(|t| t.secs()),
        })
    }
}
/// What a hook execution learnt about its deployment, besides the metrics:
/// kept for the decision record.
#[derive(Debug, Clone, Default)]
pub struct DeploymentEvidence {
    /// `GetDeployment`'s answer, when asked.
    pub deployment: Option<Result<DeploymentInfo, EvidenceError>>,
    /// What deployment discovery found, when the policy needed it.
    pub discovery: Option<Result<crate::bind::Discovery, String>>,
}
