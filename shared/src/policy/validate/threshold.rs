//! A threshold gate: its window and period, the comparison and threshold,
//! CloudWatch's M of N (`evaluation_periods`, `datapoints_to_alarm`,
//! `missing_data`) and the minimum sample. What the canary is compared with
//! when the gate has a `baseline` is read by [`super::baseline`]; the signal's
//! queries by [`super::metrics`].

use super::baseline::{relative_threshold, BaselineInputs, BaselineOptions, RelativeThreshold};
use super::metrics::Defaults;
use super::scalars::describe;
use super::Validator;
use crate::policy::raw::{Location, RawGate, RawMinSample, RawScalar, Spanned};
use crate::policy::{
    Comparison, MinSample, MissingData, Signal, Threshold, ThresholdCheck, ThresholdUnit,
};

/// One day of minutes: more datapoints per gate than this is a policy mistake.
const MAX_DATAPOINTS_PER_GATE: i64 = 1440;

/// A threshold gate's time frame.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The period of every query.
    period_secs: i64,
    /// How far back the gate looks.
    window_secs: i64,
    /// How many whole periods the window holds (0 when the period is invalid).
    periods: i64,
}

impl Validator<'_> {
    /// A `metric` or `ratio` gate, read field by field in the order its
    /// problems have always been found: window, signal, comparison,
    /// threshold, M of N, sample, then the baseline.
    pub(super) fn threshold_check(
        &mut self,
        mut raw: RawGate,
        path: &str,
        at: Location,
        defaults: &Defaults,
    ) -> Option<ThresholdCheck> {
        let window = self.window(&raw, path, at, defaults);
        let options = BaselineOptions::take(&mut raw);
        let signal = self.signal(raw.metric, raw.ratio, path, defaults, window.period_secs);
        let comparison = self.comparison(raw.comparison.as_ref(), path, at);
        let relative = relative_threshold(raw.threshold.as_ref());
        let threshold = self.threshold_value(raw.threshold.as_ref(), relative.as_ref(), path, at);
        let evaluation_periods =
            self.evaluation_periods(raw.evaluation_periods.as_ref(), window.periods, path);
        let datapoints_to_alarm =
            self.datapoints_to_alarm(raw.datapoints_to_alarm.as_ref(), evaluation_periods, path);
        let missing_data = self.missing_data(raw.missing_data.as_ref(), path);
        let min_sample = raw
            .min_sample
            .and_then(|m| self.min_sample(m, &signal, path, defaults, window.period_secs));
        let weight = self.weight(options.weight.as_ref(), &options.test, path);
        let baseline = match options.baseline {
            Some((raw_baseline, written)) => self.baseline(
                raw_baseline,
                BaselineInputs {
                    written,
                    canary: &signal,
                    canary_min: min_sample.as_ref(),
                    relative: relative.as_ref().and_then(|(_, r)| r.clone().ok()),
                    not_worse: options.not_worse,
                    test: options.test,
                    weight,
                    comparison,
                    window_secs: window.window_secs,
                    period_secs: window.period_secs,
                },
                path,
                defaults,
            ),
            None => {
                let relative = relative.is_some();
                self.without_baseline(relative, options.not_worse, &options.test, path, at);
                None
            }
        };
        Some(ThresholdCheck {
            baseline,
            signal,
            comparison,
            threshold,
            window_secs: window.window_secs,
            period_secs: window.period_secs,
            evaluation_periods,
            datapoints_to_alarm,
            missing_data,
            min_sample,
        })
    }

    /// The gate's period and window (the defaults' when absent); the window
    /// must hold a whole number of periods, and not too many.
    fn window(&mut self, raw: &RawGate, path: &str, at: Location, defaults: &Defaults) -> Window {
        let period_secs = raw
            .period
            .as_ref()
            .map(|p| self.period(p, &format!("{path}.period")))
            .unwrap_or(defaults.period_secs);
        let window_secs = match &raw.window {
            Some(w) => self.duration(w, &format!("{path}.window"), false),
            None => defaults.window_secs,
        };
        let window_at = raw.window.as_ref().map(|w| w.referenced).unwrap_or(at);
        if period_secs > 0 && window_secs % period_secs != 0 {
            self.problem(window_at, format!("{path}.window"), format!("the window ({window_secs}s) must be a whole number of periods ({period_secs}s)"));
        }
        let periods_in_window = if period_secs > 0 {
            window_secs / period_secs
        } else {
            0
        };
        if periods_in_window > MAX_DATAPOINTS_PER_GATE {
            self.problem(window_at, format!("{path}.window"), format!("{periods_in_window} periods in one window; at most {MAX_DATAPOINTS_PER_GATE}: use a longer period"));
        }
        Window {
            period_secs,
            window_secs,
            periods: periods_in_window,
        }
    }

    fn comparison(
        &mut self,
        raw: Option<&Spanned<String>>,
        path: &str,
        at: Location,
    ) -> Comparison {
        match raw {
            None => {
                self.problem(
                    at,
                    format!("{path}.comparison"),
                    "missing: the direction that breaches, one of `>`, `>=`, `<`, `<=`",
                );
                Comparison::GreaterThan
            }
            Some(c) => match c.value.as_str() {
                ">" => Comparison::GreaterThan,
                ">=" => Comparison::GreaterThanOrEqual,
                "<" => Comparison::LessThan,
                "<=" => Comparison::LessThanOrEqual,
                other => {
                    self.problem(
                        c.referenced,
                        format!("{path}.comparison"),
                        format!("expected one of `>`, `>=`, `<`, `<=`, found {other:?}"),
                    );
                    Comparison::GreaterThan
                }
            },
        }
    }

    /// The gate's absolute threshold. A threshold relative to the baseline
    /// (`relative`, read from the same field) leaves a placeholder here: the
    /// baseline's rule carries the bound.
    fn threshold_value(
        &mut self,
        raw: Option<&Spanned<RawScalar>>,
        relative: Option<&RelativeThreshold>,
        path: &str,
        at: Location,
    ) -> Threshold {
        match (raw, relative) {
            (None, _) => {
                self.problem(
                    at,
                    format!("{path}.threshold"),
                    "missing: a number, or a percentage such as `1%`",
                );
                Threshold {
                    value: 0.0,
                    unit: ThresholdUnit::Plain,
                }
            }
            (Some(_), Some((t_at, bound))) => {
                if let Err(text) = bound {
                    self.problem(*t_at, format!("{path}.threshold"), format!("expected a bound relative to the baseline such as `1.4 x baseline`, `baseline + 0.5pp` or `baseline + 0.2`, found {text:?}"));
                }
                Threshold {
                    value: 0.0,
                    unit: ThresholdUnit::Plain,
                }
            }
            (Some(t), None) => self.threshold(t, &format!("{path}.threshold")),
        }
    }

    /// N, all the periods in the window by default.
    fn evaluation_periods(
        &mut self,
        raw: Option<&Spanned<u32>>,
        periods_in_window: i64,
        path: &str,
    ) -> usize {
        match raw {
            None => periods_in_window.max(1) as usize,
            Some(n) => {
                if n.value == 0 || i64::from(n.value) > periods_in_window {
                    self.problem(n.referenced, format!("{path}.evaluation_periods"), format!("must be between 1 and the {periods_in_window} periods in the window, found {}", n.value));
                }
                n.value as usize
            }
        }
    }

    /// M, all N by default.
    fn datapoints_to_alarm(
        &mut self,
        raw: Option<&Spanned<u32>>,
        evaluation_periods: usize,
        path: &str,
    ) -> usize {
        match raw {
            None => evaluation_periods,
            Some(m) => {
                if m.value == 0 || m.value as usize > evaluation_periods {
                    self.problem(m.referenced, format!("{path}.datapoints_to_alarm"), format!("must be between 1 and evaluation_periods ({evaluation_periods}), found {}", m.value));
                }
                m.value as usize
            }
        }
    }

    fn missing_data(&mut self, raw: Option<&Spanned<String>>, path: &str) -> MissingData {
        match raw {
            None => MissingData::Inconclusive,
            Some(m) => match m.value.as_str() {
                "breaching" => MissingData::Breaching,
                "not_breaching" => MissingData::NotBreaching,
                "ignore" => MissingData::Ignore,
                "inconclusive" => MissingData::Inconclusive,
                other => {
                    self.problem(m.referenced, format!("{path}.missing_data"), format!("expected one of `breaching`, `not_breaching`, `ignore`, `inconclusive`, found {other:?}"));
                    MissingData::Inconclusive
                }
            },
        }
    }

    /// The gate's `min_sample`: its own metric, or a ratio's one denominator.
    pub(super) fn min_sample(
        &mut self,
        m: Spanned<RawMinSample>,
        signal: &Signal,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> Option<MinSample> {
        let m_at = m.referenced;
        let m = m.value;
        if !m.at_least.value.is_finite() || m.at_least.value < 0.0 {
            self.problem(
                m.at_least.referenced,
                format!("{path}.min_sample.at_least"),
                "must be a finite number >= 0",
            );
        }
        let query = match (m.metric, signal) {
            (Some(q), _) => self.query(
                q,
                &format!("{path}.min_sample.metric"),
                defaults,
                period_secs,
            ),
            (None, Signal::Ratio { denominator, .. }) if denominator.len() == 1 => {
                denominator[0].clone()
            }
            (None, _) => {
                self.problem(m_at, format!("{path}.min_sample.metric"), "missing: name the metric that counts the sample (it defaults to the denominator only for a ratio with one denominator metric)");
                return None;
            }
        };
        Some(MinSample {
            query,
            at_least: m.at_least.value,
        })
    }

    /// A number, or a percentage (`1%`, stored as a fraction).
    fn threshold(&mut self, raw: &Spanned<RawScalar>, path: &str) -> Threshold {
        let parsed = match &raw.value {
            RawScalar::Number(n) => Some(Threshold {
                value: *n,
                unit: ThresholdUnit::Plain,
            }),
            RawScalar::Text(t) => t
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|n| Threshold {
                    value: n / 100.0,
                    unit: ThresholdUnit::Percent,
                }),
        };
        match parsed {
            Some(t) if t.value.is_finite() => t,
            _ => {
                self.problem(
                    raw.referenced,
                    path,
                    format!(
                        "expected a number or a percentage such as `1%`, found {}",
                        describe(&raw.value)
                    ),
                );
                Threshold {
                    value: 0.0,
                    unit: ThresholdUnit::Plain,
                }
            }
        }
    }
}
