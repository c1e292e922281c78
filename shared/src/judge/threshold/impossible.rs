//! Values no metric can take, and what the judge makes of them: the gate
//! that reads one is an `Error`, whatever its kind and whatever
//! `missing_data` says (an impossible value is not a missing one), with the
//! series, the period and the value in its reason.
//!
//! The rule, checked once, where a fetched series is aligned to a gate's
//! periods ([`super::align`]) and where a share is computed from its terms
//! ([`share_outside`]), so every gate reading the values gets it (static
//! thresholds, baselines period by period, the statistical tests, and
//! through them the canary score):
//!
//! - **Not finite** (NaN, ±infinity), in any series. CloudWatch stores
//!   neither (`PutMetricData` refuses them), so such a datapoint in an
//!   answer is a corrupt answer, never "no traffic": a period without a
//!   datapoint is simply absent from the answer. Read as missing, a NaN error
//!   count became zero errors (a counter's missing period is zero) and an
//!   infinite p95 was skipped under `missing_data: ignore`.
//! - **Negative**, in a series that counts (`kind: counter`, which `Sum`
//!   implies), in a `SampleCount`, and in any metric AWS publishes (an
//!   `AWS/` namespace): AWS's metrics are counts, sizes, durations, ages and
//!   utilisations, none below zero (a sentinel such as RDS's `ReplicaLag` of
//!   -1, "not replicating", must not read as a healthy lag either). A gauge
//!   of a team's own namespace may be negative (a clock offset, a balance),
//!   and so may a `Sum` declared `kind: gauge`: that is how a policy says a
//!   metric is signed.
//! - **A share outside [0, 1]**: a ratio the policy compares as a
//!   percentage (a threshold of `N%`, a `baseline + Npp` bound) or tests
//!   with `two_proportion` is the share of its denominator's events its
//!   numerator counts; more errors than requests in a period (an
//!   "error share" of 300 %, or errors with no request at all) is not a
//!   share. A ratio written as a plain number (bytes per request) may
//!   exceed 1.
//!
//! `-0` is zero and a subnormal is a (tiny) value: neither is impossible.

use super::signal::sum_columns;
use super::Early;
use crate::judge::{GateOutcome, ImpossibleValue, ThresholdFigures};
use crate::policy::{
    BaselineCheck, BaselineRule, BaselineTest, MetricQuery, RelativeBound, SeriesKind, Signal,
    Threshold, ThresholdCheck, ThresholdUnit,
};
use crate::vocab::{stamp, Side};
use std::borrow::Cow;

/// What values a series can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Range {
    /// Any finite value: a gauge of a team's own namespace.
    Finite,
    /// Finite and not below zero: counts, and every metric AWS publishes.
    NonNegative,
}

impl Range {
    /// The values `query`'s series can hold (see the module's documentation).
    pub(super) fn of(query: &MetricQuery) -> Range {
        if query.kind == SeriesKind::Counter
            || query.stat == "SampleCount"
            || query.namespace.starts_with("AWS/")
        {
            Range::NonNegative
        } else {
            Range::Finite
        }
    }

    /// Whether `value` is one the series can hold.
    pub(super) fn admits(self, value: f64) -> bool {
        // `value < 0.0` is false for -0 (zero) and for NaN (not finite anyway).
        value.is_finite() && !(self == Range::NonNegative && value < 0.0)
    }
}

/// A datapoint no series of its kind can hold: when and what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Impossible {
    /// The period's start, epoch seconds.
    pub(crate) timestamp: i64,
    /// The value as the answer held it.
    pub(crate) value: f64,
}

/// The earliest datapoint of `points` within the `periods` periods of
/// `period` seconds from `start` that `range` does not admit. A slow pass,
/// made only once the alignment's own counts found one.
pub(super) fn first_in(
    points: &[(i64, f64)],
    range: Range,
    start: i64,
    period: i64,
    periods: usize,
) -> Option<Impossible> {
    let end = i64::try_from(periods)
        .ok()
        .and_then(|n| n.checked_mul(period))
        .and_then(|span| span.checked_add(start))
        .unwrap_or(i64::MAX);
    points
        .iter()
        .filter(|&&(t, v)| t >= start && t < end && !range.admits(v))
        .min_by_key(|&&(t, _)| t)
        .map(|&(t, v)| Impossible {
            timestamp: t - (t - start).rem_euclid(period),
            value: v,
        })
}

/// The gate's verdict on an impossible datapoint of `query`'s series on `side`.
pub(super) fn datapoint(side: Side, query: &MetricQuery, found: Impossible) -> String {
    let whose = match side {
        Side::Canary => "",
        Side::Baseline => "the baseline's ",
    };
    let Impossible { timestamp, value } = found;
    let why = if !value.is_finite() {
        "CloudWatch stores no NaN or infinity, so the answer is corrupt"
    } else if query.namespace.starts_with("AWS/") {
        "no metric AWS publishes is negative"
    } else if query.stat == "SampleCount" {
        "a count of samples is never negative"
    } else {
        "a counter is never negative (a signed metric is declared `kind: gauge`)"
    };
    format!(
        "{whose}{query} holds {} for the period at {}: {why}; the period is an error and the gate cannot pass on it",
        text(value),
        stamp(timestamp)
    )
}

/// A value as the reason writes it: `NaN`, `inf`, `-inf`, or the number in
/// full (never rounded to something plausible).
pub(super) fn text(value: f64) -> String {
    format!("{value:?}")
}

/// Whether `signal`, judged by `check` (and its `baseline`), is a share:
/// a ratio compared as a percentage or tested as a proportion.
pub(super) fn is_share(check: &ThresholdCheck, baseline: Option<&BaselineCheck>) -> bool {
    if !matches!(check.signal, Signal::Ratio { .. }) {
        return false;
    }
    let percent = check.threshold.unit == ThresholdUnit::Percent
        && !matches!(
            baseline.map(|b| b.rule),
            Some(BaselineRule::Relative(RelativeBound::Factor(_)))
        );
    let points = matches!(
        baseline.map(|b| b.rule.bound()),
        Some(RelativeBound::Offset {
            percentage_points: true,
            ..
        })
    );
    let proportion = matches!(
        baseline.map(|b| b.test),
        Some(BaselineTest::TwoProportion { .. })
    );
    percent || points || proportion
}

/// The first period whose share is outside [0, 1], or whose numerator
/// counted more while the share has no value (x/0, or a ratio too large for
/// a float): the period's index and the share (infinite for the latter). `values` is the share per
/// period (NaN where it has none); `sums` gives its numerator's and its
/// denominator's sums per period, asked for only when some period has no share.
pub(super) fn share_outside<'a>(
    values: &[f64],
    sums: impl FnOnce() -> (Cow<'a, [f64]>, Cow<'a, [f64]>),
) -> Option<(usize, f64)> {
    // One pass of comparisons the compiler vectorises: nothing more is done
    // for the usual window, every share within [0, 1].
    let (outside, without) = values
        .iter()
        .fold((false, false), |(o, w), &v| (o | beyond(v), w | v.is_nan()));
    if !outside && !without {
        return None;
    }
    let (above, below) = if without {
        sums()
    } else {
        (Cow::Borrowed(&[][..]), Cow::Borrowed(&[][..]))
    };
    // A share without a value: 0/0 is none, but more counted than there was
    // to count (x/0, or a share past the largest float) is impossible.
    let uncounted = |i: usize| match (above.get(i), below.get(i)) {
        (Some(&n), Some(&d)) => n > d,
        _ => false,
    };
    values.iter().enumerate().find_map(|(i, &v)| {
        if beyond(v) {
            Some((i, v))
        } else if v.is_nan() && uncounted(i) {
            Some((i, f64::INFINITY))
        } else {
            None
        }
    })
}

/// Whether a share is outside [0, 1]. Not `!(0.0..=1.0).contains(..)`,
/// which is true for NaN: a period without a share is not outside.
#[allow(clippy::manual_range_contains)]
fn beyond(share: f64) -> bool {
    (share > 1.0) | (share < 0.0)
}

/// The gate's verdict on a share outside [0, 1] (`share`, infinite where the
/// ratio has no value) in the period at `timestamp`.
pub(super) fn share(side: Side, signal: &Signal, timestamp: i64, share: f64) -> String {
    let whose = match side {
        Side::Canary => "the",
        Side::Baseline => "the baseline's",
    };
    let (numerator, denominator) = match signal {
        Signal::Ratio {
            numerator,
            denominator,
        } => (names(numerator), names(denominator)),
        Signal::Metric(query) => (query.to_string(), String::new()),
    };
    let value = if share.is_finite() {
        let text = Threshold {
            value: share,
            unit: ThresholdUnit::Percent,
        }
        .format_value(share);
        if text == "100%" || text == "0%" || text == "-0%" {
            // Rounded onto the edge: say how far past it the share really is.
            format!("{text} ({share})")
        } else {
            text
        }
    } else {
        "infinite (more counted than there was to count)".to_string()
    };
    format!(
        "{whose} share {numerator} / {denominator} is {value} in the period at {}: a share lies between 0 and 100%, so these counts are impossible; the period is an error and the gate cannot pass on it",
        stamp(timestamp)
    )
}

fn names(queries: &[MetricQuery]) -> String {
    queries
        .iter()
        .map(|q| format!("{} {}", q.metric_name, q.stat))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// `Error` when `values`, the share `signal` gives per period from `start`
/// (`period` seconds apart; `column` finds a query's values), has a period
/// outside [0, 1], which is recorded in `figures`.
pub(super) fn require_share<'a>(
    side: Side,
    signal: &Signal,
    values: &[f64],
    (start, period): (i64, i64),
    column: impl Fn(&MetricQuery) -> &'a [f64],
    figures: &mut ThresholdFigures,
) -> Early<()> {
    let Signal::Ratio {
        numerator,
        denominator,
    } = signal
    else {
        return Ok(());
    };
    let sums = || {
        (
            sum_columns(numerator.iter().map(&column)),
            sum_columns(denominator.iter().map(&column)),
        )
    };
    let Some((i, value)) = share_outside(values, sums) else {
        return Ok(());
    };
    let timestamp = start + i as i64 * period;
    figures.impossible = Some(ImpossibleValue {
        side,
        series: format!("{} / {}", names(numerator), names(denominator)),
        timestamp,
        value,
    });
    Err((GateOutcome::Error, share(side, signal, timestamp, value)))
}
