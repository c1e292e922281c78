//! Every evidence source the pipeline uses, as a trait of one or two calls,
//! with the trivial sources that answer without a network.
//!
//! The AWS implementations live next to their API: [`super::cloudwatch`]
//! (metrics), [`super::alarms`], [`super::deployment`] (CodeDeploy),
//! [`super::discovery`], [`super::switches`] (SSM) and [`super::probes`]
//! (HTTP) and [`super::flags`] (AppConfig). The values they exchange are in
//! `data`.

use super::{
    AlarmStates, ChainHead, DeploymentInfo, EvidenceError, FlagFlip, FlagValues, MetricData,
    MetricIdentity, MetricRequest, ProbeRun, SwitchValues,
};
use crate::bind::Discovery;
use crate::policy::ProbeCheck;
use crate::policy::{FlagProfile, FlagRef};
use crate::vocab::hook::Hook;
use std::future::Future;
use tokio::time::Instant;

/// Fetches metric datapoints.
pub trait MetricSource: Sync {
    /// Every query of `request` in as few calls as the API allows.
    fn metric_data(
        &self,
        request: &MetricRequest,
    ) -> impl Future<Output = Result<MetricData, EvidenceError>> + Send;

    /// Whether CloudWatch lists the metric with exactly these dimensions.
    fn metric_exists(
        &self,
        metric: &MetricIdentity,
    ) -> impl Future<Output = Result<bool, EvidenceError>> + Send;
}

/// Reads alarm states.
pub trait AlarmSource: Sync {
    /// The state of every named alarm that exists.
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<AlarmStates, EvidenceError>> + Send;

    /// The state of every alarm whose name starts with `prefix`.
    fn alarm_states_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<AlarmStates, EvidenceError>> + Send {
        let message = format!("this alarm source cannot list alarms by prefix ({prefix:?})");
        async move {
            Err(EvidenceError::Malformed {
                service: "CloudWatch",
                operation: "DescribeAlarms",
                message,
            })
        }
    }
}

/// Looks a deployment up.
pub trait DeploymentSource: Sync {
    /// The deployment's description.
    fn deployment(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<DeploymentInfo, EvidenceError>> + Send;

    /// What the deployment deploys: its canary and baseline (see
    /// [`super::discovery`]). Only called when the policy needs it.
    fn discover(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Discovery, EvidenceError>> + Send {
        NoDiscovery.discover(deployment_id)
    }
}

/// Finds what a deployment deploys.
pub trait DiscoverySource: Sync {
    /// Discovers the canary and baseline of `deployment_id`.
    fn discover(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Discovery, EvidenceError>> + Send;
}

/// For hooks whose policy needs no discovery, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDiscovery;

impl DiscoverySource for NoDiscovery {
    async fn discover(&self, _deployment_id: &str) -> Result<Discovery, EvidenceError> {
        Err(EvidenceError::Malformed {
            service: "CodeDeploy",
            operation: "ListDeploymentTargets",
            message: "deployment discovery is not configured for this run".into(),
        })
    }
}

/// Reads the raw switch parameters.
pub trait SwitchSource: Sync {
    /// The freeze and override values for `hook` (and the audit chain head,
    /// when the source keeps one).
    fn read(&self, hook: Hook) -> impl Future<Output = Result<SwitchValues, EvidenceError>> + Send;
}

/// No switches at all (switches turned off, or a rehearsal).
pub struct NoSwitches;

impl SwitchSource for NoSwitches {
    async fn read(&self, _hook: Hook) -> Result<SwitchValues, EvidenceError> {
        Ok(SwitchValues::default())
    }
}

/// Keeps a deployment's chain head.
pub trait HeadStore: Sync {
    /// Overwrites the head with `head`.
    fn write_head(
        &self,
        head: &ChainHead,
    ) -> impl Future<Output = Result<(), EvidenceError>> + Send;
}

/// Sends probes.
pub trait ProbeSource: Sync {
    /// Makes every attempt of `check`, none of them running past `deadline`.
    fn probe(&self, check: &ProbeCheck, deadline: Instant)
        -> impl Future<Output = ProbeRun> + Send;
}

/// A source that sends nothing: for callers that collect evidence without a
/// network to the test listener. Every probe gate is then inconclusive.
pub struct NoProbes;

impl ProbeSource for NoProbes {
    async fn probe(&self, _check: &ProbeCheck, _deadline: Instant) -> ProbeRun {
        ProbeRun::NotRun("this command does not send HTTP probes".into())
    }
}

/// Reads feature flags as an application does.
pub trait FlagSource: Sync {
    /// Every flag of `profile` as deployed to its environment.
    fn flags(
        &self,
        profile: &FlagProfile,
    ) -> impl Future<Output = Result<FlagValues, EvidenceError>> + Send;
}

/// Turns feature flags off: the kill switch.
pub trait FlagWriter: Sync {
    /// Turns `flag` off in its environment, saying `why` in what it writes.
    fn turn_off(
        &self,
        flag: &FlagRef,
        why: &str,
    ) -> impl Future<Output = Result<FlagFlip, EvidenceError>> + Send;
}

/// No feature flags (a command without AppConfig, a test): every flag gate
/// is an error saying so, and a kill switch cannot flip.
pub struct NoFlags;

impl NoFlags {
    fn error(operation: &'static str) -> EvidenceError {
        EvidenceError::Malformed {
            service: "AppConfig",
            operation,
            message: "feature flags are not read or written by this run".into(),
        }
    }
}

impl FlagSource for NoFlags {
    async fn flags(&self, _profile: &FlagProfile) -> Result<FlagValues, EvidenceError> {
        Err(NoFlags::error("GetLatestConfiguration"))
    }
}

impl FlagWriter for NoFlags {
    async fn turn_off(&self, _flag: &FlagRef, _why: &str) -> Result<FlagFlip, EvidenceError> {
        Err(NoFlags::error("StartDeployment"))
    }
}
