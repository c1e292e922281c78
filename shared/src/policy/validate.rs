//! Turning a [`RawPolicy`] into a [`Policy`](super::Policy)'s hook sections.
//!
//! The validator walks the whole file and collects problems instead of stopping at
//! the first, each tagged with line, column and a field path such as
//! `hooks.BeforeAllowTraffic.gates[1].threshold`. Defaults are applied here and
//! only here, so the rest of the library never wonders what an absent field meant.

use super::raw::{Location, Spanned};
use super::raw::{
    RawAnalysis, RawBaseline, RawGate, RawMetricDefaults, RawPolicy, RawQuery, RawScalar,
};
use super::raw::{RawProbe, RawStatus};
use super::reference::cloudwatch_retention;
use super::reference::parse_subject;
use super::{
    AlarmCheck, BaselineCheck, BaselineRule, BaselineSource, BaselineTest, CanaryScore, Comparison,
    Gate, GateCheck, HookPolicy, InconclusiveAction, MetricQuery, MinSample, MissingData,
    RelativeBound, SeriesKind, Severity, Signal, Threshold, ThresholdCheck, ThresholdUnit,
};
use super::{
    AllowedHost, DeploymentStart, JsonPointerExpectation, ProbeCheck, ProbeExpectations,
    StatusMatch,
};
use super::{AnalysisPolicy, NanStrategy};
use crate::vocab::hook::Hook;
use crate::vocab::Side;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

const DEFAULT_PERIOD_SECS: i64 = 60;
const DEFAULT_WINDOW_SECS: i64 = 300;
const DEFAULT_INGESTION_LAG_SECS: i64 = 120;
/// One day of minutes: more datapoints per gate than this is a policy mistake.
const MAX_DATAPOINTS_PER_GATE: i64 = 1440;
/// A probe attempt's default limit on connecting (TCP and TLS).
const DEFAULT_PROBE_CONNECT_MS: u64 = 2_000;
/// A probe attempt's default limit, redirects and body included.
const DEFAULT_PROBE_TOTAL_MS: u64 = 5_000;
/// The longest a single probe attempt may be allowed to take.
const MAX_PROBE_TOTAL_MS: u64 = 60_000;
/// More attempts than this is load testing, not a smoke probe; it also bounds
/// the memory bodies take (100 x 64 KiB).
const MAX_PROBE_REPEAT: u32 = 100;
/// More attempts in flight than this is load testing, not a smoke probe.
const MAX_PROBE_CONCURRENCY: u32 = 32;
/// Lambda's longest invocation: a probe whose worst case is longer could never finish.
const MAX_PROBE_WORST_CASE_MS: u64 = 900_000;
/// Headers that frame or route the request: set by the client, never by a policy
/// (a stray `Content-Length` on a body-less request hangs the server's read).
const RESERVED_PROBE_HEADERS: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read at all.
    #[error("cannot read policy file {path}: {source} (set GATE_POLICY_FILE to a readable YAML file, or unset it to use the embedded default)")]
    Read {
        /// The path from `GATE_POLICY_FILE`.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not YAML of the policy's shape (syntax, unknown key, wrong type).
    #[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

impl PolicyError {
    /// The individual problems (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid { problems } => problems,
            PolicyError::Read { .. } => &[],
        }
    }
}

/// One thing wrong with a policy, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File path or the embedded default's name.
    pub source: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// Dotted path of the field, e.g. `hooks.BeforeAllowTraffic.gates[0].stat`.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.source, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Parses and validates; on success returns the hook sections.
pub(super) fn validate(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
    apply_overrides: bool,
) -> Result<BTreeMap<Hook, HookPolicy>, PolicyError> {
    let raw: RawPolicy = super::raw::parse_policy(text).map_err(|err| PolicyError::Invalid {
        problems: vec![Problem {
            source: source.to_string(),
            line: err.line,
            column: err.column,
            field: String::new(),
            message: first_line(&err.message),
        }],
    })?;
    let mut v = Validator {
        source,
        env,
        problems: Vec::new(),
        side: Side::Canary,
        in_dimension: false,
        apply_overrides,
        probe_hosts: None,
        hook: None,
    };
    let hooks = v.policy(raw);
    if v.problems.is_empty() {
        Ok(hooks)
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(PolicyError::Invalid {
            problems: v.problems,
        })
    }
}

/// serde-saphyr renders a source snippet under its message and starts it with
/// `error: line L column C:`; the position is reported separately, so keep the
/// message alone.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error:").unwrap_or(line).trim_start();
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, rest)) if position.contains(" column ") => rest.to_string(),
        _ => line.to_string(),
    }
}

struct Validator<'a> {
    source: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    /// The side queries are resolved for: a live baseline's queries are the
    /// canary's, validated again with `${canary.KEY}` read as `${baseline.KEY}`.
    side: Side,
    /// Discovered values (`${canary.KEY}`) are only allowed in dimension values.
    in_dimension: bool,
    /// Whether `TARGET_GROUP` and friends replace discovered values at load time.
    apply_overrides: bool,
    /// The top-level `probe_hosts`, `None` when the policy has none.
    probe_hosts: Option<Vec<AllowedHost>>,
    /// The hook whose gates are being validated (`baseline: default` depends on it).
    hook: Option<Hook>,
}

/// How far back `baseline: default` looks once the old version has stopped
/// serving: the same hour a week earlier, which keeps the daily and weekly
/// traffic pattern.
const DEFAULT_HISTORY_SECS: i64 = 7 * 86_400;

/// Every environment variable that overrides a discovered value.
pub const DISCOVERY_OVERRIDES: &[&str] = &[
    "TARGET_GROUP",
    "LOAD_BALANCER",
    "BASELINE_TARGET_GROUP",
    "BASELINE_LOAD_BALANCER",
];

/// The environment variables that override a discovered value, in order.
fn override_variable(side: Side, key: &str) -> &'static [&'static str] {
    match (side, key) {
        (Side::Canary, "target_group") => &["TARGET_GROUP"],
        (Side::Canary, "load_balancer") => &["LOAD_BALANCER"],
        (Side::Baseline, "target_group") => &["BASELINE_TARGET_GROUP"],
        // Blue and green target groups normally sit behind the same load balancer.
        (Side::Baseline, "load_balancer") => &["BASELINE_LOAD_BALANCER", "LOAD_BALANCER"],
        _ => &[],
    }
}

/// Inherited values for the queries and gates of the whole file.
struct Defaults {
    namespace: Option<String>,
    dimensions: Vec<(String, String)>,
    /// The same dimensions resolved for the baseline side.
    baseline_dimensions: Vec<(String, String)>,
    period_secs: i64,
    window_secs: i64,
}

impl Validator<'_> {
    fn problem(&mut self, at: Location, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source.to_string(),
            line: at.line(),
            column: at.column(),
            field: field.into(),
            message: message.into(),
        });
    }

    fn policy(&mut self, raw: RawPolicy) -> BTreeMap<Hook, HookPolicy> {
        if raw.version.value != 1 {
            self.problem(
                raw.version.referenced,
                "version",
                format!(
                    "unsupported policy version {}; this build reads version 1",
                    raw.version.value
                ),
            );
        }
        let defaults = self.defaults(raw.metric_defaults.unwrap_or_default());
        self.probe_hosts = raw.probe_hosts.map(|hosts| self.allowed_hosts(hosts));
        let mut hooks = BTreeMap::new();
        if raw.hooks.value.is_empty() {
            self.problem(raw.hooks.referenced, "hooks", "no hook sections: name at least one of BeforeInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic");
        }
        for (name, section) in raw.hooks.value {
            let path = format!("hooks.{name}");
            let Some(hook) = Hook::ALL.into_iter().find(|h| h.as_str() == name) else {
                self.problem(
                    section.referenced,
                    path,
                    format!("unknown hook {name:?}; expected one of BeforeInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic"),
                );
                continue;
            };
            let section_at = section.referenced;
            let section = section.value;
            let on_inconclusive = match section.on_inconclusive {
                None => InconclusiveAction::Fail,
                Some(s) => match s.value.as_str() {
                    "fail" => InconclusiveAction::Fail,
                    "pass" => InconclusiveAction::Pass,
                    other => {
                        self.problem(
                            s.referenced,
                            format!("{path}.on_inconclusive"),
                            format!("expected `fail` or `pass`, found {other:?}"),
                        );
                        InconclusiveAction::Fail
                    }
                },
            };
            let ingestion_lag_secs = match section.ingestion_lag {
                None => DEFAULT_INGESTION_LAG_SECS,
                Some(lag) => {
                    let secs = self.duration(&lag, &format!("{path}.ingestion_lag"), true);
                    if secs > 3600 {
                        self.problem(lag.referenced, format!("{path}.ingestion_lag"), "at most 1h: CodeDeploy waits an hour for a hook, a longer lag judges nothing that happened during it");
                    }
                    secs
                }
            };
            let preflight = section.preflight.map(|p| p.value).unwrap_or(false);
            let analysis = section
                .analysis
                .map(|a| self.analysis(a, &format!("{path}.analysis")));
            let problems_before = self.problems.len();
            let mut names = BTreeSet::new();
            let mut gates = Vec::new();
            for (i, gate) in section.gates.into_iter().enumerate() {
                let gate_path = format!("{path}.gates[{i}]");
                if !names.insert(gate.value.name.value.clone()) {
                    self.problem(
                        gate.value.name.referenced,
                        format!("{gate_path}.name"),
                        format!("duplicate gate name {:?} in {name}", gate.value.name.value),
                    );
                }
                self.hook = Some(hook);
                if let Some(gate) = self.gate(gate, &gate_path, &defaults) {
                    gates.push(gate);
                }
            }
            let canary_score = section
                .canary_score
                .and_then(|raw| self.canary_score(raw, &path, &gates));
            let has_critical = gates
                .iter()
                .any(|g: &Gate| g.severity == Severity::Critical && !g.dry_run)
                || canary_score.is_some();
            if !has_critical && !preflight && self.problems.len() == problems_before {
                self.problem(section_at, format!("{path}.gates"), "a hook section needs at least one critical gate that is not a dry run (or `preflight: true`); a hook with nothing that can block would always succeed, so leave the hook out of the AppSpec instead");
            }
            hooks.insert(
                hook,
                HookPolicy {
                    on_inconclusive,
                    ingestion_lag_secs,
                    preflight,
                    dry_run: section.dry_run.unwrap_or(false),
                    analysis,
                    canary_score,
                    gates,
                },
            );
        }
        hooks
    }

    fn canary_score(
        &mut self,
        raw: Spanned<super::raw::RawCanaryScore>,
        path: &str,
        gates: &[Gate],
    ) -> Option<CanaryScore> {
        let field = format!("{path}.canary_score");
        let tested = gates.iter().any(|g| {
            matches!(&g.check, GateCheck::Threshold(t)
                if t.baseline.as_ref().is_some_and(|b| b.test != BaselineTest::PerPeriod))
        });
        if !tested {
            self.problem(raw.referenced, &field, "scores the hook's statistically tested gates, and there is none: give gates `baseline` and `test: mann_whitney` or `test: two_proportion`");
        }
        let mut read = |value: Option<Spanned<f64>>, name: &str, default: f64| match value {
            None => default,
            Some(v) => {
                if !(0.0..=100.0).contains(&v.value) {
                    self.problem(
                        v.referenced,
                        format!("{field}.{name}"),
                        format!("a score between 0 and 100, found {}", v.value),
                    );
                }
                v.value
            }
        };
        let raw = raw.value;
        let pass = read(raw.pass, "pass", 95.0);
        let marginal = read(raw.marginal, "marginal", 75.0);
        if marginal > pass {
            self.problem(
                Location::UNKNOWN,
                &field,
                format!("`marginal` ({marginal}) must not be above `pass` ({pass})"),
            );
        }
        tested.then_some(CanaryScore { pass, marginal })
    }

    fn analysis(&mut self, raw: Spanned<RawAnalysis>, path: &str) -> AnalysisPolicy {
        let at = raw.referenced;
        let raw = raw.value;
        let duration_secs = self.duration(&raw.duration, &format!("{path}.duration"), false);
        let interval_secs = raw
            .interval
            .as_ref()
            .map(|i| self.duration(i, &format!("{path}.interval"), false))
            .unwrap_or(60);
        let initial_delay_secs = raw
            .initial_delay
            .as_ref()
            .map(|d| self.duration(d, &format!("{path}.initial_delay"), true))
            .unwrap_or(0);
        if interval_secs < 10 || interval_secs > duration_secs {
            self.problem(at, format!("{path}.interval"), format!("must be between 10s and the duration ({duration_secs}s), found {interval_secs}s"));
        }
        // Leave five minutes of CodeDeploy's hour for the last runs and the report.
        let budget = super::HARD_LIMIT_SECS - 5 * 60;
        if initial_delay_secs + duration_secs > budget {
            self.problem(at, path, format!("initial_delay + duration is {}s; it must end within {budget}s, as CodeDeploy waits at most an hour for a hook", initial_delay_secs + duration_secs));
        }
        AnalysisPolicy {
            duration_secs,
            interval_secs,
            initial_delay_secs,
            failure_limit: raw.failure_limit.unwrap_or(0),
            consecutive_error_limit: raw.consecutive_error_limit.unwrap_or(4),
            inconclusive_limit: raw.inconclusive_limit.unwrap_or(0),
        }
    }

    fn defaults(&mut self, raw: RawMetricDefaults) -> Defaults {
        let namespace = raw
            .namespace
            .map(|n| self.text(&n, "metric_defaults.namespace"));
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

    fn gate(&mut self, raw: Spanned<RawGate>, path: &str, defaults: &Defaults) -> Option<Gate> {
        let at = raw.referenced;
        let mut raw = raw.value;
        let name = raw.name.value.clone();
        let description = raw.description.take();
        let raw_dry_run = raw.dry_run.unwrap_or(false);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.problem(
                raw.name.referenced,
                format!("{path}.name"),
                format!("gate names use letters, digits, '-', '_' and '.', found {name:?}"),
            );
        }
        let severity = match &raw.severity {
            None => Severity::Critical,
            Some(s) => match s.value.as_str() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                other => {
                    self.problem(
                        s.referenced,
                        format!("{path}.severity"),
                        format!("expected `critical` or `warning`, found {other:?}"),
                    );
                    Severity::Critical
                }
            },
        };
        if let Some(probe) = raw.probe.take() {
            let check = self.probe_gate(&raw, probe, path, at)?;
            return Some(Gate {
                name,
                description,
                severity,
                dry_run: raw_dry_run,
                check: GateCheck::Probe(Box::new(check)),
            });
        }
        let sources = [
            raw.metric.is_some(),
            raw.ratio.is_some(),
            raw.alarms.is_some() || raw.alarm_prefix.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            self.problem(
                at,
                path,
                format!(
                    "a gate needs exactly one of `metric`, `ratio`, `alarms` or `probe`, found {sources}"
                ),
            );
            return None;
        }
        let check = if raw.alarms.is_some() || raw.alarm_prefix.is_some() {
            for (field, present) in [
                ("comparison", raw.comparison.is_some()),
                ("threshold", raw.threshold.is_some()),
                ("window", raw.window.is_some()),
                ("period", raw.period.is_some()),
                ("evaluation_periods", raw.evaluation_periods.is_some()),
                ("datapoints_to_alarm", raw.datapoints_to_alarm.is_some()),
                ("missing_data", raw.missing_data.is_some()),
                ("min_sample", raw.min_sample.is_some()),
                ("baseline", raw.baseline.is_some()),
                (
                    "pass_if_not_worse_than",
                    raw.pass_if_not_worse_than.is_some(),
                ),
                ("test", raw.test.is_some()),
                ("alpha", raw.alpha.is_some()),
                ("weight", raw.weight.is_some()),
                ("direction", raw.direction.is_some()),
                ("nan_strategy", raw.nan_strategy.is_some()),
            ] {
                if present {
                    self.problem(at, format!("{path}.{field}"), "does not apply to an `alarms` gate: the alarm's own configuration decides its state");
                }
            }
            if let Some(alarms) = raw.alarms.as_ref().filter(|a| a.value.is_empty()) {
                if raw.alarm_prefix.is_none() {
                    self.problem(
                        alarms.referenced,
                        format!("{path}.alarms"),
                        "name at least one alarm, or an `alarm_prefix`",
                    );
                }
            }
            let names = raw
                .alarms
                .iter()
                .flat_map(|a| a.value.iter())
                .enumerate()
                .map(|(i, n)| self.text(n, &format!("{path}.alarms[{i}]")))
                .collect();
            let prefix = raw.alarm_prefix.as_ref().map(|p| {
                let text = self.text(p, &format!("{path}.alarm_prefix"));
                if text.trim().is_empty() {
                    self.problem(
                        p.referenced,
                        format!("{path}.alarm_prefix"),
                        "must not be empty: an empty prefix would watch every alarm in the account",
                    );
                }
                text
            });
            GateCheck::Alarms(AlarmCheck { names, prefix })
        } else {
            GateCheck::Threshold(Box::new(self.threshold_check(raw, path, at, defaults)?))
        };
        Some(Gate {
            name,
            description,
            severity,
            dry_run: raw_dry_run,
            check,
        })
    }

    fn threshold_check(
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

    fn min_sample(
        &mut self,
        m: Spanned<super::raw::RawMinSample>,
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

    fn baseline(
        &mut self,
        raw: Spanned<RawBaseline>,
        inputs: BaselineInputs<'_>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<Box<BaselineCheck>> {
        let at = raw.referenced;
        let field = format!("{path}.baseline");
        let source = match raw.value {
            RawBaseline::Name(name) if name == "live" => BaselineSource::Live,
            RawBaseline::Name(name) if name == "before_deployment" => {
                BaselineSource::BeforeDeployment(DeploymentStart::Unbound)
            }
            // The baseline that fits the hook's moment: the old version while
            // it still serves production, the metric's own history after.
            RawBaseline::Name(name) if name == "default" => match self.hook {
                Some(Hook::AfterAllowTestTraffic | Hook::BeforeAllowTraffic) => {
                    BaselineSource::Live
                }
                _ => BaselineSource::History {
                    offset_secs: DEFAULT_HISTORY_SECS,
                },
            },
            RawBaseline::Name(other) => {
                self.problem(at, &field, format!("expected `live` (the version being replaced, same window), `{{ history: 7d }}` (this metric, the same window that long ago), `before_deployment` (this metric, the window before the deployment began) or `default` (live before traffic shifts, 7 days of history after), found {other:?}"));
                return None;
            }
            RawBaseline::Spec(spec) => {
                let offset_secs = self.duration(&spec.history, &format!("{field}.history"), false);
                if offset_secs < inputs.window_secs {
                    self.problem(spec.history.referenced, format!("{field}.history"), format!("must reach back at least one window ({}s), or the baseline overlaps the canary's own window", inputs.window_secs));
                }
                // CloudWatch's retention by period: finer data ages out sooner.
                let (kept, kept_text) = cloudwatch_retention(inputs.period_secs);
                if offset_secs + inputs.window_secs > kept {
                    self.problem(spec.history.referenced, format!("{field}.history"), format!("CloudWatch keeps data for {kept_text}: a baseline {offset_secs}s back is gone; use a longer period or a shorter history"));
                }
                BaselineSource::History { offset_secs }
            }
        };
        let rule = match (inputs.relative, inputs.not_worse) {
            (Some(bound), None) => BaselineRule::Relative(bound),
            (None, Some(raw_bound)) => match &raw_bound.value {
                RawScalar::Text(text) if parse_relative(text).is_some() => {
                    BaselineRule::PassIfNotWorseThan(parse_relative(text)?)
                }
                other => {
                    self.problem(raw_bound.referenced, format!("{path}.pass_if_not_worse_than"), format!("expected a bound relative to the baseline such as `baseline`, `1.1 x baseline` or `baseline + 0.2pp`, found {}", describe(other)));
                    return None;
                }
            },
            (Some(_), Some(raw_bound)) => {
                self.problem(raw_bound.referenced, format!("{path}.pass_if_not_worse_than"), "applies to an absolute threshold only: a threshold relative to the baseline already compares with it");
                return None;
            }
            (None, None) => {
                self.problem(at, format!("{path}.threshold"), "with `baseline`, write the threshold relative to it (`1.4 x baseline`, `baseline + 0.5pp`), or keep an absolute threshold and add `pass_if_not_worse_than: baseline`");
                return None;
            }
        };
        let (signal, min_sample) = match source {
            BaselineSource::History { .. } | BaselineSource::BeforeDeployment(_) => {
                (inputs.canary.clone(), inputs.canary_min.cloned())
            }
            BaselineSource::Live => {
                let (metric, ratio, min_raw) = (inputs.metric, inputs.ratio, inputs.min_raw);
                let period = inputs.period_secs;
                self.as_baseline(|v| {
                    let signal = v.signal(metric, ratio, path, defaults, period);
                    let min =
                        min_raw.and_then(|m| v.min_sample(m, &signal, path, defaults, period));
                    (signal, min)
                })
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

    fn baseline_test(
        &mut self,
        (test, alpha, direction, nan_strategy): RawTest,
        signal: &Signal,
        rule: BaselineRule,
        comparison: Comparison,
        path: &str,
    ) -> Option<BaselineTest> {
        let alpha_value = match &alpha {
            None => 0.05,
            Some(a) => {
                if !(a.value > 0.0 && a.value <= 0.5) {
                    self.problem(
                        a.referenced,
                        format!("{path}.alpha"),
                        format!(
                            "a significance level in (0, 0.5], usually 0.05 or 0.01; found {}",
                            a.value
                        ),
                    );
                }
                a.value
            }
        };
        let either = match &direction {
            None => false,
            Some(d) if d.value == "either" => true,
            Some(d) if d.value == "increase" || d.value == "decrease" => {
                self.problem(d.referenced, format!("{path}.direction"), "the comparison gives the direction (`>`: an increase is bad, `<`: a decrease is bad); `direction` only says `either`");
                false
            }
            Some(d) => {
                self.problem(
                    d.referenced,
                    format!("{path}.direction"),
                    format!("expected `either`, found {:?}", d.value),
                );
                false
            }
        };
        if either && test.as_ref().is_none_or(|t| t.value != "mann_whitney") {
            if let Some(d) = &direction {
                self.problem(
                    d.referenced,
                    format!("{path}.direction"),
                    "applies to `test: mann_whitney` only",
                );
            }
        }
        let nan_value = match &nan_strategy {
            None => NanStrategy::Remove,
            Some(n) if n.value == "remove" => NanStrategy::Remove,
            Some(n) if n.value == "replace_with_zero" => NanStrategy::ReplaceWithZero,
            Some(n) => {
                self.problem(
                    n.referenced,
                    format!("{path}.nan_strategy"),
                    format!("expected `remove` (a period without a value is left out, the default) or `replace_with_zero` (it counts as 0), found {:?}", n.value),
                );
                NanStrategy::Remove
            }
        };
        if test.as_ref().is_none_or(|t| t.value != "mann_whitney") {
            if let Some(n) = &nan_strategy {
                self.problem(
                    n.referenced,
                    format!("{path}.nan_strategy"),
                    "applies to `test: mann_whitney` only: a per-period comparison has `missing_data`, a two-proportion test sums counts",
                );
            }
        }
        let Some(test) = test else {
            if let Some(a) = alpha {
                self.problem(a.referenced, format!("{path}.alpha"), "applies to a statistical test: add `test: two_proportion` or `test: mann_whitney`");
            }
            return Some(BaselineTest::PerPeriod);
        };
        let field = format!("{path}.test");
        let relative = match rule {
            BaselineRule::Relative(bound) => Some(bound),
            BaselineRule::PassIfNotWorseThan(_) => None,
        };
        match test.value.as_str() {
            "per_period" => Some(BaselineTest::PerPeriod),
            "two_proportion" => {
                let counters = matches!(signal, Signal::Ratio { numerator, denominator }
                    if numerator.iter().chain(denominator).all(|q| q.kind == SeriesKind::Counter));
                if !counters {
                    self.problem(test.referenced, &field, "`two_proportion` compares events out of trials: it needs a `ratio` of counters (e.g. 5XX Sum / RequestCount Sum)");
                }
                if !matches!(
                    comparison,
                    Comparison::GreaterThan | Comparison::GreaterThanOrEqual
                ) {
                    self.problem(test.referenced, &field, "`two_proportion` asks whether the canary's rate is higher than allowed: use comparison `>`");
                }
                match relative {
                    Some(RelativeBound::Factor(f)) if f < 1.0 => self.problem(test.referenced, &field, "the allowed rate must be at least the baseline's: a factor of 1 or more"),
                    Some(RelativeBound::Offset { value, .. }) if value < 0.0 => self.problem(test.referenced, &field, "the allowed rate must be at least the baseline's: add, do not subtract"),
                    Some(_) => {}
                    None => self.problem(test.referenced, &field, "a statistical test needs a threshold relative to the baseline (`baseline`, `baseline + 0.5pp`, `1.5 x baseline`)"),
                }
                Some(BaselineTest::TwoProportion { alpha: alpha_value })
            }
            "mann_whitney" => {
                match relative {
                    Some(RelativeBound::Factor(f)) if f >= 1.0 => {}
                    _ => self.problem(test.referenced, &field, "`mann_whitney` takes the effect-size tolerance as a factor of 1 or more: `threshold: 1.2 x baseline` (a shift under 20 % is not a failure)"),
                }
                if !matches!(comparison, Comparison::GreaterThan | Comparison::LessThan) {
                    self.problem(
                        test.referenced,
                        &field,
                        "`mann_whitney` takes `>` (an increase is bad) or `<` (a decrease is bad)",
                    );
                }
                Some(BaselineTest::MannWhitney {
                    alpha: alpha_value,
                    either,
                    nan_strategy: nan_value,
                })
            }
            other => {
                self.problem(test.referenced, &field, format!("expected `per_period` (default), `two_proportion` or `mann_whitney`, found {other:?}"));
                None
            }
        }
    }

    fn signal(
        &mut self,
        metric: Option<Spanned<RawQuery>>,
        ratio: Option<Spanned<super::raw::RawRatio>>,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> Signal {
        match (metric, ratio) {
            (Some(metric), None) => {
                Signal::Metric(self.query(metric, &format!("{path}.metric"), defaults, period_secs))
            }
            (None, Some(ratio)) => {
                let ratio_at = ratio.referenced;
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

    fn query(
        &mut self,
        raw: Spanned<RawQuery>,
        path: &str,
        defaults: &Defaults,
        period_secs: i64,
    ) -> MetricQuery {
        let at = raw.referenced;
        let raw = raw.value;
        let namespace = match &raw.namespace {
            Some(n) => self.text(n, &format!("{path}.namespace")),
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
                raw.name.referenced,
                format!("{path}.name"),
                "must not be empty",
            );
        }
        let stat = raw.stat.value.clone();
        let stat_kind = stat_kind(&stat);
        if stat_kind.is_none() {
            self.problem(raw.stat.referenced, format!("{path}.stat"), format!("unknown statistic {stat:?}; expected Sum, Average, Minimum, Maximum, SampleCount, or a percentile such as p95 or p99.9"));
        }
        let dimensions = match raw.dimensions {
            Some(d) => self.dimensions(d, &format!("{path}.dimensions")),
            None if self.side == Side::Baseline => defaults.baseline_dimensions.clone(),
            None => defaults.dimensions.clone(),
        };
        let kind = match &raw.kind {
            None => stat_kind.unwrap_or(SeriesKind::Gauge),
            Some(k) => match k.value.as_str() {
                "counter" => SeriesKind::Counter,
                "gauge" => SeriesKind::Gauge,
                other => {
                    self.problem(
                        k.referenced,
                        format!("{path}.kind"),
                        format!("expected `counter` or `gauge`, found {other:?}"),
                    );
                    SeriesKind::Gauge
                }
            },
        };
        MetricQuery {
            namespace,
            metric_name,
            dimensions,
            stat,
            period_secs,
            kind,
        }
    }

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
                    self.problem(value.referenced, format!("{path}.{name}"), "a dimension name is literal and must not be empty: `${VAR}` is resolved in values only");
                }
                self.in_dimension = true;
                let resolved = self.text(&value, &format!("{path}.{name}"));
                self.in_dimension = false;
                if resolved.is_empty() {
                    self.problem(
                        value.referenced,
                        format!("{path}.{name}"),
                        "a dimension value must not be empty",
                    );
                }
                (name, resolved)
            })
            .collect()
    }

    /// Runs `f` with queries resolved for the baseline side. Its problems are
    /// dropped: the canary pass over the same text reports them once.
    fn as_baseline<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let (side, kept) = (self.side, self.problems.len());
        self.side = Side::Baseline;
        let out = f(self);
        self.side = side;
        self.problems.truncate(kept);
        out
    }

    /// Substitutes `${VAR}` references from the environment.
    fn text(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let mut out = String::new();
        let mut rest = raw.value.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start + 2..].find('}') else {
                self.problem(
                    raw.referenced,
                    path,
                    format!("unterminated `${{` in {:?}", raw.value),
                );
                return out;
            };
            let var = &rest[start + 2..start + 2 + len];
            if let Some(subject) = parse_subject(var) {
                match subject {
                    Err(message) => self.problem(raw.referenced, path, message),
                    Ok(_) if !self.in_dimension => self.problem(raw.referenced, path, format!("${{{var}}} is filled in by deployment discovery and is only allowed in dimension values")),
                    Ok(mut subject) => {
                        if self.side == Side::Baseline {
                            subject.side = Side::Baseline;
                        }
                        let overrides = if self.apply_overrides {
                            override_variable(subject.side, &subject.key)
                        } else {
                            &[]
                        };
                        let overridden = overrides
                            .iter()
                            .find_map(|name| (self.env)(name).filter(|v| !v.is_empty()));
                        match overridden {
                            Some(value) => out.push_str(&value),
                            None => out.push_str(&subject.to_string()),
                        }
                    }
                }
                rest = &rest[start + 3 + len..];
                continue;
            }
            match (self.env)(var) {
                Some(value) if !value.is_empty() => out.push_str(&value),
                Some(_) => self.problem(raw.referenced, path, format!("environment variable {var} is set but empty")),
                None => self.problem(raw.referenced, path, format!("environment variable {var} is not set (the policy refers to it as ${{{var}}})")),
            }
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        out
    }

    fn period(&mut self, raw: &Spanned<RawScalar>, path: &str) -> i64 {
        let secs = self.duration(raw, path, false);
        if secs > 0 && !(matches!(secs, 1 | 5 | 10 | 30) || secs % 60 == 0) {
            self.problem(raw.referenced, path, format!("CloudWatch periods are 1, 5, 10, 30 or a multiple of 60 seconds, found {secs}s"));
        }
        secs
    }

    fn duration(&mut self, raw: &Spanned<RawScalar>, path: &str, zero_ok: bool) -> i64 {
        let parsed = match &raw.value {
            RawScalar::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < 1e9 => Some(*n as i64),
            RawScalar::Number(_) => None,
            RawScalar::Text(t) => parse_duration(t),
        };
        match parsed {
            Some(secs) if secs > 0 || zero_ok => secs,
            _ => {
                self.problem(
                    raw.referenced,
                    path,
                    format!(
                        "expected a duration such as `60s`, `5m` or `1h`{}, found {}",
                        if zero_ok { " (or 0)" } else { "" },
                        describe(&raw.value)
                    ),
                );
                if zero_ok {
                    0
                } else {
                    60
                }
            }
        }
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

/// A gate's `test`, `alpha`, `direction` and `nan_strategy`, as written.
type RawTest = (
    Option<Spanned<String>>,
    Option<Spanned<f64>>,
    Option<Spanned<String>>,
    Option<Spanned<String>>,
);

/// What a gate's baseline is built from.
struct BaselineInputs<'a> {
    metric: Option<Spanned<RawQuery>>,
    ratio: Option<Spanned<super::raw::RawRatio>>,
    min_raw: Option<Spanned<super::raw::RawMinSample>>,
    canary: &'a Signal,
    canary_min: Option<&'a MinSample>,
    relative: Option<RelativeBound>,
    not_worse: Option<Spanned<RawScalar>>,
    test: RawTest,
    weight: f64,
    comparison: Comparison,
    window_secs: i64,
    period_secs: i64,
}

/// `1.4 x baseline`, `baseline * 1.4`, `baseline + 0.5pp`, `baseline - 0.1`, `baseline`.
fn parse_relative(text: &str) -> Option<RelativeBound> {
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

/// Probe gates: the request, its expectations and its limits.
impl Validator<'_> {
    fn allowed_hosts(&mut self, raw: Spanned<Vec<Spanned<String>>>) -> Vec<AllowedHost> {
        if raw.value.is_empty() {
            self.problem(
                raw.referenced,
                "probe_hosts",
                "name at least one host, or leave `probe_hosts` out when no gate probes",
            );
        }
        let mut hosts = Vec::new();
        for (i, entry) in raw.value.iter().enumerate() {
            let path = format!("probe_hosts[{i}]");
            let text = self.text(entry, &path);
            // Parsed as the authority of a URL, so `host`, `host:port`,
            // `10.0.0.1` and `[::1]:8080` mean what they mean in a URL.
            let parsed = url::Url::parse(&format!("http://{text}/"))
                .ok()
                .filter(|u| {
                    u.path() == "/"
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                });
            let host = parsed.as_ref().and_then(|u| match u.host()? {
                url::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
                url::Host::Ipv4(ip) => Some(ip.to_string()),
                url::Host::Ipv6(ip) => Some(ip.to_string()),
            });
            match host {
                Some(host) if !host.is_empty() && !text.contains('*') => hosts.push(AllowedHost {
                    host,
                    port: parsed.and_then(|u| u.port()),
                }),
                _ => self.problem(entry.referenced, path, format!("expected a host name or IP address, optionally with `:port` (no scheme, path or wildcard), found {text:?}")),
            }
        }
        hosts
    }

    fn probe_gate(
        &mut self,
        gate: &RawGate,
        raw: Spanned<RawProbe>,
        path: &str,
        at: Location,
    ) -> Option<ProbeCheck> {
        let others: Vec<&str> = [
            ("metric", gate.metric.is_some()),
            ("ratio", gate.ratio.is_some()),
            ("alarms", gate.alarms.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(field, _)| *field)
        .collect();
        if !others.is_empty() {
            self.problem(at, path, format!("a gate needs exactly one of `metric`, `ratio`, `alarms` or `probe`, found `probe` and `{}`", others.join("`, `")));
            return None;
        }
        for (field, present) in [
            ("comparison", gate.comparison.is_some()),
            ("threshold", gate.threshold.is_some()),
            ("window", gate.window.is_some()),
            ("period", gate.period.is_some()),
            ("evaluation_periods", gate.evaluation_periods.is_some()),
            ("datapoints_to_alarm", gate.datapoints_to_alarm.is_some()),
            ("missing_data", gate.missing_data.is_some()),
            ("min_sample", gate.min_sample.is_some()),
            ("baseline", gate.baseline.is_some()),
            (
                "pass_if_not_worse_than",
                gate.pass_if_not_worse_than.is_some(),
            ),
            ("test", gate.test.is_some()),
            ("alpha", gate.alpha.is_some()),
            ("weight", gate.weight.is_some()),
            ("direction", gate.direction.is_some()),
            ("nan_strategy", gate.nan_strategy.is_some()),
        ] {
            if present {
                self.problem(at, format!("{path}.{field}"), "does not apply to a `probe` gate: its expectations are under `probe.expect`, its limits are `max_latency` and `min_success`");
            }
        }
        Some(self.probe(raw, &format!("{path}.probe")))
    }

    fn probe(&mut self, raw: Spanned<RawProbe>, path: &str) -> ProbeCheck {
        let probe_at = raw.referenced;
        let raw = raw.value;
        let method = match &raw.method {
            None => "GET".to_string(),
            Some(m) => {
                const METHODS: [&str; 7] =
                    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
                if !METHODS.contains(&m.value.as_str()) {
                    self.problem(
                        m.referenced,
                        format!("{path}.method"),
                        format!(
                            "expected one of {} (upper case), found {:?}",
                            METHODS.join(", "),
                            m.value
                        ),
                    );
                }
                m.value.clone()
            }
        };
        let url = self.probe_url(&raw.url, &format!("{path}.url"));
        let headers = raw
            .headers
            .map(|h| self.probe_headers(h, &format!("{path}.headers")))
            .unwrap_or_default();
        let expect = self.probe_expectations(raw.expect, path);
        let connect_timeout_ms = raw
            .timeout
            .as_ref()
            .and_then(|t| t.value.connect.as_ref())
            .map(|c| self.millis(c, &format!("{path}.timeout.connect")))
            .unwrap_or(DEFAULT_PROBE_CONNECT_MS);
        let total_timeout_ms = raw
            .timeout
            .as_ref()
            .and_then(|t| t.value.total.as_ref())
            .map(|c| self.millis(c, &format!("{path}.timeout.total")))
            .unwrap_or(DEFAULT_PROBE_TOTAL_MS);
        let timeout_at = raw
            .timeout
            .as_ref()
            .map(|t| t.referenced)
            .unwrap_or(raw.url.referenced);
        if total_timeout_ms > MAX_PROBE_TOTAL_MS {
            self.problem(
                timeout_at,
                format!("{path}.timeout.total"),
                format!(
                    "at most {}s per attempt, found {total_timeout_ms}ms",
                    MAX_PROBE_TOTAL_MS / 1000
                ),
            );
        }
        if connect_timeout_ms > total_timeout_ms {
            let connect_at = raw
                .timeout
                .as_ref()
                .and_then(|t| t.value.connect.as_ref())
                .map_or(timeout_at, |c| c.referenced);
            self.problem(connect_at, format!("{path}.timeout.connect"), format!("the connect timeout ({connect_timeout_ms}ms) must not exceed the total timeout ({total_timeout_ms}ms)"));
        }
        let max_latency_ms = raw.max_latency.as_ref().map(|l| {
            let ms = self.millis(l, &format!("{path}.max_latency"));
            if ms > total_timeout_ms {
                self.problem(l.referenced, format!("{path}.max_latency"), format!("{ms}ms can never be observed: the total timeout ({total_timeout_ms}ms) ends every attempt first; raise `timeout.total` or lower `max_latency`"));
            }
            ms
        });
        let repeat = match &raw.repeat {
            None => 1,
            Some(r) => {
                if r.value == 0 || r.value > MAX_PROBE_REPEAT {
                    self.problem(
                        r.referenced,
                        format!("{path}.repeat"),
                        format!(
                            "must be between 1 and {MAX_PROBE_REPEAT}, found {}",
                            r.value
                        ),
                    );
                }
                r.value.clamp(1, MAX_PROBE_REPEAT)
            }
        };
        let concurrency = match &raw.concurrency {
            None => 1,
            Some(c) => {
                if c.value == 0 || c.value > MAX_PROBE_CONCURRENCY || c.value > repeat {
                    self.problem(c.referenced, format!("{path}.concurrency"), format!("must be between 1 and the smaller of {MAX_PROBE_CONCURRENCY} and `repeat` ({repeat}), found {}", c.value));
                }
                c.value.clamp(1, MAX_PROBE_CONCURRENCY.min(repeat))
            }
        };
        let rounds = u64::from(repeat.div_ceil(concurrency));
        if rounds * total_timeout_ms > MAX_PROBE_WORST_CASE_MS {
            self.problem(probe_at, path.to_string(), format!("{repeat} attempts, {concurrency} at a time, of up to {total_timeout_ms}ms each could take {}s, longer than a Lambda invocation can last ({}s): lower `repeat` or `timeout.total`, or raise `concurrency`", rounds * total_timeout_ms / 1000, MAX_PROBE_WORST_CASE_MS / 1000));
        }
        let min_success = match &raw.min_success {
            None => 1.0,
            Some(m) => {
                let parsed = match &m.value {
                    RawScalar::Number(n) => Some(*n),
                    RawScalar::Text(t) => t
                        .trim()
                        .strip_suffix('%')
                        .and_then(|n| n.trim().parse::<f64>().ok())
                        .map(|n| n / 100.0),
                };
                match parsed {
                    Some(f) if f > 0.0 && f <= 1.0 => f,
                    _ => {
                        self.problem(m.referenced, format!("{path}.min_success"), format!("expected a percentage above 0% and at most 100% (e.g. `90%`), or a fraction in (0, 1], found {}", describe(&m.value)));
                        1.0
                    }
                }
            }
        };
        ProbeCheck {
            method,
            url,
            headers,
            expect,
            max_latency_ms,
            repeat,
            concurrency,
            min_success,
            connect_timeout_ms,
            total_timeout_ms,
            allowed_hosts: self.probe_hosts.clone().unwrap_or_default(),
        }
    }

    fn probe_url(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let text = self.text(raw, path);
        let url = match url::Url::parse(&text) {
            Ok(url) => url,
            // The hooks link no Unicode tables for IDNA (BENCHMARKS.md,
            // "Artifact size"): an international name is written as xn--.
            Err(url::ParseError::IdnaError) => {
                self.problem(
                    raw.referenced,
                    path,
                    format!("not a URL: write an international host name in its ASCII (xn--) form: {text:?}"),
                );
                return text;
            }
            Err(error) => {
                self.problem(
                    raw.referenced,
                    path,
                    format!("not a URL ({error}): {text:?}"),
                );
                return text;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.problem(
                raw.referenced,
                path,
                format!(
                    "the scheme must be `http` or `https`, found `{}`",
                    url.scheme()
                ),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(raw.referenced, path, "credentials in a URL would be copied into reasons and records; send them in `headers` (e.g. `Authorization: Bearer ${TOKEN}`)");
        }
        match &self.probe_hosts {
            None => self.problem(raw.referenced, path, "probes may only reach hosts named in the top-level `probe_hosts` list, and the policy has none; add the host, e.g. `probe_hosts: [test.internal.example.com]`"),
            Some(hosts) if !hosts.iter().any(|h| h.allows(&url)) => {
                let named: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                let host = url.host_str().unwrap_or("").to_string();
                let port = url.port_or_known_default().map(|p| format!(":{p}")).unwrap_or_default();
                self.problem(raw.referenced, path, format!("host {host}{port} is not in `probe_hosts` ({})", named.join(", ")));
            }
            Some(_) => {}
        }
        url.to_string()
    }

    fn probe_headers(
        &mut self,
        raw: BTreeMap<String, Spanned<String>>,
        path: &str,
    ) -> Vec<(String, String)> {
        raw.into_iter()
            .map(|(name, value)| {
                let field = format!("{path}.{name}");
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    self.problem(value.referenced, &field, format!("{name:?} is not a valid HTTP header name"));
                } else if RESERVED_PROBE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    self.problem(value.referenced, &field, format!("{name} frames the request and is set by the client, not by a policy"));
                }
                let resolved = self.text(&value, &field);
                if http::HeaderValue::from_str(&resolved).is_err() {
                    // The value is not quoted: it may be a resolved secret.
                    self.problem(value.referenced, &field, "the value is not a valid HTTP header value (control characters or non-ASCII)");
                }
                (name, resolved)
            })
            .collect()
    }

    fn probe_expectations(
        &mut self,
        raw: Option<Spanned<super::raw::RawProbeExpect>>,
        path: &str,
    ) -> ProbeExpectations {
        let Some(raw) = raw.map(|r| r.value) else {
            return ProbeExpectations {
                status: vec![StatusMatch::Class(2)],
                body_contains: None,
                json_pointer: None,
            };
        };
        let path = format!("{path}.expect");
        let status = match raw.status {
            None => vec![StatusMatch::Class(2)],
            Some(s) => {
                let entries = match s.value {
                    RawStatus::One(one) => vec![one],
                    RawStatus::Many(many) => many,
                };
                if entries.is_empty() {
                    self.problem(
                        s.referenced,
                        format!("{path}.status"),
                        "name at least one status, e.g. `200` or `2xx`",
                    );
                }
                entries
                    .iter()
                    .filter_map(|entry| {
                        let parsed = status_match(entry);
                        if parsed.is_none() {
                            self.problem(s.referenced, format!("{path}.status"), format!("expected an HTTP status (100 to 599) or a class such as `2xx`, found {}", describe(entry)));
                        }
                        parsed
                    })
                    .collect()
            }
        };
        let body_contains = raw.body_contains.map(|b| {
            let text = self.text(&b, &format!("{path}.body_contains"));
            if text.is_empty() {
                self.problem(
                    b.referenced,
                    format!("{path}.body_contains"),
                    "must not be empty: every body contains the empty string",
                );
            }
            text
        });
        let json_pointer = raw.json_pointer.map(|j| {
            let j = j.value;
            if !(j.pointer.value.is_empty() || j.pointer.value.starts_with('/')) {
                self.problem(j.pointer.referenced, format!("{path}.json_pointer.pointer"), format!("a JSON pointer (RFC 6901) is empty or starts with `/`, e.g. `/status`, found {:?}", j.pointer.value));
            }
            JsonPointerExpectation {
                pointer: j.pointer.value,
                equals: j.equals.value,
            }
        });
        ProbeExpectations {
            status,
            body_contains,
            json_pointer,
        }
    }

    /// `500ms`, `2s`, `1m`, or a bare number of seconds; never zero.
    fn millis(&mut self, raw: &Spanned<RawScalar>, path: &str) -> u64 {
        let parsed = match &raw.value {
            RawScalar::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < 1e6 => {
                Some(*n as u64 * 1000)
            }
            RawScalar::Number(_) => None,
            RawScalar::Text(t) => parse_millis(t),
        };
        match parsed {
            Some(ms) if ms > 0 => ms,
            _ => {
                self.problem(
                    raw.referenced,
                    path,
                    format!(
                        "expected a duration such as `500ms`, `2s` or `1m` (more than 0), found {}",
                        describe(&raw.value)
                    ),
                );
                1000
            }
        }
    }
}

/// `200` or `"200"` is a code, `2xx` a class.
fn status_match(raw: &RawScalar) -> Option<StatusMatch> {
    let text = match raw {
        RawScalar::Number(n) if n.fract() == 0.0 => format!("{n}"),
        RawScalar::Number(_) => return None,
        RawScalar::Text(t) => t.trim().to_ascii_lowercase(),
    };
    if let Some(class) = text.strip_suffix("xx") {
        let class: u16 = class.parse().ok()?;
        return (1..=5)
            .contains(&class)
            .then_some(StatusMatch::Class(class));
    }
    let code: u16 = text.parse().ok()?;
    (100..=599)
        .contains(&code)
        .then_some(StatusMatch::Code(code))
}

/// `500ms`, `2s`, `1m`, or bare seconds, in milliseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn describe(raw: &RawScalar) -> String {
    match raw {
        RawScalar::Number(n) => n.to_string(),
        RawScalar::Text(t) => format!("{t:?}"),
    }
}

/// `90s`, `5m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
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
