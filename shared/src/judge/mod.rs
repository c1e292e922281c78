//! Judgement: a pure function from a hook's policy and evidence to a verdict.
//!
//! No I/O, no clock, no randomness: the same evidence always gives the same
//! verdict, which is what makes the verdict testable from tables and replayable
//! from a decision record. Each gate gets one of four outcomes (never a boolean,
//! so "CloudWatch throttled us" can never read as "latency regressed"), ordered
//! best to worst; the hook's status is the worst outcome of its critical gates,
//! with `Inconclusive` mapped by the hook's `on_inconclusive`.
//!
//! A value no metric can take (NaN, an infinity, a negative count, a share
//! outside [0, 1]) is an error of every gate that reads it, never a missing
//! period: checked once, where series are aligned (`threshold/impossible.rs`).
//!
//! One file per kind of check: [`threshold`], [`alarms`], [`preflight`], [`probes`],
//! [`flags`].
//! What each gate was held to and what was measured are typed figures
//! ([`GateFigures`], in `figures.rs`; a gate's periods in `series.rs`), never
//! text: the report and the CLI write them for people and for the record.

pub mod alarms;
mod compare;
mod decision;
mod figures;
pub mod flags;
pub mod preflight;
pub mod probes;
mod series;
pub mod statistics;
pub mod threshold;

/// Why a gate was not judged; decided by binding (a dry-run gate whose
/// values were not discovered) or by the judge (a baseline without data).
pub use crate::bind::NotJudged;
pub use decision::{
    combine, decide, kill_switch_due, switched, with_not_judged, Decision, DryRunSummary,
    KillSwitchDue, SwitchReading,
};
pub use figures::{
    AttemptFigures, BaselineFigure, GateFigures, ImpossibleValue, ProbeFigures, ProbeGateFigures,
    Rule, SampleFigures, ScoreFigures, SeriesCompleteness, Statistics, TestFigures,
    ThresholdFigure, ThresholdFigures,
};
pub use series::{GateSeries, Observation};

use crate::evidence::Evidence;
use crate::policy::{GateCheck, HookPolicy, InconclusiveAction, Severity};
use crate::window::TimeRange;
use serde::{Deserialize, Serialize};
use statistics::MetricEvidence;
use std::fmt;

/// A gate's outcome, best first: the derived order is the combination order.
/// Also a bake measurement's outcome, carried in the continuation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// The evidence shows the gate holds.
    Pass,
    /// The evidence is too thin to say either way.
    Inconclusive,
    /// The evidence shows a breach.
    Fail,
    /// The evidence could not be collected or makes no sense.
    Error,
}

impl fmt::Display for GateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateOutcome::Pass => "pass",
            GateOutcome::Inconclusive => "inconclusive",
            GateOutcome::Fail => "fail",
            GateOutcome::Error => "error",
        })
    }
}

/// The two statuses a hook reports to CodeDeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LifecycleStatus {
    /// CodeDeploy carries on.
    Succeeded,
    /// CodeDeploy rolls back.
    Failed,
}

impl LifecycleStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStatus::Succeeded => "Succeeded",
            LifecycleStatus::Failed => "Failed",
        }
    }
}

impl fmt::Display for LifecycleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the judge found about one gate.
///
/// Its JSON is the decision record's business: `crate::report` serialises
/// it (field by field, with the figures written as text where the record
/// has always shown text), so the format of the record is defined in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct GateResult {
    /// The gate's name.
    pub name: String,
    /// Whether it could block.
    pub severity: Severity,
    /// Judged in shadow mode: recorded, never blocks.
    pub dry_run: bool,
    /// The outcome.
    pub outcome: GateOutcome,
    /// Whether this gate blocks the hook: set once, by the judge's final
    /// step ([`combine`]), from the outcome, the severity, dry run and the
    /// hook's `on_inconclusive`. Renderers read it; none recomputes it.
    /// Not in the record (its format is unchanged): the record's `status` and
    /// `reason` already say what blocked.
    pub blocking: bool,
    /// One line for a person.
    pub reason: String,
    /// The gate's metric had no datapoint at all: not thin evidence but none,
    /// which blocks even under `on_inconclusive: pass` (a typo in a dimension
    /// must never read as a success).
    pub no_evidence: bool,
    /// Set when the gate could not be judged at all (its outcome is then
    /// `Inconclusive`, with `no_evidence`): renderers say "not judged: <why>"
    /// instead of an outcome. Such a gate blocks only if it is a critical,
    /// blocking gate (fail closed); otherwise the hook's reason names it as
    /// a note, never as "would have blocked" ([`combine`]).
    pub not_judged: Option<NotJudged>,
    /// What the gate was held to and what was measured, by kind of check.
    pub figures: GateFigures,
}

impl GateResult {
    /// A result with only the essentials; the checks fill in their figures.
    pub fn new(name: &str, severity: Severity, outcome: GateOutcome, reason: String) -> Self {
        GateResult {
            name: name.to_string(),
            severity,
            dry_run: false,
            outcome,
            blocking: false,
            reason,
            no_evidence: false,
            not_judged: None,
            figures: GateFigures::None,
        }
    }

    /// A threshold gate's figures.
    pub fn threshold_figures(&self) -> Option<&ThresholdFigures> {
        match &self.figures {
            GateFigures::Threshold(figures) => Some(figures),
            _ => None,
        }
    }

    /// A threshold gate's figures, to change.
    pub fn threshold_figures_mut(&mut self) -> Option<&mut ThresholdFigures> {
        match &mut self.figures {
            GateFigures::Threshold(figures) => Some(figures),
            _ => None,
        }
    }

    /// Every period of the window, for threshold gates that got as far as
    /// aligning their series.
    pub fn series(&self) -> Option<&GateSeries> {
        self.threshold_figures()?.series.as_ref()
    }

    /// Every period of the window, oldest first (none when there is no series).
    pub fn observations(&self) -> impl DoubleEndedIterator<Item = Observation> + '_ {
        self.series().into_iter().flat_map(GateSeries::observations)
    }

    /// The judged window, for threshold gates.
    pub fn window(&self) -> Option<TimeRange> {
        self.threshold_figures().map(|f| f.window)
    }

    /// The threshold as a number in the signal's unit (a percentage as a
    /// fraction; a probe's latency in seconds): what a chart draws as its
    /// line. None for a bound relative to a baseline.
    pub fn threshold_value(&self) -> Option<f64> {
        match &self.figures {
            GateFigures::Threshold(f) => f.threshold.absolute().map(|t| t.value),
            GateFigures::Probe(p) => p.max_latency_ms.map(|ms| ms as f64 / 1000.0),
            GateFigures::None | GateFigures::CanaryScore(_) | GateFigures::Flag(_) => None,
        }
    }

    /// A flag gate's figures.
    pub fn flag(&self) -> Option<&flags::FlagFigures> {
        match &self.figures {
            GateFigures::Flag(f) => Some(f),
            _ => None,
        }
    }

    /// Per period (as [`GateResult::observations`] yields them), the value
    /// it breaches past ([`ThresholdFigure::bound_at`]): a line for a chart
    /// to draw, the judge's own reading of the rule.
    pub fn bounds(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        let figure = self.threshold_figures().map(|f| &f.threshold);
        self.observations()
            .map(move |o| figure.and_then(|f| f.bound_at(o.baseline)))
    }

    /// Breaching periods (a probe's failed attempts) among the judged, once counted.
    pub fn breaching(&self) -> Option<usize> {
        match &self.figures {
            GateFigures::Threshold(f) => f.breaching,
            GateFigures::Probe(p) => p.failed,
            GateFigures::None | GateFigures::CanaryScore(_) | GateFigures::Flag(_) => None,
        }
    }

    /// A statistical comparison's figures, for gates judged by a test and
    /// for the canary score.
    pub fn statistics(&self) -> Option<Statistics<'_>> {
        match &self.figures {
            GateFigures::Threshold(f) => f.test.as_ref().map(|t| match &t.evidence {
                MetricEvidence::Proportion(p) => Statistics::TwoProportion(p),
                MetricEvidence::Rank(r) => Statistics::MannWhitney(r),
            }),
            GateFigures::CanaryScore(score) => Some(Statistics::CanaryScore(&score.report)),
            GateFigures::None | GateFigures::Probe(_) | GateFigures::Flag(_) => None,
        }
    }

    /// A probe gate's attempts (at most [`probes::MAX_RECORDED_ATTEMPTS`]).
    pub fn probe(&self) -> Option<&ProbeFigures> {
        match &self.figures {
            GateFigures::Probe(p) => p.attempts.as_ref(),
            _ => None,
        }
    }

    /// Whether this result makes the hook fail under `on_inconclusive`. No
    /// evidence at all blocks whatever `on_inconclusive` says.
    pub fn blocks(&self, on_inconclusive: InconclusiveAction) -> bool {
        !self.dry_run && self.would_block(on_inconclusive)
    }

    /// Whether this result would make the hook fail were it not in shadow mode.
    fn would_block(&self, on_inconclusive: InconclusiveAction) -> bool {
        self.severity == Severity::Critical
            && match self.outcome {
                GateOutcome::Pass => false,
                GateOutcome::Inconclusive => {
                    on_inconclusive == InconclusiveAction::Fail || self.no_evidence
                }
                GateOutcome::Fail | GateOutcome::Error => true,
            }
    }
}

/// The judge's answer for a hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What to report.
    pub status: LifecycleStatus,
    /// One line for a person: which gates decided, and why.
    pub reason: String,
    /// Every gate, in policy order, preflight checks last.
    pub gates: Vec<GateResult>,
}

/// Judges a hook. Pure.
pub fn judge(section: &HookPolicy, evidence: &Evidence) -> Verdict {
    // Series aligned for one gate serve every other gate over the same window.
    let thresholds = section.gates.iter().filter_map(|gate| match &gate.check {
        GateCheck::Threshold(check) => Some(&**check),
        _ => None,
    });
    let mut columns =
        threshold::Columns::for_gates(thresholds, evidence.now, section.ingestion_lag_secs);
    let mut gates: Vec<GateResult> = section
        .gates
        .iter()
        .map(|gate| {
            let mut result = match &gate.check {
                GateCheck::Threshold(check) => threshold::judge_with(
                    gate,
                    check,
                    section.ingestion_lag_secs,
                    evidence,
                    &mut columns,
                ),
                GateCheck::Alarms(check) => alarms::judge(gate, check, evidence.alarms.as_ref()),
                GateCheck::Probe(check) => {
                    probes::judge(gate, check, evidence.probes.get(&gate.name))
                }
                GateCheck::Flag(check) => flags::judge(gate, check, &evidence.flags),
            };
            result.dry_run = gate.dry_run;
            result
        })
        .collect();
    if let Some(canary_score) = &section.canary_score {
        gates.push(score_gate(canary_score, section, &gates));
    }
    if section.preflight {
        gates.extend(preflight::judge(evidence));
        gates.extend(flags::preflight(evidence));
    }
    combine(section.on_inconclusive, gates)
}

/// The Kayenta-style score over the hook's statistically tested gates, as a
/// critical gate of its own: pass, marginal (inconclusive) or fail; a critical
/// tested gate that is high or low fails it whatever the score. A tested gate
/// whose evidence held an impossible value makes it an error: the score reads
/// that gate's values too, and must not pass by leaving them out (the gate
/// alone may not block, being advisory or in dry run).
fn score_gate(
    canary_score: &crate::policy::CanaryScore,
    section: &HookPolicy,
    gates: &[GateResult],
) -> GateResult {
    let tested = section.gates.iter().zip(gates).filter(|(gate, _)| {
        matches!(&gate.check, GateCheck::Threshold(check)
            if check.baseline.as_deref().is_some_and(|b| b.test != crate::policy::BaselineTest::PerPeriod))
    });
    let unreadable: Vec<&str> = tested
        .filter(|(_, result)| {
            result
                .threshold_figures()
                .is_some_and(|f| f.impossible.is_some())
        })
        .map(|(_, result)| result.name.as_str())
        .collect();
    if !unreadable.is_empty() {
        return GateResult::new(
            "canary-score",
            Severity::Critical,
            GateOutcome::Error,
            format!(
                "the canary score cannot be computed: the evidence of {} held an impossible value (see {})",
                unreadable.join(", "),
                if unreadable.len() == 1 { "its reason" } else { "their reasons" }
            ),
        );
    }
    let metrics = gates
        .iter()
        .filter_map(|g| {
            let test = g.threshold_figures()?.test.as_deref()?;
            Some(statistics::MetricResult {
                name: g.name.clone(),
                group: None,
                weight: test.weight,
                critical: g.severity == Severity::Critical && !g.dry_run,
                evidence: test.evidence.clone(),
            })
        })
        .collect();
    let options = statistics::ScoreOptions {
        pass_threshold: canary_score.pass,
        marginal_threshold: canary_score.marginal,
        no_data: statistics::NoDataPolicy::Exclude,
        no_data_limit: canary_score.no_data_limit,
    };
    match statistics::score(metrics, &options) {
        Ok(report) => {
            let mut result = GateResult::new(
                "canary-score",
                Severity::Critical,
                report.gate_outcome(),
                report.reason.clone(),
            );
            result.figures = GateFigures::CanaryScore(Box::new(ScoreFigures {
                pass: canary_score.pass,
                marginal: canary_score.marginal,
                report,
            }));
            result
        }
        Err(error) => GateResult::new(
            "canary-score",
            Severity::Critical,
            GateOutcome::Error,
            format!("the canary score could not be computed: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests;
