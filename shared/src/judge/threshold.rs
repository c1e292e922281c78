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

use super::{GateOutcome, GateResult, Observation, SampleFigures, SeriesCompleteness};
use crate::evidence::{Evidence, MetricData, RawSeries, SeriesStatus};
use crate::policy::{
    BaselineCheck, BaselineRule, BaselineSource, BaselineTest, Gate, MetricQuery, MinSample,
    MissingData, SeriesKind, Signal, ThresholdCheck,
};
use crate::window::{gate_window, period_starts, TimeRange};
use std::collections::BTreeMap;

/// Judges one threshold gate against the hook's evidence.
pub fn judge(
    gate: &Gate,
    check: &ThresholdCheck,
    ingestion_lag_secs: i64,
    evidence: &Evidence,
) -> GateResult {
    let range = gate_window(check, evidence.now, ingestion_lag_secs);
    let mut result = GateResult::new(&gate.name, gate.severity, GateOutcome::Error, String::new());
    result.threshold = Some(describe_threshold(check));
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
        Some(Ok(data)) => evaluate(check, range, data, evidence, &mut result),
    };
    result.outcome = outcome;
    result.reason = reason;
    result
}

/// What the gate's threshold says, as people read it.
fn describe_threshold(check: &ThresholdCheck) -> String {
    let op = check.comparison;
    let absolute = check.threshold.format_value(check.threshold.value);
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

fn evaluate(
    check: &ThresholdCheck,
    range: TimeRange,
    data: &MetricData,
    evidence: &Evidence,
    result: &mut GateResult,
) -> (GateOutcome, String) {
    let grid: Vec<i64> = period_starts(range, check.period_secs).collect();
    let mut aligned: BTreeMap<&MetricQuery, Aligned> = BTreeMap::new();
    for query in check.queries() {
        let Some(series) = data.get(query) else {
            return (
                GateOutcome::Error,
                format!("the evidence has no series for {query}"),
            );
        };
        if let SeriesStatus::Failed(message) = &series.status {
            return (
                GateOutcome::Error,
                format!("CloudWatch could not return {query}: {message}"),
            );
        }
        let series_aligned = align(series, query, &grid, check.period_secs);
        result.completeness.push(SeriesCompleteness {
            query: query.to_string(),
            expected: grid.len(),
            present: series_aligned.present,
            status: series.status.clone(),
        });
        aligned.insert(query, series_aligned);
    }
    let values = signal_values(&check.signal, &aligned, grid.len());
    result.observations = grid
        .iter()
        .zip(&values)
        .map(|(&timestamp, &value)| Observation {
            timestamp,
            value,
            breaching: false,
            judged: false,
            baseline: None,
        })
        .collect();

    let primary = check.signal.primary_queries();
    if primary.iter().all(|q| aligned[q].present == 0) {
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
        let observed: f64 = aligned[&min.query]
            .values
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .sum();
        result.sample = Some(SampleFigures {
            query: min.query.to_string(),
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
        Some(b) => match baseline_values(b, &grid, check.period_secs, data, evidence, result) {
            Ok((base_values, base_aligned)) => {
                if b.test != BaselineTest::PerPeriod {
                    let sides = super::compare::Sides {
                        canary: (&aligned, &values),
                        baseline: (&base_aligned, &base_values),
                    };
                    return super::compare::judge(check, b, sides, result);
                }
                Some((b.rule, base_values))
            }
            Err(verdict) => return verdict,
        },
    };
    // A relative bound needs both sides: a period without a baseline value has
    // no bound, and counts as missing.
    let values: Vec<Option<f64>> = match &baseline {
        Some((BaselineRule::Relative(_), base)) => values
            .iter()
            .zip(base)
            .map(|(v, b)| v.filter(|_| b.is_some()))
            .collect(),
        _ => values,
    };
    let judged: Vec<usize> = match check.missing_data {
        MissingData::Ignore => {
            let mut present: Vec<usize> =
                (0..grid.len()).filter(|&i| values[i].is_some()).collect();
            let skip = present.len().saturating_sub(check.evaluation_periods);
            present.drain(..skip);
            present
        }
        _ => (grid.len().saturating_sub(check.evaluation_periods)..grid.len()).collect(),
    };
    let threshold = check.threshold.value;
    let mut breaching = 0;
    let mut unknown = 0;
    for &i in &judged {
        let breach = match values[i] {
            Some(v) => match &baseline {
                None => check.comparison.breaches(v, threshold),
                Some((BaselineRule::Relative(bound), base)) => {
                    base[i].is_some_and(|b| bound.breached_by(check.comparison, v, b))
                }
                // Without a baseline value the absolute threshold alone decides:
                // an excuse needs evidence.
                Some((BaselineRule::PassIfNotWorseThan(bound), base)) => {
                    check.comparison.breaches(v, threshold)
                        && base[i].is_none_or(|b| bound.breached_by(check.comparison, v, b))
                }
            },
            None => match check.missing_data {
                MissingData::Breaching => true,
                MissingData::NotBreaching | MissingData::Ignore => false,
                MissingData::Inconclusive => {
                    unknown += 1;
                    false
                }
            },
        };
        breaching += usize::from(breach);
        result.observations[i].breaching = breach;
        if let Some((_, base)) = &baseline {
            result.observations[i].baseline = base[i];
        }
        result.observations[i].judged = true;
    }
    result.breaching = Some(breaching);
    let needed = check.datapoints_to_alarm;
    let op = check.comparison.symbol();
    let thr = match &baseline {
        Some((BaselineRule::Relative(bound), _)) => bound.to_string(),
        Some((BaselineRule::PassIfNotWorseThan(bound), _)) => {
            format!(
                "{} and {op} {bound}",
                check.threshold.format_value(threshold)
            )
        }
        None => check.threshold.format_value(threshold),
    };
    let worst = worst_value(check, &judged, &values)
        .map(|i| match &baseline {
            Some((_, base)) => format!(
                "{} (baseline {})",
                check.threshold.format_value(values[i].unwrap_or(f64::NAN)),
                base[i]
                    .map(|b| check.threshold.format_value(b))
                    .unwrap_or_else(|| "none".into())
            ),
            None => check.threshold.format_value(values[i].unwrap_or(f64::NAN)),
        })
        .unwrap_or_else(|| "none".into());

    if judged.len() < needed {
        return (
            GateOutcome::Inconclusive,
            format!(
                "only {} periods with a value, {needed} needed to judge",
                judged.len()
            ),
        );
    }
    let (outcome, reason) = if breaching >= needed {
        (
            GateOutcome::Fail,
            format!(
                "{breaching} of the last {} periods {op} {thr} (fails at {needed}); worst {worst}",
                judged.len()
            ),
        )
    } else if breaching + unknown >= needed {
        (
            GateOutcome::Inconclusive,
            format!(
                "{breaching} of the last {} periods {op} {thr} and {unknown} without a value, which could make {needed}; worst {worst}",
                judged.len()
            ),
        )
    } else {
        (
            GateOutcome::Pass,
            format!(
                "{breaching} of the last {} periods {op} {thr} (fails at {needed}); worst {worst}",
                judged.len()
            ),
        )
    };
    let partial: Vec<String> = check
        .queries()
        .filter(|q| data[*q].status == SeriesStatus::PartialData)
        .map(ToString::to_string)
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

/// One query's values on the window's grid.
pub(super) struct Aligned {
    pub(super) values: Vec<Option<f64>>,
    /// Periods that had an actual datapoint (before counters' zero-filling).
    present: usize,
}

fn align(series: &RawSeries, query: &MetricQuery, grid: &[i64], period: i64) -> Aligned {
    let mut values = vec![None; grid.len()];
    let Some(&first) = grid.first() else {
        return Aligned { values, present: 0 };
    };
    for &(timestamp, value) in &series.points {
        let slot = (timestamp - first).div_euclid(period);
        if slot >= 0 && (slot as usize) < grid.len() && value.is_finite() {
            values[slot as usize] = Some(value);
        }
    }
    let present = values.iter().filter(|v| v.is_some()).count();
    if query.kind == SeriesKind::Counter {
        for v in &mut values {
            v.get_or_insert(0.0);
        }
    }
    Aligned { values, present }
}

/// The signal per period. The queries' aligned series are looked up once, not
/// once per period: a day of minutes for hundreds of gates is judged in the hot
/// path of every hook.
fn signal_values(
    signal: &Signal,
    aligned: &BTreeMap<&MetricQuery, Aligned>,
    periods: usize,
) -> Vec<Option<f64>> {
    let series = |queries: &[MetricQuery]| -> Vec<&[Option<f64>]> {
        queries
            .iter()
            .map(|q| aligned[q].values.as_slice())
            .collect()
    };
    let sum =
        |parts: &[&[Option<f64>]], i: usize| -> Option<f64> { parts.iter().map(|p| p[i]).sum() };
    let values: Vec<Option<f64>> = match signal {
        Signal::Metric(q) => aligned[q].values.clone(),
        Signal::Ratio {
            numerator,
            denominator,
        } => {
            let (above, below) = (series(numerator), series(denominator));
            (0..periods)
                .map(|i| {
                    let below = sum(&below, i)?;
                    if below == 0.0 {
                        return None;
                    }
                    Some(sum(&above, i)? / below)
                })
                .collect()
        }
    };
    values
        .into_iter()
        .map(|v| v.filter(|v| v.is_finite()))
        .collect()
}

/// The index of the worst judged value.
fn worst_value(check: &ThresholdCheck, judged: &[usize], values: &[Option<f64>]) -> Option<usize> {
    let present = judged.iter().filter_map(|&i| values[i].map(|v| (i, v)));
    if check.comparison.higher_is_worse() {
        present.reduce(|a, b| if b.1 > a.1 { b } else { a })
    } else {
        present.reduce(|a, b| if b.1 < a.1 { b } else { a })
    }
    .map(|(i, _)| i)
}

/// A baseline's signal values per period and its aligned queries.
type BaselineSeries<'a> = (Vec<Option<f64>>, BTreeMap<&'a MetricQuery, Aligned>);

/// The baseline's value per period of the canary's window (a history baseline's
/// periods lie `offset` earlier), or the gate's verdict when the baseline
/// cannot be judged: errors are `Error`, no data or too small a sample is
/// `Inconclusive` — a comparison with nothing proves nothing.
fn baseline_values<'a>(
    baseline: &'a BaselineCheck,
    grid: &[i64],
    period: i64,
    live: &MetricData,
    evidence: &Evidence,
    result: &mut GateResult,
) -> Result<BaselineSeries<'a>, (GateOutcome, String)> {
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
    let shifted: Vec<i64> = grid.iter().map(|t| t - offset).collect();
    let mut aligned: BTreeMap<&MetricQuery, Aligned> = BTreeMap::new();
    for query in baseline.queries() {
        let Some(series) = data.get(query) else {
            return Err((
                GateOutcome::Error,
                format!("the evidence has no baseline series for {query}"),
            ));
        };
        if let SeriesStatus::Failed(message) = &series.status {
            return Err((
                GateOutcome::Error,
                format!("CloudWatch could not return the baseline {query}: {message}"),
            ));
        }
        let series_aligned = align(series, query, &shifted, period);
        result.completeness.push(SeriesCompleteness {
            query: format!("baseline: {query}"),
            expected: shifted.len(),
            present: series_aligned.present,
            status: series.status.clone(),
        });
        aligned.insert(query, series_aligned);
    }
    let primary = baseline.signal.primary_queries();
    if primary.iter().all(|q| aligned[q].present == 0) {
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
        let observed: f64 = aligned[query].values.iter().map(|v| v.unwrap_or(0.0)).sum();
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
    let values = signal_values(&baseline.signal, &aligned, grid.len());
    Ok((values, aligned))
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
