//! A gate as the decision record writes it, and the text of its figures.
//!
//! The judge's figures are Rust types ([`GateFigures`]); the record shows a
//! gate's threshold and rule as text (`"> 1%"`, `"3 of the last 5 periods of
//! 60s"`), as people read them, and this file writes that text
//! ([`threshold_text`], [`rule_text`]) for the record, the alert and the CLI.
//! The record's JSON of a gate is written here too, field by field, in the
//! order and the spelling it has always had:
//!
//! `name, severity, dry_run?, outcome, reason, not_judged?, threshold?, threshold_value?,
//! window?, rule?, breaching?, series?, sample?, completeness?, no_evidence?,
//! statistics?, probe?, flag?`
//!
//! (`?`: left out when there is nothing to say). A statistical test's figures
//! and the canary score's report are written with their keys in alphabetical
//! order, nested objects too, as the record has always shown them.

use crate::judge::probes::percent;
use crate::judge::{GateFigures, GateResult, Statistics, ThresholdFigure};
use crate::policy::{BaselineRule, BaselineSource, KAYENTA_NO_DATA_LIMIT};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// The gate's threshold as people read it: `> 1%`, `> 1.4 x baseline (7d
/// earlier)`, `latency <= 500ms`, `pass >= 90, marginal >= 75`; `None` for
/// gates without one (alarms, preflight checks).
pub fn threshold_text(gate: &GateResult) -> Option<String> {
    match &gate.figures {
        GateFigures::Threshold(figures) => Some(threshold_figure_text(&figures.threshold)),
        GateFigures::Probe(probe) => probe.max_latency_ms.map(|ms| format!("latency <= {ms}ms")),
        GateFigures::CanaryScore(score) => {
            let limit = score.report.options.no_data_limit;
            // Kayenta's half goes without saying; a stricter limit is shown.
            let no_data = if limit == KAYENTA_NO_DATA_LIMIT {
                String::new()
            } else {
                format!(", no data < {}", percent(limit))
            };
            Some(format!(
                "pass >= {}, marginal >= {}{no_data}",
                score.pass, score.marginal
            ))
        }
        GateFigures::Flag(flag) => Some(format!("{} is {}", flag.flag, flag.expected)),
        GateFigures::None => None,
    }
}

/// What a threshold gate's period breaches, as people read it: the
/// operator and the threshold as written, or the bound relative to the
/// baseline with where the baseline comes from, or both.
pub fn threshold_figure_text(threshold: &ThresholdFigure) -> String {
    let op = threshold.comparison;
    let absolute = || threshold.limit.format_value(threshold.limit.value);
    match &threshold.baseline {
        None => format!("{op} {}", absolute()),
        Some(baseline) => {
            let against = match baseline.source {
                BaselineSource::Live => String::new(),
                BaselineSource::History { offset_secs } => {
                    format!(" ({} earlier)", human_duration(offset_secs))
                }
                BaselineSource::BeforeDeployment(ref start) => format!(" ({start})"),
            };
            match baseline.rule {
                BaselineRule::Relative(bound) => {
                    format!("{op} {bound}{against}")
                }
                BaselineRule::PassIfNotWorseThan(bound) => {
                    format!("{op} {} and {op} {bound}{against}", absolute())
                }
            }
        }
    }
}

/// The gate's rule as people read it: `3 of the last 5 periods of 60s`,
/// `min_success 90% of 10 attempts`; `None` for gates without one.
pub fn rule_text(gate: &GateResult) -> Option<String> {
    match &gate.figures {
        GateFigures::Threshold(figures) => {
            let rule = figures.rule;
            Some(format!(
                "{} of the last {} periods of {}s",
                rule.datapoints_to_alarm, rule.evaluation_periods, rule.period_secs
            ))
        }
        GateFigures::Probe(probe) => Some(format!(
            "min_success {} of {} attempts",
            percent(probe.min_success),
            probe.repeat
        )),
        GateFigures::CanaryScore(_) | GateFigures::Flag(_) | GateFigures::None => None,
    }
}

/// `7d`, `1h`, `90m`: how a history offset is written back to people.
fn human_duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The record's JSON of a gate (see the module's documentation).
impl Serialize for GateResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let threshold_figures = self.threshold_figures();
        let mut gate = serializer.serialize_struct("GateResult", 17)?;
        gate.serialize_field("name", &self.name)?;
        gate.serialize_field("severity", &self.severity)?;
        if self.dry_run {
            gate.serialize_field("dry_run", &self.dry_run)?;
        }
        gate.serialize_field("outcome", &self.outcome)?;
        gate.serialize_field("reason", &self.reason)?;
        if let Some(why) = self.not_judged {
            gate.serialize_field("not_judged", &why.to_string())?;
        }
        if let Some(threshold) = threshold_text(self) {
            gate.serialize_field("threshold", &threshold)?;
        }
        if let Some(value) = self.threshold_value() {
            gate.serialize_field("threshold_value", &value)?;
        }
        if let Some(window) = self.window() {
            gate.serialize_field("window", &window)?;
        }
        if let Some(rule) = rule_text(self) {
            gate.serialize_field("rule", &rule)?;
        }
        if let Some(breaching) = self.breaching() {
            gate.serialize_field("breaching", &breaching)?;
        }
        if let Some(figures) = threshold_figures {
            if let Some(series) = &figures.series {
                gate.serialize_field("series", series)?;
            }
            if let Some(sample) = &figures.sample {
                gate.serialize_field("sample", sample)?;
            }
            if !figures.completeness.is_empty() {
                gate.serialize_field("completeness", &figures.completeness)?;
            }
        }
        if self.no_evidence {
            gate.serialize_field("no_evidence", &self.no_evidence)?;
        }
        if let Some(Ok(statistics)) = self.statistics().map(statistics_json) {
            gate.serialize_field("statistics", &statistics)?;
        }
        if let Some(probe) = self.probe() {
            gate.serialize_field("probe", probe)?;
        }
        if let Some(flag) = self.flag() {
            gate.serialize_field("flag", flag)?;
        }
        gate.end()
    }
}

/// Statistical figures as a JSON value, whose objects keep their keys in
/// alphabetical order at every depth: how the record has always carried them.
fn statistics_json(statistics: Statistics<'_>) -> serde_json::Result<serde_json::Value> {
    match statistics {
        Statistics::TwoProportion(comparison) => serde_json::to_value(comparison),
        Statistics::MannWhitney(comparison) => serde_json::to_value(comparison),
        Statistics::CanaryScore(report) => serde_json::to_value(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::statistics::{
        compare_samples, score, MetricEvidence, MetricResult, RankTestOptions, ScoreOptions,
    };
    use crate::judge::{GateOutcome, ScoreFigures};
    use crate::policy::Severity;

    /// The canary score's threshold text under `no_data_limit`.
    fn score_text(no_data_limit: f64) -> Option<String> {
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        let rank = compare_samples(&values, &values, &RankTestOptions::default()).unwrap();
        let options = ScoreOptions {
            pass_threshold: 90.0,
            no_data_limit,
            ..ScoreOptions::default()
        };
        let metric = MetricResult {
            name: "latency".into(),
            group: None,
            weight: 1.0,
            critical: true,
            evidence: MetricEvidence::Rank(rank),
        };
        let report = score(vec![metric], &options).unwrap();
        let mut gate = GateResult::new(
            "canary-score",
            Severity::Critical,
            GateOutcome::Pass,
            String::new(),
        );
        gate.figures = GateFigures::CanaryScore(Box::new(ScoreFigures {
            pass: 90.0,
            marginal: 75.0,
            report,
        }));
        threshold_text(&gate)
    }

    #[test]
    fn a_stricter_no_data_limit_shows_in_the_canary_scores_threshold() {
        assert_eq!(
            score_text(KAYENTA_NO_DATA_LIMIT).as_deref(),
            Some("pass >= 90, marginal >= 75")
        );
        assert_eq!(
            score_text(0.25).as_deref(),
            Some("pass >= 90, marginal >= 75, no data < 25%")
        );
    }
}
