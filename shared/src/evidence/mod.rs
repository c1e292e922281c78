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
//! [`plan`] works out, purely, what a hook needs fetched: one `GetMetricData`
//! request covering every gate (deduplicated queries, one time range), the alarm
//! names, and for a preflight the metrics and alarms of the other hooks.

pub mod alarms;
pub mod cloudwatch;
pub mod deployment;
pub mod discovery;
pub mod probes;
pub mod switches;

use crate::policy::{GateCheck, MetricQuery, Policy, ProbeCheck, SeriesKind};
use crate::vocab::hook::Hook;
use crate::window::{gate_window, TimeRange};
use probes::{NoProbes, ProbeRun, ProbeSource};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use tokio::time::Instant;

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

pub(crate) use crate::vocab::text::bounded;

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

/// What one `GetMetricData` request must cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRequest {
    /// Covers every gate's window.
    pub range: TimeRange,
    /// Each distinct query once.
    pub queries: Vec<MetricQuery>,
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

/// What a preflight must confirm exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreflightRequest {
    /// Each metric, and whether its absence blocks (a counter that is only
    /// published when non-zero, such as 5XX, may legitimately be absent).
    pub metrics: BTreeMap<MetricIdentity, bool>,
    /// Alarms named by the other hooks.
    pub alarms: BTreeSet<String>,
}

/// Everything a hook needs fetched.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvidencePlan {
    /// `None` when the hook has no threshold gates.
    pub metrics: Option<MetricRequest>,
    /// Alarms of this hook's alarm gates.
    pub alarms: Vec<String>,
    /// Alarm name prefixes of this hook's alarm gates.
    pub alarm_prefixes: Vec<String>,
    /// Present when the hook runs a preflight.
    pub preflight: Option<PreflightRequest>,
    /// History baselines: one request per distinct offset (seconds back), each
    /// over the gates' windows shifted back by it. Fetched concurrently with
    /// `metrics`, as CloudWatch takes one time range per request.
    pub history: Vec<(i64, MetricRequest)>,
    /// This hook's probe gates by gate name, in policy order. Not serialized:
    /// headers may carry credentials.
    #[serde(skip)]
    pub probes: Vec<(String, ProbeCheck)>,
}

impl EvidencePlan {
    /// This hook's alarms and the preflight's, for one `DescribeAlarms` call.
    pub fn all_alarms(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.alarms.iter().cloned().collect();
        names.extend(self.preflight.iter().flat_map(|p| p.alarms.iter().cloned()));
        names.into_iter().collect()
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

impl Evidence {
    /// Evidence in which every requested piece failed with `error`: what the
    /// judge sees when collection could not finish at all.
    pub fn all_failed(plan: &EvidencePlan, now: i64, error: EvidenceError) -> Evidence {
        Evidence {
            now,
            metrics: plan.metrics.as_ref().map(|_| Err(error.clone())),
            alarms: (!plan.all_alarms().is_empty() || !plan.alarm_prefixes.is_empty())
                .then(|| Err(error.clone())),
            history: plan
                .history
                .iter()
                .map(|(offset, _)| (*offset, Err(error.clone())))
                .collect(),
            preflight: PreflightEvidence {
                metrics: plan
                    .preflight
                    .iter()
                    .flat_map(|p| p.metrics.iter())
                    .map(|(m, blocking)| (m.clone(), (*blocking, Err(error.clone()))))
                    .collect(),
                alarms: plan
                    .preflight
                    .iter()
                    .flat_map(|p| p.alarms.iter().cloned())
                    .collect(),
            },
            probes: plan
                .probes
                .iter()
                .map(|(gate, _)| (gate.clone(), Err(error.clone())))
                .collect(),
        }
    }
}

/// Works out what `hook` needs fetched at `now`.
pub fn plan(policy: &Policy, hook: Hook, now: i64) -> EvidencePlan {
    let Some(section) = policy.hook(hook) else {
        return EvidencePlan::default();
    };
    let mut queries = BTreeSet::new();
    let mut range: Option<TimeRange> = None;
    let mut alarms = BTreeSet::new();
    let mut alarm_prefixes = BTreeSet::new();
    let mut history: BTreeMap<i64, (TimeRange, BTreeSet<MetricQuery>)> = BTreeMap::new();
    let mut probes = Vec::new();
    for gate in &section.gates {
        match &gate.check {
            GateCheck::Threshold(check) => {
                queries.extend(check.queries().cloned());
                let window = gate_window(check, now, section.ingestion_lag_secs);
                range = Some(range.map_or(window, |r| r.union(window)));
                if let Some(baseline) = check.baseline.as_deref() {
                    let offset = baseline.offset_secs();
                    if offset > 0 {
                        let shifted = TimeRange {
                            start: window.start - offset,
                            end: window.end - offset,
                        };
                        let entry = history
                            .entry(offset)
                            .or_insert_with(|| (shifted, BTreeSet::new()));
                        entry.0 = entry.0.union(shifted);
                        entry.1.extend(baseline.queries().cloned());
                    }
                }
            }
            GateCheck::Alarms(check) => {
                alarms.extend(check.names.iter().cloned());
                alarm_prefixes.extend(check.prefix.iter().cloned());
            }
            GateCheck::Probe(check) => probes.push((gate.name.clone(), (**check).clone())),
        }
    }
    EvidencePlan {
        metrics: range.map(|range| MetricRequest {
            range,
            queries: queries.into_iter().collect(),
        }),
        alarms: alarms.into_iter().collect(),
        alarm_prefixes: alarm_prefixes.into_iter().collect(),
        preflight: section.preflight.then(|| preflight_request(policy, hook)),
        history: history
            .into_iter()
            .map(|(offset, (range, queries))| {
                (
                    offset,
                    MetricRequest {
                        range,
                        queries: queries.into_iter().collect(),
                    },
                )
            })
            .collect(),
        probes,
    }
}

fn preflight_request(policy: &Policy, this_hook: Hook) -> PreflightRequest {
    let mut request = PreflightRequest::default();
    let others = policy
        .hooks
        .iter()
        .filter(|(hook, _)| **hook != this_hook)
        .map(|(_, section)| section);
    for section in others {
        for gate in &section.gates {
            match &gate.check {
                GateCheck::Threshold(check) => {
                    let required: BTreeSet<&MetricQuery> = check
                        .signal
                        .primary_queries()
                        .iter()
                        .chain(check.min_sample.iter().map(|m| &m.query))
                        .collect();
                    // A query that names the replacement cannot be checked
                    // before discovery can see it (BeforeInstall, for ECS).
                    for query in check.queries().filter(|q| {
                        !q.dimensions
                            .iter()
                            .any(|(_, v)| crate::policy::is_unbound(v))
                    }) {
                        let blocking = required.contains(query) || query.kind == SeriesKind::Gauge;
                        let entry = request.metrics.entry(query.into()).or_insert(false);
                        *entry |= blocking;
                    }
                }
                GateCheck::Alarms(check) => request.alarms.extend(check.names.iter().cloned()),
                // Not preflighted: at BeforeInstall the test listener does not
                // serve the replacement yet, so an answer would prove nothing,
                // and the hosts were already checked against `probe_hosts`.
                GateCheck::Probe(_) => {}
            }
        }
    }
    request
}

/// Collects everything `plan` asks for, concurrently: one `GetMetricData`
/// request, one `DescribeAlarms` request and the preflight's `ListMetrics`
/// lookups all run at once. Failures are kept in the evidence, never returned.
/// Probes are not sent ([`NoProbes`]): see [`collect_with_probes`].
pub async fn collect<M: MetricSource, A: AlarmSource>(
    plan: &EvidencePlan,
    now: i64,
    metrics: &M,
    alarms: &A,
) -> Evidence {
    collect_with_probes(plan, now, metrics, alarms, &NoProbes, Instant::now()).await
}

/// [`collect`], with the plan's probe gates sent through `probes` at the same
/// time as the metric and alarm calls. No probe attempt runs past
/// `probe_deadline`: set it a little before the collection's own budget ends,
/// so the attempts made so far reach the judge instead of being lost to the
/// budget's timeout.
pub async fn collect_with_probes<M: MetricSource, A: AlarmSource, P: ProbeSource>(
    plan: &EvidencePlan,
    now: i64,
    metrics: &M,
    alarms: &A,
    probes: &P,
    probe_deadline: Instant,
) -> Evidence {
    let probe_runs =
        futures_util::future::join_all(plan.probes.iter().map(|(gate, check)| async move {
            (gate.clone(), Ok(probes.probe(check, probe_deadline).await))
        }));
    let (mut evidence, probe_runs) = tokio::join!(
        collect_metrics_and_alarms(plan, now, metrics, alarms),
        probe_runs
    );
    evidence.probes = probe_runs.into_iter().collect();
    evidence
}

async fn collect_metrics_and_alarms<M: MetricSource, A: AlarmSource>(
    plan: &EvidencePlan,
    now: i64,
    metrics: &M,
    alarms: &A,
) -> Evidence {
    let alarm_names = plan.all_alarms();
    let metric_data = async {
        match &plan.metrics {
            Some(request) => Some(metrics.metric_data(request).await),
            None => None,
        }
    };
    let alarm_states = async {
        if alarm_names.is_empty() && plan.alarm_prefixes.is_empty() {
            return None;
        }
        // One DescribeAlarms for the names, one per prefix, all at once.
        let named = async {
            if alarm_names.is_empty() {
                Ok(AlarmStates::new())
            } else {
                alarms.alarm_states(&alarm_names).await
            }
        };
        let prefixed = futures_util::future::join_all(
            plan.alarm_prefixes
                .iter()
                .map(|prefix| alarms.alarm_states_with_prefix(prefix)),
        );
        let (named, prefixed) = tokio::join!(named, prefixed);
        Some(named.and_then(|named| {
            prefixed.into_iter().try_fold(named, |mut all, found| {
                all.extend(found?);
                Ok(all)
            })
        }))
    };
    let preflight_metrics =
        futures_util::future::join_all(plan.preflight.iter().flat_map(|p| p.metrics.iter()).map(
            |(metric, blocking)| async move {
                (
                    metric.clone(),
                    (*blocking, metrics.metric_exists(metric).await),
                )
            },
        ));
    let history = futures_util::future::join_all(
        plan.history
            .iter()
            .map(|(offset, request)| async move { (*offset, metrics.metric_data(request).await) }),
    );
    let (metric_data, alarm_states, preflight_metrics, history) =
        tokio::join!(metric_data, alarm_states, preflight_metrics, history);
    Evidence {
        now,
        metrics: metric_data,
        alarms: alarm_states,
        history: history.into_iter().collect(),
        preflight: PreflightEvidence {
            metrics: preflight_metrics.into_iter().collect(),
            alarms: plan
                .preflight
                .iter()
                .flat_map(|p| p.alarms.iter().cloned())
                .collect(),
        },
        probes: ProbeResults::new(),
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
