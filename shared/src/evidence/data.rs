//! What was collected: the values the sources hand back and the judge reads.
//!
//! Every failure is a value here ([`EvidenceError`] inside a `Result`), so the
//! judge always gets one record per check and decides what a missing piece of
//! evidence means. In order: the error; metric series and alarm states; the
//! evidence of one hook execution; the deployment; the switches and the audit
//! chain head as read; probe attempts.

use crate::policy::{FlagProfile, FlagRef, MetricQuery};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why a provider could not collect evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The AWS call failed after the SDK's retries.
    #[error("{service} {operation} failed: {message}")]
    Api {
        /// e.g. `CloudWatch`.
        service: &'static str,
        /// e.g. `GetMetricData`.
        operation: &'static str,
        /// The SDK's error, with its code.
        message: String,
    },
    /// The answer arrived but does not make sense (e.g. a result for an id we never asked for).
    #[error("{service} {operation} returned an unusable answer: {message}")]
    Malformed {
        /// e.g. `CloudWatch`.
        service: &'static str,
        /// e.g. `GetMetricData`.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Collection did not finish before the hook's evidence budget ran out.
    #[error("evidence was not collected within {budget_ms} ms (the invocation deadline minus the safety margin)")]
    TimedOut {
        /// The budget that ran out.
        budget_ms: u64,
    },
}

/// One datapoint: period start (epoch seconds) and value.
pub type Datapoint = (i64, f64);

/// CloudWatch's per-series status after every page was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "message")]
pub enum SeriesStatus {
    /// All datapoints in the range were returned.
    Complete,
    /// CloudWatch said more data exists than it returned.
    PartialData,
    /// CloudWatch could not return this series (`Forbidden`, `InternalError`).
    Failed(String),
}

/// One query's datapoints as CloudWatch returned them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawSeries {
    /// Datapoints in any order, values exactly as returned (NaN, an
    /// infinity or a negative count included): the judge aligns them to
    /// periods and decides what an impossible one means (an error, never a
    /// missing period: `judge::threshold`).
    pub points: Vec<Datapoint>,
    /// The API's status for this series.
    pub status: SeriesStatus,
    /// API messages attached to the series.
    pub messages: Vec<String>,
}

/// Series by query, for the request's range.
pub type MetricData = BTreeMap<MetricQuery, RawSeries>;

/// The state of one CloudWatch alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmObservation {
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// CloudWatch's reason text.
    pub reason: Option<String>,
}

/// Alarm states by name; a name absent from the map does not exist.
pub type AlarmStates = BTreeMap<String, AlarmObservation>;

/// A metric as CloudWatch lists it: namespace, name and exact dimension set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MetricIdentity {
    /// e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// e.g. `RequestCount`.
    pub metric_name: String,
    /// Sorted name/value pairs.
    pub dimensions: Vec<(String, String)>,
}

impl From<&MetricQuery> for MetricIdentity {
    fn from(q: &MetricQuery) -> Self {
        MetricIdentity {
            namespace: q.namespace.clone(),
            metric_name: q.metric_name.clone(),
            dimensions: q.dimensions.clone(),
        }
    }
}

/// What was collected for one hook execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// When the evidence was requested (epoch seconds); windows derive from it.
    pub now: i64,
    /// `None` when nothing was asked.
    pub metrics: Option<Result<MetricData, EvidenceError>>,
    /// `None` when nothing was asked.
    pub alarms: Option<Result<AlarmStates, EvidenceError>>,
    /// Existence of what the other hooks rely on (empty without a preflight).
    pub preflight: PreflightEvidence,
    /// History baselines by offset (seconds back); empty when none was asked.
    pub history: BTreeMap<i64, Result<MetricData, EvidenceError>>,
    /// Each probe gate's attempts, by gate name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: ProbeResults,
    /// Each feature-flag profile read, as the data plane served it. Not
    /// serialized: its keys are not text.
    #[serde(skip)]
    pub flags: FlagResults,
}

/// A feature-flag profile as an application reads it: each flag's
/// `enabled`, by key.
pub type FlagValues = BTreeMap<String, bool>;

/// Flag evidence by profile.
pub type FlagResults = BTreeMap<FlagProfile, Result<FlagValues, EvidenceError>>;

/// What turning a flag off did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FlagFlip {
    /// A new hosted configuration version with the flag off was deployed.
    TurnedOff {
        /// The hosted configuration version it was made from.
        from_version: i32,
        /// The new version.
        version: i32,
        /// The AppConfig deployment number in the environment.
        deployment: i32,
        /// The deployment strategy (the immediate one).
        strategy: String,
    },
    /// The deployed version already has the flag off: nothing was written.
    AlreadyOff {
        /// The deployed version.
        version: i32,
    },
}

/// Probe evidence by gate name.
pub type ProbeResults = BTreeMap<String, Result<ProbeRun, EvidenceError>>;

/// What a preflight found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreflightEvidence {
    /// Each metric: whether its absence blocks, and whether it exists.
    pub metrics: BTreeMap<MetricIdentity, (bool, Result<bool, EvidenceError>)>,
    /// Alarms whose existence is checked in [`Evidence::alarms`].
    pub alarms: BTreeSet<String>,
    /// Kill-switch flags whose existence is checked in [`Evidence::flags`]
    /// (`require_kill_switch`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub flags: BTreeSet<FlagRef>,
}

/// What the decision record says about the deployment being gated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeploymentInfo {
    /// CodeDeploy application.
    pub application_name: Option<String>,
    /// Deployment group.
    pub deployment_group_name: Option<String>,
    /// e.g. `CodeDeployDefault.ECSCanary10Percent5Minutes`.
    pub deployment_config_name: Option<String>,
    /// `ECS`, `Lambda` or `Server`.
    pub compute_platform: Option<String>,
    /// `InProgress`, `Stopped`, ...
    pub status: Option<String>,
    /// `user`, `autoscaling`, `codeDeployRollback`, ...
    pub creator: Option<String>,
    /// When the deployment was created, epoch seconds: where a
    /// `before_deployment` baseline's window ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
}

/// The raw values of the parameters read for one hook execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchValues {
    /// The freeze parameter's value, `None` when absent.
    pub freeze: Option<String>,
    /// This hook's override parameter's value, `None` when absent.
    pub override_: Option<String>,
    /// The deployment's audit chain head, as stored.
    pub audit_head: StoredHead,
}

impl From<(Option<String>, Option<String>)> for SwitchValues {
    /// Freeze and override values, with no chain head kept.
    fn from((freeze, override_): (Option<String>, Option<String>)) -> Self {
        SwitchValues {
            freeze,
            override_,
            audit_head: StoredHead::NotKept,
        }
    }
}

/// The audit chain head as a switch source found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoredHead {
    /// This source keeps no chain head (switches off, a rehearsal, a test).
    #[default]
    NotKept,
    /// Kept, but none yet: the deployment's first record.
    Absent,
    /// The parameter's value.
    Value(String),
}

/// Where a chain stands: its newest record's sequence number and digest.
/// Stored as JSON `{"sequence", "digest"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The newest record's sequence number (the first record is 1).
    pub sequence: u64,
    /// The newest record's digest.
    pub digest: String,
}

impl ChainHead {
    /// The parameter's value (read back with [`ChainHead::parse`], in
    /// [`crate::audit`], whose rules say what a valid head is).
    pub fn to_parameter_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One request of a probe and what came of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProbeAttempt {
    /// 1-based, in the order attempts were started.
    pub index: u32,
    /// The final answer's status, when one arrived (also when the body then failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// From sending the request to the end of the bounded body, or to the failure.
    pub latency_ms: u64,
    /// The first [`MAX_BODY_BYTES`](super::probes::MAX_BODY_BYTES) of the
    /// body. Kept only when an expectation reads it, and never written to
    /// records (it may hold anything).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Bytes of body read (at most
    /// [`MAX_BODY_BYTES`](super::probes::MAX_BODY_BYTES)).
    pub body_bytes: usize,
    /// The body was longer than
    /// [`MAX_BODY_BYTES`](super::probes::MAX_BODY_BYTES): only its start was
    /// read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// Redirect targets followed, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    /// Why there is no complete answer: the transport error, a timeout, a
    /// refused redirect. `None` when the answer was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resolved address (`ip:port`) the prober refused to connect to:
    /// the Lambda Runtime API, a link-local or metadata address
    /// ([`super::probes::guard`]). The policy pointed a probe where none may
    /// go, so the gate is an error whatever `min_success` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// What a probe gate's evidence is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ProbeRun {
    /// Every attempt, in index order.
    Attempts(Vec<ProbeAttempt>),
    /// The source does not send probes (a rehearsal, an offline evaluation):
    /// why, for the gate's reason.
    NotRun(String),
}
