//! The gate policy: what each hook checks, and how strictly.
//!
//! A policy is parsed in two steps, as ripgrep does with its arguments: [`raw`]
//! mirrors the YAML, and [`validate`] turns it into the types below, with durations
//! resolved, thresholds parsed, environment references substituted and every
//! default applied. Validation reports *every* problem at once, each with file,
//! line, column and field path, because a policy is fixed in one edit, not ten.
//! A [`Policy`] value can only exist if the whole file was valid: the hooks never
//! judge with half a policy.

mod file;
pub mod limits;
pub mod reference;
mod validate;

use crate::vocab::Hook;
use metric_gate_syntax as raw;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

pub use file::{load_file, read_policy_file, MAX_POLICY_BYTES};
pub use limits::{MAX_GATES_PER_HOOK, MAX_GATE_NAME_CHARS};
pub use reference::{cloudwatch_retention, is_unbound, SubjectRef, SUBJECT_KEYS};
pub use validate::{override_variable, PolicyError, Problem, DISCOVERY_OVERRIDES};

/// The policy compiled into every binary, used when `GATE_POLICY_FILE` is unset.
pub const DEFAULT_POLICY_YAML: &str = include_str!("../../policies/default.yaml");
/// The name the default policy goes by in errors and decision records.
pub const DEFAULT_POLICY_SOURCE: &str = "<embedded default policy>";

/// A fully validated policy for all hooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where it came from: a file path or [`DEFAULT_POLICY_SOURCE`].
    pub source: String,
    /// SHA-256 of the policy text, for the decision record.
    pub digest: String,
    /// Per-hook sections. A hook without a section has nothing to check.
    pub hooks: BTreeMap<Hook, HookPolicy>,
    /// What validation found allowed but probably not meant (a loopback
    /// probe host without a port), each with its place.
    pub warnings: Vec<Problem>,
}

impl Policy {
    /// Parses and validates policy text. `source` names it in errors;
    /// `env` resolves `${VAR}` references (injected so tests need no process env).
    pub fn from_yaml(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Policy, PolicyError> {
        Policy::parse(text, source, env, true)
    }

    /// [`Policy::from_yaml`] as `gatectl validate` runs it, where the
    /// functions' environment is not: without the overrides of discovered
    /// values (`TARGET_GROUP`, ...), so every `${canary.KEY}` stays for
    /// discovery, and with a `${VAR}` that `env` does not set left as written
    /// (the caller lists them), its field's checks that need the value
    /// skipped. A name no environment can set is still refused.
    pub fn from_yaml_for_discovery(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Policy, PolicyError> {
        Policy::parse(text, source, env, false)
    }

    fn parse(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
        apply_overrides: bool,
    ) -> Result<Policy, PolicyError> {
        let validated = validate::validate(text, source, env, apply_overrides);
        Ok(Policy {
            source: source.to_string(),
            digest: crate::vocab::sha256_digest(text.as_bytes()),
            hooks: validated.hooks?,
            warnings: validated.warnings,
        })
    }

    /// The embedded default policy, resolved against `env`.
    pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
        Policy::from_yaml(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE, env)
    }

    /// The section for `hook`, if the policy has one.
    pub fn hook(&self, hook: Hook) -> Option<&HookPolicy> {
        self.hooks.get(&hook)
    }
}

/// What one hook checks.
#[derive(Debug, Clone, PartialEq)]
pub struct HookPolicy {
    /// What an inconclusive critical gate does to the hook.
    pub on_inconclusive: InconclusiveAction,
    /// How far behind "now" the evaluation window ends, so the newest,
    /// still-filling period is never judged.
    pub ingestion_lag_secs: i64,
    /// Check in advance that the other hooks' gates can decide at all.
    pub preflight: bool,
    /// Judge and record as usual, but always report `Succeeded`: shadow mode
    /// for a new policy. The record says what would have been reported.
    pub dry_run: bool,
    /// Measure repeatedly over a bake period instead of once.
    pub analysis: Option<AnalysisPolicy>,
    /// Score the statistically tested gates together, as Kayenta does.
    pub canary_score: Option<CanaryScore>,
    /// Feature flags turned off after this hook reports `Failed` (the
    /// playbook's kill switch); empty: none.
    pub kill_switch: Vec<FlagRef>,
    /// The preflight requires every kill-switch flag of the other hooks to
    /// exist: the release is behind a flag that can be turned off.
    pub require_kill_switch: bool,
    /// The gates, in policy order.
    pub gates: Vec<Gate>,
}

impl Policy {
    /// Whether any hook reads or writes a feature flag (a flag gate, a kill
    /// switch): only then does a hook build AppConfig clients.
    pub fn uses_flags(&self) -> bool {
        self.hooks.values().any(|section| {
            !section.kill_switch.is_empty()
                || section
                    .gates
                    .iter()
                    .any(|gate| matches!(gate.check, GateCheck::Flag(_)))
        })
    }

    /// The kill-switch flags of every hook but `this_hook`, each once: what a
    /// preflight with `require_kill_switch` checks.
    pub fn other_kill_switches(&self, this_hook: Hook) -> Vec<FlagRef> {
        let mut flags: Vec<FlagRef> = self
            .hooks
            .iter()
            .filter(|(hook, _)| **hook != this_hook)
            .flat_map(|(_, section)| section.kill_switch.iter().cloned())
            .collect();
        flags.sort();
        flags.dedup();
        flags
    }
}

/// An AWS AppConfig feature flag: the configuration profile (of type
/// `AWS.AppConfig.FeatureFlags`) that holds it, deployed to an environment of
/// an application, and the flag's key. Application, environment and profile
/// are names or ids, as AppConfig's data plane takes either.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlagRef {
    /// Where the flag is read.
    #[serde(flatten)]
    pub profile: FlagProfile,
    /// The flag's key in the profile.
    pub key: String,
}

/// A feature-flag configuration profile as deployed to one environment: one
/// configuration session reads every flag in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlagProfile {
    /// AppConfig application (name or id).
    pub application: String,
    /// Environment (name or id).
    pub environment: String,
    /// Configuration profile (name or id).
    pub profile: String,
}

impl fmt::Display for FlagProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.application, self.environment, self.profile
        )
    }
}

impl fmt::Display for FlagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.profile, self.key)
    }
}

/// The state a flag gate requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagState {
    /// The flag is on.
    Enabled,
    /// The flag is off.
    Disabled,
}

impl FlagState {
    /// From a flag's `enabled` value.
    pub fn of(enabled: bool) -> FlagState {
        if enabled {
            FlagState::Enabled
        } else {
            FlagState::Disabled
        }
    }
}

impl fmt::Display for FlagState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlagState::Enabled => "enabled",
            FlagState::Disabled => "disabled",
        })
    }
}

/// A flag gate: the flag exists and is in the expected state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagCheck {
    /// Which flag.
    pub flag: FlagRef,
    /// The state it must be in.
    pub expect: FlagState,
}

/// What an inconclusive critical gate means for the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveAction {
    /// Not enough evidence to promote: roll back (the default).
    Fail,
    /// Not enough evidence to object: carry on.
    Pass,
}

/// Whether a gate can block a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failing critical gate fails the hook.
    Critical,
    /// Recorded only, never blocks.
    Warning,
}

/// One named check.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Unique within the hook.
    pub name: String,
    /// Free text for people reading records.
    pub description: Option<String>,
    /// Whether it can block.
    pub severity: Severity,
    /// Judged and recorded, never blocks: shadow mode for tuning a new gate.
    pub dry_run: bool,
    /// What it checks.
    pub check: GateCheck,
}

/// The kinds of check a gate can make.
#[derive(Debug, Clone, PartialEq)]
pub enum GateCheck {
    /// A metric (or ratio of metrics) compared with a threshold.
    Threshold(Box<ThresholdCheck>),
    /// CloudWatch alarms that must not be in ALARM.
    Alarms(AlarmCheck),
    /// HTTP requests whose answers must meet expectations.
    Probe(Box<ProbeCheck>),
    /// An AWS AppConfig feature flag that must exist in a given state.
    Flag(FlagCheck),
}

/// CloudWatch alarms a gate watches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmCheck {
    /// Alarm names, environment references resolved.
    pub names: Vec<String>,
    /// Every alarm whose name starts with this is watched too (the team's
    /// alarms for a service, say); at least one must exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A threshold on a CloudWatch signal, judged M out of N datapoints.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdCheck {
    /// The value judged, one per period.
    pub signal: Signal,
    /// The direction that breaches.
    pub comparison: Comparison,
    /// The threshold, in the signal's own unit.
    pub threshold: Threshold,
    /// How far back the window reaches.
    pub window_secs: i64,
    /// The CloudWatch period of every query.
    pub period_secs: i64,
    /// N: how many of the newest datapoints are judged.
    pub evaluation_periods: usize,
    /// M: how many of those must breach to fail.
    pub datapoints_to_alarm: usize,
    /// What a datapoint without a value counts as.
    pub missing_data: MissingData,
    /// The smallest sample the gate will judge on.
    pub min_sample: Option<MinSample>,
    /// A comparison with the version being replaced, or with history.
    pub baseline: Option<Box<BaselineCheck>>,
}

impl ThresholdCheck {
    /// Every query this check needs fetched in the hook's own window (signal,
    /// sample, and a live baseline's queries). A history baseline's queries are
    /// fetched separately, shifted back: see [`BaselineCheck::offset_secs`].
    pub fn queries(&self) -> impl Iterator<Item = &MetricQuery> {
        let live = self
            .baseline
            .as_deref()
            .filter(|b| b.source == BaselineSource::Live);
        self.canary_queries()
            .chain(live.into_iter().flat_map(BaselineCheck::queries))
    }

    /// The canary side's queries only.
    pub fn canary_queries(&self) -> impl Iterator<Item = &MetricQuery> {
        self.signal
            .queries()
            .chain(self.min_sample.iter().map(|m| &m.query))
    }

    /// Every query of the check, whatever window it is fetched in.
    pub fn all_queries(&self) -> impl Iterator<Item = &MetricQuery> {
        self.canary_queries()
            .chain(self.baseline.iter().flat_map(|b| b.queries()))
    }

    /// Applies `f` to every query of the check (binding discovered dimensions).
    pub fn map_queries(&mut self, f: &mut dyn FnMut(&mut MetricQuery)) {
        self.signal.map_queries(f);
        if let Some(m) = &mut self.min_sample {
            f(&mut m.query);
        }
        if let Some(b) = &mut self.baseline {
            b.signal.map_queries(f);
            if let Some(m) = &mut b.min_sample {
                f(&mut m.query);
            }
        }
    }
}

/// What a gate compares the canary with, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineCheck {
    /// Where the baseline's values come from.
    pub source: BaselineSource,
    /// The baseline's signal: the canary's with `${canary.…}` dimensions read as
    /// `${baseline.…}` for a live baseline, the canary's own for history.
    pub signal: Signal,
    /// The baseline's minimum sample (the gate's `min_sample`, on the baseline).
    pub min_sample: Option<MinSample>,
    /// How the two are compared.
    pub rule: BaselineRule,
    /// Period by period (M of N), or a statistical test over the window.
    pub test: BaselineTest,
    /// The gate's weight in the hook's `canary_score`.
    pub weight: f64,
}

/// A hook's Kayenta-style score over its statistically tested gates: the
/// weighted share of them that passed, judged against two thresholds. A
/// critical tested gate that fails fails the score whatever its value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CanaryScore {
    /// At or above: pass.
    pub pass: f64,
    /// At or above (and under `pass`): marginal, which is inconclusive.
    pub marginal: f64,
    /// The share of the scored weight (0..=0.5) without data at or above
    /// which the score fails whatever its value (`no_data_limit`, written
    /// in percent; 50 % by default, Kayenta's rule, and only ever lower).
    pub no_data_limit: f64,
}

/// Kayenta's share of metrics without data that fails a canary (its
/// `NODATA_THRESHOLD`), and the most a `canary_score`'s `no_data_limit` may
/// be: a policy can only be stricter.
pub const KAYENTA_NO_DATA_LIMIT: f64 = 0.5;

/// How a period without a value (NaN as the judge marks it) is read. Never
/// applies to an impossible value (a NaN or infinity CloudWatch returned, a
/// negative count): the judge errors on those first (`judge::threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NanStrategy {
    /// Dropped (default); too few left makes the metric `NoData`.
    #[default]
    Remove,
    /// Read as 0, as Kayenta's `replace` does: right for counters, where
    /// CloudWatch omits periods that counted nothing.
    ReplaceWithZero,
}

/// The effect size a rank-tested gate's tolerance is read against: how far
/// the canary moved, as a ratio to the baseline. A significant shift counts
/// only beyond the tolerance. Chosen per gate (`effect_size`); the default
/// depends on the signal (see `docs/statistics.md`, "Effect sizes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EffectSize {
    /// Canary median over baseline median: robust to the spikes the rank
    /// test ignores; the default for gauges (latency, CPU). Blind when both
    /// medians are equal, as in a counter that is 0 in most periods.
    #[default]
    MedianRatio,
    /// Canary mean over baseline mean (Kayenta's default measure): still
    /// moves when the medians tie; the default for counters and ratios of
    /// counters.
    MeanRatio,
}

impl EffectSize {
    /// Whether this is the median ratio (the record leaves the default out).
    pub fn is_median_ratio(&self) -> bool {
        *self == EffectSize::MedianRatio
    }
}

impl fmt::Display for EffectSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EffectSize::MedianRatio => "median ratio",
            EffectSize::MeanRatio => "mean ratio",
        })
    }
}

/// How a gate's canary and baseline are judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BaselineTest {
    /// Each period against the bound from the baseline's value, M of N.
    PerPeriod,
    /// The window's totals as proportions (numerator events of denominator
    /// trials on each side): a one-sided test of "canary worse than the bound"
    /// that catches sparse errors on a baseline with none. Pass, fail, or not
    /// enough evidence.
    TwoProportion {
        /// Significance level.
        alpha: f64,
    },
    /// The Mann-Whitney U test on the window's per-period values, with the
    /// bound's factor as the effect-size tolerance (Kayenta's classifier).
    MannWhitney {
        /// Significance level.
        alpha: f64,
        /// A shift either way fails (`direction: either`), not only the
        /// comparison's direction.
        either: bool,
        /// What a period without a value is (`nan_strategy`): left out
        /// (Kayenta's default) or read as 0.
        nan_strategy: NanStrategy,
        /// The effect size the bound's factor is read against (`effect_size`).
        effect_size: EffectSize,
        /// `critical_threshold`'s factor: a critical gate blocks only on a
        /// shift beyond it; between the gate's threshold and this, the shift
        /// only counts against the hook's `canary_score` (Kayenta's
        /// `criticalIncrease` / `criticalDecrease`). `None`: every shift
        /// beyond the threshold blocks.
        critical_factor: Option<f64>,
    },
}

impl BaselineCheck {
    /// The baseline's queries.
    pub fn queries(&self) -> impl Iterator<Item = &MetricQuery> {
        self.signal
            .queries()
            .chain(self.min_sample.iter().map(|m| &m.query))
    }

    /// How far back the baseline's window lies (0 for a live baseline, and
    /// for a window before the deployment that could not be placed).
    pub fn offset_secs(&self) -> i64 {
        match &self.source {
            BaselineSource::Live => 0,
            BaselineSource::History { offset_secs }
            | BaselineSource::BeforeDeployment(DeploymentStart::At { offset_secs, .. }) => {
                *offset_secs
            }
            BaselineSource::BeforeDeployment(_) => 0,
        }
    }
}

/// Where a baseline's values come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// The version being replaced, over the same window (ECS Blue task set,
    /// Lambda current version): only while it still serves traffic.
    Live,
    /// The canary's own metric, the same window `offset_secs` earlier (the
    /// same hour last week, say): for hooks after the old version is gone.
    History {
        /// How far back, in seconds.
        offset_secs: i64,
    },
    /// The canary's own metric over the window of the gate's length that
    /// ends when the deployment began (its create time, from
    /// `GetDeployment`): the service as it was just before this deployment.
    /// Placed per evaluation by [`Policy::bind_deployment_start`].
    BeforeDeployment(DeploymentStart),
}

impl BaselineSource {
    /// Why the baseline's window cannot be placed, when it cannot: the judge
    /// fails the gate with this.
    pub fn unplaced(&self) -> Option<String> {
        match self {
            BaselineSource::BeforeDeployment(DeploymentStart::Unbound) => Some(
                "the baseline is the window before the deployment began, and the deployment's start was not looked up (this evaluation has no deployment)".into(),
            ),
            BaselineSource::BeforeDeployment(DeploymentStart::Unknown(why)) => Some(why.clone()),
            _ => None,
        }
    }
}

/// Where a `before_deployment` baseline's window lies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStart {
    /// As written in the policy: the deployment is not known yet.
    Unbound,
    /// The window ends at `ends_at` (the create time rounded down to the
    /// gate's period, so no period holds the deployment's own traffic),
    /// `offset_secs` before the gate's own window ends.
    At {
        /// The deployment's create time, epoch seconds.
        created_at: i64,
        /// The end of the baseline's window, epoch seconds.
        ends_at: i64,
        /// How far the baseline's window lies behind the gate's window.
        offset_secs: i64,
    },
    /// The window cannot be placed: why (GetDeployment failed, no create
    /// time, not settled yet, aged out of CloudWatch).
    Unknown(String),
}

impl fmt::Display for DeploymentStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeploymentStart::At { ends_at, .. } => write!(
                f,
                "the window before the deployment began, ending {}",
                crate::vocab::stamp(*ends_at)
            ),
            _ => f.write_str("the window before the deployment began"),
        }
    }
}

/// How canary and baseline values of one period are compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineRule {
    /// The threshold is relative: the canary breaches when `canary <op> bound(baseline)`.
    Relative(RelativeBound),
    /// The gate's absolute threshold decides, but a breach the baseline shares
    /// does not count: the canary only breaches when it is also worse than
    /// `bound(baseline)`. A fix for an already unhealthy service can pass.
    PassIfNotWorseThan(RelativeBound),
}

impl BaselineRule {
    /// The bound in the rule.
    pub fn bound(&self) -> RelativeBound {
        match self {
            BaselineRule::Relative(b) | BaselineRule::PassIfNotWorseThan(b) => *b,
        }
    }
}

/// A bound derived from a baseline value: `factor x baseline` or `baseline + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelativeBound {
    /// `1.4 x baseline`.
    Factor(f64),
    /// `baseline + 0.5pp` (stored as a fraction when written in pp) or `baseline + 0.2`.
    Offset {
        /// Added to the baseline value.
        value: f64,
        /// Written as percentage points.
        percentage_points: bool,
    },
}

impl RelativeBound {
    /// The bound for one baseline value.
    pub fn apply(&self, baseline: f64) -> f64 {
        match *self {
            RelativeBound::Factor(f) => f * baseline,
            RelativeBound::Offset { value, .. } => baseline + value,
        }
    }

    /// Whether `value` breaches the bound derived from `baseline`. A computed
    /// bound carries rounding error (1.4 x 0.4 is 0.5599999…), so a value
    /// exactly at the bound as people write it must not breach a strict
    /// comparison: values within a relative 1e-12 count as equal.
    pub fn breached_by(&self, comparison: Comparison, value: f64, baseline: f64) -> bool {
        let bound = self.apply(baseline);
        let slack = 1e-12 * bound.abs().max(value.abs());
        match comparison {
            Comparison::GreaterThan => value > bound + slack,
            Comparison::GreaterThanOrEqual => value >= bound - slack,
            Comparison::LessThan => value < bound - slack,
            Comparison::LessThanOrEqual => value <= bound + slack,
        }
    }
}

impl fmt::Display for RelativeBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RelativeBound::Factor(x) => write!(f, "{} x baseline", trim_float(x, 4)),
            RelativeBound::Offset {
                value,
                percentage_points: true,
            } => write!(
                f,
                "baseline {} {}pp",
                if value < 0.0 { "-" } else { "+" },
                trim_float(value.abs() * 100.0, 4)
            ),
            RelativeBound::Offset { value, .. } => write!(
                f,
                "baseline {} {}",
                if value < 0.0 { "-" } else { "+" },
                trim_float(value.abs(), 4)
            ),
        }
    }
}

/// The value a threshold gate judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// One metric's statistic.
    Metric(MetricQuery),
    /// sum(numerator) / sum(denominator), per period, computed by the library.
    Ratio {
        /// Summed on top.
        numerator: Vec<MetricQuery>,
        /// Summed below; a zero denominator makes the period's value missing.
        denominator: Vec<MetricQuery>,
    },
}

impl Signal {
    /// The queries this signal is computed from. (Two slices chained, not a
    /// boxed iterator: the judge asks for them per gate, and an allocation
    /// each time showed in its profile.)
    pub fn queries(&self) -> impl Iterator<Item = &MetricQuery> + '_ {
        let (first, second): (&[MetricQuery], &[MetricQuery]) = match self {
            Signal::Metric(q) => (std::slice::from_ref(q), &[]),
            Signal::Ratio {
                numerator,
                denominator,
            } => (numerator, denominator),
        };
        first.iter().chain(second)
    }

    /// Applies `f` to every query of the signal.
    pub fn map_queries(&mut self, f: &mut dyn FnMut(&mut MetricQuery)) {
        match self {
            Signal::Metric(q) => f(q),
            Signal::Ratio {
                numerator,
                denominator,
            } => numerator
                .iter_mut()
                .chain(denominator.iter_mut())
                .for_each(f),
        }
    }

    /// The queries whose total absence means the gate has no evidence at all:
    /// the metric itself, or a ratio's denominator (a counter numerator such as
    /// 5XX is legitimately absent when nothing failed).
    pub fn primary_queries(&self) -> &[MetricQuery] {
        match self {
            Signal::Metric(q) => std::slice::from_ref(q),
            Signal::Ratio { denominator, .. } => denominator,
        }
    }
}

/// A minimum sample: the sum of `query` over the window must reach `at_least`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinSample {
    /// Usually the request count.
    pub query: MetricQuery,
    /// Inclusive lower bound.
    pub at_least: f64,
}

/// A threshold and how it was written, so records show `1%` rather than `0.01`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// The value in the signal's unit (a percentage is stored as a fraction).
    pub value: f64,
    /// How to show values compared with it.
    pub unit: ThresholdUnit,
}

/// How a threshold was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdUnit {
    /// A bare number, shown as is.
    Plain,
    /// Written as `N%`: values are fractions, shown as percentages.
    Percent,
    /// A bare number compared with a metric that reports seconds (ALB's
    /// `TargetResponseTime`): shown as `1 s`.
    Seconds,
    /// A bare number compared with a metric that reports milliseconds
    /// (Lambda's `Duration`): shown as `250 ms`.
    Milliseconds,
}

impl ThresholdUnit {
    /// The unit a bare-number threshold on `query` is in: the time unit the
    /// metric reports in when it is one of the CloudWatch time metrics the
    /// gates are written for, else [`ThresholdUnit::Plain`]. A `SampleCount`
    /// of a time metric is a count.
    pub fn of_metric(query: &MetricQuery) -> ThresholdUnit {
        /// CloudWatch metrics whose values are times, with the unit AWS
        /// documents for each.
        const TIME_METRICS: [(&str, &str, ThresholdUnit); 6] = [
            (
                "AWS/ApplicationELB",
                "TargetResponseTime",
                ThresholdUnit::Seconds,
            ),
            ("AWS/ELB", "Latency", ThresholdUnit::Seconds),
            ("AWS/Lambda", "Duration", ThresholdUnit::Milliseconds),
            (
                "AWS/Lambda",
                "PostRuntimeExtensionsDuration",
                ThresholdUnit::Milliseconds,
            ),
            ("AWS/ApiGateway", "Latency", ThresholdUnit::Milliseconds),
            (
                "AWS/ApiGateway",
                "IntegrationLatency",
                ThresholdUnit::Milliseconds,
            ),
        ];
        if query.stat == "SampleCount" {
            return ThresholdUnit::Plain;
        }
        TIME_METRICS
            .iter()
            .find(|(namespace, name, _)| {
                query.namespace == *namespace && query.metric_name == *name
            })
            .map_or(ThresholdUnit::Plain, |(_, _, unit)| *unit)
    }
}

impl Threshold {
    /// Formats a value of the compared signal in this threshold's unit.
    pub fn format_value(&self, value: f64) -> String {
        match self.unit {
            ThresholdUnit::Percent => {
                let mut text = trim_float(value * 100.0, 2);
                text.push('%');
                text
            }
            ThresholdUnit::Plain => trim_float(value, 4),
            ThresholdUnit::Seconds => format!("{} s", trim_float(value, 4)),
            ThresholdUnit::Milliseconds => format!("{} ms", trim_float(value, 4)),
        }
    }
}

fn trim_float(value: f64, decimals: usize) -> String {
    let mut text = format!("{value:.decimals$}");
    // Trimmed in place: one string made, not two.
    let kept = text.trim_end_matches('0').trim_end_matches('.').len();
    text.truncate(kept);
    if text == "-0" {
        "0".into()
    } else {
        text
    }
}

/// The breach direction: the gate breaches when `value <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `>`
    #[serde(rename = ">")]
    GreaterThan,
    /// `>=`
    #[serde(rename = ">=")]
    GreaterThanOrEqual,
    /// `<`
    #[serde(rename = "<")]
    LessThan,
    /// `<=`
    #[serde(rename = "<=")]
    LessThanOrEqual,
}

impl Comparison {
    /// Whether `value` breaches `threshold`. NaN never breaches: the judge
    /// treats it as missing before it gets here.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThan => value > threshold,
            Comparison::GreaterThanOrEqual => value >= threshold,
            Comparison::LessThan => value < threshold,
            Comparison::LessThanOrEqual => value <= threshold,
        }
    }

    /// The operator as written in a policy.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::GreaterThan => ">",
            Comparison::GreaterThanOrEqual => ">=",
            Comparison::LessThan => "<",
            Comparison::LessThanOrEqual => "<=",
        }
    }

    /// Whether a larger value is worse (for picking the worst observation).
    pub fn higher_is_worse(self) -> bool {
        matches!(
            self,
            Comparison::GreaterThan | Comparison::GreaterThanOrEqual
        )
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// What a period without a value counts as (CloudWatch's `TreatMissingData`,
/// plus `inconclusive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingData {
    /// Counts as a breach.
    Breaching,
    /// Counts as healthy.
    NotBreaching,
    /// Skipped: the newest N periods *with* values are judged instead.
    Ignore,
    /// Unknown: a gate that could have failed on the unknowns is inconclusive.
    Inconclusive,
}

/// How a missing datapoint of a query is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Counts events (Sum, SampleCount): CloudWatch omits zero periods, so a
    /// missing datapoint is zero.
    Counter,
    /// Measures a level (Average, percentiles, host counts): a missing
    /// datapoint is unknown.
    Gauge,
}

/// One CloudWatch metric statistic, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MetricQuery {
    /// e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// e.g. `RequestCount`.
    pub metric_name: String,
    /// Name/value pairs, sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `p95`, `p99.9`, ...
    pub stat: String,
    /// Period in seconds.
    pub period_secs: i64,
    /// How missing datapoints are read.
    pub kind: SeriesKind,
}

impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.namespace, self.metric_name, self.stat)?;
        // Written straight to the formatter, no string per dimension: the
        // judge names every series of a judgement this way.
        for (i, (name, value)) in self.dimensions.iter().enumerate() {
            let before = if i == 0 { " [" } else { ", " };
            write!(f, "{before}{name}={value}")?;
        }
        if !self.dimensions.is_empty() {
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// An HTTP smoke probe: the same request sent `repeat` times, each answer
/// held to the expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeCheck {
    /// `GET`, `POST`, ... (upper case).
    pub method: String,
    /// `http` or `https`, host allowed by `probe_hosts`, `${VAR}` resolved.
    pub url: String,
    /// Request headers, values resolved. Never copied into reasons or records.
    pub headers: Vec<(String, String)>,
    /// What every answer must look like.
    pub expect: ProbeExpectations,
    /// The slowest acceptable answer, measured from sending the request to
    /// the end of the (bounded) body.
    pub max_latency_ms: Option<u64>,
    /// How many attempts are made.
    pub repeat: u32,
    /// How many attempts are in flight at once.
    pub concurrency: u32,
    /// The fraction of attempts that must meet the expectations (1.0: all).
    pub min_success: f64,
    /// Limit on establishing a connection (TCP and TLS).
    pub connect_timeout_ms: u64,
    /// Limit on one attempt, redirects and body included.
    pub total_timeout_ms: u64,
    /// The policy's `probe_hosts`: the only hosts the probe, and any redirect
    /// it follows, may reach.
    pub allowed_hosts: Vec<AllowedHost>,
}

/// What a probe's answers must show. Every present expectation must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeExpectations {
    /// Acceptable statuses; any matching entry is enough.
    pub status: Vec<StatusMatch>,
    /// Text the (bounded) body must contain.
    pub body_contains: Option<String>,
    /// A value the JSON body must hold at a pointer.
    pub json_pointer: Option<JsonPointerExpectation>,
}

/// One acceptable HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// Any code of this class: `2` is `2xx`.
    Class(u16),
}

impl StatusMatch {
    /// Whether `status` is acceptable.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(code) => status == code,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(code) => write!(f, "{code}"),
            StatusMatch::Class(class) => write!(f, "{class}xx"),
        }
    }
}

/// `pointer` (RFC 6901, e.g. `/status`) must hold `equals`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPointerExpectation {
    /// An RFC 6901 pointer: empty, or starting with `/`.
    pub pointer: String,
    /// The expected JSON value; numbers compare by value (`1` equals `1.0`).
    pub equals: serde_json::Value,
}

/// A host a probe may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower-case host name or IP address (IPv6 without brackets).
    pub host: String,
    /// When set, only this port; otherwise any port.
    pub port: Option<u16>,
}

impl AllowedHost {
    /// Whether `url` points at this host (and port, when one is set).
    pub fn allows(&self, url: &url::Url) -> bool {
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return false,
        };
        host == self.host
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => f.write_str(&self.host),
        }
    }
}

/// CodeDeploy fails a hook that has not answered within an hour; the analysis
/// concludes this long after it started, whatever happens in between.
pub const HARD_LIMIT_SECS: i64 = 55 * 60;

/// A hook's analysis settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisPolicy {
    /// How long to watch.
    pub duration_secs: i64,
    /// Time between measurements.
    pub interval_secs: i64,
    /// Wait before the first measurement.
    pub initial_delay_secs: i64,
    /// Failed measurements tolerated; one more fails the hook.
    pub failure_limit: u32,
    /// Consecutive measurement errors tolerated (CloudWatch throttling, ...).
    pub consecutive_error_limit: u32,
    /// Inconclusive measurements tolerated.
    pub inconclusive_limit: u32,
}

#[cfg(test)]
mod tests;
