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
    /// How many whole periods the window holds; `None` when the period or
    /// the window was refused, so nothing is held to a count nobody wrote.
    periods: Option<i64>,
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
        let before = self.problems.len();
        let comparison = self.comparison(raw.comparison.as_ref(), path, at);
        let relative = relative_threshold(raw.threshold.as_ref());
        let mut threshold =
            self.threshold_value(raw.threshold.as_ref(), relative.as_ref(), path, at);
        // A bare number on a time metric is in the metric's own unit, which
        // the records and gatectl then name (`> 1 s`, `worst 1.6 s`).
        if let (Signal::Metric(query), ThresholdUnit::Plain) = (&signal, threshold.unit) {
            threshold.unit = ThresholdUnit::of_metric(query);
        }
        // Whether both were read as written: only then is their pairing judged.
        let threshold_read = self.problems.len() == before;
        let evaluation_periods =
            self.evaluation_periods(raw.evaluation_periods.as_ref(), window.periods, path);
        let datapoints_to_alarm =
            self.datapoints_to_alarm(raw.datapoints_to_alarm.as_ref(), evaluation_periods, path);
        if relative.is_none() && threshold_read {
            self.reachable(
                &signal,
                comparison,
                threshold,
                raw.comparison.as_ref(),
                raw.threshold.as_ref(),
                path,
            );
        }
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
            // Refused when unknown: the policy is invalid, the value unused.
            evaluation_periods: evaluation_periods.unwrap_or(datapoints_to_alarm),
            datapoints_to_alarm,
            missing_data,
            min_sample,
        })
    }

    /// The gate's period and window (the defaults' when absent); the window
    /// must hold a whole number of periods, and not too many.
    fn window(&mut self, raw: &RawGate, path: &str, at: Location, defaults: &Defaults) -> Window {
        // A refused period or window is not divided into the other: its own
        // problem says what is wrong, and a count from a fallback value would
        // be a made-up follow-on error ("evaluation_periods (1)").
        let before = self.problems.len();
        let period_secs = raw
            .period
            .as_ref()
            .map(|p| self.period(p, &format!("{path}.period")))
            .unwrap_or(defaults.period_secs);
        let window_secs = match &raw.window {
            Some(w) => self.duration(w, &format!("{path}.window"), false),
            None => defaults.window_secs,
        };
        let read = self.problems.len() == before && period_secs > 0 && window_secs > 0;
        let window_at = raw.window.as_ref().map(|w| w.defined).unwrap_or(at);
        let mut periods = None;
        if read && window_secs % period_secs != 0 {
            self.problem(window_at, format!("{path}.window"), format!("the window ({window_secs}s) must be a whole number of periods ({period_secs}s)"));
        } else if read {
            let periods_in_window = window_secs / period_secs;
            if periods_in_window > MAX_DATAPOINTS_PER_GATE {
                self.problem(window_at, format!("{path}.window"), format!("{periods_in_window} periods in one window; at most {MAX_DATAPOINTS_PER_GATE}: use a longer period"));
            } else {
                periods = Some(periods_in_window);
            }
        }
        Window {
            period_secs,
            window_secs,
            periods,
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
                        c.defined,
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

    /// N, all the periods in the window by default; `None` when it cannot
    /// be known (the window was refused) or was refused itself.
    fn evaluation_periods(
        &mut self,
        raw: Option<&Spanned<u32>>,
        periods_in_window: Option<i64>,
        path: &str,
    ) -> Option<usize> {
        match (raw, periods_in_window) {
            (None, periods) => periods.map(|p| p.max(1) as usize),
            (Some(n), _) if n.value == 0 => {
                self.problem(
                    n.defined,
                    format!("{path}.evaluation_periods"),
                    "must be at least 1, found 0",
                );
                None
            }
            (Some(n), Some(periods)) if i64::from(n.value) > periods => {
                self.problem(
                    n.defined,
                    format!("{path}.evaluation_periods"),
                    format!(
                        "must be between 1 and the {periods} periods in the window, found {}",
                        n.value
                    ),
                );
                None
            }
            (Some(n), _) => Some(n.value as usize),
        }
    }

    /// M, all N by default. Held to N only when N is known: N's own
    /// problem is reported once, not again here.
    fn datapoints_to_alarm(
        &mut self,
        raw: Option<&Spanned<u32>>,
        evaluation_periods: Option<usize>,
        path: &str,
    ) -> usize {
        match (raw, evaluation_periods) {
            (None, n) => n.unwrap_or(1),
            (Some(m), _) if m.value == 0 => {
                self.problem(
                    m.defined,
                    format!("{path}.datapoints_to_alarm"),
                    "must be at least 1, found 0",
                );
                1
            }
            (Some(m), Some(n)) if m.value as usize > n => {
                self.problem(
                    m.defined,
                    format!("{path}.datapoints_to_alarm"),
                    format!(
                        "must be between 1 and evaluation_periods ({n}), found {}",
                        m.value
                    ),
                );
                m.value as usize
            }
            (Some(m), _) => m.value as usize,
        }
    }

    /// Refuses an absolute threshold that no value of the signal can be on
    /// the healthy side of (`> -5%` on a share: the gate can never pass), or
    /// that no value can breach (`< 0` on a share: it can never fail, and
    /// checks nothing). A ratio of sums and a percentage are never below 0.
    fn reachable(
        &mut self,
        signal: &Signal,
        comparison: Comparison,
        threshold: Threshold,
        written_comparison: Option<&Spanned<String>>,
        written: Option<&Spanned<RawScalar>>,
        path: &str,
    ) {
        let (Some(_), Some(written)) = (written_comparison, written) else {
            return;
        };
        let share =
            matches!(signal, Signal::Ratio { .. }) || threshold.unit == ThresholdUnit::Percent;
        if !share {
            return;
        }
        let t = threshold.value;
        let never = match comparison {
            Comparison::GreaterThan if t < 0.0 => Some("pass: every value breaches"),
            Comparison::GreaterThanOrEqual if t <= 0.0 => Some("pass: every value breaches"),
            Comparison::LessThan if t <= 0.0 => Some("fail: no value breaches"),
            Comparison::LessThanOrEqual if t < 0.0 => Some("fail: no value breaches"),
            _ => None,
        };
        if let Some(never) = never {
            self.problem(
                written.defined,
                format!("{path}.threshold"),
                format!(
                    "`{comparison} {}` can never {never}, as a share (a ratio or a percentage) is never below 0",
                    describe(&written.value).trim_matches('"')
                ),
            );
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
                    self.problem(m.defined, format!("{path}.missing_data"), format!("expected one of `breaching`, `not_breaching`, `ignore`, `inconclusive`, found {other:?}"));
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
        let m_at = m.defined;
        let m = m.value;
        if !m.at_least.value.is_finite() || m.at_least.value < 0.0 {
            self.problem(
                m.at_least.defined,
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
                    raw.defined,
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
