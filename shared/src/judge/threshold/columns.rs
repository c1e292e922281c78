//! The column store: every fetched series a judgement reads, aligned to the
//! periods of a gate's window once ([`Grid`]) and kept in one buffer, shared
//! by every gate over the same window. What a column holds is worked out in
//! [`super::align`]; this file owns where columns live and how they are found.

use super::align::align_into;
use super::impossible::{Impossible, Range};
use super::signal::sum_present;
use crate::evidence::{MetricData, RawSeries};
use crate::policy::{MetricQuery, SeriesKind, ThresholdCheck};
use crate::vocab::TimeRange;
use crate::window::gate_window;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// The periods of a gate's window: `periods` of `period` seconds from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grid {
    /// The first period's start, epoch seconds.
    pub(super) start: i64,
    /// Seconds per period (at least 1).
    pub(super) period: i64,
    /// How many periods.
    pub(super) periods: usize,
}

impl Grid {
    /// The periods of `range`, `period_secs` long (the last one possibly cut short).
    pub(super) fn of(range: TimeRange, period_secs: i64) -> Grid {
        let period = period_secs.max(1);
        Grid {
            start: range.start,
            period,
            periods: period_count(range, period),
        }
    }

    /// The same periods `offset` seconds earlier (a history baseline's).
    pub(super) fn earlier(self, offset: i64) -> Grid {
        Grid {
            start: self.start - offset,
            ..self
        }
    }
}

/// The most values [`Columns::for_gates`] reserves before the first column:
/// 32 MiB, about six times the 500 day-long series of the budget case. Room that
/// is reserved and never written costs address space, not memory.
const MOST_RESERVED: usize = 1 << 22;

/// What a column is aligned from and to: the series (by address), how it is
/// read, the window's start, period and number of periods.
type ColumnKey = (*const RawSeries, (SeriesKind, Range), i64, i64, usize);

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
    /// outlives `'e`), kind and range of values, window start, period and
    /// number of periods. (Ordered maps: their keys compare in a few integer
    /// comparisons, cheaper than hashing them.)
    index: BTreeMap<ColumnKey, usize>,
    aligned: Vec<Column>,
    /// Each series' query as a person reads it, by series: written once,
    /// shared by every gate's record that names it.
    names: BTreeMap<*const RawSeries, Arc<str>>,
    /// Where a name is written before it is shared ([`Columns::name`]).
    scratch: String,
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
                let periods = Grid::of(range, check.period_secs).periods;
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
    pub(super) fn values(&self, slot: usize) -> &[f64] {
        let column = &self.aligned[slot];
        &self.values[column.at..column.at + column.len]
    }

    /// The sum of the values present in the column in `slot`
    /// ([`sum_present`]), worked out once: a ratio's denominator is often
    /// another gate's sample too.
    pub(super) fn sum_present(&mut self, slot: usize) -> f64 {
        let column = &self.aligned[slot];
        let values = &self.values[column.at..column.at + column.len];
        *self.aligned[slot]
            .sum
            .get_or_insert_with(|| sum_present(values))
    }

    /// How many periods of the column in `slot` had a datapoint.
    pub(super) fn present(&self, slot: usize) -> usize {
        self.aligned[slot].present
    }

    /// The earliest datapoint in the window of the column in `slot` that its
    /// series cannot hold ([`super::impossible`]).
    pub(super) fn impossible(&self, slot: usize) -> Option<Impossible> {
        self.aligned[slot].impossible
    }

    /// The slot of `series`, the answer to `query`, aligned to `grid`.
    pub(super) fn align(
        &mut self,
        series: &'e RawSeries,
        query: &MetricQuery,
        grid: Grid,
    ) -> usize {
        let Grid {
            start,
            period,
            periods,
        } = grid;
        let reading = (query.kind, Range::of(query));
        let key = (std::ptr::from_ref(series), reading, start, period, periods);
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        let at = self.values.len();
        let found = align_into(&mut self.values, series, reading, start, period, periods);
        self.aligned.push(Column {
            at,
            len: periods,
            present: found.present,
            impossible: found.impossible,
            sum: None,
        });
        let slot = self.aligned.len() - 1;
        self.index.insert(key, slot);
        slot
    }

    /// `query`, which found `series`, as a person reads it.
    pub(super) fn name(&mut self, series: &'e RawSeries, query: &MetricQuery) -> Arc<str> {
        let scratch = &mut self.scratch;
        self.names
            .entry(std::ptr::from_ref(series))
            .or_insert_with(|| {
                // Written into one reused buffer and copied once: `to_string`
                // grows a new string several times over a name's hundred-odd
                // bytes, and `Arc<str>` copies it again (about seven
                // allocations per name, hundreds of names per judgement).
                scratch.clear();
                write!(scratch, "{query}").expect("writing to a String cannot fail");
                Arc::from(scratch.as_str())
            })
            .clone()
    }
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
    /// The earliest datapoint in the window the series cannot hold.
    impossible: Option<Impossible>,
    /// The sum of the values present, once a minimum sample asked for it.
    sum: Option<f64>,
}
