//! The plan: what a hook needs fetched at `now`, worked out purely from the
//! policy: one `GetMetricData` request covering every gate (deduplicated
//! queries, one time range), the alarm names and prefixes, one request per
//! history baseline offset, the probe gates, the feature-flag profiles, and
//! for a preflight the metrics and alarms of the other hooks (and their
//! kill-switch flags, when the hook requires one).

use super::MetricIdentity;
use crate::policy::{FlagProfile, FlagRef, GateCheck, MetricQuery, Policy, ProbeCheck, SeriesKind};
use crate::vocab::hook::Hook;
use crate::window::{gate_window, TimeRange};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What one `GetMetricData` request must cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRequest {
    /// Covers every gate's window.
    pub range: TimeRange,
    /// Each distinct query once.
    pub queries: Vec<MetricQuery>,
}

/// What a preflight must confirm exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreflightRequest {
    /// Each metric, and whether its absence blocks (a counter that is only
    /// published when non-zero, such as 5XX, may legitimately be absent).
    pub metrics: BTreeMap<MetricIdentity, bool>,
    /// Alarms named by the other hooks.
    pub alarms: BTreeSet<String>,
    /// The other hooks' kill-switch flags, when the hook requires a kill
    /// switch: each must exist.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub flags: BTreeSet<FlagRef>,
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
    /// Feature-flag profiles to read (this hook's flag gates and the
    /// preflight's kill switches), each once: one configuration session each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<FlagProfile>,
}

impl EvidencePlan {
    /// This hook's alarms and the preflight's, for one `DescribeAlarms` call.
    pub fn all_alarms(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.alarms.iter().cloned().collect();
        names.extend(self.preflight.iter().flat_map(|p| p.alarms.iter().cloned()));
        names.into_iter().collect()
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
    let mut flags = BTreeSet::new();
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
            GateCheck::Flag(check) => {
                flags.insert(check.flag.profile.clone());
            }
        }
    }
    let preflight = section.preflight.then(|| {
        let mut request = preflight_request(policy, hook);
        if section.require_kill_switch {
            request.flags = policy.other_kill_switches(hook).into_iter().collect();
        }
        request
    });
    flags.extend(
        preflight
            .iter()
            .flat_map(|p| p.flags.iter().map(|f| f.profile.clone())),
    );
    EvidencePlan {
        metrics: range.map(|range| MetricRequest {
            range,
            queries: queries.into_iter().collect(),
        }),
        alarms: alarms.into_iter().collect(),
        alarm_prefixes: alarm_prefixes.into_iter().collect(),
        preflight,
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
        flags: flags.into_iter().collect(),
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
                // Checked only when the hook requires a kill switch: a flag
                // gate's state at BeforeInstall says nothing of its state later.
                GateCheck::Flag(_) => {}
            }
        }
    }
    request
}
