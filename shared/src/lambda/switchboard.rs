//! The switches as a hook function holds them: read from SSM under the
//! configured prefix, or turned off (`GATE_SWITCH_PREFIX=none`), and scoped to
//! one deployment per invocation, which also keeps its audit chain head.

use crate::audit::{ChainHead, HeadStore};
use crate::evidence::switches::{
    NoSwitches, ScopedSsmSwitches, SsmSwitches, SwitchSource, SwitchValues,
};
use crate::evidence::EvidenceError;
use crate::vocab::Hook;

/// The switches as configured: read from SSM, or turned off.
pub(super) enum Switchboard {
    Ssm(SsmSwitches),
    Off,
}

impl SwitchSource for Switchboard {
    async fn read(&self, hook: Hook) -> Result<SwitchValues, EvidenceError> {
        match self {
            Switchboard::Ssm(ssm) => ssm.read(hook).await,
            Switchboard::Off => NoSwitches.read(hook).await,
        }
    }
}

impl Switchboard {
    /// The switches for one deployment: with SSM, its audit chain head too.
    pub(super) fn for_deployment<'a>(&'a self, deployment_id: &'a str) -> DeploymentSwitches<'a> {
        match self {
            Switchboard::Ssm(ssm) => DeploymentSwitches::Ssm(ssm.for_deployment(deployment_id)),
            Switchboard::Off => DeploymentSwitches::Off,
        }
    }
}

/// [`Switchboard`] scoped to one deployment, for one invocation.
pub(super) enum DeploymentSwitches<'a> {
    Ssm(ScopedSsmSwitches<'a>),
    Off,
}

impl SwitchSource for DeploymentSwitches<'_> {
    async fn read(&self, hook: Hook) -> Result<SwitchValues, EvidenceError> {
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
