//! Aligning one fetched series to a window's periods: the values a column
//! holds. A counter's period without a datapoint is zero (CloudWatch omits zero
//! counts), a gauge's has no value (NaN), and so has a non-finite datapoint.
//! CloudWatch's usual answer (one point per period, oldest first, no gap) is
//! copied in one pass without a division per point ([`copy_contiguous`]); any
//! other shape is placed point by point ([`align_anywhere`]), and both agree.

use crate::evidence::RawSeries;
use crate::policy::SeriesKind;

/// Appends `series` aligned to `periods` periods from `start` to `values`:
/// NaN where there is no value, except a counter's, which is zero there.
/// Returns how many periods had a datapoint.
pub(super) fn align_into(
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
pub(super) fn align_anywhere(
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
pub(super) fn copy_contiguous(
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
