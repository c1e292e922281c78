//! A threshold gate: its window and period, the comparison and threshold,
//! CloudWatch's M of N (`evaluation_periods`, `datapoints_to_alarm`,
//! `missing_data`) and the minimum sample. What the canary is compared with
//! when the gate has a `baseline` is read by [`super::baseline`]; the signal's
//! queries by [`super::metrics`].

use super::baseline::{parse_relative, BaselineInputs};
use super::metrics::Defaults;
use super::scalars::describe;
use super::Validator;
use crate::policy::raw::{Location, RawGate, RawScalar, Spanned};
use crate::policy::{
    Comparison, MinSample, MissingData, Signal, Threshold, ThresholdCheck, ThresholdUnit,
};

/// One day of minutes: more datapoints per gate than this is a policy mistake.
const MAX_DATAPOINTS_PER_GATE: i64 = 1440;
impl Validator<'_> {
    pub(super) fn threshold_check(
        &mut self,
        raw: RawGate,
        path: &str,
        at: Location,
        defaults: &Defaults,
    ) -> Option<ThresholdCheck> {
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
        let mut raw = raw;
        let baseline_raw = raw.baseline.take();
        let not_worse_raw = raw.pass_if_not_worse_than.take();
        let test_raw = (
            raw.test.take(),
            raw.alpha.take(),
            raw.direction.take(),
            raw.nan_strategy.take(),
        );
        let weight_raw = raw.weight.take();
        let baseline_inputs = baseline_raw.as_ref().map(|_| {
            (
                raw.metric.clone(),
                raw.ratio.clone(),
                raw.min_sample.clone(),
            )
        });
        let signal = self.signal(raw.metric, raw.ratio, path, defaults, period_secs);
        let comparison = match &raw.comparison {
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
        };
        let relative = raw.threshold.as_ref().and_then(|t| match &t.value {
            RawScalar::Text(text) if text.contains("baseline") => Some((
                t.referenced,
                parse_relative(text).ok_or_else(|| text.clone()),
            )),
            _ => None,
        });
        let threshold = match (&raw.threshold, &relative) {
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
        };
        let evaluation_periods = match &raw.evaluation_periods {
            None => periods_in_window.max(1) as usize,
            Some(n) => {
                if n.value == 0 || i64::from(n.value) > periods_in_window {
                    self.problem(n.referenced, format!("{path}.evaluation_periods"), format!("must be between 1 and the {periods_in_window} periods in the window, found {}", n.value));
                }
                n.value as usize
            }
        };
        let datapoints_to_alarm = match &raw.datapoints_to_alarm {
            None => evaluation_periods,
            Some(m) => {
                if m.value == 0 || m.value as usize > evaluation_periods {
                    self.problem(m.referenced, format!("{path}.datapoints_to_alarm"), format!("must be between 1 and evaluation_periods ({evaluation_periods}), found {}", m.value));
                }
                m.value as usize
            }
        };
        let missing_data = match &raw.missing_data {
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
        };
        let min_sample = raw
            .min_sample
            .and_then(|m| self.min_sample(m, &signal, path, defaults, period_secs));
        let weight = match &weight_raw {
            None => 1.0,
            Some(w) => {
                if !(w.value.is_finite() && w.value > 0.0) {
                    self.problem(
                        w.referenced,
                        format!("{path}.weight"),
                        format!("a positive number, found {}", w.value),
                    );
                }
                if test_raw.0.is_none() {
                    self.problem(w.referenced, format!("{path}.weight"), "weighs a statistically tested gate in the hook's `canary_score`: add `baseline` and `test`");
                }
                w.value
            }
        };
        let baseline = match (baseline_raw, baseline_inputs) {
            (Some(b), Some((metric, ratio, min_raw))) => self.baseline(
                b,
                BaselineInputs {
                    metric,
                    ratio,
                    min_raw,
                    canary: &signal,
                    canary_min: min_sample.as_ref(),
                    relative: relative.as_ref().and_then(|(_, r)| r.clone().ok()),
                    not_worse: not_worse_raw,
                    test: test_raw,
                    weight,
                    comparison,
                    window_secs,
                    period_secs,
                },
                path,
                defaults,
            ),
            _ => {
                if relative.is_some() {
                    self.problem(at, format!("{path}.threshold"), "a threshold relative to the baseline needs `baseline: live` or `baseline: {{ history: 7d }}`");
                }
                if let Some(n) = &not_worse_raw {
                    self.problem(
                        n.referenced,
                        format!("{path}.pass_if_not_worse_than"),
                        "needs `baseline`: what the canary is compared with",
                    );
                }
                let (test, alpha, direction, nan_strategy) = &test_raw;
                for (field, at) in [
                    ("test", test.as_ref().map(|t| t.referenced)),
                    ("alpha", alpha.as_ref().map(|a| a.referenced)),
                    ("direction", direction.as_ref().map(|d| d.referenced)),
                    ("nan_strategy", nan_strategy.as_ref().map(|n| n.referenced)),
                ] {
                    if let Some(at) = at {
                        self.problem(
                            at,
                            format!("{path}.{field}"),
                            "needs `baseline`: a statistical test compares the canary with it",
                        );
                    }
                }
                None
            }
        };
        Some(ThresholdCheck {
            baseline,
            signal,
            comparison,
            threshold,
            window_secs,
            period_secs,
            evaluation_periods,
            datapoints_to_alarm,
            missing_data,
            min_sample,
        })
    }

    pub(super) fn min_sample(
        &mut self,
        m: Spanned<crate::policy::raw::RawMinSample>,
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
