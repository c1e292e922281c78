//! CloudWatch metric queries: `metric_defaults`, a gate's signal (one metric
//! or a ratio of sums), each query's namespace, name, statistic, dimensions
//! and series kind, and the periods CloudWatch accepts. A live baseline's
//! queries are these same queries read for the baseline side (see
//! [`Validator::as_baseline`]).

use super::Validator;
use crate::policy::limits::{MAX_CLOUDWATCH_NAME_CHARS, MAX_DIMENSION_VALUE_CHARS};
use crate::policy::raw::{Location, RawMetricDefaults, RawQuery, RawRatio, RawScalar, Spanned};
use crate::policy::{MetricQuery, SeriesKind, Signal};
use crate::vocab::Side;
use std::collections::BTreeMap;

const DEFAULT_PERIOD_SECS: i64 = 60;
const DEFAULT_WINDOW_SECS: i64 = 300;

/// Inherited values for the queries and gates of the whole file.
pub(super) struct Defaults {
    namespace: Option<String>,
    dimensions: Vec<(String, String)>,
    /// The same dimensions resolved for the baseline side.
    baseline_dimensions: Vec<(String, String)>,
    pub(super) period_secs: i64,
    pub(super) window_secs: i64,
}

impl Validator<'_> {
    pub(super) fn defaults(&mut self, raw: RawMetricDefaults) -> Defaults {
        let namespace = raw
            .namespace
            .map(|n| self.namespace(&n, "metric_defaults.namespace"));
        let baseline_dimensions = match &raw.dimensions {
            Some(d) => self.as_baseline(|v| v.dimensions(d.clone(), "metric_defaults.dimensions")),
            None => Vec::new(),
        };
        let dimensions = raw
            .dimensions
            .map(|d| self.dimensions(d, "metric_defaults.dimensions"))
            .unwrap_or_default();
        let period_secs = raw
            .period
            .map(|p| self.period(&p, "metric_defaults.period"))
            .unwrap_or(DEFAULT_PERIOD_SECS);
        let window_secs = raw
            .window
            .map(|w| self.duration(&w, "metric_defaults.window", false))
            .unwrap_or(DEFAULT_WINDOW_SECS);
        Defaults {
            namespace,
            dimensions,
            baseline_dimensions,
            period_secs,
            window_secs,
        }
    }

    pub(super) fn signal(
        &mut self,
        metric: Option<Spanned<RawQuery>>,
        ratio: Option<Spanned<RawRatio>>,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> Signal {
        match (metric, ratio) {
            (Some(metric), None) => {
                Signal::Metric(self.query(metric, &format!("{path}.metric"), defaults, period_secs))
            }
            (None, Some(ratio)) => {
                let ratio_at = ratio.defined;
                let ratio = ratio.value;
                let numerator = self.queries(
                    ratio.numerator,
                    &format!("{path}.ratio.numerator"),
                    defaults,
                    period_secs,
                );
                let denominator = self.queries(
                    ratio.denominator,
                    &format!("{path}.ratio.denominator"),
                    defaults,
                    period_secs,
                );
                if numerator.is_empty() || denominator.is_empty() {
                    self.problem(
                        ratio_at,
                        format!("{path}.ratio"),
                        "both `numerator` and `denominator` need at least one metric",
                    );
                }
                Signal::Ratio {
                    numerator,
                    denominator,
                }
            }
            _ => unreachable!("exactly one source was checked by the caller"),
        }
    }

    fn queries(
        &mut self,
        raw: Vec<Spanned<RawQuery>>,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> Vec<MetricQuery> {
        raw.into_iter()
            .enumerate()
            .map(|(i, q)| self.query(q, &format!("{path}[{i}]"), defaults, period_secs))
            .collect()
    }

    pub(super) fn query(
        &mut self,
        raw: Spanned<RawQuery>,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> MetricQuery {
        let at = raw.defined;
        let raw = raw.value;
        let namespace = match &raw.namespace {
            Some(n) => self.namespace(n, &format!("{path}.namespace")),
            None => defaults.namespace.clone().unwrap_or_else(|| {
                self.problem(
                    at,
                    format!("{path}.namespace"),
                    "missing, and `metric_defaults.namespace` is not set",
                );
                String::new()
            }),
        };
        let metric_name = self.text(&raw.name, &format!("{path}.name"));
        if metric_name.is_empty() {
            self.problem(
                raw.name.defined,
                format!("{path}.name"),
                "must not be empty",
            );
        }
        self.cloudwatch_name(
            &raw.name,
            &metric_name,
            &format!("{path}.name"),
            MAX_CLOUDWATCH_NAME_CHARS,
        );
        let stat = raw.stat.value.clone();
        let stat_kind = stat_kind(&stat);
        if stat_kind.is_none() {
            self.problem(raw.stat.defined, format!("{path}.stat"), format!("unknown statistic {stat:?}; expected Sum, Average, Minimum, Maximum, SampleCount, or a percentile such as p95 or p99.9"));
        }
        let dimensions = match raw.dimensions {
            Some(d) => self.dimensions(d, &format!("{path}.dimensions")),
            None if self.side == Side::Baseline => defaults.baseline_dimensions.clone(),
            None => defaults.dimensions.clone(),
        };
        let kind = self.series_kind(raw.kind.as_ref(), stat_kind, path);
        MetricQuery {
            namespace,
            metric_name,
            dimensions,
            stat,
            period_secs,
            kind,
        }
    }

    /// `kind` as written, else what the statistic implies (a gauge when unknown).
    fn series_kind(
        &mut self,
        raw: Option<&Spanned<String>>,
        stat_kind: Option<SeriesKind>,
        path: &str,
    ) -> SeriesKind {
        match raw {
            None => stat_kind.unwrap_or(SeriesKind::Gauge),
            Some(k) => match k.value.as_str() {
                "counter" => SeriesKind::Counter,
                "gauge" => SeriesKind::Gauge,
                other => {
                    self.problem(
                        k.defined,
                        format!("{path}.kind"),
                        format!("expected `counter` or `gauge`, found {other:?}"),
                    );
                    SeriesKind::Gauge
                }
            },
        }
    }

    /// Literal names, values with `${VAR}` and `${canary.KEY}` resolved.
    fn dimensions(
        &mut self,
        raw: BTreeMap<String, Spanned<String>>,
        path: &str,
    ) -> Vec<(String, String)> {
        if raw.len() > 30 {
            self.problem(
                Location::UNKNOWN,
                path,
                "CloudWatch allows at most 30 dimensions per metric",
            );
        }
        raw.into_iter()
            .map(|(name, value)| {
                if name.contains("${") || name.trim().is_empty() {
                    self.problem(value.defined, format!("{path}.{name}"), "a dimension name is literal and must not be empty: `${VAR}` is resolved in values only");
                } else if name.chars().count() > MAX_CLOUDWATCH_NAME_CHARS || name.chars().any(char::is_control) {
                    let literal = Spanned { value: name.clone(), referenced: value.defined, defined: value.defined };
                    self.cloudwatch_name(&literal, &name, &format!("{path}.{name}"), MAX_CLOUDWATCH_NAME_CHARS);
                }
                self.in_dimension = true;
                let before = self.problems.len();
                let resolved = self.text(&value, &format!("{path}.{name}"));
                self.in_dimension = false;
                // Empty because a reference in it was refused: said already.
                if resolved.is_empty() && self.problems.len() == before {
                    self.problem(
                        value.defined,
                        format!("{path}.{name}"),
                        "a dimension value must not be empty",
                    );
                }
                self.cloudwatch_name(&value, &resolved, &format!("{path}.{name}"), MAX_DIMENSION_VALUE_CHARS);
                (name, resolved)
            })
            .collect()
    }

    /// A namespace: not empty, and as CloudWatch takes it.
    fn namespace(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let text = self.text(raw, path);
        if text.trim().is_empty() {
            self.problem(
                raw.defined,
                path,
                "must not be empty: name the metrics' namespace, e.g. `AWS/ApplicationELB`",
            );
        } else {
            self.cloudwatch_name(raw, &text, path, MAX_CLOUDWATCH_NAME_CHARS);
        }
        text
    }

    pub(super) fn period(&mut self, raw: &Spanned<RawScalar>, path: &str) -> i64 {
        let secs = self.duration(raw, path, false);
        if secs > 0 && !(matches!(secs, 1 | 5 | 10 | 30) || secs % 60 == 0) {
            self.problem(raw.defined, path, format!("CloudWatch periods are 1, 5, 10, 30 or a multiple of 60 seconds, found {secs}s"));
        }
        secs
    }
}

/// The series kind a statistic implies, or `None` for an unknown statistic.
fn stat_kind(stat: &str) -> Option<SeriesKind> {
    match stat {
        "Sum" | "SampleCount" => Some(SeriesKind::Counter),
        "Average" | "Minimum" | "Maximum" => Some(SeriesKind::Gauge),
        _ => {
            let p = stat.strip_prefix('p')?;
            let (whole, frac) = p.split_once('.').unwrap_or((p, ""));
            let digits_ok = !whole.is_empty()
                && whole.len() <= 3
                && whole.chars().all(|c| c.is_ascii_digit())
                && frac.len() <= 2
                && frac.chars().all(|c| c.is_ascii_digit())
                && !(p.contains('.') && frac.is_empty());
            let value: f64 = p.parse().ok()?;
            (digits_ok && value > 0.0 && value <= 100.0).then_some(SeriesKind::Gauge)
        }
    }
}
