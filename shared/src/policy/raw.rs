//! The policy file as written: serde structs that mirror the YAML one to one.
//!
//! Nothing here is trusted. Every value a person could get wrong is kept with its
//! position (`Spanned`), so that [`super::validate`] can name the file, line and
//! field of each problem. Unknown keys are rejected here: a misspelt
//! `datapoints_to_alarm` silently falling back to a default is how a gate ends up
//! weaker than its author believes.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The whole policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub metric_defaults: Option<RawMetricDefaults>,
    pub hooks: Spanned<BTreeMap<String, Spanned<RawHookPolicy>>>,
}

/// Values every metric query and gate inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetricDefaults {
    pub namespace: Option<Spanned<String>>,
    pub dimensions: Option<BTreeMap<String, Spanned<String>>>,
    pub period: Option<Spanned<RawScalar>>,
    pub window: Option<Spanned<RawScalar>>,
}

/// One hook's section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHookPolicy {
    pub on_inconclusive: Option<Spanned<String>>,
    pub ingestion_lag: Option<Spanned<RawScalar>>,
    #[serde(default)]
    pub preflight: Option<Spanned<bool>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    pub analysis: Option<Spanned<RawAnalysis>>,
    #[serde(default)]
    pub gates: Vec<Spanned<RawGate>>,
}

/// A hook's bake analysis.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnalysis {
    pub duration: Spanned<RawScalar>,
    pub interval: Option<Spanned<RawScalar>>,
    pub initial_delay: Option<Spanned<RawScalar>>,
    pub failure_limit: Option<u32>,
    pub consecutive_error_limit: Option<u32>,
    pub inconclusive_limit: Option<u32>,
}

/// One gate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    pub metric: Option<Spanned<RawQuery>>,
    pub ratio: Option<Spanned<RawRatio>>,
    pub alarms: Option<Spanned<Vec<Spanned<String>>>>,
    pub comparison: Option<Spanned<String>>,
    pub threshold: Option<Spanned<RawScalar>>,
    pub window: Option<Spanned<RawScalar>>,
    pub period: Option<Spanned<RawScalar>>,
    pub evaluation_periods: Option<Spanned<u32>>,
    pub datapoints_to_alarm: Option<Spanned<u32>>,
    pub missing_data: Option<Spanned<String>>,
    pub min_sample: Option<Spanned<RawMinSample>>,
    pub baseline: Option<Spanned<RawBaseline>>,
    pub pass_if_not_worse_than: Option<Spanned<RawScalar>>,
    pub test: Option<Spanned<String>>,
    pub alpha: Option<Spanned<f64>>,
}

/// `baseline: live` or `baseline: { history: 7d }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawBaseline {
    /// `live`.
    Name(String),
    /// `{ history: 7d }`.
    Spec(RawBaselineSpec),
}

/// The long form of a baseline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBaselineSpec {
    pub history: Spanned<RawScalar>,
}

/// A ratio of two sums of queries, e.g. [5XX] / [RequestCount], or
/// [Healthy] / [Healthy, UnHealthy]. Always lists: serde's untagged
/// "one or many" would lose the positions the validator reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRatio {
    pub numerator: Vec<Spanned<RawQuery>>,
    pub denominator: Vec<Spanned<RawQuery>>,
}

/// A minimum sample below which a gate cannot decide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMinSample {
    pub at_least: Spanned<f64>,
    /// Defaults to the ratio's denominator.
    pub metric: Option<Spanned<RawQuery>>,
}

/// One CloudWatch metric query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    pub namespace: Option<Spanned<String>>,
    pub name: Spanned<String>,
    pub stat: Spanned<String>,
    #[serde(default)]
    pub dimensions: Option<BTreeMap<String, Spanned<String>>>,
    pub kind: Option<Spanned<String>>,
}

/// A number or a string such as `1%`, `5m`, `60s`: interpreted by the validator,
/// which knows whether the field is a threshold or a duration.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawScalar {
    /// A bare YAML number.
    Number(f64),
    /// Text with a unit.
    Text(String),
}
