//! A gate's baseline: the data it is read from (live, or shifted back to
//! history or the window before the deployment), aligned to the canary's
//! periods, held to the same demands as the canary (some datapoint, the
//! minimum sample: a comparison with nothing proves nothing), and then either
//! handed back for the period-by-period comparison or, for a statistical test,
//! handed with both sides to [`crate::judge::compare`], whose answer decides
//! the gate.

use super::columns::{Columns, Grid};
use super::side::{align_side, options, Slots};
use super::{impossible, reasons, series_values, signal, Early, Found};
use crate::evidence::{Evidence, MetricData};
use crate::judge::{compare, GateOutcome, NotJudged};
use crate::policy::{BaselineCheck, BaselineSource, BaselineTest, MinSample, ThresholdCheck};
use crate::vocab::Side;

/// The gate compared with a baseline: its check, its side's slots and its
/// window's periods.
pub(super) struct Canary<'a, 'q, 'e> {
    pub(super) check: &'a ThresholdCheck,
    pub(super) slots: &'a Slots<'q, 'e>,
    pub(super) grid: Grid,
}

/// The baseline's signal per period of the canary's window, for a gate
/// compared period by period; or the gate decided: by the baseline's
/// evidence (see [`baseline_values`]) or, for a statistical test, by the test.
pub(super) fn per_period<'e>(
    canary: Canary<'_, '_, 'e>,
    baseline: &BaselineCheck,
    live: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    found: &mut Found,
) -> Early<Vec<f64>> {
    let (base_values, base_slots) = baseline_values(
        canary.check,
        baseline,
        canary.grid,
        live,
        evidence,
        columns,
        found,
    )?;
    if baseline.test == BaselineTest::PerPeriod {
        return Ok(base_values);
    }
    // The tests take `Option` columns; they run on a few gates, so the
    // conversion is not worth avoiding.
    let canary_aligned = canary.slots.as_options(columns);
    let canary_values = options(series_values(&found.figures));
    let base_aligned = base_slots.as_options(columns);
    let base_values = options(&base_values);
    let sides = compare::Sides {
        canary: (&canary_aligned, &canary_values),
        baseline: (&base_aligned, &base_values),
    };
    Err(compare::judge(
        canary.check,
        baseline,
        sides,
        &mut found.figures.test,
    ))
}

/// The baseline's signal per period of the canary's window (a history
/// baseline's periods lie `offset` earlier) and its queries' slots, or the
/// gate's verdict when the baseline cannot be judged: errors are `Error`, no
/// data or too small a sample is `Inconclusive` — a comparison with nothing
/// proves nothing.
fn baseline_values<'a, 'e>(
    check: &ThresholdCheck,
    baseline: &'a BaselineCheck,
    grid: Grid,
    live: &'e MetricData,
    evidence: &'e Evidence,
    columns: &mut Columns<'e>,
    found: &mut Found,
) -> Early<(Vec<f64>, Slots<'a, 'e>)> {
    let data = baseline_data(baseline, live, evidence)?;
    let grid = grid.earlier(baseline.offset_secs());
    let slots = align_side(
        Side::Baseline,
        baseline.queries(),
        data,
        grid,
        columns,
        &mut found.figures,
    )?;
    let values = signal::signal_values(&baseline.signal, |q| slots.column(columns, q)).into_owned();
    if impossible::is_share(check, Some(baseline)) {
        impossible::require_share(
            Side::Baseline,
            &baseline.signal,
            &values,
            (grid.start, grid.period),
            |q| slots.column(columns, q),
            &mut found.figures,
        )?;
    }
    let primary = baseline.signal.primary_queries();
    if primary.iter().all(|q| slots.present(columns, q) == 0) {
        found.no_evidence = true;
        found.not_judged = Some(NotJudged::NoBaseline);
        return Err((
            GateOutcome::Inconclusive,
            reasons::no_baseline_datapoints(primary),
        ));
    }
    if let Some(MinSample { query, at_least }) = &baseline.min_sample {
        let observed = columns.sum_present(slots.of(query).0);
        if observed < *at_least {
            return Err((
                GateOutcome::Inconclusive,
                reasons::baseline_sample_too_small(observed, query, *at_least),
            ));
        }
    }
    Ok((values, slots))
}

/// The evidence the baseline is read from: the live data, or the history
/// fetched shifted back by the baseline's offset; `Error` when the window
/// could not be placed or its evidence is missing.
fn baseline_data<'e>(
    baseline: &BaselineCheck,
    live: &'e MetricData,
    evidence: &'e Evidence,
) -> Early<&'e MetricData> {
    if let Some(why) = baseline.source.unplaced() {
        return Err((GateOutcome::Error, why));
    }
    match baseline.source {
        BaselineSource::Live => Ok(live),
        // History, or the window before the deployment: fetched shifted back.
        _ => match evidence.history.get(&baseline.offset_secs()) {
            Some(Ok(data)) => Ok(data),
            Some(Err(error)) => Err((
                GateOutcome::Error,
                format!("baseline evidence unavailable: {error}"),
            )),
            None => Err((
                GateOutcome::Error,
                "no history evidence was collected for this gate's baseline".into(),
            )),
        },
    }
}
