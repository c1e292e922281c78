//! Judgement: a pure function from a hook's policy and evidence to a verdict.
//!
//! No I/O, no clock, no randomness: the same evidence always gives the same
//! verdict, which is what makes the verdict testable from tables and replayable
//! from a decision record. Each gate gets one of four outcomes (never a boolean,
//! so "CloudWatch throttled us" can never read as "latency regressed"), ordered
//! best to worst; the hook's status is the worst outcome of its critical gates,
//! with `Inconclusive` mapped by the hook's `on_inconclusive`.
//!
//! One file per kind of check: [`threshold`], [`alarms`], [`preflight`], [`probes`].

pub mod alarms;
mod compare;
mod decision;
pub mod preflight;
pub mod probes;
pub mod statistics;
pub mod threshold;

pub use decision::combine;

use crate::evidence::{Evidence, SeriesStatus};
use crate::policy::{GateCheck, HookPolicy, InconclusiveAction, Severity};
use crate::window::TimeRange;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A gate's outcome, best first: the derived order is the combination order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// The evidence shows the gate holds.
    Pass,
    /// The evidence is too thin to say either way.
    Inconclusive,
    /// The evidence shows a breach.
    Fail,
    /// The evidence could not be collected or makes no sense.
    Error,
}

impl fmt::Display for GateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateOutcome::Pass => "pass",
            GateOutcome::Inconclusive => "inconclusive",
            GateOutcome::Fail => "fail",
            GateOutcome::Error => "error",
        })
    }
}

/// The two statuses a hook reports to CodeDeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LifecycleStatus {
    /// CodeDeploy carries on.
    Succeeded,
    /// CodeDeploy rolls back.
    Failed,
}

impl LifecycleStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStatus::Succeeded => "Succeeded",
            LifecycleStatus::Failed => "Failed",
        }
    }
}

impl fmt::Display for LifecycleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One period of a judged signal, as [`GateSeries::observations`] yields it
/// to the consumers that draw or list periods one by one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    /// Period start, epoch seconds.
    pub timestamp: i64,
    /// The signal's value; `None` when missing (no datapoint, 0/0, NaN).
    pub value: Option<f64>,
    /// Whether this period counted as a breach.
    pub breaching: bool,
    /// Whether this period was among the N judged.
    pub judged: bool,
    /// The baseline's value in the same period, for gates compared with one
    /// period by period (`None` for periods that were not judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
}

/// Every period of a gate's window, column by column.
///
/// A day of one-minute periods is 1440 of them per gate, and a hook may judge
/// hundreds of gates: a struct per period cost more to build than the judging
/// itself and serialised to 120 KB of JSON per gate. Columns cost one `f64`
/// per period in memory and about one number per period in the record; the
/// per-period view is still there for whoever wants it
/// ([`GateSeries::observations`]).
///
/// In the record: `{"start", "period", "values": [v, null, ...],
/// "baseline": [...], "judged_from": i, "skipped": [...], "breaching": [...]}`.
/// Period `i` starts at `start + i * period`; it was judged when
/// `i >= judged_from` and `i` is not in `skipped` (periods without a value
/// under `missing_data: ignore`); `breaching` lists the periods that counted
/// as breaches, all of them judged.
#[derive(Debug, Clone, Serialize)]
pub struct GateSeries {
    /// The first period's start, epoch seconds.
    pub start: i64,
    /// Seconds per period.
    pub period: i64,
    /// The signal per period; NaN where it has no value (`null` in JSON).
    #[serde(serialize_with = "nan_as_null")]
    pub values: Vec<f64>,
    /// The baseline's value per period, for gates compared with one period
    /// by period; NaN where it has none.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_nan_as_null"
    )]
    pub baseline: Option<Vec<f64>>,
    /// The first judged period; `values.len()` when none was judged.
    pub judged_from: usize,
    /// Periods at or after `judged_from` that were not judged, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<u32>,
    /// The periods that counted as breaches, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaching: Vec<u32>,
}

impl GateSeries {
    /// A window of `values` from `start`, none of them judged.
    pub fn unjudged(start: i64, period: i64, values: Vec<f64>) -> Self {
        GateSeries {
            start,
            period,
            judged_from: values.len(),
            values,
            baseline: None,
            skipped: Vec::new(),
            breaching: Vec::new(),
        }
    }

    /// How many periods.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no period at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether period `i` was judged.
    pub fn is_judged(&self, i: usize) -> bool {
        i >= self.judged_from && !contains(&self.skipped, i)
    }

    /// Every period, oldest first, one [`Observation`] each.
    pub fn observations(&self) -> impl DoubleEndedIterator<Item = Observation> + '_ {
        self.values.iter().enumerate().map(move |(i, &value)| {
            let judged = self.is_judged(i);
            Observation {
                timestamp: self.start + i as i64 * self.period,
                value: known(value),
                breaching: judged && contains(&self.breaching, i),
                judged,
                baseline: self
                    .baseline
                    .as_ref()
                    .filter(|_| judged)
                    .and_then(|base| base.get(i).copied().and_then(known)),
            }
        })
    }

    /// Leaves out the periods before the first judged one, returning how many
    /// went: what is left starts at the first judged period.
    pub fn drop_unjudged(&mut self) -> usize {
        let from = self.judged_from.min(self.values.len());
        if from == 0 {
            return 0;
        }
        self.values.drain(..from);
        if let Some(baseline) = &mut self.baseline {
            baseline.drain(..from.min(baseline.len()));
        }
        self.start += from as i64 * self.period;
        let shift = from as u32;
        for index in self.skipped.iter_mut().chain(&mut self.breaching) {
            *index -= shift;
        }
        self.judged_from = 0;
        from
    }

    /// The series of `observations`, which must be one per period from the
    /// first one's timestamp, `period` apart (as [`GateSeries::observations`]
    /// yields them). For tests and tools that build a series by hand.
    pub fn from_observations(period: i64, observations: &[Observation]) -> Self {
        let start = observations.first().map_or(0, |o| o.timestamp);
        let values: Vec<f64> = observations
            .iter()
            .map(|o| o.value.unwrap_or(f64::NAN))
            .collect();
        let judged_from = observations
            .iter()
            .position(|o| o.judged)
            .unwrap_or(values.len());
        let indexes = |keep: &dyn Fn(&Observation) -> bool| -> Vec<u32> {
            observations
                .iter()
                .enumerate()
                .skip(judged_from)
                .filter(|(_, o)| keep(o))
                .map(|(i, _)| i as u32)
                .collect()
        };
        let baseline = observations.iter().any(|o| o.baseline.is_some()).then(|| {
            observations
                .iter()
                .map(|o| o.baseline.unwrap_or(f64::NAN))
                .collect()
        });
        GateSeries {
            start,
            period,
            values,
            baseline,
            judged_from,
            skipped: indexes(&|o| !o.judged),
            breaching: indexes(&|o| o.judged && o.breaching),
        }
    }
}

/// NaN-aware: two series are equal when they say the same, NaN standing for
/// "no value" on both sides (a verdict judged twice from the same evidence
/// must compare equal).
impl PartialEq for GateSeries {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &[f64], b: &[f64]) -> bool {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        }
        self.start == other.start
            && self.period == other.period
            && same(&self.values, &other.values)
            && match (&self.baseline, &other.baseline) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.judged_from == other.judged_from
            && self.skipped == other.skipped
            && self.breaching == other.breaching
    }
}

fn contains(sorted: &[u32], i: usize) -> bool {
    u32::try_from(i).is_ok_and(|i| sorted.binary_search(&i).is_ok())
}

fn known(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// A shared string, written as the string it is.
fn shared_str<S: serde::Serializer>(value: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
}

fn nan_as_null<S: serde::Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|&v| known(v)))
}

fn optional_nan_as_null<S: serde::Serializer>(
    values: &Option<Vec<f64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match values {
        Some(values) => nan_as_null(values, serializer),
        None => serializer.serialize_none(),
    }
}

/// How complete one fetched series was over a gate's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesCompleteness {
    /// The query, human-readable. Shared: a judgement names each series once
    /// and every gate's record that reads it holds the same name (hundreds
    /// of copies otherwise, an allocation each).
    #[serde(serialize_with = "shared_str")]
    pub query: Arc<str>,
    /// Periods in the window.
    pub expected: usize,
    /// Periods that had a datapoint.
    pub present: usize,
    /// CloudWatch's status for the series.
    pub status: SeriesStatus,
}

/// The sample a gate needed and saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleFigures {
    /// The sample metric, human-readable (shared, as in [`SeriesCompleteness`]).
    #[serde(serialize_with = "shared_str")]
    pub query: Arc<str>,
    /// Its sum over the window.
    pub observed: f64,
    /// The policy's minimum.
    pub required: f64,
}

/// Everything the judge found about one gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// The gate's name.
    pub name: String,
    /// Whether it could block.
    pub severity: Severity,
    /// Judged in shadow mode: recorded, never blocks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The outcome.
    pub outcome: GateOutcome,
    /// Whether this gate blocks the hook: set once, by the judge's final
    /// step ([`combine`]), from the outcome, the severity, dry run and the
    /// hook's `on_inconclusive`. Renderers read it; none recomputes it.
    /// Not in the record (its format is unchanged): the record's `status` and
    /// `reason` already say what blocked.
    #[serde(skip)]
    pub blocking: bool,
    /// One line for a person.
    pub reason: String,
    /// e.g. `> 1%`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// The threshold as a number in the signal's unit (a percentage as a fraction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_value: Option<f64>,
    /// The judged window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeRange>,
    /// M of N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Breaching datapoints among the judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaching: Option<usize>,
    /// Every period of the window, for gates judged period by period (and
    /// threshold gates stopped before judging). The record may omit it to fit
    /// a log event: see [`crate::report::DecisionRecord::fit_log_event`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<GateSeries>,
    /// The minimum-sample check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleFigures>,
    /// Per fetched series.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub completeness: Vec<SeriesCompleteness>,
    /// The gate's metric had no datapoint at all: not thin evidence but none,
    /// which blocks even under `on_inconclusive: pass` (a typo in a dimension
    /// must never read as a success).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_evidence: bool,
    /// A statistical comparison's figures (test, counts, rates, p-value), for
    /// gates judged by a test rather than period by period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_json::Value>,
    /// A probe gate's attempts: each one's status, latency, bytes and error
    /// (at most [`probes::MAX_RECORDED_ATTEMPTS`] of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<probes::ProbeFigures>,
    /// A statistically tested gate's weight and comparison, for the hook's
    /// `canary_score` (the figures are in `statistics`).
    #[serde(skip)]
    pub scored: Option<(f64, statistics::MetricEvidence)>,
}

impl GateResult {
    /// A result with only the essentials; the checks fill in their figures.
    pub fn new(name: &str, severity: Severity, outcome: GateOutcome, reason: String) -> Self {
        GateResult {
            name: name.to_string(),
            severity,
            dry_run: false,
            outcome,
            blocking: false,
            reason,
            threshold: None,
            threshold_value: None,
            window: None,
            rule: None,
            breaching: None,
            series: None,
            sample: None,
            completeness: Vec::new(),
            no_evidence: false,
            statistics: None,
            probe: None,
            scored: None,
        }
    }

    /// Every period of the window, oldest first (none when there is no series).
    pub fn observations(&self) -> impl DoubleEndedIterator<Item = Observation> + '_ {
        self.series.iter().flat_map(GateSeries::observations)
    }

    /// Whether this result makes the hook fail under `on_inconclusive`. No
    /// evidence at all blocks whatever `on_inconclusive` says.
    pub fn blocks(&self, on_inconclusive: InconclusiveAction) -> bool {
        !self.dry_run && self.would_block(on_inconclusive)
    }

    /// Whether this result would make the hook fail were it not in shadow mode.
    fn would_block(&self, on_inconclusive: InconclusiveAction) -> bool {
        self.severity == Severity::Critical
            && match self.outcome {
                GateOutcome::Pass => false,
                GateOutcome::Inconclusive => {
                    on_inconclusive == InconclusiveAction::Fail || self.no_evidence
                }
                GateOutcome::Fail | GateOutcome::Error => true,
            }
    }
}

/// The judge's answer for a hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What to report.
    pub status: LifecycleStatus,
    /// One line for a person: which gates decided, and why.
    pub reason: String,
    /// Every gate, in policy order, preflight checks last.
    pub gates: Vec<GateResult>,
}

/// Judges a hook. Pure.
pub fn judge(section: &HookPolicy, evidence: &Evidence) -> Verdict {
    // Series aligned for one gate serve every other gate over the same window.
    let thresholds = section.gates.iter().filter_map(|gate| match &gate.check {
        GateCheck::Threshold(check) => Some(&**check),
        _ => None,
    });
    let mut columns =
        threshold::Columns::for_gates(thresholds, evidence.now, section.ingestion_lag_secs);
    let mut gates: Vec<GateResult> = section
        .gates
        .iter()
        .map(|gate| {
            let mut result = match &gate.check {
                GateCheck::Threshold(check) => threshold::judge_with(
                    gate,
                    check,
                    section.ingestion_lag_secs,
                    evidence,
                    &mut columns,
                ),
                GateCheck::Alarms(check) => alarms::judge(gate, check, evidence.alarms.as_ref()),
                GateCheck::Probe(check) => {
                    probes::judge(gate, check, evidence.probes.get(&gate.name))
                }
            };
            result.dry_run = gate.dry_run;
            result
        })
        .collect();
    if let Some(canary_score) = &section.canary_score {
        gates.push(score_gate(canary_score, &gates));
    }
    if section.preflight {
        gates.extend(preflight::judge(evidence));
    }
    combine(section.on_inconclusive, gates)
}

/// The Kayenta-style score over the hook's statistically tested gates, as a
/// critical gate of its own: pass, marginal (inconclusive) or fail; a critical
/// tested gate that is high or low fails it whatever the score.
fn score_gate(canary_score: &crate::policy::CanaryScore, gates: &[GateResult]) -> GateResult {
    let metrics = gates
        .iter()
        .filter_map(|g| {
            let (weight, evidence) = g.scored.as_ref()?;
            Some(statistics::MetricResult {
                name: g.name.clone(),
                group: None,
                weight: *weight,
                critical: g.severity == Severity::Critical && !g.dry_run,
                evidence: evidence.clone(),
            })
        })
        .collect();
    let options = statistics::ScoreOptions {
        pass_threshold: canary_score.pass,
        marginal_threshold: canary_score.marginal,
        no_data: statistics::NoDataPolicy::Exclude,
    };
    match statistics::score(metrics, &options) {
        Ok(report) => {
            let mut result = GateResult::new(
                "canary-score",
                Severity::Critical,
                report.gate_outcome(),
                report.reason.clone(),
            );
            result.threshold = Some(format!(
                "pass >= {}, marginal >= {}",
                canary_score.pass, canary_score.marginal
            ));
            result.statistics = serde_json::to_value(&report).ok();
            result
        }
        Err(error) => GateResult::new(
            "canary-score",
            Severity::Critical,
            GateOutcome::Error,
            format!("the canary score could not be computed: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests;
