//! Column arithmetic: a gate's signal per period from its queries' columns
//! (one metric, or a ratio of sums), and the sum of a column's values. Whole
//! slices at a time, in loops the compiler vectorises; NaN stands for "no
//! value" and propagates through a sum or a ratio the way a missing term does.

use crate::policy::{MetricQuery, Signal};
use std::borrow::Cow;

/// The signal per period, NaN where it has no value (a term missing, 0/0,
/// a non-finite ratio). A single metric is its aligned column, not a copy.
pub(super) fn signal_values<'a>(
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
pub(super) fn sum_columns<'a>(mut columns: impl Iterator<Item = &'a [f64]>) -> Cow<'a, [f64]> {
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
pub(super) fn sum_present(values: &[f64]) -> f64 {
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
