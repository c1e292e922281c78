//! The policy file as written: serde structs that mirror the YAML one to one,
//! and [`parse_policy`], which reads them.
//!
//! Nothing here is trusted. Every value a person could get wrong is kept with its
//! position (`Spanned`), so that metric-gate's validator can name the file, line and
//! field of each problem. Unknown keys are refused, all of them at once, by
//! [`shape_problems`] (module `shape`): a misspelt `datapoints_to_alarm` silently
//! falling back to a default is how a gate ends up weaker than its author
//! believes. The structs themselves accept unknown keys, so that serde does not
//! stop at the first one and hide every other problem in the file.
//!
//! This is a crate of its own for the size of the hooks: the YAML deserializer is
//! generic, and its instantiations for these types are compiled where the parse is
//! called. Here they are compiled for size like every dependency, while
//! metric-gate is compiled for speed for the judge's loops (BENCHMARKS.md,
//! "Artifact size").
//!
//! Fields are named as the YAML keys are; the README's policy reference says
//! what each means.

use serde::Deserialize;

mod shape;
pub use serde_saphyr::{Location, Spanned};
pub use shape::{nearest, shape_check, shape_problems, ShapeCheck, ShapeProblem};
use std::collections::BTreeMap;

/// The whole policy file.
#[derive(Debug, Deserialize)]
pub struct RawPolicy {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub metric_defaults: Option<RawMetricDefaults>,
    pub hooks: Spanned<BTreeMap<String, Spanned<RawHookPolicy>>>,
    /// Hosts smoke probes may reach (`host` or `host:port`).
    #[serde(default)]
    pub probe_hosts: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Values every metric query and gate inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
pub struct RawMetricDefaults {
    pub namespace: Option<Spanned<String>>,
    pub dimensions: Option<BTreeMap<String, Spanned<String>>>,
    pub period: Option<Spanned<RawScalar>>,
    pub window: Option<Spanned<RawScalar>>,
}

/// One hook's section.
#[derive(Debug, Deserialize)]
pub struct RawHookPolicy {
    pub on_inconclusive: Option<Spanned<String>>,
    pub ingestion_lag: Option<Spanned<RawScalar>>,
    #[serde(default)]
    pub preflight: Option<Spanned<bool>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    pub analysis: Option<Spanned<RawAnalysis>>,
    pub canary_score: Option<Spanned<RawCanaryScore>>,
    /// Feature flags turned off when this hook reports `Failed`.
    #[serde(default)]
    pub kill_switch: Option<Spanned<Vec<Spanned<RawFlag>>>>,
    /// The preflight requires the release to be behind a kill switch.
    #[serde(default)]
    pub require_kill_switch: Option<Spanned<bool>>,
    #[serde(default)]
    pub gates: Vec<Spanned<RawGate>>,
}

/// An AWS AppConfig feature flag: where it lives and its key (and, in a
/// flag gate, the state it must be in).
#[derive(Debug, Deserialize)]
pub struct RawFlag {
    pub application: Option<Spanned<String>>,
    pub environment: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub state: Option<Spanned<String>>,
}

/// Kayenta-style scoring of a hook's statistically tested gates.
#[derive(Debug, Deserialize)]
pub struct RawCanaryScore {
    pub pass: Option<Spanned<f64>>,
    pub marginal: Option<Spanned<f64>>,
    pub no_data_limit: Option<Spanned<f64>>,
}

/// A hook's bake analysis.
#[derive(Debug, Deserialize)]
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
pub struct RawGate {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    pub metric: Option<Spanned<RawQuery>>,
    pub ratio: Option<Spanned<RawRatio>>,
    pub alarms: Option<Spanned<Vec<Spanned<String>>>>,
    pub alarm_prefix: Option<Spanned<String>>,
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
    pub weight: Option<Spanned<f64>>,
    pub direction: Option<Spanned<String>>,
    pub nan_strategy: Option<Spanned<String>>,
    pub effect_size: Option<Spanned<String>>,
    pub critical_threshold: Option<Spanned<RawScalar>>,
    pub probe: Option<Spanned<RawProbe>>,
    pub flag: Option<Spanned<RawFlag>>,
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
pub struct RawBaselineSpec {
    pub history: Spanned<RawScalar>,
}

/// An HTTP smoke probe.
#[derive(Debug, Deserialize)]
pub struct RawProbe {
    pub method: Option<Spanned<String>>,
    pub url: Spanned<String>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub expect: Option<Spanned<RawProbeExpect>>,
    pub max_latency: Option<Spanned<RawScalar>>,
    pub repeat: Option<Spanned<u32>>,
    pub concurrency: Option<Spanned<u32>>,
    pub min_success: Option<Spanned<RawScalar>>,
    pub timeout: Option<Spanned<RawProbeTimeout>>,
}

/// What a probe's answers must show.
#[derive(Debug, Deserialize)]
pub struct RawProbeExpect {
    pub status: Option<Spanned<RawStatus>>,
    pub body_contains: Option<Spanned<String>>,
    pub json_pointer: Option<Spanned<RawJsonPointer>>,
}

/// `200`, `2xx`, or a list of them. The list's position is the field's:
/// precise enough for a list a person reads at a glance.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    /// One code or class.
    One(RawScalar),
    /// Several, any of which is acceptable.
    Many(Vec<RawScalar>),
}

/// A JSON value expected at a pointer.
#[derive(Debug, Deserialize)]
pub struct RawJsonPointer {
    pub pointer: Spanned<String>,
    pub equals: Spanned<serde_json::Value>,
}

/// Connect and total limits of one probe attempt.
#[derive(Debug, Deserialize)]
pub struct RawProbeTimeout {
    pub connect: Option<Spanned<RawScalar>>,
    pub total: Option<Spanned<RawScalar>>,
}

/// A ratio of two sums of queries, e.g. [5XX] / [RequestCount], or
/// [Healthy] / [Healthy, UnHealthy]. Always lists: serde's untagged
/// "one or many" would lose the positions the validator reports.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRatio {
    pub numerator: Vec<Spanned<RawQuery>>,
    pub denominator: Vec<Spanned<RawQuery>>,
}

/// A minimum sample below which a gate cannot decide.
#[derive(Debug, Clone, Deserialize)]
pub struct RawMinSample {
    pub at_least: Spanned<f64>,
    /// Defaults to the ratio's denominator.
    pub metric: Option<Spanned<RawQuery>>,
}

/// One CloudWatch metric query.
#[derive(Debug, Clone, Deserialize)]
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

/// Why a policy file could not be read as YAML of the policy's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// The parser's explanation (may span several lines).
    pub message: String,
}

/// Parses a policy file's text into its raw shape.
pub fn parse_policy(text: &str) -> Result<RawPolicy, SyntaxError> {
    serde_saphyr::from_str(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map_or((0, 0), |at| (at.line(), at.column()));
        SyntaxError {
            line,
            column,
            message: error.to_string(),
        }
    })
}
