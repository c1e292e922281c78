//! M of N: which periods are judged (the newest N, or under `missing_data:
//! ignore` the newest N with a value), which of them breach (the threshold,
//! or the bound the baseline's value in the same period gives), and what the
//! counts say. The judged and breaching periods are marked in the gate's
//! series as they are found.
//!
//! This is the per-period work of a judgement, for hundreds of day-long gates
//! (BENCHMARKS.md): counting runs over whole slices in passes the compiler
//! vectorises, the comparison chosen once outside the loop, and nothing is
//! allocated per period but the lists of the skipped and breaching periods,
//! made only when there are any.

use crate::judge::GateSeries;
use crate::policy::{BaselineRule, Comparison, MissingData, ThresholdCheck};
use std::borrow::Cow;

/// What the judged periods add up to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tally {
    /// Periods judged: the newest N, or under `ignore` the newest N with a value.
    pub(super) judged: usize,
    pub(super) breaching: usize,
    /// Judged periods without a value under `missing_data: inconclusive`.
    pub(super) unknown: usize,
    /// The worst value among the judged, with the baseline's in the same
    /// period for gates compared with one.
    pub(super) worst: Option<(f64, Option<f64>)>,
}

/// What M of N makes of a tally that judged at least M periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MOfN {
    /// M periods or more breached: `Fail`.
    Breached,
    /// Fewer breached, but the periods without a value could have made it M:
    /// `Inconclusive`.
    CouldBreach,
    /// The gate held: `Pass`.
    Held,
}

impl Tally {
    /// M of N with `needed` as M; `None` when fewer than M periods were
    /// judged, which proves nothing either way.
    pub(super) fn m_of_n(&self, needed: usize) -> Option<MOfN> {
        if self.judged < needed {
            None
        } else if self.breaching >= needed {
            Some(MOfN::Breached)
        } else if self.breaching + self.unknown >= needed {
            Some(MOfN::CouldBreach)
        } else {
            Some(MOfN::Held)
        }
    }
}

/// Judges the newest N periods of `series`, against the threshold or, with
/// `baseline` (its rule and values per period), against the baseline too,
/// marking them in the series (which keeps the baseline's values).
pub(super) fn judge_window(
    check: &ThresholdCheck,
    baseline: Option<(BaselineRule, Vec<f64>)>,
    series: &mut GateSeries,
) -> Tally {
    match baseline {
        None => judge_periods(check, series),
        Some((rule, base)) => {
            let tally = judge_periods_against(check, rule, &base, series);
            series.baseline = Some(base);
            tally
        }
    }
}

/// The first judged period: the newest N, or under `ignore` the newest N
/// with a value (the periods without one there are skipped).
fn first_judged(check: &ThresholdCheck, values: &[f64]) -> usize {
    let wanted = check.evaluation_periods;
    if wanted >= values.len() {
        // However many have a value, the newest N reach back to the first.
        0
    } else if check.missing_data == MissingData::Ignore {
        let mut remaining = wanted;
        let mut i = values.len();
        while remaining > 0 && i > 0 {
            i -= 1;
            remaining -= usize::from(!values[i].is_nan());
        }
        i
    } else {
        values.len().saturating_sub(wanted)
    }
}

/// Judges the newest N periods of `series` against the threshold and marks
/// them in it. The counting runs over the whole slice in one pass the
/// compiler can vectorise; the breaching periods are listed only when there
/// are any.
fn judge_periods(check: &ThresholdCheck, series: &mut GateSeries) -> Tally {
    let from = first_judged(check, &series.values);
    let tail = &series.values[from..];
    let threshold = check.threshold.value;
    // NaN breaches no comparison, so the periods without a value count here
    // only through `missing_data` below.
    let ValueCounts {
        with_value,
        breaches: value_breaches,
        worst: worst_with_value,
    } = count_values(
        check.comparison,
        tail,
        threshold,
        check.comparison.higher_is_worse(),
    );
    let missing = tail.len() - with_value;
    let missing_breach = check.missing_data == MissingData::Breaching;
    let (judged, breaching, unknown) = match check.missing_data {
        MissingData::Ignore => (with_value, value_breaches, 0),
        MissingData::Breaching => (tail.len(), value_breaches + missing, 0),
        MissingData::NotBreaching => (tail.len(), value_breaches, 0),
        MissingData::Inconclusive => (tail.len(), value_breaches, missing),
    };
    let worst = (with_value > 0).then_some((worst_with_value, None));
    let indexes = |keep: &dyn Fn(f64) -> bool| -> Vec<u32> {
        (from..)
            .zip(tail)
            .filter(|&(_, &v)| keep(v))
            .map(|(i, _)| i as u32)
            .collect()
    };
    let skipped = if check.missing_data == MissingData::Ignore && missing > 0 {
        indexes(&|v| v.is_nan())
    } else {
        Vec::new()
    };
    let breaching_periods = if breaching > 0 {
        indexes(&|v| {
            if v.is_nan() {
                missing_breach
            } else {
                check.comparison.breaches(v, threshold)
            }
        })
    } else {
        Vec::new()
    };
    series.judged_from = from;
    series.skipped = skipped;
    series.breaching = breaching_periods;
    Tally {
        judged,
        breaching,
        unknown,
        worst,
    }
}

/// [`judge_periods`] for a gate compared with its baseline period by period.
/// A relative bound needs both sides: a period without a baseline value has
/// no bound, and counts as missing. Under an absolute threshold that the
/// baseline may excuse, a period without a baseline value is judged by the
/// threshold alone: an excuse needs evidence.
fn judge_periods_against(
    check: &ThresholdCheck,
    rule: BaselineRule,
    base: &[f64],
    series: &mut GateSeries,
) -> Tally {
    let values: Cow<[f64]> = match rule {
        BaselineRule::Relative(_) => Cow::Owned(
            series
                .values
                .iter()
                .zip(base)
                .map(|(&v, &b)| if b.is_nan() { f64::NAN } else { v })
                .collect(),
        ),
        BaselineRule::PassIfNotWorseThan(_) => Cow::Borrowed(&series.values),
    };
    let from = first_judged(check, &values);
    let threshold = check.threshold.value;
    let (mut judged, mut unknown) = (0, 0);
    let (mut skipped, mut breaching) = (Vec::new(), Vec::new());
    let mut worst: Option<(usize, f64)> = None;
    for (i, &value) in values.iter().enumerate().skip(from) {
        let breach = if value.is_nan() {
            match check.missing_data {
                MissingData::Ignore => {
                    skipped.push(i as u32);
                    continue;
                }
                MissingData::Breaching => true,
                MissingData::NotBreaching => false,
                MissingData::Inconclusive => {
                    unknown += 1;
                    false
                }
            }
        } else {
            let b = base[i];
            let worse = match worst {
                None => true,
                Some((_, w)) if check.comparison.higher_is_worse() => value > w,
                Some((_, w)) => value < w,
            };
            if worse {
                worst = Some((i, value));
            }
            match rule {
                BaselineRule::Relative(bound) => bound.breached_by(check.comparison, value, b),
                BaselineRule::PassIfNotWorseThan(bound) => {
                    check.comparison.breaches(value, threshold)
                        && (b.is_nan() || bound.breached_by(check.comparison, value, b))
                }
            }
        };
        judged += 1;
        if breach {
            breaching.push(i as u32);
        }
    }
    let count = breaching.len();
    series.judged_from = from;
    series.skipped = skipped;
    series.breaching = breaching;
    Tally {
        judged,
        breaching: count,
        unknown,
        worst: worst.map(|(i, v)| (v, Some(base[i]))),
    }
}

/// What the counting passes over a gate's judged values find.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ValueCounts {
    /// Values that are numbers (not NaN).
    pub(super) with_value: usize,
    /// Values that breach the threshold (NaN breaches none).
    pub(super) breaches: usize,
    /// The largest value (the smallest, when lower is worse), NaN ignored;
    /// meaningless when `with_value` is 0.
    pub(super) worst: f64,
}

/// Counts the values present and the breaches of `threshold` in one pass,
/// with the comparison chosen once, outside the loop, and finds the worst
/// value in another: two integer sums vectorise together, a running extreme
/// does not vectorise with them (measured: one fused pass was slower than
/// two).
pub(super) fn count_values(
    comparison: Comparison,
    values: &[f64],
    threshold: f64,
    higher_is_worse: bool,
) -> ValueCounts {
    let count = |breaches: fn(f64, f64) -> bool| {
        values
            .iter()
            .fold((0_usize, 0_usize), |(present, breaching), &v| {
                (
                    present + usize::from(!v.is_nan()),
                    breaching + usize::from(breaches(v, threshold)),
                )
            })
    };
    let (with_value, breaches) = match comparison {
        Comparison::GreaterThan => count(|v, t| v > t),
        Comparison::GreaterThanOrEqual => count(|v, t| v >= t),
        Comparison::LessThan => count(|v, t| v < t),
        Comparison::LessThanOrEqual => count(|v, t| v <= t),
    };
    ValueCounts {
        with_value,
        breaches,
        worst: worst_value(values, higher_is_worse),
    }
}

/// The largest (or smallest) value, NaN ignored; at least one must be a
/// number. Eight running extremes keep the comparisons independent: each
/// lane's is a chain of dependent instructions, and four chains left the
/// processor waiting on them. (Which lane holds a value cannot change the
/// extreme, only, between 0 and -0, which zero is kept; both are written
/// `0`.)
fn worst_value(values: &[f64], higher_is_worse: bool) -> f64 {
    const LANES: usize = 8;
    let sign = if higher_is_worse { 1.0 } else { -1.0 };
    let mut best = [f64::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (best, &value) in best.iter_mut().zip(chunk) {
            // NaN compares false and leaves the extreme as it was.
            if value * sign > *best {
                *best = value * sign;
            }
        }
    }
    for &value in rest {
        if value * sign > best[0] {
            best[0] = value * sign;
        }
    }
    sign * best.into_iter().fold(f64::NEG_INFINITY, f64::max)
}
