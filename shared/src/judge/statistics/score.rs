//! Kayenta-style scoring: many metrics' classifications, weighted, to one
//! answer with pass and marginal thresholds.
//!
//! score = 100 x (weight of metrics classified `Pass`) / (weight of the
//! metrics counted). Metrics with no data are left out of both sums by
//! default (an unmeasured metric neither helps nor hurts), or counted as
//! failed with [`NoDataPolicy::CountAsFailed`]. Score >= pass threshold is a
//! pass, >= marginal is marginal (an inconclusive gate: not enough agreement
//! to promote, not enough to roll back), below is a fail.
//!
//! Three rules override the score (they decide the outcome; the score itself
//! is kept as measured, for the record):
//! - a *critical* metric classified `High` or `Low` (which are only ever
//!   reported in a direction of concern) fails the analysis whatever the
//!   score, as in Kayenta, unless it has a critical tolerance and stayed
//!   within it (then it only lowers the score, Kayenta's
//!   `criticalIncrease`);
//! - when the metrics without data carry `no_data_limit` (half, Kayenta's
//!   rule) or more of the weight, the analysis fails: a score over the few
//!   that were measured says little, and one pass and one unmeasured metric
//!   must not read as 100 and a success;
//! - a critical metric with no data caps the outcome at marginal: the metric
//!   someone marked as decisive was not measured, so a pass would rest on
//!   the others alone (a typo in a dimension must not read as a success).
//!
//! Groups are labels: each gets a sub-score in the report so a record shows
//! "latency 50, errors 100", but the overall score weighs metrics, not groups.

use super::mann_whitney::{Classification, RankComparison};
use super::proportion::{ProportionComparison, ProportionOutcome};
use super::StatisticsError;
use crate::judge::GateOutcome;
use serde::Serialize;
use std::fmt;

/// Float dust allowed when comparing a score with a threshold, so 19 of 20
/// equal weights is exactly 95.
const SCORE_EPSILON: f64 = 1e-9;

pub use crate::policy::KAYENTA_NO_DATA_LIMIT;

/// The comparison behind a metric's classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricEvidence {
    /// A Mann-Whitney comparison of per-period values.
    Rank(RankComparison),
    /// A two-proportion comparison of counts: a fail scores as `High`
    /// (more errors), not enough evidence as `NoData`.
    Proportion(ProportionComparison),
}

impl MetricEvidence {
    /// The classification this evidence scores as.
    pub fn classification(&self) -> Classification {
        match self {
            MetricEvidence::Rank(rank) => rank.classification,
            MetricEvidence::Proportion(p) => match p.outcome {
                ProportionOutcome::Pass => Classification::Pass,
                ProportionOutcome::Fail => Classification::High,
                ProportionOutcome::NotEnoughEvidence => Classification::NoData,
            },
        }
    }

    /// Whether a `High` or `Low` on a critical metric with this evidence
    /// fails the analysis: beyond its critical tolerance, or always when it
    /// has none (a proportion test has none).
    pub fn critical_breach(&self) -> bool {
        match self {
            MetricEvidence::Rank(rank) => rank.critical_breach.unwrap_or(true),
            MetricEvidence::Proportion(_) => true,
        }
    }

    /// The comparison's one-line reason.
    pub fn reason(&self) -> &str {
        match self {
            MetricEvidence::Rank(rank) => &rank.reason,
            MetricEvidence::Proportion(p) => &p.reason,
        }
    }
}

/// One scored metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    /// The metric's name, as the reason shows it.
    pub name: String,
    /// Optional group label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its weight (finite, above 0).
    pub weight: f64,
    /// Whether a `High`/`Low` on it fails the analysis whatever the score.
    pub critical: bool,
    /// The comparison.
    pub evidence: MetricEvidence,
}

/// How metrics without data count in the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoDataPolicy {
    /// Left out of the score (default, as Kayenta).
    #[default]
    Exclude,
    /// Counted with their weight as failed.
    CountAsFailed,
}

/// Options of [`score`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreOptions {
    /// Score at or above which the analysis passes (default 95).
    pub pass_threshold: f64,
    /// Score at or above which, short of passing, it is marginal (default 75).
    pub marginal_threshold: f64,
    /// How metrics without data count (default: excluded).
    pub no_data: NoDataPolicy,
    /// The share of the weight without data, in (0, 0.5], at or above which
    /// the analysis fails (default 0.5, Kayenta's; left out of the record
    /// when it is that).
    #[serde(skip_serializing_if = "is_kayenta_limit")]
    pub no_data_limit: f64,
}

fn is_kayenta_limit(limit: &f64) -> bool {
    *limit == KAYENTA_NO_DATA_LIMIT
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            pass_threshold: 95.0,
            marginal_threshold: 75.0,
            no_data: NoDataPolicy::Exclude,
            no_data_limit: KAYENTA_NO_DATA_LIMIT,
        }
    }
}

/// The analysis' answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreOutcome {
    /// Score at or above the pass threshold, no critical metric failed.
    Pass,
    /// Between the thresholds, or a critical metric had no data.
    Marginal,
    /// Below the marginal threshold, a critical metric failed, or too much
    /// of the weight had no data (all of it, when nothing was measured).
    Fail,
}

impl ScoreOutcome {
    /// The gate outcome: marginal is inconclusive.
    pub fn gate_outcome(self) -> GateOutcome {
        match self {
            ScoreOutcome::Pass => GateOutcome::Pass,
            ScoreOutcome::Marginal => GateOutcome::Inconclusive,
            ScoreOutcome::Fail => GateOutcome::Fail,
        }
    }
}

impl fmt::Display for ScoreOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScoreOutcome::Pass => "pass",
            ScoreOutcome::Marginal => "marginal",
            ScoreOutcome::Fail => "fail",
        })
    }
}

/// One group's sub-score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    /// The group label.
    pub name: String,
    /// 100 x passed / counted; `None` when nothing in it counted.
    pub score: Option<f64>,
    /// Weight of its metrics that passed.
    pub passed_weight: f64,
    /// Weight of its metrics that counted.
    pub counted_weight: f64,
}

/// The scored analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreReport {
    /// The answer.
    pub outcome: ScoreOutcome,
    /// 0..=100; `None` when no metric counted.
    pub score: Option<f64>,
    /// Weight of metrics that passed.
    pub passed_weight: f64,
    /// Weight of metrics that counted (with data, or all under
    /// `CountAsFailed`).
    pub counted_weight: f64,
    /// Critical metrics classified `High` or `Low` (beyond their critical
    /// tolerance, when they have one).
    pub critical_failures: Vec<String>,
    /// Critical metrics with no data.
    pub critical_without_data: Vec<String>,
    /// Per group, in order of first appearance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupScore>,
    /// Every metric, in the order given.
    pub metrics: Vec<MetricResult>,
    /// The options used.
    pub options: ScoreOptions,
    /// One line naming the metrics that decided.
    pub reason: String,
}

impl ScoreReport {
    /// The gate outcome of the whole analysis.
    pub fn gate_outcome(&self) -> GateOutcome {
        self.outcome.gate_outcome()
    }
}

/// Scores classified metrics. Pure.
pub fn score(
    metrics: Vec<MetricResult>,
    options: &ScoreOptions,
) -> Result<ScoreReport, StatisticsError> {
    check_inputs(&metrics, options)?;
    let tally = Tally::of(&metrics, options.no_data);
    let score = ratio(tally.passed_weight, tally.counted_weight);
    let (outcome, reason) = decide(&metrics, &tally, score, options);
    let Tally {
        passed_weight,
        counted_weight,
        groups,
        critical_failures,
        critical_without_data,
        ..
    } = tally;
    Ok(ScoreReport {
        outcome,
        score,
        passed_weight,
        counted_weight,
        critical_failures,
        critical_without_data,
        groups,
        metrics,
        options: *options,
        reason,
    })
}

/// The thresholds in order and in range, at least one metric, and every
/// weight a finite number above 0.
fn check_inputs(metrics: &[MetricResult], options: &ScoreOptions) -> Result<(), StatisticsError> {
    let (pass, marginal) = (options.pass_threshold, options.marginal_threshold);
    if !(pass.is_finite() && (0.0..=100.0).contains(&pass)) {
        return Err(StatisticsError::InvalidOption {
            name: "pass_threshold",
            expected: "a score in [0, 100]",
            value: pass,
        });
    }
    if !(marginal.is_finite() && (0.0..=pass).contains(&marginal)) {
        return Err(StatisticsError::InvalidOption {
            name: "marginal_threshold",
            expected: "a score in [0, pass_threshold]",
            value: marginal,
        });
    }
    let limit = options.no_data_limit;
    if !(limit > 0.0 && limit <= KAYENTA_NO_DATA_LIMIT) {
        return Err(StatisticsError::InvalidOption {
            name: "no_data_limit",
            expected: "a share in (0, 0.5]: at most Kayenta's half, never laxer",
            value: limit,
        });
    }
    if metrics.is_empty() {
        return Err(StatisticsError::NoMetrics);
    }
    if let Some(bad) = metrics
        .iter()
        .find(|m| !(m.weight.is_finite() && m.weight > 0.0))
    {
        return Err(StatisticsError::InvalidWeight {
            metric: bad.name.clone(),
            weight: bad.weight,
        });
    }
    Ok(())
}

/// The weights that passed and counted, overall and per group (each
/// group's score filled in), and the metrics that did not pass.
struct Tally {
    passed_weight: f64,
    counted_weight: f64,
    /// Every metric's weight, and the part of it without data.
    total_weight: f64,
    no_data_weight: f64,
    /// Metrics without data.
    no_data_names: Vec<String>,
    groups: Vec<GroupScore>,
    critical_failures: Vec<String>,
    critical_without_data: Vec<String>,
    /// `name classification` of every metric that did not pass.
    failed_names: Vec<String>,
}

impl Tally {
    fn of(metrics: &[MetricResult], no_data: NoDataPolicy) -> Tally {
        let mut tally = Tally {
            passed_weight: 0.0,
            counted_weight: 0.0,
            total_weight: 0.0,
            no_data_weight: 0.0,
            no_data_names: Vec::new(),
            groups: Vec::new(),
            critical_failures: Vec::new(),
            critical_without_data: Vec::new(),
            failed_names: Vec::new(),
        };
        for metric in metrics {
            tally.add(metric, no_data);
        }
        for group in &mut tally.groups {
            group.score = ratio(group.passed_weight, group.counted_weight);
        }
        tally
    }

    fn add(&mut self, metric: &MetricResult, no_data: NoDataPolicy) {
        let class = metric.evidence.classification();
        let counted = class != Classification::NoData || no_data == NoDataPolicy::CountAsFailed;
        let passed = class == Classification::Pass;
        self.total_weight += metric.weight;
        if counted {
            self.counted_weight += metric.weight;
            if passed {
                self.passed_weight += metric.weight;
            }
        }
        if let Some(name) = &metric.group {
            let group = self.group(name);
            if counted {
                group.counted_weight += metric.weight;
                if passed {
                    group.passed_weight += metric.weight;
                }
            }
        }
        let label = format!("{} {class}", metric.name);
        match class {
            Classification::High | Classification::Low => {
                if metric.critical && metric.evidence.critical_breach() {
                    self.critical_failures.push(metric.name.clone());
                }
                self.failed_names.push(label);
            }
            Classification::NoData => {
                self.no_data_weight += metric.weight;
                self.no_data_names.push(metric.name.clone());
                if metric.critical {
                    self.critical_without_data.push(metric.name.clone());
                }
                self.failed_names.push(label);
            }
            Classification::Pass => {}
        }
    }

    /// The group `name`, added (in order of first appearance) if new.
    fn group(&mut self, name: &str) -> &mut GroupScore {
        let index = match self.groups.iter().position(|g| g.name == name) {
            Some(index) => index,
            None => {
                self.groups.push(GroupScore {
                    name: name.to_string(),
                    score: None,
                    passed_weight: 0.0,
                    counted_weight: 0.0,
                });
                self.groups.len() - 1
            }
        };
        &mut self.groups[index]
    }
}

/// A share as a percentage for reasons: "50", "33.3".
fn percent(share: f64) -> String {
    let text = format!("{:.1}", share * 100.0);
    text.trim_end_matches(".0").to_string()
}

/// A score out of 100; `None` when nothing counted.
fn ratio(passed: f64, counted: f64) -> Option<f64> {
    (counted > 0.0).then(|| passed * 100.0 / counted)
}

/// The outcome and its reason: a critical failure fails whatever the
/// score, and so does too large a share of weight without data; otherwise
/// the score against the thresholds, a pass with a critical metric
/// unmeasured being only marginal.
fn decide(
    metrics: &[MetricResult],
    tally: &Tally,
    score: Option<f64>,
    options: &ScoreOptions,
) -> (ScoreOutcome, String) {
    let (pass, marginal) = (options.pass_threshold, options.marginal_threshold);
    let score_text = score.map_or_else(|| "no score".to_string(), |s| format!("score {s:.1}"));
    if !tally.critical_failures.is_empty() {
        let details: Vec<String> = metrics
            .iter()
            .filter(|m| tally.critical_failures.contains(&m.name))
            .map(|m| {
                format!(
                    "{} {} ({})",
                    m.name,
                    m.evidence.classification(),
                    m.evidence.reason()
                )
            })
            .collect();
        return (
            ScoreOutcome::Fail,
            format!(
                "critical metric failed whatever the score ({score_text}): {}",
                details.join("; ")
            ),
        );
    }
    let share = tally.no_data_weight / tally.total_weight;
    // With nothing measured the share is 1, so every analysis without a
    // score fails here.
    let Some(s) = score.filter(|_| share + SCORE_EPSILON < options.no_data_limit) else {
        return (
            ScoreOutcome::Fail,
            format!(
                "{}% of the scored weight has no data, at least the {}% that fails the analysis whatever the score ({score_text}): {}",
                percent(share),
                percent(options.no_data_limit),
                tally.no_data_names.join(", ")
            ),
        );
    };
    let (base, comparison) = if s + SCORE_EPSILON >= pass {
        (ScoreOutcome::Pass, format!(">= pass threshold {pass}"))
    } else if s + SCORE_EPSILON >= marginal {
        (
            ScoreOutcome::Marginal,
            format!("below pass threshold {pass}, >= marginal {marginal}"),
        )
    } else {
        (
            ScoreOutcome::Fail,
            format!("below marginal threshold {marginal}"),
        )
    };
    if base == ScoreOutcome::Pass && !tally.critical_without_data.is_empty() {
        (
            ScoreOutcome::Marginal,
            format!(
                "{score_text} {comparison}, but critical metric without data: {} (a pass needs it measured)",
                tally.critical_without_data.join(", ")
            ),
        )
    } else {
        let not_passing = if tally.failed_names.is_empty() {
            String::new()
        } else {
            format!("; not passing: {}", tally.failed_names.join(", "))
        };
        (base, format!("{score_text} {comparison}{not_passing}"))
    }
}
