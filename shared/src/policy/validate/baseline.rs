//! What a threshold gate compares the canary with: the baseline's source
//! (`live`, `{ history: … }`, `before_deployment`, `default`), its rule (a
//! threshold relative to it, or `pass_if_not_worse_than`) and its signal; and,
//! for a gate without one, the refusal of everything that needs one. Also the
//! one parser of bounds relative to a baseline (`1.4 x baseline`,
//! `baseline + 0.5pp`). The statistical test that judges the two is read by
//! [`super::statistics`].

use super::metrics::Defaults;
use super::scalars::describe;
use super::statistics::RawTest;
use super::Validator;
use crate::policy::raw::{Location, RawBaseline, RawBaselineSpec, RawGate, RawMinSample};
use crate::policy::raw::{RawQuery, RawRatio, RawScalar, Spanned};
use crate::policy::reference::cloudwatch_retention;
use crate::policy::{
    BaselineCheck, BaselineRule, BaselineSource, Comparison, DeploymentStart, MinSample,
    RelativeBound, Signal,
};

/// How far back `baseline: default` looks once the old version has stopped
/// serving: the same hour a week earlier, which keeps the daily and weekly
/// traffic pattern.
const DEFAULT_HISTORY_SECS: i64 = 7 * 86_400;

/// A threshold gate's signal and sample as written: a live baseline reads
/// them again for its own side.
pub(super) struct WrittenSignal {
    metric: Option<Spanned<RawQuery>>,
    ratio: Option<Spanned<RawRatio>>,
    min_sample: Option<Spanned<RawMinSample>>,
}

/// A threshold gate's baseline options, taken out of the gate before its
/// canary signal is read.
pub(super) struct BaselineOptions {
    /// `baseline`, with the signal it is built from.
    pub(super) baseline: Option<(Spanned<RawBaseline>, WrittenSignal)>,
    /// `pass_if_not_worse_than`.
    pub(super) not_worse: Option<Spanned<RawScalar>>,
    /// The statistical test's fields.
    pub(super) test: RawTest,
    /// `weight`.
    pub(super) weight: Option<Spanned<f64>>,
}

impl BaselineOptions {
    pub(super) fn take(raw: &mut RawGate) -> BaselineOptions {
        let baseline = raw.baseline.take().map(|b| {
            let written = WrittenSignal {
                metric: raw.metric.clone(),
                ratio: raw.ratio.clone(),
                min_sample: raw.min_sample.clone(),
            };
            (b, written)
        });
        BaselineOptions {
            baseline,
            not_worse: raw.pass_if_not_worse_than.take(),
            test: RawTest::take(raw),
            weight: raw.weight.take(),
        }
    }
}

/// What a gate's baseline is built from.
pub(super) struct BaselineInputs<'a> {
    pub(super) written: WrittenSignal,
    pub(super) canary: &'a Signal,
    pub(super) canary_min: Option<&'a MinSample>,
    pub(super) relative: Option<RelativeBound>,
    pub(super) not_worse: Option<Spanned<RawScalar>>,
    pub(super) test: RawTest,
    pub(super) weight: f64,
    pub(super) comparison: Comparison,
    pub(super) window_secs: i64,
    pub(super) period_secs: i64,
}

/// A `threshold` that mentions the baseline: where it is written, and the
/// bound, or the text when it is not one.
pub(super) type RelativeThreshold = (Location, Result<RelativeBound, String>);

/// The gate's `threshold` read as a bound relative to the baseline, when it
/// mentions the baseline at all.
pub(super) fn relative_threshold(raw: Option<&Spanned<RawScalar>>) -> Option<RelativeThreshold> {
    raw.and_then(|t| match &t.value {
        RawScalar::Text(text) if text.contains("baseline") => {
            Some((t.defined, parse_relative(text).ok_or_else(|| text.clone())))
        }
        _ => None,
    })
}

impl Validator<'_> {
    pub(super) fn baseline(
        &mut self,
        raw: Spanned<RawBaseline>,
        inputs: BaselineInputs<'_>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<Box<BaselineCheck>> {
        let at = raw.defined;
        let field = format!("{path}.baseline");
        let source = self.baseline_source(raw, &field, inputs.window_secs, inputs.period_secs)?;
        let rule = self.baseline_rule(inputs.relative, inputs.not_worse, path, at)?;
        let (signal, min_sample) = match source {
            BaselineSource::History { .. } | BaselineSource::BeforeDeployment(_) => {
                (inputs.canary.clone(), inputs.canary_min.cloned())
            }
            BaselineSource::Live => {
                self.live_signal(inputs.written, inputs.period_secs, path, defaults)
            }
        };
        if source == BaselineSource::Live && signal == *inputs.canary {
            self.problem(at, &field, "the live baseline would be the same series as the canary: write the dimensions that tell them apart as `${canary.target_group}` (discovered, or set TARGET_GROUP and BASELINE_TARGET_GROUP)");
        }
        let test = self.baseline_test(inputs.test, &signal, rule, inputs.comparison, path)?;
        Some(Box::new(BaselineCheck {
            source,
            signal,
            min_sample,
            rule,
            test,
            weight: inputs.weight,
        }))
    }

    /// Where the baseline's values come from.
    fn baseline_source(
        &mut self,
        raw: Spanned<RawBaseline>,
        field: &str,
        window_secs: i64,
        period_secs: i64,
    ) -> Option<BaselineSource> {
        let at = raw.defined;
        let source = match raw.value {
            RawBaseline::Name(name) if name == "live" => BaselineSource::Live,
            RawBaseline::Name(name) if name == "before_deployment" => {
                BaselineSource::BeforeDeployment(DeploymentStart::Unbound)
            }
            // The baseline that fits the hook's moment: the old version while
            // it still serves production, the metric's own history after.
            RawBaseline::Name(name) if name == "default" => match self.hook {
                Some(hook) if hook.before_production_moves() => BaselineSource::Live,
                _ => BaselineSource::History {
                    offset_secs: DEFAULT_HISTORY_SECS,
                },
            },
            RawBaseline::Name(other) => {
                self.problem(at, field, format!("expected `live` (the version being replaced, same window), `{{ history: 7d }}` (this metric, the same window that long ago), `before_deployment` (this metric, the window before the deployment began) or `default` (live before traffic shifts, 7 days of history after), found {other:?}"));
                return None;
            }
            RawBaseline::Spec(spec) => self.history(spec, field, window_secs, period_secs),
        };
        Some(source)
    }

    /// `{ history: 7d }`: at least a window back, and not past CloudWatch's
    /// retention for the period.
    fn history(
        &mut self,
        spec: RawBaselineSpec,
        field: &str,
        window_secs: i64,
        period_secs: i64,
    ) -> BaselineSource {
        let offset_secs = self.duration(&spec.history, &format!("{field}.history"), false);
        if offset_secs < window_secs {
            self.problem(spec.history.defined, format!("{field}.history"), format!("must reach back at least one window ({window_secs}s), or the baseline overlaps the canary's own window"));
        }
        // CloudWatch's retention by period: finer data ages out sooner.
        let (kept, kept_text) = cloudwatch_retention(period_secs);
        if offset_secs + window_secs > kept {
            self.problem(spec.history.defined, format!("{field}.history"), format!("CloudWatch keeps data for {kept_text}: a baseline {offset_secs}s back is gone; use a longer period or a shorter history"));
        }
        BaselineSource::History { offset_secs }
    }

    /// How the canary is held to the baseline: a relative threshold, or an
    /// absolute one with `pass_if_not_worse_than`; exactly one of the two.
    fn baseline_rule(
        &mut self,
        relative: Option<RelativeBound>,
        not_worse: Option<Spanned<RawScalar>>,
        path: &str,
        at: Location,
    ) -> Option<BaselineRule> {
        let rule = match (relative, not_worse) {
            (Some(bound), None) => BaselineRule::Relative(bound),
            (None, Some(raw_bound)) => match &raw_bound.value {
                RawScalar::Text(text) if parse_relative(text).is_some() => {
                    BaselineRule::PassIfNotWorseThan(parse_relative(text)?)
                }
                other => {
                    self.problem(raw_bound.defined, format!("{path}.pass_if_not_worse_than"), format!("expected a bound relative to the baseline such as `baseline`, `1.1 x baseline` or `baseline + 0.2pp`, found {}", describe(other)));
                    return None;
                }
            },
            (Some(_), Some(raw_bound)) => {
                self.problem(raw_bound.defined, format!("{path}.pass_if_not_worse_than"), "applies to an absolute threshold only: a threshold relative to the baseline already compares with it");
                return None;
            }
            (None, None) => {
                self.problem(at, format!("{path}.threshold"), "with `baseline`, write the threshold relative to it (`1.4 x baseline`, `baseline + 0.5pp`), or keep an absolute threshold and add `pass_if_not_worse_than: baseline`");
                return None;
            }
        };
        Some(rule)
    }

    /// The canary's signal and sample read again for the live baseline's side.
    fn live_signal(
        &mut self,
        written: WrittenSignal,
        period: i64,
        path: &str,
        defaults: &Defaults,
    ) -> (Signal, Option<MinSample>) {
        let WrittenSignal {
            metric,
            ratio,
            min_sample,
        } = written;
        self.as_baseline(|v| {
            let signal = v.signal(metric, ratio, path, defaults, period);
            let min = min_sample.and_then(|m| v.min_sample(m, &signal, path, defaults, period));
            (signal, min)
        })
    }

    /// A gate without `baseline`: everything that compares with one is refused.
    pub(super) fn without_baseline(
        &mut self,
        relative: bool,
        not_worse: Option<Spanned<RawScalar>>,
        test: &RawTest,
        path: &str,
        at: Location,
    ) {
        if relative {
            self.problem(at, format!("{path}.threshold"), "a threshold relative to the baseline needs `baseline: live` or `baseline: {{ history: 7d }}`");
        }
        if let Some(n) = &not_worse {
            self.problem(
                n.defined,
                format!("{path}.pass_if_not_worse_than"),
                "needs `baseline`: what the canary is compared with",
            );
        }
        self.test_without_baseline(test, path);
    }
}

/// `1.4 x baseline`, `baseline * 1.4`, `baseline + 0.5pp`, `baseline - 0.1`, `baseline`.
pub(super) fn parse_relative(text: &str) -> Option<RelativeBound> {
    let compact: String = text.split_whitespace().collect::<Vec<_>>().join("");
    let number = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    if compact == "baseline" {
        return Some(RelativeBound::Factor(1.0));
    }
    if let Some(factor) = compact
        .strip_suffix("baseline")
        .and_then(|f| f.strip_suffix(['x', '*', '\u{d7}']))
        .or_else(|| {
            compact
                .strip_prefix("baseline")
                .and_then(|f| f.strip_prefix(['x', '*', '\u{d7}']))
        })
    {
        return number(factor)
            .filter(|f| *f > 0.0)
            .map(RelativeBound::Factor);
    }
    let rest = compact.strip_prefix("baseline")?;
    let (sign, rest) = match rest.chars().next()? {
        '+' => (1.0, &rest[1..]),
        '-' => (-1.0, &rest[1..]),
        _ => return None,
    };
    let (digits, percentage_points) =
        match rest.strip_suffix("pp").or_else(|| rest.strip_suffix('%')) {
            Some(d) => (d, true),
            None => (rest, false),
        };
    let value = number(digits)? * sign;
    Some(RelativeBound::Offset {
        value: if percentage_points {
            value / 100.0
        } else {
            value
        },
        percentage_points,
    })
}
