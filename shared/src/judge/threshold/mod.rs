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
//! once per judgement however many gates read it ([`Columns`]); a series that
//! is one point per period, oldest first, is copied without a division per
//! point; and the record of the periods is columns too ([`GateSeries`]), not
//! a struct per period.

use super::{GateOutcome, GateResult, GateSeries, SampleFigures, SeriesCompleteness};
use crate::evidence::{Evidence, MetricData, RawSeries, SeriesStatus};
use crate::policy::{
    BaselineCheck, BaselineRule, BaselineSource, BaselineTest, Comparison, Gate, MetricQuery,
    MinSample, MissingData, SeriesKind, Signal, ThresholdCheck,
};
use crate::vocab::{Side, TimeRange};
use crate::window::gate_window;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    // Written once, read in the threshold and in the reason.
    let absolute = check.threshold.format_value(check.threshold.value);
    result.threshold = Some(describe_threshold(check, &absolute));
    result.threshold_value = match check.baseline.as_deref().map(|b| b.rule) {
        Some(BaselineRule::Relative(_)) => None,
        _ => Some(check.threshold.value),
    };
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
        Some(Ok(data)) => evaluate(
            check,
            &absolute,
            range,
            data,
            evidence,
            columns,
            &mut result,
        ),
    };
    result.outcome = outcome;
    result.reason = reason;
    result
}

/// What the gate's threshold says, as people read it; `absolute` is the
/// threshold's value as written back to them.
fn describe_threshold(check: &ThresholdCheck, absolute: &str) -> String {
    let op = check.comparison;
    match check.baseline.as_deref() {
        None => format!("{op} {absolute}"),
        Some(b) => {
            let against = match b.source {
                BaselineSource::Live => String::new(),
                BaselineSource::History { offset_secs } => {
                    format!(" ({} earlier)", human_duration(offset_secs))
                }
                BaselineSource::BeforeDeployment(ref start) => format!(" ({start})"),
            };
            match b.rule {
                BaselineRule::Relative(bound) => format!("{op} {bound}{against}"),
                BaselineRule::PassIfNotWorseThan(bound) => {
                    format!("{op} {absolute} and {op} {bound}{against}")
                }
            }
        }
    }
}

/// The most values [`Columns::for_gates`] reserves before the first column:
/// 32 MiB, about six times the 500 day-long series of the budget case. Room that
/// is reserved and never written costs address space, not memory.
const MOST_RESERVED: usize = 1 << 22;

/// Fetched series aligned to gate windows, shared by the gates of one
/// judgement: `Errors / Requests` with a minimum sample on `Requests` aligns
/// `Requests` once, and so does every other gate over the same window.
///
/// Every column lives in one buffer, one after the other, reserved once for
/// the whole judgement ([`Columns::for_gates`]): hundreds of day-long columns
/// are one allocation instead of hundreds.
#[derive(Default)]
pub(crate) struct Columns<'e> {
    /// Every column's values, one after the other.
    values: Vec<f64>,
    /// Index into `aligned` by series (its address in the evidence, which
    /// outlives `'e`), kind, window start, period and number of periods.
    /// (Ordered maps: their keys compare in a few integer comparisons, cheaper
    /// than hashing them.)
    index: BTreeMap<(*const RawSeries, SeriesKind, i64, i64, usize), usize>,
    aligned: Vec<Column>,
    /// Each series' query as a person reads it, by series: written once,
    /// shared by every gate's record that names it.
    names: BTreeMap<*const RawSeries, Arc<str>>,
    evidence: std::marker::PhantomData<&'e MetricData>,
}

impl<'e> Columns<'e> {
    /// Room for the columns of `gates`' threshold checks, judged at `now`:
    /// an upper bound, one per query and gate (fewer are made when gates
    /// share a series, or a live baseline's queries are the gate's own), and
    /// never more than [`MOST_RESERVED`] values up front (past that the
    /// buffer grows as columns come).
    pub(crate) fn for_gates<'g>(
        gates: impl Iterator<Item = &'g ThresholdCheck>,
        now: i64,
        ingestion_lag_secs: i64,
    ) -> Self {
        let room = gates
            .map(|check| {
                let range = gate_window(check, now, ingestion_lag_secs);
                let periods = period_count(range, check.period_secs.max(1));
                let baseline = check.baseline.as_deref().map_or(0, |b| b.queries().count());
                periods.saturating_mul(check.queries().count() + baseline)
            })
            .fold(0_usize, usize::saturating_add)
            .min(MOST_RESERVED);
        Columns {
            values: Vec::with_capacity(room),
            ..Columns::default()
        }
    }

    /// The values of the column in `slot`.
    fn values(&self, slot: usize) -> &[f64] {
        let column = &self.aligned[slot];
        &self.values[column.at..column.at + column.len]
    }

    /// The sum of the values present in the column in `slot`
    /// ([`sum_present`]), worked out once: a ratio's denominator is often
    /// another gate's sample too.
    fn sum_present(&mut self, slot: usize) -> f64 {
        let column = &self.aligned[slot];
        let values = &self.values[column.at..column.at + column.len];
        *self.aligned[slot]
            .sum
            .get_or_insert_with(|| sum_present(values))
    }

    /// The slot of `series` aligned to `periods` periods from `start`.
    fn align(
        &mut self,
        series: &'e RawSeries,
        kind: SeriesKind,
        start: i64,
        period: i64,
        periods: usize,
    ) -> usize {
        let key = (std::ptr::from_ref(series), kind, start, period, periods);
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        let at = self.values.len();
        let present = align_into(&mut self.values, series, kind, start, period, periods);
        self.aligned.push(Column {
            at,
            len: periods,
            present,
            sum: None,
        });
        let slot = self.aligned.len() - 1;
        self.index.insert(key, slot);
        slot
    }

    /// `query`, which found `series`, as a person reads it.
    fn name(&mut self, series: &'e RawSeries, query: &MetricQuery) -> Arc<str> {
        self.names
            .entry(std::ptr::from_ref(series))
            .or_insert_with(|| query.to_string().into())
            .clone()
    }
}

/// One side's queries (the gate's or its baseline's), each with the series
/// it found in the evidence and its slot in [`Columns`]: the evidence is
/// searched once per query, not again by every later step.
struct Slots<'q, 'e> {
    slots: Vec<(&'q MetricQuery, usize, &'e RawSeries)>,
}

impl<'q, 'e> Slots<'q, 'e> {
    /// The slot and series of `query`, one of this side's: found by address,
    /// equality being the fallback.
    fn of(&self, query: &MetricQuery) -> (usize, &'e RawSeries) {
        self.slots
            .iter()
            .find(|(q, _, _)| std::ptr::eq(*q, query))
            .or_else(|| self.slots.iter().find(|(q, _, _)| *q == query))
            .map(|&(_, slot, series)| (slot, series))
            .expect("every query of the side was aligned")
    }

    fn column<'c>(&self, columns: &'c Columns<'_>, query: &MetricQuery) -> &'c [f64] {
        columns.values(self.of(query).0)
    }

    fn present(&self, columns: &Columns<'_>, query: &MetricQuery) -> usize {
        columns.aligned[self.of(query).0].present
    }

    /// This side's queries as the statistical tests take them.
    fn as_options(&self, columns: &Columns<'_>) -> BTreeMap<&'q MetricQuery, Aligned> {
        self.slots
            .iter()
            .map(|&(query, slot, _)| {
                let values = options(columns.values(slot));
                (query, Aligned { values })
            })
            .collect()
    }
}

/// Looks up and aligns each of `queries` in `data`, recording its
/// completeness, or the gate's verdict when a series is missing or failed.
#[allow(clippy::too_many_arguments)]
fn align_side<'q, 'e>(
    side: Side,
    queries: impl Iterator<Item = &'q MetricQuery>,
    data: &'e MetricData,
    start: i64,
    period: i64,
    periods: usize,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> Result<Slots<'q, 'e>, (GateOutcome, String)> {
    let (label, the) = match side {
        Side::Canary => ("", ""),
        Side::Baseline => ("baseline ", "the baseline "),
    };
    let mut slots = Vec::with_capacity(4);
    for query in queries {
        let Some(series) = data.get(query) else {
            return Err((
                GateOutcome::Error,
                format!("the evidence has no {label}series for {query}"),
            ));
        };
        if let SeriesStatus::Failed(message) = &series.status {
            return Err((
                GateOutcome::Error,
                format!("CloudWatch could not return {the}{query}: {message}"),
            ));
        }
        let slot = columns.align(series, query.kind, start, period, periods);
        let name = match side {
            Side::Canary => columns.name(series, query),
            Side::Baseline => format!("baseline: {query}").into(),
        };
        result.completeness.push(SeriesCompleteness {
            query: name,
            expected: periods,
            present: columns.aligned[slot].present,
            status: series.status.clone(),
        });
        slots.push((query, slot, series));
    }
    Ok(Slots { slots })
}

fn evaluate<'e>(
    check: &ThresholdCheck,
    absolute: &str,
    range: TimeRange,
    data: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> (GateOutcome, String) {
    let period = check.period_secs.max(1);
    let periods = period_count(range, period);
    let slots = match align_side(
        Side::Canary,
        check.queries(),
        data,
        range.start,
        period,
        periods,
        columns,
        result,
    ) {
        Ok(slots) => slots,
        Err(verdict) => return verdict,
    };
    let values = signal_values(&check.signal, |q| slots.column(columns, q)).into_owned();
    result.series = Some(GateSeries::unjudged(range.start, period, values));

    let primary = check.signal.primary_queries();
    if primary.iter().all(|q| slots.present(columns, q) == 0) {
        result.no_evidence = true;
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
        let (slot, series) = slots.of(&min.query);
        let observed = columns.sum_present(slot);
        result.sample = Some(SampleFigures {
            // Equal queries read the same, so the series' name is this one's.
            query: columns.name(series, &min.query),
            observed,
            required: min.at_least,
        });
        if observed < min.at_least {
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

    let baseline = match check.baseline.as_deref() {
        None => None,
        Some(b) => {
            match baseline_values(
                b,
                range.start,
                period,
                periods,
                data,
                evidence,
                columns,
                result,
            ) {
                Ok((base_values, base_slots)) => {
                    if b.test != BaselineTest::PerPeriod {
                        // The tests take `Option` columns; they run on a few
                        // gates, so the conversion is not worth avoiding.
                        let canary_aligned = slots.as_options(columns);
                        let canary_values = options(series_values(result));
                        let base_aligned = base_slots.as_options(columns);
                        let base_values = options(&base_values);
                        let sides = super::compare::Sides {
                            canary: (&canary_aligned, &canary_values),
                            baseline: (&base_aligned, &base_values),
                        };
                        return super::compare::judge(check, b, sides, result);
                    }
                    Some((b.rule, base_values))
                }
                Err(verdict) => return verdict,
            }
        }
    };
    let Some(series) = result.series.as_mut() else {
        unreachable!("the series was recorded above")
    };
    let tally = match &baseline {
        None => judge_periods(check, series),
        Some((rule, base)) => judge_periods_against(check, *rule, base, series),
    };
    if let Some((_, base)) = baseline {
        series.baseline = Some(base);
    }
    result.breaching = Some(tally.breaching);
    let Tally {
        judged,
        breaching,
        unknown,
        worst,
    } = tally;
    let needed = check.datapoints_to_alarm;
    if judged < needed {
        return (
            GateOutcome::Inconclusive,
            format!("only {judged} periods with a value, {needed} needed to judge"),
        );
    }
    let op = check.comparison.symbol();
    let thr: Cow<str> = match check.baseline.as_deref().map(|b| b.rule) {
        Some(BaselineRule::Relative(bound)) => bound.to_string().into(),
        Some(BaselineRule::PassIfNotWorseThan(bound)) => {
            format!("{absolute} and {op} {bound}").into()
        }
        None => absolute.into(),
    };
    let worst = match worst {
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
    };

    let (outcome, reason) = if breaching >= needed {
        (
            GateOutcome::Fail,
            format!(
                "{breaching} of the last {judged} periods {op} {thr} (fails at {needed}); worst {worst}"
            ),
        )
    } else if breaching + unknown >= needed {
        (
            GateOutcome::Inconclusive,
            format!(
                "{breaching} of the last {judged} periods {op} {thr} and {unknown} without a value, which could make {needed}; worst {worst}"
            ),
        )
    } else {
        (
            GateOutcome::Pass,
            format!(
                "{breaching} of the last {judged} periods {op} {thr} (fails at {needed}); worst {worst}"
            ),
        )
    };
    // The canary side's slots are `check.queries()`, in order, with their series.
    let partial: Vec<String> = slots
        .slots
        .iter()
        .filter(|(_, _, series)| series.status == SeriesStatus::PartialData)
        .map(|(query, _, _)| query.to_string())
        .collect();
    if outcome == GateOutcome::Pass && !partial.is_empty() {
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

fn series_values(result: &GateResult) -> &[f64] {
    result.series.as_ref().map_or(&[], |s| s.values.as_slice())
}

/// The number of periods in a window, the last one possibly cut short.
fn period_count(range: TimeRange, period: i64) -> usize {
    if range.end <= range.start {
        return 0;
    }
    usize::try_from((range.end - range.start - 1) / period + 1).unwrap_or(0)
}

/// One query's values on a window's periods, NaN where there is no value:
/// `len` of [`Columns`]' values from `at`.
struct Column {
    at: usize,
    len: usize,
    /// Periods that had an actual datapoint (before counters' zero-filling).
    present: usize,
    /// The sum of the values present, once a minimum sample asked for it.
    sum: Option<f64>,
}

/// One query's values on the window's grid, as the statistical tests take them.
pub(super) struct Aligned {
    pub(super) values: Vec<Option<f64>>,
}

fn options(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect()
}

/// Appends `series` aligned to `periods` periods from `start` to `values`:
/// NaN where there is no value, except a counter's, which is zero there.
/// Returns how many periods had a datapoint.
fn align_into(
    values: &mut Vec<f64>,
    series: &RawSeries,
    kind: SeriesKind,
    start: i64,
    period: i64,
    periods: usize,
) -> usize {
    let at = values.len();
    let present = match copy_contiguous(&series.points, start, period, periods, values) {
        Some(present) => present,
        None => {
            values.truncate(at);
            align_anywhere(&series.points, start, period, periods, values)
        }
    };
    if kind == SeriesKind::Counter && present < periods {
        for value in &mut values[at..] {
            if value.is_nan() {
                *value = 0.0;
            }
        }
    }
    present
}

/// Points of any shape (off the grid, out of order, repeated, with gaps)
/// placed one by one, each by a division: the general path, which the
/// contiguous one must agree with. Appends the column to `values`; returns
/// how many of its values are present.
fn align_anywhere(
    points: &[(i64, f64)],
    start: i64,
    period: i64,
    periods: usize,
    values: &mut Vec<f64>,
) -> usize {
    let at = values.len();
    values.resize(at + periods, f64::NAN);
    let column = &mut values[at..];
    for &(timestamp, value) in points {
        let slot = timestamp
            .checked_sub(start)
            .map(|offset| offset.div_euclid(period))
            .and_then(|slot| usize::try_from(slot).ok())
            .filter(|&slot| slot < periods);
        if let (Some(slot), true) = (slot, value.is_finite()) {
            column[slot] = value;
        }
    }
    column.iter().filter(|v| !v.is_nan()).count()
}

/// The usual shape of a CloudWatch answer, aligned without a division per
/// point and in one pass over the points (they are most of the memory a
/// judgement reads): one point per period start, oldest first, no gap (the
/// series may start before the window and end after it, when another gate
/// asked for a longer range). Appends the column to `values` and returns how
/// many of its values are present, or returns `None` for any other shape,
/// having appended part of a column or none (the caller cuts it off).
///
/// The column is written once: the periods before and after the points are
/// filled with NaN, those the points cover are written from them, nothing is
/// filled first to be overwritten. Each point's due time is counted up by
/// `period` rather than multiplied out (a 64-bit multiply per point is a
/// sequence of instructions without AVX-512).
fn copy_contiguous(
    points: &[(i64, f64)],
    start: i64,
    period: i64,
    periods: usize,
    values: &mut Vec<f64>,
) -> Option<usize> {
    let at = values.len();
    let Some(&(first, _)) = points.first() else {
        values.resize(at + periods, f64::NAN);
        return Some(0);
    };
    let offset = first
        .checked_sub(start)
        .filter(|offset| offset.rem_euclid(period) == 0)?;
    // Point k is due at `first + k * period`; the last one must not overflow,
    // so no due time of a point does.
    i64::try_from(points.len())
        .ok()?
        .checked_sub(1)?
        .checked_mul(period)?
        .checked_add(first)?;
    // Point k falls in slot `first_slot + k`: split the points into those
    // before the window, in it, and after it.
    let first_slot = offset / period;
    let before = usize::try_from(first_slot.saturating_neg())
        .unwrap_or(0)
        .min(points.len());
    let into = usize::try_from(first_slot).unwrap_or(0).min(periods);
    let inside = (periods - into).min(points.len() - before);
    let (early, rest) = points.split_at(before);
    let (window, late) = rest.split_at(inside);
    if !on_schedule(early, first, period) {
        return None;
    }
    values.resize(at + into, f64::NAN);
    // Wrapping: when every point is early this is one period past the last
    // one, which is never compared.
    let mut due = first.wrapping_add((before as i64).wrapping_mul(period));
    // Every bit by which a timestamp differs from its due time: zero when all
    // are on time. (An or of differences needs no 64-bit comparison per
    // point, which SSE2 does not have; nor does `is_finite`'s bit test, so
    // finiteness is a floating-point comparison of the magnitude.)
    let mut late_bits = 0_i64;
    let mut present = 0;
    values.extend(window.iter().map(|&(timestamp, value)| {
        late_bits |= timestamp ^ due;
        due = due.wrapping_add(period);
        let finite = value.abs() < f64::INFINITY;
        present += usize::from(finite);
        if finite {
            value
        } else {
            f64::NAN
        }
    }));
    if late_bits != 0 || !on_schedule(late, due, period) {
        return None;
    }
    values.resize(at + periods, f64::NAN);
    Some(present)
}

/// Whether `points` are one per period from `due` on, without a gap.
fn on_schedule(points: &[(i64, f64)], mut due: i64, period: i64) -> bool {
    points.iter().all(|&(timestamp, _)| {
        let on_time = timestamp == due;
        due = due.wrapping_add(period);
        on_time
    })
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
                        // `is_finite` and `&&` written as a comparison and
                        // `&`, which the compiler vectorises: two divisions
                        // per instruction instead of one.
                        if (below != 0.0) & (ratio.abs() < f64::INFINITY) {
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

/// What the judged periods add up to.
struct Tally {
    /// Periods judged: the newest N, or under `ignore` the newest N with a value.
    judged: usize,
    breaching: usize,
    /// Judged periods without a value under `missing_data: inconclusive`.
    unknown: usize,
    /// The worst value among the judged, with the baseline's in the same
    /// period for gates compared with one.
    worst: Option<(f64, Option<f64>)>,
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
struct ValueCounts {
    /// Values that are numbers (not NaN).
    with_value: usize,
    /// Values that breach the threshold (NaN breaches none).
    breaches: usize,
    /// The largest value (the smallest, when lower is worse), NaN ignored;
    /// meaningless when `with_value` is 0.
    worst: f64,
}

/// Counts the values present and the breaches of `threshold` in one pass,
/// with the comparison chosen once, outside the loop, and finds the worst
/// value in another: two integer sums vectorise together, a running extreme
/// does not vectorise with them (measured: one fused pass was slower than
/// two).
fn count_values(
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

/// The baseline's signal per period of the canary's window (a history
/// baseline's periods lie `offset` earlier) and its queries' slots, or the
/// gate's verdict when the baseline cannot be judged: errors are `Error`, no
/// data or too small a sample is `Inconclusive` — a comparison with nothing
/// proves nothing.
#[allow(clippy::too_many_arguments)]
fn baseline_values<'a, 'e>(
    baseline: &'a BaselineCheck,
    start: i64,
    period: i64,
    periods: usize,
    live: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> Result<(Vec<f64>, Slots<'a, 'e>), (GateOutcome, String)> {
    if let Some(why) = baseline.source.unplaced() {
        return Err((GateOutcome::Error, why));
    }
    let offset = baseline.offset_secs();
    let data = match baseline.source {
        BaselineSource::Live => live,
        // History, or the window before the deployment: fetched shifted back.
        _ => match evidence.history.get(&offset) {
            Some(Ok(data)) => data,
            Some(Err(error)) => {
                return Err((
                    GateOutcome::Error,
                    format!("baseline evidence unavailable: {error}"),
                ))
            }
            None => {
                return Err((
                    GateOutcome::Error,
                    "no history evidence was collected for this gate's baseline".into(),
                ))
            }
        },
    };
    let slots = align_side(
        Side::Baseline,
        baseline.queries(),
        data,
        start - offset,
        period,
        periods,
        columns,
        result,
    )?;
    let primary = baseline.signal.primary_queries();
    if primary.iter().all(|q| slots.present(columns, q) == 0) {
        result.no_evidence = true;
        return Err((
            GateOutcome::Inconclusive,
            format!(
                "no baseline datapoints at all for {} in the window: nothing to compare the canary with",
                primary.iter().map(ToString::to_string).collect::<Vec<_>>().join(" + ")
            ),
        ));
    }
    if let Some(MinSample { query, at_least }) = &baseline.min_sample {
        let observed = columns.sum_present(slots.of(query).0);
        if observed < *at_least {
            return Err((
                GateOutcome::Inconclusive,
                format!(
                    "baseline sample too small to compare with: {} {} in the window, at least {} needed",
                    trim(observed),
                    query.metric_name,
                    trim(*at_least)
                ),
            ));
        }
    }
    let values = signal_values(&baseline.signal, |q| slots.column(columns, q)).into_owned();
    Ok((values, slots))
}

fn trim(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `7d`, `1h`, `90m`: how a history offset is written back to people.
fn human_duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
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

    /// A column as the judge aligns it, with how many of its values are present.
    struct Aligned {
        values: Vec<f64>,
        present: usize,
    }

    /// `series` aligned on its own, in a buffer holding another column
    /// before it, which must come out untouched.
    fn align(
        series: &RawSeries,
        kind: SeriesKind,
        start: i64,
        period: i64,
        periods: usize,
    ) -> Aligned {
        let earlier = [7.0, f64::NAN, -1.0];
        let mut values = earlier.to_vec();
        let present = align_into(&mut values, series, kind, start, period, periods);
        assert!(same(&values[..3], &earlier), "{values:?}");
        Aligned {
            values: values.split_off(3),
            present,
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
            // On the grid and in order at first, then back into the window:
            // the one-pass copy must give up and leave no trace.
            vec![(600, 1.0), (660, 2.0), (600, 5.0)],
            vec![(540, 0.5), (480, 1.0), (600, 2.0)],
            (0..6)
                .map(|k| (600 + 60 * k, k as f64))
                .chain([(660, 9.0)])
                .collect(),
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
        let worst = |values: &[f64], higher_is_worse| {
            count_values(Comparison::GreaterThan, values, 0.0, higher_is_worse).worst
        };
        assert_eq!(worst(&[1.0, f64::NAN, 7.0, 3.0, 2.0], true), 7.0);
        assert_eq!(worst(&[4.0, f64::NAN, 7.0, 3.0, 2.0, -1.0], false), -1.0);
    }

    #[test]
    fn the_contiguous_copy_agrees_with_the_general_path_wherever_it_applies() {
        // Every placement of a gapless, in-order series around a short window,
        // from entirely before it to entirely after it, some values not finite.
        let period = 60;
        for periods in 0..6_usize {
            let start = 6000;
            for first_slot in -8_i64..10 {
                for len in 0..12_i64 {
                    let points: Vec<(i64, f64)> = (0..len)
                        .map(|k| {
                            let value = match k % 5 {
                                3 => f64::NAN,
                                4 => f64::NEG_INFINITY,
                                _ => k as f64,
                            };
                            (start + (first_slot + k) * period, value)
                        })
                        .collect();
                    // Each appended after another column, which must stay as it was.
                    let earlier = vec![1.5, f64::NAN];
                    let mut copied = earlier.clone();
                    let copied_present =
                        copy_contiguous(&points, start, period, periods, &mut copied)
                            .unwrap_or_else(|| panic!("{points:?} is contiguous"));
                    let mut general = earlier.clone();
                    let general_present =
                        align_anywhere(&points, start, period, periods, &mut general);
                    assert!(
                        same(&copied, &general),
                        "{points:?}: {copied:?} != {general:?}"
                    );
                    assert_eq!(copied_present, general_present, "{points:?}");
                    assert_eq!(copied.len(), earlier.len() + periods);
                    assert!(same(&copied[..2], &earlier));
                }
            }
        }
        // A point late, early, repeated or off the grid anywhere in the series
        // (before, inside or after the window) sends it down the general path.
        let on_grid: Vec<(i64, f64)> = (0..10).map(|k| (5880 + 60 * k, k as f64)).collect();
        for broken in 0..on_grid.len() {
            for shift in [-60, -1, 1, 60] {
                let mut points = on_grid.clone();
                points[broken].0 += shift;
                assert!(
                    copy_contiguous(&points, 6000, 60, 5, &mut Vec::new()).is_none(),
                    "{points:?} is not contiguous"
                );
            }
        }
    }

    /// The counts of [`count_values`] made the slow way, one question per pass.
    fn counted_one_by_one(
        comparison: Comparison,
        values: &[f64],
        threshold: f64,
        higher_is_worse: bool,
    ) -> (usize, usize, Option<f64>) {
        let with_value = values.iter().filter(|v| !v.is_nan()).count();
        let breaches = values
            .iter()
            .filter(|&&v| comparison.breaches(v, threshold))
            .count();
        let numbers = values.iter().copied().filter(|v| !v.is_nan());
        let worst = if higher_is_worse {
            numbers.reduce(f64::max)
        } else {
            numbers.reduce(f64::min)
        };
        (with_value, breaches, worst)
    }

    #[test]
    fn the_counting_passes_count_like_one_question_per_pass() {
        let comparisons = [
            Comparison::GreaterThan,
            Comparison::GreaterThanOrEqual,
            Comparison::LessThan,
            Comparison::LessThanOrEqual,
        ];
        // Lengths around the four lanes, values on, above and below the
        // threshold, NaN and infinities in every lane position.
        let pattern = [
            0.5,
            f64::NAN,
            1.0,
            -3.0,
            f64::INFINITY,
            2.5,
            1.0,
            f64::NAN,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            7.25,
        ];
        for len in 0..=pattern.len() {
            for rotate in 0..pattern.len() {
                let mut values = pattern.to_vec();
                values.rotate_left(rotate);
                values.truncate(len);
                for comparison in comparisons {
                    for higher_is_worse in [true, false] {
                        let fast = count_values(comparison, &values, 1.0, higher_is_worse);
                        let (with_value, breaches, worst) =
                            counted_one_by_one(comparison, &values, 1.0, higher_is_worse);
                        assert_eq!(fast.with_value, with_value, "{values:?}");
                        assert_eq!(fast.breaches, breaches, "{values:?} {comparison:?}");
                        if let Some(worst) = worst {
                            assert_eq!(fast.worst, worst, "{values:?} {higher_is_worse}");
                        }
                    }
                }
            }
        }
    }
}
