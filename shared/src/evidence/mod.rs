//! Evidence: what the providers collect and the judge decides on.
//!
//! Shaped after Argo Rollouts' analysis package, with one change: providers never
//! judge. Each provider ([`cloudwatch`], [`alarms`], [`deployment`], [`probes`]) sits behind a
//! trait of one or two calls and returns typed values, the query as resolved and
//! the API's own status; a failure is returned as data (an `Err` inside the
//! evidence) so that the judge always gets one record per check and decides what
//! a missing piece of evidence means. Adding an evidence source is one new file
//! here, one trait, and one arm in the judge.
//!
//! - `data`: what was collected ([`Evidence`], [`MetricData`], [`EvidenceError`], ...);
//! - `plan`: what a hook needs fetched at `now` ([`plan()`], [`EvidencePlan`]),
//!   purely: one `GetMetricData` request covering every gate (deduplicated
//!   queries, one time range), the alarm names, and for a preflight the metrics
//!   and alarms of the other hooks;
//! - `collect`: the providers run concurrently, failures kept as data
//!   ([`collect()`], [`collect_with_probes`]).

pub mod alarms;
pub mod cloudwatch;
pub mod deployment;
pub mod discovery;
pub mod probes;
pub mod switches;

mod collect;
mod data;
mod plan;

pub use collect::{collect, collect_with_probes};
pub use data::{
    AlarmObservation, AlarmStates, Datapoint, Evidence, EvidenceError, MetricData, MetricIdentity,
    PreflightEvidence, ProbeResults, RawSeries, SeriesStatus,
};
pub use plan::{plan, EvidencePlan, MetricRequest, PreflightRequest};

pub(crate) use crate::vocab::text::bounded;
use std::future::Future;

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

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn long_error_texts_are_cut() {
        assert_eq!(bounded("short".into()), "short");
        let long = "x".repeat(1000);
        let cut = bounded(long);
        assert!(cut.starts_with(&"x".repeat(400)));
        assert!(cut.ends_with("... (600 more bytes)"), "{cut}");
        // Cuts on a character boundary.
        assert!(bounded("é".repeat(500)).ends_with("... (200 more bytes)"));
    }
}
