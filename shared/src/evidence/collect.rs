//! Collection: running the providers a plan needs, all at once, and keeping
//! every failure in the evidence instead of returning it.

use super::{
    AlarmSource, AlarmStates, Evidence, EvidenceError, EvidencePlan, FlagResults, FlagSource,
    MetricSource, NoFlags, NoProbes, PreflightEvidence, ProbeResults, ProbeSource,
};
use tokio::time::Instant;

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
                flags: plan
                    .preflight
                    .iter()
                    .flat_map(|p| p.flags.iter().cloned())
                    .collect(),
            },
            probes: plan
                .probes
                .iter()
                .map(|(gate, _)| (gate.clone(), Err(error.clone())))
                .collect(),
            flags: plan
                .flags
                .iter()
                .map(|profile| (profile.clone(), Err(error.clone())))
                .collect(),
        }
    }
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
    collect_all(plan, now, metrics, alarms, probes, &NoFlags, probe_deadline).await
}

/// [`collect_with_probes`], with the plan's feature-flag profiles read
/// through `flags` at the same time (one configuration session each).
pub async fn collect_all<M: MetricSource, A: AlarmSource, P: ProbeSource, F: FlagSource>(
    plan: &EvidencePlan,
    now: i64,
    metrics: &M,
    alarms: &A,
    probes: &P,
    flags: &F,
    probe_deadline: Instant,
) -> Evidence {
    let flag_reads = futures_util::future::join_all(
        plan.flags
            .iter()
            .map(|profile| async move { (profile.clone(), flags.flags(profile).await) }),
    );
    let probe_runs =
        futures_util::future::join_all(plan.probes.iter().map(|(gate, check)| async move {
            (gate.clone(), Ok(probes.probe(check, probe_deadline).await))
        }));
    let (mut evidence, probe_runs, flag_reads) = tokio::join!(
        collect_metrics_and_alarms(plan, now, metrics, alarms),
        probe_runs,
        flag_reads
    );
    evidence.probes = probe_runs.into_iter().collect();
    evidence.flags = flag_reads.into_iter().collect::<FlagResults>();
    evidence
}

/// Everything but the probes: metrics, alarms, the preflight's lookups and the
/// history baselines, all at once.
async fn collect_metrics_and_alarms<M: MetricSource, A: AlarmSource>(
    plan: &EvidencePlan,
    now: i64,
    metrics: &M,
    alarms: &A,
) -> Evidence {
    let metric_data = async {
        match &plan.metrics {
            Some(request) => Some(metrics.metric_data(request).await),
            None => None,
        }
    };
    let alarm_states = alarm_states(plan, alarms);
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
            flags: plan
                .preflight
                .iter()
                .flat_map(|p| p.flags.iter().cloned())
                .collect(),
        },
        probes: ProbeResults::new(),
        flags: FlagResults::new(),
    }
}

/// The states of the plan's alarms (this hook's and the preflight's) and of
/// every alarm under its prefixes; `None` when the plan names no alarm.
async fn alarm_states<A: AlarmSource>(
    plan: &EvidencePlan,
    alarms: &A,
) -> Option<Result<AlarmStates, EvidenceError>> {
    let alarm_names = plan.all_alarms();
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
}
