//! The decision record: one JSON line per invocation, the audit trail of a hook.
//!
//! The line goes to CloudWatch Logs as one event, and an event holds at most
//! 256 KiB: a record longer than that is cut, no longer parses, and breaks its
//! deployment's audit chain. A hook with a few gates writes a few kilobytes;
//! hundreds of day-long gates write megabytes. So the line is bounded
//! ([`LOG_EVENT_BOUND`], [`DecisionRecord::fit_log_event`]): what a person
//! needs to know what was decided and why (every gate's outcome, reason,
//! threshold, rule and figures) always stays; the per-period series go first,
//! those of the gates that passed before those of the gates that failed, in
//! the order of [`Omission`], and the record says what went.

use super::{ReportError, ReportOutcome};
use crate::evidence::deployment::{DeploymentEvidence, DeploymentInfo};
pub use crate::judge::DryRunSummary;
use crate::judge::{Decision, GateOutcome, GateResult, LifecycleStatus};
use crate::policy::Policy;
use crate::vocab::hook::Hook;
use serde::Serialize;

/// Schema name and version of the record, so log queries can filter on it.
pub use crate::audit::RECORD_KIND;

/// Which policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// File path or the embedded default's name.
    pub source: String,
    /// SHA-256 of the policy text.
    pub digest: String,
}

/// What became of the status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "error")]
pub enum ReportSummary {
    /// CodeDeploy took the status.
    Accepted,
    /// CodeDeploy already had one: this was a duplicate delivery.
    AlreadyCompleted,
    /// The report failed; the invocation returns an error so Lambda retries it.
    Failed(String),
}

impl From<&Result<ReportOutcome, ReportError>> for ReportSummary {
    fn from(result: &Result<ReportOutcome, ReportError>) -> Self {
        match result {
            Ok(ReportOutcome::Accepted) => ReportSummary::Accepted,
            Ok(ReportOutcome::AlreadyCompleted) => ReportSummary::AlreadyCompleted,
            Err(error) => ReportSummary::Failed(error.to_string()),
        }
    }
}

/// A finished bake analysis, as the final record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalysisSummary {
    /// The analysis' chain id.
    pub chain: String,
    /// When it started (epoch seconds).
    pub started_at: i64,
    /// How many Lambda runs carried it.
    pub runs: u32,
    /// How many times a run handed it on (`runs` − 1).
    pub continuations: u32,
    /// The bound on continuations it ran under (`GATE_MAX_CONTINUATIONS`).
    pub max_continuations: u32,
    /// Every measurement, oldest first.
    pub measurements: Vec<crate::analysis::Measurement>,
}

/// One hook execution's decision, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Always [`RECORD_KIND`].
    pub record: &'static str,
    /// The deployment gated.
    pub deployment_id: String,
    /// The hook execution reported on.
    pub lifecycle_event_hook_execution_id: String,
    /// Which hook.
    pub hook: Hook,
    /// What was reported (or would have been, if the report failed).
    pub status: LifecycleStatus,
    /// Set when the hook runs in dry run: what the verdict was, although
    /// `Succeeded` was reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunSummary>,
    /// Why, in one line.
    pub reason: String,
    /// The freeze and override switches as read, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switches: Option<crate::evidence::switches::Switches>,
    /// Why the switches could not be read (the hook then fails closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_error: Option<String>,
    /// Every gate's figures.
    pub gates: Vec<GateResult>,
    /// What CodeDeploy said.
    pub report: ReportSummary,
    /// The deployment as CodeDeploy describes it, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentInfo>,
    /// Why the deployment could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_error: Option<String>,
    /// What deployment discovery found (canary and baseline), when the policy needed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::evidence::discovery::Discovery>,
    /// Why deployment discovery failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_error: Option<String>,
    /// The policy that decided.
    pub policy: PolicyRef,
    /// The evaluation instant, epoch seconds.
    pub evaluated_at: i64,
    /// Wall time from invocation to report, milliseconds.
    pub elapsed_ms: u64,
    /// The bake analysis behind the verdict: every measurement, for hooks with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSummary>,
    /// The kill switch (feature flags turned off after `Failed`), when the
    /// decision called for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_switch: Option<super::kill_switch::KillSwitchRecord>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, when running on Lambda.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_version: Option<String>,
    /// This library's version.
    pub gate_version: &'static str,
    /// What was left out of the record to fit one log event, when anything was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted: Option<Omitted>,
    /// The record's place in its deployment's hash chain (see [`crate::audit`]).
    /// Set by [`DecisionRecord::seal`]; last, so a reader sees it after the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<crate::audit::AuditLink>,
}

/// Who and when a record is about: the execution, as the hook knows it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The deployment gated.
    pub deployment_id: &'a str,
    /// The hook execution reported on.
    pub execution_id: &'a str,
    /// Which hook.
    pub hook: Hook,
    /// The evaluation instant, epoch seconds.
    pub evaluated_at: i64,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, when running on Lambda.
    pub function_version: Option<&'a str>,
}

impl DecisionRecord {
    /// The record of `decision`, made under `policy` from what was `found`
    /// about the deployment, and reported with `report`'s result: the
    /// decision rendered as it was made, nothing recomputed. Not yet sealed,
    /// with no elapsed time or analysis.
    pub fn new(
        subject: Subject<'_>,
        policy: &Policy,
        decision: Decision,
        found: DeploymentEvidence,
        report: &Result<ReportOutcome, ReportError>,
    ) -> DecisionRecord {
        let (deployment, deployment_error) = match found.deployment {
            Some(Ok(info)) => (Some(info), None),
            Some(Err(error)) => (None, Some(error.to_string())),
            None => (None, None),
        };
        let (discovery, discovery_error) = match found.discovery {
            Some(Ok(found)) => (Some(found), None),
            Some(Err(error)) => (None, Some(error)),
            None => (None, None),
        };
        DecisionRecord {
            record: RECORD_KIND,
            deployment_id: subject.deployment_id.to_string(),
            lifecycle_event_hook_execution_id: subject.execution_id.to_string(),
            hook: subject.hook,
            status: decision.status,
            dry_run: decision.dry_run,
            reason: decision.reason,
            switches: decision.switches,
            switch_error: decision.switch_error,
            gates: decision.verdict.gates,
            report: ReportSummary::from(report),
            deployment,
            deployment_error,
            discovery,
            discovery_error,
            policy: PolicyRef {
                source: policy.source.clone(),
                digest: policy.digest.clone(),
            },
            evaluated_at: subject.evaluated_at,
            elapsed_ms: 0,
            function_version: subject.function_version.map(str::to_string),
            analysis: None,
            kill_switch: None,
            gate_version: env!("CARGO_PKG_VERSION"),
            omitted: None,
            audit: None,
        }
    }

    /// Links the record into its chain with `link` and computes its digest
    /// over everything else it says. Call once the record is complete: any
    /// later change breaks the chain, which is the point.
    pub fn seal(&mut self, link: crate::audit::AuditLink) {
        self.audit = Some(link);
        let digest = serde_json::to_value(&*self)
            .map(|value| crate::audit::record_digest(&value))
            .unwrap_or_default();
        if let Some(audit) = self.audit.as_mut() {
            audit.digest = digest;
        }
    }

    /// The record as one JSON line of at most `bound` bytes, leaving out
    /// what it must to get there, in the order of [`Omission`], and saying so
    /// in [`DecisionRecord::omitted`]. A sealed record is sealed again, so its
    /// digest is that of the line written (the chain verifies from the log).
    /// The gate list, the outcomes, reasons, thresholds and figures are never
    /// left out: if they alone exceed `bound`, the line does too, and
    /// `omitted.fits` says so.
    pub fn fit_log_event(&mut self, bound: usize) -> String {
        if self.series_bytes_at_least() <= bound {
            let line = self.to_json_line();
            if line.len() <= bound {
                return line;
            }
        }
        let mut omitted = Omitted {
            bound,
            steps: Vec::new(),
            fits: true,
        };
        for omission in Omission::ORDER {
            let gates = omission.apply(&mut self.gates);
            if gates.is_empty() {
                continue;
            }
            omitted.steps.push(OmissionStep { omission, gates });
            if self.series_bytes_at_least() > bound {
                continue;
            }
            let line = self.with_omitted(omitted.clone());
            if line.len() <= bound {
                return line;
            }
        }
        omitted.fits = false;
        self.with_omitted(omitted)
    }

    /// A lower bound of the JSON the gates' series take: two bytes per
    /// period (a digit and a comma). Megabytes of series are not serialised
    /// just to learn that they do not fit.
    fn series_bytes_at_least(&self) -> usize {
        self.gates
            .iter()
            .filter_map(GateResult::series)
            .map(|s| 2 * (s.values.len() + s.baseline.as_ref().map_or(0, Vec::len)))
            .sum()
    }

    /// Records `omitted`, seals the record again if it was sealed, and
    /// returns its line.
    fn with_omitted(&mut self, omitted: Omitted) -> String {
        self.omitted = Some(omitted);
        if let Some(link) = self.audit.take() {
            self.seal(link);
        }
        self.to_json_line()
    }

    /// The record as one JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Serialising plain data cannot fail; if it ever does, still say what was decided.
            format!(
                "{{\"record\":\"{RECORD_KIND}\",\"status\":\"{}\",\"serialization_error\":{:?}}}",
                self.status,
                e.to_string()
            )
        })
    }
}

/// At most this many bytes of JSON in one decision record line: CloudWatch
/// Logs takes 256 KiB per event (262,144 bytes, its 26 bytes of overhead
/// included), and Lambda's log line prefix and some slack come out of it.
pub const LOG_EVENT_BOUND: usize = 240 * 1024;

/// What [`DecisionRecord::fit_log_event`] left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Omitted {
    /// The bound the line was fitted to, bytes.
    pub bound: usize,
    /// What went, in the order it went.
    pub steps: Vec<OmissionStep>,
    /// Whether the line fits the bound. False only when the gate summaries
    /// alone exceed it (thousands of gates).
    pub fits: bool,
}

/// One kind of omission and the gates it took from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OmissionStep {
    /// What was left out.
    pub omission: Omission,
    /// The gates it was left out of, in record order.
    pub gates: Vec<String>,
}

/// What a record leaves out to fit a log event, in this order, each step only
/// when the ones before were not enough. Outcomes, reasons (which name the
/// worst value), thresholds, rules, breach counts, samples and statistics
/// always stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Omission {
    /// The series of the gates that passed: the reason already says how
    /// many periods breached and the worst value.
    PassedSeries,
    /// The series of every gate that did not block the hook (the judge's
    /// [`GateResult::blocking`]): a warning, in dry run, or not blocking
    /// under `on_inconclusive`.
    NonBlockingSeries,
    /// The per-series completeness of the gates that passed.
    PassedCompleteness,
    /// The periods of blocking gates' series before the judged ones: the
    /// periods the gate was decided on stay.
    UnjudgedPeriods,
    /// Blocking gates' series altogether, their figures staying: the last
    /// resort, for a record that could not be logged at all otherwise.
    FailingSeries,
}

impl Omission {
    /// Every omission, in the order they are made.
    pub const ORDER: [Omission; 5] = [
        Omission::PassedSeries,
        Omission::NonBlockingSeries,
        Omission::PassedCompleteness,
        Omission::UnjudgedPeriods,
        Omission::FailingSeries,
    ];

    /// Leaves this out of `gates`, returning the names of those it changed.
    fn apply(self, gates: &mut [GateResult]) -> Vec<String> {
        let mut changed = Vec::new();
        for gate in gates.iter_mut() {
            let passed = gate.outcome == GateOutcome::Pass;
            // The gates that made the hook fail, as the judge marked them.
            let failing = gate.blocking;
            // Only threshold gates have series and completeness.
            let Some(figures) = gate.threshold_figures_mut() else {
                continue;
            };
            let did = match self {
                Omission::PassedSeries => passed && figures.series.take().is_some(),
                Omission::NonBlockingSeries => !failing && figures.series.take().is_some(),
                Omission::PassedCompleteness => {
                    passed && !std::mem::take(&mut figures.completeness).is_empty()
                }
                Omission::UnjudgedPeriods => figures
                    .series
                    .as_mut()
                    .is_some_and(|series| series.drop_unjudged() > 0),
                Omission::FailingSeries => figures.series.take().is_some(),
            };
            if did {
                changed.push(gate.name.clone());
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{read_record, verify, AuditLink};
    use crate::judge::{GateFigures, GateSeries, Rule, ThresholdFigure, ThresholdFigures};
    use crate::policy::Severity;
    use crate::policy::{Comparison, Threshold, ThresholdUnit};
    use crate::vocab::TimeRange;
    use serde_json::Value;
    use std::collections::HashMap;

    const PERIODS: usize = 1440;
    const START: i64 = 1_795_428_000;

    /// A day-long gate with `outcome`, its newest `judged` periods judged and
    /// the newest `breaching` of them breaching.
    fn gate(name: &str, outcome: GateOutcome, judged: usize, breaching: usize) -> GateResult {
        let mut gate = GateResult::new(
            name,
            Severity::Critical,
            outcome,
            format!("{breaching} of the last {judged} periods > 1%; worst 3.1%"),
        );
        // As the judge marks a critical gate under `on_inconclusive: pass`.
        gate.blocking = outcome == GateOutcome::Fail;
        let threshold = ThresholdFigure {
            comparison: Comparison::GreaterThan,
            limit: Threshold {
                value: 0.01,
                unit: ThresholdUnit::Percent,
            },
            baseline: None,
        };
        let rule = Rule {
            datapoints_to_alarm: 3,
            evaluation_periods: judged,
            period_secs: 60,
        };
        let window = TimeRange {
            start: START,
            end: START + 60 * PERIODS as i64,
        };
        let mut figures = ThresholdFigures::new(threshold, rule, window);
        figures.breaching = Some(breaching);
        figures.completeness = vec![crate::judge::SeriesCompleteness {
            query: format!("Bench/Checkout {name} Sum").into(),
            expected: PERIODS,
            present: PERIODS,
            status: crate::evidence::SeriesStatus::Complete,
        }];
        let values = (0..PERIODS)
            .map(|i| 0.001 + (i % 97) as f64 * 1.234_567e-5)
            .collect();
        let mut series = GateSeries::unjudged(START, 60, values);
        series.judged_from = PERIODS - judged;
        series.breaching = ((PERIODS - breaching) as u32..PERIODS as u32).collect();
        figures.series = Some(series);
        gate.figures = GateFigures::Threshold(figures);
        gate
    }

    fn record(gates: Vec<GateResult>) -> DecisionRecord {
        let mut record = DecisionRecord {
            kill_switch: None,
            record: RECORD_KIND,
            deployment_id: "d-BIG".into(),
            lifecycle_event_hook_execution_id: "exec-1".into(),
            hook: Hook::BeforeAllowTraffic,
            status: LifecycleStatus::Failed,
            dry_run: None,
            reason: "1 of 300 critical gates blocked".into(),
            switches: None,
            switch_error: None,
            gates,
            report: ReportSummary::Accepted,
            deployment: None,
            deployment_error: None,
            discovery: None,
            discovery_error: None,
            policy: PolicyRef {
                source: "bench.yaml".into(),
                digest: "sha256:00".into(),
            },
            evaluated_at: START + 86_400,
            elapsed_ms: 12,
            analysis: None,
            function_version: None,
            gate_version: "0.1.0",
            omitted: None,
            audit: None,
        };
        record.seal(AuditLink::after(None));
        record
    }

    /// The line parses, is a sealed record whose chain verifies, and keeps
    /// every gate's summary.
    fn check_line(line: &str, before: &[GateResult]) -> Value {
        // One line read as a record (not through `read_records`, which
        // refuses lines longer than a log event: some here are, on purpose).
        let records = vec![read_record("hook.log:1".into(), line).unwrap().unwrap()];
        let reports = verify(&records, &HashMap::new());
        assert!(reports[0].intact(), "{reports:?}");
        let json: Value = serde_json::from_str(line).unwrap();
        let gates = json["gates"].as_array().unwrap();
        assert_eq!(gates.len(), before.len());
        for (logged, gate) in gates.iter().zip(before) {
            assert_eq!(logged["name"], gate.name.as_str());
            assert_eq!(logged["outcome"], gate.outcome.to_string());
            assert_eq!(logged["reason"], gate.reason.as_str());
            assert_eq!(logged["threshold"], "> 1%");
            assert_eq!(logged["rule"], crate::report::rule_text(gate).unwrap());
            assert_eq!(logged["breaching"], gate.breaching().unwrap());
        }
        json
    }

    fn names(gates: &[GateResult], outcome: GateOutcome) -> Vec<String> {
        gates
            .iter()
            .filter(|g| g.outcome == outcome)
            .map(|g| g.name.clone())
            .collect()
    }

    #[test]
    fn a_record_that_fits_is_written_whole() {
        let mut record = record(vec![gate("error-rate", GateOutcome::Pass, 5, 0)]);
        let whole = record.to_json_line();
        assert_eq!(record.fit_log_event(LOG_EVENT_BOUND), whole);
        assert_eq!(record.omitted, None);
    }

    #[test]
    fn the_series_of_passing_gates_go_first_and_the_record_says_so() {
        let mut gates: Vec<GateResult> = (0..300)
            .map(|i| gate(&format!("error-rate-{i:03}"), GateOutcome::Pass, PERIODS, 0))
            .collect();
        gates[7] = gate("error-rate-007", GateOutcome::Fail, 15, 15);
        gates[8] = gate("latency-p95-008", GateOutcome::Inconclusive, 15, 2);
        let mut record = record(gates.clone());
        let full = record.to_json_line().len();
        assert!(full > 10 * LOG_EVENT_BOUND, "{full}");

        let line = record.fit_log_event(LOG_EVENT_BOUND);
        assert!(line.len() <= LOG_EVENT_BOUND, "{}", line.len());
        let json = check_line(&line, &gates);
        // The failing gate keeps its whole series; only it does.
        let failing = &json["gates"][7]["series"];
        assert_eq!(failing["values"].as_array().unwrap().len(), PERIODS);
        assert_eq!(failing["breaching"].as_array().unwrap().len(), 15);
        assert_eq!(record.gates[7], gates[7]);
        assert!(json["gates"][0].get("series").is_none());
        // Leaving out the passing gates' series was enough: the inconclusive
        // gate keeps its own.
        assert_eq!(record.gates[8], gates[8]);
        let omitted = &json["omitted"];
        assert_eq!(omitted["bound"], LOG_EVENT_BOUND);
        assert_eq!(omitted["fits"], true);
        assert_eq!(omitted["steps"].as_array().unwrap().len(), 1, "{omitted}");
        assert_eq!(omitted["steps"][0]["omission"], "passed_series");
        assert_eq!(
            omitted["steps"][0]["gates"],
            serde_json::to_value(names(&gates, GateOutcome::Pass)).unwrap()
        );
    }

    #[test]
    fn then_the_series_of_gates_that_could_not_block() {
        let mut gates: Vec<GateResult> = Vec::new();
        for i in 0..50 {
            gates.push(gate(&format!("pass-{i:02}"), GateOutcome::Pass, 15, 0));
            if i < 20 {
                gates.push(gate(
                    &format!("thin-{i:02}"),
                    GateOutcome::Inconclusive,
                    15,
                    1,
                ));
            }
            if i < 4 {
                gates.push(gate(&format!("fail-{i:02}"), GateOutcome::Fail, 15, 9));
                let mut warning = gate(&format!("warn-{i:02}"), GateOutcome::Fail, 15, 9);
                warning.severity = Severity::Warning;
                warning.blocking = false;
                gates.push(warning);
            }
        }
        let mut record = record(gates.clone());
        let line = record.fit_log_event(LOG_EVENT_BOUND);
        assert!(line.len() <= LOG_EVENT_BOUND, "{}", line.len());
        let json = check_line(&line, &gates);
        let steps = json["omitted"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert_eq!(steps[1]["omission"], "non_blocking_series");
        let mut could_not_block = names(&gates, GateOutcome::Inconclusive);
        could_not_block.extend((0..4).map(|i| format!("warn-{i:02}")));
        let listed: Vec<String> = serde_json::from_value(steps[1]["gates"].clone()).unwrap();
        assert_eq!(listed.len(), could_not_block.len());
        assert!(
            could_not_block.iter().all(|g| listed.contains(g)),
            "{listed:?}"
        );
        for (kept, gate) in record.gates.iter().zip(&gates) {
            let blocks = gate.outcome == GateOutcome::Fail && gate.severity == Severity::Critical;
            assert_eq!(kept.series().is_some(), blocks, "{}", gate.name);
        }
    }

    #[test]
    fn failing_gates_keep_their_judged_periods_longest() {
        // 40 failing day-long gates: their whole series cannot fit, their
        // judged periods can.
        let gates: Vec<GateResult> = (0..40)
            .map(|i| gate(&format!("error-rate-{i:03}"), GateOutcome::Fail, 15, 4))
            .collect();
        let mut record = record(gates.clone());
        let line = record.fit_log_event(LOG_EVENT_BOUND);
        assert!(line.len() <= LOG_EVENT_BOUND, "{}", line.len());
        let json = check_line(&line, &gates);
        let steps: Vec<&str> = json["omitted"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["omission"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["unjudged_periods"]);
        for (kept, gate) in record.gates.iter().zip(&gates) {
            let judged: Vec<_> = gate.observations().filter(|o| o.judged).collect();
            let left: Vec<_> = kept.observations().collect();
            assert_eq!(left, judged);
            assert_eq!(left.iter().filter(|o| o.breaching).count(), 4);
        }
    }

    #[test]
    fn gate_summaries_are_never_left_out_even_over_the_bound() {
        let gates: Vec<GateResult> = (0..3000)
            .map(|i| gate(&format!("error-rate-{i:04}"), GateOutcome::Fail, 15, 4))
            .collect();
        let mut record = record(gates.clone());
        let line = record.fit_log_event(LOG_EVENT_BOUND);
        assert!(line.len() > LOG_EVENT_BOUND);
        let json = check_line(&line, &gates);
        assert_eq!(json["omitted"]["fits"], false);
        let last = json["omitted"]["steps"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["omission"], "failing_series");
        assert!(json["gates"][0].get("series").is_none());
    }
}
