//! The figures behind a gate's outcome, as Rust types: what the gate was held
//! to (its threshold and rule) and what the judge measured (the periods, the
//! sample, a statistical test's or the canary score's figures, a probe's
//! attempts). One variant of [`GateFigures`] per kind of check, so a gate
//! carries only the figures its kind has.
//!
//! Nothing here is text: a threshold is a comparison, a value and its unit,
//! not `"> 1%"`. Writing the figures for people and for the decision record
//! is the report's (`crate::report::threshold_text`, `rule_text`, and the
//! record's JSON of a gate) and the CLI's; the judge writes only the reason.

use super::statistics::{MetricEvidence, ProportionComparison, RankComparison, ScoreReport};
use super::GateSeries;
use crate::evidence::SeriesStatus;
use crate::policy::{BaselineRule, BaselineSource, Comparison, Threshold, ThresholdUnit};
use crate::vocab::{Side, TimeRange};
use serde::Serialize;
use std::sync::Arc;

/// What a gate was held to and what was found, by kind of check.
// The threshold variant is the large one and the common one: boxing it would
// cost an allocation per gate on the judge's hot path (BENCHMARKS.md).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Default)]
pub enum GateFigures {
    /// None beyond the outcome and the reason: alarm gates, preflight
    /// checks, and a canary score that could not be computed.
    #[default]
    None,
    /// A threshold gate, judged period by period or by a statistical test
    /// against its baseline. Not boxed: hundreds of threshold gates are
    /// judged per hook, and a box would be an allocation per gate.
    Threshold(ThresholdFigures),
    /// A probe gate.
    Probe(ProbeGateFigures),
    /// The hook's canary score over its statistically tested gates.
    CanaryScore(Box<ScoreFigures>),
    /// A feature-flag gate (boxed: few gates are).
    Flag(Box<super::flags::FlagFigures>),
}

/// A threshold gate's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdFigures {
    /// What a period breaches.
    pub threshold: ThresholdFigure,
    /// M of N.
    pub rule: Rule,
    /// The judged window.
    pub window: TimeRange,
    /// Breaching periods among the judged, once they were counted.
    pub breaching: Option<usize>,
    /// Every period of the window, once the gate's series were aligned. The
    /// record may leave it out to fit a log event: see
    /// [`crate::report::DecisionRecord::fit_log_event`].
    pub series: Option<GateSeries>,
    /// The minimum-sample check, when the gate has one and got that far.
    pub sample: Option<SampleFigures>,
    /// Per fetched series.
    pub completeness: Vec<SeriesCompleteness>,
    /// A statistical test's figures, for gates judged by one (boxed: few
    /// gates are).
    pub test: Option<Box<TestFigures>>,
    /// A value no metric can take, found in the gate's evidence: the gate is
    /// an error, and the canary score cannot pass over it.
    pub impossible: Option<ImpossibleValue>,
}

impl ThresholdFigures {
    /// The figures of a gate held to `threshold` by `rule` over `window`,
    /// before anything was measured.
    pub fn new(threshold: ThresholdFigure, rule: Rule, window: TimeRange) -> Self {
        ThresholdFigures {
            threshold,
            rule,
            window,
            breaching: None,
            series: None,
            sample: None,
            completeness: Vec::new(),
            test: None,
            impossible: None,
        }
    }
}

/// What a threshold gate's period breaches: `comparison` with the absolute
/// `limit`, or with a bound its baseline gives, or both (`pass_if_not_worse_than`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdFigure {
    /// The breach direction.
    pub comparison: Comparison,
    /// The absolute threshold, as written (its value in the signal's unit, a
    /// percentage as a fraction). Not what decides under a relative rule.
    pub limit: Threshold,
    /// The baseline, for gates compared with one.
    pub baseline: Option<BaselineFigure>,
}

impl ThresholdFigure {
    /// The absolute threshold the gate is held to, when it has one: not for
    /// a bound relative to the baseline alone.
    pub fn absolute(&self) -> Option<Threshold> {
        match self.baseline.as_ref().map(|b| b.rule) {
            Some(BaselineRule::Relative(_)) => None,
            _ => Some(self.limit),
        }
    }

    /// Whether the threshold is a percentage on its own, with no baseline.
    pub fn plain_percent(&self) -> bool {
        self.baseline.is_none() && self.limit.unit == ThresholdUnit::Percent
    }

    /// The value a period breaches past, given the baseline's value in that
    /// period: the absolute threshold; the bound the baseline gives under a
    /// relative rule (none without a baseline value: such a period has no
    /// bound, as the judge counts it); under `pass_if_not_worse_than`, the
    /// laxer of the two (a breach must pass both), or the threshold alone
    /// without a baseline value. What a chart draws as the line to stay under.
    pub fn bound_at(&self, baseline: Option<f64>) -> Option<f64> {
        let limit = self.limit.value;
        let laxer = |a: f64, b: f64| {
            if self.comparison.higher_is_worse() {
                a.max(b)
            } else {
                a.min(b)
            }
        };
        match (self.baseline.as_ref().map(|b| b.rule), baseline) {
            (None, _) | (Some(BaselineRule::PassIfNotWorseThan(_)), None) => Some(limit),
            (Some(BaselineRule::Relative(bound)), base) => base.map(|b| bound.apply(b)),
            (Some(BaselineRule::PassIfNotWorseThan(bound)), Some(b)) => {
                Some(laxer(limit, bound.apply(b)))
            }
        }
    }
}

/// A threshold gate's baseline: the rule comparing the two sides and where
/// the baseline's values come from.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineFigure {
    /// Relative to the baseline, or absolute unless not worse than it.
    pub rule: BaselineRule,
    /// Live, history, or the window before the deployment (as placed).
    pub source: BaselineSource,
}

/// M of N: the gate fails when `datapoints_to_alarm` of the newest
/// `evaluation_periods` periods of `period_secs` breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// M.
    pub datapoints_to_alarm: usize,
    /// N.
    pub evaluation_periods: usize,
    /// Seconds per period.
    pub period_secs: i64,
}

/// A statistically tested gate's figures: the test's answer, and the gate's
/// weight in the hook's canary score.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFigures {
    /// The gate's weight in the canary score.
    pub weight: f64,
    /// The comparison, as the test returned it.
    pub evidence: MetricEvidence,
}

/// A value no series of its kind can hold (not finite; negative where the
/// series counts or AWS publishes it; a share outside [0, 1]), the first one
/// a gate met: its reason says the same in words.
#[derive(Debug, Clone)]
pub struct ImpossibleValue {
    /// Whose evidence held it: the canary's, or the baseline's.
    pub side: Side,
    /// The query as a person reads it, or for a share its ratio.
    pub series: String,
    /// The period's start, epoch seconds.
    pub timestamp: i64,
    /// The value as the evidence held it (a share as a fraction; infinite for
    /// a count with nothing to count it of).
    pub value: f64,
}

/// NaN-aware, as [`GateSeries`] is: the same evidence judged twice must
/// compare equal, and the value may well be NaN.
impl PartialEq for ImpossibleValue {
    fn eq(&self, other: &Self) -> bool {
        self.side == other.side
            && self.series == other.series
            && self.timestamp == other.timestamp
            && (self.value == other.value || (self.value.is_nan() && other.value.is_nan()))
    }
}

/// A probe gate's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeGateFigures {
    /// The latency every attempt must stay under, when the policy sets one.
    pub max_latency_ms: Option<u64>,
    /// The share of attempts that must meet every expectation.
    pub min_success: f64,
    /// Attempts asked for.
    pub repeat: u32,
    /// Attempts that failed, when attempts were made.
    pub failed: Option<usize>,
    /// Each attempt's figures (bounded), when attempts were made.
    pub attempts: Option<ProbeFigures>,
}

/// A probe gate's attempts, for the record (listed by [`super::probes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeFigures {
    /// Attempts made.
    pub attempts: usize,
    /// Attempts that met every expectation.
    pub met: usize,
    /// Up to [`MAX_RECORDED_ATTEMPTS`](super::probes::MAX_RECORDED_ATTEMPTS)
    /// attempts in index order: every failed one that fits, then the earliest
    /// good ones (chosen by the probe judge).
    pub listed: Vec<AttemptFigures>,
    /// Attempts made but not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_listed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One attempt's figures. The body itself is never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptFigures {
    /// 1-based, in the order attempts were started.
    pub index: u32,
    /// Whether it met every expectation.
    pub met: bool,
    /// The final answer's status, when one arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Sending the request to the end of the (bounded) body, or to the failure.
    pub latency_ms: u64,
    /// Body bytes read.
    pub bytes: usize,
    /// Why there is no complete answer (transport error, timeout, refused redirect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The canary score's thresholds and report.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreFigures {
    /// At or above: pass.
    pub pass: f64,
    /// At or above (and under `pass`): marginal.
    pub marginal: f64,
    /// The scored analysis.
    pub report: ScoreReport,
}

/// A statistical comparison's figures, whichever it was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistics<'a> {
    /// The two-proportion test of a ratio's counts.
    TwoProportion(&'a ProportionComparison),
    /// The Mann-Whitney U test of per-period values.
    MannWhitney(&'a RankComparison),
    /// The hook's canary score.
    CanaryScore(&'a ScoreReport),
}

/// A shared string, written as the string it is.
fn shared_str<S: serde::Serializer>(value: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{RelativeBound, ThresholdUnit};

    fn figure(rule: Option<BaselineRule>) -> ThresholdFigure {
        ThresholdFigure {
            comparison: Comparison::GreaterThan,
            limit: Threshold {
                value: 1.0,
                unit: ThresholdUnit::Plain,
            },
            baseline: rule.map(|rule| BaselineFigure {
                rule,
                source: BaselineSource::Live,
            }),
        }
    }

    #[test]
    fn the_bound_is_the_threshold_or_what_the_baseline_gives() {
        assert_eq!(figure(None).bound_at(Some(5.0)), Some(1.0));
        let relative = figure(Some(BaselineRule::Relative(RelativeBound::Factor(1.5))));
        assert_eq!(relative.bound_at(Some(0.4)), Some(0.6000000000000001));
        assert_eq!(relative.bound_at(None), None, "no baseline, no bound");
        let excused = figure(Some(BaselineRule::PassIfNotWorseThan(
            RelativeBound::Factor(2.0),
        )));
        assert_eq!(excused.bound_at(Some(0.8)), Some(1.6), "the laxer of both");
        assert_eq!(excused.bound_at(Some(0.2)), Some(1.0));
        assert_eq!(excused.bound_at(None), Some(1.0));
    }
}
