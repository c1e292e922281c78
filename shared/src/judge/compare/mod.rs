//! Baseline gates judged by a statistical test over the window instead of
//! period by period: the two-proportion test for error counts, Mann-Whitney U
//! for per-period values. The statistics themselves live in [`super::statistics`];
//! this file only turns a gate's aligned evidence into their inputs and their
//! answer into a gate result. Threshold gates hand their baseline gates here
//! (`threshold` uses this module, never the other way round): the types of
//! the hand-over ([`Aligned`], [`Sides`]) are this module's.
//!
//! One decision is made here rather than in the statistics: a rank-tested
//! gate with a `critical_threshold` whose shift is beyond its threshold but
//! within the critical one passes as a gate (it does not block), while its
//! `High` or `Low` still counts against the hook's canary score, which
//! validation requires such a gate's hook to have.

use super::statistics::{
    compare_proportions, compare_samples, Classification, Direction, EffectSize, EffectTolerance,
    MetricEvidence, NanStrategy, Proportion, ProportionOptions, RankTestOptions, Side, Tolerance,
};
use super::{GateOutcome, TestFigures};
use crate::policy::{
    BaselineCheck, BaselineRule, BaselineTest, Comparison, MetricQuery, RelativeBound, Signal,
    ThresholdCheck,
};
use std::collections::BTreeMap;

/// The fewest trials per side a proportion test judges when the gate sets no `min_sample`.
const DEFAULT_MIN_TRIALS: u64 = 100;
/// The fewest periods with a value per side a rank test judges.
const MIN_RANK_VALUES: usize = 5;

/// One query's values on the window's grid, as the statistical tests take
/// them: `None` where there is no value.
pub(super) struct Aligned {
    pub(super) values: Vec<Option<f64>>,
}

/// One side's aligned queries and signal values.
pub(super) type SideEvidence<'a, 'q> = (&'a BTreeMap<&'q MetricQuery, Aligned>, &'a [Option<f64>]);

/// Both sides of a comparison.
pub(super) struct Sides<'a, 'q> {
    pub(super) canary: SideEvidence<'a, 'q>,
    pub(super) baseline: SideEvidence<'a, 'q>,
}

/// Judges `check` against its baseline with the test it names, recording
/// the test's figures in `test` when it answers.
pub(super) fn judge(
    check: &ThresholdCheck,
    baseline: &BaselineCheck,
    sides: Sides<'_, '_>,
    test: &mut Option<Box<TestFigures>>,
) -> (GateOutcome, String) {
    let bound = match baseline.rule {
        BaselineRule::Relative(bound) => bound,
        // Validation refuses a test without a relative threshold.
        BaselineRule::PassIfNotWorseThan(_) => {
            return (
                GateOutcome::Error,
                "a statistical test needs a threshold relative to the baseline".into(),
            )
        }
    };
    match baseline.test {
        BaselineTest::PerPeriod => (
            GateOutcome::Error,
            "a per-period comparison is not a statistical test".into(),
        ),
        BaselineTest::TwoProportion { alpha } => {
            two_proportion(check, baseline, bound, alpha, sides, test)
        }
        BaselineTest::MannWhitney {
            alpha,
            either,
            nan_strategy,
            effect_size,
            critical_factor,
        } => rank_sum(
            RankGate {
                comparison: check.comparison,
                either,
                nan_strategy,
                effect_size,
                critical_factor,
                bound,
                alpha,
                weight: baseline.weight,
            },
            sides,
            test,
        ),
    }
}

fn two_proportion(
    check: &ThresholdCheck,
    baseline: &BaselineCheck,
    bound: RelativeBound,
    alpha: f64,
    sides: Sides<'_, '_>,
    test: &mut Option<Box<TestFigures>>,
) -> (GateOutcome, String) {
    let totals = |signal: &Signal, aligned: &BTreeMap<&MetricQuery, Aligned>| {
        let sum = |queries: &[MetricQuery]| -> f64 {
            queries
                .iter()
                .flat_map(|q| aligned[q].values.iter())
                .map(|v| v.unwrap_or(0.0))
                .sum()
        };
        match signal {
            Signal::Ratio {
                numerator,
                denominator,
            } => Some((sum(numerator), sum(denominator))),
            Signal::Metric(_) => None,
        }
    };
    let (Some((canary_events, canary_trials)), Some((base_events, base_trials))) = (
        totals(&check.signal, sides.canary.0),
        totals(&baseline.signal, sides.baseline.0),
    ) else {
        return (
            GateOutcome::Error,
            "a two-proportion test needs a ratio".into(),
        );
    };
    let proportions =
        Proportion::from_sums(canary_events, canary_trials, Side::Canary).and_then(|canary| {
            Proportion::from_sums(base_events, base_trials, Side::Baseline)
                .map(|baseline| (canary, baseline))
        });
    let (canary, base) = match proportions {
        Ok(pair) => pair,
        Err(error) => return (GateOutcome::Error, format!("unusable counts: {error}")),
    };
    let options = ProportionOptions {
        alpha,
        tolerance: match bound {
            RelativeBound::Factor(f) => Tolerance::Relative(f),
            RelativeBound::Offset { value, .. } => Tolerance::Absolute(value),
        },
        min_trials: check
            .min_sample
            .as_ref()
            .map(|m| m.at_least.ceil() as u64)
            .unwrap_or(DEFAULT_MIN_TRIALS),
        ..ProportionOptions::default()
    };
    match compare_proportions(canary, base, &options) {
        Ok(comparison) => {
            let answer = (comparison.outcome.gate_outcome(), comparison.reason.clone());
            *test = Some(Box::new(TestFigures {
                weight: baseline.weight,
                evidence: MetricEvidence::Proportion(comparison),
            }));
            answer
        }
        Err(error) => (GateOutcome::Error, format!("two-proportion test: {error}")),
    }
}

/// A rank-tested gate's settings.
struct RankGate {
    comparison: Comparison,
    either: bool,
    nan_strategy: NanStrategy,
    effect_size: EffectSize,
    critical_factor: Option<f64>,
    bound: RelativeBound,
    alpha: f64,
    weight: f64,
}

fn rank_sum(
    gate: RankGate,
    sides: Sides<'_, '_>,
    test: &mut Option<Box<TestFigures>>,
) -> (GateOutcome, String) {
    let RankGate {
        comparison,
        either,
        nan_strategy,
        effect_size,
        critical_factor,
        bound,
        alpha,
        weight,
    } = gate;
    // A period without a value reaches the test as NaN, so the library's NaN
    // strategy (and its counts of what it removed or replaced) decides.
    let per_period = |values: &[Option<f64>]| -> Vec<f64> {
        values.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    };
    let factor = match bound {
        RelativeBound::Factor(f) => f,
        RelativeBound::Offset { .. } => 1.0,
    };
    let direction = if either {
        Direction::Either
    } else if comparison.higher_is_worse() {
        Direction::Increase
    } else {
        Direction::Decrease
    };
    // A factor f tolerates f x the baseline upwards and 1/f x downwards, in
    // the directions of concern only.
    let tolerance = |f: f64| match direction {
        Direction::Either => EffectTolerance {
            allowed_increase: f,
            allowed_decrease: 1.0 / f,
        },
        Direction::Increase => EffectTolerance {
            allowed_increase: f,
            ..EffectTolerance::default()
        },
        Direction::Decrease => EffectTolerance {
            allowed_decrease: 1.0 / f,
            ..EffectTolerance::default()
        },
    };
    let options = RankTestOptions {
        alpha,
        direction,
        nan_strategy,
        min_values: MIN_RANK_VALUES,
        effect_size,
        effect: tolerance(factor),
        critical: critical_factor.map(tolerance),
        ..RankTestOptions::default()
    };
    match compare_samples(
        &per_period(sides.canary.1),
        &per_period(sides.baseline.1),
        &options,
    ) {
        Ok(ranked) => {
            let outcome = match ranked.classification {
                Classification::Pass => GateOutcome::Pass,
                // Within its critical threshold a shift only counts against
                // the hook's canary score (validation requires one): the
                // gate itself does not block on it.
                Classification::High | Classification::Low
                    if ranked.critical_breach == Some(false) =>
                {
                    GateOutcome::Pass
                }
                Classification::High | Classification::Low => GateOutcome::Fail,
                Classification::NoData => GateOutcome::Inconclusive,
            };
            let answer = (outcome, ranked.reason.clone());
            *test = Some(Box::new(TestFigures {
                weight,
                evidence: MetricEvidence::Rank(ranked),
            }));
            answer
        }
        Err(error) => (GateOutcome::Error, format!("Mann-Whitney test: {error}")),
    }
}

#[cfg(test)]
mod tests;
