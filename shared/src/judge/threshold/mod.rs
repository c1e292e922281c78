//! Threshold gates: a signal per period, compared with a threshold, M of N.
//!
//! The order of the checks is the order of what evidence can be trusted:
//! 1. collection errors and per-series failures make the gate `Error`;
//! 2. datapoints are aligned to the window's periods; a counter's missing period
//!    is zero (CloudWatch omits zero counts), a gauge's is unknown; a value no
//!    series of its kind can hold (NaN, an infinity, a negative count or AWS
//!    metric, a share outside [0, 1]: `impossible`) makes the gate `Error`,
//!    never a missing period;
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
//! One file per step: `columns` keeps the aligned series (what a column
//! holds is `align`'s, what it cannot hold is `impossible`'s), `side` finds
//! a side's queries in the evidence,
//! `signal` computes the signal per period, `sample` asks for evidence
//! enough to judge, `baseline` brings a baseline's values (or hands the gate
//! to a statistical test), `periods` counts M of N, and `reasons` writes
//! the line a person reads.

mod align;
mod baseline;
mod columns;
mod impossible;
mod periods;
mod reasons;
mod sample;
mod side;
mod signal;

pub(crate) use columns::Columns;

use super::{
    BaselineFigure, GateFigures, GateOutcome, GateResult, GateSeries, NotJudged, Rule,
    ThresholdFigure, ThresholdFigures,
};
use crate::evidence::{Evidence, MetricData};
use crate::policy::{Gate, ThresholdCheck};
use crate::vocab::Side;
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
    let mut found = Found {
        figures: ThresholdFigures::new(threshold_figure(check), rule(check), range),
        no_evidence: false,
        not_judged: None,
    };
    let (outcome, reason) = match &evidence.metrics {
        None => (
            GateOutcome::Error,
            "no metric evidence was collected for this gate".to_string(),
        ),
        Some(Err(error)) => (GateOutcome::Error, format!("evidence unavailable: {error}")),
        Some(Ok(data)) => match judge_evidence(check, data, evidence, columns, &mut found) {
            Ok(decided) | Err(decided) => decided,
        },
    };
    let mut result = GateResult::new(&gate.name, gate.severity, outcome, reason);
    result.no_evidence = found.no_evidence;
    result.not_judged = found.not_judged;
    result.figures = GateFigures::Threshold(found.figures);
    result
}

/// What the gate is held to, as the check says it.
fn threshold_figure(check: &ThresholdCheck) -> ThresholdFigure {
    ThresholdFigure {
        comparison: check.comparison,
        limit: check.threshold,
        baseline: check.baseline.as_deref().map(|b| BaselineFigure {
            rule: b.rule,
            source: b.source.clone(),
        }),
    }
}

/// M of N, as the check says it.
fn rule(check: &ThresholdCheck) -> Rule {
    Rule {
        datapoints_to_alarm: check.datapoints_to_alarm,
        evaluation_periods: check.evaluation_periods,
        period_secs: check.period_secs,
    }
}

/// What judging a gate records besides its outcome and reason.
struct Found {
    /// The gate's figures, filled in step by step.
    figures: ThresholdFigures,
    /// Not one datapoint of the primary metric, the canary's or the baseline's.
    no_evidence: bool,
    /// Set when there was nothing to judge the canary against.
    not_judged: Option<NotJudged>,
}

/// The checks in the order of the module's documentation on metric evidence
/// that was collected, each of which may decide the gate before the periods
/// are counted.
fn judge_evidence<'e>(
    check: &ThresholdCheck,
    data: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    found: &mut Found,
) -> Early<Decided> {
    let grid = Grid::of(found.figures.window, check.period_secs);
    let canary = side::align_side(
        Side::Canary,
        check.queries(),
        data,
        grid,
        columns,
        &mut found.figures,
    )?;
    let values = signal::signal_values(&check.signal, |q| canary.column(columns, q)).into_owned();
    let share = impossible::is_share(check, check.baseline.as_deref());
    let outside = share.then(|| {
        impossible::require_share(
            Side::Canary,
            &check.signal,
            &values,
            (grid.start, grid.period),
            |q| canary.column(columns, q),
            &mut found.figures,
        )
    });
    found.figures.series = Some(GateSeries::unjudged(grid.start, grid.period, values));
    outside.unwrap_or(Ok(()))?;
    sample::require_datapoints(check, &canary, columns, &mut found.no_evidence)?;
    sample::require_sample(check, &canary, columns, &mut found.figures.sample)?;
    let baseline = match check.baseline.as_deref() {
        None => None,
        Some(b) => {
            let gate = baseline::Canary {
                check,
                slots: &canary,
                grid,
            };
            let values = baseline::per_period(gate, b, data, evidence, columns, found)?;
            Some((b.rule, values))
        }
    };
    let Some(series) = found.figures.series.as_mut() else {
        unreachable!("the series was recorded above")
    };
    let tally = periods::judge_window(check, baseline, series);
    found.figures.breaching = Some(tally.breaching);
    Ok(reasons::decide(check, &tally, canary.partial()))
}

/// The canary's signal per period, as recorded.
fn series_values(figures: &ThresholdFigures) -> &[f64] {
    figures.series.as_ref().map_or(&[], |s| s.values.as_slice())
}

#[cfg(test)]
mod tests;
