//! What was collected: the values providers hand back and the judge reads.
//!
//! Every failure is a value here ([`EvidenceError`] inside a `Result`), so the
//! judge always gets one record per check and decides what a missing piece of
//! evidence means.

use super::probes::ProbeRun;
use crate::policy::MetricQuery;
use serde::Serialize;
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
    /// Datapoints in any order; the judge aligns them to periods.
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
}
