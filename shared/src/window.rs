//! Which periods a gate judges, given "now".
//!
//! CloudWatch keeps filling the newest period for a while after it ends, so a
//! window that ends at "now" would judge a half-counted minute: too few requests,
//! a p95 of a handful of samples. The window therefore ends `ingestion_lag`
//! before now, rounded down to a period boundary, and every gate judges whole,
//! settled periods only.

use crate::policy::ThresholdCheck;
pub use crate::vocab::TimeRange;

/// The settled window a threshold gate judges at `now`.
pub fn gate_window(check: &ThresholdCheck, now: i64, ingestion_lag_secs: i64) -> TimeRange {
    let period = check.period_secs.max(1);
    let end = (now - ingestion_lag_secs).div_euclid(period) * period;
    TimeRange {
        start: end - check.window_secs,
        end,
    }
}

/// The start of every period in a gate's window, oldest first.
pub fn period_starts(range: TimeRange, period_secs: i64) -> impl Iterator<Item = i64> {
    (range.start..range.end).step_by(period_secs.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Comparison, MissingData, Signal, Threshold, ThresholdUnit};
    use crate::policy::{MetricQuery, SeriesKind};

    fn check(period: i64, window: i64) -> ThresholdCheck {
        ThresholdCheck {
            signal: Signal::Metric(MetricQuery {
                namespace: "N".into(),
                metric_name: "M".into(),
                dimensions: vec![],
                stat: "Sum".into(),
                period_secs: period,
                kind: SeriesKind::Counter,
            }),
            comparison: Comparison::GreaterThan,
            threshold: Threshold {
                value: 1.0,
                unit: ThresholdUnit::Plain,
            },
            window_secs: window,
            period_secs: period,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            missing_data: MissingData::Inconclusive,
            min_sample: None,
            baseline: None,
        }
    }

    #[test]
    fn window_skips_the_still_filling_period() {
        // 12:07:30 with a 2-minute lag: the newest settled period ends at 12:05.
        let now = 12 * 3600 + 7 * 60 + 30;
        let range = gate_window(&check(60, 300), now, 120);
        assert_eq!(range.end, 12 * 3600 + 5 * 60);
        assert_eq!(range.start, 12 * 3600);
        assert_eq!(period_starts(range, 60).count(), 5);
    }

    #[test]
    fn a_zero_lag_still_excludes_the_current_period() {
        let now = 12 * 3600 + 7 * 60 + 30;
        let range = gate_window(&check(60, 120), now, 0);
        assert_eq!(range.end, 12 * 3600 + 7 * 60);
        assert!(!range.contains(12 * 3600 + 7 * 60));
    }
}
