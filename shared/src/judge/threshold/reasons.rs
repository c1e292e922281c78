//! The line a person reads for a threshold gate: what M of N found (with the
//! worst value, and the baseline's beside it), why a gate could not be judged
//! (no datapoints, too small a sample, on either side), and what a pass on
//! partial data is worth. Every sentence is made here; the steps only say
//! which.

use super::periods::{MOfN, Tally};
use super::Decided;
use crate::judge::GateOutcome;
use crate::policy::{BaselineRule, MetricQuery, ThresholdCheck};

/// The gate's outcome from its counted periods, and the reason: M of N, or
/// too few periods judged; a pass on a series CloudWatch marked
/// `PartialData` (`partial`) is only `Inconclusive`: a breach seen in
/// partial data is still a breach, an absence of one is not proof.
pub(super) fn decide<'q>(
    check: &ThresholdCheck,
    tally: &Tally,
    partial: impl Iterator<Item = &'q MetricQuery>,
) -> Decided {
    let Tally {
        judged,
        breaching,
        unknown,
        worst,
    } = *tally;
    let needed = check.datapoints_to_alarm;
    let Some(m_of_n) = tally.m_of_n(needed) else {
        return (
            GateOutcome::Inconclusive,
            format!("only {judged} periods with a value, {needed} needed to judge"),
        );
    };
    let op = check.comparison.symbol();
    let thr = threshold_in_reason(check);
    let worst = worst_text(check, worst);
    match m_of_n {
        MOfN::Breached => (
            GateOutcome::Fail,
            format!(
                "{breaching} of the last {judged} periods {op} {thr} (fails at {needed}); worst {worst}"
            ),
        ),
        MOfN::CouldBreach => (
            GateOutcome::Inconclusive,
            format!(
                "{breaching} of the last {judged} periods {op} {thr} and {unknown} without a value, which could make {needed}; worst {worst}"
            ),
        ),
        MOfN::Held => {
            let reason = format!(
                "{breaching} of the last {judged} periods {op} {thr} (fails at {needed}); worst {worst}"
            );
            let partial: Vec<String> = partial.map(ToString::to_string).collect();
            if partial.is_empty() {
                (GateOutcome::Pass, reason)
            } else {
                (
                    GateOutcome::Inconclusive,
                    format!(
                        "{reason}, but CloudWatch returned partial data for {}: a pass needs complete evidence",
                        partial.join(", ")
                    ),
                )
            }
        }
    }
}

/// The threshold as the reason names it, after the operator: the absolute
/// value as written, the bound relative to the baseline, or both.
fn threshold_in_reason(check: &ThresholdCheck) -> String {
    let op = check.comparison.symbol();
    let absolute = || check.threshold.format_value(check.threshold.value);
    match check.baseline.as_deref().map(|b| b.rule) {
        Some(BaselineRule::Relative(bound)) => bound.to_string(),
        Some(BaselineRule::PassIfNotWorseThan(bound)) => {
            format!("{} and {op} {bound}", absolute())
        }
        None => absolute(),
    }
}

/// The worst judged value in the threshold's unit, with the baseline's in
/// the same period for gates compared with one.
fn worst_text(check: &ThresholdCheck, worst: Option<(f64, Option<f64>)>) -> String {
    match worst {
        None => "none".to_string(),
        Some((value, None)) => check.threshold.format_value(value),
        Some((value, Some(base))) => format!(
            "{} (baseline {})",
            check.threshold.format_value(value),
            if base.is_nan() {
                "none".to_string()
            } else {
                check.threshold.format_value(base)
            }
        ),
    }
}

/// No datapoint at all for the gate's primary metric.
pub(super) fn no_datapoints(primary: &[MetricQuery]) -> String {
    let names: Vec<String> = primary
        .iter()
        .map(|q| format!("{} ({})", q.metric_name, q.stat))
        .collect();
    format!(
        "no datapoints at all for {} in the window: no traffic yet, or wrong dimensions",
        names.join(" + ")
    )
}

/// No datapoint at all for the baseline's primary metric.
pub(super) fn no_baseline_datapoints(primary: &[MetricQuery]) -> String {
    format!(
        "the baseline had no datapoint in the window ({}): nothing to compare the canary with",
        primary
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ")
    )
}

/// The gate's sample is under its minimum.
pub(super) fn sample_too_small(observed: f64, query: &MetricQuery, at_least: f64) -> String {
    format!(
        "sample too small to judge: {} {} in the window, at least {} needed",
        trim(observed),
        query.metric_name,
        trim(at_least)
    )
}

/// The baseline's sample is under its minimum.
pub(super) fn baseline_sample_too_small(
    observed: f64,
    query: &MetricQuery,
    at_least: f64,
) -> String {
    format!(
        "baseline sample too small to compare with: {} {} in the window, at least {} needed",
        trim(observed),
        query.metric_name,
        trim(at_least)
    )
}

/// A count as a whole number, anything else with two decimals.
fn trim(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
