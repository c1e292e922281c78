//! One side of a gate (the canary's queries, or its baseline's) found in the
//! evidence and aligned: each query with its series and its column's slot, so
//! the evidence is searched once per query and no later step searches again.
//! A series that is missing, that CloudWatch could not return, or that holds
//! a value no series of its kind can (see [`super::impossible`]) decides the
//! gate here (`Error`); each one found is recorded in the gate's completeness.

use super::columns::{Columns, Grid};
use super::impossible;
use super::Early;
use crate::evidence::{MetricData, RawSeries, SeriesStatus};
use crate::judge::compare::Aligned;
use crate::judge::{GateOutcome, ImpossibleValue, SeriesCompleteness, ThresholdFigures};
use crate::policy::MetricQuery;
use crate::vocab::Side;
use std::collections::BTreeMap;

/// One side's queries (the gate's or its baseline's), each with the series
/// it found in the evidence and its slot in [`Columns`]: the evidence is
/// searched once per query, not again by every later step.
pub(super) struct Slots<'q, 'e> {
    slots: Vec<(&'q MetricQuery, usize, &'e RawSeries)>,
}

impl<'q, 'e> Slots<'q, 'e> {
    /// The slot and series of `query`, one of this side's: found by address,
    /// equality being the fallback.
    pub(super) fn of(&self, query: &MetricQuery) -> (usize, &'e RawSeries) {
        self.slots
            .iter()
            .find(|(q, _, _)| std::ptr::eq(*q, query))
            .or_else(|| self.slots.iter().find(|(q, _, _)| *q == query))
            .map(|&(_, slot, series)| (slot, series))
            .expect("every query of the side was aligned")
    }

    pub(super) fn column<'c>(&self, columns: &'c Columns<'_>, query: &MetricQuery) -> &'c [f64] {
        columns.values(self.of(query).0)
    }

    pub(super) fn present(&self, columns: &Columns<'_>, query: &MetricQuery) -> usize {
        columns.present(self.of(query).0)
    }

    /// The queries, in order, whose series CloudWatch marked `PartialData`.
    pub(super) fn partial(&self) -> impl Iterator<Item = &'q MetricQuery> + '_ {
        self.slots
            .iter()
            .filter(|(_, _, series)| series.status == SeriesStatus::PartialData)
            .map(|&(query, _, _)| query)
    }

    /// This side's queries as the statistical tests take them.
    pub(super) fn as_options(&self, columns: &Columns<'_>) -> BTreeMap<&'q MetricQuery, Aligned> {
        self.slots
            .iter()
            .map(|&(query, slot, _)| {
                let values = options(columns.values(slot));
                (query, Aligned { values })
            })
            .collect()
    }
}

/// Looks up and aligns each of `queries` in `data` to `grid`, recording its
/// completeness in `figures`, or the gate's verdict when a series is missing
/// or failed, or holds an impossible value (recorded in `figures` too).
pub(super) fn align_side<'q, 'e>(
    side: Side,
    queries: impl Iterator<Item = &'q MetricQuery>,
    data: &'e MetricData,
    grid: Grid,
    columns: &mut Columns<'e>,
    figures: &mut ThresholdFigures,
) -> Early<Slots<'q, 'e>> {
    let (label, the) = match side {
        Side::Canary => ("", ""),
        Side::Baseline => ("baseline ", "the baseline "),
    };
    let mut slots = Vec::with_capacity(4);
    for query in queries {
        // A query the side already asked (a minimum sample on the ratio's
        // denominator) has its series: a comparison with the few found so
        // far instead of another search of the evidence by its strings.
        let known = slots
            .iter()
            .find(|(asked, _, _)| *asked == query)
            .map(|&(_, _, series)| series);
        let Some(series) = known.or_else(|| data.get(query)) else {
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
        let slot = columns.align(series, query, grid);
        let name = match side {
            Side::Canary => columns.name(series, query),
            Side::Baseline => format!("baseline: {query}").into(),
        };
        figures.completeness.push(SeriesCompleteness {
            query: name,
            expected: grid.periods,
            present: columns.present(slot),
            status: series.status.clone(),
        });
        if let Some(found) = columns.impossible(slot) {
            let reason = impossible::datapoint(side, query, found);
            figures.impossible = Some(ImpossibleValue {
                side,
                series: query.to_string(),
                timestamp: found.timestamp,
                value: found.value,
            });
            return Err((GateOutcome::Error, reason));
        }
        slots.push((query, slot, series));
    }
    Ok(Slots { slots })
}

/// A column as the statistical tests take it: `None` where there is no value.
pub(super) fn options(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect()
}
