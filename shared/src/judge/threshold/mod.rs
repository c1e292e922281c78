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

//!
//! One file per step: [`columns`] keeps the aligned series (what a column
//! holds is [`align`]'s), [`side`] finds a side's queries in the evidence,
//! [`signal`] computes the signal per period, [`sample`] asks for evidence
//! enough to judge, [`baseline`] brings a baseline's values (or hands the gate
//! to a statistical test), [`periods`] counts M of N, and [`reasons`] writes
//! the line a person reads.

mod align;
mod baseline;
mod columns;
mod periods;
mod reasons;
mod sample;
mod side;
mod signal;

pub(crate) use columns::Columns;

use super::{GateOutcome, GateResult, GateSeries};
use crate::evidence::{Evidence, MetricData};
use crate::policy::{BaselineRule, Gate, ThresholdCheck};
use crate::vocab::{Side, TimeRange};
use crate::window::gate_window;
use columns::Grid;

/// A gate decided: its outcome and the reason.
type Decided = (GateOutcome, String);

/// A step's result, or the gate decided before its periods are counted (an
/// error, evidence too thin to judge, or a statistical test's answer).
type Early<T> = Result<T, Decided>;

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
    result.threshold = Some(reasons::describe_threshold(check, &absolute));
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

/// The gate judged on metric evidence that was collected.
fn evaluate<'e>(
    check: &ThresholdCheck,
    absolute: &str,
    range: TimeRange,
    data: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> Decided {
    let grid = Grid::of(range, check.period_secs);
    match judge_evidence(check, absolute, grid, data, evidence, columns, result) {
        Ok(decided) | Err(decided) => decided,
    }
}

/// The checks in the order of the module's documentation, each of which
/// may decide the gate before the periods are counted.
fn judge_evidence<'e>(
    check: &ThresholdCheck,
    absolute: &str,
    grid: Grid,
    data: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    result: &mut GateResult,
) -> Early<Decided> {
    let canary = side::align_side(
        Side::Canary,
        check.queries(),
        data,
        grid,
        columns,
        &mut result.completeness,
    )?;
    let values = signal::signal_values(&check.signal, |q| canary.column(columns, q)).into_owned();
    result.series = Some(GateSeries::unjudged(grid.start, grid.period, values));
    sample::require_datapoints(check, &canary, columns, &mut result.no_evidence)?;
    sample::require_sample(check, &canary, columns, &mut result.sample)?;
    let baseline = match check.baseline.as_deref() {
        None => None,
        Some(b) => {
            let gate = baseline::Canary {
                check,
                slots: &canary,
            };
            let values = baseline::per_period(gate, b, grid, data, evidence, columns, result)?;
            Some((b.rule, values))
        }
    };
    let Some(series) = result.series.as_mut() else {
        unreachable!("the series was recorded above")
    };
    let tally = periods::judge_window(check, baseline, series);
    result.breaching = Some(tally.breaching);
    Ok(reasons::decide(check, absolute, &tally, canary.partial()))
}

fn series_values(result: &GateResult) -> &[f64] {
    result.series.as_ref().map_or(&[], |s| s.values.as_slice())
}

#[cfg(test)]
mod tests;
