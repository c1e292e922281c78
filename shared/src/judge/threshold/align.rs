//! Aligning one fetched series to a window's periods: the values a column
//! holds. A counter's period without a datapoint is zero (CloudWatch omits zero
//! counts), a gauge's has no value (NaN). A datapoint the series cannot hold
//! (not finite, or below zero where the series cannot be: [`super::impossible`])
//! is found here, while the points are read, and reported with the column; a
//! non-finite one is NaN in the column, never a number a gate could count.
//! CloudWatch's usual answer (one point per period, oldest first, no gap) is
//! copied in one pass without a division per point ([`copy_contiguous`]); any
//! other shape is placed point by point ([`align_anywhere`]), and both agree.

use super::impossible::{self, Impossible, Range};
use crate::evidence::RawSeries;
use crate::policy::SeriesKind;

/// What aligning a series found besides its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Found {
    /// How many periods had a (finite) datapoint.
    pub(super) present: usize,
    /// The earliest datapoint in the window the series cannot hold.
    pub(super) impossible: Option<Impossible>,
}

/// Appends `series` aligned to `periods` periods from `start` to `values`:
/// NaN where there is no value, except a counter's, which is zero there.
/// Returns how many periods had a datapoint, and the earliest impossible one
/// for `range`.
pub(super) fn align_into(
    values: &mut Vec<f64>,
    series: &RawSeries,
    (kind, range): (SeriesKind, Range),
    start: i64,
    period: i64,
    periods: usize,
) -> Found {
    let at = values.len();
    let Counted { present, suspect } =
        match copy_contiguous(&series.points, range, start, period, periods, values) {
            Some(counted) => counted,
            None => {
                values.truncate(at);
                align_anywhere(&series.points, range, start, period, periods, values)
            }
        };
    // The counts only say whether there is one; which is the earliest is
    // worked out from the points, only then.
    let impossible = suspect
        .then(|| impossible::first_in(&series.points, range, start, period, periods))
        .flatten();
    if kind == SeriesKind::Counter && present < periods {
        for value in &mut values[at..] {
            if value.is_nan() {
                *value = 0.0;
            }
        }
    }
    Found {
        present,
        impossible,
    }
}

/// What one pass over the points counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counted {
    /// Values present (finite) in the column.
    pub(super) present: usize,
    /// Some point in the window is one the series' range does not admit.
    pub(super) suspect: bool,
}

/// Points of any shape (off the grid, out of order, repeated, with gaps)
/// placed one by one, each by a division: the general path, which the
/// contiguous one must agree with. Appends the column to `values`; returns
/// how many of its values are present, and whether a point in the window is
/// one `range` does not admit.
pub(super) fn align_anywhere(
    points: &[(i64, f64)],
    range: Range,
    start: i64,
    period: i64,
    periods: usize,
    values: &mut Vec<f64>,
) -> Counted {
    let at = values.len();
    values.resize(at + periods, f64::NAN);
    let column = &mut values[at..];
    let mut suspect = false;
    for &(timestamp, value) in points {
        let slot = timestamp
            .checked_sub(start)
            .map(|offset| offset.div_euclid(period))
            .and_then(|slot| usize::try_from(slot).ok())
            .filter(|&slot| slot < periods);
        if let Some(slot) = slot {
            suspect |= !range.admits(value);
            if value.is_finite() {
                column[slot] = value;
            }
        }
    }
    Counted {
        present: column.iter().filter(|v| !v.is_nan()).count(),
        suspect,
    }
}

/// The usual shape of a CloudWatch answer, aligned without a division per
/// point and in one pass over the points (they are most of the memory a
/// judgement reads): one point per period start, oldest first, no gap (the
/// series may start before the window and end after it, when another gate
/// asked for a longer range). Appends the column to `values` and returns how
/// many of its values are present and whether one is impossible for `range`,
/// or returns `None` for any other shape, having appended part of a column
/// or none (the caller cuts it off).
///
/// The column is written once: the periods before and after the points are
/// filled with NaN, those the points cover are written from them, nothing is
/// filled first to be overwritten. Each point's due time is counted up by
/// `period` rather than multiplied out (a 64-bit multiply per point is a
/// sequence of instructions without AVX-512).
pub(super) fn copy_contiguous(
    points: &[(i64, f64)],
    range: Range,
    start: i64,
    period: i64,
    periods: usize,
    values: &mut Vec<f64>,
) -> Option<Counted> {
    let at = values.len();
    let Some(&(first, _)) = points.first() else {
        values.resize(at + periods, f64::NAN);
        return Some(Counted {
            present: 0,
            suspect: false,
        });
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
    // point, which SSE2 does not have.)
    let mut late_bits = 0_i64;
    // The points are most of what a judgement reads, and almost every answer
    // holds only finite values that are not negative. Per point, a count of
    // the finite ones (finiteness as a comparison of the magnitude with
    // infinity) and an or of the bit patterns (whose sign bit is then set if
    // any value's is) prove that in operations that vectorise; the values are
    // copied as they are. Only a column that fails the proof is looked at
    // again, in what was written (in cache), not in the points: non-finite
    // values made NaN, and the sign bit told apart from a real negative (-0
    // is zero, and a NaN may carry a sign).
    let mut present = 0;
    let mut or_bits = 0_u64;
    values.extend(window.iter().map(|&(timestamp, value)| {
        late_bits |= timestamp ^ due;
        due = due.wrapping_add(period);
        present += usize::from(value.abs() < f64::INFINITY);
        or_bits |= value.to_bits();
        value
    }));
    if late_bits != 0 || !on_schedule(late, due, period) {
        return None;
    }
    let written = &mut values[at + into..];
    if present < written.len() {
        for value in written.iter_mut() {
            if !value.is_finite() {
                *value = f64::NAN;
            }
        }
    }
    // `value < 0.0` is false for -0 (zero) and for NaN, as `Range::admits`
    // reads them.
    let negative = range == Range::NonNegative
        && or_bits >> 63 != 0
        && written.iter().any(|&value| value < 0.0);
    values.resize(at + periods, f64::NAN);
    let suspect = present < window.len() || negative;
    Some(Counted { present, suspect })
}

/// Whether `points` are one per period from `due` on, without a gap.
fn on_schedule(points: &[(i64, f64)], mut due: i64, period: i64) -> bool {
    points.iter().all(|&(timestamp, _)| {
        let on_time = timestamp == due;
        due = due.wrapping_add(period);
        on_time
    })
}
