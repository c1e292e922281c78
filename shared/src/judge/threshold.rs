//! Threshold gates: a signal per period, compared with a threshold, M of N.
//!
//! The order of the checks is the order of what evidence can be trusted:
//! 1. collection errors and per-series failures make the gate `Error`;
//! 2. datapoints are aligned to the window's periods; a counter's missing period
//!    is zero (CloudWatch omits zero counts), a gauge's is unknown; NaN is unknown;
//! 3. no datapoint at all for the primary metric is `Inconclusive`, never a pass
//!    ("all values under X" is vacuously true for no values);
//! 4. a sample below the minimum is `Inconclusive`;
//! 5. M of the newest N periods breaching is `Fail`; if the unknown periods could
//!    have made it M, `Inconclusive`; otherwise `Pass`;
//! 6. a pass on a series CloudWatch marked `PartialData` is only `Inconclusive`:
//!    a breach seen in partial data is still a breach, an absence of one is not proof.

//!
//! Judging must stay cheap for hundreds of day-long gates (500 series of 1440
//! periods in at most 2 ms: BENCHMARKS.md), so the per-period work runs on
//! plain `f64` columns, NaN standing for "no value" (NaN propagates through a
//! sum or a ratio the way a missing term does); each fetched series is aligned
//! once per judgement however many gates read it ([`Columns`]); and each
//! [`Observation`] is written once, by the pass that judges its period.

use super::{GateOutcome, GateResult, Observation, SampleFigures, SeriesCompleteness};
use crate::evidence::{Evidence, MetricData, RawSeries, SeriesStatus};
use crate::policy::{
    Comparison, Gate, MetricQuery, MissingData, SeriesKind, Signal, ThresholdCheck,
};
use crate::window::{gate_window, TimeRange};
use std::borrow::Cow;
use std::collections::HashMap;

/// Judges one threshold gate against the hook's evidence.
pub fn judge(
    gate: &Gate,
    check: &ThresholdCheck,
    ingestion_lag_secs: i64,
    evidence: &Evidence,
) -> GateResult {
    judge_with(
        gate,
        check,
        ingestion_lag_secs,
        evidence,
        &mut Columns::default(),
    )
}

/// [`judge`], reusing the series `columns` already aligned for other gates of
/// the same judgement.
pub(crate) fn judge_with<'e>(
    gate: &Gate,
    check: &ThresholdCheck,
    ingestion_lag_secs: i64,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
) -> GateResult {
    let range = gate_window(check, evidence.now, ingestion_lag_secs);
    let mut result = GateResult::new(&gate.name, gate.severity, GateOutcome::Error, String::new());
    result.threshold = Some(format!(
        "{} {}",
        check.comparison.symbol(),
        check.threshold.format_value(check.threshold.value)
    ));
    result.threshold_value = Some(check.threshold.value);
    result.window = Some(range);
    result.rule = Some(format!(
        "{} of the last {} periods of {}s",
        check.datapoints_to_alarm, check.evaluation_periods, check.period_secs
    ));
    let (outcome, reason) = match &evidence.metrics {
        None => (
            GateOutcome::Error,
            "no metric evidence was collected for this gate".to_string(),
        ),
        Some(Err(error)) => (GateOutcome::Error, format!("evidence unavailable: {error}")),
        Some(Ok(data)) => evaluate(check, range, data, columns, &mut result),
    };
    result.outcome = outcome;
    result.reason = reason;
    result
}

/// Fetched series aligned to gate windows, shared by the gates of one
/// judgement: `Errors / Requests` with a minimum sample on `Requests` aligns
/// `Requests` once, and so does every other gate over the same window.
#[derive(Default)]
pub(crate) struct Columns<'e> {
    /// Index into `aligned` by series (its address in the evidence, which
    /// outlives `'e`), window start, period and number of periods.
    index: HashMap<(*const RawSeries, i64, i64, usize), usize>,
    aligned: Vec<Aligned>,
    /// Each series' query as a person reads it, by series: written once,
    /// copied into every gate's record that names it.
    names: HashMap<*const RawSeries, String>,
    evidence: std::marker::PhantomData<&'e MetricData>,
}

impl<'e> Columns<'e> {
    /// The slot of `series` aligned to `periods` periods from `start`. `kind`
    /// is the kind of the query that found `series`; every query that finds
    /// the same series is equal to it, kind included.
    fn align(
        &mut self,
        series: &'e RawSeries,
        kind: SeriesKind,
        start: i64,
        period: i64,
        periods: usize,
    ) -> usize {
        let key = (std::ptr::from_ref(series), start, period, periods);
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        self.aligned
            .push(align(series, kind, start, period, periods));
        let slot = self.aligned.len() - 1;
        self.index.insert(key, slot);
        slot
    }

    /// `query`, which found `series`, as a person reads it.
    fn name(&mut self, series: &'e RawSeries, query: &MetricQuery) -> String {
        self.names
            .entry(std::ptr::from_ref(series))
            .or_insert_with(|| query.to_string())
            .clone()
    }
}

fn evaluate<'e>(
    check: &ThresholdCheck,
    range: TimeRange,
    data: &'e MetricData,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> (GateOutcome, String) {
    let period = check.period_secs.max(1);
    let periods = period_count(range, period);
    // Each query of the gate with its aligned slot, in `check.queries()` order.
    let mut slots: Vec<(&MetricQuery, usize, String)> = Vec::with_capacity(4);
    result.completeness.reserve_exact(check.queries().count());
    let mut partial: Vec<&MetricQuery> = Vec::new();
    for query in check.queries() {
        let Some(series) = data.get(query) else {
            return (
                GateOutcome::Error,
                format!("the evidence has no series for {query}"),
            );
        };
        match &series.status {
            SeriesStatus::Failed(message) => {
                return (
                    GateOutcome::Error,
                    format!("CloudWatch could not return {query}: {message}"),
                );
            }
            SeriesStatus::PartialData => partial.push(query),
            SeriesStatus::Complete => {}
        }
        let slot = columns.align(series, query.kind, range.start, period, periods);
        let name = columns.name(series, query);
        result.completeness.push(SeriesCompleteness {
            query: name.clone(),
            expected: periods,
            present: columns.aligned[slot].present,
            status: series.status.clone(),
        });
        slots.push((query, slot, name));
    }
    let columns: &Columns<'e> = columns;
    // The queries asked for below all belong to `check`, so they are found by
    // address; equality is the fallback.
    let find = |query: &MetricQuery| {
        slots
            .iter()
            .find(|(q, ..)| std::ptr::eq(*q, query))
            .or_else(|| slots.iter().find(|(q, ..)| *q == query))
            .expect("every query of the gate was aligned above")
    };
    let aligned = |query: &MetricQuery| -> &Aligned { &columns.aligned[find(query).1] };
    let values = signal_values(&check.signal, |q| &aligned(q).values);

    let primary = check.signal.primary_queries();
    if primary.iter().all(|q| aligned(q).present == 0) {
        result.no_evidence = true;
        result.observations = unjudged(&values, range.start, period);
        let names: Vec<String> = primary
            .iter()
            .map(|q| format!("{} ({})", q.metric_name, q.stat))
            .collect();
        return (
            GateOutcome::Inconclusive,
            format!(
                "no datapoints at all for {} in the window: no traffic yet, or wrong dimensions",
                names.join(" + ")
            ),
        );
    }
    if let Some(min) = &check.min_sample {
        let observed = sum_present(&aligned(&min.query).values);
        result.sample = Some(SampleFigures {
            query: find(&min.query).2.clone(),
            observed,
            required: min.at_least,
        });
        if observed < min.at_least {
            result.observations = unjudged(&values, range.start, period);
            return (
                GateOutcome::Inconclusive,
                format!(
                    "sample too small to judge: {} {} in the window, at least {} needed",
                    trim(observed),
                    min.query.metric_name,
                    trim(min.at_least)
                ),
            );
        }
    }

    let (observations, tally) = judge_periods(check, &values, range.start, period);
    result.observations = observations;
    result.breaching = Some(tally.breaching);
    let Tally {
        judged,
        breaching,
        unknown,
        worst,
    } = tally;
    let needed = check.datapoints_to_alarm;
    // `> 1%`, formatted once by `judge_with`.
    let op_thr = result.threshold.clone().unwrap_or_default();
    let worst = worst
        .map(|v| check.threshold.format_value(v))
        .unwrap_or_else(|| "none".into());

    if judged < needed {
        return (
            GateOutcome::Inconclusive,
            format!("only {judged} periods with a value, {needed} needed to judge"),
        );
    }
    let (outcome, reason) = if breaching >= needed {
        (
            GateOutcome::Fail,
            format!(
                "{breaching} of the last {judged} periods {op_thr} (fails at {needed}); worst {worst}"
            ),
        )
    } else if breaching + unknown >= needed {
        (
            GateOutcome::Inconclusive,
            format!(
                "{breaching} of the last {judged} periods {op_thr} and {unknown} without a value, which could make {needed}; worst {worst}"
            ),
        )
    } else {
        (
            GateOutcome::Pass,
            format!(
                "{breaching} of the last {judged} periods {op_thr} (fails at {needed}); worst {worst}"
            ),
        )
    };
    if outcome == GateOutcome::Pass && !partial.is_empty() {
        let partial: Vec<String> = partial.iter().map(ToString::to_string).collect();
        return (
            GateOutcome::Inconclusive,
            format!(
                "{reason}, but CloudWatch returned partial data for {}: a pass needs complete evidence",
                partial.join(", ")
            ),
        );
    }
    (outcome, reason)
}

/// The number of periods in a window, the last one possibly cut short.
fn period_count(range: TimeRange, period: i64) -> usize {
    if range.end <= range.start {
        return 0;
    }
    usize::try_from((range.end - range.start - 1) / period + 1).unwrap_or(0)
}

/// One query's values on a window's periods: NaN where there is no value.
struct Aligned {
    values: Vec<f64>,
    /// Periods that had an actual datapoint (before counters' zero-filling).
    present: usize,
}

fn align(series: &RawSeries, kind: SeriesKind, start: i64, period: i64, periods: usize) -> Aligned {
    let mut values = vec![f64::NAN; periods];
    if !copy_contiguous(&series.points, start, period, &mut values) {
        for &(timestamp, value) in &series.points {
            let slot = timestamp
                .checked_sub(start)
                .map(|offset| offset.div_euclid(period))
                .and_then(|slot| usize::try_from(slot).ok())
                .filter(|&slot| slot < periods);
            if let (Some(slot), true) = (slot, value.is_finite()) {
                values[slot] = value;
            }
        }
    }
    let present = values.iter().filter(|v| !v.is_nan()).count();
    if kind == SeriesKind::Counter {
        for value in &mut values {
            if value.is_nan() {
                *value = 0.0;
            }
        }
    }
    Aligned { values, present }
}

/// The usual shape of a CloudWatch answer, aligned without a division per
/// point: one point per period start, oldest first, no gap (the series may
/// start before the window and end after it, when another gate asked for a
/// longer range). Returns false, having written nothing, for any other shape.
fn copy_contiguous(points: &[(i64, f64)], start: i64, period: i64, values: &mut [f64]) -> bool {
    let Some(&(first, _)) = points.first() else {
        return true;
    };
    let on_grid = first
        .checked_sub(start)
        .filter(|offset| offset.rem_euclid(period) == 0);
    let (Some(offset), Ok(count)) = (on_grid, i64::try_from(points.len())) else {
        return false;
    };
    let last = count
        .checked_sub(1)
        .and_then(|k| k.checked_mul(period))
        .and_then(|span| first.checked_add(span));
    if last.is_none()
        || !points
            .iter()
            .zip(0_i64..)
            .all(|(&(timestamp, _), k)| timestamp == first + k * period)
    {
        return false;
    }
    // Point k falls in slot `first_slot + k`; keep those inside the window.
    let first_slot = offset / period;
    let skip = usize::try_from(first_slot.saturating_neg())
        .unwrap_or(0)
        .min(points.len());
    let into = usize::try_from(first_slot).unwrap_or(0).min(values.len());
    for (slot, &(_, value)) in values[into..].iter_mut().zip(&points[skip..]) {
        *slot = if value.is_finite() { value } else { f64::NAN };
    }
    true
}

/// The signal per period, NaN where it has no value (a term missing, 0/0,
/// a non-finite ratio). A single metric is its aligned column, not a copy.
fn signal_values<'a>(
    signal: &Signal,
    column: impl Fn(&MetricQuery) -> &'a [f64],
) -> Cow<'a, [f64]> {
    match signal {
        Signal::Metric(query) => Cow::Borrowed(column(query)),
        Signal::Ratio {
            numerator,
            denominator,
        } => {
            let above = sum_columns(numerator.iter().map(&column));
            let below = sum_columns(denominator.iter().map(&column));
            Cow::Owned(
                above
                    .iter()
                    .zip(below.iter())
                    .map(|(&above, &below)| {
                        let ratio = above / below;
                        if below != 0.0 && ratio.is_finite() {
                            ratio
                        } else {
                            f64::NAN
                        }
                    })
                    .collect(),
            )
        }
    }
}

/// The period-by-period sum of columns (NaN wherever a term is NaN); one
/// column is itself.
fn sum_columns<'a>(mut columns: impl Iterator<Item = &'a [f64]>) -> Cow<'a, [f64]> {
    let Some(first) = columns.next() else {
        return Cow::Owned(Vec::new());
    };
    let mut total = Cow::Borrowed(first);
    for column in columns {
        for (sum, value) in total.to_mut().iter_mut().zip(column) {
            *sum += value;
        }
    }
    total
}

/// The sum of the values present. Four running sums let the additions
/// overlap; the sample is a count, so the order does not change it.
fn sum_present(values: &[f64]) -> f64 {
    let mut sums = [0.0_f64; 4];
    let chunks = values.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().filter(|v| !v.is_nan()).sum();
    for chunk in chunks {
        for (sum, value) in sums.iter_mut().zip(chunk) {
            *sum += if value.is_nan() { 0.0 } else { *value };
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + rest
}

/// The record of a window none of whose periods was judged.
fn unjudged(values: &[f64], start: i64, period: i64) -> Vec<Observation> {
    values
        .iter()
        .enumerate()
        .map(|(i, &value)| Observation {
            timestamp: start + i as i64 * period,
            value: known(value),
            breaching: false,
            judged: false,
        })
        .collect()
}

fn known(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// What the judged periods add up to.
struct Tally {
    /// Periods judged: the newest N, or under `ignore` the newest N with a value.
    judged: usize,
    breaching: usize,
    /// Judged periods without a value under `missing_data: inconclusive`.
    unknown: usize,
    /// The worst value among the judged.
    worst: Option<f64>,
}

/// Judges the newest N periods and records every period of the window. The
/// counting runs over whole slices, in passes the compiler can vectorise; the
/// record is written in one more pass.
fn judge_periods(
    check: &ThresholdCheck,
    values: &[f64],
    start: i64,
    period: i64,
) -> (Vec<Observation>, Tally) {
    let wanted = check.evaluation_periods;
    let ignore = check.missing_data == MissingData::Ignore;
    // Every judged period is at or after `first_judged`; under `ignore` the
    // periods there without a value are skipped.
    let first_judged = if ignore {
        let mut remaining = wanted;
        let mut i = values.len();
        while remaining > 0 && i > 0 {
            i -= 1;
            remaining -= usize::from(!values[i].is_nan());
        }
        i
    } else {
        values.len().saturating_sub(wanted)
    };
    let tail = &values[first_judged..];
    let threshold = check.threshold.value;
    let with_value = tail.iter().filter(|v| !v.is_nan()).count();
    let missing = tail.len() - with_value;
    // NaN breaches no comparison, so the periods without a value count here
    // only through `missing_data` below.
    let mut breaching = count_breaches(check.comparison, tail, threshold);
    let mut unknown = 0;
    let judged = match check.missing_data {
        MissingData::Ignore => with_value,
        MissingData::Breaching => {
            breaching += missing;
            tail.len()
        }
        MissingData::NotBreaching => tail.len(),
        MissingData::Inconclusive => {
            unknown = missing;
            tail.len()
        }
    };
    let worst = (with_value > 0).then(|| worst_value(tail, check.comparison.higher_is_worse()));
    let missing_breaches = check.missing_data == MissingData::Breaching;
    let record = |(i, &value): (usize, &f64)| {
        let has_value = !value.is_nan();
        let judged = i >= first_judged && (has_value || !ignore);
        Observation {
            timestamp: start + i as i64 * period,
            value: known(value),
            breaching: judged
                && if has_value {
                    check.comparison.breaches(value, threshold)
                } else {
                    missing_breaches
                },
            judged,
        }
    };
    let observations = values.iter().enumerate().map(record).collect();
    let tally = Tally {
        judged,
        breaching,
        unknown,
        worst,
    };
    (observations, tally)
}

/// How many of `values` breach `threshold`, with the comparison chosen once,
/// outside the loop.
fn count_breaches(comparison: Comparison, values: &[f64], threshold: f64) -> usize {
    let count = |breaches: fn(f64, f64) -> bool| {
        values
            .iter()
            .map(|&v| usize::from(breaches(v, threshold)))
            .sum()
    };
    match comparison {
        Comparison::GreaterThan => count(|v, t| v > t),
        Comparison::GreaterThanOrEqual => count(|v, t| v >= t),
        Comparison::LessThan => count(|v, t| v < t),
        Comparison::LessThanOrEqual => count(|v, t| v <= t),
    }
}

/// The largest (or smallest) value, NaN ignored; at least one must be a
/// number. Four running extremes keep the comparisons independent.
fn worst_value(values: &[f64], higher_is_worse: bool) -> f64 {
    let sign = if higher_is_worse { 1.0 } else { -1.0 };
    let mut best = [f64::NEG_INFINITY; 4];
    let chunks = values.chunks_exact(4);
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

fn trim(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: Vec<(i64, f64)>) -> RawSeries {
        RawSeries {
            points,
            status: SeriesStatus::Complete,
            messages: Vec::new(),
        }
    }

    /// NaN-aware equality of aligned columns.
    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn the_contiguous_path_aligns_like_the_general_one() {
        // Window: 5 periods of 60 s from t = 600.
        let (start, period, periods) = (600, 60, 5);
        let shapes: Vec<Vec<(i64, f64)>> = vec![
            // Exactly the window.
            (0..5).map(|k| (600 + 60 * k, k as f64)).collect(),
            // Starts before the window and ends after it (another gate's longer range).
            (0..12).map(|k| (360 + 60 * k, k as f64)).collect(),
            // Starts inside the window, with a non-finite value.
            vec![(720, 1.0), (780, f64::INFINITY), (840, 3.0)],
            // Entirely before, entirely after.
            vec![(0, 1.0), (60, 2.0)],
            vec![(900, 1.0), (960, 2.0)],
            // Not on the grid, with a gap, out of order, duplicated: the general path.
            vec![(630, 1.0), (750, 2.0)],
            vec![(840, 4.0), (600, 1.0), (720, 3.0)],
            vec![(600, 1.0), (600, 2.0), (660, f64::NAN)],
            Vec::new(),
        ];
        for points in shapes {
            for kind in [SeriesKind::Counter, SeriesKind::Gauge] {
                let aligned = align(&series(points.clone()), kind, start, period, periods);
                // The general path alone: reversed points never take the contiguous path
                // (when there is more than one).
                let mut expected = vec![f64::NAN; periods];
                for &(t, v) in &points {
                    let slot = (t - start).div_euclid(period);
                    if (0..periods as i64).contains(&slot) && v.is_finite() {
                        expected[slot as usize] = v;
                    }
                }
                let present = expected.iter().filter(|v| !v.is_nan()).count();
                if kind == SeriesKind::Counter {
                    expected
                        .iter_mut()
                        .filter(|v| v.is_nan())
                        .for_each(|v| *v = 0.0);
                }
                assert!(
                    same(&aligned.values, &expected),
                    "{points:?} {kind:?}: {:?} != {expected:?}",
                    aligned.values
                );
                assert_eq!(aligned.present, present, "{points:?}");
            }
        }
    }

    #[test]
    fn extreme_timestamps_are_dropped_not_wrapped() {
        let points = vec![(i64::MIN, 1.0), (i64::MAX, 2.0), (600, 3.0)];
        let aligned = align(&series(points), SeriesKind::Gauge, 600, 60, 2);
        assert!(
            same(&aligned.values, &[3.0, f64::NAN]),
            "{:?}",
            aligned.values
        );
        assert_eq!(aligned.present, 1);
    }

    #[test]
    fn ratios_and_sums_are_missing_where_a_term_is() {
        let above = [1.0, f64::NAN, 3.0, 0.0, 5.0];
        let below = [2.0, 2.0, 0.0, 0.0, f64::NAN];
        let extra = [0.0, 0.0, 0.0, 0.0, 1.0];
        let summed = sum_columns([&below[..], &extra[..]].into_iter());
        assert!(same(&summed, &[2.0, 2.0, 0.0, 0.0, f64::NAN]));
        let q = |name: &str| MetricQuery {
            namespace: "N".into(),
            metric_name: name.into(),
            dimensions: vec![],
            stat: "Sum".into(),
            period_secs: 60,
            kind: SeriesKind::Counter,
        };
        let signal = Signal::Ratio {
            numerator: vec![q("A")],
            denominator: vec![q("B")],
        };
        let values = signal_values(&signal, |query| {
            if query.metric_name == "A" {
                &above[..]
            } else {
                &below[..]
            }
        });
        // 0/0 and x/0 have no value; nor has a ratio with a missing term.
        assert!(
            same(&values, &[0.5, f64::NAN, f64::NAN, f64::NAN, f64::NAN]),
            "{values:?}"
        );
        assert_eq!(
            sum_present(&[1.0, f64::NAN, 2.0, 3.0, 4.0, 5.0, f64::NAN]),
            15.0
        );
        assert_eq!(worst_value(&[1.0, f64::NAN, 7.0, 3.0, 2.0], true), 7.0);
        assert_eq!(
            worst_value(&[4.0, f64::NAN, 7.0, 3.0, 2.0, -1.0], false),
            -1.0
        );
    }
}
