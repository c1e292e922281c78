//! Evidence: what the providers collect and the judge decides on.
//!
//! Shaped after Argo Rollouts' analysis package, with one change: providers never
//! judge. Each provider ([`cloudwatch`], [`alarms`], [`deployment`],
//! [`discovery`], [`switches`], [`probes`], [`flags`] (AWS AppConfig feature
//! flags), and [`export`]: exported
//! CloudWatch data, which `gatectl backtest` replays) sits behind a trait of one or two
//! calls and returns typed values, the query as resolved and the API's own
//! status; a failure is returned as data (an `Err` inside the evidence) so that
//! the judge always gets one record per check and decides what a missing piece
//! of evidence means. Adding an evidence source is one new provider file here,
//! one trait in `source`, and one arm in the judge.
//!
//! - `source`: every source trait ([`MetricSource`], [`AlarmSource`],
//!   [`DeploymentSource`], [`DiscoverySource`], [`SwitchSource`], [`HeadStore`],
//!   [`ProbeSource`]) and the sources that answer without a network;
//! - `data`: what the sources hand back and what was collected ([`Evidence`],
//!   [`MetricData`], [`EvidenceError`], ...);
//! - `plan`: what a hook needs fetched at `now` ([`plan()`], [`EvidencePlan`]),
//!   purely: one `GetMetricData` request covering every gate (deduplicated
//!   queries, one time range), the alarm names, and for a preflight the metrics
//!   and alarms of the other hooks;
//! - `collect`: the providers run concurrently, failures kept as data
//!   ([`collect()`], [`collect_with_probes`]).

pub mod alarms;
mod aws_error;
pub mod cloudwatch;
pub mod deployment;
pub mod discovery;
pub mod export;
pub mod flags;
pub mod probes;
pub mod switches;

mod collect;
mod data;
mod plan;
mod source;

pub use collect::{collect, collect_all, collect_with_probes};
pub use data::{
    AlarmObservation, AlarmStates, ChainHead, Datapoint, DeploymentInfo, Evidence, EvidenceError,
    FlagFlip, FlagResults, FlagValues, MetricData, MetricIdentity, PreflightEvidence, ProbeAttempt,
    ProbeResults, ProbeRun, RawSeries, SeriesStatus, StoredHead, SwitchValues,
};
pub use plan::{plan, EvidencePlan, MetricRequest, PreflightRequest};
pub use source::{
    AlarmSource, DeploymentSource, DiscoverySource, FlagSource, FlagWriter, HeadStore,
    MetricSource, NoDiscovery, NoFlags, NoProbes, NoSwitches, ProbeSource, SwitchSource,
};

pub(crate) use crate::vocab::text::bounded;
pub use aws_error::aws_error;
