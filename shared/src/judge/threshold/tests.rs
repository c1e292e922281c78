//! The per-period machinery against slow, obvious versions of itself:
//! alignment (the contiguous copy against the general path), column
//! arithmetic, and the counting passes.

use super::align::{align_anywhere, align_into, copy_contiguous};
use super::impossible::{Impossible, Range};
use super::periods::count_values;
use super::signal::{signal_values, sum_columns, sum_present};
use crate::evidence::{RawSeries, SeriesStatus};
use crate::policy::{Comparison, MetricQuery, SeriesKind, Signal};

fn series(points: Vec<(i64, f64)>) -> RawSeries {
    RawSeries {
        points,
        status: SeriesStatus::Complete,
        messages: Vec::new(),
    }
}

/// A column as the judge aligns it, with how many of its values are present
/// and the earliest impossible datapoint.
struct Aligned {
    values: Vec<f64>,
    present: usize,
    impossible: Option<Impossible>,
}

/// `series` aligned on its own, in a buffer holding another column
/// before it, which must come out untouched.
fn align(
    series: &RawSeries,
    reading: (SeriesKind, Range),
    start: i64,
    period: i64,
    periods: usize,
) -> Aligned {
    let earlier = [7.0, f64::NAN, -1.0];
    let mut values = earlier.to_vec();
    let found = align_into(&mut values, series, reading, start, period, periods);
    assert!(same(&values[..3], &earlier), "{values:?}");
    Aligned {
        values: values.split_off(3),
        present: found.present,
        impossible: found.impossible,
    }
}

/// The earliest point in the window `range` does not admit, the slow way.
fn first_impossible(
    points: &[(i64, f64)],
    range: Range,
    start: i64,
    period: i64,
    periods: usize,
) -> Option<Impossible> {
    let mut in_window: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|&(t, _)| (0..periods as i64).contains(&(t - start).div_euclid(period)))
        .filter(|&(_, v)| !v.is_finite() || (range == Range::NonNegative && v < 0.0))
        .collect();
    in_window.sort_by_key(|&(t, _)| t);
    in_window.first().map(|&(t, value)| Impossible {
        timestamp: start + (t - start).div_euclid(period) * period,
        value,
    })
}

/// NaN-aware equality of impossible points.
fn same_impossible(a: Option<Impossible>, b: Option<Impossible>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.timestamp == b.timestamp && same(&[a.value], &[b.value]),
        (None, None) => true,
        _ => false,
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
        // Negative values, and impossible ones before the window that must
        // not count.
        vec![(540, f64::NAN), (600, 1.0), (660, -2.0), (720, f64::NAN)],
        vec![(780, -0.0), (720, f64::INFINITY), (660, -1.0), (540, -9.0)],
        vec![(600, f64::from_bits(1)), (660, -f64::from_bits(1))],
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
        for (kind, range) in [
            (SeriesKind::Counter, Range::NonNegative),
            (SeriesKind::Gauge, Range::Finite),
            (SeriesKind::Gauge, Range::NonNegative),
        ] {
            let aligned = align(
                &series(points.clone()),
                (kind, range),
                start,
                period,
                periods,
            );
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
            let impossible = first_impossible(&points, range, start, period, periods);
            assert!(
                same_impossible(aligned.impossible, impossible),
                "{points:?} {range:?}: {:?} != {impossible:?}",
                aligned.impossible
            );
        }
    }
}

#[test]
fn extreme_timestamps_are_dropped_not_wrapped() {
    let points = vec![(i64::MIN, 1.0), (i64::MAX, 2.0), (600, 3.0)];
    let aligned = align(
        &series(points),
        (SeriesKind::Gauge, Range::Finite),
        600,
        60,
        2,
    );
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
                        let value = match k % 6 {
                            3 => f64::NAN,
                            4 => f64::NEG_INFINITY,
                            5 => -(k as f64),
                            _ => k as f64,
                        };
                        (start + (first_slot + k) * period, value)
                    })
                    .collect();
                for range in [Range::Finite, Range::NonNegative] {
                    // Each appended after another column, which must stay as it was.
                    let earlier = vec![1.5, f64::NAN];
                    let mut copied = earlier.clone();
                    let copied_counts =
                        copy_contiguous(&points, range, start, period, periods, &mut copied)
                            .unwrap_or_else(|| panic!("{points:?} is contiguous"));
                    let mut general = earlier.clone();
                    let general_counts =
                        align_anywhere(&points, range, start, period, periods, &mut general);
                    assert!(
                        same(&copied, &general),
                        "{points:?}: {copied:?} != {general:?}"
                    );
                    assert_eq!(copied_counts, general_counts, "{points:?} {range:?}");
                    let impossible = first_impossible(&points, range, start, period, periods);
                    assert_eq!(copied_counts.suspect, impossible.is_some(), "{points:?}");
                    assert_eq!(copied.len(), earlier.len() + periods);
                    assert!(same(&copied[..2], &earlier));
                }
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
                copy_contiguous(&points, Range::Finite, 6000, 60, 5, &mut Vec::new()).is_none(),
                "{points:?} is not contiguous"
            );
        }
    }
}

#[test]
fn the_contiguous_copy_reads_a_sign_bit_as_the_general_path_does() {
    // The copy proves "none negative" from an or of the values' bits, and
    // looks again only when a sign bit is set: -0 (zero) and a NaN with its
    // sign bit set carry one without being negative; -1 and -inf are.
    let (start, period, periods) = (6000, 60, 6);
    let signed_nan = f64::from_bits(f64::NAN.to_bits() | 1 << 63);
    for odd in [
        -0.0,
        signed_nan,
        -1.0,
        f64::NEG_INFINITY,
        f64::INFINITY,
        2.0,
    ] {
        for at in 0..periods {
            let points: Vec<(i64, f64)> = (0..periods)
                .map(|k| {
                    let value = if k == at { odd } else { 3.0 + k as f64 };
                    (start + k as i64 * period, value)
                })
                .collect();
            for range in [Range::Finite, Range::NonNegative] {
                let mut copied = Vec::new();
                let copied_counts =
                    copy_contiguous(&points, range, start, period, periods, &mut copied)
                        .unwrap_or_else(|| panic!("{points:?} is contiguous"));
                let mut general = Vec::new();
                let general_counts =
                    align_anywhere(&points, range, start, period, periods, &mut general);
                assert!(same(&copied, &general), "{copied:?} != {general:?}");
                assert_eq!(copied_counts, general_counts, "{odd:?} {range:?}");
                let impossible = first_impossible(&points, range, start, period, periods);
                assert_eq!(copied_counts.suspect, impossible.is_some(), "{odd:?}");
            }
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
